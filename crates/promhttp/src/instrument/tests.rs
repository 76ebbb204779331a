use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, Full};
use tower::{service_fn, Layer, ServiceExt};
use tower_service::Service;

use super::*;
use crate::gather::{gather_all, Gathered};
use crate::model::{Label, MetricType, Value};

/// A body of fixed chunks that can, once they are out, stay pending forever.
struct Chunks {
    chunks: VecDeque<Bytes>,
    hang: bool,
}

impl Chunks {
    fn new(chunks: &[&'static str], hang: bool) -> Self {
        Chunks {
            chunks: chunks
                .iter()
                .map(|c| Bytes::from_static(c.as_bytes()))
                .collect(),
            hang,
        }
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.chunks.pop_front() {
            Some(c) => Poll::Ready(Some(Ok(Frame::data(c)))),
            None if self.hang => Poll::Pending,
            None => Poll::Ready(None),
        }
    }
}

fn page(m: &HttpMetrics) -> Gathered {
    let g = gather_all(m);
    assert!(g.errors.is_empty(), "{:?}", g.errors);
    g
}

fn matches(labels: &[Label], want: &[(&str, &str)]) -> bool {
    want.iter()
        .all(|(n, v)| labels.iter().any(|l| l.name == *n && l.value == *v))
}

fn counter(g: &Gathered, name: &str, want: &[(&str, &str)]) -> f64 {
    let Some(f) = g.families.iter().find(|f| f.name == name) else {
        return 0.0;
    };
    f.metrics
        .iter()
        .filter(|m| matches(&m.labels, want))
        .map(|m| match &m.value {
            Value::Counter(c) => c.value,
            Value::Gauge(v) => *v,
            v => panic!("{v:?}"),
        })
        .sum()
}

/// Count and sum of a histogram over the series matching `want`.
fn hist(g: &Gathered, name: &str, want: &[(&str, &str)]) -> (u64, f64) {
    let Some(f) = g.families.iter().find(|f| f.name == name) else {
        return (0, 0.0);
    };
    f.metrics
        .iter()
        .filter(|m| matches(&m.labels, want))
        .fold((0, 0.0), |(c, s), m| match &m.value {
            Value::Histogram(h) => (c + h.count, s + h.sum),
            v => panic!("{v:?}"),
        })
}

fn values(g: &Gathered, family: &str, label: &str) -> BTreeSet<String> {
    g.families
        .iter()
        .filter(|f| f.name == family)
        .flat_map(|f| &f.metrics)
        .flat_map(|m| &m.labels)
        .filter(|l| l.name == label)
        .map(|l| l.value.to_string())
        .collect()
}

fn hello(
    body: &'static str,
) -> impl Service<Request<()>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send> + Clone
{
    service_fn(move |_req: Request<()>| async move {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
            body.as_bytes(),
        ))))
    })
}

/// The preset with every metric and the `route` label turned off: add what a test
/// needs.
fn none() -> HttpMetricsBuilder {
    HttpMetrics::builder()
        .disable(HttpMetric::RequestsTotal)
        .disable(HttpMetric::RequestDuration)
        .disable(HttpMetric::RequestsInFlight)
        .disable(HttpMetric::RequestSize)
        .disable(HttpMetric::ResponseSize)
        .disable(HttpMetric::LabelOverflows)
        .route_label(false)
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or_else(|e| panic!("{e}"))
}

fn get(uri: &str) -> Request<()> {
    Request::builder()
        .uri(uri)
        .body(())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn preset_families_are_sorted_and_valid() {
    let m = HttpMetrics::new();
    // Before any request: the gauge only.
    let g = page(&m);
    let names: Vec<&str> = g.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["http_label_overflows_total", "http_requests_in_flight"]
    );
    assert_eq!(counter(&g, "http_requests_in_flight", &[]), 0.0);
}

#[tokio::test]
async fn the_builder_starts_from_the_preset_and_disable_removes_a_metric() {
    let names = |m: &HttpMetrics| -> Vec<String> {
        page(m)
            .families
            .iter()
            .map(|f| f.name.to_string())
            .collect()
    };
    let preset = HttpMetrics::new();
    let built = HttpMetrics::builder()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let trimmed = HttpMetrics::builder()
        .disable(HttpMetric::RequestSize)
        .disable(HttpMetric::RequestsInFlight)
        .disable(HttpMetric::LabelOverflows)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    // Disabled, then named again: the last call wins.
    let back = HttpMetrics::builder()
        .disable(HttpMetric::RequestsTotal)
        .requests_total("again_total")
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    for m in [&preset, &built, &trimmed, &back] {
        let resp = m
            .layer()
            .layer(hello("x"))
            .oneshot(get("/"))
            .await
            .unwrap_or_else(|e| match e {});
        let _ = resp.into_body().collect().await;
    }
    let all = [
        "http_label_overflows_total",
        "http_request_duration_seconds",
        "http_request_size_bytes",
        "http_requests_in_flight",
        "http_requests_total",
        "http_response_size_bytes",
    ];
    assert_eq!(names(&preset), all);
    assert_eq!(names(&built), all);
    assert_eq!(
        names(&trimmed),
        [
            "http_request_duration_seconds",
            "http_requests_total",
            "http_response_size_bytes"
        ]
    );
    assert_eq!(counter(&page(&back), "again_total", &[]), 1.0);
    assert_eq!(counter(&page(&back), "http_requests_total", &[]), 0.0);
}

#[tokio::test]
async fn fixed_body_is_counted_exactly() {
    let m = HttpMetrics::new();
    let req = Request::builder()
        .uri("/x")
        .header("x-a", "bb")
        .body(())
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = m
        .layer()
        .layer(hello("hello"))
        .oneshot(req)
        .await
        .unwrap_or_else(|e| match e {});
    assert_eq!(m.in_flight(), 1, "in flight until the body ends");
    assert_eq!(counter(&page(&m), "http_requests_total", &[]), 0.0);
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| match e {})
        .to_bytes();
    assert_eq!(body, "hello");
    assert_eq!(m.in_flight(), 0);
    let g = page(&m);
    let l = [("method", "get"), ("code", "200"), ("route", "unmatched")];
    assert_eq!(counter(&g, "http_requests_total", &l), 1.0);
    assert_eq!(hist(&g, "http_response_size_bytes", &l), (1, 5.0));
    // "/x" + "GET" + "HTTP/1.1" + "x-a" + "bb"
    assert_eq!(hist(&g, "http_request_size_bytes", &l), (1, 18.0));
    assert_eq!(hist(&g, "http_request_duration_seconds", &l).0, 1);
    // Labels sorted by name.
    let f = g
        .families
        .iter()
        .find(|f| f.name == "http_requests_total")
        .unwrap_or_else(|| panic!());
    let names: Vec<&str> = f.metrics[0]
        .labels
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(names, ["code", "method", "route"]);
    assert_eq!(f.metric_type, MetricType::Counter);
}

#[tokio::test]
async fn streamed_body_is_measured_when_it_ends() {
    let m = HttpMetrics::new();
    let svc = m.layer().layer(service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Chunks::new(
            &["0123456789", "01234567890123456789", "abc"],
            false,
        )))
    }));
    let resp = svc.oneshot(get("/s")).await.unwrap_or_else(|e| match e {});
    let mut body = resp.into_body();
    let mut n = 0;
    while let Some(frame) = body.frame().await {
        n += 1;
        let _ = frame.unwrap_or_else(|e| match e {});
    }
    assert_eq!(n, 3);
    assert_eq!(body.bytes_sent(), 33);
    // Recorded at the end of the stream, not again at drop.
    drop(body);
    let g = page(&m);
    assert_eq!(hist(&g, "http_response_size_bytes", &[]), (1, 33.0));
    assert_eq!(counter(&g, "http_requests_total", &[]), 1.0);
    assert_eq!(m.in_flight(), 0);
}

#[tokio::test]
async fn empty_body_and_head_are_zero_bytes() {
    let m = HttpMetrics::new();
    let svc = m.layer().layer(service_fn(|_req: Request<()>| async {
        let mut r = Response::new(Empty::<Bytes>::new());
        *r.status_mut() = StatusCode::NO_CONTENT;
        Ok::<_, Infallible>(r)
    }));
    let resp = svc
        .clone()
        .oneshot(get("/"))
        .await
        .unwrap_or_else(|e| match e {});
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| match e {});
    assert!(body.to_bytes().is_empty());
    // A body that is never polled (a server sees it is empty) is recorded at drop.
    let mut head = get("/");
    *head.method_mut() = Method::HEAD;
    drop(svc.oneshot(head).await);
    let g = page(&m);
    assert_eq!(
        hist(&g, "http_response_size_bytes", &[("code", "204")]),
        (2, 0.0)
    );
    assert_eq!(
        counter(&g, "http_requests_total", &[("method", "head")]),
        1.0
    );
    assert_eq!(
        counter(&g, "http_requests_total", &[("method", "get")]),
        1.0
    );
    assert_eq!(m.in_flight(), 0);
}

#[tokio::test]
async fn aborted_body_records_what_was_sent() {
    let m = HttpMetrics::new();
    let svc = m.layer().layer(service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Chunks::new(&["1234", "56"], true)))
    }));
    let resp = svc.oneshot(get("/a")).await.unwrap_or_else(|e| match e {});
    let mut body = resp.into_body();
    for _ in 0..2 {
        let _ = body.frame().await;
    }
    // The third frame never comes: the client goes away.
    assert!(
        tokio::time::timeout(Duration::from_millis(20), body.frame())
            .await
            .is_err()
    );
    assert_eq!(m.in_flight(), 1);
    assert_eq!(counter(&page(&m), "http_requests_total", &[]), 0.0);
    drop(body);
    let g = page(&m);
    assert_eq!(counter(&g, "http_requests_total", &[("code", "200")]), 1.0);
    assert_eq!(hist(&g, "http_response_size_bytes", &[]), (1, 6.0));
    assert_eq!(m.in_flight(), 0);
}

#[tokio::test]
async fn status_is_sanitized_and_implicit_200() {
    let m = HttpMetrics::new();
    for status in [None, Some(308), Some(999), Some(100), Some(599)] {
        let svc = m
            .layer()
            .layer(service_fn(move |_req: Request<()>| async move {
                let mut r = Response::new(Full::new(Bytes::new()));
                if let Some(s) = status {
                    *r.status_mut() = StatusCode::from_u16(s).unwrap_or_else(|e| panic!("{e}"));
                }
                Ok::<_, Infallible>(r)
            }));
        let _ = svc.oneshot(get("/")).await;
    }
    let g = page(&m);
    assert_eq!(
        values(&g, "http_requests_total", "code"),
        ["100", "200", "308", "599", "unknown"]
            .map(String::from)
            .into()
    );
}

#[tokio::test]
async fn inner_error_is_counted_as_the_error_code() {
    for (m, code) in [
        (HttpMetrics::new(), "500"),
        (
            HttpMetrics::builder()
                .error_code(StatusCode::SERVICE_UNAVAILABLE)
                .time_to_write_header("ttwh_seconds", [0.1, 1.0])
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
            "503",
        ),
    ] {
        let svc = m.layer().layer(service_fn(|_req: Request<()>| async {
            Err::<Response<Full<Bytes>>, _>(std::io::Error::other("boom"))
        }));
        let err = svc.oneshot(get("/")).await.err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("boom"));
        let g = page(&m);
        assert_eq!(counter(&g, "http_requests_total", &[("code", code)]), 1.0);
        assert_eq!(counter(&g, "http_requests_total", &[]), 1.0);
        assert_eq!(hist(&g, "http_response_size_bytes", &[]), (1, 0.0));
        assert_eq!(
            hist(&g, "ttwh_seconds", &[]),
            (0, 0.0),
            "no head was written"
        );
        assert_eq!(m.in_flight(), 0);
    }
}

#[tokio::test]
async fn time_to_write_header_is_observed_once() {
    let m = none()
        .time_to_write_header("ttwh_seconds", [0.1, 1.0])
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = m
        .layer()
        .layer(hello("x"))
        .oneshot(get("/"))
        .await
        .unwrap_or_else(|e| match e {});
    let _ = resp.into_body().collect().await;
    let g = page(&m);
    assert_eq!(
        hist(&g, "ttwh_seconds", &[("code", "200"), ("method", "get")]).0,
        1
    );
    let names: Vec<&str> = g.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["ttwh_seconds"]);
}

#[tokio::test]
async fn in_flight_returns_to_zero_when_the_future_is_dropped() {
    let m = HttpMetrics::new();
    let mut svc = m.layer().layer(service_fn(|_req: Request<()>| async {
        std::future::pending::<()>().await;
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    }));
    let fut = svc.call(get("/"));
    assert_eq!(m.in_flight(), 1);
    assert!(tokio::time::timeout(Duration::from_millis(10), fut)
        .await
        .is_err());
    assert_eq!(m.in_flight(), 0);
    assert_eq!(counter(&page(&m), "http_requests_total", &[]), 0.0);
}

#[tokio::test]
async fn panicking_handler_records_nothing_and_leaves_flight() {
    let m = HttpMetrics::new();
    let svc = m.layer().layer(service_fn(|_req: Request<()>| async {
        if true {
            panic!("handler exploded");
        }
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    }));
    let joined = tokio::spawn(svc.oneshot(get("/"))).await;
    assert!(joined.is_err_and(|e| e.is_panic()));
    assert_eq!(m.in_flight(), 0);
    assert_eq!(counter(&page(&m), "http_requests_total", &[]), 0.0);
}

#[tokio::test]
async fn methods_are_sanitized() {
    let m = HttpMetrics::builder()
        .extra_methods(["PROPFIND"])
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    for method in [
        "GET", "get", "Get", "NOTIFY", "notify", "FOO1", "propFind", "PATCH",
    ] {
        let mut req = get("/");
        *req.method_mut() = Method::from_bytes(method.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let resp = m
            .layer()
            .layer(hello(""))
            .oneshot(req)
            .await
            .unwrap_or_else(|e| match e {});
        drop(resp);
    }
    let g = page(&m);
    assert_eq!(
        values(&g, "http_requests_total", "method"),
        ["get", "notify", "patch", "propfind", "unknown"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        counter(&g, "http_requests_total", &[("method", "get")]),
        2.0
    );
    assert_eq!(
        counter(&g, "http_requests_total", &[("method", "unknown")]),
        2.0
    );
}

/// A small deterministic generator for the soak tests.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn token(&mut self, len: usize) -> String {
        const T: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~";
        (0..len)
            .map(|_| T[(self.next() % T.len() as u64) as usize] as char)
            .collect()
    }
}

#[tokio::test]
async fn random_methods_and_paths_do_not_mint_series() {
    let m = HttpMetrics::new();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let standard = [
        "GET", "PUT", "HEAD", "POST", "DELETE", "CONNECT", "OPTIONS", "NOTIFY", "TRACE", "PATCH",
    ];
    for i in 0..10_000 {
        let method = match rng.next() % 3 {
            0 => standard[(rng.next() % 10) as usize].to_owned(),
            _ => {
                let len = 1 + (rng.next() % 32) as usize;
                rng.token(len)
            }
        };
        let path = format!(
            "/{}/{i}",
            rng.token(8).replace(['%', '#', '`', '|', '^'], "x")
        );
        let mut req = Request::builder()
            .uri(path.as_str())
            .body(())
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        *req.method_mut() =
            Method::from_bytes(method.as_bytes()).unwrap_or_else(|e| panic!("{method}: {e}"));
        let resp = m
            .layer()
            .layer(hello("ok"))
            .oneshot(req)
            .await
            .unwrap_or_else(|e| match e {});
        drop(resp);
    }
    let g = page(&m);
    let methods = values(&g, "http_requests_total", "method");
    assert!(methods.len() <= 11, "{methods:?}");
    assert!(methods.contains("unknown"));
    assert_eq!(
        values(&g, "http_requests_total", "route"),
        ["unmatched".to_owned()].into()
    );
    assert_eq!(counter(&g, "http_requests_total", &[]), 10_000.0);
    let series = g
        .families
        .iter()
        .find(|f| f.name == "http_requests_total")
        .map_or(0, |f| f.metrics.len());
    assert!(series <= 11, "{series}");
}

#[tokio::test]
async fn request_labels_and_routes_are_bounded() {
    let m = HttpMetrics::builder()
        .max_routes(2)
        .label_from_request("tenant", 3, |req| {
            req.headers.get("x-tenant")?.to_str().ok()
        })
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    for i in 0..10 {
        let req = Request::builder()
            .uri("/")
            .header("x-tenant", format!("t{i}"))
            .extension(RouteTemplate::new(format!("/r{}", i % 4)))
            .body(())
            .unwrap_or_else(|e| panic!("{e}"));
        drop(m.layer().layer(hello("")).oneshot(req).await);
    }
    // Values equal to the fixed ones fold into them; no value is the empty value.
    for (tenant, route) in [(Some("overflow"), "unmatched"), (None, "overflow")] {
        let mut b = Request::builder()
            .uri("/")
            .extension(RouteTemplate::new(route));
        if let Some(t) = tenant {
            b = b.header("x-tenant", t);
        }
        let req = b.body(()).unwrap_or_else(|e| panic!("{e}"));
        drop(m.layer().layer(hello("")).oneshot(req).await);
    }
    let g = page(&m);
    assert_eq!(
        values(&g, "http_requests_total", "tenant"),
        ["", "overflow", "t0", "t1", "t2"].map(String::from).into()
    );
    assert_eq!(
        values(&g, "http_requests_total", "route"),
        ["/r0", "/r1", "overflow", "unmatched"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        counter(&g, "http_requests_total", &[("tenant", "overflow")]),
        8.0
    );
    assert_eq!(
        counter(&g, "http_label_overflows_total", &[("label", "tenant")]),
        7.0
    );
    // Routes /r2 and /r3 overflowed: i = 2, 3, 6, 7.
    assert_eq!(
        counter(&g, "http_label_overflows_total", &[("label", "route")]),
        4.0
    );
    assert_eq!(counter(&g, "http_requests_total", &[]), 12.0);
}

#[tokio::test]
async fn colliding_label_values_stay_apart() {
    let m = none()
        .requests_total("req_total")
        .label_from_request("a", 10, |req| req.headers.get("a")?.to_str().ok())
        .label_from_request("b", 10, |req| req.headers.get("b")?.to_str().ok())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    for (a, b) in [
        ("77kepQFQ8Kl", "x"),
        ("!0IC=VloaY", "x"),
        ("ab", "c"),
        ("a", "bc"),
    ] {
        let req = Request::builder()
            .uri("/")
            .header("a", a)
            .header("b", b)
            .body(())
            .unwrap_or_else(|e| panic!("{e}"));
        drop(m.layer().layer(hello("")).oneshot(req).await);
    }
    let g = page(&m);
    assert_eq!(
        g.families
            .iter()
            .find(|f| f.name == "req_total")
            .map(|f| f.metrics.len()),
        Some(4)
    );
    assert_eq!(counter(&g, "req_total", &[("a", "ab"), ("b", "c")]), 1.0);
    assert_eq!(counter(&g, "req_total", &[("a", "a"), ("b", "bc")]), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_give_exact_totals() {
    let m = HttpMetrics::builder()
        .label_from_request("worker", 64, |req| {
            req.headers.get("x-worker")?.to_str().ok()
        })
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let svc = m.layer().layer(hello("four"));
    let mut tasks = Vec::new();
    for w in 0..32 {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..200 {
                let req = Request::builder()
                    .uri("/")
                    .header("x-worker", w.to_string())
                    .body(())
                    .unwrap_or_else(|e| panic!("{e}"));
                let resp = svc
                    .clone()
                    .oneshot(req)
                    .await
                    .unwrap_or_else(|e| match e {});
                let _ = resp.into_body().collect().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap_or_else(|e| panic!("{e}"));
    }
    let g = page(&m);
    assert_eq!(counter(&g, "http_requests_total", &[]), 6400.0);
    for w in 0..32 {
        let w = w.to_string();
        assert_eq!(
            counter(&g, "http_requests_total", &[("worker", &w)]),
            200.0,
            "worker {w}"
        );
    }
    assert_eq!(hist(&g, "http_response_size_bytes", &[]), (6400, 25600.0));
    assert_eq!(hist(&g, "http_request_duration_seconds", &[]).0, 6400);
    assert_eq!(m.in_flight(), 0);
}

#[tokio::test]
async fn exemplars_come_from_the_request_and_bad_ones_are_dropped() {
    let m = HttpMetrics::builder()
        .exemplar(|req| {
            let id = req.headers.get("trace")?.to_str().ok()?;
            Some(vec![Label::new("trace_id", id.to_owned())])
        })
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let send = |trace: Option<String>, path: &'static str| {
        let m = m.clone();
        async move {
            let mut b = Request::builder()
                .uri(path)
                .extension(RouteTemplate::new(path));
            if let Some(t) = trace {
                b = b.header("trace", t);
            }
            let req = b.body(()).unwrap_or_else(|e| panic!("{e}"));
            let resp = m
                .layer()
                .layer(hello("abc"))
                .oneshot(req)
                .await
                .unwrap_or_else(|e| match e {});
            let _ = resp.into_body().collect().await;
        }
    };
    send(Some("abc123".into()), "/a").await;
    send(None, "/b").await;
    send(Some("x".repeat(200)), "/c").await;
    let g = page(&m);
    let ex = |family: &str, route: &str| -> Vec<String> {
        let f = g
            .families
            .iter()
            .find(|f| f.name == family)
            .unwrap_or_else(|| panic!("{family}"));
        let m = f
            .metrics
            .iter()
            .find(|m| matches(&m.labels, &[("route", route)]))
            .unwrap_or_else(|| panic!("{route}"));
        match &m.value {
            Value::Counter(c) => c
                .exemplar
                .iter()
                .map(|e| e.labels[0].value.to_string())
                .collect(),
            Value::Histogram(h) => h
                .buckets
                .iter()
                .filter_map(|b| b.exemplar.as_ref())
                .map(|e| format!("{}={}", e.labels[0].value, e.value))
                .collect(),
            v => panic!("{v:?}"),
        }
    };
    assert_eq!(ex("http_requests_total", "/a"), ["abc123"]);
    assert_eq!(ex("http_response_size_bytes", "/a"), ["abc123=3"]);
    assert_eq!(ex("http_request_duration_seconds", "/a").len(), 1);
    assert!(ex("http_requests_total", "/b").is_empty());
    assert!(
        ex("http_requests_total", "/c").is_empty(),
        "oversized exemplar dropped"
    );
    assert!(ex("http_response_size_bytes", "/c").is_empty());

    // Served: OpenMetrics shows the exemplar, text 0.0.4 never does.
    let handler = crate::MetricsHandler::builder(m.clone())
        .openmetrics(true)
        .build();
    let scrape = |accept: &'static str| {
        let handler = handler.clone();
        async move {
            let req = Request::builder()
                .uri("/metrics")
                .header("accept", accept)
                .body(())
                .unwrap_or_else(|e| panic!("{e}"));
            let resp = handler.respond(&req).await;
            assert_eq!(resp.status(), StatusCode::OK);
            let body = resp
                .into_body()
                .collect()
                .await
                .unwrap_or_else(|e| match e {})
                .to_bytes();
            String::from_utf8(body.to_vec()).unwrap_or_else(|e| panic!("{e}"))
        }
    };
    let om = scrape("application/openmetrics-text;version=1.0.0").await;
    assert!(om.contains("http_requests_total{code=\"200\",method=\"get\",route=\"/a\"} 1.0 # {trace_id=\"abc123\"} 1.0 "), "{om}");
    assert!(
        om.contains("route=\"/a\",le=\"100.0\"} 1 # {trace_id=\"abc123\"} 3.0 "),
        "{om}"
    );
    let text = scrape("text/plain;version=0.0.4").await;
    assert!(
        text.contains("http_requests_total{code=\"200\",method=\"get\",route=\"/a\"} 1\n"),
        "{text}"
    );
    assert!(!text.contains("trace_id"), "{text}");
}

#[tokio::test]
async fn layers_compose_and_are_served_together() {
    let counts = none()
        .requests_total("app_requests_total")
        .const_label("layer", "outer")
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let flight = none()
        .requests_in_flight("app_in_flight")
        .response_size("app_response_size_bytes", [1.0, 10.0])
        .method_label(false)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let svc = tower::ServiceBuilder::new()
        .layer(counts.layer())
        .layer(flight.layer())
        .service(hello("12345"));
    for _ in 0..3 {
        let resp = svc
            .clone()
            .oneshot(get("/"))
            .await
            .unwrap_or_else(|e| match e {});
        let _ = resp.into_body().collect().await;
    }
    let all = gather_all(
        &crate::Gatherers::new()
            .with(counts.clone())
            .with(flight.clone()),
    );
    assert!(all.errors.is_empty(), "{:?}", all.errors);
    assert_eq!(
        counter(
            &all,
            "app_requests_total",
            &[("layer", "outer"), ("code", "200")]
        ),
        3.0
    );
    assert_eq!(
        hist(&all, "app_response_size_bytes", &[("code", "200")]),
        (3, 15.0)
    );
    assert_eq!(counter(&all, "app_in_flight", &[]), 0.0);
    assert!(values(&all, "app_response_size_bytes", "method").is_empty());
}

#[tokio::test]
async fn served_beside_a_prometheus_registry() {
    let registry = crate::prometheus::Registry::new();
    let jobs =
        crate::prometheus::IntCounter::new("jobs_total", "Jobs.").unwrap_or_else(|e| panic!("{e}"));
    registry
        .register(Box::new(jobs.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    jobs.inc();
    let m = HttpMetrics::new();
    let resp = m
        .layer()
        .layer(hello("x"))
        .oneshot(get("/"))
        .await
        .unwrap_or_else(|e| match e {});
    let _ = resp.into_body().collect().await;
    let handler =
        crate::MetricsHandler::builder(crate::Gatherers::new().with(registry).with(m.clone()))
            .build();
    let resp = handler.respond(&get("/metrics")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| match e {})
        .to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains("jobs_total 1\n"), "{text}");
    assert!(
        text.contains("http_requests_total{code=\"200\",method=\"get\",route=\"unmatched\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "http_response_size_bytes_sum{code=\"200\",method=\"get\",route=\"unmatched\"} 1\n"
        ),
        "{text}"
    );
}

#[test]
fn configurations_that_cannot_work_are_refused() {
    use ConfigError as E;
    let b = none;
    let r = || none().requests_total("r_total");
    type Want = fn(&ConfigError) -> bool;
    let cases: Vec<(HttpMetricsBuilder, Want)> = vec![
        (b(), |e| matches!(e, E::NoMetric)),
        (
            HttpMetrics::builder()
                .disable(HttpMetric::RequestsTotal)
                .disable(HttpMetric::RequestDuration)
                .disable(HttpMetric::RequestsInFlight)
                .disable(HttpMetric::RequestSize)
                .disable(HttpMetric::ResponseSize),
            |e| matches!(e, E::NoMetric),
        ),
        (
            b().requests_total("requests"),
            |e| matches!(e, E::CounterWithoutTotal { option: "requests_total", name } if name == "requests"),
        ),
        (
            b().requests_total("bad-name_total"),
            |e| matches!(e, E::InvalidMetricName { option: "requests_total", name } if name == "bad-name_total"),
        ),
        (
            b().request_duration("d", [1.0, 0.5]),
            |e| matches!(e, E::InvalidBuckets { metric, bounds } if metric == "d" && bounds == &[1.0, 0.5]),
        ),
        (b().request_duration("d", [f64::NAN]), |e| {
            matches!(e, E::InvalidBuckets { .. })
        }),
        (
            b().request_duration("d", []),
            |e| matches!(e, E::InvalidBuckets { bounds, .. } if bounds.is_empty()),
        ),
        (
            b().request_duration("d", [1.0]).response_size("d", [1.0]),
            |e| matches!(e, E::MetricNameClash { name, other } if name == "d" && other == "d"),
        ),
        (
            b().request_duration("d", [1.0])
                .requests_total("d_count_total")
                .requests_in_flight("d_count"),
            |e| matches!(e, E::MetricNameClash { name, .. } if name == "d_count"),
        ),
        (
            r().const_label("method", "x"),
            |e| matches!(e, E::DuplicateLabel { name } if name == "method"),
        ),
        (
            r().const_label("__x", "x"),
            |e| matches!(e, E::InvalidLabelName { option: "const_label", name } if name == "__x"),
        ),
        (
            b().request_duration("d", [1.0]).const_label("le", "x"),
            |e| matches!(e, E::ReservedLabelName { name } if name == "le"),
        ),
        (r().error_code(status(600)), |e| {
            matches!(e, E::ErrorCodeOutOfRange { .. })
        }),
        (r().error_code(status(999)), |e| {
            matches!(e, E::ErrorCodeOutOfRange { .. })
        }),
        (
            r().extra_methods(["BAD METHOD"]),
            |e| matches!(e, E::InvalidMethod { method } if method == "BAD METHOD"),
        ),
        (r().extra_methods(["unknown"]), |e| {
            matches!(e, E::ReservedMethod { .. })
        }),
        (
            r().route_label(true).max_routes(0),
            |e| matches!(e, E::ZeroLimit { label } if label == "route"),
        ),
        (
            r().route_label(true)
                .unmatched_route("x")
                .overflow_value("x"),
            |e| matches!(e, E::AmbiguousRouteValue { value } if value == "x"),
        ),
        (
            r().label_from_request("t", 0, |_| None),
            |e| matches!(e, E::ZeroLimit { label } if label == "t"),
        ),
        (
            r().label_from_request("code", 5, |_| None),
            |e| matches!(e, E::DuplicateLabel { name } if name == "code"),
        ),
        (r().label_from_request("a.b", 5, |_| None), |e| {
            matches!(
                e,
                E::InvalidLabelName {
                    option: "label_from_request",
                    ..
                }
            )
        }),
        (
            HttpMetrics::builder()
                .label_from_request("t", 5, |_| None)
                .const_label("label", "x"),
            |e| matches!(e, E::DuplicateLabel { name } if name == "label"),
        ),
        (
            HttpMetrics::builder()
                .label_name(HttpLabel::Overflowed, "which")
                .const_label("which", "x"),
            |e| matches!(e, E::DuplicateLabel { name } if name == "which"),
        ),
        (r().route_label(true).overflow_counter("overflows"), |e| {
            matches!(
                e,
                E::CounterWithoutTotal {
                    option: "overflow_counter",
                    ..
                }
            )
        }),
        (
            r().label_from_request("t", 5, |_| None).overflow_value(""),
            |e| matches!(e, E::EmptyOverflowValue),
        ),
        (
            (0..=MAX_REQUEST_LABELS).fold(r(), |b, i| {
                b.label_from_request(format!("l{i}"), 5, |_| None)
            }),
            |e| matches!(e, E::TooManyRequestLabels { count } if *count == MAX_REQUEST_LABELS + 1),
        ),
        // Label names given to label_name: valid, and distinct from the others.
        (
            HttpMetrics::builder().label_name(HttpLabel::Route, "handler-name"),
            |e| matches!(e, E::InvalidLabelName { option: "label_name", name } if name == "handler-name"),
        ),
        (
            HttpMetrics::builder().label_name(HttpLabel::Code, "__code"),
            |e| {
                matches!(
                    e,
                    E::InvalidLabelName {
                        option: "label_name",
                        ..
                    }
                )
            },
        ),
        (
            HttpMetrics::builder().label_name(HttpLabel::Overflowed, ""),
            |e| {
                matches!(
                    e,
                    E::InvalidLabelName {
                        option: "label_name",
                        ..
                    }
                )
            },
        ),
        (
            // Checked even when the label is off.
            HttpMetrics::builder()
                .route_label(false)
                .label_name(HttpLabel::Route, "1route"),
            |e| matches!(e, E::InvalidLabelName { .. }),
        ),
        (
            HttpMetrics::builder().label_name(HttpLabel::Route, "method"),
            |e| matches!(e, E::DuplicateLabel { name } if name == "method"),
        ),
        (
            HttpMetrics::builder().label_name(HttpLabel::Code, "le"),
            |e| matches!(e, E::ReservedLabelName { .. }),
        ),
    ];
    for (i, (builder, want)) in cases.into_iter().enumerate() {
        match builder.build() {
            Ok(_) => panic!("case {i} was accepted"),
            Err(e) => {
                assert!(want(&e), "case {i}: {e:?}");
                let text = e.to_string();
                assert!(!text.is_empty() && !text.ends_with('.'), "case {i}: {text}");
            }
        }
    }
    assert!(HttpMetrics::builder()
        .const_label("service", "api")
        .build()
        .is_ok());
    assert!(b()
        .request_duration("d", [0.5, f64::INFINITY])
        .build()
        .is_ok());
    // An unused overflow label name may be anything valid, the same as a constant
    // label's when there is no overflow counter.
    assert!(HttpMetrics::builder()
        .disable(HttpMetric::LabelOverflows)
        .const_label("label", "x")
        .build()
        .is_ok());
}

#[test]
fn errors_name_the_option_and_the_value() {
    let err = |b: HttpMetricsBuilder| b.build().err().map(|e| e.to_string());
    assert_eq!(
        err(HttpMetrics::builder().requests_total("requests")).as_deref(),
        Some("requests_total: counter name \"requests\" does not end in _total")
    );
    assert_eq!(
        err(HttpMetrics::builder().label_name(HttpLabel::Route, "a-b")).as_deref(),
        Some("label_name: \"a-b\" is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")
    );
    assert_eq!(
        err(HttpMetrics::builder().error_code(status(600))).as_deref(),
        Some("error_code: 600 is not within 100-599")
    );
}

#[tokio::test]
async fn label_names_and_help_texts_are_configurable() {
    let m = HttpMetrics::builder()
        .label_name(HttpLabel::Route, "handler")
        .label_name(HttpLabel::Code, "status")
        .label_name(HttpLabel::Method, "verb")
        .label_name(HttpLabel::Overflowed, "overflowed_label")
        .max_routes(1)
        .help(HttpMetric::RequestsTotal, "Requests served by the API.")
        .help(HttpMetric::RequestDuration, "Latency.\nSecond line.")
        .help(HttpMetric::LabelOverflows, "Routes over the cap.")
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    for route in ["/users/{id}", "/second"] {
        let req = Request::builder()
            .uri("/")
            .extension(RouteTemplate::new(route))
            .body(())
            .unwrap_or_else(|e| panic!("{e}"));
        let resp = m
            .layer()
            .layer(hello("x"))
            .oneshot(req)
            .await
            .unwrap_or_else(|e| match e {});
        let _ = resp.into_body().collect().await;
    }
    let handler = crate::MetricsHandler::builder(m.clone()).build();
    let resp = handler.respond(&get("/metrics")).await;
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| match e {})
        .to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap_or_else(|e| panic!("{e}"));
    for want in [
        "# HELP http_requests_total Requests served by the API.\n",
        "http_requests_total{handler=\"/users/{id}\",status=\"200\",verb=\"get\"} 1\n",
        "http_requests_total{handler=\"overflow\",status=\"200\",verb=\"get\"} 1\n",
        "# HELP http_request_duration_seconds Latency.\\nSecond line.\n",
        "# HELP http_label_overflows_total Routes over the cap.\n",
        "http_label_overflows_total{overflowed_label=\"handler\"} 1\n",
        // Untouched help texts keep the preset's.
        "# HELP http_requests_in_flight Number of HTTP requests being served.\n",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    for gone in ["route=", "code=", "method="] {
        assert!(!text.contains(gone), "{gone} in\n{text}");
    }
}

#[tokio::test]
async fn the_overflow_counter_can_be_disabled() {
    let m = HttpMetrics::builder()
        .max_routes(1)
        .disable(HttpMetric::LabelOverflows)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    for route in ["/a", "/b", "/c"] {
        let req = Request::builder()
            .uri("/")
            .extension(RouteTemplate::new(route))
            .body(())
            .unwrap_or_else(|e| panic!("{e}"));
        drop(m.layer().layer(hello("")).oneshot(req).await);
    }
    let g = page(&m);
    assert!(
        g.families
            .iter()
            .all(|f| f.name != "http_label_overflows_total"),
        "{:?}",
        g.families.iter().map(|f| &f.name).collect::<Vec<_>>()
    );
    // The bound still holds: later routes are recorded as the overflow value.
    assert_eq!(
        values(&g, "http_requests_total", "route"),
        ["/a", "overflow"].map(String::from).into()
    );
    assert_eq!(
        counter(&g, "http_requests_total", &[("route", "overflow")]),
        2.0
    );
}
