//! The instrumentation layer inside a real axum server: requests over HTTP/1.1 and
//! HTTP/2 (prior knowledge) are counted under their route templates, and the page
//! served by `MetricsHandler` shows exact counts and sizes, with exemplars in
//! OpenMetrics only. Loopback only; every wait is bounded.
#![cfg(feature = "axum")]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use promhttp::instrument::HttpMetrics;
use promhttp::model::Label;
use promhttp::MetricsHandler;

/// A response body sent in several chunks.
struct Chunks(VecDeque<Bytes>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
    }
}

/// A response body that sends one chunk and then never ends.
struct Hang(bool);

impl http_body::Body for Hang {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.0 {
            return Poll::Pending;
        }
        self.0 = true;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"first chunk")))))
    }
}

async fn start() -> (SocketAddr, HttpMetrics) {
    let http = HttpMetrics::builder()
        .exemplar(|req| {
            let id = req.headers.get("x-trace-id")?.to_str().ok()?;
            Some(vec![Label::new("trace_id", id.to_owned())])
        })
        .build()
        .expect("valid configuration");
    let app = Router::new()
        .route(
            "/users/{id}",
            get(|Path(id): Path<String>| async move { format!("user {id}") }),
        )
        .route(
            "/stream",
            get(|| async {
                axum::body::Body::new(Chunks(
                    [&b"aaaa"[..], b"bbbbbb", b"cc"]
                        .into_iter()
                        .map(Bytes::from_static)
                        .collect(),
                ))
            }),
        )
        .route("/teapot", post(|| async { StatusCode::IM_A_TEAPOT }))
        .route(
            "/hang",
            get(|| async { axum::body::Body::new(Hang(false)) }),
        )
        .layer(http.layer())
        .route_service(
            "/metrics",
            MetricsHandler::builder(http.clone())
                .openmetrics(true)
                .build(),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, http)
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn send(
    client: &HttpClient,
    method: &str,
    url: String,
    headers: &[(&str, &str)],
    body: &'static str,
) -> (u16, String) {
    let mut b = Request::builder().method(method).uri(url);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let req = b
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("request");
    let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .expect("answered in time")
        .expect("response");
    let status = resp.status().as_u16();
    let bytes = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect())
        .await
        .expect("body in time")
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The value of the sample line starting with `prefix` (up to the value).
fn sample(page: &str, prefix: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn axum_routes_are_counted_over_http1_and_http2() {
    let (addr, http) = start().await;
    let h1: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let h2: HttpClient = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let base = format!("http://{addr}");

    for id in 1..=3 {
        let trace = if id == 2 {
            vec![("x-trace-id", "abc123")]
        } else {
            vec![]
        };
        let (status, body) = send(&h1, "GET", format!("{base}/users/{id}"), &trace, "").await;
        assert_eq!(
            (status, body.as_str()),
            (200, format!("user {id}").as_str())
        );
    }
    for _ in 0..2 {
        let (status, body) = send(&h2, "GET", format!("{base}/users/42"), &[], "").await;
        assert_eq!((status, body.as_str()), (200, "user 42"));
    }
    let (status, body) = send(&h1, "GET", format!("{base}/stream"), &[], "").await;
    assert_eq!((status, body.as_str()), (200, "aaaabbbbbbcc"));
    let (status, _) = send(&h1, "POST", format!("{base}/teapot"), &[], "xyz").await;
    assert_eq!(status, 418);
    for path in ["/nope/1", "/users/1/secret", "/..%2f"] {
        let (status, _) = send(&h1, "GET", format!("{base}{path}"), &[], "").await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = send(&h1, "FOOBAR", format!("{base}/users/9"), &[], "").await;
    assert_eq!(status, 405);

    // A request is recorded when its body ends or is dropped on the server, which can
    // be just after the client has it: scrape until the totals are in, boundedly.
    let text = scrape_until(&h1, &base, |page| {
        let total: f64 = page
            .lines()
            .filter(|l| l.starts_with("http_requests_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        total == 11.0 && sample(page, "http_requests_in_flight ") == Some(0.0)
    })
    .await;

    let users = r#"{code="200",method="get",route="/users/{id}"}"#;
    assert_eq!(
        sample(&text, &format!("http_requests_total{users} ")),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!("http_response_size_bytes_sum{users} ")),
        Some((6 * 3 + 7 * 2) as f64),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("http_request_duration_seconds_count{users} ")
        ),
        Some(5.0)
    );
    let stream = r#"{code="200",method="get",route="/stream"}"#;
    assert_eq!(
        sample(&text, &format!("http_requests_total{stream} ")),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("http_response_size_bytes_sum{stream} ")),
        Some(12.0)
    );
    let teapot = r#"{code="418",method="post",route="/teapot"}"#;
    assert_eq!(
        sample(&text, &format!("http_requests_total{teapot} ")),
        Some(1.0),
        "{text}"
    );
    // "/teapot" + "POST" + "HTTP/1.1" + host + content-length headers + 3 body bytes.
    let host = addr.to_string();
    let expected = 7 + 4 + 8 + 4 + host.len() + 14 + 1 + 3;
    assert_eq!(
        sample(&text, &format!("http_request_size_bytes_sum{teapot} ")),
        Some(expected as f64),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{code="404",method="get",route="unmatched"} "#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{code="405",method="unknown",route="/users/{id}"} "#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "http_requests_in_flight "), Some(0.0));
    // Never a raw path, never the scrapes themselves, never an exemplar in text 0.0.4.
    for absent in [
        "/users/1", "/nope", "secret", "/metrics", "trace_id", "FOOBAR",
    ] {
        assert!(!text.contains(absent), "{absent} in {text}");
    }
    assert_eq!(http.in_flight(), 0);

    // OpenMetrics, asked for over HTTP/2: the exemplar of request 2 is there.
    let (status, om) = send(
        &h2,
        "GET",
        format!("{base}/metrics"),
        &[("accept", "application/openmetrics-text;version=1.0.0")],
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(om.ends_with("# EOF\n"), "{om}");
    let counter_line = om
        .lines()
        .find(|l| l.starts_with(&format!("http_requests_total{users}")))
        .expect("users counter");
    assert!(
        counter_line.starts_with(&format!(
            "http_requests_total{users} 5.0 # {{trace_id=\"abc123\"}} 1.0 "
        )),
        "{counter_line}"
    );
    assert!(
        om.lines().any(|l| l.starts_with("http_response_size_bytes_bucket{code=\"200\",method=\"get\",route=\"/users/{id}\",le=\"100.0\"} 5 # {trace_id=\"abc123\"} 6.0 ")),
        "{om}"
    );

    // Protobuf carries the exemplar too.
    let (status, proto) = send(
        &h1,
        "GET",
        format!("{base}/metrics"),
        &[(
            "accept",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
        )],
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        proto.contains("trace_id") && proto.contains("abc123"),
        "{proto:?}"
    );
}

/// Scrapes text 0.0.4 until `done` holds for the page, for at most 10 s.
async fn scrape_until(client: &HttpClient, base: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, page) = send(
            client,
            "GET",
            format!("{base}/metrics"),
            &[("accept", "text/plain;version=0.0.4")],
            "",
        )
        .await;
        assert_eq!(status, 200);
        if done(&page) || Instant::now() > deadline {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn clients_that_go_away_mid_stream_are_recorded_with_what_was_sent() {
    let (addr, http) = start().await;
    let base = format!("http://{addr}");
    let h1: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let h2: HttpClient = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    for client in [&h1, &h2] {
        let req = Request::get(format!("{base}/hang"))
            .body(Full::new(Bytes::new()))
            .expect("request");
        let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
            .await
            .expect("answered in time")
            .expect("response");
        let mut body = resp.into_body();
        let first = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("first chunk in time")
            .expect("a frame")
            .expect("data");
        assert_eq!(first.data_ref().map(|d| d.len()), Some(11));
        // The client goes away: HTTP/1 closes the connection, HTTP/2 resets the stream.
        drop(body);
    }
    drop(h1);
    let hang = r#"{code="200",method="get",route="/hang"}"#;
    let page = scrape_until(&h2, &base, |p| {
        sample(p, &format!("http_requests_total{hang} ")) == Some(2.0)
            && sample(p, "http_requests_in_flight ") == Some(0.0)
    })
    .await;
    assert_eq!(
        sample(&page, &format!("http_requests_total{hang} ")),
        Some(2.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, &format!("http_response_size_bytes_sum{hang} ")),
        Some(22.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, "http_requests_in_flight "),
        Some(0.0),
        "{page}"
    );
    assert_eq!(http.in_flight(), 0);
}

/// Counts the allocations of the current thread, to check that the layer allocates
/// nothing per request once a series exists.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[test]
fn the_layer_allocates_nothing_per_request_once_its_series_exist() {
    use promhttp::instrument::RouteTemplate;
    use tower::{Layer, ServiceExt};

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let hello = tower::service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"hello"))))
    });
    let http = HttpMetrics::builder()
        .label_from_request("tenant", 10, |req| {
            req.headers.get("x-tenant")?.to_str().ok()
        })
        .build()
        .expect("valid configuration");
    let layered = http.layer().layer(hello);
    let count = |layer: bool| {
        rt.block_on(async {
            let before = ALLOCATIONS.with(|a| a.get());
            for _ in 0..100 {
                let req = Request::builder()
                    .uri("/users/7")
                    .header("x-tenant", "acme")
                    .extension(RouteTemplate::new("/users/{id}"))
                    .body(())
                    .expect("request");
                if layer {
                    let resp = layered
                        .clone()
                        .oneshot(req)
                        .await
                        .unwrap_or_else(|e| match e {});
                    let _ = resp.into_body().collect().await;
                } else {
                    let resp = hello.oneshot(req).await.unwrap_or_else(|e| match e {});
                    let _ = resp.into_body().collect().await;
                }
            }
            ALLOCATIONS.with(|a| a.get()) - before
        })
    };
    // The first request makes the series and interns the values.
    let _ = count(true);
    let bare = count(false);
    let with_layer = count(true);
    assert!(bare >= 100, "the counter counts: {bare}");
    assert_eq!(with_layer, bare, "allocations for 100 requests");
    let page = promhttp::gather::gather_all(&http);
    let total: f64 = page
        .families
        .iter()
        .filter(|f| f.name == "http_requests_total")
        .flat_map(|f| &f.metrics)
        .map(|m| match &m.value {
            promhttp::model::Value::Counter(c) => c.value,
            _ => 0.0,
        })
        .sum();
    assert_eq!(total, 200.0);
}
