//! The scrape benchmark workload (`shared/bench/WORKLOAD.md` of the project's
//! steering repository): three families whose size follows `--series N`.

use promhttp::prometheus::{
    self, CounterVec, GaugeVec, HistogramOpts, HistogramVec, Opts, Registry,
};

/// Sample lines per `path` value: 4 counters, 1 gauge, 2 histograms of 14 lines.
pub const SERIES_PER_PATH: usize = 33;
const METHODS: [&str; 2] = ["GET", "POST"];
const CODES: [&str; 2] = ["200", "500"];
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const OBS: [f64; 12] = [
    0.003, 0.007, 0.02, 0.04, 0.08, 0.2, 0.4, 0.8, 2.0, 4.0, 8.0, 12.0,
];

/// Number of distinct `path` values for a series target: `max(1, ceil(n / 33))`.
pub fn paths(series: usize) -> usize {
    series.div_ceil(SERIES_PER_PATH).max(1)
}

/// Registers the workload in `reg` and sets every value.
pub fn register(reg: &Registry, series: usize) -> prometheus::Result<()> {
    let counter = CounterVec::new(
        Opts::new("http_requests_total", "Total number of HTTP requests."),
        &["method", "path", "code"],
    )?;
    let gauge = GaugeVec::new(
        Opts::new("inflight_requests", "Number of in-flight requests."),
        &["path"],
    )?;
    let hist = HistogramVec::new(
        HistogramOpts::new(
            "http_request_duration_seconds",
            "HTTP request latency in seconds.",
        )
        .buckets(BUCKETS.to_vec()),
        &["method", "path"],
    )?;
    reg.register(Box::new(counter.clone()))?;
    reg.register(Box::new(gauge.clone()))?;
    reg.register(Box::new(hist.clone()))?;
    for i in 0..paths(series) {
        let path = format!("/api/v1/resource/{i}");
        for (m, method) in METHODS.iter().enumerate() {
            for (c, code) in CODES.iter().enumerate() {
                let v = 1 + 3 * (4 * i + 2 * m + c);
                counter
                    .with_label_values(&[*method, path.as_str(), *code])
                    .inc_by(v as f64);
            }
        }
        gauge
            .with_label_values(&[path.as_str()])
            .set((i % 97) as f64 + 0.5);
        for (m, method) in METHODS.iter().enumerate() {
            let h = hist.with_label_values(&[*method, path.as_str()]);
            let k = 2 * i + m;
            for (j, obs) in OBS.iter().enumerate() {
                for _ in 0..1 + (k + j) % 4 {
                    h.observe(*obs);
                }
            }
        }
    }
    Ok(())
}
