//! A prometheus-client `Registry` through the bridge: encoded by promhttp's encoders
//! (golden text, OpenMetrics and decoded protobuf pages; the protobuf page carries
//! exactly what prometheus-client's own protobuf encoder makes), merged with a
//! `prometheus` registry on one page, served by the handler.
#![cfg(feature = "prometheus-client")]

use std::sync::{Arc, RwLock};
use std::time::{Duration, UNIX_EPOCH};

use http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model as pb;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::{CounterWithExemplar, HistogramWithExemplars};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, NativeHistogramConfig};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use promhttp::encode::{encode, EncodeOptions, Format};
use promhttp::gather::{gather_all, GatherErrorKind, Gatherers};
use promhttp::prometheus;
use prost::Message;

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

    // Classic and native buckets. Schema 0: 0.3 is in bucket -1, (0.25, 0.5];
    // 1.5 in bucket 1, (1, 2]; 3 in bucket 2, (2, 4].
    let rpc = Histogram::new_classic_and_native([0.5, 2.0], NativeHistogramConfig::with_schema(0));
    r.register_with_unit("rpc", "Classic and native", Unit::Seconds, rpc.clone());
    for v in [0.3, 1.5, 1.5, 3.0] {
        rpc.observe(v);
    }

    // Native buckets only: -1.5 in negative bucket 1, 0 in the zero bucket, 8 in
    // bucket 3, (4, 8].
    let sizes = Histogram::new_native(NativeHistogramConfig::with_schema(0));
    r.register("sizes", "Native only", sizes.clone());
    for v in [-1.5, 0.0, 8.0] {
        sizes.observe(v);
    }

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

fn page_bytes(format: Format, source: &dyn promhttp::Gather, opts: &EncodeOptions) -> Vec<u8> {
    let g = gather_all(source);
    assert!(g.errors.is_empty(), "{:?}", g.errors);
    let mut out = Vec::new();
    encode(format, &g.families, opts, &mut out);
    out
}

fn page(format: Format, source: &dyn promhttp::Gather) -> String {
    String::from_utf8(page_bytes(format, source, &EncodeOptions::default())).unwrap()
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
# HELP rpc_seconds Classic and native.
# TYPE rpc_seconds histogram
rpc_seconds_bucket{le="0.5"} 1
rpc_seconds_bucket{le="2"} 3
rpc_seconds_bucket{le="+Inf"} 4
rpc_seconds_sum 6.3
rpc_seconds_count 4
# HELP sizes Native only.
# TYPE sizes histogram
sizes_bucket{le="+Inf"} 3
sizes_sum 6.5
sizes_count 3
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
# TYPE rpc_seconds histogram
# UNIT rpc_seconds seconds
# HELP rpc_seconds Classic and native.
rpc_seconds_bucket{le="0.5"} 1
rpc_seconds_bucket{le="2.0"} 3
rpc_seconds_bucket{le="+Inf"} 4
rpc_seconds_sum 6.3
rpc_seconds_count 4
# TYPE sizes histogram
# HELP sizes Native only.
sizes_bucket{le="+Inf"} 3
sizes_sum 6.5
sizes_count 3
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

/// The protobuf page, decoded (by prost, into prometheus-client's own message
/// types) and written one line per series: native buckets as `index:count`
/// (zero threshold / zero count first). Our encoder writes no `+Inf` bucket
/// without an exemplar (the scraper derives it from the count).
const PROTOBUF: &str = r#"build_info GAUGE "Build information."
  {version="1.2.3"} gauge 1
latency_seconds HISTOGRAM "A histogram." unit=seconds
  {} count 3 sum 3.55 buckets 0.1:1 # {trace_id="fast"} 0.05, 1:2, inf:3 # {trace_id="slow"} 3
plain_total COUNTER "A plain counter."
  {} counter 3
requests_total COUNTER "Requests by path."
  {path="a\"b\\c\nd"} counter 1
  {path="grüße/✓"} counter 2
rpc_seconds HISTOGRAM "Classic and native." unit=seconds
  {} count 4 sum 6.3 buckets 0.5:1, 2:3 native schema 0 zero 2.938735877055719e-39/0 positive -1:1 0:0 1:2 2:1 negative -
sizes HISTOGRAM "Native only."
  {} count 3 sum 6.5 buckets - native schema 0 zero 2.938735877055719e-39/1 positive 3:1 negative 1:1
sub_hits_total COUNTER "Hits in a sub-registry."
  {zone="eu"} counter 1
temperature GAUGE "A gauge."
  {} gauge -1.5
traced_total COUNTER "A counter with an exemplar."
  {} counter 2 # {trace_id="abc"} 2 @1.5
"#;

fn decode(mut bytes: &[u8]) -> Vec<pb::MetricFamily> {
    let mut families = Vec::new();
    while !bytes.is_empty() {
        families.push(pb::MetricFamily::decode_length_delimited(&mut bytes).expect("protobuf"));
    }
    families
}

fn labels(l: &[pb::LabelPair]) -> String {
    let pairs: Vec<String> = l
        .iter()
        .map(|l| format!("{}={:?}", l.name, l.value))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

fn exemplar(e: &Option<pb::Exemplar>) -> String {
    match e {
        None => String::new(),
        Some(e) => {
            let mut s = format!(" # {} {}", labels(&e.label), e.value);
            if let Some(t) = &e.timestamp {
                s += &format!(" @{}", t.seconds as f64 + f64::from(t.nanos) / 1e9);
            }
            s
        }
    }
}

/// Absolute counts of one side's native buckets, `index:count`.
fn native_side(spans: &[pb::BucketSpan], deltas: &[i64]) -> String {
    let (mut index, mut count, mut out) = (0i32, 0i64, Vec::new());
    let mut deltas = deltas.iter();
    for span in spans {
        index += span.offset;
        for _ in 0..span.length {
            count += deltas.next().expect("a delta per bucket");
            out.push(format!("{index}:{count}"));
            index += 1;
        }
    }
    assert!(deltas.next().is_none(), "deltas beyond the spans");
    if out.is_empty() {
        "-".to_owned()
    } else {
        out.join(" ")
    }
}

fn render(families: &[pb::MetricFamily]) -> String {
    let mut out = String::new();
    for f in families {
        let t = pb::MetricType::try_from(f.r#type).unwrap().as_str_name();
        out += &format!("{} {t} {:?}", f.name, f.help);
        if !f.unit.is_empty() {
            out += &format!(" unit={}", f.unit);
        }
        out.push('\n');
        for m in &f.metric {
            out += &format!("  {}", labels(&m.label));
            if let Some(c) = &m.counter {
                out += &format!(" counter {}{}", c.value, exemplar(&c.exemplar));
            }
            if let Some(g) = &m.gauge {
                out += &format!(" gauge {}", g.value);
            }
            if let Some(h) = &m.histogram {
                let buckets: Vec<String> = h
                    .bucket
                    .iter()
                    .map(|b| {
                        let bound = if b.upper_bound.is_infinite() {
                            "inf".to_owned()
                        } else {
                            b.upper_bound.to_string()
                        };
                        format!("{bound}:{}{}", b.cumulative_count, exemplar(&b.exemplar))
                    })
                    .collect();
                let buckets = if buckets.is_empty() {
                    "-".to_owned()
                } else {
                    buckets.join(", ")
                };
                out += &format!(
                    " count {} sum {} buckets {buckets}",
                    h.sample_count, h.sample_sum
                );
                if h.schema != 0 || !h.positive_span.is_empty() || !h.negative_span.is_empty() {
                    out += &format!(
                        " native schema {} zero {:?}/{} positive {} negative {}",
                        h.schema,
                        h.zero_threshold,
                        h.zero_count,
                        native_side(&h.positive_span, &h.positive_delta),
                        native_side(&h.negative_span, &h.negative_delta),
                    );
                }
            }
            out.push('\n');
        }
    }
    out
}

#[test]
fn protobuf_carries_native_histograms_and_exemplars() {
    let bytes = page_bytes(
        Format::Protobuf,
        &client_registry(),
        &EncodeOptions::default(),
    );
    assert_eq!(render(&decode(&bytes)), PROTOBUF);
}

/// With start times on, the protobuf page holds exactly the messages
/// prometheus-client's own protobuf encoder makes, in our order.
#[test]
fn protobuf_is_what_prometheus_client_encodes() {
    let registry = client_registry();
    let opts = EncodeOptions::default().with_created(true);
    let ours = decode(&page_bytes(Format::Protobuf, &registry, &opts));
    let mut theirs =
        prometheus_client::encoding::prometheus_protobuf::encode(&registry).expect("encode");
    // Ours: families by name, series by label values, no `+Inf` bucket unless it
    // has an exemplar; theirs: registration order, every bucket.
    theirs.retain(|f| !f.metric.is_empty());
    theirs.sort_by(|a, b| a.name.cmp(&b.name));
    for f in &mut theirs {
        f.metric.sort_by_key(|m| labels(&m.label));
        for h in f.metric.iter_mut().filter_map(|m| m.histogram.as_mut()) {
            h.bucket
                .retain(|b| b.upper_bound != f64::INFINITY || b.exemplar.is_some());
        }
    }
    assert_eq!(ours, theirs);
    // The native histograms' start times arrived.
    let rpc = ours.iter().find(|f| f.name == "rpc_seconds").unwrap();
    assert!(rpc.metric[0]
        .histogram
        .as_ref()
        .unwrap()
        .start_timestamp
        .is_some());
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
            "rpc_seconds",
            "sizes",
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
