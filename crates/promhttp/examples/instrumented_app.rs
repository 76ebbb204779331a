//! A two-route axum app, bare or with the instrumentation preset, for measuring the
//! middleware's cost under load with `wrk` (see BENCHMARKS.md).
//!
//! ```text
//! cargo run --release -p promhttp --features axum --example instrumented_app -- 127.0.0.1:3001 [--bare]
//! wrk -t1 -c4 -d5s http://127.0.0.1:3001/api/items/7
//! ```

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use promhttp::instrument::HttpMetrics;
use promhttp::MetricsHandler;
use tokio::sync::Notify;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3001".to_owned());
    let bare = args.any(|a| a == "--bare");
    let app = Router::new()
        .route("/api/items/{id}", get(|| async { "item" }))
        .route("/api/users/{id}", get(|| async { "user" }));
    let app = if bare {
        app
    } else {
        let http = HttpMetrics::new();
        app.layer(http.layer())
            .route_service("/metrics", MetricsHandler::builder(http).build())
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "{} app on http://{addr}",
        if bare { "bare" } else { "instrumented" }
    );
    // SIGTERM or Ctrl-C: stop accepting and let requests in progress finish, for
    // at most 10 s (axum's graceful shutdown alone waits for every connection).
    let stopping = Arc::new(Notify::new());
    let signalled = stopping.clone();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            promhttp::shutdown_signal().await;
            signalled.notify_one();
        })
        .into_future();
    tokio::select! {
        served = server => served,
        () = async {
            stopping.notified().await;
            tokio::time::sleep(Duration::from_secs(10)).await;
        } => Ok(()),
    }
}
