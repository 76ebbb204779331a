//! The client instrumentation around hyper-util's legacy client with the
//! `InstrumentedConnector`, against a local axum server: exact round-trip counts by
//! method and code, transport errors counted once as `code="error"`, the in-flight
//! gauge back to 0 (also after a dropped future), DNS and connect histograms, and
//! the families on the page served by `MetricsHandler`. Loopback only; every wait is
//! bounded.
#![cfg(feature = "hyper-client")]

use promhttp_test_support as support;
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use promhttp::instrument::client::{ClientInstrumentService, ClientMetrics, InstrumentedConnector};
use tower::ServiceExt;

type Instrumented = ClientInstrumentService<Client<InstrumentedConnector, Empty<Bytes>>>;

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

fn client(metrics: &ClientMetrics) -> Instrumented {
    let inner = Client::builder(TokioExecutor::new()).build(InstrumentedConnector::new(metrics));
    ClientInstrumentService::new(inner, metrics.clone())
}

async fn round_trip(client: &Instrumented, method: &str, uri: &str) -> Result<u16, String> {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(10), client.clone().oneshot(req))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect())
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

#[tokio::test]
async fn round_trips_are_counted_once_by_method_and_code() {
    let addr = server().await;
    let metrics = ClientMetrics::builder()
        .const_label("upstream", "local")
        .build()
        .expect("valid configuration");
    let client = client(&metrics);
    // `localhost` goes through the resolver; the port is the server's.
    let base = format!("http://localhost:{}", addr.port());
    for _ in 0..3 {
        assert_eq!(
            round_trip(&client, "GET", &format!("{base}/ok")).await,
            Ok(200)
        );
    }
    assert_eq!(
        round_trip(&client, "POST", &format!("{base}/ok")).await,
        Ok(200)
    );
    assert_eq!(
        round_trip(&client, "GET", &format!("{base}/missing")).await,
        Ok(404)
    );
    assert_eq!(
        round_trip(&client, "GET", &format!("{base}/fail")).await,
        Ok(500)
    );
    assert_eq!(
        round_trip(&client, "GET", &format!("{base}/fail")).await,
        Ok(500)
    );
    // A method outside the allow-list is `unknown`, as on the server.
    assert_eq!(
        round_trip(&client, "FOO", &format!("{base}/ok")).await,
        Ok(405)
    );

    // A closed port: bind, note the port, close.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("address").port()
    };
    let err = round_trip(&client, "GET", &format!("http://127.0.0.1:{closed}/")).await;
    assert!(err.is_err(), "{err:?}");
    assert_eq!(metrics.in_flight(), 0);

    let text = page(&metrics).await;
    let count = |labels: &str| sample(&text, &format!("http_client_requests_total{{{labels}}} "));
    assert_eq!(
        count("code=\"200\",method=\"get\",upstream=\"local\""),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        count("code=\"200\",method=\"post\",upstream=\"local\""),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count("code=\"404\",method=\"get\",upstream=\"local\""),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count("code=\"500\",method=\"get\",upstream=\"local\""),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        count("code=\"405\",method=\"unknown\",upstream=\"local\""),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count("code=\"error\",method=\"get\",upstream=\"local\""),
        Some(1.0),
        "{text}"
    );
    let total: f64 = text
        .lines()
        .filter(|l| l.starts_with("http_client_requests_total{"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum();
    assert_eq!(total, 9.0, "one count per round trip:\n{text}");
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
    // `localhost` was resolved at least once (the pool may reuse connections), and
    // connections were made, one of them refused.
    let dns_ok = sample(
        &text,
        "http_client_dns_duration_seconds_count{result=\"ok\",upstream=\"local\"} ",
    );
    assert!(dns_ok.is_some_and(|n| n >= 1.0), "{text}");
    let connect_ok = sample(
        &text,
        "http_client_connect_duration_seconds_count{result=\"ok\",upstream=\"local\"} ",
    );
    assert!(connect_ok.is_some_and(|n| n >= 1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "http_client_connect_duration_seconds_count{result=\"error\",upstream=\"local\"} "
        ),
        Some(1.0),
        "{text}"
    );
    for family in [
        "# TYPE http_client_requests_total counter",
        "# TYPE http_client_request_duration_seconds histogram",
        "# TYPE http_client_requests_in_flight gauge",
        "# TYPE http_client_dns_duration_seconds histogram",
        "# TYPE http_client_connect_duration_seconds histogram",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
}

#[tokio::test]
async fn a_dropped_round_trip_is_not_counted_and_leaves_flight() {
    let addr = server().await;
    let metrics = ClientMetrics::new();
    let client = client(&metrics);
    let req = Request::get(format!("http://{addr}/slow"))
        .body(Empty::new())
        .expect("request");
    let mut fut = Box::pin(client.clone().oneshot(req));
    // Drop it once it is in flight on a connection it made.
    let connected = "http_client_connect_duration_seconds_count{result=\"ok\"} ";
    let in_flight_and_connected = support::eventually(
        "the round trip in flight, connected",
        Duration::from_secs(10),
        || async {
            let connects = sample(&page(&metrics).await, connected);
            match (metrics.in_flight(), connects) {
                (1, Some(1.0)) => Ok(()),
                (in_flight, connects) => {
                    Err(format!("{in_flight} in flight, {connects:?} connects"))
                }
            }
        },
    );
    tokio::select! {
        _ = &mut fut => panic!("the slow route answered"),
        () = in_flight_and_connected => {}
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
    // The connection itself was made (to an IP address: no DNS).
    assert_eq!(sample(&text, connected), Some(1.0), "{text}");
    assert!(
        !text.contains("http_client_dns_duration_seconds_count{"),
        "{text}"
    );
}

#[tokio::test]
async fn in_flight_counts_round_trips_waiting_for_their_head() {
    let addr = server().await;
    let metrics = ClientMetrics::new();
    let client = client(&metrics);
    let req = Request::get(format!("http://{addr}/slow"))
        .body(Empty::new())
        .expect("request");
    let task = tokio::spawn(client.clone().oneshot(req));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metrics.in_flight() != 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(metrics.in_flight(), 1);
    task.abort();
    let _ = task.await;
    assert_eq!(metrics.in_flight(), 0);
}
