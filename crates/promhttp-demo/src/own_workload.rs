//! The benchmark workload of `workload.rs` (same families, labels and values)
//! recorded into promhttp's own storage, `promhttp::metrics`. The counter is an
//! `IntCounterVec`: its values are integers, written as the `prometheus` crate
//! writes its float counter's, so the page is the same bytes. Needs `mod workload`
//! next to it.

use promhttp::metrics::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    MetricError, Opts, Registry,
};

use crate::workload::{record, Handles, BUCKETS, COUNTER, GAUGE, HISTOGRAM};

/// The workload in promhttp's storage.
pub type OwnHandles = Handles<IntCounter, Gauge, Histogram>;

/// Registers the workload in `reg` and sets every value.
pub fn register(reg: &Registry, series: usize) -> Result<OwnHandles, MetricError> {
    let counter = IntCounterVec::new(Opts::new(COUNTER.0, COUNTER.1), &["method", "path", "code"])?;
    let gauge = GaugeVec::new(Opts::new(GAUGE.0, GAUGE.1), &["path"])?;
    let hist = HistogramVec::new(
        HistogramOpts::new(HISTOGRAM.0, HISTOGRAM.1).buckets(BUCKETS.to_vec()),
        &["method", "path"],
    )?;
    reg.register(&counter)?;
    reg.register(&gauge)?;
    reg.register(&hist)?;
    Ok(record(
        series,
        |method, path, code, value| {
            let c = counter.with_label_values(&[method, path, code]);
            c.inc_by(value);
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

impl OwnHandles {
    /// Mutation pass `k` (see [`Handles::pass`]).
    pub fn mutate(&self, k: u64) {
        self.pass(k, |c| c.inc(), |g, v| g.set(v), |h, v| h.observe(v));
    }
}
