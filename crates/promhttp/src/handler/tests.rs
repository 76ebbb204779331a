//! Behaviour of the handler, called through `ServiceExt::oneshot`: no server needed.

use std::io::Read;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use tower::ServiceExt;

use super::*;
use crate::gather::{from_fn, Gathered};
use crate::model::{Label, Metric, MetricFamily, MetricType, Value};

fn registry() -> Registry {
    let r = Registry::new();
    let c = IntCounterVec::new(Opts::new("requests_total", "Requests."), &["code"]).unwrap();
    r.register(Box::new(c.clone())).unwrap();
    c.with_label_values(&["200"]).inc_by(7);
    let g = IntCounter::new("other_total", "Other.").unwrap();
    r.register(Box::new(g.clone())).unwrap();
    g.inc();
    r
}

async fn get(h: &MetricsHandler, req: Request<()>) -> (Response<()>, Bytes) {
    let resp = h.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (Response::from_parts(parts, ()), bytes)
}

fn req(uri: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::get(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

fn header<'a>(r: &'a Response<()>, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

const TEXT_BODY: &str = "# HELP other_total Other.\n# TYPE other_total counter\nother_total 1\n\
# HELP requests_total Requests.\n# TYPE requests_total counter\nrequests_total{code=\"200\"} 7\n";

#[tokio::test]
async fn serves_text_by_default() {
    let h = handler_for(registry());
    let (r, body) = get(&h, req("/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(&r, "content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(header(&r, "vary"), "Accept, Accept-Encoding");
    assert_eq!(header(&r, "content-length"), TEXT_BODY.len().to_string());
    assert_eq!(header(&r, "content-encoding"), "");
    assert_eq!(body, TEXT_BODY);
}

#[tokio::test]
async fn head_has_headers_and_no_body() {
    let h = handler_for(registry());
    let req = Request::head("/metrics").body(()).unwrap();
    let (r, body) = get(&h, req).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-length"), TEXT_BODY.len().to_string());
    assert!(body.is_empty());
}

#[tokio::test]
async fn other_methods_get_405() {
    let h = handler_for(registry());
    for m in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"] {
        let req = Request::builder()
            .method(m)
            .uri("/metrics")
            .body(())
            .unwrap();
        let (r, _) = get(&h, req).await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{m}");
        assert_eq!(header(&r, "allow"), "GET, HEAD");
    }
}

#[cfg(feature = "gzip")]
#[tokio::test]
async fn gzip_decompresses_to_the_identity_body() {
    let h = handler_for(registry());
    for _ in 0..100 {
        let (r, body) = get(&h, req("/metrics", &[("accept-encoding", "gzip")])).await;
        assert_eq!(header(&r, "content-encoding"), "gzip");
        assert_eq!(header(&r, "content-length"), body.len().to_string());
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, TEXT_BODY);
    }
}

#[cfg(feature = "zstd")]
#[tokio::test]
async fn zstd_decompresses_to_the_identity_body() {
    let h = handler_for(registry());
    for _ in 0..20 {
        let (r, body) = get(&h, req("/metrics", &[("accept-encoding", "zstd")])).await;
        assert_eq!(header(&r, "content-encoding"), "zstd");
        let plain = zstd::stream::decode_all(&body[..]).unwrap();
        assert_eq!(plain, TEXT_BODY.as_bytes());
    }
}

#[cfg(feature = "gzip")]
#[tokio::test]
async fn the_gzip_level_reaches_the_compressor() {
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    // Level 0 stores the page as it is inside the gzip framing.
    let stored = MetricsHandler::builder(registry())
        .gzip_level(GzipLevel::MIN)
        .build();
    let (r, body) = get(&stored, req("/metrics", &[("accept-encoding", "gzip")])).await;
    assert_eq!(header(&r, "content-encoding"), "gzip");
    assert!(contains(&body, TEXT_BODY.as_bytes()));
    // Any other level compresses it.
    let best = MetricsHandler::builder(registry())
        .gzip_level(GzipLevel::new(9).unwrap())
        .build();
    let (_, body) = get(&best, req("/metrics", &[("accept-encoding", "gzip")])).await;
    assert!(!contains(&body, TEXT_BODY.as_bytes()));
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, TEXT_BODY);
}

#[cfg(feature = "zstd")]
#[tokio::test]
async fn the_zstd_level_reaches_the_compressor() {
    let big = || {
        let r = Registry::new();
        let c = IntCounterVec::new(Opts::new("requests_total", "Requests."), &["path"]).unwrap();
        r.register(Box::new(c.clone())).unwrap();
        for i in 0..500 {
            c.with_label_values(&[&format!("/api/v1/items/{i}")]).inc();
        }
        r
    };
    let size = |level: ZstdLevel| {
        let h = MetricsHandler::builder(big()).zstd_level(level).build();
        async move {
            let (r, body) = get(&h, req("/metrics", &[("accept-encoding", "zstd")])).await;
            assert_eq!(header(&r, "content-encoding"), "zstd");
            let plain = zstd::stream::decode_all(&body[..]).unwrap();
            assert!(plain.starts_with(b"# HELP requests_total"));
            body.len()
        }
    };
    // zstd's fastest level hardly compresses; level 19 does.
    let fastest = size(ZstdLevel::MIN).await;
    let best = size(ZstdLevel::new(19).unwrap()).await;
    assert!(
        fastest > 2 * best,
        "fastest {fastest} bytes, level 19 {best}"
    );
}

#[tokio::test]
async fn compression_can_be_refused_or_disabled() {
    let h = handler_for(registry());
    for ae in [
        "identity",
        "*;q=0",
        "gzip;q=0, zstd;q=0",
        "br",
        "gzip;q=foo;;;",
    ] {
        let (r, body) = get(&h, req("/metrics", &[("accept-encoding", ae)])).await;
        assert_eq!(header(&r, "content-encoding"), "", "{ae}");
        assert_eq!(body, TEXT_BODY, "{ae}");
    }
    let h = MetricsHandler::builder(registry())
        .compression(false)
        .build();
    let (r, body) = get(&h, req("/metrics", &[("accept-encoding", "gzip")])).await;
    assert_eq!(header(&r, "content-encoding"), "");
    assert_eq!(body, TEXT_BODY);
}

#[tokio::test]
async fn openmetrics_only_when_enabled() {
    let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let h = handler_for(registry());
    let (r, _) = get(&h, req("/metrics", &[("accept", accept)])).await;
    assert_eq!(
        header(&r, "content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );

    let h = MetricsHandler::builder(registry())
        .openmetrics(true)
        .build();
    let (r, body) = get(&h, req("/metrics", &[("accept", accept)])).await;
    assert_eq!(
        header(&r, "content-type"),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = std::str::from_utf8(&body).unwrap();
    assert!(body.contains("# TYPE requests counter\n"));
    assert!(body.contains("requests_total{code=\"200\"} 7.0\n"));
    assert!(body.ends_with("# EOF\n"));
    assert_eq!(body.matches("# EOF").count(), 1);
}

#[tokio::test]
async fn protobuf_when_asked() {
    let h = handler_for(registry());
    let accept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,text/plain;q=0.5";
    let (r, body) = get(&h, req("/metrics", &[("accept", accept)])).await;
    assert_eq!(
        header(&r, "content-type"),
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    );
    // Two length-delimited messages; the first names `other_total`.
    assert!(body.len() > 2);
    assert_eq!(body[1], 0x0a);
    assert_eq!(&body[3..3 + "other_total".len()], b"other_total");
}

#[tokio::test]
async fn malformed_headers_fall_back_to_text() {
    let h = handler_for(registry());
    for accept in [
        "",
        "garbage",
        ";;;,,,",
        "text/plain;q=",
        "application/json",
        "*/*;q=abc",
    ] {
        let (r, body) = get(&h, req("/metrics", &[("accept", accept)])).await;
        assert_eq!(r.status(), StatusCode::OK, "{accept:?}");
        assert_eq!(body, TEXT_BODY, "{accept:?}");
    }
    let junk = "x".repeat(16 * 1024);
    let (r, _) = get(
        &h,
        req("/metrics", &[("accept", &junk), ("accept-encoding", &junk)]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn name_filter_keeps_named_families() {
    let h = handler_for(registry());
    let (_, body) = get(&h, req("/metrics?name[]=other_total", &[])).await;
    assert_eq!(
        body,
        "# HELP other_total Other.\n# TYPE other_total counter\nother_total 1\n"
    );
    let (_, body) = get(
        &h,
        req(
            "/metrics?name%5B%5D=requests_total&name[]=other_total&name[]=other_total",
            &[],
        ),
    )
    .await;
    assert_eq!(body, TEXT_BODY);
    let (r, body) = get(&h, req("/metrics?name[]=nothing", &[])).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(body.is_empty());
    let (_, body) = get(&h, req("/metrics?name[]=", &[])).await;
    assert!(body.is_empty());
    let (_, body) = get(&h, req("/metrics?other=1", &[])).await;
    assert_eq!(body, TEXT_BODY);
}

#[tokio::test]
async fn process_start_time_header() {
    let start = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let h = MetricsHandler::builder(registry())
        .process_start_time(start)
        .build();
    let (r, _) = get(&h, req("/metrics", &[])).await;
    assert_eq!(header(&r, "process-start-time-unix"), "1700000000");
}

#[tokio::test]
async fn the_longest_deadlines_do_not_overflow() {
    // Configured: Duration::MAX for "no practical limit", and an offset larger
    // than any scraper's value. Client-sent: timeouts near and past u64 seconds.
    let h = MetricsHandler::builder(registry())
        .timeout(Duration::MAX)
        .scrape_timeout_offset(Duration::MAX)
        .build();
    for scraper in [
        "",
        "1e18",
        "1.8e19",
        "18446744073709551615",
        "1e19",
        "1e300",
    ] {
        let (r, body) = get(
            &h,
            req(
                "/metrics",
                &[("x-prometheus-scrape-timeout-seconds", scraper)],
            ),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK, "{scraper:?}");
        assert_eq!(body, TEXT_BODY);
    }
}

#[tokio::test]
async fn process_start_time_before_the_epoch_does_not_overflow() {
    let epoch = std::time::UNIX_EPOCH;
    let mut cases = vec![
        (epoch - Duration::from_millis(1500), "-1"),
        (epoch - Duration::from_millis(500), "0"),
        (epoch, "0"),
    ];
    // The earliest time the platform has (i64::MIN seconds on Linux): its
    // negation does not fit an i64.
    if let Some(earliest) = epoch.checked_sub(Duration::from_secs(1 << 63)) {
        cases.push((earliest, "-9223372036854775808"));
    }
    for (start, want) in cases {
        let h = MetricsHandler::builder(registry())
            .process_start_time(start)
            .build();
        let (r, _) = get(&h, req("/metrics", &[])).await;
        assert_eq!(header(&r, "process-start-time-unix"), want);
    }
}

fn broken_and_fine() -> impl Gather {
    from_fn(|out: &mut Gathered| {
        out.families.push(
            MetricFamily::new("fine", "Fine.", MetricType::Gauge)
                .with_metric(Metric::new(vec![], Value::Gauge(1.0))),
        );
        out.families.push(
            MetricFamily::new("dup", "Dup.", MetricType::Gauge)
                .with_metric(Metric::new(vec![Label::new("a", "1")], Value::Gauge(1.0)))
                .with_metric(Metric::new(vec![Label::new("a", "1")], Value::Gauge(2.0))),
        );
    })
}

#[tokio::test]
async fn http_error_mode_answers_500_naming_the_family() {
    let metrics = HandlerMetrics::new();
    let h = MetricsHandler::builder(broken_and_fine())
        .instrument(metrics.clone())
        .build();
    let (r, body) = get(&h, req("/metrics", &[("accept-encoding", "gzip")])).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(header(&r, "content-encoding"), "");
    let body = std::str::from_utf8(&body).unwrap();
    assert!(
        body.starts_with("An error has occurred while serving metrics:\n\n"),
        "{body}"
    );
    assert!(body.contains("\"dup\""), "{body}");
    assert_eq!(metrics.errors.with_label_values(&["gathering"]).get(), 1);
    assert_eq!(metrics.requests.with_label_values(&["500"]).get(), 1);
}

#[tokio::test]
async fn continue_mode_serves_the_rest() {
    let h = MetricsHandler::builder(broken_and_fine())
        .error_handling(ErrorHandling::Continue)
        .build();
    let (r, body) = get(&h, req("/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        body,
        "# HELP dup Dup.\n# TYPE dup gauge\ndup{a=\"1\"} 1\n# HELP fine Fine.\n# TYPE fine gauge\nfine 1\n"
    );
    // Nothing left at all: 500.
    let h = MetricsHandler::builder(from_fn(|_: &mut Gathered| panic!("boom")))
        .error_handling(ErrorHandling::Continue)
        .build();
    let (r, body) = get(&h, req("/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(std::str::from_utf8(&body).unwrap().contains("boom"));
}

#[tokio::test]
async fn panic_mode_panics_in_the_request_task() {
    let h = MetricsHandler::builder(broken_and_fine())
        .error_handling(ErrorHandling::Panic)
        .build();
    let joined = tokio::spawn(async move { h.oneshot(req("/metrics", &[])).await }).await;
    let err = joined.unwrap_err();
    assert!(err.is_panic());
}

#[tokio::test]
async fn panicking_collector_then_recovery() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let h = handler_for(from_fn(move |out: &mut Gathered| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("first gather fails");
        }
        out.families.push(
            MetricFamily::new("ok", "", MetricType::Gauge)
                .with_metric(Metric::new(vec![], Value::Gauge(1.0))),
        );
    }));
    let (r, body) = get(&h, req("/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(std::str::from_utf8(&body)
        .unwrap()
        .contains("first gather fails"));
    let (r, body) = get(&h, req("/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body, "# TYPE ok gauge\nok 1\n");
}

/// A collector that blocks until the gate opens, counting its gathers. The gate
/// opens by `open()`, or when the test drops it, failing or not (a gather still
/// blocked would hold the runtime's shutdown: the test would hang, not fail).
#[derive(Default)]
struct Gate(GateState);

#[derive(Clone, Default)]
struct GateState {
    state: Arc<(Mutex<bool>, Condvar)>,
    gathers: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
}

impl std::ops::Deref for Gate {
    type Target = GateState;
    fn deref(&self) -> &GateState {
        &self.0
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.open();
    }
}

impl Gate {
    fn open(&self) {
        *self
            .state
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.state.1.notify_all();
    }
    fn source(&self) -> impl Gather {
        let g = self.0.clone();
        from_fn(move |out: &mut Gathered| {
            g.gathers.fetch_add(1, Ordering::SeqCst);
            g.running.fetch_add(1, Ordering::SeqCst);
            let (lock, cv) = &*g.state;
            let mut open = lock.lock().unwrap();
            while !*open {
                let (o, _) = cv.wait_timeout(open, Duration::from_secs(10)).unwrap();
                open = o;
            }
            drop(open);
            g.running.fetch_sub(1, Ordering::SeqCst);
            out.families.push(
                MetricFamily::new("slow", "", MetricType::Gauge)
                    .with_metric(Metric::new(vec![], Value::Gauge(1.0))),
            );
        })
    }
    async fn wait_running(&self, n: usize) {
        for _ in 0..500 {
            if self.running.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("collector never started");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_requests_in_flight() {
    let gate = Gate::default();
    let h = MetricsHandler::builder(gate.source())
        .max_requests_in_flight(NonZeroUsize::MIN)
        .coalesce(false)
        .build();
    let first = tokio::spawn(h.clone().oneshot(req("/metrics", &[])));
    gate.wait_running(1).await;
    let (r, body) = get(&h, req("/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        "Limit of concurrent requests reached (1), try again later.\n"
    );
    gate.open();
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    let (r, _) = get(&h, req("/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_limit_and_the_largest_limit_let_scrapes_run_together() {
    for limit in [None, Some(NonZeroUsize::MAX)] {
        let gate = Gate::default();
        let h = MetricsHandler::builder(gate.source())
            // A cap set earlier is replaced, not kept.
            .max_requests_in_flight(NonZeroUsize::MIN)
            .max_requests_in_flight(limit)
            .coalesce(false)
            .build();
        let scrapes: Vec<_> = (0..3)
            .map(|_| tokio::spawn(h.clone().oneshot(req("/metrics", &[]))))
            .collect();
        gate.wait_running(3).await;
        gate.open();
        for s in scrapes {
            assert_eq!(s.await.unwrap().unwrap().status(), StatusCode::OK);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permit_is_released_when_requests_are_dropped() {
    let h = MetricsHandler::builder(registry())
        .max_requests_in_flight(NonZeroUsize::new(1))
        .build();
    for _ in 0..1000 {
        let fut = h.clone().oneshot(req("/metrics", &[]));
        // Poll once, then drop mid-render.
        let _ = tokio::time::timeout(Duration::from_micros(1), fut).await;
    }
    let (r, _) = get(&h, req("/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_answers_503_and_gathers_do_not_pile_up() {
    let gate = Gate::default();
    let metrics = HandlerMetrics::new();
    let h = MetricsHandler::builder(gate.source())
        .timeout(Duration::from_millis(20))
        .instrument(metrics.clone())
        .build();
    for _ in 0..20 {
        let (r, body) = get(&h, req("/metrics", &[])).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "Exceeded configured timeout of 20ms.\n");
    }
    // One stuck gather, however many scrapes timed out on it.
    assert_eq!(gate.gathers.load(Ordering::SeqCst), 1);
    assert_eq!(metrics.requests.with_label_values(&["503"]).get(), 20);
    assert_eq!(metrics.in_flight.get(), 0);
    gate.open();
    // The abandoned render finishes; the next scrape gets a fresh one.
    for _ in 0..200 {
        if gate.running.load(Ordering::SeqCst) == 0 && lock(&h.inner.jobs).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (r, _) = get(&h, req("/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(gate.gathers.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_filters_cannot_pile_up_renders() {
    let gate = Gate::default();
    let h = MetricsHandler::builder(gate.source())
        .timeout(Duration::from_millis(10))
        .build();
    for i in 0..50 {
        let (r, _) = get(&h, req(&format!("/metrics?name[]=f{i}"), &[])).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    // Scrapes that asked for a deadline of nothing at all: answered at once.
    for i in 0..20 {
        let uri = format!("/metrics?name[]=g{i}");
        let (r, _) = get(
            &h,
            req(&uri, &[("x-prometheus-scrape-timeout-seconds", "1e-9")]),
        )
        .await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    // Every render has settled: given up (out of the map, its slot back) or stuck
    // in the gate (in the map, holding a slot).
    promhttp_test_support::wait_until("the renders to settle", Duration::from_secs(10), || {
        let running = gate.running.load(Ordering::SeqCst);
        lock(&h.inner.jobs).len() == running
            && h.inner.renders.available_permits() + running == render::MAX_CONCURRENT_RENDERS
    })
    .await;
    let started = gate.gathers.load(Ordering::SeqCst);
    assert!(
        started <= render::MAX_CONCURRENT_RENDERS,
        "{started} gathers started"
    );
    gate.open();
    // Renders nobody waits for any more are dropped, and the handler recovers.
    for _ in 0..400 {
        if lock(&h.inner.jobs).is_empty()
            && h.inner.renders.available_permits() == render::MAX_CONCURRENT_RENDERS
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(lock(&h.inner.jobs).is_empty());
    let h2 = MetricsHandler::builder(gate.source()).build();
    let (r, _) = get(&h2, req("/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (r, _) = get(&h, req("/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::OK);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_timeout_header_caps_the_deadline() {
    let gate = Gate::default();
    let h = handler_for(gate.source());
    let started = std::time::Instant::now();
    let (r, body) = get(
        &h,
        req(
            "/metrics",
            &[("x-prometheus-scrape-timeout-seconds", "0.1")],
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    // 0.1 s less the 0.5 s offset, floored at half: 50 ms.
    assert_eq!(body, "Exceeded configured timeout of 50ms.\n");
    assert!(started.elapsed() < Duration::from_secs(5));
    gate.open();
    for bad in ["abc", "-1", "NaN", "inf", "1e309", "0", "", "  "] {
        let (r, _) = get(
            &h,
            req("/metrics", &[("x-prometheus-scrape-timeout-seconds", bad)]),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK, "{bad:?}");
    }
    let deadline = h.scrape_deadline(&{
        let mut m = HeaderMap::new();
        m.insert(
            "x-prometheus-scrape-timeout-seconds",
            HeaderValue::from_static("10"),
        );
        m
    });
    assert_eq!(deadline, Some(Duration::from_millis(9500)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scrapes_share_one_render() {
    let gate = Gate::default();
    let h = handler_for(gate.source());
    let mut tasks = Vec::new();
    for _ in 0..4 {
        tasks.push(tokio::spawn(h.clone().oneshot(req("/metrics", &[]))));
    }
    gate.wait_running(1).await;
    // Every scrape has joined the render in progress.
    promhttp_test_support::wait_until(
        "four scrapes on one render",
        Duration::from_secs(10),
        || {
            let jobs = lock(&h.inner.jobs);
            jobs.len() == 1 && jobs.values().all(|tx| tx.receiver_count() == 4)
        },
    )
    .await;
    gate.open();
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "# TYPE slow gauge\nslow 1\n");
    }
    assert_eq!(gate.gathers.load(Ordering::SeqCst), 1);
    // Sequential scrapes each gather anew.
    for i in 0..3 {
        get(&h, req("/metrics", &[])).await;
        assert_eq!(gate.gathers.load(Ordering::SeqCst), 2 + i);
    }
}

#[tokio::test]
async fn self_metrics_count_after_completion() {
    let r = registry();
    let metrics = HandlerMetrics::new();
    metrics.register(&r).unwrap();
    let h = MetricsHandler::builder(r).instrument(metrics).build();
    let (_, body) = get(&h, req("/metrics", &[])).await;
    let body = std::str::from_utf8(&body).unwrap();
    assert!(
        body.contains("promhttp_metric_handler_requests_total{code=\"200\"} 0\n"),
        "{body}"
    );
    assert!(body.contains("promhttp_metric_handler_requests_total{code=\"503\"} 0\n"));
    assert!(body.contains("promhttp_metric_handler_requests_in_flight 1\n"));
    assert!(body.contains("promhttp_metric_handler_errors_total{cause=\"encoding\"} 0\n"));
    for i in 1..200 {
        let (_, body) = get(&h, req("/metrics", &[])).await;
        let want = format!("promhttp_metric_handler_requests_total{{code=\"200\"}} {i}\n");
        assert!(std::str::from_utf8(&body).unwrap().contains(&want));
    }
}

#[tokio::test]
async fn default_handler_is_instrumented_in_the_default_registry() {
    let h = crate::handler();
    let (r, _) = get(&h, req("/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, body) = get(&h, req("/metrics", &[])).await;
    assert!(std::str::from_utf8(&body)
        .unwrap()
        .contains("# TYPE promhttp_metric_handler_requests_total counter"));
    // A second default handler shares the same metrics instead of failing.
    let again = crate::handler();
    let (r, _) = get(&again, req("/metrics", &[])).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[test]
fn respond_blocking_without_a_runtime() {
    let h = handler_for(registry());
    let r = h.respond_blocking(&req("/metrics", &[]));
    assert_eq!(r.status(), StatusCode::OK);
    let r = h.respond_blocking(&Request::post("/metrics").body(()).unwrap());
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// The data of an identity body.
fn body_of(r: Response<MetricsBody>) -> Bytes {
    use http_body::Body;
    let mut body = std::pin::pin!(r.into_body());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match body.as_mut().poll_frame(&mut cx) {
        std::task::Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap(),
        _ => panic!("a full body is ready at once"),
    }
}

#[test]
fn a_sent_page_gives_its_buffer_to_the_next_render() {
    let h = handler_for(registry());
    let first = body_of(h.respond_blocking(&req("/metrics", &[])));
    let at = first.as_ptr();
    assert_eq!(first, TEXT_BODY);
    drop(first);
    let second = body_of(h.respond_blocking(&req("/metrics", &[])));
    assert_eq!(
        second.as_ptr(),
        at,
        "the buffer of the sent page was reused"
    );
    assert_eq!(second, TEXT_BODY);
}

#[cfg(feature = "gzip")]
#[test]
fn a_sent_gzip_page_gives_its_buffer_to_the_next_render() {
    let h = handler_for(registry());
    let gzip = || body_of(h.respond_blocking(&req("/metrics", &[("accept-encoding", "gzip")])));
    let gunzip = |b: &Bytes| {
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&b[..])
            .read_to_string(&mut plain)
            .unwrap();
        plain
    };
    let first = gzip();
    let at = first.as_ptr();
    assert_eq!(gunzip(&first), TEXT_BODY);
    drop(first);
    for _ in 0..3 {
        let next = gzip();
        assert_eq!(next.as_ptr(), at, "the buffer of the sent page was reused");
        assert_eq!(gunzip(&next), TEXT_BODY);
    }
    assert!(h.inner.compressors.has_gzip(), "one gzip context kept");
}

#[test]
fn a_page_still_being_sent_delays_the_next_render_only_briefly() {
    let h = handler_for(registry());
    // Held like a page a reader never takes.
    let held = body_of(h.respond_blocking(&req("/metrics", &[])));
    let t = std::time::Instant::now();
    let next = body_of(h.respond_blocking(&req("/metrics", &[])));
    let waited = t.elapsed();
    assert_eq!(next, TEXT_BODY);
    assert_ne!(next.as_ptr(), held.as_ptr(), "a buffer of its own");
    assert!(
        waited >= pages::MAX_WAIT && waited < pages::MAX_WAIT + Duration::from_secs(5),
        "waited {waited:?}"
    );
    drop(held);
}

#[test]
fn percent_decoding() {
    assert_eq!(decode("name%5B%5D").as_deref(), Some("name[]"));
    assert_eq!(decode("a+b%20c").as_deref(), Some("a b c"));
    assert_eq!(decode("a%2Bb").as_deref(), Some("a+b"));
    assert_eq!(decode("%zz%").as_deref(), Some("%zz%"));
    assert_eq!(decode("%e2%82%AC").as_deref(), Some("\u{20ac}"));
    assert_eq!(decode("%ff"), None);
}

#[tokio::test]
async fn name_filter_decodes_keys_and_values_and_ignores_what_is_not_utf8() {
    let h = handler_for(registry());
    let other = "# HELP other_total Other.\n# TYPE other_total counter\nother_total 1\n";
    // Encoded letters in the value, an encoded key, pairs without a value.
    let (_, body) = get(&h, req("/metrics?&x&name%5b%5d=other%5Ftotal&", &[])).await;
    assert_eq!(body, other);
    // A name that is not UTF-8 matches nothing, and is still a filter.
    let (r, body) = get(&h, req("/metrics?name[]=%ff", &[])).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(body.is_empty());
    let (_, body) = get(&h, req("/metrics?name[]=%ff&name[]=other_total", &[])).await;
    assert_eq!(body, other);
    // A key that is not UTF-8 is not `name[]`.
    let (_, body) = get(&h, req("/metrics?name%ff=other_total", &[])).await;
    assert_eq!(body, TEXT_BODY);
}

/// OpenMetrics 2.0 only when the handler offers it and the scraper asks for exactly
/// `version=2.0.0`; promhttp's own storage (whose kept page has no 2.0 layout)
/// goes through the model and reads the same as the model path.
#[tokio::test]
async fn openmetrics_2_is_opt_in_and_asked_for_by_version() {
    use crate::metrics::{HistogramOpts, IntCounterVec as OwnCounterVec, Opts as OwnOpts};
    let own = Arc::new(crate::metrics::Registry::new());
    let requests = OwnCounterVec::new(OwnOpts::new("jobs_total", "Jobs."), &["queue"]).unwrap();
    own.register(Box::new(requests.clone())).unwrap();
    requests.with_label_values(&["mail"]).inc_by(3);
    let latency = crate::metrics::Histogram::with_opts(
        HistogramOpts::new("latency_seconds", "Latency.").buckets(vec![0.5]),
    )
    .unwrap();
    own.register(Box::new(latency.clone())).unwrap();
    latency.observe(0.25);
    let om2 = "application/openmetrics-text;version=2.0.0";
    let off = MetricsHandler::builder(own.clone())
        .openmetrics(true)
        .build();
    let (r, _) = get(&off, req("/metrics", &[("accept", om2)])).await;
    assert_eq!(
        header(&r, "content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let on = MetricsHandler::builder(own.clone())
        .openmetrics_2(true)
        .build();
    let (r, body) = get(&on, req("/metrics", &[("accept", om2)])).await;
    assert_eq!(
        header(&r, "content-type"),
        "application/openmetrics-text; version=2.0.0; charset=utf-8"
    );
    let body = String::from_utf8(body.to_vec()).unwrap();
    assert!(body.contains("# TYPE jobs_total counter\n"), "{body}");
    assert!(
        body.contains("jobs_total{queue=\"mail\"} 3.0 st@"),
        "{body}"
    );
    assert!(
        body.contains("latency_seconds {count:1,sum:0.25,bucket:[0.5:1,+Inf:1]} st@"),
        "{body}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    // The same page as the model path writes.
    let mut g = Gathered::default();
    own.gather_into(&mut g);
    crate::gather::normalize(&mut g);
    let mut model = Vec::new();
    crate::encode::encode(
        crate::encode::Format::OpenMetrics2,
        &g.families,
        &crate::encode::EncodeOptions::default(),
        &mut model,
    );
    assert_eq!(body, String::from_utf8(model).unwrap());
    // Prometheus 3.14's header, and any other version, never select it.
    for accept in [
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
        "application/openmetrics-text",
        "application/openmetrics-text;version=2.0.1",
    ] {
        let (r, _) = get(&on, req("/metrics", &[("accept", accept)])).await;
        assert!(!header(&r, "content-type").contains("2.0.0"), "{accept}");
    }
    // The escaping parameter is echoed as for 1.0.0.
    let (r, _) = get(
        &on,
        req(
            "/metrics",
            &[(
                "accept",
                "application/openmetrics-text;version=2.0.0;escaping=allow-utf-8",
            )],
        ),
    )
    .await;
    assert_eq!(
        header(&r, "content-type"),
        "application/openmetrics-text; version=2.0.0; charset=utf-8; escaping=allow-utf-8"
    );
}
