//! The exporter's builder: every option and its default; `start()` (its checks
//! and preparation are in `prepare.rs`).

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use tokio::sync::watch;

use super::address::ListenAddress;
use super::handle::{BlockingExporter, ExporterHandle};
use super::hooks::{wrap_hook, Hook};
use super::limits::Limits;
use super::server::Signal;
use super::{
    ExporterError, LandingPage, DEFAULT_DRAIN_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT,
    DEFAULT_HOOK_TIMEOUT, DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_REQUESTS_IN_FLIGHT,
    DEFAULT_MAX_SCRAPES_PER_CONNECTION, DEFAULT_MAX_UNSENT_BYTES, DEFAULT_RESPONSE_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT,
};
use crate::gather::Gather;
use crate::handler::{HandlerBuilder, MetricsHandler};

#[cfg(feature = "web-config")]
use super::web_config;

/// A standalone metrics server; see the [module docs](super).
pub struct Exporter;

impl Exporter {
    /// A builder serving `gatherer` with default handler options, except at most
    /// [`DEFAULT_MAX_REQUESTS_IN_FLIGHT`] scrapes at once (node_exporter's default);
    /// change them with [`ExporterBuilder::handler`].
    pub fn builder(gatherer: impl Gather + 'static) -> ExporterBuilder {
        ExporterBuilder::new(Handler::Builder(Box::new(
            MetricsHandler::builder(gatherer)
                .max_requests_in_flight(DEFAULT_MAX_REQUESTS_IN_FLIGHT),
        )))
    }
}

/// The exporter's handler: configurable until `start()`, or given finished.
pub(super) enum Handler {
    Builder(Box<HandlerBuilder>),
    Built(MetricsHandler),
    /// `handler(..)` was called on a builder made from a finished handler.
    Misused,
}

/// The web configuration: given, or a file `start()` reads.
#[cfg(feature = "web-config")]
pub(super) enum WebSource {
    Config(Box<web_config::WebConfig>),
    File(std::path::PathBuf),
}

/// Configures an exporter; every option has a documented default.
///
/// Setters store what they are given: no file is read, no name looked up, no
/// metric registered until [`start`](Self::start) (or
/// [`start_blocking`](Self::start_blocking)), which does all of it before
/// binding, and refuses what cannot work: [`ExporterError::InvalidOption`] naming the
/// option (a zero timeout, interval or limit, a header limit out of
/// `MIN_HEADER_BYTES..=MAX_HEADER_BYTES`), [`ExporterError::Resolve`] for the
/// listen address, `ExporterError::WebConfig` for the web configuration file,
/// [`ExporterError::Register`] for the hook metrics. Durations may be as long as
/// you like: past about thirty years they mean "never".
#[must_use]
pub struct ExporterBuilder {
    pub(super) handler: Handler,
    pub(super) addr: ListenAddress,
    pub(super) metrics_path: String,
    pub(super) landing: Option<LandingPage>,
    pub(super) limits: Limits,
    pub(super) http2: bool,
    pub(super) hook: Option<Hook>,
    pub(super) hook_timeout: Duration,
    pub(super) updaters: Vec<(Duration, Hook)>,
    /// Where `start()` registers the hook failure counter.
    pub(super) hook_registry: Option<prometheus::Registry>,
    pub(super) graceful: Option<Signal>,
    #[cfg(feature = "web-config")]
    pub(super) web: Option<WebSource>,
}

impl fmt::Debug for ExporterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExporterBuilder")
            .field("addr", &self.addr)
            .field("metrics_path", &self.metrics_path)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ExporterBuilder {
    /// A builder serving an already configured handler, as it is (no
    /// in-flight cap is added; [`handler`](Self::handler) cannot change it).
    pub fn with_handler(handler: MetricsHandler) -> Self {
        Self::new(Handler::Built(handler))
    }

    fn new(handler: Handler) -> Self {
        ExporterBuilder {
            handler,
            addr: SocketAddr::from(([127, 0, 0, 1], 9898)).into(),
            metrics_path: "/metrics".to_owned(),
            landing: Some(LandingPage::default()),
            limits: Limits {
                header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
                write_timeout: DEFAULT_WRITE_TIMEOUT,
                response_timeout: DEFAULT_RESPONSE_TIMEOUT,
                max_connections: DEFAULT_MAX_CONNECTIONS,
                max_connections_per_peer: None,
                max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
                max_unsent_bytes: DEFAULT_MAX_UNSENT_BYTES,
                max_scrapes_per_connection: DEFAULT_MAX_SCRAPES_PER_CONNECTION,
                http2_max_concurrent_streams: DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS,
                drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            },
            http2: true,
            hook: None,
            hook_timeout: DEFAULT_HOOK_TIMEOUT,
            updaters: Vec::new(),
            hook_registry: None,
            graceful: None,
            #[cfg(feature = "web-config")]
            web: None,
        }
    }

    /// Serves with TLS, client certificates, basic auth, extra response headers and
    /// a rate limit as `config` says (exporter-toolkit's web configuration).
    /// Default: none of them, plain HTTP.
    #[cfg(feature = "web-config")]
    pub fn web_config(mut self, config: web_config::WebConfig) -> Self {
        self.web = Some(WebSource::Config(Box::new(config)));
        self
    }

    /// The web configuration in an exporter-toolkit `web-config.yml` (what
    /// `--web.config.file` names); it replaces a [`web_config`](Self::web_config)
    /// given before, and the other way round. The file is read and checked by
    /// [`start`](Self::start), not here: an unreadable or invalid file is
    /// [`ExporterError::WebConfig`] from `start()`, naming the key, before
    /// anything is bound.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), promhttp::exporter::ExporterError> {
    /// # use promhttp::exporter::Exporter;
    /// # use promhttp::prometheus::Registry;
    /// let exporter = Exporter::builder(Registry::new())
    ///     .web_config_file("/etc/exporter/web-config.yml")
    ///     .start()
    ///     .await?; // a bad file is reported here
    /// # exporter.detach();
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "web-config")]
    pub fn web_config_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.web = Some(WebSource::File(path.into()));
        self
    }

    /// Configures the exporter's handler: `configure` gets its builder, with the
    /// exporter's defaults already set ([`DEFAULT_MAX_REQUESTS_IN_FLIGHT`]), and
    /// returns it changed (OpenMetrics, timeouts, self-metrics, ...).
    /// Only for [`Exporter::builder`]: on a builder made by
    /// [`with_handler`](Self::with_handler) (a finished handler) `start()` refuses.
    ///
    /// ```
    /// # use promhttp::exporter::Exporter;
    /// # use promhttp::prometheus::Registry;
    /// let exporter = Exporter::builder(Registry::new())
    ///     .handler(|h| h.openmetrics(true).timeout(std::time::Duration::from_secs(10)));
    /// # let _ = exporter;
    /// ```
    pub fn handler(mut self, configure: impl FnOnce(HandlerBuilder) -> HandlerBuilder) -> Self {
        self.handler = match std::mem::replace(&mut self.handler, Handler::Misused) {
            Handler::Builder(b) => Handler::Builder(Box::new(configure(*b))),
            Handler::Built(_) | Handler::Misused => Handler::Misused,
        };
        self
    }

    /// Where to listen: a [`SocketAddr`], `"127.0.0.1:9100"`, `"[::1]:9100"`,
    /// `"localhost:9100"`, Go's `":9100"` (every IPv4 interface) — what
    /// [`ListenAddress`] says. Names are resolved by [`start`](Self::start), not
    /// here; a name that does not resolve is [`ExporterError::Resolve`]. Port 0
    /// picks a free port; [`ExporterHandle::local_addr`] tells which. Default:
    /// `127.0.0.1:9898`.
    ///
    /// ```
    /// # use promhttp::exporter::Exporter;
    /// # use promhttp::prometheus::Registry;
    /// let local = Exporter::builder(Registry::new()).listen_address("localhost:9100");
    /// let everywhere = Exporter::builder(Registry::new()).listen_address(":9100");
    /// # let _ = (local, everywhere);
    /// ```
    pub fn listen_address(mut self, addr: impl Into<ListenAddress>) -> Self {
        self.addr = addr.into();
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

    /// How long a client may take to send a request's headers (and, under TLS, to
    /// finish the handshake; in plain TCP, to send its first bytes). Must not be
    /// zero. Default: [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = timeout;
        self
    }

    /// A connection with no request in progress for this long is closed: an
    /// HTTP/1 keep-alive connection between scrapes, an HTTP/2 connection with no
    /// open stream (its pings do not count as activity), a client that connected
    /// and never finished a request. HTTP/2 connections get a `GOAWAY` first. Must
    /// not be zero. Default: [`DEFAULT_IDLE_TIMEOUT`].
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.limits.idle_timeout = timeout;
        self
    }

    /// A connection whose response makes no progress for this long (a client that
    /// stopped reading, or an HTTP/2 client that keeps its flow-control window
    /// shut) is closed, whether or not a write is pending. Must not be zero.
    /// Default: [`DEFAULT_WRITE_TIMEOUT`].
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.limits.write_timeout = timeout;
        self
    }

    /// The longest time one response may take to send, from its first byte to its
    /// last, however steadily the client reads; past it the connection is closed
    /// (a client reading a few bytes now and then cannot hold a page for ever).
    /// Rendering is bounded separately, by the handler's timeout and the
    /// scraper's. Must not be zero. Default: [`DEFAULT_RESPONSE_TIMEOUT`].
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.limits.response_timeout = timeout;
        self
    }

    /// At most this many connections at once. When a new client arrives at the
    /// cap, the connection that has waited longest without a request in progress
    /// (an idle keep-alive, a client trickling its headers) is closed to make
    /// room; when every connection is busy with a request, new clients wait in the
    /// listen backlog (sized at least this large). Must not be zero. Default:
    /// [`DEFAULT_MAX_CONNECTIONS`].
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n;
        self
    }

    /// At most this many connections from one IP address; further connections
    /// from it are closed at once. Takes a [`NonZeroUsize`] or an `Option` of one
    /// (`NonZeroUsize::new(n)` fits as it is). Default: `None` (no per-address
    /// limit: scrapers behind one NAT or proxy share an address).
    pub fn max_connections_per_peer(mut self, limit: impl Into<Option<NonZeroUsize>>) -> Self {
        self.limits.max_connections_per_peer = limit.into();
        self
    }

    /// The largest request header block accepted, in bytes: the request line and
    /// every header's name and value, plus 4 bytes per line for separators, counted
    /// the same way on HTTP/1.1, HTTP/2 and under TLS; larger requests get `431`.
    /// Must be in `MIN_HEADER_BYTES..=MAX_HEADER_BYTES`. Default:
    /// [`DEFAULT_MAX_HEADER_BYTES`].
    pub fn max_header_bytes(mut self, n: usize) -> Self {
        self.limits.max_header_bytes = n;
        self
    }

    /// A budget for rendered pages held by responses not yet fully sent, in bytes.
    /// A page shared by several responses (concurrent scrapes of the same format
    /// share one render) counts once; each distinct page counts its full
    /// (compressed, if it is) length until the last response holding it is sent
    /// or dropped. A scrape whose page would go over the budget gets `503` with
    /// `Retry-After: 1`. Small answers (errors, landing page) are not counted.
    /// Zero is refused by `start()`. Default: [`DEFAULT_MAX_UNSENT_BYTES`].
    pub fn max_unsent_bytes(mut self, n: usize) -> Self {
        self.limits.max_unsent_bytes = n;
        self
    }

    /// At most this many scrapes of the metrics path in progress on one connection
    /// (HTTP/2 multiplexes; a scraper needs one at a time); more get `503`.
    /// Default: [`DEFAULT_MAX_SCRAPES_PER_CONNECTION`].
    pub fn max_scrapes_per_connection(mut self, n: NonZeroUsize) -> Self {
        self.limits.max_scrapes_per_connection = n;
        self
    }

    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`: streams one connection may have
    /// open at once. Must not be zero. Default:
    /// [`DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS`].
    pub fn http2_max_concurrent_streams(mut self, n: u32) -> Self {
        self.limits.http2_max_concurrent_streams = n;
        self
    }

    /// How long scrapes in flight get to finish on shutdown before their
    /// connections are closed; zero closes them at once. Default:
    /// [`DEFAULT_DRAIN_TIMEOUT`].
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.limits.drain_timeout = timeout;
        self
    }

    /// Serve HTTP/2 (prior knowledge, h2c) beside HTTP/1.1. Default: `true`.
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// Runs `hook` before every scrape, so values are fresh. The scrape waits for it
    /// up to the scrape's deadline (the handler's, see
    /// [`HandlerBuilder::timeout`]) or [`hook_timeout`](Self::hook_timeout),
    /// whichever is shorter; the time it takes comes off the scrape's deadline. A
    /// hook that fails, panics or times out is logged (and counted, see
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

    /// [`on_scrape`](Self::on_scrape) for code that is not async: `hook` runs on
    /// tokio's blocking pool (it may block), once for all scrapes that arrive
    /// while it runs, and the scrape waits for it as for an async hook.
    ///
    /// ```
    /// # use promhttp::exporter::Exporter;
    /// # use promhttp::prometheus::{IntGauge, Registry};
    /// let registry = Registry::new();
    /// let files = IntGauge::new("spool_files", "Files in the spool.").unwrap();
    /// registry.register(Box::new(files.clone())).unwrap();
    /// let exporter = Exporter::builder(registry).on_scrape_blocking(move || {
    ///     files.set(std::fs::read_dir("/tmp")?.count() as i64);
    ///     Ok::<(), std::io::Error>(())
    /// });
    /// # let _ = exporter;
    /// ```
    pub fn on_scrape_blocking<F, E>(self, hook: F) -> Self
    where
        F: Fn() -> Result<(), E> + Send + Sync + 'static,
        E: fmt::Display + Send + 'static,
    {
        let hook = std::sync::Arc::new(hook);
        self.on_scrape(move || {
            let hook = hook.clone();
            async move {
                match tokio::task::spawn_blocking(move || hook().map_err(|e| e.to_string())).await {
                    Ok(result) => result,
                    // A panic is caught by the hook runner's own net: re-raise it.
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
    }

    /// How long a scrape waits for the `on_scrape` hook at most. Default:
    /// [`DEFAULT_HOOK_TIMEOUT`].
    pub fn hook_timeout(mut self, timeout: Duration) -> Self {
        self.hook_timeout = timeout;
        self
    }

    /// Runs `update` every `interval` (the first run right away) while the
    /// exporter runs; failures and panics are logged and counted, the next run still
    /// happens. A run still going when the next is due delays it. `interval` must
    /// not be zero.
    pub fn update_every<F, Fut, E>(mut self, interval: Duration, update: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        self.updaters.push((interval, wrap_hook(update)));
        self
    }

    /// Counts hook and updater failures in
    /// `promhttp_exporter_hook_failures_total`, registered in `registry` by
    /// [`start`](Self::start) (not here). A registry that already holds a metric
    /// of that name makes `start()` fail with [`ExporterError::Register`] before
    /// anything is bound; a `start()` that fails later takes the metric out
    /// again. Default: not counted.
    pub fn instrument_hooks(mut self, registry: &prometheus::Registry) -> Self {
        self.hook_registry = Some(registry.clone());
        self
    }

    /// Stops the exporter gracefully when `signal` resolves, as
    /// [`ExporterHandle::shutdown`] does; [`ExporterHandle::wait`] (or
    /// [`BlockingExporter::wait`]) then returns. The future runs on the
    /// exporter's runtime, from `start()` on. Default: none (the exporter stops
    /// when its handle says so).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), promhttp::exporter::ExporterError> {
    /// use promhttp::exporter::Exporter;
    /// use promhttp::shutdown_signal;
    ///
    /// let exporter = Exporter::builder(promhttp::prometheus::Registry::new())
    ///     .graceful_shutdown(shutdown_signal()) // SIGTERM or Ctrl-C
    ///     .start()
    ///     .await?;
    /// println!("serving on {}", exporter.local_addr());
    /// exporter.wait().await // until the signal, then drained
    /// # }
    /// ```
    pub fn graceful_shutdown(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.graceful = Some(Box::pin(signal));
        self
    }

    /// Binds the listener and serves in the current tokio runtime until
    /// [`ExporterHandle::shutdown`], the [`graceful_shutdown`](Self::graceful_shutdown)
    /// future, or until the handle is dropped: keep it, or
    /// [`detach`](ExporterHandle::detach) it.
    ///
    /// The listen backlog is at least [`max_connections`](Self::max_connections)
    /// (and 1024), within what the system allows (`net.core.somaxconn` on Linux).
    pub async fn start(mut self) -> Result<ExporterHandle, ExporterError> {
        let graceful = self.graceful.take();
        let (server, addr, registered) = self.prepare()?;
        let (listener, local_addr) = match addr.bind(server.backlog()).await {
            Ok(bound) => bound,
            Err(e) => {
                if let Some(r) = registered {
                    r.undo();
                }
                return Err(e);
            }
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        tracing::info!(address = %local_addr, path = %server.metrics_path(), "exporter listening");
        let task = tokio::spawn(server.serve_until(listener, stop_rx, graceful));
        Ok(ExporterHandle::new(local_addr, stop_tx, task))
    }

    /// Serves until `shutdown` completes, then drains and returns
    /// (`prometheus-hyper`'s `Server::run(registry, addr, shutdown)` in one call).
    /// Give it [`shutdown_signal()`](crate::shutdown_signal) to stop on `SIGTERM`
    /// and `SIGINT`. `shutdown` runs in the caller's task, so it need not be
    /// `Send`; a [`graceful_shutdown`](Self::graceful_shutdown) future stops it too.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ExporterError> {
        let handle = self.start().await?;
        shutdown.await;
        handle.shutdown().await
    }

    /// Serves on a thread of its own with its own runtime, for programs that are
    /// not async (`prometheus_exporter::start`). [`BlockingExporter::shutdown`]
    /// stops it and waits; dropping the returned handle stops it without waiting.
    pub fn start_blocking(self) -> Result<BlockingExporter, ExporterError> {
        self.check()?;
        let drain = self.limits.drain_timeout;
        BlockingExporter::spawn(drain, move || self.start())
    }
}
