//! A real Prometheus 2.42 scrapes an axum server serving a `promhttp::metrics`
//! registry (promhttp's own storage) in each wire format, and we read back, through
//! its query API, what was recorded:
//!
//! - text 0.0.4 and OpenMetrics: every counter, gauge, callback and info sample
//!   exactly, the classic histogram bucket by bucket, the classic side of a dual
//!   histogram, and the `+Inf`/`_sum`/`_count` a native-only one shows there;
//! - protobuf with `--enable-feature=native-histograms`: the same floats, and the
//!   dual and native-only histograms stored as native histograms (the query API
//!   answers a `histogram`, bucket counts as observed), with
//!   `histogram_quantile(0.9, rate(..[1m]))` within one bucket's width of the
//!   true 0.9-quantile of what was observed;
//! - with `--enable-feature=exemplar-storage`: the exemplars carry the trace ids
//!   recorded;
//! - `promtool check metrics` accepts the text page.
//!
//! Needs `prometheus` and `promtool` (scripts/install-test-deps.sh): the tests are
//! `#[ignore]`d for that reason, and `scripts/test.sh` runs them. Everything is on
//! 127.0.0.1 and every wait is bounded.
#![cfg(feature = "axum")]

use promhttp_test_support as support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promhttp::metrics::{
    Counter, GaugeFunc, GaugeVec, Histogram, HistogramOpts, HistogramVec, Info, IntCounterVec,
    NativeBuckets, Opts, Registry,
};
use promhttp::MetricsHandler;
use serde_json::Value;
use support::{Labels, Prometheus, TestServer};

// --- what we record ----------------------------------------------------------------

const REQUESTS: &str = "own_requests_total";
/// `(user, count)`; 2^53 is the largest integer a float carries exactly.
const REQUESTS_BY_USER: [(&str, u64); 3] = [
    ("alice", 42),
    ("quote\" backslash\\ newline\n Björn 佖", 7),
    ("big", 1 << 53),
];

const JOBS: &str = "own_jobs_total";
/// Increments of the float counter; the last one carries an exemplar.
const JOB_INCREMENTS: [f64; 2] = [1.5, 2.5];
const JOBS_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

const TEMPERATURE: &str = "own_temperature_celsius";
const TEMPERATURE_VALUE: f64 = -3.5;

const QUEUE_DEPTH: &str = "own_queue_depth";
const QUEUE_DEPTH_VALUE: f64 = 17.0;

const BUILD_INFO: &str = "own_build_info";
const BUILD_VERSION: &str = "1.2.3";

const CLASSIC: &str = "own_request_duration_seconds";
const CLASSIC_BUCKETS: [f64; 4] = [0.1, 0.5, 1.0, 5.0];
/// Binary fractions: the sum is exact whatever the order of addition. The 0.75 is
/// recorded with an exemplar.
const CLASSIC_OBSERVATIONS: [f64; 6] = [0.0625, 0.25, 0.25, 0.75, 3.0, 10.0];
const CLASSIC_EXEMPLAR: (f64, &str) = (0.75, "4bf92f3577b34da6a3ce929d0e0e4736");
/// Cumulative count per `le`, `+Inf` last.
const CLASSIC_EXPECTED: [(f64, f64); 5] = [
    (0.1, 1.0),
    (0.5, 3.0),
    (1.0, 4.0),
    (5.0, 5.0),
    (f64::INFINITY, 6.0),
];

const DUAL: &str = "own_dual_seconds";
const NATIVE: &str = "own_native_seconds";
/// One observation of the dual histogram carries an exemplar (classic bucket 0.05).
const DUAL_EXEMPLAR: (f64, &str) = (0.042, "b7ad6b7169203331b7ad6b7169203331");
/// Observations per batch: log-uniform from 0.001 to 10.
const BATCH: usize = 1000;
/// `NativeBuckets::default()`: bucket bounds grow by 2^(1/8).
const SCHEMA: i32 = 3;

/// The batch both native histograms observe: `BATCH` values log-uniform over
/// [0.001, 10], in increasing order.
fn batch() -> Vec<f64> {
    (0..BATCH)
        .map(|i| 0.001 * 10f64.powf(4.0 * i as f64 / (BATCH - 1) as f64))
        .collect()
}

/// The metrics above, recorded, in one registry; the histograms are kept to
/// observe a second batch.
struct Own {
    registry: Arc<Registry>,
    dual: Histogram,
    native: Histogram,
}

fn own() -> Own {
    let registry = Registry::new();

    let requests =
        IntCounterVec::new(Opts::new(REQUESTS, "Requests, by user."), &["user"]).unwrap();
    for (user, n) in REQUESTS_BY_USER {
        requests.with_label_values(&[user]).inc_by(n);
    }
    registry.register(Box::new(requests)).unwrap();

    let jobs = Counter::new(JOBS, "Jobs done.").unwrap();
    jobs.inc_by(JOB_INCREMENTS[0]);
    jobs.inc_by_with_exemplar(JOB_INCREMENTS[1], &[("trace_id", JOBS_TRACE)]);
    registry.register(Box::new(jobs)).unwrap();

    let temperature = GaugeVec::new(Opts::new(TEMPERATURE, "Temperature."), &["room"]).unwrap();
    temperature
        .with_label_values(&["lab"])
        .set(TEMPERATURE_VALUE);
    registry.register(Box::new(temperature)).unwrap();

    let depth =
        GaugeFunc::new(Opts::new(QUEUE_DEPTH, "Queued jobs."), || QUEUE_DEPTH_VALUE).unwrap();
    registry.register(depth).unwrap();

    let info =
        Info::new(Opts::new(BUILD_INFO, "Build facts.").const_label("version", BUILD_VERSION))
            .unwrap();
    registry.register(info).unwrap();

    let classic = HistogramVec::new(
        HistogramOpts::new(CLASSIC, "Request latency.").buckets(CLASSIC_BUCKETS.to_vec()),
        &["handler"],
    )
    .unwrap();
    let h = classic.with_label_values(&["/api"]);
    for v in CLASSIC_OBSERVATIONS {
        if v == CLASSIC_EXEMPLAR.0 {
            h.observe_with_exemplar(v, &[("trace_id", CLASSIC_EXEMPLAR.1)]);
        } else {
            h.observe(v);
        }
    }
    registry.register(Box::new(classic)).unwrap();

    let dual = Histogram::with_opts(
        HistogramOpts::new(DUAL, "Work time, classic and native buckets.")
            .native(NativeBuckets::default()),
    )
    .unwrap();
    let native = Histogram::with_opts(
        HistogramOpts::new(NATIVE, "Work time, native buckets only.")
            .native_only(NativeBuckets::default()),
    )
    .unwrap();
    for v in batch() {
        dual.observe(v);
        native.observe(v);
    }
    dual.observe_with_exemplar(DUAL_EXEMPLAR.0, &[("trace_id", DUAL_EXEMPLAR.1)]);
    registry.register(Box::new(dual.clone())).unwrap();
    registry.register(Box::new(native.clone())).unwrap();

    Own {
        registry: Arc::new(registry),
        dual,
        native,
    }
}

/// Observations in the dual histogram after `batches` batches (plus its exemplar).
fn dual_count(batches: usize) -> usize {
    batches * BATCH + 1
}

// --- serving and scraping ----------------------------------------------------------

const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
const TARGET_UP_TIMEOUT: Duration = Duration::from_secs(30);
const QUERY_TIMEOUT: Duration = Duration::from_secs(20);

/// Serves `registry` at `/metrics`; `openmetrics(false)` leaves text and protobuf.
async fn serve(registry: Arc<Registry>, openmetrics: bool) -> TestServer {
    let handler = MetricsHandler::builder(registry)
        .openmetrics(openmetrics)
        .build();
    support::serve(axum::Router::new().route_service("/metrics", handler)).await
}

/// A Prometheus with `flags` scraping `server` every 500 ms, its target up.
async fn scraping(server: &TestServer, flags: &[&str]) -> Prometheus {
    let prom = Prometheus::builder(server.addr)
        .flags(flags)
        .scrape_interval(Duration::from_millis(500))
        .scrape_timeout(Duration::from_millis(400))
        .start()
        .await;
    prom.expect_target_up(TARGET_UP_TIMEOUT).await;
    prom
}

/// Every scrape of `server` so far was answered 200 with `content_type`.
fn assert_scraped_as(server: &TestServer, content_type: &str) {
    let scrapes = server.prometheus_exchanges();
    assert!(
        !scrapes.is_empty(),
        "no scrape recorded: {:?}",
        server.exchanges()
    );
    for s in &scrapes {
        assert_eq!(
            (s.status, s.content_type.as_str()),
            (200, content_type),
            "{s:?}"
        );
    }
}

// --- reading back -----------------------------------------------------------------

/// The series of `expr`, once there are `n`.
async fn series(prom: &Prometheus, expr: &str, n: usize) -> Vec<(Labels, f64)> {
    prom.wait_for_query(expr, |s| s.len() == n, QUERY_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n--- prometheus log ---\n{}", prom.log_tail(20)))
}

/// The one value of `expr`, once there is one.
async fn value(prom: &Prometheus, expr: &str) -> f64 {
    series(prom, expr, 1).await[0].1
}

fn le_of(labels: &Labels) -> f64 {
    let le = labels
        .get("le")
        .unwrap_or_else(|| panic!("no le in {labels:?}"));
    support::parse_prom_float(le).unwrap_or_else(|| panic!("bad le {le:?}"))
}

/// Counters, gauges, the callback gauge, the info metric and the classic histogram,
/// exactly as recorded: the same in every format.
async fn assert_floats_read_back(prom: &Prometheus) {
    let requests = series(prom, REQUESTS, REQUESTS_BY_USER.len()).await;
    let got: BTreeMap<&str, f64> = requests
        .iter()
        .map(|(l, v)| (l["user"].as_str(), *v))
        .collect();
    let want: BTreeMap<&str, f64> = REQUESTS_BY_USER
        .iter()
        .map(|(user, n)| (*user, *n as f64))
        .collect();
    assert_eq!(got, want, "{REQUESTS}");

    assert_eq!(
        value(prom, JOBS).await,
        JOB_INCREMENTS.iter().sum::<f64>(),
        "{JOBS}"
    );
    let temperature = series(prom, TEMPERATURE, 1).await;
    assert_eq!(temperature[0].0["room"], "lab");
    assert_eq!(temperature[0].1, TEMPERATURE_VALUE, "{TEMPERATURE}");
    assert_eq!(
        value(prom, QUEUE_DEPTH).await,
        QUEUE_DEPTH_VALUE,
        "{QUEUE_DEPTH}"
    );
    let info = series(prom, BUILD_INFO, 1).await;
    assert_eq!(info[0].0["version"], BUILD_VERSION);
    assert_eq!(info[0].1, 1.0, "{BUILD_INFO}");

    let buckets = series(prom, &format!("{CLASSIC}_bucket"), CLASSIC_EXPECTED.len()).await;
    let mut got: Vec<(f64, f64)> = buckets
        .iter()
        .map(|(l, v)| {
            assert_eq!(l["handler"], "/api", "{l:?}");
            (le_of(l), *v)
        })
        .collect();
    got.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(got, CLASSIC_EXPECTED, "{CLASSIC}_bucket");
    let sum: f64 = CLASSIC_OBSERVATIONS.iter().sum();
    assert_eq!(value(prom, &format!("{CLASSIC}_sum")).await, sum);
    let count = CLASSIC_OBSERVATIONS.len() as f64;
    assert_eq!(value(prom, &format!("{CLASSIC}_count")).await, count);
}

/// In the text formats the dual histogram shows its classic buckets, and the
/// native-only one just its `+Inf` bucket, `_sum` and `_count`.
async fn assert_text_histograms(prom: &Prometheus) {
    let n = dual_count(1) as f64;
    assert_eq!(value(prom, &format!("{DUAL}_count")).await, n);
    // Prometheus' default buckets, 11 bounds and +Inf.
    let dual = series(prom, &format!("{DUAL}_bucket"), 12).await;
    let inf = dual.iter().find(|(l, _)| le_of(l).is_infinite());
    assert_eq!(inf.map(|(_, v)| *v), Some(n), "{dual:?}");
    let at_one = dual.iter().find(|(l, _)| le_of(l) == 1.0).map(|(_, v)| *v);
    let below_one = batch().iter().filter(|v| **v <= 1.0).count() + 1; // + the exemplar's
    assert_eq!(at_one, Some(below_one as f64), "{dual:?}");

    let native = series(prom, &format!("{NATIVE}_bucket"), 1).await;
    assert!(le_of(&native[0].0).is_infinite(), "{native:?}");
    assert_eq!(native[0].1, BATCH as f64);
    assert_eq!(value(prom, &format!("{NATIVE}_count")).await, BATCH as f64);
    let sum: f64 = batch().iter().sum();
    let got = value(prom, &format!("{NATIVE}_sum")).await;
    assert!(
        (got - sum).abs() <= 1e-9 * sum,
        "{NATIVE}_sum {got}, observed {sum}"
    );
}

/// The schema-3 bucket index of `v > 0`: bucket `k` is `(2^((k-1)/8), 2^(k/8)]`.
fn bucket_index(v: f64) -> i32 {
    let scale = f64::from(1 << SCHEMA);
    let mut k = (v.log2() * scale).ceil() as i32;
    let upper = |k: i32| 2f64.powf(f64::from(k) / scale);
    while upper(k - 1) >= v {
        k -= 1;
    }
    while upper(k) < v {
        k += 1;
    }
    k
}

/// The native histogram `expr` evaluates to, once the query API answers one
/// (a `histogram`, not a float `value`) with `count` observations.
async fn native_histogram(prom: &Prometheus, expr: &str, count: usize) -> Value {
    support::eventually(
        &format!("{expr} as a native histogram of {count}"),
        QUERY_TIMEOUT,
        || async {
            let data = prom.try_query(expr).await?;
            let result = data["result"].as_array().cloned().unwrap_or_default();
            let [one] = result.as_slice() else {
                return Err(format!("not one series: {data}"));
            };
            if one.get("value").is_some() {
                return Err(format!("a float, not a histogram: {one}"));
            }
            let h = &one["histogram"][1];
            if h["count"].as_str() != Some(count.to_string().as_str()) {
                return Err(format!("not (yet) {count} observations: {one}"));
            }
            Ok(h.clone())
        },
    )
    .await
}

/// The buckets of a native histogram as the query API writes them
/// (`[boundary rule, lower, upper, count]`), by schema-3 index of the upper bound.
fn buckets_by_index(h: &Value) -> BTreeMap<i32, f64> {
    let scale = f64::from(1 << SCHEMA);
    h["buckets"]
        .as_array()
        .unwrap_or_else(|| panic!("no buckets: {h}"))
        .iter()
        .map(|b| {
            let num = |i: usize| {
                b[i].as_str()
                    .and_then(support::parse_prom_float)
                    .unwrap_or_else(|| panic!("bad bucket {b}"))
            };
            ((num(2).log2() * scale).round() as i32, num(3))
        })
        .collect()
}

/// The dual and native-only histograms are stored as native histograms whose
/// buckets hold what was observed; no classic series are made of them.
async fn assert_stored_as_native(prom: &Prometheus) {
    let mut want: BTreeMap<i32, f64> = BTreeMap::new();
    for v in batch() {
        *want.entry(bucket_index(v)).or_default() += 1.0;
    }
    let native = native_histogram(prom, NATIVE, BATCH).await;
    assert_eq!(buckets_by_index(&native), want, "{NATIVE}: {native}");
    let sum: f64 = batch().iter().sum();
    let got: f64 = native["sum"].as_str().and_then(|s| s.parse().ok()).unwrap();
    assert!(
        (got - sum).abs() <= 1e-9 * sum,
        "{NATIVE} sum {got}, observed {sum}"
    );

    let dual = native_histogram(prom, DUAL, dual_count(1)).await;
    *want.entry(bucket_index(DUAL_EXEMPLAR.0)).or_default() += 1.0;
    assert_eq!(buckets_by_index(&dual), want, "{DUAL}: {dual}");

    for name in [DUAL, NATIVE] {
        let classic = prom
            .try_query_scalar_series(&format!("{name}_count"))
            .await
            .unwrap();
        assert!(classic.is_empty(), "{name}_count: {classic:?}");
    }
}

/// `histogram_quantile(0.9, rate(x[1m]))` over each native histogram, after a
/// second batch was observed between two scrapes, is within one bucket's width of
/// the true 0.9-quantile of that batch.
async fn assert_quantile_of_rate(prom: &Prometheus, own: &Own) {
    // The first batch is stored (assert_stored_as_native); observe the second.
    for v in batch() {
        own.dual.observe(v);
        own.native.observe(v);
    }
    native_histogram(prom, NATIVE, 2 * BATCH).await;
    native_histogram(prom, DUAL, dual_count(2)).await;

    // Prometheus' rank is q * count: the 900th smallest value of the batch.
    let values = batch();
    let truth = values[(0.9 * BATCH as f64) as usize - 1];
    let k = bucket_index(truth);
    let scale = f64::from(1 << SCHEMA);
    let width = 2f64.powf(f64::from(k) / scale) - 2f64.powf(f64::from(k - 1) / scale);
    for name in [NATIVE, DUAL] {
        let expr = format!("histogram_quantile(0.9, rate({name}[1m]))");
        let got = series(prom, &expr, 1).await[0].1;
        assert!(
            (got - truth).abs() <= width,
            "{expr} = {got}; the true 0.9-quantile is {truth}, its bucket {width} wide"
        );
    }
}

/// The exemplars Prometheus stored for `expr` (query_exemplars over the last
/// 10 minutes), once one with `trace_id` is among them: `(series labels, value)`.
async fn exemplar(prom: &Prometheus, expr: &str, trace_id: &str) -> (Labels, f64) {
    support::eventually(
        &format!("an exemplar of {expr} with trace_id {trace_id}"),
        QUERY_TIMEOUT,
        || async {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let path = format!(
                "/api/v1/query_exemplars?query={}&start={}&end={}",
                support::url_encode(expr),
                now - 600,
                now + 60
            );
            let data = prom.api(&path).await?;
            for s in data.as_array().into_iter().flatten() {
                for e in s["exemplars"].as_array().into_iter().flatten() {
                    if e["labels"]["trace_id"] == trace_id {
                        let labels = serde_json::from_value(s["seriesLabels"].clone())
                            .map_err(|e| e.to_string())?;
                        let value = e["value"].as_str().and_then(support::parse_prom_float);
                        return Ok((labels, value.ok_or(format!("bad exemplar {e}"))?));
                    }
                }
            }
            Err(format!("not stored: {data}"))
        },
    )
    .await
}

// --- tests ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn text_scrape_reads_back_own_storage() {
    let own = own();
    let server = serve(own.registry.clone(), false).await;
    let prom = scraping(&server, &[]).await;
    assert_floats_read_back(&prom).await;
    assert_text_histograms(&prom).await;
    assert_scraped_as(&server, TEXT_CONTENT_TYPE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn openmetrics_scrape_reads_back_own_storage_and_its_exemplars() {
    let own = own();
    let server = serve(own.registry.clone(), true).await;
    let prom = scraping(&server, &["--enable-feature=exemplar-storage"]).await;
    assert_floats_read_back(&prom).await;
    assert_text_histograms(&prom).await;

    let (labels, v) = exemplar(&prom, JOBS, JOBS_TRACE).await;
    assert_eq!((labels["__name__"].as_str(), v), (JOBS, JOB_INCREMENTS[1]));
    let bucket = format!("{CLASSIC}_bucket");
    let (labels, v) = exemplar(&prom, &bucket, CLASSIC_EXEMPLAR.1).await;
    assert_eq!((le_of(&labels), v), (1.0, CLASSIC_EXEMPLAR.0), "{labels:?}");
    let (labels, v) = exemplar(&prom, &format!("{DUAL}_bucket"), DUAL_EXEMPLAR.1).await;
    assert_eq!((le_of(&labels), v), (0.05, DUAL_EXEMPLAR.0), "{labels:?}");
    assert_scraped_as(&server, OPENMETRICS_CONTENT_TYPE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn protobuf_scrape_stores_native_histograms_of_own_storage() {
    let own = own();
    let server = serve(own.registry.clone(), true).await;
    let prom = scraping(
        &server,
        &[
            "--enable-feature=native-histograms",
            "--enable-feature=exemplar-storage",
        ],
    )
    .await;
    assert_floats_read_back(&prom).await;
    assert_stored_as_native(&prom).await;
    // Exemplars travel in protobuf too (the counter's; 2.42 keeps none of a
    // histogram it stores as native).
    let (_, v) = exemplar(&prom, JOBS, JOBS_TRACE).await;
    assert_eq!(v, JOB_INCREMENTS[1]);
    assert_quantile_of_rate(&prom, &own).await;
    assert_scraped_as(&server, PROTOBUF_CONTENT_TYPE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs promtool: run scripts/install-test-deps.sh"]
async fn promtool_accepts_own_storage_text_page() {
    let own = own();
    let server = serve(own.registry.clone(), true).await;
    let (status, headers, body) =
        support::http_get(&server.url("/metrics"), &[("accept", "text/plain")]).await;
    assert_eq!(status, 200);
    assert_eq!(
        support::header_str(&headers, "content-type"),
        TEXT_CONTENT_TYPE
    );
    let text = String::from_utf8_lossy(&body);
    for name in [
        REQUESTS,
        JOBS,
        TEMPERATURE,
        QUEUE_DEPTH,
        BUILD_INFO,
        CLASSIC,
        DUAL,
        NATIVE,
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} missing from:\n{text}"
        );
    }
    if let Err(problems) = support::promtool_check_metrics(&body) {
        panic!("{problems}\n--- body ---\n{text}");
    }
}
