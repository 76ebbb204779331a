//! Per-stage cost of a scrape on the benchmark workload (10k series, as the peer
//! harness defines it): the `prometheus` crate's `gather()` (the floor for anything
//! serving a `prometheus::Registry`), moving it into our model, each encoder (the
//! protobuf one beside the `prometheus` crate's), each compression, and a whole
//! handler render.
//!
//! `cargo bench -p promhttp --bench scrape`

#[allow(dead_code)]
#[path = "../../promhttp-demo/src/own_workload.rs"]
mod own_workload;
#[path = "../../promhttp-demo/src/workload.rs"]
mod workload;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use http::Request;
use promhttp::encode::{encode, EncodeOptions, Format};
use promhttp::gather::{normalize, Gathered};
use promhttp::prometheus::{Encoder, ProtobufEncoder, Registry};
use promhttp::{Gather, MetricsHandler};

fn stages(c: &mut Criterion) {
    let reg = Registry::new();
    workload::register(&reg, 10_000).expect("workload");
    let mut g = c.benchmark_group("scrape-10k");
    g.sample_size(50);

    g.bench_function("gather/prometheus", |b| b.iter(|| reg.gather()));
    g.bench_function("gather/model", |b| {
        b.iter(|| {
            let mut out = Gathered::default();
            reg.gather_into(&mut out);
            normalize(&mut out);
            out
        })
    });

    let mut page = Gathered::default();
    reg.gather_into(&mut page);
    normalize(&mut page);
    let mut buf = Vec::new();
    for (name, format) in [
        ("encode/text", Format::Text),
        ("encode/openmetrics", Format::OpenMetrics),
        ("encode/protobuf", Format::Protobuf),
    ] {
        buf.clear();
        encode(format, &page.families, &EncodeOptions::default(), &mut buf);
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                encode(format, &page.families, &EncodeOptions::default(), &mut buf);
                buf.len()
            })
        });
    }

    // The yardstick, in the same run: the `prometheus` crate's own protobuf
    // encoder on its own `gather()` output.
    let mfs = reg.gather();
    g.bench_function("encode/protobuf-prometheus-crate", |b| {
        b.iter(|| {
            buf.clear();
            ProtobufEncoder::new()
                .encode(&mfs, &mut buf)
                .expect("encode");
            buf.len()
        })
    });

    let handler = MetricsHandler::builder(reg.clone()).build();
    bench_codings(&mut g, &handler, &["identity", "gzip", "zstd"]);
    g.finish();
}

/// One `handler/<coding>` row per content coding: a whole handler render with
/// `Accept-Encoding: <coding>`.
fn bench_codings(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    handler: &MetricsHandler,
    codings: &[&str],
) {
    for coding in codings {
        let req = Request::get("/metrics")
            .header("accept-encoding", *coding)
            .body(())
            .expect("request");
        g.bench_function(format!("handler/{coding}"), |b| {
            b.iter(|| handler.respond_blocking(&req))
        });
    }
}

/// The same workload in promhttp's own storage (`promhttp::metrics`), whose page is
/// kept rendered, at 10k and 100k series: a whole handler render, and one after
/// every series changed (the mutation pass itself is left out of the time).
fn own_storage(c: &mut Criterion) {
    for (series, name) in [(10_000, "10k"), (100_000, "100k")] {
        let reg = std::sync::Arc::new(promhttp::metrics::Registry::new());
        let handles = own_workload::register(&reg, series).expect("workload");
        let mut g = c.benchmark_group(format!("scrape-{name}-own-storage"));
        g.sample_size(if series > 10_000 { 20 } else { 50 });
        let handler = MetricsHandler::builder(reg.clone()).build();
        bench_codings(&mut g, &handler, &["identity", "gzip"]);
        let req = Request::get("/metrics").body(()).expect("request");
        let mut k = 0;
        g.bench_function("handler/identity-after-mutating-every-series", |b| {
            b.iter_batched(
                || {
                    k += 1;
                    handles.mutate(k);
                },
                |()| handler.respond_blocking(&req),
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

criterion_group!(benches, stages, own_storage);
criterion_main!(benches);
