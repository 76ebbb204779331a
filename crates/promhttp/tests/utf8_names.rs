//! UTF-8 metric and label names: served quoted to a scraper that asked for
//! `escaping=allow-utf-8`, escaped as asked otherwise (`underscores` when nothing
//! was asked), with the `Content-Type` naming the scheme. Golden pages per format
//! and scheme; escaping collisions are errors naming both families.

use promhttp::gather::{from_fn, Gathered};
use promhttp::model::{
    Bucket, CounterValue, HistogramValue, Label, Metric, MetricFamily, MetricType, Value,
};
use promhttp::{ErrorHandling, MetricsHandler};

fn source() -> impl promhttp::Gather {
    from_fn(|out: &mut Gathered| {
        out.families.push(
            MetricFamily::new(
                "http.server.duration",
                "Time per request.",
                MetricType::Histogram,
            )
            .with_unit("seconds")
            .with_metric(Metric::new(
                vec![Label::new("http.method", "GET"), Label::new("route", "/a")],
                Value::Histogram(HistogramValue::new(vec![Bucket::new(0.1, 2)], 3, 0.45)),
            )),
        );
        out.families.push(
            MetricFamily::new("requests.count_total", "Requests.", MetricType::Counter)
                .with_metric(Metric::new(
                    vec![Label::new("größe", "xl")],
                    Value::Counter(CounterValue::new(7.0)),
                )),
        );
        out.families.push(
            MetricFamily::new("weird \"quoted\"\nname", "Odd.", MetricType::Gauge)
                .with_metric(Metric::new(vec![], Value::Gauge(1.5))),
        );
        out.families.push(
            MetricFamily::new("plain_gauge", "Legacy.", MetricType::Gauge)
                .with_metric(Metric::new(vec![Label::new("k", "v")], Value::Gauge(2.0))),
        );
    })
}

async fn scrape(handler: &MetricsHandler, accept: &str) -> (u16, String, String) {
    let request = http::Request::builder()
        .uri("/metrics")
        .header("accept", accept)
        .body(())
        .unwrap();
    let response = handler.respond(&request).await;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn assert_golden(name: &str, got: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/golden/utf8")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display()));
    assert_eq!(got, want, "golden file {name} differs");
}

/// Every text format and scheme, as the scraper negotiated it.
#[tokio::test]
async fn golden_pages_per_format_and_scheme() {
    let handler = MetricsHandler::builder(source()).openmetrics(true).build();
    for (file, accept, content_type) in [
        (
            "text_0.0.4.txt",
            "text/plain;version=0.0.4",
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        (
            "text_1.0.0.txt",
            "text/plain;version=1.0.0",
            "text/plain; version=1.0.0; charset=utf-8",
        ),
        (
            "text_allow-utf-8.txt",
            "text/plain;version=1.0.0;escaping=allow-utf-8",
            "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
        ),
        (
            "text_underscores.txt",
            "text/plain;version=1.0.0;escaping=underscores",
            "text/plain; version=1.0.0; charset=utf-8; escaping=underscores",
        ),
        (
            "text_dots.txt",
            "text/plain;version=1.0.0;escaping=dots",
            "text/plain; version=1.0.0; charset=utf-8; escaping=dots",
        ),
        (
            "text_values.txt",
            "text/plain;version=1.0.0;escaping=values",
            "text/plain; version=1.0.0; charset=utf-8; escaping=values",
        ),
        (
            "openmetrics_allow-utf-8.txt",
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
        ),
        (
            "openmetrics_underscores.txt",
            "application/openmetrics-text;version=1.0.0",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        (
            "openmetrics_dots.txt",
            "application/openmetrics-text;version=1.0.0;escaping=dots",
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=dots",
        ),
        (
            "openmetrics_values.txt",
            "application/openmetrics-text;version=1.0.0;escaping=values",
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=values",
        ),
    ] {
        let (status, ct, body) = scrape(&handler, accept).await;
        assert_eq!(status, 200, "{accept}: {body}");
        assert_eq!(ct, content_type, "{accept}");
        assert_golden(file, &body);
    }
}

/// Prometheus 3's own `Accept` (OpenMetrics 1.0.0 first, allow-utf-8) gets the
/// names as they are; Prometheus 2.42's gets them escaped with underscores.
#[tokio::test]
async fn real_scrapers_headers() {
    let handler = MetricsHandler::builder(source()).openmetrics(true).build();
    let prometheus_3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let (_, ct, body) = scrape(&handler, prometheus_3).await;
    assert!(ct.ends_with("escaping=allow-utf-8"), "{ct}");
    assert!(body.contains("{\"http.server.duration_bucket\","), "{body}");
    let prometheus_2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (_, ct, body) = scrape(&handler, prometheus_2).await;
    assert_eq!(
        ct,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(
        body.contains("\nhttp_server_duration_bucket{http_method=\"GET\""),
        "{body}"
    );
    assert!(!body.contains("http.server"), "{body}");
}

/// Protobuf carries names as strings: raw with allow-utf-8, escaped otherwise.
#[tokio::test]
async fn protobuf_names() {
    let handler = MetricsHandler::builder(source()).build();
    let proto = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
    let get = |accept: String| {
        let handler = handler.clone();
        async move {
            let request = http::Request::builder()
                .uri("/metrics")
                .header("accept", accept)
                .body(())
                .unwrap();
            let response = handler.respond(&request).await;
            let ct = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            (ct, body)
        }
    };
    let has = |b: &[u8], s: &str| b.windows(s.len()).any(|w| w == s.as_bytes());
    let (ct, body) = get(proto.to_owned()).await;
    assert_eq!(
        ct,
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    );
    assert!(has(&body, "http_server_duration") && !has(&body, "http.server.duration"));
    let (ct, body) = get(format!("{proto};escaping=allow-utf-8")).await;
    assert!(ct.ends_with("; escaping=allow-utf-8"), "{ct}");
    assert!(has(&body, "http.server.duration") && has(&body, "größe"));
}

/// `a.b` and `a_b` are one name once escaped: the scrape fails naming both (the
/// default error handling), or, continuing on errors, the page keeps `a_b`.
#[tokio::test]
async fn escaping_collisions_name_both_families() {
    let colliding = || {
        from_fn(|out: &mut Gathered| {
            for (name, v) in [("a.b", 1.0), ("a_b", 2.0)] {
                out.families.push(
                    MetricFamily::new(name, "", MetricType::Gauge)
                        .with_metric(Metric::new(vec![], Value::Gauge(v))),
                );
            }
        })
    };
    let handler = MetricsHandler::builder(colliding()).build();
    let (status, _, body) = scrape(&handler, "text/plain;version=0.0.4").await;
    assert_eq!(status, 500);
    assert!(
        body.contains(
            "metric names \"a_b\" and \"a.b\" are both \"a_b\" with escaping=underscores"
        ),
        "{body}"
    );
    let handler = MetricsHandler::builder(colliding())
        .error_handling(ErrorHandling::Continue)
        .build();
    let (status, _, body) = scrape(&handler, "text/plain").await;
    assert_eq!((status, body.as_str()), (200, "# TYPE a_b gauge\na_b 2\n"));
    // Asked for UTF-8 names, there is no collision.
    let (status, _, body) = scrape(&handler, "text/plain;version=1.0.0;escaping=allow-utf-8").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        "# TYPE \"a.b\" gauge\n{\"a.b\"} 1\n# TYPE a_b gauge\na_b 2\n"
    );
}

/// A real Prometheus 2.42 (no UTF-8 names; it asks for OpenMetrics 1.0.0 without an
/// `escaping` parameter) scrapes the UTF-8 names escaped with underscores and
/// stores them under those names.
#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn prometheus_2_42_stores_escaped_names() {
    use promhttp_test_support::Prometheus;
    use std::time::Duration;

    let app = axum::Router::new().route_service(
        "/metrics",
        MetricsHandler::builder(source()).openmetrics(true).build(),
    );
    // Served until the end of the test (stopped on drop).
    let server = promhttp_test_support::serve(app).await;
    let addr = server.addr;
    let prom = Prometheus::builder(addr)
        .scrape_interval(Duration::from_millis(500))
        .scrape_timeout(Duration::from_millis(400))
        .start()
        .await;
    prom.expect_target_up(Duration::from_secs(30)).await;
    for (query, want) in [
        (r#"http_server_duration_count{http_method="GET"}"#, 3.0),
        (r#"requests_count_total{gr__e="xl"}"#, 7.0),
        ("weird__quoted__name", 1.5),
    ] {
        let got = prom
            .wait_for_query(query, |r| !r.is_empty(), Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}\n{}", prom.log_tail(30)));
        assert_eq!(got.len(), 1, "{query}: {got:?}");
        assert_eq!(got[0].1, want, "{query}");
    }
}
