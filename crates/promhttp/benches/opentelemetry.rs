//! Collect-and-encode of OpenTelemetry metrics, in one process: promhttp's
//! [`OtelSource`] (collect from the SDK, map, gather, encode text 0.0.4) beside
//! `opentelemetry-prometheus` (its collector in a `prometheus::Registry`, gathered
//! and encoded by the `prometheus` crate's `TextEncoder`).
//!
//! Workload per size `n` (1k and 10k series): a counter with `n` series (two
//! attributes, `http.route` of 50 values and `id`) and a histogram with `n / 10`
//! series of 10 explicit buckets, recorded identically into two meter providers,
//! one per exporter (with the SDK's per-instrument series limit raised to `n + 1`).
//!
//! `cargo bench -p promhttp --bench opentelemetry`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::{Instrument, SdkMeterProvider, Stream};
use opentelemetry_sdk::Resource;
use promhttp::bridge::opentelemetry::OtelSource;
use promhttp::encode::{encode, EncodeOptions, Format};
use promhttp::gather::gather_all;
use promhttp::prometheus::{Encoder as _, Registry, TextEncoder};

const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// A meter provider with `reader`, holding the workload of `n` series.
fn provider(
    reader: impl opentelemetry_sdk::metrics::reader::MetricReader,
    n: usize,
) -> SdkMeterProvider {
    // The SDK keeps 2000 series per instrument by default (later ones go to one
    // overflow series): raise the limit so every series is on the page.
    let provider = SdkMeterProvider::builder()
        .with_resource(Resource::builder_empty().with_service_name("bench").build())
        .with_view(move |_: &Instrument| {
            Stream::builder().with_cardinality_limit(n + 1).build().ok()
        })
        .with_reader(reader)
        .build();
    let meter = provider.meter("bench");
    let requests = meter
        .u64_counter("http.server.requests")
        .with_description("Requests served.")
        .build();
    let duration = meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_description("Request duration.")
        .with_boundaries(BUCKETS.to_vec())
        .build();
    for i in 0..n {
        let attributes = [
            KeyValue::new("http.route", format!("/api/r{}", i % 50)),
            KeyValue::new("id", i as i64),
        ];
        requests.add(1 + i as u64 % 7, &attributes);
        if i % 10 == 0 {
            for k in 0..5 {
                duration.record(0.001 * (1 + (i + k) % 4000) as f64, &attributes);
            }
        }
    }
    provider
}

fn collect_and_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("otel-collect-encode");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for n in [1_000usize, 10_000] {
        let source = OtelSource::new();
        let _ours = provider(source.clone(), n);
        let registry = Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .expect("exporter");
        let _theirs = provider(exporter, n);

        let mut buf = Vec::new();
        // Both pages hold the same series (checked once, outside the timing).
        let page = gather_all(&source);
        assert!(page.errors.is_empty(), "{:?}", page.errors);
        let ours: usize = page.families.iter().map(|f| f.metrics.len()).sum();
        let theirs: usize = registry.gather().iter().map(|f| f.get_metric().len()).sum();
        assert_eq!(ours, theirs, "the same series on both pages");
        assert_eq!(ours, n + n / 10 + 1, "every series, and target_info");

        group.bench_function(BenchmarkId::new("promhttp", n), |b| {
            b.iter(|| {
                buf.clear();
                let page = gather_all(&source);
                encode(
                    Format::Text,
                    &page.families,
                    &EncodeOptions::default(),
                    &mut buf,
                );
                black_box(buf.len())
            })
        });
        group.bench_function(BenchmarkId::new("opentelemetry-prometheus", n), |b| {
            b.iter(|| {
                buf.clear();
                let families = registry.gather();
                TextEncoder::new()
                    .encode(&families, &mut buf)
                    .expect("encode");
                black_box(buf.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, collect_and_encode);
criterion_main!(benches);
