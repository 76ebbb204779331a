//! The `reqwest-middleware` integration against a local axum server: exact request
//! counts by method and code, a transport error counted once as `code="error"`, the
//! in-flight gauge back to 0 (also after a dropped future), one count per pass
//! through the middleware when another middleware sends twice, and the families on
//! the page served by `MetricsHandler`. Loopback only, plain `http://`; every wait
//! is bounded.
#![cfg(feature = "reqwest")]

use promhttp_test_support as support;
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use http::Extensions;
use promhttp::instrument::client::reqwest::ClientInstrumentMiddleware;
use promhttp::instrument::client::ClientMetrics;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};

async fn server() -> SocketAddr {
    let app = Router::new()
        .route("/ok", get(|| async { "ok" }).post(|| async { "posted" }))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "fail") }),
        )
        .route(
            "/slow",
            // Never answers: the client gives up (or is dropped) first.
            get(std::future::pending::<&'static str>),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn inner_client() -> reqwest::Client {
    // No proxy from the environment: the requests go straight to the loopback.
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
}

fn client(metrics: &ClientMetrics) -> ClientWithMiddleware {
    ClientBuilder::new(inner_client())
        .with(metrics.reqwest_middleware())
        .build()
}

async fn send(client: &ClientWithMiddleware, method: &str, url: &str) -> Result<u16, String> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(10), client.request(method, url).send())
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    tokio::time::timeout(Duration::from_secs(10), resp.bytes())
        .await
        .map_err(|_| "body timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    Ok(status)
}

/// The text 0.0.4 page a default `MetricsHandler` serves for `metrics`.
async fn page(metrics: &ClientMetrics) -> String {
    let handler = promhttp::MetricsHandler::builder(metrics.clone()).build();
    let req = http::Request::get("/metrics").body(()).expect("request");
    let resp = handler.respond(&req).await;
    assert_eq!(resp.status(), 200);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("page body")
        .to_bytes();
    String::from_utf8(body.to_vec()).expect("UTF-8 page")
}

use support::sample;

fn total(page: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with("http_client_requests_total{"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

fn closed_port() -> u16 {
    // Bind, note the port, close.
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("address").port()
}

#[tokio::test]
async fn requests_are_counted_once_by_method_and_code() {
    let addr = server().await;
    let metrics = ClientMetrics::builder()
        .const_label("upstream", "local")
        .build()
        .expect("valid configuration");
    let client = client(&metrics);
    let base = format!("http://{addr}");
    for _ in 0..3 {
        assert_eq!(send(&client, "GET", &format!("{base}/ok")).await, Ok(200));
    }
    assert_eq!(send(&client, "POST", &format!("{base}/ok")).await, Ok(200));
    assert_eq!(
        send(&client, "GET", &format!("{base}/missing")).await,
        Ok(404)
    );
    for _ in 0..2 {
        assert_eq!(send(&client, "GET", &format!("{base}/fail")).await, Ok(500));
    }
    // A method outside the allow-list is `unknown`, as on the server.
    assert_eq!(send(&client, "FOO", &format!("{base}/ok")).await, Ok(405));

    let err = send(
        &client,
        "GET",
        &format!("http://127.0.0.1:{}/", closed_port()),
    )
    .await;
    assert!(err.is_err(), "{err:?}");
    assert_eq!(metrics.in_flight(), 0);

    let text = page(&metrics).await;
    let count = |labels: &str| sample(&text, &format!("http_client_requests_total{{{labels}}} "));
    for (labels, n) in [
        ("code=\"200\",method=\"get\",upstream=\"local\"", 3.0),
        ("code=\"200\",method=\"post\",upstream=\"local\"", 1.0),
        ("code=\"404\",method=\"get\",upstream=\"local\"", 1.0),
        ("code=\"500\",method=\"get\",upstream=\"local\"", 2.0),
        ("code=\"405\",method=\"unknown\",upstream=\"local\"", 1.0),
        ("code=\"error\",method=\"get\",upstream=\"local\"", 1.0),
    ] {
        assert_eq!(count(labels), Some(n), "{labels}:\n{text}");
    }
    assert_eq!(total(&text), 9.0, "one count per request:\n{text}");
    assert_eq!(
        sample(
            &text,
            "http_client_request_duration_seconds_count{code=\"200\",method=\"get\",upstream=\"local\"} "
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "http_client_request_duration_seconds_count{code=\"error\",method=\"get\",upstream=\"local\"} "
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "http_client_requests_in_flight{upstream=\"local\"} "),
        Some(0.0),
        "{text}"
    );
    for family in [
        "# TYPE http_client_requests_total counter",
        "# TYPE http_client_request_duration_seconds histogram",
        "# TYPE http_client_requests_in_flight gauge",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
}

#[tokio::test]
async fn a_dropped_request_is_not_counted_and_leaves_flight() {
    let addr = server().await;
    let metrics = ClientMetrics::new();
    let client = client(&metrics);
    let mut fut = Box::pin(client.get(format!("http://{addr}/slow")).send());
    // Drop it once it is in flight.
    tokio::select! {
        _ = &mut fut => panic!("the slow route answered"),
        () = support::wait_until("the request in flight", Duration::from_secs(10), || {
            metrics.in_flight() == 1
        }) => {}
    }
    drop(fut);
    assert_eq!(metrics.in_flight(), 0);
    let text = page(&metrics).await;
    assert!(!text.contains("http_client_requests_total{"), "{text}");
    assert_eq!(
        sample(&text, "http_client_requests_in_flight "),
        Some(0.0),
        "{text}"
    );
}

#[tokio::test]
async fn in_flight_counts_requests_waiting_for_their_head() {
    let addr = server().await;
    let metrics = ClientMetrics::new();
    let client = client(&metrics);
    let url = format!("http://{addr}/slow");
    let task = tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metrics.in_flight() != 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(metrics.in_flight(), 1);
    task.abort();
    let _ = task.await;
    assert_eq!(metrics.in_flight(), 0);
}

/// Sends every request twice down the rest of the chain (a crude retry), returning
/// the second outcome.
struct SendTwice;

#[async_trait::async_trait]
impl Middleware for SendTwice {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let copy = req.try_clone().expect("a request without a streamed body");
        let first = next.clone().run(copy, extensions).await;
        drop(first);
        next.run(req, extensions).await
    }
}

#[tokio::test]
async fn each_pass_through_the_middleware_counts() {
    let addr = server().await;
    let url = format!("http://{addr}/ok");

    // Inside the retrying middleware: every attempt is counted.
    let metrics = ClientMetrics::new();
    let client = ClientBuilder::new(inner_client())
        .with(SendTwice)
        .with(ClientInstrumentMiddleware::new(metrics.clone()))
        .build();
    assert_eq!(send(&client, "GET", &url).await, Ok(200));
    let text = page(&metrics).await;
    assert_eq!(
        sample(
            &text,
            "http_client_requests_total{code=\"200\",method=\"get\"} "
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(metrics.in_flight(), 0);

    // Outside it: the request is counted once, with the last outcome.
    let metrics = ClientMetrics::new();
    let client = ClientBuilder::new(inner_client())
        .with(metrics.reqwest_middleware())
        .with(SendTwice)
        .build();
    assert_eq!(send(&client, "GET", &url).await, Ok(200));
    let text = page(&metrics).await;
    assert_eq!(total(&text), 1.0, "{text}");
    assert_eq!(metrics.in_flight(), 0);

    // A refused connection, attempted twice inside: two errors, nothing in flight.
    let metrics = ClientMetrics::new();
    let client = ClientBuilder::new(inner_client())
        .with(SendTwice)
        .with(metrics.reqwest_middleware())
        .build();
    let err = send(
        &client,
        "GET",
        &format!("http://127.0.0.1:{}/", closed_port()),
    )
    .await;
    assert!(err.is_err(), "{err:?}");
    let text = page(&metrics).await;
    assert_eq!(
        sample(
            &text,
            "http_client_requests_total{code=\"error\",method=\"get\"} "
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(metrics.in_flight(), 0);
}
