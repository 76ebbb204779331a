//! [warp](https://docs.rs/warp/0.4) filters that serve a [`MetricsHandler`] (the
//! `warp` feature).
//!
//! **warp 0.4 is required.** warp 0.3 is built on `http` 0.2, whose `Method`, `Uri`
//! and `HeaderMap` are other types than the `http` 1 ones promhttp takes: filters
//! written by hand against warp 0.3 fail to compile with two versions of `http` in
//! the error message. Depend on `warp = "0.4"` (with its `server` feature to run a
//! server).
//!
//! warp hands a filter the parts it asks for. These filters ask for what the handler
//! reads — the method, the path and query (`name[]` filters), the headers (`Accept`,
//! `Accept-Encoding`, `X-Prometheus-Scrape-Timeout-Seconds`) — and answer with
//! [`MetricsHandler::respond_to`]: negotiation, compression, `HEAD`, the handler's
//! `405` for other methods, its limits and self-metrics, as everywhere else. The
//! page is rendered as one buffer and handed to warp as its body.
//!
//! ```no_run
//! use warp::Filter;
//!
//! # async fn run() {
//! let hello = warp::path!("hello" / String).map(|name| format!("Hello, {name}!"));
//! // `/metrics`, serving the default registry.
//! let routes = hello.or(promhttp::warp::metrics_filter(promhttp::handler()));
//! warp::serve(routes).run(([127, 0, 0, 1], 3000)).await;
//! # }
//! ```

use ::warp::filters::path::FullPath;
use ::warp::reply::{Reply, Response};
use ::warp::{Filter, Rejection};
use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use http_body_util::BodyExt;

use crate::MetricsHandler;

/// `/metrics` answered by `handler`, whatever the method (`GET` and `HEAD` are
/// served, others get the handler's `405`); any other path is rejected, for the
/// next filter of an `or` (or warp's `404`).
///
/// ```
/// use promhttp::prometheus::Registry;
/// use promhttp::MetricsHandler;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let handler = MetricsHandler::builder(Registry::new()).build();
/// let metrics = promhttp::warp::metrics_filter(handler);
/// let response = warp::test::request().path("/metrics").reply(&metrics).await;
/// assert_eq!(response.status(), 200);
/// # }
/// ```
pub fn metrics_filter(
    handler: MetricsHandler,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    ::warp::path("metrics")
        .and(::warp::path::end())
        .and(handler_filter(handler))
}

/// Every request that reaches it answered by `handler`, whatever its path: put it
/// behind a path of your own. It never rejects.
///
/// ```
/// use warp::Filter;
///
/// let metrics = warp::path!("internal" / "metrics")
///     .and(promhttp::warp::handler_filter(promhttp::handler()));
/// # let _ = metrics;
/// ```
pub fn handler_filter(
    handler: MetricsHandler,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    ::warp::method()
        .and(::warp::path::full())
        .and(
            ::warp::query::raw()
                .map(Some)
                .or(::warp::any().map(|| None))
                .unify(),
        )
        .and(::warp::header::headers_cloned())
        .then(
            move |method: Method, path: FullPath, query: Option<String>, headers: HeaderMap| {
                let handler = handler.clone();
                async move {
                    let uri = target(&path, query.as_deref());
                    let (parts, body) = handler
                        .respond_to(&method, &uri, &headers)
                        .await
                        .into_parts();
                    // The page is one buffered chunk: collecting it neither fails
                    // nor copies.
                    let bytes: Bytes = match body.collect().await {
                        Ok(collected) => collected.to_bytes(),
                        Err(never) => match never {},
                    };
                    http::Response::from_parts(parts, bytes).into_response()
                }
            },
        )
}

/// The request target: the path and the query, as the handler reads them.
fn target(path: &FullPath, query: Option<&str>) -> Uri {
    let target = match query {
        Some(q) => format!("{}?{q}", path.as_str()),
        None => path.as_str().to_owned(),
    };
    // Both came from a parsed request, so they parse again; the path alone if not.
    target
        .parse()
        .or_else(|_| path.as_str().parse())
        .unwrap_or_else(|_| Uri::from_static("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::{IntCounter, Registry};

    fn handler() -> MetricsHandler {
        let registry = Registry::new();
        let hits = IntCounter::new("hits_total", "Hits.").unwrap_or_else(|e| panic!("{e}"));
        hits.inc_by(3);
        registry
            .register(Box::new(hits))
            .unwrap_or_else(|e| panic!("{e}"));
        MetricsHandler::builder(registry).build()
    }

    fn text(body: &[u8]) -> &str {
        std::str::from_utf8(body).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn the_filter_serves_the_page_and_negotiates() {
        let f = metrics_filter(handler());
        let r = ::warp::test::request().path("/metrics").reply(&f).await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert!(text(r.body()).contains("hits_total 3\n"), "{:?}", r.body());

        // The Accept header reaches the handler.
        let r = ::warp::test::request()
            .path("/metrics")
            .header(
                "accept",
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
            )
            .reply(&f)
            .await;
        assert!(r.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("application/vnd.google.protobuf")));
        assert!(!r.body().is_empty());
    }

    #[cfg(feature = "gzip")]
    #[tokio::test]
    async fn the_filter_compresses() {
        let f = metrics_filter(handler());
        let page = ::warp::test::request().path("/metrics").reply(&f).await;
        let r = ::warp::test::request()
            .path("/metrics")
            .header("accept-encoding", "gzip")
            .reply(&f)
            .await;
        assert_eq!(r.headers()["content-encoding"], "gzip");
        let mut unzipped = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&r.body()[..]),
            &mut unzipped,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(unzipped.as_bytes(), page.body());
    }

    #[tokio::test]
    async fn the_query_reaches_the_handler() {
        let f = metrics_filter(handler());
        let r = ::warp::test::request()
            .path("/metrics?name[]=nothing_by_that_name")
            .reply(&f)
            .await;
        assert_eq!(r.status(), 200);
        assert!(r.body().is_empty(), "{:?}", r.body());
        let r = ::warp::test::request()
            .path("/metrics?name[]=hits_total")
            .reply(&f)
            .await;
        assert!(text(r.body()).contains("hits_total 3\n"));
    }

    #[tokio::test]
    async fn methods_and_paths() {
        let f = metrics_filter(handler());
        let r = ::warp::test::request()
            .method("HEAD")
            .path("/metrics")
            .reply(&f)
            .await;
        assert_eq!(r.status(), 200);
        assert!(r.body().is_empty());
        let r = ::warp::test::request()
            .method("POST")
            .path("/metrics")
            .reply(&f)
            .await;
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()["allow"], "GET, HEAD");
        // Other paths are rejected, to the next filter or warp's 404.
        for path in ["/metrics/x", "/other", "/"] {
            assert!(
                !::warp::test::request().path(path).matches(&f).await,
                "{path}"
            );
            let r = ::warp::test::request().path(path).reply(&f).await;
            assert_eq!(r.status(), 404, "{path}");
        }
    }

    #[tokio::test]
    async fn the_pathless_filter_goes_behind_any_path() {
        let f = ::warp::path!("internal" / "metrics").and(handler_filter(handler()));
        let r = ::warp::test::request()
            .path("/internal/metrics")
            .reply(&f)
            .await;
        assert_eq!(r.status(), 200);
        assert!(text(r.body()).contains("hits_total 3\n"));
        assert!(!::warp::test::request().path("/metrics").matches(&f).await);
    }

    #[tokio::test]
    async fn the_handlers_self_metrics_count_what_the_filter_serves() {
        // The handler's self-metrics count requests served through the filter.
        let registry = Registry::new();
        let self_metrics = crate::HandlerMetrics::new();
        self_metrics
            .register(&registry)
            .unwrap_or_else(|e| panic!("{e}"));
        let handler = MetricsHandler::builder(registry.clone())
            .instrument(self_metrics)
            .build();
        let f = metrics_filter(handler);
        for _ in 0..2 {
            let _ = ::warp::test::request().path("/metrics").reply(&f).await;
        }
        let r = ::warp::test::request().path("/metrics").reply(&f).await;
        assert!(
            text(r.body()).contains("promhttp_metric_handler_requests_total{code=\"200\"} 2\n"),
            "{:?}",
            text(r.body())
        );
    }

    #[tokio::test]
    async fn the_target_keeps_path_and_query() {
        let p = ::warp::test::request()
            .path("/metrics")
            .filter(&::warp::path::full())
            .await
            .unwrap_or_else(|e| match e {});
        assert_eq!(target(&p, None), "/metrics");
        assert_eq!(target(&p, Some("name[]=a")), "/metrics?name[]=a");
        // A query that would not parse is dropped rather than failing the request.
        assert_eq!(target(&p, Some("a b")), "/metrics");
    }
}
