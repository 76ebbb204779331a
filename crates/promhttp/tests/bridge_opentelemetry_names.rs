//! OpenTelemetry names on a promhttp page: the examples of the OpenTelemetry
//! "Prometheus and OpenMetrics Compatibility" specification as a table, and the
//! four translation strategies of the Prometheus exporter specification, each as
//! golden pages served through the handler (text 0.0.4 escaped, text 1.0.0 and
//! OpenMetrics with `escaping=allow-utf-8` quoted, protobuf) and with the `Accept`
//! headers of Prometheus 3 and of an older scraper.
#![cfg(feature = "opentelemetry")]

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::Resource;
use promhttp::bridge::opentelemetry::{OtelSource, TranslationStrategy};
use promhttp::gather::{gather_all, Gathered};
use promhttp::model::{Label, MetricFamily, MetricType};
use promhttp::{ErrorHandling, Gather, MetricsHandler};

#[path = "bridge_opentelemetry/protobuf_dump.rs"]
mod protobuf_dump;
#[path = "bridge_opentelemetry/view.rs"]
mod view;

/// One instrument of the specification table.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Counter,
    UpDownCounter,
    Gauge,
    Histogram,
}

/// The specification's name and unit rules, one instrument a row: kind, name,
/// unit, then the family's name, type and unit under the default strategy.
///
/// Sources, in the OpenTelemetry "Prometheus and OpenMetrics Compatibility"
/// specification:
/// * "OTLP Metric points to Prometheus" > "Metric Metadata": invalid characters of
///   the name become `_` and runs of `_` collapse; the unit is translated with the
///   UCUM table of the other direction's "Metric Metadata" section; parts in braces
///   are dropped; rates such as `m/s` become `meters_per_second`; the unit is
///   appended unless the name already ends with it, before any type suffix.
/// * "Sums": a monotonic sum is a counter whose name gets `_total` unless it has
///   it; a non-monotonic sum is a gauge.
/// * Two rules from Prometheus' OTLP translation that the specification leaves open
///   and the issue names: unit `1` is `ratio` for gauges only, and a unit outside
///   the table is kept (`km/h` → `km_per_hour`).
const SPEC_NAMES: &[(Kind, &str, &str, &str, MetricType, &str)] = &[
    (
        Kind::Histogram,
        "http.server.request.duration",
        "s",
        "http_server_request_duration_seconds",
        MetricType::Histogram,
        "seconds",
    ),
    (
        Kind::Counter,
        "http.server.request.body.size",
        "By",
        "http_server_request_body_size_bytes_total",
        MetricType::Counter,
        "bytes",
    ),
    (
        Kind::Gauge,
        "system.memory.usage",
        "KiBy",
        "system_memory_usage_kibibytes",
        MetricType::Gauge,
        "kibibytes",
    ),
    (
        Kind::Gauge,
        "disk.capacity",
        "TiBy",
        "disk_capacity_tebibytes",
        MetricType::Gauge,
        "tebibytes",
    ),
    (
        Kind::Gauge,
        "cache.size",
        "kBy",
        "cache_size_kilobytes",
        MetricType::Gauge,
        "kilobytes",
    ),
    (
        Kind::Histogram,
        "rpc.latency",
        "ms",
        "rpc_latency_milliseconds",
        MetricType::Histogram,
        "milliseconds",
    ),
    (
        Kind::Gauge,
        "room.temperature",
        "Cel",
        "room_temperature_celsius",
        MetricType::Gauge,
        "celsius",
    ),
    (
        Kind::Gauge,
        "cpu.frequency",
        "Hz",
        "cpu_frequency_hertz",
        MetricType::Gauge,
        "hertz",
    ),
    (
        Kind::Gauge,
        "battery.charge",
        "%",
        "battery_charge_percent",
        MetricType::Gauge,
        "percent",
    ),
    // Unit `1`: a ratio for a gauge, nothing for the other kinds.
    (
        Kind::Gauge,
        "system.cpu.utilization",
        "1",
        "system_cpu_utilization_ratio",
        MetricType::Gauge,
        "ratio",
    ),
    (
        Kind::Counter,
        "faults",
        "1",
        "faults_total",
        MetricType::Counter,
        "",
    ),
    // Annotations in braces are no unit.
    (
        Kind::Counter,
        "http.server.requests",
        "{request}",
        "http_server_requests_total",
        MetricType::Counter,
        "",
    ),
    (
        Kind::UpDownCounter,
        "http.server.active_requests",
        "{request}",
        "http_server_active_requests",
        MetricType::Gauge,
        "",
    ),
    (
        Kind::Counter,
        "network.io",
        "By{packet}",
        "network_io_bytes_total",
        MetricType::Counter,
        "bytes",
    ),
    // Rates.
    (
        Kind::Gauge,
        "vehicle.speed",
        "m/s",
        "vehicle_speed_meters_per_second",
        MetricType::Gauge,
        "meters_per_second",
    ),
    (
        Kind::Gauge,
        "car.speed",
        "km/h",
        "car_speed_km_per_hour",
        MetricType::Gauge,
        "km_per_hour",
    ),
    (
        Kind::Gauge,
        "packets.rate",
        "{packet}/s",
        "packets_rate_per_second",
        MetricType::Gauge,
        "per_second",
    ),
    // A name that already ends with its unit or `_total` keeps one of each.
    (
        Kind::Histogram,
        "queue.wait_seconds",
        "s",
        "queue_wait_seconds",
        MetricType::Histogram,
        "seconds",
    ),
    (
        Kind::Counter,
        "jobs_total",
        "",
        "jobs_total",
        MetricType::Counter,
        "",
    ),
    (
        Kind::Counter,
        "sent_total",
        "By",
        "sent_bytes_total",
        MetricType::Counter,
        "bytes",
    ),
    // Invalid characters and runs of `_` (the SDK refuses names that start with a
    // digit, so the leading `_` rule is only unit-tested).
    (
        Kind::Gauge,
        "a.-b__c/d",
        "",
        "a_b_c_d",
        MetricType::Gauge,
        "",
    ),
];

#[test]
fn the_specifications_name_and_unit_examples() {
    let source = OtelSource::builder()
        .scope_labels(false)
        .target_info(false)
        .build();
    let provider = SdkMeterProvider::builder()
        .with_reader(source.clone())
        .build();
    let meter = provider.meter("spec");
    for &(kind, name, unit, ..) in SPEC_NAMES {
        match kind {
            Kind::Counter => meter.u64_counter(name).with_unit(unit).build().add(1, &[]),
            Kind::UpDownCounter => meter
                .i64_up_down_counter(name)
                .with_unit(unit)
                .build()
                .add(1, &[]),
            Kind::Gauge => meter
                .f64_gauge(name)
                .with_unit(unit)
                .build()
                .record(1.0, &[]),
            Kind::Histogram => meter
                .f64_histogram(name)
                .with_unit(unit)
                .build()
                .record(1.0, &[]),
        }
    }
    let page = gather_all(&source);
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    assert_eq!(page.families.len(), SPEC_NAMES.len());
    for &(kind, name, unit, family, metric_type, family_unit) in SPEC_NAMES {
        let found = page
            .families
            .iter()
            .find(|f| f.name == family)
            .unwrap_or_else(|| panic!("{kind:?} {name:?} in {unit:?}: no family {family:?}"));
        assert_eq!(
            (found.metric_type, found.unit.as_str()),
            (metric_type, family_unit),
            "{name:?} in {unit:?}"
        );
    }
}

fn labels(family: &MetricFamily) -> Vec<(String, String)> {
    family.metrics[0]
        .labels
        .iter()
        .map(|l: &Label| (l.name.to_string(), l.value.to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Specification, "OTLP Metric points to Prometheus":
/// * "Instrumentation Scope": the scope's name, version and schema URL as
///   `otel_scope_name`, `otel_scope_version`, `otel_scope_schema_url`, its
///   attributes as `otel_scope_<key>` translated like attribute keys, one that
///   would be one of those three names dropped (the scope of the specification's
///   own example: the otelhttp instrumentation, `v0.24.0`, schema 1.31.0, a
///   `library.mascot` attribute);
/// * "Metric Attributes": keys translated as names are, non-string values as
///   strings, keys that become one label name (scope labels included) merged into
///   one label whose values are joined with `;` in the order of the original keys;
/// * "Resource Attributes": one `target_info` gauge of value 1 whose labels are the
///   resource attributes and nothing else.
#[test]
fn the_specifications_scope_attribute_and_resource_examples() {
    let source = OtelSource::new();
    let provider = SdkMeterProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_attributes([
                    KeyValue::new("service.name", "checkout"),
                    KeyValue::new("service.instance.id", "i-1"),
                    KeyValue::new("host.arch", "amd64"),
                ])
                .build(),
        )
        .with_reader(source.clone())
        .build();
    let meter = provider.meter_with_scope(
        InstrumentationScope::builder(
            "go.opentelemetry.io.contrib.instrumentation.net.http.otelhttp",
        )
        .with_version("v0.24.0")
        .with_schema_url("https://opentelemetry.io/schemas/1.31.0")
        .with_attributes([
            KeyValue::new("library.mascot", "gopher"),
            // `otel_scope_` + `name` is taken by the scope's name: dropped.
            KeyValue::new("name", "shadow"),
        ])
        .build(),
    );
    meter.u64_counter("http.server.duration").build().add(
        1,
        &[
            KeyValue::new("http.status_code", 200),
            KeyValue::new("http.ok", true),
            // Three keys, one label: values in the order of the keys.
            KeyValue::new("net_peer_name", "c"),
            KeyValue::new("net.peer.name", "a"),
            KeyValue::new("net-peer-name", "b"),
            // A key that becomes a scope label's name merges with it.
            KeyValue::new("otel.scope.version", "mine"),
        ],
    );
    let page = gather_all(&source);
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    let family = |name: &str| {
        page.families
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no {name}: {:?}", page.families))
    };
    let counter = family("http_server_duration_total");
    assert_eq!(
        labels(counter),
        pairs(&[
            ("http_ok", "true"),
            ("http_status_code", "200"),
            // "net-peer-name" < "net.peer.name" < "net_peer_name" in byte order.
            ("net_peer_name", "b;a;c"),
            ("otel_scope_library_mascot", "gopher"),
            (
                "otel_scope_name",
                "go.opentelemetry.io.contrib.instrumentation.net.http.otelhttp"
            ),
            (
                "otel_scope_schema_url",
                "https://opentelemetry.io/schemas/1.31.0"
            ),
            // "otel.scope.version" < "otel_scope_version".
            ("otel_scope_version", "mine;v0.24.0"),
        ])
    );
    let target = family("target_info");
    assert_eq!(target.metric_type, MetricType::Gauge);
    assert_eq!(target.metrics.len(), 1);
    assert_eq!(
        labels(target),
        pairs(&[
            ("host_arch", "amd64"),
            ("service_instance_id", "i-1"),
            ("service_name", "checkout"),
        ])
    );
    assert_eq!(
        page.families
            .iter()
            .filter(|f| f.name == "target_info")
            .count(),
        1
    );
}

/// Scope attributes and the schema URL follow the strategy and the switch.
#[test]
fn scope_labels_follow_the_strategy_and_switch() {
    for (strategy, scope_labels, want) in [
        (
            TranslationStrategy::NoUTF8EscapingWithSuffixes,
            true,
            &[
                ("otel_scope_library.mascot", "ferris"),
                ("otel_scope_name", "s"),
                ("otel_scope_schema_url", "https://x/1"),
            ][..],
        ),
        (TranslationStrategy::default(), false, &[][..]),
    ] {
        let source = OtelSource::builder()
            .translation(strategy)
            .scope_labels(scope_labels)
            .target_info(false)
            .build();
        let provider = SdkMeterProvider::builder()
            .with_reader(source.clone())
            .build();
        let meter = provider.meter_with_scope(
            InstrumentationScope::builder("s")
                .with_schema_url("https://x/1")
                .with_attributes([KeyValue::new("library.mascot", "ferris")])
                .build(),
        );
        meter.f64_gauge("g").build().record(1.0, &[]);
        // What the source gives, before the handler escapes names for a scraper.
        let mut page = Gathered::default();
        source.gather_into(&mut page);
        assert_eq!(labels(&page.families[0]), pairs(want), "{strategy:?}");
    }
}

/// Every instrument kind, with dotted names and keys, for the strategy goldens.
fn provider(source: &OtelSource) -> SdkMeterProvider {
    let provider = SdkMeterProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_attributes([
                    KeyValue::new("service.name", "checkout"),
                    KeyValue::new("service.instance.id", "i-1"),
                ])
                .build(),
        )
        .with_view(view::exponential("rpc.size", 20, false))
        .with_reader(source.clone())
        .build();
    let meter = provider.meter_with_scope(
        InstrumentationScope::builder("shop")
            .with_version("1.2.0")
            .build(),
    );
    meter
        .u64_counter("http.server.requests")
        .with_unit("{request}")
        .with_description("Requests served.")
        .build()
        .add(
            3,
            &[
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.response.status_code", 200),
            ],
        );
    meter
        .i64_up_down_counter("queue.depth")
        .with_unit("{job}")
        .with_description("Jobs waiting.")
        .build()
        .add(4, &[]);
    let duration = meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_description("Request duration.")
        .with_boundaries(vec![0.1, 1.0])
        .build();
    duration.record(0.05, &[KeyValue::new("url.scheme", "https")]);
    duration.record(0.3, &[KeyValue::new("url.scheme", "https")]);
    let size = meter
        .u64_histogram("rpc.size")
        .with_unit("By")
        .with_description("Message size.")
        .build();
    for v in [1, 3, 100] {
        size.record(v, &[]);
    }
    meter
        .f64_gauge("system.cpu.utilization")
        .with_unit("1")
        .with_description("CPU in use.")
        .build()
        .record(0.25, &[KeyValue::new("cpu.logical_number", 0)]);
    provider
}

/// The `Accept` headers of the goldens, and each golden's file name.
const GOLDEN_ACCEPTS: &[(&str, &str)] = &[
    ("text_0.0.4.txt", "text/plain;version=0.0.4"),
    (
        "text_1.0.0_allow-utf-8.txt",
        "text/plain;version=1.0.0;escaping=allow-utf-8",
    ),
    (
        "openmetrics_allow-utf-8.txt",
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
    ),
    (
        "protobuf_allow-utf-8.txt",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8",
    ),
    (
        "protobuf.txt",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
    ),
];

const STRATEGIES: &[(TranslationStrategy, &str)] = &[
    (
        TranslationStrategy::UnderscoreEscapingWithSuffixes,
        "UnderscoreEscapingWithSuffixes",
    ),
    (
        TranslationStrategy::UnderscoreEscapingWithoutSuffixes,
        "UnderscoreEscapingWithoutSuffixes",
    ),
    (
        TranslationStrategy::NoUTF8EscapingWithSuffixes,
        "NoUTF8EscapingWithSuffixes",
    ),
    (TranslationStrategy::NoTranslation, "NoTranslation"),
];

/// Status, content type and body of one scrape.
async fn scrape(handler: &MetricsHandler, accept: &str) -> (u16, String, Vec<u8>) {
    let request = http::Request::get("/metrics")
        .header("accept", accept)
        .body(())
        .unwrap();
    let response = handler.respond(&request).await;
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, content_type, body.to_vec())
}

fn assert_golden(path: &std::path::Path, got: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, got).unwrap();
    }
    let want = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display()));
    assert_eq!(got, want, "golden {} differs; got:\n{got}", path.display());
}

#[tokio::test]
async fn golden_pages_per_strategy() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/bridge_opentelemetry/strategies");
    for &(strategy, strategy_name) in STRATEGIES {
        let source = OtelSource::builder().translation(strategy).build();
        let _provider = provider(&source);
        let handler = MetricsHandler::builder(source).openmetrics(true).build();
        for &(file, accept) in GOLDEN_ACCEPTS {
            let (status, _, body) = scrape(&handler, accept).await;
            assert_eq!(status, 200, "{strategy_name} {accept}");
            let page = if file.starts_with("protobuf") {
                protobuf_dump::without_start_times(&protobuf_dump::dump(&body).unwrap())
            } else {
                String::from_utf8(body).unwrap()
            };
            assert_golden(&dir.join(strategy_name).join(file), &page);
        }
    }
}

/// What Prometheus 3 sends (OpenMetrics 1.0.0 with `escaping=allow-utf-8` first)
/// and what Prometheus 2.42 sends (no `escaping`), against a source with UTF-8
/// names: the first reads them quoted, the second escaped with underscores.
#[tokio::test]
async fn utf8_names_for_prometheus_3_and_escaped_for_older_scrapers() {
    let prometheus_3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let prometheus_2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let source = OtelSource::builder()
        .translation(TranslationStrategy::NoUTF8EscapingWithSuffixes)
        .build();
    let _provider = provider(&source);
    let handler = MetricsHandler::builder(source).openmetrics(true).build();

    let (status, content_type, body) = scrape(&handler, prometheus_3).await;
    let page = String::from_utf8(body).unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
    );
    for line in [
        "# TYPE \"http.server.requests\" counter\n",
        "{\"http.server.requests_total\",\"http.request.method\"=\"GET\",\"http.response.status_code\"=\"200\",otel_scope_name=\"shop\",otel_scope_version=\"1.2.0\"} 3.0\n",
        "# UNIT \"http.server.request.duration_seconds\" seconds\n",
        "{\"http.server.request.duration_seconds_bucket\",otel_scope_name=\"shop\",otel_scope_version=\"1.2.0\",\"url.scheme\"=\"https\",le=\"0.1\"} 1\n",
        "target_info{\"service.instance.id\"=\"i-1\",\"service.name\"=\"checkout\"} 1.0\n",
    ] {
        assert!(page.contains(line), "{line}in\n{page}");
    }

    let (status, content_type, body) = scrape(&handler, prometheus_2).await;
    let page = String::from_utf8(body).unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    for line in [
        "# TYPE http_server_requests counter\n",
        "http_server_requests_total{http_request_method=\"GET\",http_response_status_code=\"200\",otel_scope_name=\"shop\",otel_scope_version=\"1.2.0\"} 3.0\n",
        "# UNIT http_server_request_duration_seconds seconds\n",
        "target_info{service_instance_id=\"i-1\",service_name=\"checkout\"} 1.0\n",
    ] {
        assert!(page.contains(line), "{line}in\n{page}");
    }
    assert!(!page.contains("http.server"), "{page}");

    // The escaped page is the default strategy's page: same names, same labels.
    let default = OtelSource::new();
    let _default_provider = provider(&default);
    let default_handler = MetricsHandler::builder(default).openmetrics(true).build();
    let (_, _, default_body) = scrape(&default_handler, prometheus_2).await;
    assert_eq!(page, String::from_utf8(default_body).unwrap());
}

/// Names that differ only where escaping replaces characters: one label for the
/// escaping strategy (values merged), two for a Prometheus 3 scrape of the UTF-8
/// strategy, and for an older scraper of the UTF-8 strategy an error naming both
/// (the default error handling answers 500; continuing, the clashing series and
/// family are left out).
#[tokio::test]
async fn collisions_made_by_escaping_at_serve_time() {
    let record = |source: &OtelSource| {
        let provider = SdkMeterProvider::builder()
            .with_reader(source.clone())
            .build();
        let meter = provider.meter("m");
        let q = |v| [KeyValue::new("q", v)];
        meter.f64_gauge("queue.depth").build().record(1.0, &q("a"));
        meter.f64_gauge("queue_depth").build().record(2.0, &q("b"));
        meter.f64_gauge("room.temperature").build().record(
            21.5,
            &[KeyValue::new("room.id", "a"), KeyValue::new("room_id", "b")],
        );
        provider
    };
    let old = "text/plain;version=0.0.4";
    let new = "text/plain;version=1.0.0;escaping=allow-utf-8";
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();

    // The default strategy merges at translation: the same page for both.
    let source = OtelSource::builder()
        .scope_labels(false)
        .target_info(false)
        .build();
    let _p = record(&source);
    let handler = MetricsHandler::builder(source).build();
    for accept in [old, new] {
        let (status, _, body) = scrape(&handler, accept).await;
        let page = text(body);
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains("\nroom_temperature{room_id=\"a;b\"} 21.5\n"),
            "{page}"
        );
        assert!(
            page.contains("\nqueue_depth{q=\"a\"} 1\nqueue_depth{q=\"b\"} 2\n"),
            "{page}"
        );
    }

    let utf8 = || {
        OtelSource::builder()
            .scope_labels(false)
            .target_info(false)
            .translation(TranslationStrategy::NoUTF8EscapingWithSuffixes)
            .build()
    };
    let source = utf8();
    let _p = record(&source);
    let handler = MetricsHandler::builder(source).build();
    let (status, _, body) = scrape(&handler, new).await;
    assert_eq!(
        (status, text(body).as_str()),
        (
            200,
            "# TYPE \"queue.depth\" gauge\n{\"queue.depth\",q=\"a\"} 1\n\
             # TYPE queue_depth gauge\nqueue_depth{q=\"b\"} 2\n\
             # TYPE \"room.temperature\" gauge\n{\"room.temperature\",\"room.id\"=\"a\",room_id=\"b\"} 21.5\n"
        )
    );
    let (status, _, body) = scrape(&handler, old).await;
    let page = text(body);
    assert_eq!(status, 500, "{page}");
    assert!(
        page.contains("metric names \"queue_depth\" and \"queue.depth\" are both \"queue_depth\" with escaping=underscores"),
        "{page}"
    );
    assert!(page.contains("\"room.id\""), "{page}");

    let source = utf8();
    let _p = record(&source);
    let handler = MetricsHandler::builder(source)
        .error_handling(ErrorHandling::Continue)
        .build();
    let (status, _, body) = scrape(&handler, old).await;
    assert_eq!(
        (status, text(body).as_str()),
        (200, "# TYPE queue_depth gauge\nqueue_depth{q=\"b\"} 2\n")
    );
}

/// Two instruments of one Prometheus name from two scopes (as the specification's
/// exporter rules and Go's exporter treat them): of one type with two
/// descriptions, one family whose help is the first description and which has the
/// series of both; of two types, the later instrument left out and the rest of the
/// page served (not a failed scrape).
#[tokio::test]
async fn instruments_of_one_name_agree_or_the_later_is_left_out() {
    let source = OtelSource::new();
    let provider = SdkMeterProvider::builder()
        .with_reader(source.clone())
        .build();
    let a = provider.meter("scope.a");
    let b = provider.meter("scope.b");
    a.u64_counter("jobs")
        .with_description("Jobs done by A.")
        .build()
        .add(2, &[]);
    b.u64_counter("jobs")
        .with_description("Jobs done by B.")
        .build()
        .add(3, &[]);
    a.u64_counter("queue.depth").build().add(5, &[]);
    b.i64_up_down_counter("queue.depth").build().add(7, &[]);

    let page = gather_all(&source);
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    let jobs: Vec<&MetricFamily> = page
        .families
        .iter()
        .filter(|f| f.name == "jobs_total")
        .collect();
    assert_eq!(jobs.len(), 1, "{:?}", page.families);
    assert_eq!(jobs[0].help, "Jobs done by A.");
    assert_eq!(jobs[0].metrics.len(), 2, "{:?}", jobs[0]);
    let depth: Vec<&MetricFamily> = page
        .families
        .iter()
        .filter(|f| f.name.starts_with("queue_depth"))
        .collect();
    assert_eq!(depth.len(), 1, "{:?}", page.families);
    assert_eq!(depth[0].name, "queue_depth_total");
    assert_eq!(depth[0].metric_type, MetricType::Counter);

    let handler = MetricsHandler::builder(source.clone()).build();
    let (status, _, body) = scrape(&handler, "text/plain;version=0.0.4").await;
    let body = String::from_utf8(body).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.matches("# HELP jobs_total").count(), 1, "{body}");
    assert!(
        body.contains("# HELP jobs_total Jobs done by A.\n"),
        "{body}"
    );
    assert!(body.contains("otel_scope_name=\"scope.b\""), "{body}");
    provider.shutdown().unwrap();
}
