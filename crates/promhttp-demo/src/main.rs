//! promhttp-demo: an instrumented web service exposing its metrics with promhttp.
//!
//! It is the service of the tutorial "Using Prometheus metrics in a Rust web
//! service", done with promhttp: an app listener counting its requests (`/some`)
//! and its open websockets (`/ws`, an echo), a background job recording response
//! codes and response times, and a custom
//! registry served together with the `prometheus` crate's default registry (and the
//! handler's own `promhttp_metric_handler_*` metrics) on a separate metrics listener.
//! The background job also times its simulated work in `work_duration_seconds`, a
//! histogram of promhttp's own storage (`promhttp::metrics`) with classic and native
//! buckets: a Prometheus started with `--enable-feature=native-histograms` asks for
//! protobuf and stores it as a native histogram; the text formats show its classic
//! buckets.
//! The tutorial's counters `incoming_requests` and `response_code` are named
//! `incoming_requests_total` and `response_code_total` here, as Prometheus' naming
//! rules (and `promtool check metrics`) want; its queries change accordingly.
//!
//! ```text
//! cargo run --release --bin promhttp-demo -- [--app.listen-address 127.0.0.1:8080]
//!     [--web.listen-address 127.0.0.1:9898] [--web.telemetry-path /metrics]
//!     [--web.config.file web-config.yml] [--app.header-read-timeout 10s]
//!     [--app.max-connections 1024] [--shutdown.drain-timeout 10s]
//! curl -s 127.0.0.1:8080/some; curl -s 127.0.0.1:9898/metrics
//! ```
//!
//! SIGTERM (systemd, Kubernetes, `docker stop`) and SIGINT (Ctrl-C) stop it the
//! same way: both listeners stop accepting, requests in progress (a scrape, say)
//! finish, and after at most `--shutdown.drain-timeout` the connections still open
//! are closed; the exit status is 0. The app listener is in `app_server.rs`: a
//! header-read timeout and a connection cap, as the metrics listener has.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use promhttp::exporter::{ExporterBuilder, LandingPage};
use promhttp::metrics::{self, NativeBuckets};
use promhttp::prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use promhttp::shutdown_signal;
use promhttp::{DefaultRegistry, Gatherers, HandlerMetrics, MetricsHandler};
use tokio::net::TcpListener;

mod app_server;

const USAGE: &str = "usage: promhttp-demo [--app.listen-address ADDR] [--web.listen-address ADDR] [--web.telemetry-path PATH] [--web.config.file FILE] [--app.header-read-timeout DURATION] [--app.max-connections N] [--shutdown.drain-timeout DURATION]
  (durations: 500ms, 10s, 1m)";

struct Config {
    app: SocketAddr,
    web: SocketAddr,
    path: String,
    /// exporter-toolkit web configuration: TLS, client certificates, basic auth.
    web_config: Option<std::path::PathBuf>,
    /// The app listener's header-read timeout and connection cap, and the drain
    /// time of both listeners.
    limits: app_server::Limits,
}

/// `500ms`, `10s`, `1.5m`.
fn parse_duration(v: &str) -> Option<Duration> {
    let (number, unit_secs) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else {
        return None;
    };
    let number: f64 = number.parse().ok()?;
    Duration::try_from_secs_f64(number * unit_secs).ok()
}

fn parse_args() -> Result<Config, String> {
    let mut c = Config {
        app: SocketAddr::from(([127, 0, 0, 1], 8080)),
        web: SocketAddr::from(([127, 0, 0, 1], 9898)),
        path: "/metrics".to_owned(),
        web_config: None,
        limits: app_server::Limits::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Err(USAGE.to_owned());
        }
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let value = inline
            .or_else(|| it.next())
            .ok_or_else(|| format!("{key} needs a value\n{USAGE}"))?;
        let addr = |v: &str| {
            v.parse::<SocketAddr>()
                .map_err(|e| format!("{key}: {v:?} is not an address ({e})"))
        };
        match key.as_str() {
            "--app.listen-address" => c.app = addr(&value)?,
            "--web.listen-address" => c.web = addr(&value)?,
            "--web.telemetry-path" => {
                if !value.starts_with('/') {
                    return Err(format!(
                        "--web.telemetry-path must start with '/': {value:?}"
                    ));
                }
                c.path = value;
            }
            "--web.config.file" => c.web_config = Some(value.into()),
            "--app.header-read-timeout" => {
                c.limits.header_read_timeout = parse_duration(&value)
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        format!("{key}: {value:?} is not a positive duration (10s, 500ms)")
                    })?
            }
            "--app.max-connections" => {
                c.limits.max_connections = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=tokio::sync::Semaphore::MAX_PERMITS).contains(n))
                    .ok_or_else(|| format!("{key}: {value:?} is not a positive count"))?
            }
            "--shutdown.drain-timeout" => {
                c.limits.drain_timeout = parse_duration(&value)
                    .ok_or_else(|| format!("{key}: {value:?} is not a duration (10s, 500ms)"))?
            }
            _ => return Err(format!("unknown flag {key}\n{USAGE}")),
        }
    }
    Ok(c)
}

/// The service's metrics: the tutorial's in a `prometheus` registry, the
/// simulated work's duration in promhttp's own storage.
#[derive(Clone)]
struct Metrics {
    incoming_requests: IntCounter,
    connected_clients: IntGauge,
    response_code: IntCounterVec,
    response_time: HistogramVec,
    work_duration: metrics::Histogram,
}

impl Metrics {
    fn register(
        registry: &Registry,
        work_duration: metrics::Histogram,
    ) -> promhttp::prometheus::Result<Metrics> {
        let m = Metrics {
            incoming_requests: IntCounter::new("incoming_requests_total", "Incoming Requests")?,
            connected_clients: IntGauge::new("connected_clients", "Connected Clients")?,
            response_code: IntCounterVec::new(
                Opts::new("response_code_total", "Response Codes"),
                &["env", "statuscode", "type"],
            )?,
            response_time: HistogramVec::new(
                HistogramOpts::new("response_time", "Response Times"),
                &["env"],
            )?,
            work_duration,
        };
        registry.register(Box::new(m.incoming_requests.clone()))?;
        registry.register(Box::new(m.connected_clients.clone()))?;
        registry.register(Box::new(m.response_code.clone()))?;
        registry.register(Box::new(m.response_time.clone()))?;
        Ok(m)
    }
}

/// `work_duration_seconds`: classic buckets (the default ones) and native buckets
/// (the default factor, 2^(1/8)) in one histogram.
fn work_duration_histogram() -> Result<metrics::Histogram, metrics::MetricError> {
    metrics::Histogram::with_opts(
        metrics::HistogramOpts::new(
            "work_duration_seconds",
            "Duration of the simulated work; a native histogram for scrapers that ask for one.",
        )
        .native(NativeBuckets::default()),
    )
}

/// `/ws`: an echo websocket; `connected_clients` counts the open ones.
async fn ws(State(m): State<Metrics>, upgrade: WebSocketUpgrade) -> axum::response::Response {
    upgrade.on_upgrade(move |mut socket: WebSocket| async move {
        m.connected_clients.inc();
        // Decrements however the connection ends.
        struct Connected(IntGauge);
        impl Drop for Connected {
            fn drop(&mut self) {
                self.0.dec();
            }
        }
        let _connected = Connected(m.connected_clients.clone());
        while let Some(Ok(msg)) = socket.recv().await {
            let echo = match msg {
                Message::Close(_) => break,
                Message::Text(_) | Message::Binary(_) => msg,
                _ => continue,
            };
            if socket.send(echo).await.is_err() {
                break;
            }
        }
    })
}

async fn some(State(m): State<Metrics>) -> &'static str {
    m.incoming_requests.inc();
    "hello from promhttp-demo\n"
}

/// Records made-up response codes and times every 500 ms, as the tutorial's
/// background collector does, so the dashboards have something to show.
async fn simulate(m: Metrics) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        n = n.wrapping_add(1);
        // A cheap deterministic spread of codes and latencies.
        let x = n.wrapping_mul(2_654_435_761) % 100;
        let (code, class) = match x {
            0..=79 => ("200", "success"),
            80..=89 => ("404", "client_error"),
            _ => ("500", "server_error"),
        };
        m.response_code
            .with_label_values(&["testing", code, class])
            .inc();
        let seconds = (x as f64 + 1.0) / 200.0;
        m.response_time
            .with_label_values(&["testing"])
            .observe(seconds);
        m.work_duration.observe(seconds);
    }
}

#[tokio::main]
async fn main() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in journald or files.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(config).await {
        tracing::error!("{e}");
        std::process::exit(1);
    }
}

async fn run(config: Config) -> Result<(), String> {
    let registry = Registry::new();
    // promhttp's own storage, served on the same page as the `prometheus` registry.
    let own = metrics::Registry::new();
    let work_duration = work_duration_histogram()
        .and_then(|h| own.register(h.clone()).map(|()| h))
        .map_err(|e| format!("registering work_duration_seconds: {e}"))?;
    let metrics = Metrics::register(&registry, work_duration)
        .map_err(|e| format!("registering metrics: {e}"))?;
    let handler_metrics = HandlerMetrics::new();
    handler_metrics
        .register(&registry)
        .map_err(|e| format!("registering handler metrics: {e}"))?;

    // The app's HTTP metrics (http_requests_total, ..._duration_seconds, ... by
    // method, code and route template) from promhttp's middleware preset.
    let http = promhttp::instrument::HttpMetrics::new();

    // The custom registries, the middleware's metrics and the default registry
    // (process metrics with the `process` feature) on one page.
    let page = Gatherers::new()
        .with(registry)
        .with(own)
        .with(http.clone())
        .with(DefaultRegistry);
    let handler = MetricsHandler::builder(page)
        .openmetrics(true)
        .instrument(handler_metrics)
        .build();

    let app = Router::new()
        .route("/some", get(some))
        .route("/ws", get(ws))
        .route("/", get(|| async { "promhttp-demo: try /some or /ws\n" }))
        .with_state(metrics.clone())
        .layer(http.layer());
    let app_listener = TcpListener::bind(config.app)
        .await
        .map_err(|e| format!("binding the app listener {}: {e}", config.app))?;

    // The metrics listener: promhttp's exporter, beside the app.
    let mut exporter = ExporterBuilder::with_handler(handler);
    if let Some(file) = &config.web_config {
        exporter = exporter.web_config_file(file); // read and checked by start()
    }
    let exporter = exporter
        .listen_address(config.web)
        .drain_timeout(config.limits.drain_timeout)
        .metrics_path(config.path.clone())
        .graceful_shutdown(shutdown_signal())
        .landing_page(Some(LandingPage {
            name: "promhttp-demo".to_owned(),
            description: "An instrumented demo service.".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
        .start()
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        "app on http://{}/some, metrics on http://{}{}",
        app_listener.local_addr().unwrap_or(config.app),
        exporter.local_addr(),
        config.path
    );

    tokio::spawn(simulate(metrics));
    // On SIGTERM or SIGINT both listeners stop accepting and drain at the same
    // time, each for at most the drain timeout: the whole stop is bounded.
    let ((), exporter) = tokio::join!(
        app_server::serve(app_listener, app, config.limits, shutdown_signal()),
        exporter.wait(),
    );
    exporter.map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}
