//! The scrape handler (Go's `promhttp.HandlerFor`); its public items are re-exported
//! at the crate root, where [`MetricsHandler`] tells what one scrape does.

mod builder;
mod compress;
mod level;
mod limit;
mod metrics;
mod pages;
mod query;
mod render;
mod threads;
mod trace;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::Full;
use tokio::sync::Semaphore;
use tracing::Instrument;

pub(crate) use builder::Options;
pub use builder::{ErrorHandling, HandlerBuilder, DEFAULT_SCRAPE_TIMEOUT_OFFSET};
pub use level::{GzipLevel, LevelError, ZstdLevel};
pub use metrics::HandlerMetrics;
use metrics::InFlight;
#[cfg(test)]
use query::decode;
use query::name_filter;
use render::{Jobs, Key, Outcome};

use crate::gather::{DefaultRegistry, Gather};
use crate::negotiate::{negotiate_encoding, negotiate_format_offering, Encoding};

/// The body of every response [`MetricsHandler`] gives: the whole page (or error
/// text) in one buffer, with its length known up front.
///
/// An alias of `http_body_util::Full<Bytes>`, named apart from the
/// [`http_body::Body`] trait it implements.
pub type MetricsBody = Full<Bytes>;

pub(crate) struct Inner {
    pub gatherer: Box<dyn Gather>,
    pub opts: Options,
    limit: Option<limit::InFlightLimit>,
    pub metrics: Option<HandlerMetrics>,
    pub jobs: Jobs,
    /// Render slots (see [`render::MAX_CONCURRENT_RENDERS`]).
    pub renders: Arc<Semaphore>,
    /// The buffers pages are rendered into.
    pub pages: Arc<pages::Pages>,
    /// The buffers compressed pages are written into.
    pub compressed: Arc<pages::Pages>,
    /// Last body size per coding (identity, gzip, zstd), to size the next buffer.
    pub size_hints: [AtomicUsize; 3],
    /// The compressor contexts kept between scrapes.
    pub compressors: compress::Compressors,
}

/// The scrape handler: serves metrics to scrapers (Go's `promhttp.HandlerFor`).
/// Cheap to clone; clones share everything.
///
/// Build one with [`MetricsHandler::builder`], or use [`crate::handler()`] for the
/// default registry.
///
/// [`MetricsHandler`] answers a scrape request with the metrics of a [`Gather`]
/// source. It is a tower [`Service`](tower_service::Service) (so it drops into axum
/// with `Router::route_service`, into hyper through `hyper_util`'s `TowerToHyperService`,
/// and into any tower stack), and [`MetricsHandler::respond`] is the same thing as
/// a plain async function of a request.
///
/// What one scrape does:
/// 1. `GET` and `HEAD` are served (`HEAD`: same headers, no body); other methods get
///    `405` with `Allow: GET, HEAD`.
/// 2. Over [`max_requests_in_flight`](HandlerBuilder::max_requests_in_flight)
///    concurrent scrapes, `503`.
/// 3. The format is negotiated from `Accept` and the compression from
///    `Accept-Encoding` ([`crate::negotiate`]); `name[]` query parameters keep only
///    the named families.
/// 4. The page is rendered on a render thread (gather, check, encode, compress),
///    so a slow or blocking collector never stalls the async runtime. Concurrent
///    scrapes asking for the same bytes share one render, so a slow collector costs
///    one thread, not one per scrape.
/// 5. The deadline is the configured [`timeout`](HandlerBuilder::timeout), capped by
///    the scraper's `X-Prometheus-Scrape-Timeout-Seconds` less a margin: past it
///    the answer is `503`, and a render nobody waits for any more stops before
///    encoding.
/// 6. The whole body is rendered before the status is sent, with `Content-Length`:
///    a failure is a `500` (or what [`ErrorHandling`] says), never a truncated `200`.
/// 7. Each scrape runs in a `tracing` span named `scrape` (target `promhttp::scrape`,
///    level DEBUG) with the negotiated `content_type` and `encoding`, the answer's
///    `status`, and, when the scraper sent a valid W3C `traceparent` header (as
///    Prometheus 3.6 and later do), its `trace_id`, `parent_span_id` and `sampled`
///    flag; an invalid or repeated `traceparent` is ignored. The render runs inside
///    the span of the scrape that started it.
///
/// Memory: a page is rendered into a buffer of the handler's, which an identity
/// page keeps until the last response holding it has been sent. One such buffer
/// is out at a time: a render that finds the last page still being sent waits for
/// its buffer (with coalescing, scrapes arriving meanwhile join that render), for
/// at most 100 ms before it takes a second one: a slow or stuck reader delays a
/// render by at most that much, and several scrapers do not each keep a page of
/// their own alive. Kept between scrapes: that buffer, freed instead of kept when it holds
/// more than twice the last page plus 64 KiB, and reused while it has room for
/// the last page and a sixteenth more (a new one has an eighth); the sizes of the
/// last page per coding (to size the next buffers); one compressor context per
/// coding (gzip, zstd) at the configured level, made at the first scrape in that
/// coding and reused by every later one (a page compressed while the kept gzip
/// context is busy with another gets a context of its own). A compressed page is
/// written into a second buffer of the handler's, lent and kept by the same rules
/// as the first, so gzip scrapes one after another allocate nothing page-sized.
/// Renders run on promhttp's own render threads, not tokio's blocking pool: the
/// thread that finished last takes the next render, a new one starts only while
/// every other is busy (at most 4 renders of one handler run at once), and a
/// thread idle for 10 s ends. Scrapes one after another therefore use one thread,
/// and with glibc one malloc arena, instead of leaving a page's worth of freed
/// memory in the arena of every thread of the blocking pool.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use promhttp::prometheus::{IntCounter, Registry};
///
/// let registry = Registry::new();
/// let hits = IntCounter::new("hits_total", "Hits.").unwrap();
/// registry.register(Box::new(hits.clone())).unwrap();
///
/// let metrics = promhttp::MetricsHandler::builder(registry).openmetrics(true).build();
/// let app = axum::Router::new().route_service("/metrics", metrics);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9898").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
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
        HandlerBuilder::new(Box::new(gatherer))
    }

    /// Answers a request (only its method, URI and headers are read).
    ///
    /// Needs a tokio runtime with the time driver when a deadline applies.
    pub async fn respond<B>(&self, request: &Request<B>) -> Response<MetricsBody> {
        self.respond_to(request.method(), request.uri(), request.headers())
            .await
    }

    /// Answers a request given as its parts.
    pub async fn respond_to(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Response<MetricsBody> {
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
            m.count(response.status());
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
        let _inside = match &inner.limit {
            None => None,
            Some(limit) => match limit.try_enter() {
                Some(entered) => Some(entered),
                None => {
                    return plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "Limit of concurrent requests reached ({}), try again later.\n",
                            limit.max()
                        ),
                    )
                }
            },
        };
        let key = self.key(uri, headers);
        let span = trace::scrape_span(&key, headers);
        let deadline = self
            .scrape_deadline(headers)
            .map(|d| arrived.map_or(d, |at| d.saturating_sub(at.elapsed())));
        let render = render::rendered(inner.clone(), key.clone()).instrument(span.clone());
        let outcome = match deadline {
            None => render.await,
            Some(d) => match tokio::time::timeout(d, render).await {
                Ok(o) => o,
                Err(_) => {
                    let _in = span.enter();
                    tracing::warn!("scrape timed out after {d:?}");
                    span.record("status", 503);
                    return plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("Exceeded configured timeout of {d:?}.\n"),
                    );
                }
            },
        };
        let _in = span.enter();
        let response = self.finish(&key, &outcome, head);
        span.record("status", response.status().as_u16());
        response
    }

    /// Answers a request on the calling thread, without coalescing or deadlines:
    /// for servers that are not async. Gathering may block this thread, and so
    /// may waiting (at most 100 ms) for the buffer of a page still being sent.
    pub fn respond_blocking<B>(&self, request: &Request<B>) -> Response<MetricsBody> {
        self.respond_blocking_bytes(request).map(Full::new)
    }

    fn respond_blocking_bytes<B>(&self, request: &Request<B>) -> Response<Bytes> {
        let _in_flight = InFlight::enter(self.inner.metrics.as_ref());
        let response = match *request.method() {
            Method::GET | Method::HEAD => {
                let key = self.key(request.uri(), request.headers());
                let span = trace::scrape_span(&key, request.headers());
                let _in = span.enter();
                let outcome = render::render(&self.inner, &key, None)
                    .unwrap_or_else(|| Outcome::Failed("render abandoned\n".to_owned()));
                let response = self.finish(&key, &outcome, request.method() == Method::HEAD);
                span.record("status", response.status().as_u16());
                response
            }
            _ => method_not_allowed(),
        };
        if let Some(m) = &self.inner.metrics {
            m.count(response.status());
        }
        response
    }

    fn key(&self, uri: &Uri, headers: &HeaderMap) -> Key {
        let opts = &self.inner.opts;
        let content_type = negotiate_format_offering(
            headers.get_all(header::ACCEPT),
            opts.openmetrics,
            opts.openmetrics_2,
        );
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

impl<B> tower_service::Service<Request<B>> for MetricsHandler {
    type Response = Response<MetricsBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<MetricsBody>, Infallible>> + Send>>;

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
