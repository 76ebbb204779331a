//! [`RemoteWriterBuilder`]'s options and checks, and the [`RemoteWriter`] that starts the tasks.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{watch, Notify};

use super::config::Config;
use super::error::RemoteWriteError;
use super::handle::RemoteWriteHandle;
use super::metrics::{gauge_value, RemoteWriteMetrics};
use super::queue::{Queue, Shared};
use super::sender::Sender;
use super::snapshot::snapshot_loop;
use crate::gather::Gather;
use crate::model::{is_valid_label_name, Label};

/// Default [`interval`](RemoteWriterBuilder::interval): 15 s.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
/// Default [`queue_capacity`](RemoteWriterBuilder::queue_capacity): 10 000 samples.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// Default [`max_batch`](RemoteWriterBuilder::max_batch): 2 000 samples per
/// request, or the queue capacity when that is smaller.
pub const DEFAULT_MAX_BATCH: usize = 2_000;
/// Default [`timeout`](RemoteWriterBuilder::timeout) of one request: 30 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`min_backoff`](RemoteWriterBuilder::min_backoff): 30 ms.
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(30);
/// Default [`max_backoff`](RemoteWriterBuilder::max_backoff): 5 s.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Default [`max_retry_after`](RemoteWriterBuilder::max_retry_after): 5 minutes.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// Default [`shutdown_timeout`](RemoteWriterBuilder::shutdown_timeout): 10 s.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of a [`RemoteWriter`]; see [`RemoteWriter::builder`].
#[must_use]
pub struct RemoteWriterBuilder {
    url: String,
    gatherer: Arc<dyn Gather>,
    interval: Duration,
    external_labels: Vec<(String, String)>,
    queue_capacity: usize,
    max_batch: Option<usize>,
    timeout: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    shutdown_timeout: Duration,
    final_snapshot: bool,
    native_histograms: bool,
    basic_auth: Option<(String, String)>,
    headers: Vec<(String, String)>,
    metrics: Option<RemoteWriteMetrics>,
}

impl fmt::Debug for RemoteWriterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWriterBuilder")
            .field("url", &self.url)
            .field("interval", &self.interval)
            .field("external_labels", &self.external_labels)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl RemoteWriterBuilder {
    /// How often to snapshot the source (default [`DEFAULT_INTERVAL`]); the first
    /// snapshot is taken at start.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Adds a label to every series that does not have one of that name (the
    /// metric's own label wins). Setting the same name again replaces the value.
    pub fn external_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        self.external_labels.retain(|(n, _)| *n != name);
        self.external_labels.push((name, value));
        self
    }

    /// The most samples the queue holds (default [`DEFAULT_QUEUE_CAPACITY`]);
    /// when a new batch does not fit, the oldest batches are dropped. Must not be
    /// zero ([`build`](Self::build) says so). `usize::MAX` is "as many as memory
    /// holds"; the `promhttp_remote_write_queue_capacity` gauge shows at most
    /// `i64::MAX`.
    pub fn queue_capacity(mut self, samples: usize) -> Self {
        self.queue_capacity = samples;
        self
    }

    /// The most samples in one request (default [`DEFAULT_MAX_BATCH`], or the
    /// queue capacity when that is smaller); requests are also cut below 4 GiB
    /// uncompressed (the most snappy compresses). Must not be zero nor above the
    /// [queue capacity](Self::queue_capacity) (a batch that large could never be
    /// queued): [`build`](Self::build) refuses both.
    pub fn max_batch(mut self, samples: usize) -> Self {
        self.max_batch = Some(samples);
        self
    }

    /// Time limit of one request, connecting included (default [`DEFAULT_REQUEST_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The first retry delay (default [`DEFAULT_MIN_BACKOFF`]); doubled on each retry.
    pub fn min_backoff(mut self, backoff: Duration) -> Self {
        self.min_backoff = backoff;
        self
    }

    /// The longest retry delay (default [`DEFAULT_MAX_BACKOFF`]).
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The longest `Retry-After` honoured (default [`DEFAULT_MAX_RETRY_AFTER`]);
    /// longer ones wait this long, shorter ones at least
    /// [`min_backoff`](Self::min_backoff). Must not be below `min_backoff`.
    pub fn max_retry_after(mut self, limit: Duration) -> Self {
        self.max_retry_after = limit;
        self
    }

    /// How long [`RemoteWriteHandle::shutdown`] may take to send what is queued
    /// (default [`DEFAULT_SHUTDOWN_TIMEOUT`]). `Duration::MAX` (or anything over
    /// about 30 years) waits until everything is sent or refused.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Whether shutdown takes one last snapshot before flushing (default `true`).
    pub fn final_snapshot(mut self, enabled: bool) -> Self {
        self.final_snapshot = enabled;
        self
    }

    /// Whether histograms with native buckets are sent as native histograms
    /// (default `true`; see [Series](super#series)).
    ///
    /// Turn it off for a receiver that cannot store them, such as Prometheus
    /// without `--enable-feature=native-histograms` (before 3.0): it answers a
    /// request holding a native histogram with a 5xx, so the whole batch would be
    /// retried until dropped. With `false`, every histogram is sent as its float
    /// series only, as the text format shows it.
    pub fn native_histograms(mut self, enabled: bool) -> Self {
        self.native_histograms = enabled;
        self
    }

    /// Sends `Authorization: Basic base64(user:password)`.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((user.into(), password.into()));
        self
    }

    /// Adds a request header (e.g. `Authorization: Bearer ...` or a tenant id).
    /// The headers remote write itself sets (`Content-Type`, `Content-Encoding`,
    /// `Content-Length`, `X-Prometheus-Remote-Write-Version`, `Host`) are refused.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Counts into `metrics` instead of a fresh [`RemoteWriteMetrics`].
    pub fn metrics(mut self, metrics: RemoteWriteMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Checks the options: the first invalid one is the error.
    pub fn build(self) -> Result<RemoteWriter, RemoteWriteError> {
        let uri = parse_url(&self.url)?;
        let mut external_labels = Vec::with_capacity(self.external_labels.len());
        for (name, value) in self.external_labels {
            if !is_valid_label_name(&name) {
                return Err(RemoteWriteError::InvalidExternalLabel {
                    name,
                    reason: "not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
                        .into(),
                });
            }
            if value.is_empty() {
                continue; // an empty value is an absent label
            }
            external_labels.push(Label::new(name, value));
        }
        let invalid = |option, reason: String| RemoteWriteError::InvalidOption { option, reason };
        if self.interval.is_zero() {
            return Err(invalid("interval", "must not be zero".into()));
        }
        if self.queue_capacity == 0 {
            return Err(invalid(
                "queue_capacity",
                "must be at least 1 sample".into(),
            ));
        }
        let max_batch = match self.max_batch {
            None => DEFAULT_MAX_BATCH.min(self.queue_capacity),
            Some(0) => return Err(invalid("max_batch", "must be at least 1 sample".into())),
            Some(n) if n > self.queue_capacity => {
                return Err(invalid(
                    "max_batch",
                    format!(
                        "{n} samples must not be above queue_capacity ({} samples)",
                        self.queue_capacity
                    ),
                ))
            }
            Some(n) => n,
        };
        if self.timeout.is_zero() {
            return Err(invalid("timeout", "must not be zero".into()));
        }
        if self.min_backoff.is_zero() || self.min_backoff > self.max_backoff {
            return Err(invalid(
                "min_backoff",
                format!(
                    "{:?} must be positive and at most max_backoff ({:?})",
                    self.min_backoff, self.max_backoff
                ),
            ));
        }
        if self.max_retry_after < self.min_backoff {
            return Err(invalid(
                "max_retry_after",
                format!(
                    "{:?} must not be below min_backoff ({:?})",
                    self.max_retry_after, self.min_backoff
                ),
            ));
        }
        let mut headers = Vec::new();
        for (name, value) in self.headers {
            let invalid = |reason: String| RemoteWriteError::InvalidHeader {
                name: name.clone(),
                reason,
            };
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| invalid(format!("not a valid header name ({e})")))?;
            if [
                "content-type",
                "content-encoding",
                "content-length",
                "x-prometheus-remote-write-version",
                "host",
                "transfer-encoding",
            ]
            .contains(&n.as_str())
            {
                return Err(invalid("set by remote write itself".into()));
            }
            let v = HeaderValue::from_str(&value)
                .map_err(|e| invalid(format!("not a valid header value ({e})")))?;
            headers.push((n, v));
        }
        if let Some((user, password)) = self.basic_auth {
            use base64::Engine as _;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            let mut v = HeaderValue::from_str(&format!("Basic {token}")).map_err(|e| {
                RemoteWriteError::InvalidHeader {
                    name: AUTHORIZATION.to_string(),
                    reason: format!("basic auth: {e}"),
                }
            })?;
            v.set_sensitive(true);
            headers.retain(|(n, _)| *n != AUTHORIZATION);
            headers.push((AUTHORIZATION, v));
        }
        Ok(RemoteWriter {
            config: Arc::new(Config {
                uri,
                url: self.url,
                gatherer: self.gatherer,
                interval: self.interval,
                external_labels,
                queue_capacity: self.queue_capacity,
                max_batch,
                timeout: self.timeout,
                min_backoff: self.min_backoff,
                max_backoff: self.max_backoff,
                max_retry_after: self.max_retry_after,
                shutdown_timeout: self.shutdown_timeout,
                final_snapshot: self.final_snapshot,
                native_histograms: self.native_histograms,
                headers,
            }),
            metrics: self.metrics.unwrap_or_default(),
        })
    }

    /// [`build`](Self::build), then [`RemoteWriter::start`].
    pub fn start(self) -> Result<RemoteWriteHandle, RemoteWriteError> {
        self.build()?.start()
    }
}

fn parse_url(url: &str) -> Result<Uri, RemoteWriteError> {
    let invalid = |reason: String| RemoteWriteError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let uri: Uri = url.parse().map_err(|e| invalid(format!("{e}")))?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") => {}
        Some(s) if s.eq_ignore_ascii_case("https") => {
            return Err(RemoteWriteError::UnsupportedScheme {
                url: url.to_owned(),
            })
        }
        Some(s) => return Err(invalid(format!("scheme {s:?} is not http"))),
        None => {
            return Err(invalid(
                "needs a scheme and host, e.g. http://host:9090/api/v1/write".into(),
            ))
        }
    }
    match uri.authority() {
        None => Err(invalid("no host".into())),
        Some(a) if a.as_str().contains('@') => Err(invalid(
            "credentials in the URL are not supported; use basic_auth".into(),
        )),
        Some(a) if a.host().is_empty() => Err(invalid("no host".into())),
        Some(_) => Ok(uri),
    }
}

/// A configured, not yet started remote write sender: made by
/// [`RemoteWriterBuilder::build`], run by [`start`](Self::start) (or both at once
/// with [`RemoteWriterBuilder::start`]).
///
/// See the [module docs](super) for what it sends and how.
pub struct RemoteWriter {
    config: Arc<Config>,
    metrics: RemoteWriteMetrics,
}

impl fmt::Debug for RemoteWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWriter")
            .field("url", &self.config.url)
            .field("interval", &self.config.interval)
            .field("queue_capacity", &self.config.queue_capacity)
            .field("max_batch", &self.config.max_batch)
            .finish_non_exhaustive()
    }
}

impl RemoteWriter {
    /// Options for a writer sending snapshots of `gatherer` to `url` (an `http://`
    /// remote write endpoint, such as Prometheus's `/api/v1/write`).
    pub fn builder(url: impl Into<String>, gatherer: impl Gather + 'static) -> RemoteWriterBuilder {
        RemoteWriterBuilder {
            url: url.into(),
            gatherer: Arc::new(gatherer),
            interval: DEFAULT_INTERVAL,
            external_labels: Vec::new(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_batch: None,
            timeout: DEFAULT_REQUEST_TIMEOUT,
            min_backoff: DEFAULT_MIN_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            final_snapshot: true,
            native_histograms: true,
            basic_auth: None,
            headers: Vec::new(),
            metrics: None,
        }
    }

    /// The writer's metrics.
    pub fn metrics(&self) -> &RemoteWriteMetrics {
        &self.metrics
    }

    /// Starts the snapshot and sender tasks on the current Tokio runtime; the
    /// first snapshot is taken at once. The writer's queue capacity is added to
    /// the `promhttp_remote_write_queue_capacity` gauge here (and taken off when
    /// it stops).
    ///
    /// Errors: [`RemoteWriteError::NoRuntime`] outside a Tokio runtime.
    pub fn start(self) -> Result<RemoteWriteHandle, RemoteWriteError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| RemoteWriteError::NoRuntime)?;
        let config = self.config;
        let metrics = self.metrics;
        metrics
            .queue_capacity
            .add(gauge_value(config.queue_capacity));
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            notify: Notify::new(),
            capacity: config.queue_capacity,
            metrics: metrics.clone(),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let (deadline_tx, deadline_rx) = watch::channel(None);
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.timeout));
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let snapshot_task = runtime.spawn(snapshot_loop(config.clone(), shared.clone(), stop_rx));
        let sender = Sender {
            config: config.clone(),
            shared: shared.clone(),
            client,
            deadline: deadline_rx,
        };
        let sender_task = runtime.spawn(sender.run());
        tracing::info!(
            url = %config.url,
            interval = ?config.interval,
            queue_capacity = config.queue_capacity,
            "remote write started"
        );
        Ok(RemoteWriteHandle {
            config,
            shared,
            stop: stop_tx,
            deadline: deadline_tx,
            snapshot_task: Some(snapshot_task),
            sender_task: Some(sender_task),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gather::Gathered;

    #[test]
    fn options_are_checked() {
        let src = || crate::gather::from_fn(|_: &mut Gathered| {});
        let err = |b: RemoteWriterBuilder| b.build().unwrap_err();
        let https = err(RemoteWriter::builder(
            "https://example.com/api/v1/write",
            src(),
        ));
        assert!(
            matches!(&https, RemoteWriteError::UnsupportedScheme { url } if url == "https://example.com/api/v1/write"),
            "{https:?}"
        );
        assert!(
            https.to_string().contains("https is not supported yet"),
            "{https}"
        );
        for url in [
            "example.com/write",
            "ftp://x/y",
            "http://",
            "not a url",
            "http://u:p@h/w",
        ] {
            let e = err(RemoteWriter::builder(url, src()));
            assert!(
                matches!(&e, RemoteWriteError::InvalidUrl { url: u, .. } if u == url),
                "{url}: {e:?}"
            );
            assert!(!e.is_retryable());
        }
        let ok = || RemoteWriter::builder("http://127.0.0.1:9/api/v1/write", src());
        for name in ["__name__", "a-b"] {
            let e = err(ok().external_label(name, "x"));
            assert!(
                matches!(&e, RemoteWriteError::InvalidExternalLabel { name: n, .. } if n == name),
                "{e:?}"
            );
        }
        for (name, value) in [
            ("Content-Encoding", "gzip"),
            ("X-Bad", "a\nb"),
            ("X A", "b"),
        ] {
            let e = err(ok().header(name, value));
            assert!(
                matches!(&e, RemoteWriteError::InvalidHeader { name: n, .. } if n == name),
                "{e:?}"
            );
        }
        let option = |b: RemoteWriterBuilder| match err(b) {
            RemoteWriteError::InvalidOption { option, reason } => (option, reason),
            other => panic!("{other:?}"),
        };
        assert_eq!(option(ok().queue_capacity(0)).0, "queue_capacity");
        assert_eq!(option(ok().interval(Duration::ZERO)).0, "interval");
        assert_eq!(option(ok().timeout(Duration::ZERO)).0, "timeout");
        assert_eq!(
            option(
                ok().min_backoff(Duration::from_secs(9))
                    .max_backoff(Duration::from_secs(1))
            )
            .0,
            "min_backoff"
        );
        assert_eq!(option(ok().max_batch(0)).0, "max_batch");
        let e = err(ok().queue_capacity(5).max_batch(6));
        assert_eq!(
            e.to_string(),
            "invalid remote write option max_batch: 6 samples must not be above queue_capacity (5 samples)"
        );
        assert_eq!(
            option(
                ok().min_backoff(Duration::from_secs(2))
                    .max_retry_after(Duration::from_secs(1))
            )
            .0,
            "max_retry_after"
        );
        // Without max_batch, the default batch fits the queue.
        let w = ok()
            .queue_capacity(5)
            .external_label("env", "a")
            .external_label("env", "b")
            .build()
            .unwrap();
        assert_eq!(w.config.max_batch, 5);
        assert_eq!(w.config.external_labels, vec![Label::new("env", "b")]);
        let w = ok().build().unwrap();
        assert_eq!(w.config.max_batch, DEFAULT_MAX_BATCH);
        let w = ok().queue_capacity(5).max_batch(5).build().unwrap();
        assert_eq!(w.config.max_batch, 5);
        assert!(matches!(ok().start(), Err(RemoteWriteError::NoRuntime)));
    }
}
