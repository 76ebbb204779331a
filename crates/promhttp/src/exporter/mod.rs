//! The standalone exporter: a hardened `/metrics` server beside your application.
//!
//! [`Exporter`] binds its own listener and serves, with one call:
//!
//! | path | `GET`/`HEAD` | other methods |
//! |---|---|---|
//! | the metrics path (default `/metrics`) | the [`MetricsHandler`] | `405` |
//! | `/` | a landing page: name, version, a link to the metrics path | `405` |
//! | `/-/healthy`, `/-/ready` | `200 OK` | `405` |
//! | anything else | `404` | `404` |
//!
//! over HTTP/1.1 and HTTP/2 (h2c, or ALPN under TLS), with a header-read timeout
//! that also closes idle keep-alive connections and clients that trickle bytes
//! (slowloris), the protocol decided within that same timeout, an idle timeout for
//! silent connections (HTTP/2 between scrapes, dead peers), a write timeout for
//! clients that stop reading, a cap on concurrent connections, a request header size
//! limit, HTTP/2 stream limits, and graceful shutdown: on
//! [`ExporterHandle::shutdown`] (or the future given to [`ExporterBuilder::run`]) it stops
//! accepting, lets scrapes in flight finish within the drain timeout, then closes.
//!
//! Hooks keep values fresh: [`on_scrape`](ExporterBuilder::on_scrape) runs before
//! every scrape (the scrape waits for it, within its deadline; a failing or
//! panicking hook is logged and counted in `promhttp_exporter_hook_failures_total`
//! when instrumented, and the scrape is still answered), and
//! [`update_every`](ExporterBuilder::update_every) runs on an interval.
//!
//! ```no_run
//! # async fn run() -> Result<(), promhttp::exporter::ExporterError> {
//! use promhttp::exporter::Exporter;
//! use promhttp::prometheus::Registry;
//!
//! let registry = Registry::new();
//! let handle = Exporter::builder(registry)
//!     .listen_address("127.0.0.1:9898".parse().unwrap())
//!     .start()
//!     .await?;
//! println!("serving on {}", handle.local_addr());
//! handle.shutdown();
//! handle.join().await
//! # }
//! ```
//!
//! Programs that are not async use [`ExporterBuilder::start_blocking`], which runs
//! the server on its own thread and runtime.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::gather::Gather;
use crate::handler::{HandlerBuilder, MetricsHandler};

#[cfg(feature = "web-config")]
pub mod web_config;

type HookFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type Hook = Arc<dyn Fn() -> HookFuture + Send + Sync>;

/// What can go wrong starting or running the exporter.
#[derive(Debug)]
pub enum ExporterError {
    /// The listen address could not be bound (in use, not permitted, ...).
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration cannot work (for example an empty metrics path).
    Config(String),
    /// The runtime of the blocking variant could not be started.
    Runtime(std::io::Error),
    /// The server task panicked or was cancelled.
    Task(String),
    /// The web configuration (TLS, basic auth, headers) is invalid.
    #[cfg(feature = "web-config")]
    WebConfig(web_config::WebConfigError),
}

impl fmt::Display for ExporterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExporterError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            ExporterError::Config(m) => write!(f, "invalid exporter configuration: {m}"),
            ExporterError::Runtime(e) => write!(f, "cannot start the exporter runtime: {e}"),
            ExporterError::Task(m) => write!(f, "exporter task failed: {m}"),
            #[cfg(feature = "web-config")]
            ExporterError::WebConfig(e) => write!(f, "invalid web configuration: {e}"),
        }
    }
}

impl std::error::Error for ExporterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExporterError::Bind { source, .. } => Some(source),
            ExporterError::Runtime(e) => Some(e),
            #[cfg(feature = "web-config")]
            ExporterError::WebConfig(e) => Some(e),
            _ => None,
        }
    }
}

/// The landing page served at `/`.
#[derive(Clone, Debug)]
pub struct LandingPage {
    /// The service name, the page's title.
    pub name: String,
    /// One line about the service.
    pub description: String,
    /// The service version.
    pub version: String,
}

impl Default for LandingPage {
    fn default() -> Self {
        LandingPage {
            name: "promhttp exporter".to_owned(),
            description: "Prometheus metrics served by promhttp.".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// Default header-read timeout; it also bounds how long an idle keep-alive
/// connection stays open.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a connection may stay silent (no bytes from the client) before it
/// is closed; HTTP/1 connections are closed sooner, by the header-read timeout.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default time a write may make no progress (a client that stopped reading)
/// before the connection is closed.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on concurrent scrapes of [`Exporter::builder`] (`503` beyond).
pub const DEFAULT_MAX_REQUESTS_IN_FLIGHT: usize = 40;
/// Default cap on concurrent connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default time scrapes in flight get to finish on shutdown.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default limit on the size of a request's header block, in bytes.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Default time a scrape waits for the `on_scrape` hook when the scraper sends no timeout.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// A standalone metrics server; see the [module docs](self).
pub struct Exporter;

impl Exporter {
    /// A builder serving `gatherer` with default handler options, except at most
    /// [`DEFAULT_MAX_REQUESTS_IN_FLIGHT`] scrapes at once (node_exporter's default).
    pub fn builder(gatherer: impl Gather + 'static) -> ExporterBuilder {
        ExporterBuilder::with_handler(
            MetricsHandler::builder(gatherer)
                .max_requests_in_flight(DEFAULT_MAX_REQUESTS_IN_FLIGHT)
                .build(),
        )
    }
}

/// Configures an exporter; every option has a documented default.
#[must_use]
pub struct ExporterBuilder {
    handler: MetricsHandler,
    addr: SocketAddr,
    metrics_path: String,
    landing: Option<LandingPage>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    write_timeout: Duration,
    max_connections: usize,
    max_header_bytes: usize,
    drain_timeout: Duration,
    http2: bool,
    hook: Option<Hook>,
    hook_timeout: Duration,
    updaters: Vec<(Duration, Hook)>,
    hook_failures: Option<prometheus::IntCounter>,
    #[cfg(feature = "web-config")]
    web: Option<web_config::WebConfig>,
}

impl fmt::Debug for ExporterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExporterBuilder")
            .field("addr", &self.addr)
            .field("metrics_path", &self.metrics_path)
            .finish_non_exhaustive()
    }
}

impl ExporterBuilder {
    /// A builder serving an already configured handler (all [`HandlerBuilder`]
    /// options: OpenMetrics, limits, timeouts, self-metrics, ...).
    pub fn with_handler(handler: MetricsHandler) -> Self {
        ExporterBuilder {
            handler,
            addr: SocketAddr::from(([127, 0, 0, 1], 9898)),
            metrics_path: "/metrics".to_owned(),
            landing: Some(LandingPage::default()),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            http2: true,
            hook: None,
            hook_timeout: DEFAULT_HOOK_TIMEOUT,
            updaters: Vec::new(),
            hook_failures: None,
            #[cfg(feature = "web-config")]
            web: None,
        }
    }

    /// Serves with TLS, client certificates, basic auth, extra response headers and
    /// a rate limit as `config` says (exporter-toolkit's web configuration).
    /// Default: none of them, plain HTTP.
    #[cfg(feature = "web-config")]
    pub fn web_config(mut self, config: web_config::WebConfig) -> Self {
        self.web = Some(config);
        self
    }

    /// Reads the web configuration from an exporter-toolkit `web-config.yml`
    /// (what `--web.config.file` names); an invalid file is an error naming the key.
    ///
    /// ```no_run
    /// # use promhttp::exporter::Exporter;
    /// # use promhttp::prometheus::Registry;
    /// let exporter = Exporter::builder(Registry::new())
    ///     .web_config_file("/etc/exporter/web-config.yml")?;
    /// # Ok::<(), promhttp::exporter::ExporterError>(())
    /// ```
    #[cfg(feature = "web-config")]
    pub fn web_config_file(self, path: impl AsRef<std::path::Path>) -> Result<Self, ExporterError> {
        let config =
            web_config::WebConfig::from_file(path.as_ref()).map_err(ExporterError::WebConfig)?;
        Ok(self.web_config(config))
    }

    /// Configures the handler with a function of its builder, replacing the handler.
    ///
    /// ```
    /// # use promhttp::exporter::Exporter;
    /// # use promhttp::prometheus::Registry;
    /// let registry = Registry::new();
    /// let exporter = Exporter::builder(registry.clone())
    ///     .handler(promhttp::MetricsHandler::builder(registry).openmetrics(true));
    /// # let _ = exporter;
    /// ```
    pub fn handler(mut self, handler: HandlerBuilder) -> Self {
        self.handler = handler.build();
        self
    }

    /// Where to listen. Port 0 picks a free port; [`ExporterHandle::local_addr`]
    /// tells which. Default: `127.0.0.1:9898`.
    pub fn listen_address(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// The metrics path; must start with `/` and must not be `/` or a health path.
    /// Default: `/metrics`.
    pub fn metrics_path(mut self, path: impl Into<String>) -> Self {
        self.metrics_path = path.into();
        self
    }

    /// The landing page at `/`; `None` answers `404` there. Default: a page named
    /// "promhttp exporter".
    pub fn landing_page(mut self, page: Option<LandingPage>) -> Self {
        self.landing = page;
        self
    }

    /// How long a client may take to send a request's headers, and how long an
    /// idle keep-alive connection is kept. Default: [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// A connection on which the client sends nothing for this long is closed
    /// (HTTP/2 connections between scrapes, dead peers). Default:
    /// [`DEFAULT_IDLE_TIMEOUT`].
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// A connection whose writes make no progress for this long (a client that
    /// stopped reading) is closed. Default: [`DEFAULT_WRITE_TIMEOUT`].
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// At most this many connections at once; further clients wait in the listen
    /// backlog. Default: [`DEFAULT_MAX_CONNECTIONS`].
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// The largest request header block accepted, in bytes (HTTP/1: the read
    /// buffer; HTTP/2: the header list). Default: [`DEFAULT_MAX_HEADER_BYTES`].
    pub fn max_header_bytes(mut self, n: usize) -> Self {
        self.max_header_bytes = n.max(8192);
        self
    }

    /// How long scrapes in flight get to finish on shutdown before their
    /// connections are closed. Default: [`DEFAULT_DRAIN_TIMEOUT`].
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Serve HTTP/2 (prior knowledge, h2c) beside HTTP/1.1. Default: `true`.
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// Runs `hook` before every scrape, so values are fresh. The scrape waits for it
    /// up to the scraper's timeout (`X-Prometheus-Scrape-Timeout-Seconds` less half
    /// a second) or [`hook_timeout`](Self::hook_timeout); a hook that fails, panics
    /// or times out is logged (and counted, see
    /// [`instrument_hooks`](Self::instrument_hooks)) and the scrape is answered anyway.
    ///
    /// ```
    /// # use promhttp::exporter::Exporter;
    /// # use promhttp::prometheus::{IntGauge, Registry};
    /// let registry = Registry::new();
    /// let queue = IntGauge::new("queue_length", "Jobs waiting.").unwrap();
    /// registry.register(Box::new(queue.clone())).unwrap();
    /// let exporter = Exporter::builder(registry).on_scrape(move || {
    ///     let queue = queue.clone();
    ///     async move {
    ///         queue.set(3); // read the real value here
    ///         Ok::<(), std::io::Error>(())
    ///     }
    /// });
    /// # let _ = exporter;
    /// ```
    pub fn on_scrape<F, Fut, E>(mut self, hook: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        self.hook = Some(wrap_hook(hook));
        self
    }

    /// How long a scrape waits for the `on_scrape` hook when the scraper sends no
    /// timeout. Default: [`DEFAULT_HOOK_TIMEOUT`].
    pub fn hook_timeout(mut self, timeout: Duration) -> Self {
        self.hook_timeout = timeout;
        self
    }

    /// Runs `update` every `interval` (the first run right away) while the
    /// exporter runs; failures and panics are logged and counted, the next run still
    /// happens. A run still going when the next is due delays it.
    pub fn update_every<F, Fut, E>(mut self, interval: Duration, update: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        self.updaters
            .push((interval.max(Duration::from_millis(1)), wrap_hook(update)));
        self
    }

    /// Counts hook and updater failures in
    /// `promhttp_exporter_hook_failures_total`, registered in `registry`.
    pub fn instrument_hooks(mut self, registry: &prometheus::Registry) -> prometheus::Result<Self> {
        let c = prometheus::IntCounter::new(
            "promhttp_exporter_hook_failures_total",
            "Scrape hooks and interval updaters that failed, panicked or timed out.",
        )?;
        registry.register(Box::new(c.clone()))?;
        self.hook_failures = Some(c);
        Ok(self)
    }

    fn check(&self) -> Result<(), ExporterError> {
        let p = &self.metrics_path;
        if !p.starts_with('/') || p == "/" || p == "/-/healthy" || p == "/-/ready" {
            return Err(ExporterError::Config(format!(
                "metrics path {p:?} must start with '/' and must not be '/' or a health path"
            )));
        }
        Ok(())
    }

    /// Binds the listener and serves in the current tokio runtime until
    /// [`ExporterHandle::shutdown`] — or until the handle is dropped: keep it.
    pub async fn start(self) -> Result<ExporterHandle, ExporterError> {
        self.check()?;
        let listener =
            TcpListener::bind(self.addr)
                .await
                .map_err(|source| ExporterError::Bind {
                    addr: self.addr,
                    source,
                })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ExporterError::Bind {
                addr: self.addr,
                source,
            })?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let security = Security::from_builder(&self)?;
        let server = Server::new(self, security);
        tracing::info!(address = %local_addr, path = %server.routes.metrics_path, "exporter listening");
        let task = tokio::spawn(server.serve(listener, stop_rx));
        Ok(ExporterHandle {
            local_addr,
            stop: stop_tx,
            task,
        })
    }

    /// Serves until `shutdown` completes, then drains and returns
    /// (`prometheus-hyper`'s `Server::run(registry, addr, shutdown)` in one call).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ExporterError> {
        let handle = self.start().await?;
        shutdown.await;
        handle.shutdown();
        handle.join().await
    }

    /// Serves on a thread of its own with its own runtime, for programs that are
    /// not async (`prometheus_exporter::start`). Dropping the returned handle, or
    /// calling [`BlockingExporter::stop`], shuts it down.
    pub fn start_blocking(self) -> Result<BlockingExporter, ExporterError> {
        self.check()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("promhttp-exporter")
            .build()
            .map_err(ExporterError::Runtime)?;
        let (tx, rx) = std::sync::mpsc::channel();
        let drain = self.drain_timeout;
        let thread = std::thread::Builder::new()
            .name("promhttp-exporter".to_owned())
            .spawn(move || {
                let served = rt.block_on(async move {
                    match self.start().await {
                        Ok(handle) => {
                            let stop = handle.stop.clone();
                            let _ = tx.send(Ok((handle.local_addr, stop)));
                            handle.join().await
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            Ok(())
                        }
                    }
                });
                // A collector stuck on a blocking thread must not hang the caller.
                rt.shutdown_timeout(drain);
                served
            })
            .map_err(ExporterError::Runtime)?;
        match rx.recv() {
            Ok(Ok((local_addr, stop))) => Ok(BlockingExporter {
                local_addr,
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(ExporterError::Task(match thread.join() {
                Err(p) => crate::gather::panic_message(&*p),
                Ok(_) => "the exporter thread ended before binding".to_owned(),
            })),
        }
    }
}

fn wrap_hook<F, Fut, E>(hook: F) -> Hook
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + 'static,
{
    Arc::new(move || {
        let fut = hook();
        Box::pin(async move { fut.await.map_err(|e| e.to_string()) }) as HookFuture
    })
}

/// A running exporter.
#[derive(Debug)]
pub struct ExporterHandle {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ExporterHandle {
    /// The address the listener is bound to (the real port when port 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Starts a graceful shutdown: no new connections; scrapes in flight finish
    /// within the drain timeout. [`join`](Self::join) waits for the end.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits until the server has stopped.
    pub async fn join(self) -> Result<(), ExporterError> {
        self.task.await.map_err(|e| {
            ExporterError::Task(if e.is_panic() {
                crate::gather::panic_message(&*e.into_panic())
            } else {
                "cancelled".to_owned()
            })
        })
    }
}

/// An exporter running on its own thread; see [`ExporterBuilder::start_blocking`].
#[derive(Debug)]
pub struct BlockingExporter {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<Result<(), ExporterError>>>,
}

impl BlockingExporter {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Shuts down gracefully and waits for the thread to end.
    pub fn stop(mut self) -> Result<(), ExporterError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), ExporterError> {
        let _ = self.stop.send(true);
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|p| ExporterError::Task(crate::gather::panic_message(&*p)))?,
            None => Ok(()),
        }
    }
}

impl Drop for BlockingExporter {
    fn drop(&mut self) {
        if let Err(e) = self.stop_inner() {
            tracing::error!("exporter stopped with an error: {e}");
        }
    }
}

/// TLS, authentication, headers and rate limit from the web configuration.
#[derive(Default)]
struct Security {
    #[cfg(feature = "web-config")]
    tls: Option<web_config::TlsAcceptor>,
    #[cfg(feature = "web-config")]
    auth: Option<web_config::BasicAuth>,
    #[cfg(feature = "web-config")]
    headers: http::HeaderMap,
    #[cfg(feature = "web-config")]
    limiter: Option<RateLimiter>,
    #[cfg(feature = "web-config")]
    http2: Option<bool>,
}

impl Security {
    #[cfg(not(feature = "web-config"))]
    fn from_builder(_: &ExporterBuilder) -> Result<Security, ExporterError> {
        Ok(Security::default())
    }

    #[cfg(feature = "web-config")]
    fn from_builder(b: &ExporterBuilder) -> Result<Security, ExporterError> {
        let Some(web) = &b.web else {
            return Ok(Security::default());
        };
        web.validate().map_err(ExporterError::WebConfig)?;
        let tls = web.tls_acceptor().map_err(ExporterError::WebConfig)?;
        let auth = web.basic_auth().map_err(ExporterError::WebConfig)?;
        Ok(Security {
            tls,
            auth,
            headers: web.http.header_map(),
            limiter: web
                .rate_limit
                .as_ref()
                .map(|r| RateLimiter::new(r.interval, r.burst)),
            http2: Some(web.http.http2),
        })
    }

    fn http2_allowed(&self, builder_http2: bool) -> bool {
        #[cfg(feature = "web-config")]
        if self.http2 == Some(false) {
            return false;
        }
        builder_http2
    }
}

/// A token bucket: `burst` tokens, one more every `interval` (Go's `x/time/rate`).
#[cfg(feature = "web-config")]
struct RateLimiter {
    interval: Duration,
    burst: u32,
    state: std::sync::Mutex<(f64, Instant)>,
}

#[cfg(feature = "web-config")]
impl RateLimiter {
    fn new(interval: Duration, burst: u32) -> Self {
        RateLimiter {
            interval,
            burst,
            state: std::sync::Mutex::new((f64::from(burst), Instant::now())),
        }
    }

    fn allow(&self) -> bool {
        let mut st = lock(&self.state);
        let now = Instant::now();
        let refill = now.duration_since(st.1).as_secs_f64() / self.interval.as_secs_f64().max(1e-9);
        st.0 = (st.0 + refill).min(f64::from(self.burst));
        st.1 = now;
        if st.0 >= 1.0 {
            st.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Routes {
    handler: MetricsHandler,
    #[cfg_attr(not(feature = "web-config"), allow(dead_code))]
    security: Security,
    hook_run: std::sync::Mutex<Option<watch::Receiver<bool>>>,
    metrics_path: String,
    landing: Option<Bytes>,
    hook: Option<Hook>,
    hook_timeout: Duration,
    hook_failures: Option<prometheus::IntCounter>,
}

struct Server {
    routes: Arc<Routes>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    write_timeout: Duration,
    max_connections: usize,
    max_header_bytes: usize,
    drain_timeout: Duration,
    http2: bool,
    updaters: Vec<(Duration, Hook)>,
}

impl Server {
    fn new(b: ExporterBuilder, security: Security) -> Self {
        let landing = b
            .landing
            .as_ref()
            .map(|p| Bytes::from(landing_html(p, &b.metrics_path)));
        Server {
            http2: security.http2_allowed(b.http2),
            routes: Arc::new(Routes {
                security,
                handler: b.handler,
                hook_run: std::sync::Mutex::new(None),
                metrics_path: b.metrics_path,
                landing,
                hook: b.hook,
                hook_timeout: b.hook_timeout,
                hook_failures: b.hook_failures,
            }),
            header_read_timeout: b.header_read_timeout,
            idle_timeout: b.idle_timeout,
            write_timeout: b.write_timeout,
            max_connections: b.max_connections,
            max_header_bytes: b.max_header_bytes,
            drain_timeout: b.drain_timeout,
            updaters: b.updaters,
        }
    }

    fn http1(&self) -> hyper::server::conn::http1::Builder {
        let mut b = hyper::server::conn::http1::Builder::new();
        b.timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .max_buf_size(self.max_header_bytes)
            .keep_alive(true);
        b
    }

    fn http2(&self) -> hyper::server::conn::http2::Builder<TokioExecutor> {
        let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        b.timer(TokioTimer::new())
            .max_concurrent_streams(32)
            .max_header_list_size(self.max_header_bytes.min(u32::MAX as usize) as u32)
            // No keep-alive pings: their answers would keep an idle connection
            // alive for ever; the idle timeout closes silent connections instead.
            .keep_alive_interval(None);
        b
    }

    async fn serve(self, listener: TcpListener, mut stop: watch::Receiver<bool>) {
        let http1 = self.http1();
        let http2 = self.http2();
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let mut connections = tokio::task::JoinSet::new();
        let updaters: Vec<_> = self
            .updaters
            .iter()
            .map(|(every, hook)| {
                tokio::spawn(run_updater(
                    *every,
                    hook.clone(),
                    self.routes.hook_failures.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        loop {
            while connections.try_join_next().is_some() {}
            let permit = tokio::select! {
                _ = stopped(&mut stop) => break,
                p = slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (tcp, peer) = tokio::select! {
                _ = stopped(&mut stop) => break,
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let routes = self.routes.clone();
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let routes = routes.clone();
                async move { Ok::<_, Infallible>(routes.route(req).await) }
            });
            let (http1, http2) = (http1.clone(), http2.clone());
            let watcher = graceful.watcher();
            let (first_bytes, h2_allowed) = (self.header_read_timeout, self.http2);
            let tcp = Guarded::new(tcp, self.idle_timeout, self.write_timeout);
            #[cfg(feature = "web-config")]
            let tls = self.routes.security.tls.clone();
            connections.spawn(async move {
                let _permit = permit;
                #[cfg(feature = "web-config")]
                if let Some(tls) = tls {
                    // The handshake too must finish within the header-read timeout.
                    let stream = match tokio::time::timeout(first_bytes, tls.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::warn!(%peer, "TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::warn!(%peer, "TLS handshake not done within {first_bytes:?}");
                            return;
                        }
                    };
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                    serve_connection(stream, h2 && h2_allowed, &http1, &http2, svc, watcher, peer)
                        .await;
                    return;
                }
                // Which protocol: decided on the first bytes, within the header-read
                // timeout (hyper has no timeout of its own for this phase, so a
                // client that sends nothing, or half an HTTP/2 preface, would hold
                // its slot for ever).
                let (tcp, h2) = match sniff(tcp, first_bytes).await {
                    Some(v) => v,
                    None => {
                        tracing::debug!(%peer, "connection closed: no request within {first_bytes:?}");
                        return;
                    }
                };
                serve_connection(tcp, h2 && h2_allowed, &http1, &http2, svc, watcher, peer).await;
            });
        }
        drop(listener);
        for u in updaters {
            u.abort();
        }
        tracing::info!("exporter shutting down; draining connections");
        if tokio::time::timeout(self.drain_timeout, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                "connections still open after the drain timeout of {:?}; closing them",
                self.drain_timeout
            );
        }
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

/// A connection that is closed when the client goes silent for `idle` or stops
/// reading for `write_stall` (hyper has neither timeout).
struct Guarded<IO> {
    inner: IO,
    idle: Duration,
    write_stall: Duration,
    read_deadline: Pin<Box<tokio::time::Sleep>>,
    write_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<IO> Guarded<IO> {
    fn new(inner: IO, idle: Duration, write_stall: Duration) -> Self {
        Guarded {
            inner,
            idle,
            write_stall,
            read_deadline: Box::pin(tokio::time::sleep(idle)),
            write_deadline: None,
        }
    }

    fn timed_out(what: &str) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, what.to_owned())
    }

    /// Runs a write-side poll, failing it once it has made no progress for too long.
    fn guard_write<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        poll: std::task::Poll<std::io::Result<T>>,
    ) -> std::task::Poll<std::io::Result<T>> {
        match poll {
            std::task::Poll::Ready(r) => {
                self.write_deadline = None;
                std::task::Poll::Ready(r)
            }
            std::task::Poll::Pending => {
                let stall = self.write_stall;
                let deadline = self
                    .write_deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
                if deadline.as_mut().poll(cx).is_ready() {
                    return std::task::Poll::Ready(Err(Self::timed_out(
                        "the client stopped reading",
                    )));
                }
                std::task::Poll::Pending
            }
        }
    }
}

impl<IO: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Guarded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            std::task::Poll::Ready(r) => {
                if buf.filled().len() > before {
                    let next = tokio::time::Instant::now() + self.idle;
                    self.read_deadline.as_mut().reset(next);
                }
                std::task::Poll::Ready(r)
            }
            std::task::Poll::Pending => {
                if self.read_deadline.as_mut().poll(cx).is_ready() {
                    return std::task::Poll::Ready(Err(Self::timed_out("the client went silent")));
                }
                std::task::Poll::Pending
            }
        }
    }
}

impl<IO: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Guarded<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.guard_write(cx, poll)
    }
    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.guard_write(cx, poll)
    }
    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.guard_write(cx, poll)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.guard_write(cx, poll)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serves one connection with HTTP/1.1 or HTTP/2, watched for graceful shutdown.
async fn serve_connection<IO, S>(
    io: IO,
    h2: bool,
    http1: &hyper::server::conn::http1::Builder,
    http2: &hyper::server::conn::http2::Builder<TokioExecutor>,
    svc: S,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = Full<Bytes>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let io = TokioIo::new(io);
    let ended = if h2 {
        watcher.watch(http2.serve_connection(io, svc)).await
    } else {
        watcher.watch(http1.serve_connection(io, svc)).await
    };
    if let Err(e) = ended {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}

const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads the first bytes of a connection (at most the 24 of the HTTP/2 preface)
/// within `timeout`; returns the connection with those bytes put back in front,
/// and whether it is HTTP/2 with prior knowledge. `None`: nothing usable in time.
async fn sniff(
    mut tcp: Guarded<tokio::net::TcpStream>,
    timeout: Duration,
) -> Option<(Rewind, bool)> {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 24];
    let mut n = 0;
    let read = async {
        while n < buf.len() {
            match tcp.read(&mut buf[n..]).await {
                Ok(0) | Err(_) => return n > 0,
                Ok(m) => n += m,
            }
            if buf[..n] != H2_PREFACE[..n] {
                break;
            }
        }
        true
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(true) => {}
        _ => return None,
    }
    let h2 = n == buf.len() && &buf == H2_PREFACE;
    Some((
        Rewind {
            prefix: buf,
            len: n,
            pos: 0,
            inner: tcp,
        },
        h2,
    ))
}

/// A connection whose first bytes were already read: they are read again first.
struct Rewind {
    prefix: [u8; 24],
    len: usize,
    pos: usize,
    inner: Guarded<tokio::net::TcpStream>,
}

impl tokio::io::AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        out: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.pos < self.len {
            let n = (self.len - self.pos).min(out.remaining());
            let start = self.pos;
            out.put_slice(&self.prefix[start..start + n]);
            self.pos += n;
            return std::task::Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, out)
    }
}

impl tokio::io::AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Resolves once a shutdown was asked for (or the handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn run_updater(
    every: Duration,
    hook: Hook,
    failures: Option<prometheus::IntCounter>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tick.tick() => {}
        }
        run_hook(&hook, None, failures.as_ref(), "updater").await;
    }
}

/// Runs a hook, catching errors, panics and (with a deadline) time-outs.
async fn run_hook(
    hook: &Hook,
    deadline: Option<Duration>,
    failures: Option<&prometheus::IntCounter>,
    what: &str,
) {
    let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| hook())) {
        Ok(f) => f,
        Err(p) => {
            fail(
                failures,
                what,
                &format!("panicked: {}", crate::gather::panic_message(&*p)),
            );
            return;
        }
    };
    let caught = CatchUnwind(fut);
    let outcome = match deadline {
        Some(d) => match tokio::time::timeout(d, caught).await {
            Ok(r) => r,
            Err(_) => {
                fail(failures, what, &format!("timed out after {d:?}"));
                return;
            }
        },
        None => caught.await,
    };
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => fail(failures, what, &format!("failed: {e}")),
        Err(p) => fail(failures, what, &format!("panicked: {p}")),
    }
}

fn fail(failures: Option<&prometheus::IntCounter>, what: &str, why: &str) {
    if let Some(c) = failures {
        c.inc();
    }
    tracing::error!("exporter {what} {why}");
}

/// Polls a future, turning a panic into an error.
struct CatchUnwind(HookFuture);

impl Future for CatchUnwind {
    type Output = Result<Result<(), String>, String>;
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let fut = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(std::task::Poll::Ready(r)) => std::task::Poll::Ready(Ok(r)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(p) => std::task::Poll::Ready(Err(crate::gather::panic_message(&*p))),
        }
    }
}

impl Routes {
    /// Runs the scrape hook once for all scrapes arriving while it runs, and waits
    /// for it at most `wait`. The run goes on when a scrape stops waiting, so a slow
    /// hook runs once at a time, however many scrapes time out on it.
    async fn run_scrape_hook(&self, hook: &Hook, wait: Duration) {
        let mut done = {
            let mut slot = lock(&self.hook_run);
            match slot.as_ref().filter(|rx| !*rx.borrow()) {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(false);
                    *slot = Some(rx.clone());
                    let hook = hook.clone();
                    let failures = self.hook_failures.clone();
                    tokio::spawn(async move {
                        // The deadline is each waiting scrape's own.
                        run_hook(&hook, None, failures.as_ref(), "scrape hook").await;
                        let _ = tx.send(true);
                    });
                    rx
                }
            }
        };
        if tokio::time::timeout(wait, done.wait_for(|d| *d))
            .await
            .is_err()
        {
            fail(
                self.hook_failures.as_ref(),
                "scrape hook",
                &format!("still running after {wait:?}; answering without waiting"),
            );
        }
    }

    async fn route<B>(&self, req: Request<B>) -> Response<Full<Bytes>> {
        #[cfg(feature = "web-config")]
        {
            let mut response = self.guarded(req).await;
            // Configured headers go on every answer, refusals included.
            for (name, value) in &self.security.headers {
                response.headers_mut().insert(name.clone(), value.clone());
            }
            response
        }
        #[cfg(not(feature = "web-config"))]
        self.serve(req).await
    }

    /// Rate limit, then basic auth, then the routes.
    #[cfg(feature = "web-config")]
    async fn guarded<B>(&self, req: Request<B>) -> Response<Full<Bytes>> {
        if let Some(limiter) = &self.security.limiter {
            if !limiter.allow() {
                return simple(StatusCode::TOO_MANY_REQUESTS, "429 too many requests\n");
            }
        }
        if let Some(auth) = &self.security.auth {
            if !auth
                .check_async(req.headers().get(header::AUTHORIZATION))
                .await
            {
                tracing::warn!(path = req.uri().path(), "basic auth refused");
                let mut r = simple(StatusCode::UNAUTHORIZED, "401 unauthorized\n");
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(web_config::BasicAuth::WWW_AUTHENTICATE),
                );
                return r;
            }
        }
        self.serve(req).await
    }

    async fn serve<B>(&self, req: Request<B>) -> Response<Full<Bytes>> {
        let path = req.uri().path();
        let get_like = matches!(*req.method(), Method::GET | Method::HEAD);
        if path == self.metrics_path {
            let until = scraper_deadline(req.headers()).map(|d| Instant::now() + d);
            if get_like {
                if let Some(hook) = &self.hook {
                    let wait = until.map_or(self.hook_timeout, |u| {
                        u.saturating_duration_since(Instant::now())
                            .min(self.hook_timeout)
                    });
                    self.run_scrape_hook(hook, wait).await;
                }
            }
            // The handler answers 405 itself for other methods; the hook's time
            // comes off the scrape's deadline.
            return self
                .handler
                .respond_until(req.method(), req.uri(), req.headers(), until)
                .await;
        }
        let body = match path {
            "/" => self
                .landing
                .as_ref()
                .map(|html| (html.clone(), "text/html; charset=utf-8")),
            "/-/healthy" | "/-/ready" => {
                Some((Bytes::from_static(b"OK\n"), "text/plain; charset=utf-8"))
            }
            _ => None,
        };
        match body {
            None => simple(StatusCode::NOT_FOUND, "404 page not found\n"),
            Some(_) if !get_like => {
                let mut r = simple(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
                r.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                r
            }
            Some((body, content_type)) => {
                let len = body.len();
                let mut r = Response::new(Full::new(if req.method() == Method::HEAD {
                    Bytes::new()
                } else {
                    body
                }));
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                r
            }
        }
    }
}

fn scraper_deadline(headers: &http::HeaderMap) -> Option<Duration> {
    let secs: f64 = headers
        .get("x-prometheus-scrape-timeout-seconds")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let d = Duration::try_from_secs_f64(secs).ok()?;
    (!d.is_zero()).then(|| d.saturating_sub(Duration::from_millis(500)).max(d / 2))
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn simple(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn landing_html(p: &LandingPage, metrics_path: &str) -> String {
    let name = html_escape(&p.name);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{name}</title></head>\n<body>\n<h1>{name}</h1>\n<p>{}</p>\n<p>Version: {}</p>\n<ul>\n<li><a href=\"{path}\">Metrics</a></li>\n<li><a href=\"/-/healthy\">Health</a></li>\n</ul>\n</body>\n</html>\n",
        html_escape(&p.description),
        html_escape(&p.version),
        path = html_escape(metrics_path.trim_start_matches('/')),
    )
}

#[cfg(test)]
mod tests;
