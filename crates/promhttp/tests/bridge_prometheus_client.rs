//! A prometheus-client `Registry` through the bridge: encoded by promhttp's encoders,
//! merged with a `prometheus` registry on one page, served by the handler.
#![cfg(feature = "prometheus-client")]

use std::sync::{Arc, RwLock};
use std::time::{Duration, UNIX_EPOCH};

use http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::{CounterWithExemplar, HistogramWithExemplars};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use promhttp::encode::{encode, EncodeOptions, Format};
use promhttp::gather::{gather_all, GatherErrorKind, Gatherers};
use promhttp::prometheus;

type Labels = Vec<(String, String)>;

fn client_registry() -> Registry {
    let mut r = Registry::default();

    let plain: Counter = Counter::default();
    r.register("plain", "A plain counter", plain.clone());
    plain.inc_by(3);

    let traced: CounterWithExemplar<Labels> = CounterWithExemplar::default();
    r.register("traced", "A counter with an exemplar", traced.clone());
    traced.inc_by(
        2,
        Some(vec![("trace_id".into(), "abc".into())]),
        Some(UNIX_EPOCH + Duration::from_millis(1500)),
    );

    let temp: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
    r.register("temperature", "A gauge", temp.clone());
    temp.set(-1.5);

    let latency = HistogramWithExemplars::<Labels>::new([0.1, 1.0].into_iter());
    r.register_with_unit("latency", "A histogram", Unit::Seconds, latency.clone());
    latency.observe(0.05, Some(vec![("trace_id".into(), "fast".into())]), None);
    latency.observe(0.5, None, None);
    latency.observe(3.0, Some(vec![("trace_id".into(), "slow".into())]), None);

    let requests: Family<Labels, Counter> = Family::default();
    r.register("requests", "Requests by path", requests.clone());
    requests
        .get_or_create(&vec![("path".into(), "a\"b\\c\nd".into())])
        .inc();
    requests
        .get_or_create(&vec![("path".into(), "grüße/✓".into())])
        .inc_by(2);

    // Never used: no series, so no family on the page.
    let unused: Family<Labels, Gauge> = Family::default();
    r.register("unused", "No series", unused);

    let build = Info::new(vec![("version".to_string(), "1.2.3".to_string())]);
    r.register("build", "Build information", build);

    let sub = r
        .sub_registry_with_prefix("sub")
        .sub_registry_with_label(("zone".into(), "eu".into()));
    let hits: Counter = Counter::default();
    sub.register("hits", "Hits in a sub-registry", hits.clone());
    hits.inc();
    r
}

fn prometheus_registry() -> prometheus::Registry {
    let r = prometheus::Registry::new();
    let jobs = prometheus::IntCounter::new("jobs_total", "Jobs run.").unwrap();
    r.register(Box::new(jobs.clone())).unwrap();
    jobs.inc();
    r
}

fn page(format: Format, source: &dyn promhttp::Gather) -> String {
    let g = gather_all(source);
    assert!(g.errors.is_empty(), "{:?}", g.errors);
    let mut out = Vec::new();
    encode(format, &g.families, &EncodeOptions::default(), &mut out);
    String::from_utf8(out).unwrap()
}

const TEXT: &str = r#"# HELP build_info Build information.
# TYPE build_info gauge
build_info{version="1.2.3"} 1
# HELP latency_seconds A histogram.
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} 1
latency_seconds_bucket{le="1"} 2
latency_seconds_bucket{le="+Inf"} 3
latency_seconds_sum 3.55
latency_seconds_count 3
# HELP plain_total A plain counter.
# TYPE plain_total counter
plain_total 3
# HELP requests_total Requests by path.
# TYPE requests_total counter
requests_total{path="a\"b\\c\nd"} 1
requests_total{path="grüße/✓"} 2
# HELP sub_hits_total Hits in a sub-registry.
# TYPE sub_hits_total counter
sub_hits_total{zone="eu"} 1
# HELP temperature A gauge.
# TYPE temperature gauge
temperature -1.5
# HELP traced_total A counter with an exemplar.
# TYPE traced_total counter
traced_total 2
"#;
const OPENMETRICS: &str = r#"# TYPE build_info gauge
# HELP build_info Build information.
build_info{version="1.2.3"} 1.0
# TYPE latency_seconds histogram
# UNIT latency_seconds seconds
# HELP latency_seconds A histogram.
latency_seconds_bucket{le="0.1"} 1 # {trace_id="fast"} 0.05
latency_seconds_bucket{le="1.0"} 2
latency_seconds_bucket{le="+Inf"} 3 # {trace_id="slow"} 3.0
latency_seconds_sum 3.55
latency_seconds_count 3
# TYPE plain counter
# HELP plain A plain counter.
plain_total 3.0
# TYPE requests counter
# HELP requests Requests by path.
requests_total{path="a\"b\\c\nd"} 1.0
requests_total{path="grüße/✓"} 2.0
# TYPE sub_hits counter
# HELP sub_hits Hits in a sub-registry.
sub_hits_total{zone="eu"} 1.0
# TYPE temperature gauge
# HELP temperature A gauge.
temperature -1.5
# TYPE traced counter
# HELP traced A counter with an exemplar.
traced_total 2.0 # {trace_id="abc"} 2.0 1.5
# EOF
"#;

#[test]
fn text_0_0_4() {
    let got = page(Format::Text, &client_registry());
    assert_eq!(got, TEXT);
}

#[test]
fn openmetrics_keeps_exemplars() {
    let got = page(Format::OpenMetrics, &client_registry());
    assert_eq!(got, OPENMETRICS);
}

#[test]
fn merged_with_a_prometheus_registry() {
    let shared = Arc::new(RwLock::new(Registry::default()));
    let sources = Gatherers::new()
        .with(prometheus_registry())
        .with(Arc::new(client_registry()))
        .with(shared.clone());
    // Registered after the page's sources were assembled.
    let late: Gauge = Gauge::default();
    shared
        .write()
        .unwrap()
        .register("late", "Registered late", late.clone());
    late.set(7);

    let g = gather_all(&sources);
    assert!(g.errors.is_empty(), "{:?}", g.errors);
    let names: Vec<&str> = g.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "build_info",
            "jobs_total",
            "late",
            "latency_seconds",
            "plain_total",
            "requests_total",
            "sub_hits_total",
            "temperature",
            "traced_total"
        ]
    );
}

#[test]
fn a_clash_with_the_prometheus_registry_is_reported() {
    let mut client = Registry::default();
    let jobs: Counter = Counter::default();
    client.register("jobs", "Other help", jobs);
    let g = gather_all(&Gatherers::new().with(prometheus_registry()).with(client));
    assert_eq!(g.errors.len(), 1, "{:?}", g.errors);
    assert_eq!(g.errors[0].family(), Some("jobs_total"));
    assert!(
        matches!(
            g.errors[0].kind(),
            GatherErrorKind::HelpMismatch { second, .. } if second == "Other help."
        ),
        "{:?}",
        g.errors
    );
}

#[test]
fn served_by_the_handler() {
    let handler = promhttp::MetricsHandler::builder(
        Gatherers::new()
            .with(prometheus_registry())
            .with(client_registry()),
    )
    .openmetrics(true)
    .build();
    let request = Request::get("/metrics")
        .header(
            header::ACCEPT,
            "application/openmetrics-text; version=1.0.0",
        )
        .body(())
        .unwrap();
    let response = handler.respond_blocking(&request);
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text; version=1.0.0"));
    let body = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(response.into_body().collect())
        .unwrap()
        .to_bytes();
    let body = std::str::from_utf8(&body).unwrap();
    assert!(body.starts_with("# TYPE build_info gauge\n"), "{body}");
    assert!(
        body.contains("# TYPE jobs counter\n# HELP jobs Jobs run.\njobs_total 1.0\n"),
        "{body}"
    );
    assert!(
        body.contains("traced_total 2.0 # {trace_id=\"abc\"} 2.0 1.5\n"),
        "{body}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
}

#[test]
fn served_as_text_by_default() {
    let handler = promhttp::handler_for(Arc::new(client_registry()));
    let response = handler.respond_blocking(&Request::get("/metrics").body(()).unwrap());
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
}
