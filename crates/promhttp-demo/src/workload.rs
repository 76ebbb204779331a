//! The scrape benchmark workload (`shared/bench/WORKLOAD.md` of the project's
//! steering repository): three families whose size follows `--series N`.

// Included by bench-server, the scrape and bridge benches and an example, each
// using a part of it.
#![allow(dead_code)]

use promhttp::prometheus::{
    self, CounterVec, GaugeVec, HistogramOpts, HistogramVec, Opts, Registry,
};

/// The three families: name and help.
pub const COUNTER: (&str, &str) = ("http_requests_total", "Total number of HTTP requests.");
pub const GAUGE: (&str, &str) = ("inflight_requests", "Number of in-flight requests.");
pub const HISTOGRAM: (&str, &str) = (
    "http_request_duration_seconds",
    "HTTP request latency in seconds.",
);

/// Sample lines per `path` value: 4 counters, 1 gauge, 2 histograms of 14 lines.
pub const SERIES_PER_PATH: usize = 33;
pub const METHODS: [&str; 2] = ["GET", "POST"];
pub const CODES: [&str; 2] = ["200", "500"];
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// One observation per bucket; the last lands in `+Inf` only.
pub const OBS: [f64; 12] = [
    0.003, 0.007, 0.02, 0.04, 0.08, 0.2, 0.4, 0.8, 2.0, 4.0, 8.0, 12.0,
];

/// Number of distinct `path` values for a series target: `max(1, ceil(n / 33))`.
pub fn paths(series: usize) -> usize {
    series.div_ceil(SERIES_PER_PATH).max(1)
}

/// The `path` label value of path `i`.
pub fn path_label(i: usize) -> String {
    format!("/api/v1/resource/{i}")
}

/// The counter of (path `i`, method `m`, code `c`): `1 + 3 (4i + 2m + c)`.
pub fn counter_value(i: usize, m: usize, c: usize) -> u64 {
    1 + 3 * (4 * i + 2 * m + c) as u64
}

/// The gauge of path `i`: `(i mod 97) + 0.5`.
pub fn gauge_value(i: usize) -> f64 {
    (i % 97) as f64 + 0.5
}

/// How many times histogram child (path `i`, method `m`) observes `OBS[j]`.
pub fn observations(i: usize, m: usize, j: usize) -> usize {
    1 + (2 * i + m + j) % 4
}

/// The value histogram children observe in mutation pass `k` (from 1): the
/// workload's observations in turn, so every bucket gets its share.
pub fn pass_observation(k: u64) -> f64 {
    OBS[((k - 1) % OBS.len() as u64) as usize]
}

/// Handles to every series of the workload, whatever API recorded it: counters in
/// (path, method, code) order, gauges by path, histogram children in (path,
/// method) order. Kept for `bench-server --mutate`.
pub struct Handles<C, G, H> {
    pub counters: Vec<C>,
    pub gauges: Vec<G>,
    pub histograms: Vec<H>,
}

/// The workload's series through one API: `counter(method, path, code, value)`,
/// `gauge(path, value)` and `histogram(method, path)` make (and set) a series,
/// `observe` records into a histogram child. The families must exist already.
pub fn record<C, G, H>(
    series: usize,
    mut counter: impl FnMut(&str, &str, &str, u64) -> C,
    mut gauge: impl FnMut(&str, f64) -> G,
    mut histogram: impl FnMut(&str, &str) -> H,
    observe: impl Fn(&H, f64),
) -> Handles<C, G, H> {
    let k = paths(series);
    let mut handles = Handles {
        counters: Vec::with_capacity(k * METHODS.len() * CODES.len()),
        gauges: Vec::with_capacity(k),
        histograms: Vec::with_capacity(k * METHODS.len()),
    };
    for i in 0..k {
        let path = path_label(i);
        for (m, method) in METHODS.iter().enumerate() {
            for (c, code) in CODES.iter().enumerate() {
                let value = counter_value(i, m, c);
                handles.counters.push(counter(method, &path, code, value));
            }
        }
        handles.gauges.push(gauge(&path, gauge_value(i)));
        for (m, method) in METHODS.iter().enumerate() {
            let h = histogram(method, &path);
            for (j, obs) in OBS.iter().enumerate() {
                for _ in 0..observations(i, m, j) {
                    observe(&h, *obs);
                }
            }
            handles.histograms.push(h);
        }
    }
    handles
}

impl<C, G, H> Handles<C, G, H> {
    /// Mutation pass `k` (from 1) over every series: each counter gains 1, gauge
    /// `i` becomes `gauge_value(i) + k`, each histogram child observes
    /// [`pass_observation(k)`](pass_observation) once. After pass `k` every value
    /// is the workload's plus `k` (counters, gauges, histogram `_count`).
    pub fn pass(&self, k: u64, inc: impl Fn(&C), set: impl Fn(&G, f64), observe: impl Fn(&H, f64)) {
        for c in &self.counters {
            inc(c);
        }
        for (i, g) in self.gauges.iter().enumerate() {
            set(g, gauge_value(i) + k as f64);
        }
        let v = pass_observation(k);
        for h in &self.histograms {
            observe(h, v);
        }
    }
}

/// The workload through the `prometheus` crate.
pub type PrometheusHandles = Handles<prometheus::Counter, prometheus::Gauge, prometheus::Histogram>;

/// Registers the workload in `reg` and sets every value.
pub fn register(reg: &Registry, series: usize) -> prometheus::Result<PrometheusHandles> {
    let counter = CounterVec::new(Opts::new(COUNTER.0, COUNTER.1), &["method", "path", "code"])?;
    let gauge = GaugeVec::new(Opts::new(GAUGE.0, GAUGE.1), &["path"])?;
    let hist = HistogramVec::new(
        HistogramOpts::new(HISTOGRAM.0, HISTOGRAM.1).buckets(BUCKETS.to_vec()),
        &["method", "path"],
    )?;
    reg.register(Box::new(counter.clone()))?;
    reg.register(Box::new(gauge.clone()))?;
    reg.register(Box::new(hist.clone()))?;
    Ok(record(
        series,
        |method, path, code, value| {
            let c = counter.with_label_values(&[method, path, code]);
            c.inc_by(value as f64);
            c
        },
        |path, value| {
            let g = gauge.with_label_values(&[path]);
            g.set(value);
            g
        },
        |method, path| hist.with_label_values(&[method, path]),
        |h, v| h.observe(v),
    ))
}

impl PrometheusHandles {
    /// Mutation pass `k` (see [`Handles::pass`]).
    pub fn mutate(&self, k: u64) {
        self.pass(k, |c| c.inc(), |g, v| g.set(v), |h, v| h.observe(v));
    }
}
