//! The two bridges beside the crate that owns each API, in one process:
//!
//! * `record`: cost of one operation through the `metrics` facade, into our
//!   [`PrometheusRecorder`] and into metrics-exporter-prometheus's recorder (same
//!   names, same labels, both as thread-local recorders);
//! * `scrape-10k-metrics-rs`: the benchmark workload (10k series, the peer harness's
//!   `WORKLOAD.md`) recorded through `metrics`, rendered by our handler (identity,
//!   gzip) and by `PrometheusHandle::render`;
//! * `scrape-1k-prometheus-client`, `scrape-10k-…`, `scrape-100k-…`: the same
//!   workload (1k, 10k and 100k series) in a prometheus-client `Registry`, rendered
//!   by our handler (identity, gzip) and by prometheus-client's own text encoder
//!   (alone, and followed by flate2's default gzip level, 6, as the harness's
//!   prometheus-client server does); also prometheus-client's protobuf encoder
//!   alone (the messages the bridge reads: the floor of its cost).
//!
//! `cargo bench -p promhttp --all-features --bench bridges`

#[path = "../../promhttp-demo/src/workload.rs"]
mod workload;

#[path = "../../promhttp-demo/src/bridge_workload.rs"]
mod bridge_workload;

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use http::Request;
use http_body_util::BodyExt;
use metrics::{counter, gauge, histogram, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use promhttp::MetricsHandler;

use workload::{BUCKETS, HISTOGRAM};

const SERIES: usize = 10_000;

fn peer_recorder() -> metrics_exporter_prometheus::PrometheusRecorder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HISTOGRAM.0.to_owned()), &BUCKETS)
        .expect("buckets")
        .build_recorder()
}

/// Runs `op` `iters` times and returns the time taken; then, untimed, the
/// recorder's deferred work (metrics-exporter-prometheus buffers histogram
/// observations until its upkeep), so memory stays bounded.
fn timed(iters: u64, upkeep: Option<&PrometheusHandle>, mut op: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        op();
    }
    let took = start.elapsed();
    if let Some(h) = upkeep {
        h.run_upkeep();
    }
    took
}

fn record(c: &mut Criterion) {
    let ours = bridge_workload::promhttp_recorder();
    let peer = peer_recorder();
    let peer_handle = peer.handle();
    let mut g = c.benchmark_group("record");
    let recorders: [(&str, &dyn Recorder, Option<&PrometheusHandle>); 2] = [
        ("promhttp", &ours, None),
        ("metrics-exporter-prometheus", &peer, Some(&peer_handle)),
    ];
    for (name, recorder, upkeep) in recorders {
        metrics::with_local_recorder(recorder, || {
            g.bench_function(format!("counter-macro/{name}"), |b| {
                b.iter(|| {
                    counter!("http_requests_total", "method" => "GET", "code" => "200").increment(1)
                })
            });
            let held = counter!("http_requests_total", "method" => "GET", "code" => "200");
            g.bench_function(format!("counter-handle/{name}"), |b| {
                b.iter(|| held.increment(1))
            });
            g.bench_function(format!("histogram-macro/{name}"), |b| {
                b.iter_custom(|iters| {
                    timed(iters, upkeep, || {
                        histogram!(HISTOGRAM.0, "method" => "GET", "path" => "/api/v1/resource/0")
                            .record(black_box(0.25))
                    })
                })
            });
            if let Some(h) = upkeep {
                // The same, with the upkeep that folds the buffered observations
                // into buckets counted in (amortized over the batch).
                g.bench_function(format!("histogram-macro+upkeep/{name}"), |b| {
                    b.iter_custom(|iters| {
                        let start = Instant::now();
                        for _ in 0..iters {
                            histogram!(HISTOGRAM.0, "method" => "GET", "path" => "/api/v1/resource/0")
                                .record(black_box(0.25));
                        }
                        h.run_upkeep();
                        start.elapsed()
                    })
                });
            }
            g.bench_function(format!("gauge-macro/{name}"), |b| {
                b.iter(|| {
                    gauge!("inflight_requests", "method" => "GET", "path" => "/api/v1/resource/0")
                        .set(black_box(1.5))
                })
            });
        });
    }
    g.finish();
}

/// Reads a handler response's whole body (its bytes as the handler made them, not
/// copied: prometheus-client's `encode`, the peer, is timed without a copy too).
fn body(rt: &tokio::runtime::Runtime, r: http::Response<promhttp::MetricsBody>) -> bytes::Bytes {
    assert_eq!(r.status(), 200);
    rt.block_on(r.into_body().collect())
        .expect("infallible")
        .to_bytes()
}

/// Sample lines of an exposition text (`# EOF` is not one).
fn samples(text: &[u8]) -> usize {
    text.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        .count()
}

fn request(coding: &str) -> Request<()> {
    Request::get("/metrics")
        .header("accept-encoding", coding)
        .body(())
        .expect("request")
}

/// Benchmarks our handler over `source`, identity and gzip, after checking the
/// identity page has the workload's sample count.
fn our_handler(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    source: impl promhttp::Gather + 'static,
    series: usize,
) {
    let handler = MetricsHandler::builder(source).build();
    let expected = workload::paths(series) * workload::SERIES_PER_PATH;
    let page = body(rt, handler.respond_blocking(&request("identity")));
    assert_eq!(samples(&page), expected, "promhttp identity page");
    eprintln!("promhttp identity: {} bytes", page.len());
    for coding in ["identity", "gzip"] {
        let req = request(coding);
        g.bench_function(format!("promhttp/{coding}"), |b| {
            b.iter(|| body(rt, handler.respond_blocking(&req)).len())
        });
    }
}

fn gzip6(text: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 8),
        flate2::Compression::new(6),
    );
    e.write_all(text).expect("gzip");
    e.finish().expect("gzip")
}

fn scrape(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let expected = workload::paths(SERIES) * workload::SERIES_PER_PATH;

    let mut g = c.benchmark_group("scrape-10k-metrics-rs");
    g.sample_size(50);
    let ours = bridge_workload::promhttp_recorder();
    bridge_workload::record_metrics_rs(&ours, SERIES);
    our_handler(&mut g, &rt, ours, SERIES);
    let peer = peer_recorder();
    let handle = peer.handle();
    bridge_workload::record_metrics_rs(&peer, SERIES);
    handle.run_upkeep();
    let page = handle.render();
    assert_eq!(samples(page.as_bytes()), expected, "metrics-exporter page");
    eprintln!("metrics-exporter-prometheus: {} bytes", page.len());
    g.bench_function("metrics-exporter-prometheus/render", |b| {
        b.iter(|| handle.render().len())
    });
    g.finish();

    for series in [1_000, SERIES, 100_000] {
        prometheus_client_scrape(c, &rt, series);
    }
}

fn prometheus_client_scrape(c: &mut Criterion, rt: &tokio::runtime::Runtime, series: usize) {
    let mut g = c.benchmark_group(format!("scrape-{}k-prometheus-client", series / 1000));
    g.sample_size(if series > SERIES { 10 } else { 50 });
    let registry = Arc::new(bridge_workload::prometheus_client_registry(series));
    our_handler(&mut g, rt, registry.clone(), series);
    let encode = || {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        text
    };
    let page = encode();
    let expected = workload::paths(series) * workload::SERIES_PER_PATH;
    assert_eq!(samples(page.as_bytes()), expected, "prometheus-client page");
    eprintln!("prometheus-client: {} bytes", page.len());
    g.bench_function("prometheus-client/encode", |b| b.iter(|| encode().len()));
    // Where the bridge's time goes: prometheus-client's protobuf messages alone
    // (built and dropped), its gather (those messages moved into the model) and
    // normalize.
    g.bench_function("prometheus-client/protobuf-encode", |b| {
        b.iter(|| {
            prometheus_client::encoding::prometheus_protobuf::encode(&registry)
                .expect("encode")
                .len()
        })
    });
    g.bench_function("promhttp/stage-gather", |b| {
        b.iter(|| {
            let mut out = promhttp::Gathered::default();
            promhttp::bridge::prometheus_client::gather_registry(&registry, &mut out);
            out.families.len()
        })
    });
    g.bench_function("promhttp/stage-gather+normalize", |b| {
        b.iter(|| promhttp::gather::gather_all(&*registry).families.len())
    });
    g.bench_function("prometheus-client/encode+gzip6", |b| {
        b.iter(|| gzip6(encode().as_bytes()).len())
    });
    g.finish();
}

criterion_group!(benches, record, scrape);
criterion_main!(benches);
