//! Serving metrics from a warp filter.
//!
//! ```text
//! cargo run -p promhttp --features warp --example warp
//! curl -s 127.0.0.1:3000/metrics
//! curl -s -H 'Accept-Encoding: gzip' 127.0.0.1:3000/metrics | gunzip
//! curl -s '127.0.0.1:3000/metrics?name[]=http_requests_total'
//! ```
//!
//! `promhttp::warp::metrics_filter` (feature `warp`, warp 0.4) answers `/metrics`
//! with the handler: negotiation, compression, `name[]` filters, `HEAD` and `405`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use promhttp::prometheus::{register_int_counter_vec, IntCounterVec};
use promhttp::MetricsHandler;
use warp::Filter;

/// The app: a greeting that counts its requests, and `/metrics`.
fn app(
    handler: MetricsHandler,
    hits: IntCounterVec,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone {
    let hello = warp::path!("hello" / String).map(move |name: String| {
        hits.with_label_values(&["/hello/{name}"]).inc();
        format!("Hello, {name}!\n")
    });
    hello
        .map(warp::Reply::into_response)
        .or(promhttp::warp::metrics_filter(handler))
        .unify()
        .recover(|_rejection: warp::Rejection| async {
            Ok::<_, Infallible>(warp::reply::with_status(
                "Not found.\n",
                warp::http::StatusCode::NOT_FOUND,
            ))
        })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hits = register_int_counter_vec!(
        "hello_requests_total",
        "Greetings served, by route.",
        &["route"]
    )?;
    // The default registry, with promhttp's own handler metrics.
    let handler = promhttp::handler();
    let addr: std::net::SocketAddr = "127.0.0.1:3000".parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!(
        "serving http://{addr}/hello/world and http://{addr}/metrics; Ctrl-C or SIGTERM stops"
    );
    // SIGTERM or Ctrl-C: stop accepting and let requests in progress finish, for
    // at most DRAIN_TIMEOUT (warp's graceful shutdown alone would wait for ever).
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signalled = stopping.clone();
    let server = warp::serve(app(handler, hits))
        .incoming(listener)
        .graceful(async move {
            promhttp::shutdown_signal().await;
            signalled.notify_one();
        })
        .run();
    tokio::select! {
        () = server => {}
        () = async {
            stopping.notified().await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } => eprintln!("connections still open after {DRAIN_TIMEOUT:?}; exiting"),
    }
    Ok(())
}

/// How long a stop waits for requests in progress.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;
    use promhttp::prometheus::{IntCounterVec, Opts, Registry};

    fn setup() -> (MetricsHandler, IntCounterVec) {
        let registry = Registry::new();
        let hits = IntCounterVec::new(
            Opts::new("hello_requests_total", "Greetings served, by route."),
            &["route"],
        )
        .expect("valid metric");
        registry.register(Box::new(hits.clone())).expect("register");
        (MetricsHandler::builder(registry).build(), hits)
    }

    #[tokio::test]
    async fn the_app_counts_greetings_and_serves_them() {
        let (handler, hits) = setup();
        let app = app(handler, hits);
        for _ in 0..3 {
            let r = warp::test::request().path("/hello/ann").reply(&app).await;
            assert_eq!(r.status(), 200);
            assert_eq!(r.body(), "Hello, ann!\n");
        }
        let r = warp::test::request().path("/metrics").reply(&app).await;
        assert_eq!(r.status(), 200);
        let page = std::str::from_utf8(r.body()).expect("utf-8");
        assert!(
            page.contains("hello_requests_total{route=\"/hello/{name}\"} 3\n"),
            "{page}"
        );
        // Other methods on /metrics: the handler's 405; other paths: the app's 404.
        let r = warp::test::request()
            .method("POST")
            .path("/metrics")
            .reply(&app)
            .await;
        assert_eq!(r.status(), 405);
        let r = warp::test::request().path("/metrics/x").reply(&app).await;
        assert_eq!(r.status(), 404);
        assert_eq!(r.body(), "Not found.\n");
    }
}
