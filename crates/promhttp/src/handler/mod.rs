//! The scrape handler: Go's `promhttp.HandlerFor` for Rust.
//!
//! [`MetricsHandler`] answers a scrape request with the metrics of a [`Gather`]
//! source. It is a tower [`Service`](tower_service::Service) (so it drops into axum
//! with `Router::route_service`, into hyper through `hyper_util`'s `TowerToHyperService`,
//! and into any tower stack), and [`MetricsHandler::respond`] is the same thing as
//! a plain async function of a request.
//!
//! What one scrape does:
//! 1. `GET` and `HEAD` are served (`HEAD`: same headers, no body); other methods get
//!    `405` with `Allow: GET, HEAD`.
//! 2. Over [`max_requests_in_flight`](HandlerBuilder::max_requests_in_flight)
//!    concurrent scrapes, `503`.
//! 3. The format is negotiated from `Accept` and the compression from
//!    `Accept-Encoding` ([`crate::negotiate`]); `name[]` query parameters keep only
//!    the named families.
//! 4. The page is rendered on a blocking thread (gather, check, encode, compress),
//!    so a slow or blocking collector never stalls the async runtime. Concurrent
//!    scrapes asking for the same bytes share one render, so a slow collector costs
//!    one thread, not one per scrape.
//! 5. The deadline is the configured [`timeout`](HandlerBuilder::timeout), capped by
//!    the scraper's `X-Prometheus-Scrape-Timeout-Seconds` less a margin: past it
//!    the answer is `503`, and a render nobody waits for any more stops before
//!    encoding.
//! 6. The whole body is rendered before the status is sent, with `Content-Length`:
//!    a failure is a `500` (or what [`ErrorHandling`] says), never a truncated `200`.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use promhttp::prometheus::{IntCounter, Registry};
//!
//! let registry = Registry::new();
//! let hits = IntCounter::new("hits_total", "Hits.").unwrap();
//! registry.register(Box::new(hits.clone())).unwrap();
//!
//! let metrics = promhttp::MetricsHandler::builder(registry).openmetrics(true).build();
//! let app = axum::Router::new().route_service("/metrics", metrics);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9898").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

mod metrics;
mod render;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::Full;
use tokio::sync::Semaphore;

pub use metrics::HandlerMetrics;
use metrics::InFlight;
use render::{Jobs, Key, Outcome};

use crate::gather::{DefaultRegistry, Gather};
use crate::negotiate::{negotiate_encoding, negotiate_format, Encoding};

/// The response body type of the handler.
pub type Body = Full<Bytes>;

/// What to do when gathering reports errors (Go's `HandlerOpts.ErrorHandling`).
///
/// Every error is logged with `tracing` at error level and counted in
/// `promhttp_metric_handler_errors_total{cause="gathering"}` (when instrumented),
/// whatever the mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorHandling {
    /// Answer `500 Internal Server Error` with the errors as plain text. The scrape
    /// fails, and Prometheus shows the reason as the target's last error. The default:
    /// a page with silently missing series is worse than a failed scrape.
    #[default]
    HttpError,
    /// Serve everything that could be gathered and checked. Only when nothing at all
    /// is left does the answer become `500`.
    Continue,
    /// Panic with the errors, in the task serving the request.
    Panic,
}

/// Default gzip level: on exposition text, level 1 costs a fraction of level 6's
/// CPU for a body only slightly larger.
pub const DEFAULT_GZIP_LEVEL: u32 = 1;
/// Default zstd level.
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;
/// Default margin taken off `X-Prometheus-Scrape-Timeout-Seconds`.
pub const DEFAULT_SCRAPE_TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub error_handling: ErrorHandling,
    pub encodings: Vec<Encoding>,
    pub gzip_level: u32,
    pub zstd_level: i32,
    pub max_in_flight: usize,
    pub timeout: Option<Duration>,
    pub honor_scrape_timeout: bool,
    pub scrape_timeout_offset: Duration,
    pub openmetrics: bool,
    pub created: bool,
    pub process_start: Option<HeaderValue>,
    pub coalesce: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            error_handling: ErrorHandling::HttpError,
            encodings: default_encodings(),
            gzip_level: DEFAULT_GZIP_LEVEL,
            zstd_level: DEFAULT_ZSTD_LEVEL,
            max_in_flight: 0,
            timeout: None,
            honor_scrape_timeout: true,
            scrape_timeout_offset: DEFAULT_SCRAPE_TIMEOUT_OFFSET,
            openmetrics: false,
            created: false,
            process_start: None,
            coalesce: true,
        }
    }
}

fn default_encodings() -> Vec<Encoding> {
    let mut v = vec![Encoding::Identity];
    if cfg!(feature = "gzip") {
        v.push(Encoding::Gzip);
    }
    if cfg!(feature = "zstd") {
        v.push(Encoding::Zstd);
    }
    v
}

/// Builds a [`MetricsHandler`]; every option has Go's default unless said otherwise.
#[must_use]
pub struct HandlerBuilder {
    gatherer: Box<dyn Gather>,
    opts: Options,
    metrics: Option<HandlerMetrics>,
}

impl std::fmt::Debug for HandlerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerBuilder")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl HandlerBuilder {
    /// What to do with gathering errors. Default: [`ErrorHandling::HttpError`].
    pub fn error_handling(mut self, mode: ErrorHandling) -> Self {
        self.opts.error_handling = mode;
        self
    }

    /// `false` never compresses, whatever the scraper accepts. Default: `true`.
    pub fn compression(mut self, enabled: bool) -> Self {
        if enabled {
            if self.opts.encodings == [Encoding::Identity] {
                self.opts.encodings = default_encodings();
            }
        } else {
            self.opts.encodings = vec![Encoding::Identity];
        }
        self
    }

    /// The codings offered, in the server's order of preference (which breaks ties
    /// between equal `q` values). Identity is always possible as the fallback.
    /// Default: identity, gzip, zstd (those whose cargo feature is on). Codings whose
    /// feature is off are ignored.
    pub fn offered_encodings(mut self, encodings: impl IntoIterator<Item = Encoding>) -> Self {
        self.opts.encodings = encodings
            .into_iter()
            .filter(|e| match e {
                Encoding::Identity => true,
                Encoding::Gzip => cfg!(feature = "gzip"),
                Encoding::Zstd => cfg!(feature = "zstd"),
            })
            .collect();
        self
    }

    /// The gzip level, 0 (store) to 9 (smallest). Default: [`DEFAULT_GZIP_LEVEL`].
    pub fn gzip_level(mut self, level: u32) -> Self {
        self.opts.gzip_level = level.min(9);
        self
    }

    /// The zstd level, 1 to 22. Default: [`DEFAULT_ZSTD_LEVEL`].
    pub fn zstd_level(mut self, level: i32) -> Self {
        self.opts.zstd_level = level.clamp(1, 22);
        self
    }

    /// At most `n` scrapes are served at once; more get `503` with
    /// `Limit of concurrent requests reached (n), try again later.`. `0` means no
    /// limit. Default: `0`.
    pub fn max_requests_in_flight(mut self, n: usize) -> Self {
        self.opts.max_in_flight = n;
        self
    }

    /// A scrape not answered within `timeout` gets `503` with
    /// `Exceeded configured timeout of …`. Default: none (but see
    /// [`honor_scrape_timeout_header`](Self::honor_scrape_timeout_header)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.timeout = Some(timeout);
        self
    }

    /// Whether `X-Prometheus-Scrape-Timeout-Seconds` caps the deadline: the header's
    /// value less [`scrape_timeout_offset`](Self::scrape_timeout_offset) (but at
    /// least half the header's value), so the scraper hears a clear `503` instead of
    /// timing out itself. Malformed, negative, zero or infinite values are ignored.
    /// Default: `true`.
    pub fn honor_scrape_timeout_header(mut self, honor: bool) -> Self {
        self.opts.honor_scrape_timeout = honor;
        self
    }

    /// The margin taken off the scraper's timeout. Default:
    /// [`DEFAULT_SCRAPE_TIMEOUT_OFFSET`] (500 ms).
    pub fn scrape_timeout_offset(mut self, offset: Duration) -> Self {
        self.opts.scrape_timeout_offset = offset;
        self
    }

    /// Offer OpenMetrics 1.0.0 (and 0.0.1) in negotiation. Default: `false`, as in
    /// Go: switching a target to OpenMetrics changes its histogram `le` values
    /// (`"1"` becomes `"1.0"`), which breaks queries that name them. OpenMetrics is
    /// the text format that carries exemplars and units.
    pub fn openmetrics(mut self, enabled: bool) -> Self {
        self.opts.openmetrics = enabled;
        self
    }

    /// Write `_created` samples in OpenMetrics (and created timestamps in protobuf)
    /// for metrics whose source knows them. Default: `false`: they add a series per
    /// counter, histogram and summary.
    pub fn openmetrics_created_samples(mut self, enabled: bool) -> Self {
        self.opts.created = enabled;
        self
    }

    /// Send `Process-Start-Time-Unix: <seconds>` with every page. Default: not sent.
    pub fn process_start_time(mut self, start: SystemTime) -> Self {
        // Whole seconds, towards zero; written from the unsigned value, so that no
        // time the platform can represent overflows (`-i64::MIN` would).
        let secs = match start.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_secs().to_string(),
            Err(e) => match e.duration().as_secs() {
                0 => "0".to_owned(),
                s => format!("-{s}"),
            },
        };
        self.opts.process_start = HeaderValue::from_str(&secs).ok();
        self
    }

    /// Share one render among concurrent scrapes that ask for the same bytes.
    /// Default: `true`. Turned off, every scrape gathers on its own.
    pub fn coalesce(mut self, enabled: bool) -> Self {
        self.opts.coalesce = enabled;
        self
    }

    /// Count scrapes in `metrics` (see [`HandlerMetrics`]). Default: not
    /// instrumented, except for [`crate::handler()`].
    pub fn instrument(mut self, metrics: HandlerMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The handler.
    pub fn build(self) -> MetricsHandler {
        let limit = match self.opts.max_in_flight {
            0 => None,
            n => Some(Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS)))),
        };
        MetricsHandler {
            inner: Arc::new(Inner {
                gatherer: self.gatherer,
                opts: self.opts,
                limit,
                metrics: self.metrics,
                jobs: Mutex::new(HashMap::new()),
                renders: Arc::new(Semaphore::new(render::MAX_CONCURRENT_RENDERS)),
                buffers: Default::default(),
                size_hints: Default::default(),
                #[cfg(feature = "zstd")]
                zstd: Mutex::new(None),
            }),
        }
    }
}

pub(crate) struct Inner {
    pub gatherer: Box<dyn Gather>,
    pub opts: Options,
    limit: Option<Arc<Semaphore>>,
    pub metrics: Option<HandlerMetrics>,
    pub jobs: Jobs,
    /// Render slots (see [`render::MAX_CONCURRENT_RENDERS`]).
    pub renders: Arc<Semaphore>,
    /// Scratch buffers for encoding before compression.
    pub buffers: render::BufferPool,
    /// Last body size per coding (identity, gzip, zstd), to size the next buffer.
    pub size_hints: [AtomicUsize; 3],
    #[cfg(feature = "zstd")]
    pub zstd: Mutex<Option<zstd::bulk::Compressor<'static>>>,
}

/// Serves metrics to scrapers. Cheap to clone; clones share everything.
///
/// Build one with [`MetricsHandler::builder`], or use [`crate::handler()`] for the
/// default registry.
#[derive(Clone)]
pub struct MetricsHandler {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MetricsHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHandler")
            .field("opts", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

impl MetricsHandler {
    /// A builder serving `gatherer`: a `prometheus::Registry`,
    /// [`DefaultRegistry`], a [`Gatherers`](crate::Gatherers) list, or any [`Gather`].
    pub fn builder(gatherer: impl Gather + 'static) -> HandlerBuilder {
        HandlerBuilder {
            gatherer: Box::new(gatherer),
            opts: Options::default(),
            metrics: None,
        }
    }

    /// Answers a request (only its method, URI and headers are read).
    ///
    /// Needs a tokio runtime with the time driver when a deadline applies.
    pub async fn respond<B>(&self, request: &Request<B>) -> Response<Body> {
        self.respond_to(request.method(), request.uri(), request.headers())
            .await
    }

    /// Answers a request given as its parts.
    pub async fn respond_to(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Response<Body> {
        self.respond_until(method, uri, headers, None)
            .await
            .map(Full::new)
    }

    /// As [`respond_to`](Self::respond_to) for a request that arrived at `arrived`:
    /// the time spent since (in a scrape hook, say) comes off the scrape's deadline
    /// ([`scrape_deadline`](Self::scrape_deadline)). No `Instant + Duration` is
    /// computed, so no deadline, however large, can overflow.
    #[cfg(feature = "exporter")]
    pub(crate) async fn respond_since(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        arrived: std::time::Instant,
    ) -> Response<Bytes> {
        self.respond_until(method, uri, headers, Some(arrived))
            .await
    }

    async fn respond_until(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        arrived: Option<std::time::Instant>,
    ) -> Response<Bytes> {
        let _in_flight = InFlight::enter(self.inner.metrics.as_ref());
        let response = self.answer(method, uri, headers, arrived).await;
        if let Some(m) = &self.inner.metrics {
            m.count(response.status().as_u16());
        }
        response
    }

    async fn answer(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        arrived: Option<std::time::Instant>,
    ) -> Response<Bytes> {
        let head = match *method {
            Method::GET => false,
            Method::HEAD => true,
            _ => return method_not_allowed(),
        };
        let inner = &self.inner;
        let _permit = match &inner.limit {
            None => None,
            Some(sem) => match sem.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    return plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "Limit of concurrent requests reached ({}), try again later.\n",
                            inner.opts.max_in_flight
                        ),
                    )
                }
            },
        };
        let key = self.key(uri, headers);
        let deadline = self
            .scrape_deadline(headers)
            .map(|d| arrived.map_or(d, |at| d.saturating_sub(at.elapsed())));
        let render = render::rendered(inner.clone(), key.clone());
        let outcome = match deadline {
            None => render.await,
            Some(d) => match tokio::time::timeout(d, render).await {
                Ok(o) => o,
                Err(_) => {
                    tracing::warn!("scrape timed out after {d:?}");
                    return plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("Exceeded configured timeout of {d:?}.\n"),
                    );
                }
            },
        };
        self.finish(&key, &outcome, head)
    }

    /// Answers a request on the calling thread, without coalescing or deadlines:
    /// for servers that are not async. Gathering may block this thread.
    pub fn respond_blocking<B>(&self, request: &Request<B>) -> Response<Body> {
        self.respond_blocking_bytes(request).map(Full::new)
    }

    fn respond_blocking_bytes<B>(&self, request: &Request<B>) -> Response<Bytes> {
        let _in_flight = InFlight::enter(self.inner.metrics.as_ref());
        let response = match *request.method() {
            Method::GET | Method::HEAD => {
                let key = self.key(request.uri(), request.headers());
                let outcome = render::render(&self.inner, &key, None)
                    .unwrap_or_else(|| Outcome::Failed("render abandoned\n".to_owned()));
                self.finish(&key, &outcome, request.method() == Method::HEAD)
            }
            _ => method_not_allowed(),
        };
        if let Some(m) = &self.inner.metrics {
            m.count(response.status().as_u16());
        }
        response
    }

    fn key(&self, uri: &Uri, headers: &HeaderMap) -> Key {
        let opts = &self.inner.opts;
        let content_type = negotiate_format(headers.get_all(header::ACCEPT), opts.openmetrics);
        let encoding =
            negotiate_encoding(headers.get_all(header::ACCEPT_ENCODING), &opts.encodings);
        Key {
            content_type,
            encoding,
            names: name_filter(uri.query()),
        }
    }

    /// How long a scrape with these headers may take: the configured
    /// [`timeout`](HandlerBuilder::timeout), capped by the scraper's
    /// `X-Prometheus-Scrape-Timeout-Seconds` less the
    /// [offset](HandlerBuilder::scrape_timeout_offset) (but at least half the
    /// scraper's value) when [honoured](HandlerBuilder::honor_scrape_timeout_header).
    /// `None`: no deadline. Header values that are not a positive finite number of
    /// seconds are ignored; values too large for a `Duration` are ignored too.
    /// The one home of this rule: the exporter asks here as well.
    pub(crate) fn scrape_deadline(&self, headers: &HeaderMap) -> Option<Duration> {
        let opts = &self.inner.opts;
        let scraper = if opts.honor_scrape_timeout {
            headers
                .get("x-prometheus-scrape-timeout-seconds")
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .map(|d| d.saturating_sub(opts.scrape_timeout_offset).max(d / 2))
        } else {
            None
        };
        match (opts.timeout, scraper) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn finish(&self, key: &Key, outcome: &Outcome, head: bool) -> Response<Bytes> {
        match outcome {
            Outcome::Page(body) => {
                let mut r = Response::new(if head { Bytes::new() } else { body.clone() });
                let h = r.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(key.content_type.header),
                );
                if key.encoding != Encoding::Identity {
                    h.insert(
                        header::CONTENT_ENCODING,
                        HeaderValue::from_static(key.encoding.as_str()),
                    );
                }
                h.insert(
                    header::VARY,
                    HeaderValue::from_static("Accept, Accept-Encoding"),
                );
                h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
                if let Some(start) = &self.inner.opts.process_start {
                    h.insert("process-start-time-unix", start.clone());
                }
                r
            }
            Outcome::Failed(text) => {
                if self.inner.opts.error_handling == ErrorHandling::Panic {
                    panic!("error gathering metrics: {text}");
                }
                plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("An error has occurred while serving metrics:\n\n{text}"),
                )
            }
        }
    }
}

fn plain(status: StatusCode, text: String) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn method_not_allowed() -> Response<Bytes> {
    let mut r = plain(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed: metrics are served to GET and HEAD.\n".to_owned(),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    r
}

/// The `name[]` query parameters, sorted and deduplicated; `None` when there are none.
fn name_filter(query: Option<&str>) -> Option<Arc<[String]>> {
    let mut seen = false;
    let mut names: Vec<String> = Vec::new();
    for pair in query?.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(k).as_deref() == Some("name[]") {
            seen = true;
            // A name that is not UTF-8 matches no family, like an unknown name.
            names.push(percent_decode(v).unwrap_or_default());
        }
    }
    if !seen {
        return None;
    }
    names.sort();
    names.dedup();
    Some(names.into())
}

/// Decodes `%XX` and `+` of a query component; `None` if it is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

impl<B> tower_service::Service<Request<B>> for MetricsHandler {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let this = self.clone();
        let (parts, body) = request.into_parts();
        drop(body);
        Box::pin(async move {
            Ok(this
                .respond_to(&parts.method, &parts.uri, &parts.headers)
                .await)
        })
    }
}

/// A handler for the `prometheus` crate's default registry, instrumented with
/// [`HandlerMetrics::default_registry`] (Go's `promhttp.Handler()`).
///
/// ```
/// let app = axum::Router::<()>::new().route_service("/metrics", promhttp::handler());
/// # let _ = app;
/// ```
pub fn handler() -> MetricsHandler {
    MetricsHandler::builder(DefaultRegistry)
        .instrument(HandlerMetrics::default_registry())
        .build()
}

/// An uninstrumented handler with default options for `gatherer` (Go's
/// `promhttp.HandlerFor(gatherer, HandlerOpts{})`).
pub fn handler_for(gatherer: impl Gather + 'static) -> MetricsHandler {
    MetricsHandler::builder(gatherer).build()
}

#[cfg(test)]
mod tests;
