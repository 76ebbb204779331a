//! Serve `/metrics` from an axum 0.8 app, next to the app's own routes.
//!
//! The app keeps its metrics in its own `prometheus::Registry` (a counter vec and a
//! histogram, updated by the `/` handler); the scrape page shows that registry and
//! the `prometheus` crate's default registry together, plus the handler's own
//! `promhttp_metric_handler_*` metrics. OpenMetrics is offered, so a scraper that
//! asks for it gets exemplar-capable output; everyone else gets text 0.0.4.
//!
//! ```text
//! cargo run -p promhttp --example axum [ADDRESS]     # default 127.0.0.1:3000
//! curl -s http://127.0.0.1:3000/ && curl -s http://127.0.0.1:3000/metrics
//! curl -s -H 'Accept: application/openmetrics-text; version=1.0.0' http://127.0.0.1:3000/metrics
//! ```
//!
//! SIGTERM (systemd, Kubernetes) or Ctrl-C stops accepting connections and lets
//! requests in progress finish, for at most 10 s; then the example exits.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use promhttp::prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use promhttp::shutdown_signal;
use promhttp::{DefaultRegistry, Gatherers, HandlerMetrics, MetricsHandler};

/// The application's metrics, cheap to clone into handlers.
#[derive(Clone)]
struct AppMetrics {
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl AppMetrics {
    fn register(registry: &Registry) -> Result<Self, promhttp::prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new("example_requests_total", "Requests served, by route."),
            &["route"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "example_request_duration_seconds",
                "Time spent answering a request.",
            )
            .buckets(vec![0.000_01, 0.000_1, 0.001, 0.01, 0.1]),
            &["route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(AppMetrics { requests, latency })
    }
}

async fn hello(metrics: AppMetrics) -> &'static str {
    let start = Instant::now();
    metrics.requests.with_label_values(&["/"]).inc();
    let body = "Hello! Metrics are at /metrics.\n";
    metrics
        .latency
        .with_label_values(&["/"])
        .observe(start.elapsed().as_secs_f64());
    body
}

/// How long a stop waits for requests in progress.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());

    let registry = Registry::new();
    let app_metrics = AppMetrics::register(&registry)?;
    // The handler counts its own scrapes into the same registry.
    let handler_metrics = HandlerMetrics::new();
    handler_metrics.register(&registry)?;

    let metrics = MetricsHandler::builder(
        Gatherers::new()
            .with(registry.clone())
            .with(DefaultRegistry),
    )
    .openmetrics(true)
    .instrument(handler_metrics)
    .build();

    let app = Router::new()
        .route("/", get(move || hello(app_metrics.clone())))
        .route_service("/metrics", metrics);

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "serving metrics on http://{}/metrics",
        listener.local_addr()?
    );
    // `axum::serve`'s graceful shutdown waits for every open connection, however
    // long a client takes: bound it, so a stop never hangs on one slow client.
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signalled = stopping.clone();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            signalled.notify_one();
        })
        .into_future();
    tokio::select! {
        served = server => served?,
        () = async {
            stopping.notified().await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } => eprintln!("connections still open after {DRAIN_TIMEOUT:?}; exiting"),
    }
    Ok(())
}
