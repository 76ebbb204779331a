//! The OpenTelemetry reader: an SDK meter provider in, promhttp's encoders and
//! handler out. Golden pages for each instrument kind in text 0.0.4, OpenMetrics
//! 1.0 and protobuf (decoded here), written from the examples of the OpenTelemetry
//! "Prometheus and OpenMetrics Compatibility" specification (names, units,
//! `_total`, `target_info`, scope labels, attribute merging).
#![cfg(feature = "opentelemetry")]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::metrics::{Aggregation, Instrument, SdkMeterProvider, Stream};
use opentelemetry_sdk::Resource;
use promhttp::bridge::opentelemetry::OtelSource;
use promhttp::encode::{encode, EncodeOptions, Format};
use promhttp::gather::{gather_all, GatherErrorKind};
use promhttp::model::{MetricType, Value};
use promhttp::Gather;

#[path = "bridge_opentelemetry/protobuf_dump.rs"]
mod protobuf_dump;
#[path = "bridge_opentelemetry/view.rs"]
mod view;

/// A provider with every instrument kind, recorded deterministically.
fn provider(source: &OtelSource, max_scale: i8) -> SdkMeterProvider {
    let provider = SdkMeterProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_attributes([
                    KeyValue::new("service.name", "checkout"),
                    KeyValue::new("service.instance.id", "i-1"),
                ])
                .build(),
        )
        .with_view(view::exponential("rpc.size", max_scale, true))
        .with_reader(source.clone())
        .build();
    let meter = provider.meter_with_scope(
        InstrumentationScope::builder("shop")
            .with_version("1.2.0")
            .build(),
    );
    let get = [
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("http.response.status_code", 200),
    ];
    let requests = meter
        .u64_counter("http.server.requests")
        .with_unit("{request}")
        .with_description("Requests served.")
        .build();
    requests.add(3, &get);
    requests.add(1, &[KeyValue::new("http.request.method", "POST")]);
    let active = meter
        .i64_up_down_counter("http.server.active_requests")
        .with_unit("{request}")
        .with_description("Requests in flight.")
        .build();
    active.add(5, &[]);
    active.add(-2, &[]);
    let duration = meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_description("Request duration.")
        .with_boundaries(vec![0.1, 0.5, 1.0])
        .build();
    for v in [0.05, 0.3, 0.3, 2.0] {
        duration.record(v, &[]);
    }
    let size = meter
        .u64_histogram("rpc.size")
        .with_unit("By")
        .with_description("Message size.")
        .build();
    for v in [1, 3, 3, 5, 100] {
        size.record(v, &[]);
    }
    let temperature = meter
        .f64_gauge("room.temperature")
        .with_unit("Cel")
        .with_description("Room temperature.")
        .build();
    // Two keys that translate to one label name: merged in key order.
    temperature.record(
        21.5,
        &[KeyValue::new("room.id", "a"), KeyValue::new("room_id", "b")],
    );
    meter
        .f64_observable_gauge("cpu.utilization")
        .with_unit("1")
        .with_description("CPU in use.")
        .with_callback(|o| o.observe(0.25, &[]))
        .build();
    meter
        .u64_observable_counter("jobs.done")
        .with_description("Jobs done.")
        .with_callback(|o| o.observe(7, &[KeyValue::new("queue", "mail")]))
        .build();
    provider
}

fn render(source: &dyn Gather, format: Format, opts: &EncodeOptions) -> Vec<u8> {
    let page = gather_all(source);
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    let mut out = Vec::new();
    encode(format, &page.families, opts, &mut out);
    out
}

fn text(source: &dyn Gather, format: Format) -> String {
    String::from_utf8(render(source, format, &EncodeOptions::default())).unwrap()
}

const TEXT: &str = r#"# HELP cpu_utilization_ratio CPU in use.
# TYPE cpu_utilization_ratio gauge
cpu_utilization_ratio{otel_scope_name="shop",otel_scope_version="1.2.0"} 0.25
# HELP http_server_active_requests Requests in flight.
# TYPE http_server_active_requests gauge
http_server_active_requests{otel_scope_name="shop",otel_scope_version="1.2.0"} 3
# HELP http_server_request_duration_seconds Request duration.
# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_bucket{otel_scope_name="shop",otel_scope_version="1.2.0",le="0.1"} 1
http_server_request_duration_seconds_bucket{otel_scope_name="shop",otel_scope_version="1.2.0",le="0.5"} 3
http_server_request_duration_seconds_bucket{otel_scope_name="shop",otel_scope_version="1.2.0",le="1"} 3
http_server_request_duration_seconds_bucket{otel_scope_name="shop",otel_scope_version="1.2.0",le="+Inf"} 4
http_server_request_duration_seconds_sum{otel_scope_name="shop",otel_scope_version="1.2.0"} 2.65
http_server_request_duration_seconds_count{otel_scope_name="shop",otel_scope_version="1.2.0"} 4
# HELP http_server_requests_total Requests served.
# TYPE http_server_requests_total counter
http_server_requests_total{http_request_method="GET",http_response_status_code="200",otel_scope_name="shop",otel_scope_version="1.2.0"} 3
http_server_requests_total{http_request_method="POST",otel_scope_name="shop",otel_scope_version="1.2.0"} 1
# HELP jobs_done_total Jobs done.
# TYPE jobs_done_total counter
jobs_done_total{otel_scope_name="shop",otel_scope_version="1.2.0",queue="mail"} 7
# HELP room_temperature_celsius Room temperature.
# TYPE room_temperature_celsius gauge
room_temperature_celsius{otel_scope_name="shop",otel_scope_version="1.2.0",room_id="a;b"} 21.5
# HELP rpc_size_bytes Message size.
# TYPE rpc_size_bytes histogram
rpc_size_bytes_bucket{otel_scope_name="shop",otel_scope_version="1.2.0",le="+Inf"} 5
rpc_size_bytes_sum{otel_scope_name="shop",otel_scope_version="1.2.0"} 112
rpc_size_bytes_count{otel_scope_name="shop",otel_scope_version="1.2.0"} 5
# HELP target_info Target metadata
# TYPE target_info gauge
target_info{service_instance_id="i-1",service_name="checkout"} 1
"#;

#[test]
fn text_golden() {
    let source = OtelSource::new();
    let _provider = provider(&source, 20);
    assert_eq!(text(&source, Format::Text), TEXT);
}

const OPENMETRICS: &str = r#"# TYPE cpu_utilization_ratio gauge
# UNIT cpu_utilization_ratio ratio
# HELP cpu_utilization_ratio CPU in use.
cpu_utilization_ratio{otel_scope_name="shop",otel_scope_version="1.2.0"} 0.25
# TYPE http_server_active_requests gauge
# HELP http_server_active_requests Requests in flight.
http_server_active_requests{otel_scope_name="shop",otel_scope_version="1.2.0"} 3.0
# TYPE http_server_request_duration_seconds histogram
# UNIT http_server_request_duration_seconds seconds
# HELP http_server_request_duration_seconds Request duration.
http_server_request_duration_seconds_bucket{otel_scope_name="shop",otel_scope_version="1.2.0",le="0.1"} 1
http_server_request_duration_seconds_bucket{otel_scope_name="shop",otel_scope_version="1.2.0",le="0.5"} 3
http_server_request_duration_seconds_bucket{otel_scope_name="shop",otel_scope_version="1.2.0",le="1.0"} 3
http_server_request_duration_seconds_bucket{otel_scope_name="shop",otel_scope_version="1.2.0",le="+Inf"} 4
http_server_request_duration_seconds_sum{otel_scope_name="shop",otel_scope_version="1.2.0"} 2.65
http_server_request_duration_seconds_count{otel_scope_name="shop",otel_scope_version="1.2.0"} 4
# TYPE http_server_requests counter
# HELP http_server_requests Requests served.
http_server_requests_total{http_request_method="GET",http_response_status_code="200",otel_scope_name="shop",otel_scope_version="1.2.0"} 3.0
http_server_requests_total{http_request_method="POST",otel_scope_name="shop",otel_scope_version="1.2.0"} 1.0
# TYPE jobs_done counter
# HELP jobs_done Jobs done.
jobs_done_total{otel_scope_name="shop",otel_scope_version="1.2.0",queue="mail"} 7.0
# TYPE room_temperature_celsius gauge
# UNIT room_temperature_celsius celsius
# HELP room_temperature_celsius Room temperature.
room_temperature_celsius{otel_scope_name="shop",otel_scope_version="1.2.0",room_id="a;b"} 21.5
# TYPE rpc_size_bytes histogram
# UNIT rpc_size_bytes bytes
# HELP rpc_size_bytes Message size.
rpc_size_bytes_bucket{otel_scope_name="shop",otel_scope_version="1.2.0",le="+Inf"} 5
rpc_size_bytes_sum{otel_scope_name="shop",otel_scope_version="1.2.0"} 112.0
rpc_size_bytes_count{otel_scope_name="shop",otel_scope_version="1.2.0"} 5
# TYPE target_info gauge
# HELP target_info Target metadata
target_info{service_instance_id="i-1",service_name="checkout"} 1.0
# EOF
"#;

#[test]
fn openmetrics_golden() {
    let source = OtelSource::new();
    let _provider = provider(&source, 20);
    assert_eq!(text(&source, Format::OpenMetrics), OPENMETRICS);
}

#[test]
fn protobuf_golden() {
    let source = OtelSource::new();
    let _provider = provider(&source, 20);
    let bytes = render(&source, Format::Protobuf, &EncodeOptions::default());
    let dump = protobuf_dump::without_start_times(&protobuf_dump::dump(&bytes).unwrap());
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/bridge_opentelemetry/protobuf.golden");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &dump).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap();
    assert_eq!(dump, expected, "got:\n{dump}");
}

/// The native histogram the SDK's exponential histogram of `values` becomes, with
/// the view's `max_scale` (160 buckets at most, the SDK's default).
fn native_of(max_scale: i8, values: &[f64]) -> (promhttp::model::NativeHistogram, u64, f64) {
    let source = OtelSource::new();
    let provider = SdkMeterProvider::builder()
        .with_view(move |_: &Instrument| {
            Stream::builder()
                .with_aggregation(Aggregation::Base2ExponentialHistogram {
                    max_size: 160,
                    max_scale,
                    record_min_max: false,
                })
                .build()
                .ok()
        })
        .with_reader(source.clone())
        .build();
    let h = provider.meter("m").f64_histogram("h").build();
    for v in values {
        h.record(*v, &[]);
    }
    let page = gather_all(&source);
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    let family = page.families.iter().find(|f| f.name == "h").unwrap();
    let Value::Histogram(h) = &family.metrics[0].value else {
        panic!("{family:?}")
    };
    (*h.native.clone().unwrap(), h.count, h.sum)
}

#[test]
fn scales_above_8_are_served_at_schema_8_and_coarser_ones_as_they_are() {
    let wide = [3.0, 5.0, 7.0, 100.0];
    // 1.05 to 1.2 fits 160 buckets at scale 9, not 10; one value stays at 20.
    let narrow = [1.05, 1.1, 1.15, 1.2];
    for (max_scale, values, schema) in [
        (20i8, &[3.0][..], 8),
        (20, &narrow[..], 8),
        (8, &narrow[..], 8),
        (20, &wide[..], 4),
        (3, &wide[..], 3),
        (0, &wide[..], 0),
        (-4, &wide[..], -4),
    ] {
        let (native, count, sum) = native_of(max_scale, values);
        assert_eq!(native.schema, schema, "max_scale {max_scale}, {values:?}");
        // Every bucket holds exactly the observations in its bounds, (base^(i-1), base^i].
        let base = 2f64.powf(2f64.powi(-schema));
        let mut seen = 0;
        for (i, count) in native.positive_counts() {
            let (lo, hi) = (base.powi(i - 1), base.powi(i));
            let inside = values.iter().filter(|v| **v > lo && **v <= hi).count() as u64;
            assert_eq!(count, inside, "schema {schema} bucket {i} ({lo}, {hi}]");
            seen += count;
        }
        let n = values.len() as u64;
        assert_eq!((seen, count, sum), (n, n, values.iter().sum::<f64>()));
    }
}

#[test]
fn a_scale_below_minus_4_is_left_out_and_reported() {
    let source = OtelSource::new();
    let _provider = provider(&source, -5);
    let page = gather_all(&source);
    let error = page
        .errors
        .iter()
        .find(|e| e.family() == Some("rpc_size_bytes"))
        .expect("an error for the histogram");
    assert!(
        matches!(error.kind(), GatherErrorKind::SourceFailed { message } if message.contains("scale -5")),
        "{error}"
    );
    let family = page.families.iter().find(|f| f.name == "rpc_size_bytes");
    assert!(family.is_none_or(|f| f.metrics.is_empty()), "{family:?}");
}

#[test]
fn start_times_are_served_as_created_times() {
    let before = SystemTime::now() - Duration::from_secs(1);
    let source = OtelSource::new();
    let _provider = provider(&source, 20);
    let page = gather_all(&source);
    for f in &page.families {
        for m in &f.metrics {
            match f.metric_type {
                MetricType::Counter | MetricType::Histogram => {
                    let created = m.created.expect("a created time");
                    assert!(
                        created >= before && created <= SystemTime::now(),
                        "{}",
                        f.name
                    );
                }
                _ => assert_eq!(m.created, None, "{}", f.name),
            }
            assert_eq!(m.timestamp, None, "{}", f.name);
        }
    }
    let om = render(
        &source,
        Format::OpenMetrics,
        &EncodeOptions::default().with_created(true),
    );
    let om = String::from_utf8(om).unwrap();
    assert!(
        om.contains("\nhttp_server_requests_created{http_request_method=\"GET\""),
        "{om}"
    );
}

#[test]
fn builder_switches_scope_labels_and_target_info() {
    let source = OtelSource::builder()
        .scope_labels(false)
        .target_info(false)
        .build();
    let _provider = provider(&source, 20);
    let page = text(&source, Format::Text);
    assert!(!page.contains("target_info"), "{page}");
    assert!(!page.contains("otel_scope"), "{page}");
    assert!(
        page.contains("\njobs_done_total{queue=\"mail\"} 7\n"),
        "{page}"
    );
}

#[test]
fn an_unregistered_or_shut_down_reader_is_an_error_not_an_empty_page() {
    let source = OtelSource::new();
    let page = gather_all(&source);
    assert!(page.families.is_empty());
    assert!(
        matches!(page.errors[..], [ref e] if matches!(e.kind(), GatherErrorKind::SourceFailed { .. })),
        "{:?}",
        page.errors
    );
    let provider = provider(&source, 20);
    assert!(gather_all(&source).errors.is_empty());
    provider.shutdown().unwrap();
    assert_eq!(gather_all(&source).errors.len(), 1);
}

#[test]
fn counters_are_exact_under_concurrent_adds_and_scrapes() {
    let source = OtelSource::new();
    let provider = SdkMeterProvider::builder()
        .with_reader(source.clone())
        .build();
    let counter = Arc::new(provider.meter("m").u64_counter("adds").build());
    std::thread::scope(|s| {
        for _ in 0..4 {
            let counter = counter.clone();
            s.spawn(move || {
                for _ in 0..10_000 {
                    counter.add(1, &[KeyValue::new("k", "v")]);
                }
            });
        }
        s.spawn(|| {
            for _ in 0..20 {
                let _ = gather_all(&source);
            }
        });
    });
    let page = text(&source, Format::Text);
    assert!(
        page.contains("adds_total{k=\"v\",otel_scope_name=\"m\"} 40000\n"),
        "{page}"
    );
}

#[test]
#[ignore = "needs promtool: run scripts/install-test-deps.sh"]
fn promtool_accepts_the_page() {
    let source = OtelSource::new();
    let _provider = provider(&source, 20);
    let page = render(&source, Format::Text, &EncodeOptions::default());
    promhttp_test_support::promtool_check_metrics(&page).unwrap();
}

/// The `opentelemetry-prometheus` route: its collector (built on `prometheus` 0.14,
/// the version promhttp re-exports) fills a `promhttp::prometheus::Registry` that
/// our handler serves, negotiated like any registry. It leaves out what it cannot
/// map (the exponential histogram), which `OtelSource` serves.
#[test]
fn opentelemetry_prometheus_collector_is_served_by_the_handler() {
    use http_body_util::BodyExt as _;

    let registry = promhttp::prometheus::Registry::new();
    let exporter = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .build()
        .unwrap();
    let provider = SdkMeterProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_service_name("legacy")
                .build(),
        )
        .with_reader(exporter)
        .build();
    let meter = provider.meter("shop");
    meter
        .u64_counter("http.server.requests")
        .with_description("Requests served.")
        .build()
        .add(3, &[KeyValue::new("http.request.method", "GET")]);
    meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_boundaries(vec![0.5])
        .build()
        .record(0.3, &[]);

    let handler = promhttp::MetricsHandler::builder(registry)
        .openmetrics(true)
        .build();
    for (accept, content_type) in [
        (
            "text/plain;version=0.0.4",
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        (
            "application/openmetrics-text;version=1.0.0",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    ] {
        let request = http::Request::get("/metrics")
            .header("accept", accept)
            .body(())
            .unwrap();
        let response = handler.respond_blocking(&request);
        assert_eq!(response.status(), http::StatusCode::OK);
        assert_eq!(response.headers()["content-type"], content_type);
        let body = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(response.into_body().collect())
            .unwrap()
            .to_bytes();
        let page = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            page.contains("http_server_requests_total{http_request_method=\"GET\",otel_scope_name=\"shop\"} 3"),
            "{page}"
        );
        assert!(
            page.contains("http_server_request_duration_seconds_bucket{otel_scope_name=\"shop\",le=\"0.5\"} 1"),
            "{page}"
        );
        assert!(
            page.contains("target_info{service_name=\"legacy\"} 1"),
            "{page}"
        );
    }
}
