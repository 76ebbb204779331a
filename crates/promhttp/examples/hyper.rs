//! Serve `/metrics` with plain hyper 1 and hyper-util, no framework.
//!
//! Every connection is served by `hyper_util`'s auto builder (HTTP/1.1 and
//! HTTP/2); a `service_fn` routes `/metrics` to [`MetricsHandler::respond`], `/` to
//! a handler that updates the app's own metrics, and everything else to `404`.
//! The page shows the app's registry, the `prometheus` crate's default registry and
//! the handler's own `promhttp_metric_handler_*` metrics, with OpenMetrics offered.
//!
//! ```text
//! cargo run -p promhttp --example hyper [ADDRESS]    # default 127.0.0.1:3000
//! curl -s http://127.0.0.1:3000/ && curl -s http://127.0.0.1:3000/metrics
//! curl -s --http2-prior-knowledge -H 'Accept-Encoding: gzip' --compressed http://127.0.0.1:3000/metrics
//! ```
//!
//! SIGTERM (systemd, Kubernetes) or Ctrl-C stops accepting connections, asks open
//! ones to finish their requests in progress, and waits for them for at most 10 s.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use promhttp::prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use promhttp::shutdown_signal;
use promhttp::{DefaultRegistry, Gatherers, HandlerMetrics, MetricsHandler};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The application's metrics, cheap to clone into connections.
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

fn text(status: StatusCode, body: &'static str) -> Response<promhttp::MetricsBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

async fn route(
    request: Request<Incoming>,
    metrics: MetricsHandler,
    app: AppMetrics,
) -> Result<Response<promhttp::MetricsBody>, Infallible> {
    Ok(match request.uri().path() {
        // The handler answers GET and HEAD, and 405 to other methods.
        "/metrics" => metrics.respond(&request).await,
        "/" => {
            let start = Instant::now();
            app.requests.with_label_values(&["/"]).inc();
            let response = text(StatusCode::OK, "Hello! Metrics are at /metrics.\n");
            app.latency
                .with_label_values(&["/"])
                .observe(start.elapsed().as_secs_f64());
            response
        }
        _ => text(StatusCode::NOT_FOUND, "Not found.\n"),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());

    let registry = Registry::new();
    let app = AppMetrics::register(&registry)?;
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

    let listener = TcpListener::bind(&addr).await?;
    eprintln!(
        "serving metrics on http://{}/metrics",
        listener.local_addr()?
    );

    let builder = auto::Builder::new(TokioExecutor::new());
    // Flips to `true` on SIGTERM or Ctrl-C; every connection task watches it.
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let stop = shutdown_signal();
    tokio::pin!(stop);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving.
                    eprintln!("accept failed: {e}");
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let builder = builder.clone();
        let (metrics, app) = (metrics.clone(), app.clone());
        let mut shutdown = shutdown_rx.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| route(request, metrics.clone(), app.clone()));
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = shutdown.changed() => {
                    // Finish the requests in progress, then close.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                eprintln!("connection from {peer}: {e}");
            }
        });
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }

    eprintln!(
        "shutting down: waiting for {} connection(s)",
        connections.len()
    );
    drop(listener);
    let _ = shutdown_tx.send(true);
    // A client may never finish its request: wait a bounded time, then close.
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
        eprintln!(
            "{} connection(s) still open after {DRAIN_TIMEOUT:?}; closing them",
            connections.len()
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// How long a stop waits for requests in progress.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
