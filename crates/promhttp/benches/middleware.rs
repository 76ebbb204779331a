//! Per-request cost of the instrumentation preset on an axum route, in process:
//! the same two-route `Router` through tower's `oneshot`, bare and with
//! `HttpMetrics::new().layer()`. The difference is what the middleware adds.
//!
//! `cargo bench -p promhttp --features axum --bench middleware`

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use promhttp::instrument::HttpMetrics;
use tower::ServiceExt;

fn app() -> Router {
    Router::new()
        .route("/api/items/{id}", get(|| async { "item" }))
        .route("/api/users/{id}", get(|| async { "user" }))
}

fn middleware(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bare = app();
    let http = HttpMetrics::new();
    let instrumented = app().layer(http.layer());
    let mut g = c.benchmark_group("middleware");
    for (name, router) in [("bare", bare), ("preset", instrumented)] {
        let mut i = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                let uri = if i % 2 == 0 {
                    "/api/items/7"
                } else {
                    "/api/users/3"
                };
                let req = http::Request::builder()
                    .uri(uri)
                    .body(Body::empty())
                    .expect("request");
                rt.block_on(router.clone().oneshot(req))
                    .expect("infallible")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, middleware);
criterion_main!(benches);
