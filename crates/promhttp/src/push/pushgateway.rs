//! A [Pushgateway](https://github.com/prometheus/pushgateway) client, like Go's
//! `client_golang/prometheus/push`.
//!
//! A [`Pusher`] is one group on one gateway: a job name and grouping labels,
//! which become the URL path `/metrics/job/<job>{/<label>/<value>}`, and a source
//! of metrics (any [`Gather`]; the crate's default registry when none is given).
//!
//! | call | HTTP | what the gateway does |
//! |---|---|---|
//! | [`push`](Pusher::push) | `PUT` | replaces every metric of the group |
//! | [`add`](Pusher::add) | `POST` | replaces only the metrics with the names pushed |
//! | [`delete`](Pusher::delete) | `DELETE` | removes the group |
//!
//! Each has a `_blocking` twin for programs without a runtime, which is also
//! safe (no panic, no deadlock) inside a Tokio runtime: it then runs the request
//! on a thread of its own with its own current-thread runtime.
//! [`PeriodicPusher`] pushes on an interval and once more on shutdown,
//! optionally deleting the group afterwards.
//!
//! # Behaviour
//!
//! * **URL**: a URL without a scheme gets `http://`; trailing `/`s are trimmed; a
//!   path prefix (a gateway behind a proxy) is kept. Only `http://` is supported:
//!   `https://` is refused with [`PushError::UnsupportedScheme`] (no TLS yet).
//! * **Path encoding**: a value containing `/` is sent in the gateway's base64 form
//!   (`test/job` → `job@base64/dGVzdC9qb2I`, URL-safe base64 without padding);
//!   an empty value is `<name>@base64/=`; `.` and `..` are base64 too (so no proxy
//!   or router normalises them away); anything else is percent-encoded (all but
//!   `A-Z a-z 0-9 - _ . ~`). Grouping labels keep the order they were given in.
//! * **Checks before any request**: the job must not be empty; grouping label
//!   names must be valid, not `job` and not repeated; every pushed metric that
//!   carries a `job` label or one of the grouping labels is refused
//!   ([`PushError::LabelClash`]), as are gathering errors ([`PushError::Gather`]).
//! * **Timestamps are dropped**: the Pushgateway refuses metrics with explicit
//!   timestamps, so `timestamp_ms` is cleared from every pushed metric (logged at
//!   `debug` level with the number dropped). Created timestamps are not sent.
//! * **Format**: protobuf (varint-delimited `MetricFamily`) by default; text 0.0.4
//!   with [`PusherBuilder::format`]. OpenMetrics is refused: the gateway cannot
//!   parse it.
//! * **Answers**: `push` and `add` accept `200` or `202`, `delete` `202` or `200`.
//!   Anything else is [`PushError::Status`], whose text names the status, the URL
//!   and the gateway's message (its first 4 KiB, on one line: control characters,
//!   newlines included, are shown as escapes such as `\n` and `\x1b`), e.g.
//!   `unexpected status code 400 while pushing to http://…/metrics/job/x: …`.
//! * **Time limit**: every request (connect, send, answer) is bounded by
//!   [`PusherBuilder::timeout`], [`DEFAULT_TIMEOUT`] (10 s) unless set.
//! * **Retries**: none by default. With [`PusherBuilder::retries`], a request
//!   that failed in transport, timed out or got a 5xx is sent again after a
//!   backoff (200 ms, doubling, at most 5 s); a 4xx never is (the metrics are
//!   invalid or inconsistent: sending them again cannot help). `PUT`, `POST` and
//!   `DELETE` are all idempotent on the Pushgateway. The [`PeriodicPusher`] also
//!   tries again at its next tick.
//! * Connections are not kept alive between requests (pushes are rare, and this
//!   makes a `Pusher` usable from any runtime, including the blocking calls' own).
//!
//! ```no_run
//! use std::time::Duration;
//! use promhttp::prometheus::{Histogram, HistogramOpts, IntCounter, Registry};
//! use promhttp::push::{PeriodicPusher, Pusher};
//!
//! # async fn run() -> Result<(), promhttp::push::PushError> {
//! let registry = Registry::new();
//! let rows = IntCounter::new("import_rows_total", "Rows imported.").unwrap();
//! registry.register(Box::new(rows.clone())).unwrap();
//!
//! let pusher = Pusher::builder("http://pushgateway:9091", "importer")
//!     .grouping("instance", "host-1")
//!     .grouping("path", "/srv/data") // sent as path@base64/L3Nydi9kYXRh
//!     .basic_auth("user", "secret")
//!     .timeout(Duration::from_secs(5))
//!     .gatherer(registry)
//!     .build()?;
//!
//! // Push every 15 s; on shutdown push once more, then delete the group.
//! let periodic = PeriodicPusher::new(pusher.clone(), Duration::from_secs(15))
//!     .delete_on_shutdown(true)
//!     .spawn()?;
//! rows.inc_by(1000);
//! periodic.shutdown().await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::encode::{encode, EncodeOptions, Format};
use crate::gather::{gather_all, DefaultRegistry, Gather, GatherError};
use crate::model::is_valid_label_name;

/// The time limit of one request when [`PusherBuilder::timeout`] is not called.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of the gateway's answer an error keeps.
const MAX_ERROR_BODY: usize = 4096;

const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a request does to the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `PUT`: replace all metrics of the group.
    Push,
    /// `POST`: replace the metrics with the names pushed, keep the others.
    Add,
    /// `DELETE`: remove the group.
    Delete,
}

impl Method {
    /// The HTTP method.
    pub fn http_method(self) -> http::Method {
        match self {
            Method::Push => http::Method::PUT,
            Method::Add => http::Method::POST,
            Method::Delete => http::Method::DELETE,
        }
    }

    /// How error messages describe it: `pushing to`, `adding to`, `deleting`.
    fn doing(self) -> &'static str {
        match self {
            Method::Push => "pushing to",
            Method::Add => "adding to",
            Method::Delete => "deleting",
        }
    }

    fn accepts(self, status: StatusCode) -> bool {
        // The Pushgateway answers 200 (older) or 202 to PUT/POST, 202 to DELETE.
        status == StatusCode::OK || status == StatusCode::ACCEPTED
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Push => "push (PUT)",
            Method::Add => "add (POST)",
            Method::Delete => "delete (DELETE)",
        })
    }
}

/// Why a push, add or delete failed (or a [`Pusher`] could not be built).
#[derive(Debug)]
#[non_exhaustive]
pub enum PushError {
    /// The gateway URL cannot be used.
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL's scheme is not `http` (`https` is not supported yet).
    UnsupportedScheme {
        /// The URL as given.
        url: String,
    },
    /// A setting is invalid: empty job, bad grouping label, bad header, a format
    /// the Pushgateway cannot read, a zero interval.
    InvalidConfig(String),
    /// Gathering the metrics reported problems; nothing was sent.
    Gather(Vec<GatherError>),
    /// A pushed metric carries the `job` label or a grouping label, which the
    /// gateway sets from the URL; nothing was sent.
    LabelClash {
        /// The metric family.
        family: String,
        /// The label.
        label: String,
    },
    /// The request could not be sent or its answer not read (refused connection,
    /// reset, ...).
    Transport {
        /// What was being done.
        method: Method,
        /// The full URL.
        url: String,
        /// The underlying error, with its causes.
        message: String,
    },
    /// No complete answer within the time limit.
    Timeout {
        /// What was being done.
        method: Method,
        /// The full URL.
        url: String,
        /// The time limit.
        timeout: Duration,
    },
    /// The gateway answered with an unexpected status.
    Status {
        /// What was being done.
        method: Method,
        /// The full URL.
        url: String,
        /// The HTTP status.
        status: StatusCode,
        /// The gateway's message (at most its first 4 KiB, lossy UTF-8), as sent:
        /// the error's text shows it on one line, with control characters escaped.
        body: String,
    },
    /// A blocking call could not run (its runtime or thread failed), or the
    /// periodic pusher's task was lost.
    Runtime(String),
}

impl PushError {
    /// The HTTP status of a [`PushError::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            PushError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether retrying the same request later may succeed: transport errors,
    /// timeouts and 5xx answers. A 4xx (invalid or inconsistent metrics) and
    /// configuration or content errors will fail again.
    pub fn is_retryable(&self) -> bool {
        match self {
            PushError::Transport { .. } | PushError::Timeout { .. } => true,
            PushError::Status { status, .. } => status.is_server_error(),
            _ => false,
        }
    }
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::InvalidUrl { url, reason } => {
                write!(f, "invalid Pushgateway URL {url:?}: {reason}")
            }
            PushError::UnsupportedScheme { url } => write!(
                f,
                "unsupported Pushgateway URL {url:?}: only http:// is supported (https is not supported yet)"
            ),
            PushError::InvalidConfig(msg) => write!(f, "invalid Pushgateway client setting: {msg}"),
            PushError::Gather(errors) => {
                write!(f, "gathering the metrics to push failed, nothing was sent:")?;
                for e in errors {
                    write!(f, " {e};")?;
                }
                Ok(())
            }
            PushError::LabelClash { family, label } => write!(
                f,
                "pushed metric {family:?} already contains the label {label:?}, which the Pushgateway \
                 sets from the job and grouping labels; nothing was sent"
            ),
            PushError::Transport {
                method,
                url,
                message,
            } => write!(f, "error while {} {url}: {message}", method.doing()),
            PushError::Timeout {
                method,
                url,
                timeout,
            } => write!(
                f,
                "no answer within {timeout:?} while {} {url}",
                method.doing()
            ),
            PushError::Status {
                method,
                url,
                status,
                body,
            } => write!(
                f,
                "unexpected status code {} while {} {url}: {}",
                status.as_u16(),
                method.doing(),
                super::escape_control(body.trim_end())
            ),
            PushError::Runtime(msg) => write!(f, "push could not run: {msg}"),
        }
    }
}

impl std::error::Error for PushError {}

/// Settings of a [`Pusher`]; errors are reported by [`build`](PusherBuilder::build).
#[must_use]
pub struct PusherBuilder {
    url: String,
    job: String,
    grouping: Vec<(String, String)>,
    basic_auth: Option<(String, String)>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    retries: u32,
    format: Format,
    gatherer: Option<Arc<dyn Gather>>,
}

impl fmt::Debug for PusherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PusherBuilder")
            .field("url", &self.url)
            .field("job", &self.job)
            .field("grouping", &self.grouping)
            .field("basic_auth", &self.basic_auth.as_ref().map(|(u, _)| u))
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("format", &self.format)
            .field("gatherer", &self.gatherer.is_some())
            .finish()
    }
}

impl PusherBuilder {
    /// Adds a grouping label. Labels keep the order they are added in; a name may
    /// appear once, must be a valid label name and must not be `job`. Any value is
    /// allowed, empty or containing `/` included.
    pub fn grouping(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.grouping.push((name.into(), value.into()));
        self
    }

    /// Sends HTTP basic authentication on every request (it replaces an
    /// `Authorization` header set with [`header`](Self::header)).
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((user.into(), password.into()));
        self
    }

    /// Adds a header to every request (`Authorization` included, e.g. a bearer
    /// token). `Content-Type`, `Content-Length`, `Transfer-Encoding` and `Host`
    /// are set by the client and refused here.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The time limit of each request, from connecting to the end of the answer
    /// ([`DEFAULT_TIMEOUT`], 10 s, when not called). Must not be zero.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times a request that failed in transport, timed out or got a
    /// 5xx answer is sent again (0, the default: never). A 4xx is never retried.
    /// Each attempt has its own [`timeout`](Self::timeout); the waits between
    /// them are 200 ms, 400 ms, ... up to 5 s.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The body format: [`Format::Protobuf`] (the default) or [`Format::Text`].
    /// [`Format::OpenMetrics`] is refused by [`build`](Self::build): the
    /// Pushgateway does not accept it.
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// The source that [`Pusher::push`] and [`Pusher::add`] send (any [`Gather`]:
    /// a `prometheus::Registry`, [`Gatherers`](crate::Gatherers), ...). Without
    /// it, the crate's [`DefaultRegistry`] is pushed.
    pub fn gatherer(mut self, gatherer: impl Gather + 'static) -> Self {
        self.gatherer = Some(Arc::new(gatherer));
        self
    }

    /// Checks the settings and builds the [`Pusher`].
    pub fn build(self) -> Result<Pusher, PushError> {
        let base = normalize_base_url(&self.url)?;
        if self.job.is_empty() {
            return Err(PushError::InvalidConfig(
                "the job name must not be empty".into(),
            ));
        }
        for (i, (name, _)) in self.grouping.iter().enumerate() {
            if name == "job" {
                return Err(PushError::InvalidConfig(
                    "\"job\" cannot be a grouping label: it is the job name given to Pusher::builder"
                        .into(),
                ));
            }
            if !is_valid_label_name(name) {
                return Err(PushError::InvalidConfig(format!(
                    "grouping label name {name:?} is not a valid label name"
                )));
            }
            if self.grouping[..i].iter().any(|(n, _)| n == name) {
                return Err(PushError::InvalidConfig(format!(
                    "grouping label {name:?} is given twice"
                )));
            }
        }
        match self.format {
            Format::Protobuf | Format::Text => {}
            Format::OpenMetrics => return Err(PushError::InvalidConfig(
                "the Pushgateway does not accept OpenMetrics: use Format::Protobuf or Format::Text"
                    .into(),
            )),
        }
        if self.timeout.is_zero() {
            return Err(PushError::InvalidConfig(
                "the timeout must not be zero".into(),
            ));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                PushError::InvalidConfig(format!("invalid header name {name:?}: {e}"))
            })?;
            if matches!(
                header_name.as_str(),
                "content-type" | "content-length" | "transfer-encoding" | "host"
            ) {
                return Err(PushError::InvalidConfig(format!(
                    "header {name:?} is set by the client and cannot be overridden"
                )));
            }
            let header_value = HeaderValue::from_str(value).map_err(|e| {
                PushError::InvalidConfig(format!("invalid value for header {name:?}: {e}"))
            })?;
            headers.append(header_name, header_value);
        }
        if let Some((user, password)) = &self.basic_auth {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            let mut value = HeaderValue::from_str(&format!("Basic {token}"))
                .map_err(|e| PushError::InvalidConfig(format!("basic auth: {e}")))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let url = format!("{base}{}", group_path(&self.job, &self.grouping));
        let uri: Uri = url.parse().map_err(|e| PushError::InvalidUrl {
            url: url.clone(),
            reason: format!("{e}"),
        })?;
        Ok(Pusher {
            inner: Arc::new(Inner {
                url,
                uri,
                job: self.job,
                grouping: self.grouping,
                headers,
                timeout: self.timeout,
                retries: self.retries,
                format: self.format,
                gatherer: self
                    .gatherer
                    .unwrap_or_else(|| Arc::new(DefaultRegistry) as Arc<dyn Gather>),
            }),
        })
    }
}

/// A client for one group (job and grouping labels) on one Pushgateway.
///
/// Cheap to clone (the settings are shared). See the [module docs](self).
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
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    uri: Uri,
    job: String,
    grouping: Vec<(String, String)>,
    headers: HeaderMap,
    timeout: Duration,
    retries: u32,
    format: Format,
    gatherer: Arc<dyn Gather>,
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
    /// Settings for the group `job` on the gateway at `url` (`host:port`,
    /// `http://host:port` or with a path prefix).
    pub fn builder(url: impl Into<String>, job: impl Into<String>) -> PusherBuilder {
        PusherBuilder {
            url: url.into(),
            job: job.into(),
            grouping: Vec::new(),
            basic_auth: None,
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            retries: 0,
            format: Format::Protobuf,
            gatherer: None,
        }
    }

    /// `Pusher::builder(url, job).build()`: no grouping labels, the default
    /// registry, protobuf, a 10 s time limit.
    pub fn new(url: impl Into<String>, job: impl Into<String>) -> Result<Pusher, PushError> {
        Pusher::builder(url, job).build()
    }

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
    pub fn format(&self) -> Format {
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
    /// normalized, timestamps dropped, clashes refused, encoded.
    pub fn body_from(&self, source: &dyn Gather) -> Result<Vec<u8>, PushError> {
        let mut gathered = gather_all(source);
        if !gathered.errors.is_empty() {
            return Err(PushError::Gather(gathered.errors));
        }
        let mut dropped = 0usize;
        for family in &mut gathered.families {
            for metric in &mut family.metrics {
                if metric.timestamp_ms.take().is_some() {
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
        let mut body = Vec::new();
        encode(
            self.inner.format,
            &gathered.families,
            &EncodeOptions::default(),
            &mut body,
        );
        Ok(body)
    }

    async fn send_from(&self, method: Method, source: &dyn Gather) -> Result<(), PushError> {
        let body = self.body_from(source)?;
        self.send(method, Some(body)).await
    }

    async fn send(&self, method: Method, body: Option<Vec<u8>>) -> Result<(), PushError> {
        let body = body.map(Bytes::from);
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

    async fn send_once(&self, method: Method, body: Option<Bytes>) -> Result<(), PushError> {
        let inner = &*self.inner;
        let mut builder = Request::builder()
            .method(method.http_method())
            .uri(inner.uri.clone());
        if let Some(headers) = builder.headers_mut() {
            headers.extend(inner.headers.iter().map(|(n, v)| (n.clone(), v.clone())));
        }
        let len = body.as_ref().map_or(0, Bytes::len);
        if body.is_some() {
            let content_type = match inner.format {
                Format::Text => TEXT_CONTENT_TYPE,
                _ => PROTOBUF_CONTENT_TYPE,
            };
            builder = builder.header(CONTENT_TYPE, content_type);
        }
        let request = builder
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| PushError::InvalidConfig(format!("cannot build the request: {e}")))?;

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
                    message: error_chain(&e),
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

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Runs `fut` to completion on a current-thread runtime: on this thread when it
/// is not inside a runtime, otherwise on a new thread (so no runtime is ever
/// blocked on from within itself).
fn run_blocking<F>(fut: F) -> Result<(), PushError>
where
    F: Future<Output = Result<(), PushError>> + Send,
{
    let run = move || -> Result<(), PushError> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PushError::Runtime(format!("cannot start a Tokio runtime: {e}")))?
            .block_on(fut)
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return run();
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("promhttp-push".into())
            .spawn_scoped(scope, run)
            .map_err(|e| PushError::Runtime(format!("cannot start a thread: {e}")))?
            .join()
            .unwrap_or_else(|panic| {
                Err(PushError::Runtime(format!(
                    "the push thread panicked: {}",
                    crate::gather::panic_message(&*panic)
                )))
            })
    })
}

// ---------------------------------------------------------------------------
// URL and path encoding
// ---------------------------------------------------------------------------

/// `http://` added when there is no scheme, trailing `/`s trimmed, checked.
fn normalize_base_url(url: &str) -> Result<String, PushError> {
    let given = url;
    let url = url.trim();
    let invalid = |reason: &str| PushError::InvalidUrl {
        url: given.to_owned(),
        reason: reason.to_owned(),
    };
    if url.is_empty() {
        return Err(invalid("empty"));
    }
    let with_scheme = match url.find("://") {
        Some(i) => {
            let scheme = &url[..i];
            if !scheme.eq_ignore_ascii_case("http") {
                if scheme.eq_ignore_ascii_case("https") {
                    return Err(PushError::UnsupportedScheme {
                        url: given.to_owned(),
                    });
                }
                return Err(invalid(&format!(
                    "scheme {scheme:?} is not supported, only http://"
                )));
            }
            format!("http://{}", &url[i + 3..])
        }
        None => format!("http://{url}"),
    };
    let base = with_scheme.trim_end_matches('/').to_owned();
    if base.contains('?') || base.contains('#') {
        return Err(invalid("a query or fragment is not allowed"));
    }
    let uri: Uri = base.parse().map_err(|e| invalid(&format!("{e}")))?;
    let authority = uri.authority().ok_or_else(|| invalid("no host"))?.as_str();
    if authority.contains('@') {
        return Err(invalid(
            "credentials in the URL are not supported: use PusherBuilder::basic_auth",
        ));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    Ok(base)
}

/// `/metrics/job/<job>{/<name>/<value>}` with the Pushgateway's encodings.
fn group_path(job: &str, grouping: &[(String, String)]) -> String {
    let mut path = String::from("/metrics");
    push_component(&mut path, "job", job);
    for (name, value) in grouping {
        push_component(&mut path, name, value);
    }
    path
}

/// Appends `/<name>/<value>`, or `/<name>@base64/<base64 value>` when the value
/// is empty (`=`), contains `/`, or is `.` or `..`.
fn push_component(path: &mut String, name: &str, value: &str) {
    path.push('/');
    path.push_str(name);
    if value.is_empty() {
        path.push_str("@base64/=");
    } else if value.contains('/') || value == "." || value == ".." {
        path.push_str("@base64/");
        path.push_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value));
    } else {
        path.push('/');
        percent_encode(value, path);
    }
}

/// Percent-encodes all but the RFC 3986 unreserved characters.
fn percent_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

// ---------------------------------------------------------------------------
// Periodic pusher
// ---------------------------------------------------------------------------

/// Pushes on an interval in a Tokio task, and once more on shutdown.
///
/// The first push happens at once. A failed push is logged (`warn`) and counted
/// in [`PeriodicStats`]; the next tick tries again. On
/// [`PeriodicHandle::shutdown`] (or when the handle is dropped) a final push is
/// made, then the group is deleted if [`delete_on_shutdown`](Self::delete_on_shutdown)
/// was asked for.
///
/// ```no_run
/// # async fn run() -> Result<(), promhttp::push::PushError> {
/// use std::time::Duration;
/// use promhttp::push::{PeriodicPusher, Pusher};
///
/// let pusher = Pusher::new("127.0.0.1:9091", "worker")?;
/// let handle = PeriodicPusher::new(pusher, Duration::from_secs(10)).spawn()?;
/// // ... work ...
/// handle.shutdown().await?; // final push
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use]
pub struct PeriodicPusher {
    pusher: Pusher,
    interval: Duration,
    method: Method,
    delete_on_shutdown: bool,
}

impl PeriodicPusher {
    /// Pushes (`PUT`) with `pusher` every `interval`.
    pub fn new(pusher: Pusher, interval: Duration) -> Self {
        PeriodicPusher {
            pusher,
            interval,
            method: Method::Push,
            delete_on_shutdown: false,
        }
    }

    /// [`Method::Push`] (the default) or [`Method::Add`]; [`Method::Delete`] is
    /// refused by [`spawn`](Self::spawn).
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// After the final push on shutdown, delete the group (for short-lived
    /// instances whose metrics should not outlive them).
    pub fn delete_on_shutdown(mut self, delete: bool) -> Self {
        self.delete_on_shutdown = delete;
        self
    }

    /// Starts the task on the current Tokio runtime.
    ///
    /// Errors: a zero interval, [`Method::Delete`], or no runtime.
    pub fn spawn(self) -> Result<PeriodicHandle, PushError> {
        if self.interval.is_zero() {
            return Err(PushError::InvalidConfig(
                "the push interval must not be zero".into(),
            ));
        }
        if self.method == Method::Delete {
            return Err(PushError::InvalidConfig(
                "a periodic pusher pushes or adds; it cannot delete periodically".into(),
            ));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            PushError::Runtime("PeriodicPusher::spawn must be called inside a Tokio runtime".into())
        })?;
        let stats = Arc::new(Mutex::new(PeriodicStats::default()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(run_periodic(self, Arc::clone(&stats), stopped));
        Ok(PeriodicHandle {
            stop: Some(stop),
            task: Some(task),
            stats,
        })
    }
}

async fn run_periodic(
    config: PeriodicPusher,
    stats: Arc<Mutex<PeriodicStats>>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), PushError> {
    let PeriodicPusher {
        pusher,
        interval,
        method,
        delete_on_shutdown,
    } = config;
    let once = |pusher: Pusher| async move {
        match method {
            Method::Add => pusher.add().await,
            _ => pusher.push().await,
        }
    };
    let record = |result: &Result<(), PushError>| {
        let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(()) => s.pushes += 1,
            Err(e) => {
                s.failures += 1;
                s.last_error = Some(e.to_string());
            }
        }
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            // A send or a dropped handle: shut down either way.
            _ = &mut stopped => break,
            _ = ticker.tick() => {
                let result = once(pusher.clone()).await;
                if let Err(e) = &result {
                    tracing::warn!(url = %pusher.url(), error = %e, "periodic push failed; retrying at the next interval");
                }
                record(&result);
            }
        }
    }
    let result = once(pusher.clone()).await;
    record(&result);
    if let Err(e) = &result {
        tracing::warn!(url = %pusher.url(), error = %e, "final push on shutdown failed");
    }
    if delete_on_shutdown {
        let deleted = pusher.delete().await;
        if let Err(e) = &deleted {
            tracing::warn!(url = %pusher.url(), error = %e, "deleting the group on shutdown failed");
        }
        // Report the first failure.
        return result.and(deleted);
    }
    result
}

/// Counters of a [`PeriodicPusher`]'s pushes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeriodicStats {
    /// Successful pushes (or adds), the final one included.
    pub pushes: u64,
    /// Failed pushes.
    pub failures: u64,
    /// The last failure's text.
    pub last_error: Option<String>,
}

/// Controls a running [`PeriodicPusher`].
///
/// Dropping it also shuts the pusher down (the final push then happens in the
/// background, as long as the runtime runs); call [`shutdown`](Self::shutdown)
/// to wait for it and see its result.
#[derive(Debug)]
pub struct PeriodicHandle {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), PushError>>>,
    stats: Arc<Mutex<PeriodicStats>>,
}

impl PeriodicHandle {
    /// The counters so far.
    pub fn stats(&self) -> PeriodicStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops the interval, makes the final push (and the delete, if asked for)
    /// and returns their result (the first failure). Bounded by the request
    /// time limits: a push under way is finished first, then the final push and
    /// the delete each take at most one time limit (times the attempts, when
    /// [`retries`](PusherBuilder::retries) are set).
    pub async fn shutdown(mut self) -> Result<(), PushError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| PushError::Runtime(format!("the periodic push task failed: {e}")))?,
            None => Ok(()),
        }
    }
}

impl Drop for PeriodicHandle {
    fn drop(&mut self) {
        // Dropping `stop` wakes the task, which makes its final push.
        self.stop.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(base: &str, job: &str, grouping: &[(&str, &str)]) -> Result<String, PushError> {
        let mut b = Pusher::builder(base, job);
        for (n, v) in grouping {
            b = b.grouping(*n, *v);
        }
        b.build().map(|p| p.url().to_owned())
    }

    #[test]
    fn scheme_and_trailing_slash() {
        assert_eq!(
            url("127.0.0.1:9091", "j", &[]).unwrap(),
            "http://127.0.0.1:9091/metrics/job/j"
        );
        assert_eq!(
            url("http://gw:9091/", "j", &[]).unwrap(),
            "http://gw:9091/metrics/job/j"
        );
        assert_eq!(
            url("HTTP://gw:9091/prefix//", "j", &[]).unwrap(),
            "http://gw:9091/prefix/metrics/job/j"
        );
    }

    #[test]
    fn job_with_slash_is_base64() {
        assert_eq!(
            url("gw:9091", "test/job", &[]).unwrap(),
            "http://gw:9091/metrics/job@base64/dGVzdC9qb2I"
        );
    }

    #[test]
    fn grouping_encodings() {
        assert_eq!(
            url(
                "gw:9091",
                "testjob",
                &[("foobar", "bu/ms"), ("empty", ""), ("a", "x"), ("b", "y")]
            )
            .unwrap(),
            "http://gw:9091/metrics/job/testjob/foobar@base64/YnUvbXM/empty@base64/=/a/x/b/y"
        );
        // Order as given.
        assert_eq!(
            url("gw:9091", "j", &[("b", "y"), ("a", "x")]).unwrap(),
            "http://gw:9091/metrics/job/j/b/y/a/x"
        );
        // Non-ASCII is percent-encoded.
        assert_eq!(
            url("gw:9091", "j", &[("titan", "Προμηθεύς")]).unwrap(),
            "http://gw:9091/metrics/job/j/titan/%CE%A0%CF%81%CE%BF%CE%BC%CE%B7%CE%B8%CE%B5%CF%8D%CF%82"
        );
        assert_eq!(
            url("gw:9091", "a b%?", &[("dot", ".")]).unwrap(),
            "http://gw:9091/metrics/job/a%20b%25%3F/dot@base64/Lg"
        );
        // URL-safe alphabet (`-`, not `+`), no padding.
        assert_eq!(
            url("gw:9091", "j", &[("x", "/>>>")]).unwrap(),
            "http://gw:9091/metrics/job/j/x@base64/Lz4-Pg"
        );
        assert_eq!(
            url("gw:9091", "", &[]).map(|_| ()).unwrap_err().to_string(),
            "invalid Pushgateway client setting: the job name must not be empty"
        );
    }

    #[test]
    fn refused_settings() {
        let err = |r: Result<String, PushError>| r.unwrap_err().to_string();
        assert!(err(url("https://gw:9091", "j", &[])).contains("https is not supported yet"));
        assert!(err(url("ftp://gw", "j", &[])).contains("only http://"));
        assert!(err(url("", "j", &[])).contains("empty"));
        assert!(err(url("http://u:p@gw:9091", "j", &[])).contains("basic_auth"));
        assert!(err(url("gw:9091?x=1", "j", &[])).contains("query"));
        assert!(err(url("gw", "j", &[("job", "x")])).contains("\"job\" cannot be a grouping"));
        assert!(err(url("gw", "j", &[("foo\u{80}bar", "x")])).contains("not a valid label name"));
        assert!(err(url("gw", "j", &[("__x", "x")])).contains("not a valid label name"));
        assert!(err(url("gw", "j", &[("a", "1"), ("a", "2")])).contains("twice"));
        let e = Pusher::builder("gw", "j")
            .format(Format::OpenMetrics)
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("OpenMetrics"));
        let e = Pusher::builder("gw", "j")
            .header("Host", "x")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("cannot be overridden"));
        let e = Pusher::builder("gw", "j")
            .header("X-A", "a\nb")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("X-A"));
        let e = Pusher::builder("gw", "j")
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("timeout"));
    }

    #[test]
    fn body_checks() {
        use crate::gather::from_fn;
        use crate::model::{Label, Metric, MetricFamily, MetricType, Value};
        let pusher = Pusher::builder("gw", "j")
            .grouping("instance", "i")
            .format(Format::Text)
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
        assert!(pusher.body_from(&with_label("other")).is_ok());
        // Timestamps are dropped.
        let stamped = from_fn(|out| {
            let mut m = Metric::new(vec![], Value::Gauge(2.0));
            m.timestamp_ms = Some(1_000);
            out.families
                .push(MetricFamily::new("t", "T.", MetricType::Gauge).with_metric(m));
        });
        assert_eq!(
            String::from_utf8(pusher.body_from(&stamped).unwrap()).unwrap(),
            "# HELP t T.\n# TYPE t gauge\nt 2\n"
        );
        // Gathering errors refuse the push.
        let broken = from_fn(|out| {
            out.families.push(
                MetricFamily::new("bad-name", "", MetricType::Gauge)
                    .with_metric(Metric::new(vec![], Value::Gauge(1.0))),
            )
        });
        assert!(matches!(
            pusher.body_from(&broken),
            Err(PushError::Gather(_))
        ));
    }

    #[test]
    fn status_error_text() {
        let e = PushError::Status {
            method: Method::Push,
            url: "http://gw/metrics/job/testjob".into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: "fake error\n".into(),
        };
        assert_eq!(
            e.to_string(),
            "unexpected status code 500 while pushing to http://gw/metrics/job/testjob: fake error"
        );
        assert!(e.is_retryable());
        assert_eq!(e.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    }

    #[test]
    fn status_error_text_escapes_control_characters() {
        let e = PushError::Status {
            method: Method::Add,
            url: "http://gw/metrics/job/j".into(),
            status: StatusCode::BAD_REQUEST,
            body: "\u{1b}[31mred\u{1b}[0m\r\nforged line\u{7}\0 Προμηθεύς ✓\n".into(),
        };
        let text = e.to_string();
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert_eq!(
            text,
            "unexpected status code 400 while adding to http://gw/metrics/job/j: \
             \\x1b[31mred\\x1b[0m\\r\\nforged line\\x07\\x00 Προμηθεύς ✓"
        );
    }

    #[tokio::test]
    async fn periodic_pusher_with_the_longest_interval_does_not_panic() {
        use crate::gather::from_fn;
        use crate::model::{Metric, MetricFamily, MetricType, Value};
        // Gathering fails, so no request is ever made: each push is a quick failure.
        let broken = from_fn(|out| {
            out.families.push(
                MetricFamily::new("bad-name", "", MetricType::Gauge)
                    .with_metric(Metric::new(vec![], Value::Gauge(1.0))),
            )
        });
        let pusher = Pusher::builder("127.0.0.1:9", "j")
            .gatherer(broken)
            .build()
            .unwrap();
        // Duration::MAX: "never again". Tokio's interval caps its period (about 30
        // years), so adding it to the tick's instant cannot overflow.
        let handle = PeriodicPusher::new(pusher, Duration::MAX).spawn().unwrap();
        // The first push happens at once.
        let waited = std::time::Instant::now();
        while handle.stats().failures == 0 && waited.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let stats = handle.stats();
        let result = handle.shutdown().await;
        assert!(matches!(result, Err(PushError::Gather(_))), "{result:?}");
        assert_eq!(stats.failures, 1, "{stats:?}");
    }
}
