//! Serving metrics from a warp filter.
//!
//! ```text
//! cargo run -p promhttp --example warp
//! curl -s 127.0.0.1:3000/metrics
//! curl -s -H 'Accept-Encoding: gzip' 127.0.0.1:3000/metrics | gunzip
//! curl -s '127.0.0.1:3000/metrics?name[]=http_requests_total'
//! ```
//!
//! warp hands a filter the parts it asks for; the handler needs the method, the
//! URI (path and query: `name[]` filters) and the headers (`Accept`,
//! `Accept-Encoding`, `X-Prometheus-Scrape-Timeout-Seconds`), which is exactly
//! [`MetricsHandler::respond_to`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use promhttp::prometheus::{register_int_counter_vec, IntCounterVec};
use promhttp::MetricsHandler;
use warp::http::{HeaderMap, Method, Response, Uri};
use warp::Filter;

/// `GET`/`HEAD /metrics` answered by `handler` (other methods get its `405`).
fn metrics_route(
    handler: MetricsHandler,
) -> impl Filter<Extract = (Response<Bytes>,), Error = warp::Rejection> + Clone {
    warp::path("metrics")
        .and(warp::path::end())
        .and(warp::method())
        .and(warp::path::full())
        .and(
            warp::query::raw()
                .map(Some)
                .or(warp::any().map(|| None))
                .unify(),
        )
        .and(warp::header::headers_cloned())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: Option<String>,
                  headers: HeaderMap| {
                let handler = handler.clone();
                async move {
                    let target = match query {
                        Some(q) => format!("{}?{q}", path.as_str()),
                        None => path.as_str().to_owned(),
                    };
                    // The path came from a parsed request: it parses again.
                    let uri: Uri = target
                        .parse()
                        .unwrap_or_else(|_| Uri::from_static("/metrics"));
                    let (parts, body) = handler
                        .respond_to(&method, &uri, &headers)
                        .await
                        .into_parts();
                    // The page is one buffered chunk: collecting it neither fails nor copies.
                    let bytes = match body.collect().await {
                        Ok(collected) => collected.to_bytes(),
                        Err(never) => match never {},
                    };
                    Response::from_parts(parts, bytes)
                }
            },
        )
}

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
        .or(metrics_route(handler).map(warp::Reply::into_response))
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
    async fn the_filter_serves_the_handler() {
        let (handler, hits) = setup();
        let app = app(handler, hits);
        for _ in 0..3 {
            let r = warp::test::request().path("/hello/ann").reply(&app).await;
            assert_eq!(r.status(), 200);
        }
        let r = warp::test::request().path("/metrics").reply(&app).await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let page = std::str::from_utf8(r.body()).expect("utf-8");
        assert!(
            page.contains("hello_requests_total{route=\"/hello/{name}\"} 3\n"),
            "{page}"
        );

        // Compression negotiated through warp's header filter.
        let r = warp::test::request()
            .path("/metrics")
            .header("accept-encoding", "gzip")
            .reply(&app)
            .await;
        assert_eq!(r.headers()["content-encoding"], "gzip");
        let mut unzipped = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&r.body()[..]),
            &mut unzipped,
        )
        .expect("gzip body");
        assert_eq!(unzipped, page);

        // The query reaches the handler: name[] filters the page.
        let r = warp::test::request()
            .path("/metrics?name[]=nothing_by_that_name")
            .reply(&app)
            .await;
        assert_eq!(r.status(), 200);
        assert!(r.body().is_empty(), "{:?}", r.body());

        // HEAD: no body; other methods: the handler's 405; other paths: 404.
        let r = warp::test::request()
            .method("HEAD")
            .path("/metrics")
            .reply(&app)
            .await;
        assert_eq!(r.status(), 200);
        assert!(r.body().is_empty());
        let r = warp::test::request()
            .method("POST")
            .path("/metrics")
            .reply(&app)
            .await;
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()["allow"], "GET, HEAD");
        let r = warp::test::request().path("/metrics/x").reply(&app).await;
        assert_eq!(r.status(), 404);
    }
}
