//! A real Prometheus (2.42, Debian's `prometheus` package) scrapes an axum server
//! that serves our handler, in each of the three wire formats, and we read the
//! values back through its query API: exact sample values, hostile label values,
//! help text, and the `Content-Type` the server actually answered with.
//!
//! Needs `prometheus` and `promtool` (scripts/install-test-deps.sh): the tests are
//! `#[ignore]`d for that reason, and `scripts/test.sh` runs them.

use promhttp_test_support as support;

use std::time::{Duration, Instant};

use promhttp::prometheus::{Gauge, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use support::{Labels, Prometheus, TestServer};

// --- what we expose -------------------------------------------------------------

const COUNTER_NAME: &str = "promhttp_test_requests_total";
const COUNTER_HELP: &str = "Requests served, by user.";
const COUNTER_LABEL: &str = "user";
/// A label value that needs every escape the text formats have, and UTF-8.
const HOSTILE_LABEL_VALUE: &str = "quote\" backslash\\ newline\n tab\t Björn 佖";
/// `(user label value, counter value)`. 2^53 is the largest integer a float
/// carries exactly, and prints in exponent form in most float formatters.
const COUNTER_SAMPLES: [(&str, u64); 3] =
    [("alice", 42), (HOSTILE_LABEL_VALUE, 7), ("big", 1 << 53)];

const GAUGE_NAME: &str = "promhttp_test_temperature_celsius";
/// Help text with a backslash, a newline and UTF-8 (no `"`: OpenMetrics escapes it
/// and Prometheus 2.42's OpenMetrics parser does not unescape it in help).
const GAUGE_HELP: &str = "Temperature in Celsius. Backslash \\ newline \n Björn 佖.";
const GAUGE_VALUE: f64 = -3.5;

const HISTOGRAM_NAME: &str = "promhttp_test_request_duration_seconds";
const HISTOGRAM_HELP: &str = "Request latency.";
const HISTOGRAM_LABEL: (&str, &str) = ("handler", "/api/v1/things");
const HISTOGRAM_BUCKETS: [f64; 4] = [0.1, 0.5, 1.0, 5.0];
/// Binary fractions, so the sum is exact whatever the order of addition.
const OBSERVATIONS: [f64; 6] = [0.0625, 0.25, 0.25, 0.75, 3.0, 10.0];
/// Cumulative count per bucket upper bound (`le`), `+Inf` last.
const EXPECTED_BUCKETS: [(f64, f64); 5] = [
    (0.1, 1.0),
    (0.5, 3.0),
    (1.0, 4.0),
    (5.0, 5.0),
    (f64::INFINITY, 6.0),
];
const EXPECTED_SUM: f64 = 14.3125;
const EXPECTED_COUNT: f64 = 6.0;

// --- the wire ---------------------------------------------------------------------

const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
/// What Prometheus 2.42 sends by default.
const PROMETHEUS_2_42_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// What Prometheus 2.42 sends with `--enable-feature=native-histograms`.
const PROMETHEUS_2_42_ACCEPT_PROTOBUF: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

const TARGET_UP_TIMEOUT: Duration = Duration::from_secs(20);
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

// --- setup ------------------------------------------------------------------------

/// A registry holding every sample above.
fn sample_registry() -> Registry {
    let registry = Registry::new();

    let counter =
        IntCounterVec::new(Opts::new(COUNTER_NAME, COUNTER_HELP), &[COUNTER_LABEL]).unwrap();
    for (user, value) in COUNTER_SAMPLES {
        counter.with_label_values(&[user]).inc_by(value);
    }
    registry.register(Box::new(counter)).unwrap();

    let gauge = Gauge::with_opts(Opts::new(GAUGE_NAME, GAUGE_HELP)).unwrap();
    gauge.set(GAUGE_VALUE);
    registry.register(Box::new(gauge)).unwrap();

    let histogram = HistogramVec::new(
        HistogramOpts::new(HISTOGRAM_NAME, HISTOGRAM_HELP).buckets(HISTOGRAM_BUCKETS.to_vec()),
        &[HISTOGRAM_LABEL.0],
    )
    .unwrap();
    for v in OBSERVATIONS {
        histogram.with_label_values(&[HISTOGRAM_LABEL.1]).observe(v);
    }
    registry.register(Box::new(histogram)).unwrap();

    registry
}

/// Serves the sample registry at `/metrics` through our handler.
async fn serve_samples(openmetrics: bool) -> TestServer {
    let handler = promhttp::MetricsHandler::builder(sample_registry())
        .openmetrics(openmetrics)
        .build();
    support::serve(axum::Router::new().route_service("/metrics", handler)).await
}

/// Our server plus a Prometheus (with `flags`) that has scraped it successfully.
async fn scraped(openmetrics: bool, flags: &[&str]) -> (TestServer, Prometheus) {
    let server = serve_samples(openmetrics).await;
    let prom = Prometheus::start(server.addr, flags).await;
    prom.expect_target_up(TARGET_UP_TIMEOUT).await;
    (server, prom)
}

// --- checks -----------------------------------------------------------------------

/// The series of `name`, waiting until there are `n` of them.
async fn series(prom: &Prometheus, name: &str, n: usize) -> Vec<(Labels, f64)> {
    prom.wait_for_query(name, |s| s.len() == n, QUERY_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n--- prometheus log ---\n{}", prom.log_tail(20)))
}

/// Everything in the sample registry reads back exactly through `/api/v1/query`.
async fn assert_values_read_back(prom: &Prometheus) {
    // Counter, including the hostile label value, compared as decoded JSON.
    let counters = series(prom, COUNTER_NAME, COUNTER_SAMPLES.len()).await;
    for (user, value) in COUNTER_SAMPLES {
        let found = counters
            .iter()
            .find(|(labels, _)| labels.get(COUNTER_LABEL).map(String::as_str) == Some(user))
            .unwrap_or_else(|| {
                let seen: Vec<_> = counters.iter().map(|(l, _)| l.get(COUNTER_LABEL)).collect();
                panic!("{COUNTER_NAME}{{{COUNTER_LABEL}={user:?}}} not found; label values seen: {seen:?}")
            });
        assert_eq!(
            found.1, value as f64,
            "{COUNTER_NAME}{{{COUNTER_LABEL}={user:?}}}"
        );
        let names: Vec<&str> = found.0.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["__name__", "instance", "job", COUNTER_LABEL],
            "labels of {found:?}"
        );
    }

    // Gauge.
    let gauges = series(prom, GAUGE_NAME, 1).await;
    assert_eq!(gauges[0].1, GAUGE_VALUE, "{GAUGE_NAME}: {gauges:?}");

    // Histogram: every cumulative bucket, `_sum`, `_count`. `le` is compared as a
    // number: text writes `1`, OpenMetrics `1.0`, protobuf whatever Prometheus makes.
    let buckets = series(
        prom,
        &format!("{HISTOGRAM_NAME}_bucket"),
        EXPECTED_BUCKETS.len(),
    )
    .await;
    let mut got: Vec<(f64, f64)> = buckets
        .iter()
        .map(|(labels, v)| {
            assert_eq!(
                labels.get(HISTOGRAM_LABEL.0).map(String::as_str),
                Some(HISTOGRAM_LABEL.1)
            );
            let le = labels
                .get("le")
                .unwrap_or_else(|| panic!("bucket without le: {labels:?}"));
            (
                support::parse_prom_float(le).unwrap_or_else(|| panic!("bad le {le:?}")),
                *v,
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(got, EXPECTED_BUCKETS, "{HISTOGRAM_NAME}_bucket");
    let sum = series(prom, &format!("{HISTOGRAM_NAME}_sum"), 1).await;
    assert_eq!(sum[0].1, EXPECTED_SUM, "{HISTOGRAM_NAME}_sum");
    let count = series(prom, &format!("{HISTOGRAM_NAME}_count"), 1).await;
    assert_eq!(count[0].1, EXPECTED_COUNT, "{HISTOGRAM_NAME}_count");

    // Help text with escapes, through the metadata API.
    let deadline = Instant::now() + QUERY_TIMEOUT;
    let help = loop {
        let meta = prom.metadata(GAUGE_NAME).await.unwrap_or_default();
        if let Some(help) = meta.first().and_then(|m| m["help"].as_str()) {
            break help.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no metadata for {GAUGE_NAME}: {meta:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(help, GAUGE_HELP, "help of {GAUGE_NAME}");
}

/// Every scrape Prometheus made succeeded with `content_type`, after Prometheus
/// sent `accept`; and was gzip-compressed (Prometheus always accepts gzip) when
/// the `gzip` feature is on.
fn assert_prometheus_got(server: &TestServer, content_type: &str, accept: &str) {
    let scrapes = server.prometheus_exchanges();
    assert!(
        !scrapes.is_empty(),
        "no scrape from Prometheus recorded: {:?}",
        server.exchanges()
    );
    let encoding = if cfg!(feature = "gzip") { "gzip" } else { "" };
    for s in &scrapes {
        assert_eq!(s.status, 200, "{s:?}");
        assert_eq!(s.content_type, content_type, "{s:?}");
        assert_eq!(
            s.accept, accept,
            "Prometheus sent another Accept than this test assumes: {s:?}"
        );
        assert_eq!(s.accept_encoding, "gzip", "{s:?}");
        assert_eq!(s.content_encoding, encoding, "{s:?}");
    }
}

// --- tests ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn text_scrape_reads_back_exact_values() {
    let (server, prom) = scraped(false, &[]).await;
    assert_values_read_back(&prom).await;
    assert_prometheus_got(&server, TEXT_CONTENT_TYPE, PROMETHEUS_2_42_ACCEPT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn openmetrics_scrape_reads_back_exact_values() {
    let (server, prom) = scraped(true, &[]).await;
    assert_values_read_back(&prom).await;
    assert_prometheus_got(&server, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_2_42_ACCEPT);

    // The same negotiation, by hand.
    let (status, headers, body) = support::http_get(
        &server.url("/metrics"),
        &[("accept", PROMETHEUS_2_42_ACCEPT)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        support::header_str(&headers, "content-type"),
        OPENMETRICS_CONTENT_TYPE
    );
    assert!(
        body.ends_with(b"# EOF\n"),
        "OpenMetrics body must end with `# EOF\\n`:\n{}",
        String::from_utf8_lossy(&body)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn protobuf_scrape_reads_back_exact_values() {
    // With native histograms on, Prometheus 2.42 asks for protobuf first.
    let (server, prom) = scraped(true, &["--enable-feature=native-histograms"]).await;
    assert_values_read_back(&prom).await;
    assert_prometheus_got(
        &server,
        PROTOBUF_CONTENT_TYPE,
        PROMETHEUS_2_42_ACCEPT_PROTOBUF,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs promtool: run scripts/install-test-deps.sh"]
async fn promtool_accepts_text_output() {
    let server = serve_samples(true).await;
    let (status, headers, body) =
        support::http_get(&server.url("/metrics"), &[("accept", "text/plain")]).await;
    assert_eq!(status, 200);
    assert_eq!(
        support::header_str(&headers, "content-type"),
        TEXT_CONTENT_TYPE
    );
    let text = String::from_utf8_lossy(&body);
    for name in [COUNTER_NAME, GAUGE_NAME, HISTOGRAM_NAME] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    if let Err(problems) = support::promtool_check_metrics(&body) {
        panic!("{problems}\n--- body ---\n{text}");
    }
}
