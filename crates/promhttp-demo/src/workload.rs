//! The scrape benchmark workload (`shared/bench/WORKLOAD.md` of the project's
//! steering repository): three families whose size follows `--series N`.

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

/// Registers the workload in `reg` and sets every value.
pub fn register(reg: &Registry, series: usize) -> prometheus::Result<()> {
    let counter = CounterVec::new(Opts::new(COUNTER.0, COUNTER.1), &["method", "path", "code"])?;
    let gauge = GaugeVec::new(Opts::new(GAUGE.0, GAUGE.1), &["path"])?;
    let hist = HistogramVec::new(
        HistogramOpts::new(HISTOGRAM.0, HISTOGRAM.1).buckets(BUCKETS.to_vec()),
        &["method", "path"],
    )?;
    reg.register(Box::new(counter.clone()))?;
    reg.register(Box::new(gauge.clone()))?;
    reg.register(Box::new(hist.clone()))?;
    for i in 0..paths(series) {
        let path = path_label(i);
        for (m, method) in METHODS.iter().enumerate() {
            for (c, code) in CODES.iter().enumerate() {
                counter
                    .with_label_values(&[*method, path.as_str(), *code])
                    .inc_by(counter_value(i, m, c) as f64);
            }
        }
        gauge
            .with_label_values(&[path.as_str()])
            .set(gauge_value(i));
        for (m, method) in METHODS.iter().enumerate() {
            let h = hist.with_label_values(&[*method, path.as_str()]);
            for (j, obs) in OBS.iter().enumerate() {
                for _ in 0..observations(i, m, j) {
                    h.observe(*obs);
                }
            }
        }
    }
    Ok(())
}
