//! [`Pusher`]: one group on one gateway, and the requests it sends.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::blocking::run_blocking;
use super::{Method, PushBody, PushError, PushFormat};
use crate::encode::{encode, EncodeOptions};
use crate::gather::{gather_all, Gather};
use crate::model::{MetricFamily, Value};

/// How much of the gateway's answer an error keeps.
const MAX_ERROR_BODY: usize = 4096;

/// A client for one group (job and grouping labels) on one Pushgateway.
///
/// Cheap to clone (the settings are shared). See the [module docs](super).
///
/// ```no_run
/// # fn run() -> Result<(), promhttp::push::PushError> {
/// use promhttp::prometheus::{Gauge, Registry};
/// use promhttp::push::Pusher;
///
/// let registry = Registry::new();
/// let last = Gauge::new("backup_last_success_timestamp_seconds", "Last good backup.").unwrap();
/// registry.register(Box::new(last.clone())).unwrap();
/// last.set(1.7e9);
///
/// // No runtime needed for the blocking calls.
/// let pusher = Pusher::builder("localhost:9091", "backup").gatherer(registry).build()?;
/// pusher.push_blocking()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Pusher {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) url: String,
    pub(super) uri: Uri,
    pub(super) job: String,
    pub(super) grouping: Vec<(String, String)>,
    pub(super) headers: HeaderMap,
    pub(super) timeout: Duration,
    pub(super) retries: u32,
    pub(super) format: PushFormat,
    pub(super) gatherer: Arc<dyn Gather>,
}

impl fmt::Debug for Pusher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pusher")
            .field("url", &self.inner.url)
            .field("timeout", &self.inner.timeout)
            .field("format", &self.inner.format)
            .field("headers", &self.inner.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Pusher {
    /// The full URL of the group, e.g. `http://127.0.0.1:9091/metrics/job/batch/instance/a`.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The job name.
    pub fn job(&self) -> &str {
        &self.inner.job
    }

    /// The grouping labels, in the order given.
    pub fn grouping(&self) -> &[(String, String)] {
        &self.inner.grouping
    }

    /// The time limit of one request.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The body format.
    pub fn format(&self) -> PushFormat {
        self.inner.format
    }

    /// `PUT`: replaces all metrics of the group with the configured gatherer's.
    pub async fn push(&self) -> Result<(), PushError> {
        let source = Arc::clone(&self.inner.gatherer);
        self.send_from(Method::Push, &*source).await
    }

    /// `POST`: replaces the group's metrics that have the names of the configured
    /// gatherer's, keeping the others.
    pub async fn add(&self) -> Result<(), PushError> {
        let source = Arc::clone(&self.inner.gatherer);
        self.send_from(Method::Add, &*source).await
    }

    /// `PUT` with the metrics of `source` instead of the configured gatherer.
    pub async fn push_from(&self, source: &dyn Gather) -> Result<(), PushError> {
        self.send_from(Method::Push, source).await
    }

    /// `POST` with the metrics of `source` instead of the configured gatherer.
    pub async fn add_from(&self, source: &dyn Gather) -> Result<(), PushError> {
        self.send_from(Method::Add, source).await
    }

    /// `DELETE`: removes the group from the gateway.
    pub async fn delete(&self) -> Result<(), PushError> {
        self.send(Method::Delete, None).await
    }

    /// [`push`](Self::push), blocking the calling thread until done. Safe inside a
    /// Tokio runtime (the request then runs on a thread of its own), but it does
    /// block the calling worker: prefer [`push`](Self::push) in async code.
    pub fn push_blocking(&self) -> Result<(), PushError> {
        run_blocking(self.push())
    }

    /// [`add`](Self::add), blocking; see [`push_blocking`](Self::push_blocking).
    pub fn add_blocking(&self) -> Result<(), PushError> {
        run_blocking(self.add())
    }

    /// [`delete`](Self::delete), blocking; see [`push_blocking`](Self::push_blocking).
    pub fn delete_blocking(&self) -> Result<(), PushError> {
        run_blocking(self.delete())
    }

    /// [`push_from`](Self::push_from), blocking; see [`push_blocking`](Self::push_blocking).
    pub fn push_from_blocking(&self, source: &dyn Gather) -> Result<(), PushError> {
        run_blocking(self.push_from(source))
    }

    /// [`add_from`](Self::add_from), blocking; see [`push_blocking`](Self::push_blocking).
    pub fn add_from_blocking(&self, source: &dyn Gather) -> Result<(), PushError> {
        run_blocking(self.add_from(source))
    }

    /// The body that a push of `source` would send, after all checks: gathered,
    /// normalized, timestamps dropped, clashes refused, encoded in the configured
    /// format (protobuf when text would lose native histograms).
    pub fn body_from(&self, source: &dyn Gather) -> Result<PushBody, PushError> {
        let mut gathered = gather_all(source);
        if !gathered.errors.is_empty() {
            return Err(PushError::Gather {
                errors: gathered.errors,
            });
        }
        let mut dropped = 0usize;
        for family in &mut gathered.families {
            for metric in &mut family.metrics {
                if metric.timestamp.take().is_some() {
                    dropped += 1;
                }
                for label in &metric.labels {
                    if label.name == "job"
                        || self
                            .inner
                            .grouping
                            .iter()
                            .any(|(n, _)| label.name == n.as_str())
                    {
                        return Err(PushError::LabelClash {
                            family: family.name.to_string(),
                            label: label.name.to_string(),
                        });
                    }
                }
            }
        }
        if dropped > 0 {
            tracing::debug!(
                url = %self.inner.url,
                dropped,
                "dropped explicit timestamps: the Pushgateway refuses them"
            );
        }
        let format = match self.inner.format {
            PushFormat::Text if has_native_histograms(&gathered.families) => {
                tracing::debug!(
                    url = %self.inner.url,
                    "native histograms in a text push: sent as protobuf"
                );
                PushFormat::Protobuf
            }
            configured => configured,
        };
        let mut bytes = Vec::new();
        encode(
            format.into(),
            &gathered.families,
            &EncodeOptions::default(),
            &mut bytes,
        );
        Ok(PushBody { format, bytes })
    }

    async fn send_from(&self, method: Method, source: &dyn Gather) -> Result<(), PushError> {
        let body = self.body_from(source)?;
        self.send(method, Some(body)).await
    }

    async fn send(&self, method: Method, body: Option<PushBody>) -> Result<(), PushError> {
        let body = body.map(|b| (b.format, Bytes::from(b.bytes)));
        let mut backoff = Duration::from_millis(200);
        let mut attempt = 0;
        loop {
            let result = self.send_once(method, body.clone()).await;
            match result {
                Err(e) if attempt < self.inner.retries && e.is_retryable() => {
                    attempt += 1;
                    tracing::debug!(
                        url = %self.inner.url, %method, error = %e, attempt, ?backoff,
                        "Pushgateway request failed; retrying"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &self,
        method: Method,
        body: Option<(PushFormat, Bytes)>,
    ) -> Result<(), PushError> {
        let inner = &*self.inner;
        let mut builder = Request::builder()
            .method(method.http_method())
            .uri(inner.uri.clone());
        if let Some(headers) = builder.headers_mut() {
            headers.extend(inner.headers.iter().map(|(n, v)| (n.clone(), v.clone())));
        }
        let len = body.as_ref().map_or(0, |(_, b)| b.len());
        if let Some((format, _)) = &body {
            builder = builder.header(CONTENT_TYPE, format.content_type());
        }
        let request = builder
            .body(Full::new(body.map(|(_, b)| b).unwrap_or_default()))
            .map_err(|e| PushError::Transport {
                method,
                url: inner.url.clone(),
                source: Box::new(e),
            })?;

        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build_http::<Full<Bytes>>();
        let exchange = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| PushError::Transport {
                    method,
                    url: inner.url.clone(),
                    source: Box::new(e),
                })?;
            let status = response.status();
            if method.accepts(status) {
                return Ok(());
            }
            // Read at most MAX_ERROR_BODY bytes of the gateway's message.
            let mut body = response.into_body();
            let mut message = Vec::new();
            while message.len() < MAX_ERROR_BODY {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            message.extend_from_slice(&data);
                        }
                    }
                    Some(Err(_)) | None => break,
                }
            }
            message.truncate(MAX_ERROR_BODY);
            Err(PushError::Status {
                method,
                url: inner.url.clone(),
                status,
                body: String::from_utf8_lossy(&message).into_owned(),
            })
        };
        let result = match tokio::time::timeout(inner.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(PushError::Timeout {
                method,
                url: inner.url.clone(),
                timeout: inner.timeout,
            }),
        };
        match &result {
            Ok(()) => {
                tracing::debug!(url = %inner.url, %method, bytes = len, "Pushgateway request done")
            }
            Err(e) => {
                tracing::debug!(url = %inner.url, %method, error = %e, "Pushgateway request failed")
            }
        }
        result
    }
}

/// Whether any histogram carries native buckets that an encoder would write (an
/// inconsistent one is written classic in every format, so it does not count).
fn has_native_histograms(families: &[MetricFamily]) -> bool {
    families.iter().flat_map(|f| &f.metrics).any(|m| {
        matches!(&m.value, Value::Histogram(h) if h.native.as_ref().is_some_and(|n| n.is_consistent(h.count)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negotiate::ContentType;

    #[test]
    fn body_checks() {
        use crate::gather::from_fn;
        use crate::model::{Label, Metric, MetricFamily, MetricType, Value};
        let pusher = Pusher::builder("gw", "j")
            .grouping("instance", "i")
            .format(PushFormat::Text)
            .build()
            .unwrap();
        let with_label = |name: &'static str| {
            from_fn(move |out| {
                out.families.push(
                    MetricFamily::new("x", "X.", MetricType::Gauge)
                        .with_metric(Metric::new(vec![Label::new(name, "v")], Value::Gauge(1.0))),
                )
            })
        };
        for clash in ["job", "instance"] {
            match pusher.body_from(&with_label(clash)) {
                Err(PushError::LabelClash { family, label }) => {
                    assert_eq!((family.as_str(), label.as_str()), ("x", clash))
                }
                other => panic!("{other:?}"),
            }
        }
        let body = pusher.body_from(&with_label("other")).unwrap();
        assert_eq!(body.format(), PushFormat::Text);
        // Timestamps are dropped.
        let stamped = from_fn(|out| {
            let mut m = Metric::new(vec![], Value::Gauge(2.0));
            m.timestamp = Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1));
            out.families
                .push(MetricFamily::new("t", "T.", MetricType::Gauge).with_metric(m));
        });
        assert_eq!(
            String::from_utf8(pusher.body_from(&stamped).unwrap().into_bytes()).unwrap(),
            "# HELP t T.\n# TYPE t gauge\nt 2\n"
        );
        // Gathering errors refuse the push.
        let broken = from_fn(|out| {
            out.families.push(
                MetricFamily::new("", "", MetricType::Gauge)
                    .with_metric(Metric::new(vec![], Value::Gauge(1.0))),
            )
        });
        assert!(matches!(
            pusher.body_from(&broken),
            Err(PushError::Gather { .. })
        ));
    }

    #[test]
    fn text_push_of_native_histograms_is_sent_as_protobuf() {
        use crate::gather::from_fn;
        use crate::model::NativeHistogram;
        use crate::model::{Bucket, HistogramValue, Metric, MetricFamily, MetricType};
        let pusher = Pusher::builder("gw", "j")
            .format(PushFormat::Text)
            .build()
            .unwrap();
        let source = |native: Option<NativeHistogram>| {
            from_fn(move |out| {
                let mut h = HistogramValue::new(vec![Bucket::new(1.0, 2)], 3, 4.5);
                if let Some(n) = native.clone() {
                    h = h.with_native(n);
                }
                out.families.push(
                    MetricFamily::new("h_seconds", "H.", MetricType::Histogram)
                        .with_metric(Metric::new(vec![], h.into())),
                )
            })
        };
        let classic = pusher.body_from(&source(None)).unwrap();
        assert_eq!(classic.format(), PushFormat::Text);
        assert!(classic.bytes().starts_with(b"# HELP h_seconds H."));
        let native = NativeHistogram::from_counts(0, 1e-3, 1, [(1, 2)], []);
        let body = pusher.body_from(&source(Some(native))).unwrap();
        assert_eq!(body.format(), PushFormat::Protobuf);
        assert_eq!(body.format().content_type(), ContentType::PROTOBUF.header);
        // An inconsistent native part (more in its buckets than the count) is written
        // classic by every encoder: text keeps it.
        let broken = NativeHistogram::from_counts(0, 1e-3, 1, [(1, 9)], []);
        assert_eq!(
            pusher.body_from(&source(Some(broken))).unwrap().format(),
            PushFormat::Text
        );
    }
}
