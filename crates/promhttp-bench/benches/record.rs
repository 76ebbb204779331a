//! The recording path of `promhttp::metrics` beside its peers (issue 12), one row per
//! operation, each single-threaded (`1t`) and with two threads on one series (`2t`):
//!
//! - `counter_inc`: `inc()` through a held handle of an integer counter;
//! - `labelled_inc`: look the series `method="GET", code="200"` up in a family of 100
//!   series (10 methods x 10 codes), then `inc()` it (each library's idiom, below;
//!   promhttp's is `with_label_values_do(&[..], |c| c.inc())`, which lends the handle);
//! - `labelled_owned` (promhttp only): the same through `with_label_values(&[..])`,
//!   which returns an owned handle (a reference count taken and given back), as the
//!   `prometheus` crate's does;
//! - `hist_classic`: `observe(v)` into a histogram with the default buckets
//!   (.005 ... 10);
//! - `hist_native`: native buckets only, schema 3 (bucket factor 1.1), at most 160;
//! - `hist_dual`: both at once (classic buckets and native ones);
//! - `gauge_set`: `set(v)` on a float gauge.
//!
//! Observed and set values cycle through 1024 values spread log-uniformly over
//! 1e-4 ... 20 (every classic bucket and `+Inf` is hit), the same for every library.
//!
//! A `2t` figure is wall time divided by the operations of one thread: two threads
//! each do N operations on the same handle (or look up the same series), released
//! together by a barrier, and the time runs from the first start to the last end. It
//! is the time one operation takes while another core hammers the same series.
//!
//! The peers get their cheapest idiom for the lookup: `&'static str` label fields for
//! `prometheus-client` (`Family::get_or_create`) and `fastmetrics`
//! (`Family::with_or_new`), the `metrics::counter!` macro with two borrowed label
//! values on the installed `metrics-exporter-prometheus` recorder, and for `measured`
//! its recommended set-up for values known in advance (a fixed-cardinality
//! `RodeoReader` per label: dense storage, no hashing of the key by the family).
//!
//! `metrics-exporter-prometheus` records a histogram observation as the raw value,
//! appended to a lock-free bucket; its buckets are filled when the recorder runs its
//! upkeep (at each scrape or every few seconds). The benchmark runs that upkeep after
//! each timed batch, outside the time, so that the raw values do not pile up: its
//! histogram rows show the recording half of its work only. Its classic and native
//! histograms record the same way.
//!
//! Run: `cargo bench -p promhttp-bench --bench record -- --warm-up-time 1 --measurement-time 3`;
//! `python3 crates/promhttp-bench/report.py` turns criterion's estimates into the table
//! of BENCHMARKS.md.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion};

/// The observed and set values (see the crate docs), a power of two long.
fn values() -> Vec<f64> {
    const N: usize = 1024;
    // A fixed permutation (multiplication by an odd number modulo N) so that
    // consecutive observations land in different buckets.
    (0..N)
        .map(|i| {
            let k = (i * 389) % N;
            1e-4 * (20.0f64 / 1e-4).powf(k as f64 / (N - 1) as f64)
        })
        .collect()
}

/// The 100 series of the lookup family: 10 methods x 10 codes.
const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "QUERY",
];
const CODES: [&str; 10] = [
    "200", "201", "204", "301", "304", "400", "401", "404", "500", "503",
];

/// Default classic bucket bounds, as the `prometheus` crate and Go have them.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The largest number of native buckets (promhttp's default; prometheus-client's
/// default is unbounded).
const NATIVE_MAX_BUCKETS: usize = 160;

/// Runs `op(i)` for `i` in `0..iters` on two threads at once; returns the time from
/// the first thread's start to the last one's end.
fn contended(iters: u64, op: &(impl Fn(u64) + Sync)) -> Duration {
    let barrier = Barrier::new(2);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        op(black_box(i));
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("benchmark thread panicked"))
            .collect()
    });
    let start = spans.iter().map(|s| s.0).min().expect("two threads");
    let end = spans.iter().map(|s| s.1).max().expect("two threads");
    end - start
}

/// One row for one library: `row/1t/lib` and `row/2t/lib`. `after` runs after every
/// timed batch, outside the time.
fn row(c: &mut Criterion, row: &str, lib: &str, op: impl Fn(u64) + Sync, after: impl Fn()) {
    c.bench_function(&format!("{row}/1t/{lib}"), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                op(black_box(i));
            }
            let took = start.elapsed();
            after();
            took
        })
    });
    c.bench_function(&format!("{row}/2t/{lib}"), |b| {
        b.iter_custom(|iters| {
            let took = contended(iters, &op);
            after();
            took
        })
    });
}

fn nothing() {}

/// The value for operation `i`.
#[inline(always)]
fn pick(values: &[f64], i: u64) -> f64 {
    values[i as usize & (values.len() - 1)]
}

// --- the peers' label sets -------------------------------------------------------

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct PcLabels {
    method: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct FmLabels {
    method: &'static str,
    code: &'static str,
}

impl fastmetrics::raw::LabelSetSchema for FmLabels {
    fn names() -> Option<&'static [&'static str]> {
        Some(&["method", "code"])
    }
}

impl fastmetrics::encoder::EncodeLabelSet for FmLabels {
    fn encode(
        &self,
        enc: &mut dyn fastmetrics::encoder::LabelSetEncoder,
    ) -> fastmetrics::error::Result<()> {
        enc.encode(&("method", self.method))?;
        enc.encode(&("code", self.code))
    }
}

#[derive(measured::LabelGroup)]
#[label(set = MeasuredLabelSet)]
struct MeasuredLabels<'a> {
    #[label(fixed_with = measured::lasso::RodeoReader)]
    method: &'a str,
    #[label(fixed_with = measured::lasso::RodeoReader)]
    code: &'a str,
}

fn rodeo(values: &[&str]) -> measured::lasso::RodeoReader {
    values
        .iter()
        .copied()
        .collect::<measured::lasso::Rodeo>()
        .into_reader()
}

/// The metrics-rs recorder, installed globally (the `counter!` macro looks series up
/// in it); its handle runs the upkeep.
fn metrics_rs() -> metrics_exporter_prometheus::PrometheusHandle {
    use metrics_exporter_prometheus::{Matcher, NativeHistogramConfig, PrometheusBuilder};
    let recorder = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .expect("valid buckets")
        .set_native_histogram_for_metric(
            Matcher::Full("native_seconds".into()),
            NativeHistogramConfig::new(1.1, NATIVE_MAX_BUCKETS as u32, 2f64.powi(-128))
                .expect("valid"),
        )
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("one recorder per process");
    handle
}

fn benches(c: &mut Criterion) {
    let values = values();
    let values = values.as_slice();
    let mrs = metrics_rs();
    let upkeep = || mrs.run_upkeep();

    // counter_inc --------------------------------------------------------------
    {
        let ours = promhttp::metrics::IntCounter::new("c_total", "c").expect("valid");
        row(c, "counter_inc", "promhttp", |_| ours.inc(), nothing);
        let prom = prometheus::IntCounter::new("c_total", "c").expect("valid");
        row(c, "counter_inc", "prometheus", |_| prom.inc(), nothing);
        let pc = prometheus_client::metrics::counter::Counter::<u64>::default();
        row(
            c,
            "counter_inc",
            "prometheus-client",
            |_| {
                pc.inc();
            },
            nothing,
        );
        let m = metrics::counter!("c_total");
        row(c, "counter_inc", "metrics-rs", |_| m.increment(1), nothing);
        let me = measured::Counter::new();
        row(c, "counter_inc", "measured", |_| me.inc(), nothing);
        let fm = fastmetrics::metrics::counter::Counter::<u64>::default();
        row(c, "counter_inc", "fastmetrics", |_| fm.inc(), nothing);
    }

    // labelled_inc -------------------------------------------------------------
    let method = black_box(METHODS[0]);
    let code = black_box(CODES[0]);
    {
        let ours = promhttp::metrics::IntCounterVec::new(
            promhttp::metrics::Opts::new("r_total", "r"),
            &["method", "code"],
        )
        .expect("valid");
        let prom = prometheus::IntCounterVec::new(
            prometheus::Opts::new("r_total", "r"),
            &["method", "code"],
        )
        .expect("valid");
        let pc = prometheus_client::metrics::family::Family::<
            PcLabels,
            prometheus_client::metrics::counter::Counter,
        >::default();
        let me = measured::CounterVec::with_label_set(MeasuredLabelSet {
            method: rodeo(&METHODS),
            code: rodeo(&CODES),
        });
        let fm = fastmetrics::metrics::family::Family::<
            FmLabels,
            fastmetrics::metrics::counter::Counter,
        >::default();
        for m in METHODS {
            for c in CODES {
                ours.with_label_values(&[m, c]).inc();
                prom.with_label_values(&[m, c]).inc();
                pc.get_or_create(&PcLabels { method: m, code: c }).inc();
                metrics::counter!("r_total", "method" => m, "code" => c).increment(1);
                me.inc(MeasuredLabels { method: m, code: c });
                fm.with_or_new(&FmLabels { method: m, code: c }, |c| c.inc());
            }
        }
        assert_eq!(ours.len(), 100);
        row(
            c,
            "labelled_inc",
            "promhttp",
            |_| ours.with_label_values_do(&[method, code], |c| c.inc()),
            nothing,
        );
        row(
            c,
            "labelled_owned",
            "promhttp",
            |_| ours.with_label_values(&[method, code]).inc(),
            nothing,
        );
        row(
            c,
            "labelled_inc",
            "prometheus",
            |_| prom.with_label_values(&[method, code]).inc(),
            nothing,
        );
        row(
            c,
            "labelled_inc",
            "prometheus-client",
            |_| {
                pc.get_or_create(&PcLabels { method, code }).inc();
            },
            nothing,
        );
        row(
            c,
            "labelled_inc",
            "metrics-rs",
            |_| metrics::counter!("r_total", "method" => method, "code" => code).increment(1),
            nothing,
        );
        row(
            c,
            "labelled_inc",
            "measured",
            |_| me.inc(MeasuredLabels { method, code }),
            nothing,
        );
        row(
            c,
            "labelled_inc",
            "fastmetrics",
            |_| fm.with_or_new(&FmLabels { method, code }, |c| c.inc()),
            nothing,
        );
    }

    // hist_classic -------------------------------------------------------------
    {
        use promhttp::metrics::{Histogram, HistogramOpts};
        let ours = Histogram::with_opts(HistogramOpts::new("h_seconds", "h")).expect("valid");
        row(
            c,
            "hist_classic",
            "promhttp",
            |i| ours.observe(pick(values, i)),
            nothing,
        );
        let prom = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("h", "h"))
            .expect("valid");
        row(
            c,
            "hist_classic",
            "prometheus",
            |i| prom.observe(pick(values, i)),
            nothing,
        );
        let pc = prometheus_client::metrics::histogram::Histogram::new(BUCKETS);
        row(
            c,
            "hist_classic",
            "prometheus-client",
            |i| pc.observe(pick(values, i)),
            nothing,
        );
        let m = metrics::histogram!("classic_seconds");
        row(
            c,
            "hist_classic",
            "metrics-rs",
            |i| m.record(pick(values, i)),
            upkeep,
        );
        let me = measured::Histogram::with_metadata(
            measured::metric::histogram::Thresholds::with_buckets(BUCKETS),
        );
        row(
            c,
            "hist_classic",
            "measured",
            |i| me.observe(pick(values, i)),
            nothing,
        );
        let fm = fastmetrics::metrics::histogram::Histogram::new(BUCKETS);
        row(
            c,
            "hist_classic",
            "fastmetrics",
            |i| fm.observe(pick(values, i)),
            nothing,
        );
    }

    // hist_native and hist_dual ------------------------------------------------
    {
        use prometheus_client::metrics::histogram::{
            Histogram as PcHistogram, NativeHistogramConfig,
        };
        use promhttp::metrics::{Histogram, HistogramOpts, NativeBuckets};
        let pc_native = || NativeHistogramConfig::default().max_buckets(NATIVE_MAX_BUCKETS);
        let ours = Histogram::with_opts(
            HistogramOpts::new("n_seconds", "n").native_only(NativeBuckets::default()),
        )
        .expect("valid");
        row(
            c,
            "hist_native",
            "promhttp",
            |i| ours.observe(pick(values, i)),
            nothing,
        );
        let pc = PcHistogram::new_native(pc_native());
        row(
            c,
            "hist_native",
            "prometheus-client",
            |i| pc.observe(pick(values, i)),
            nothing,
        );
        let m = metrics::histogram!("native_seconds");
        row(
            c,
            "hist_native",
            "metrics-rs",
            |i| m.record(pick(values, i)),
            upkeep,
        );

        let ours = Histogram::with_opts(
            HistogramOpts::new("d_seconds", "d").native(NativeBuckets::default()),
        )
        .expect("valid");
        row(
            c,
            "hist_dual",
            "promhttp",
            |i| ours.observe(pick(values, i)),
            nothing,
        );
        let pc = PcHistogram::new_classic_and_native(BUCKETS, pc_native());
        row(
            c,
            "hist_dual",
            "prometheus-client",
            |i| pc.observe(pick(values, i)),
            nothing,
        );
    }

    // gauge_set ----------------------------------------------------------------
    {
        let ours = promhttp::metrics::Gauge::new("g", "g").expect("valid");
        row(
            c,
            "gauge_set",
            "promhttp",
            |i| ours.set(pick(values, i)),
            nothing,
        );
        let prom = prometheus::Gauge::new("g", "g").expect("valid");
        row(
            c,
            "gauge_set",
            "prometheus",
            |i| prom.set(pick(values, i)),
            nothing,
        );
        let pc =
            prometheus_client::metrics::gauge::Gauge::<f64, std::sync::atomic::AtomicU64>::default(
            );
        row(
            c,
            "gauge_set",
            "prometheus-client",
            |i| {
                pc.set(pick(values, i));
            },
            nothing,
        );
        let m = metrics::gauge!("g");
        row(
            c,
            "gauge_set",
            "metrics-rs",
            |i| m.set(pick(values, i)),
            nothing,
        );
        let me = measured::FloatGauge::new();
        row(
            c,
            "gauge_set",
            "measured",
            |i| me.get_metric().set(pick(values, i)),
            nothing,
        );
        let fm = fastmetrics::metrics::gauge::Gauge::<f64>::default();
        row(
            c,
            "gauge_set",
            "fastmetrics",
            |i| fm.set(pick(values, i)),
            nothing,
        );
    }
}

criterion_group!(recording, benches);
criterion_main!(recording);
