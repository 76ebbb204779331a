//! Per-request cost of the instrumentation middleware, in process, through tower's
//! `oneshot`:
//!
//! - `middleware`: a two-route axum `Router`, bare and with
//!   `HttpMetrics::new().layer()` inside it (route templates from `MatchedPath`);
//! - `layer`: a plain tower service answering `hello`, bare, with the preset layer,
//!   and with a layer keeping only the request counter (labels `method` and `code`);
//!   the request carries a `RouteTemplate` and its response body is read to the end,
//!   so every metric is recorded.
//!
//! The difference to `bare` is what the middleware adds.
//!
//! `cargo bench -p promhttp --features axum --bench middleware`

use std::convert::Infallible;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use promhttp::instrument::{HttpMetric, HttpMetrics, RouteTemplate};
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt};

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

fn app() -> Router {
    Router::new()
        .route("/api/items/{id}", get(|| async { "item" }))
        .route("/api/users/{id}", get(|| async { "user" }))
}

fn middleware(c: &mut Criterion) {
    let rt = runtime();
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
                let req = Request::builder()
                    .uri(uri)
                    .body(axum::body::Body::empty())
                    .expect("request");
                rt.block_on(router.clone().oneshot(req))
                    .expect("infallible")
            })
        });
    }
    g.finish();
}

fn hello() -> impl Service<Request<()>, Response = Response<Full<Bytes>>, Error = Infallible> + Clone
{
    tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
    })
}

/// One request through `svc`, its body read to the end.
fn one<S, B>(rt: &Runtime, svc: &S)
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible> + Clone,
    B: http_body::Body,
{
    let req = Request::builder()
        .uri("/users/7")
        .header("user-agent", "bench")
        .extension(RouteTemplate::new("/users/{id}"))
        .body(())
        .expect("request");
    rt.block_on(async {
        let Ok(resp) = svc.clone().oneshot(req).await;
        let _ = resp.into_body().collect().await;
    })
}

fn layer(c: &mut Criterion) {
    let rt = runtime();
    let preset = HttpMetrics::new();
    let counter_only = HttpMetrics::builder()
        .disable(HttpMetric::RequestDuration)
        .disable(HttpMetric::RequestsInFlight)
        .disable(HttpMetric::RequestSize)
        .disable(HttpMetric::ResponseSize)
        .disable(HttpMetric::LabelOverflows)
        .route_label(false)
        .build()
        .expect("valid configuration");
    let mut g = c.benchmark_group("layer");
    let bare = hello();
    g.bench_function("bare", |b| b.iter(|| one(&rt, &bare)));
    let layered = preset.layer().layer(hello());
    g.bench_function("preset", |b| b.iter(|| one(&rt, &layered)));
    let small = counter_only.layer().layer(hello());
    g.bench_function("counter_only", |b| b.iter(|| one(&rt, &small)));
    g.finish();
}

criterion_group!(benches, middleware, layer);
criterion_main!(benches);
