//! [`RemoteWriteMetrics`]: the writer's own counters and gauges.

use prometheus::core::Collector;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::gather::{from_proto, Gather, Gathered};

/// The remote writer's own metrics (names in the [module docs](super#self-metrics)).
///
/// Clones share the same metrics. Each writer has its own unless given one with
/// [`RemoteWriterBuilder::metrics`](super::RemoteWriterBuilder::metrics); two writers sharing an instance add up.
#[derive(Clone, Debug)]
pub struct RemoteWriteMetrics {
    pub(super) sent: IntCounter,
    pub(super) failed: IntCounter,
    pub(super) dropped: IntCounterVec,
    pub(super) retries: IntCounter,
    pub(super) queue_length: IntGauge,
    pub(super) queue_capacity: IntGauge,
}

impl Default for RemoteWriteMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RemoteWriteMetrics {
    /// New, unregistered metrics.
    pub fn new() -> Self {
        // Fixed, valid names: construction cannot fail.
        let counter =
            |name: &str, help: &str| IntCounter::new(name, help).expect("static metric definition");
        let gauge =
            |name: &str, help: &str| IntGauge::new(name, help).expect("static metric definition");
        let dropped = IntCounterVec::new(
            Opts::new(
                "promhttp_remote_write_samples_dropped_total",
                "Samples dropped without being sent, by reason (queue_full, shutdown).",
            ),
            &["reason"],
        )
        .expect("static metric definition");
        for reason in ["queue_full", "shutdown"] {
            dropped.with_label_values(&[reason]);
        }
        RemoteWriteMetrics {
            sent: counter(
                "promhttp_remote_write_samples_sent_total",
                "Samples the remote write receiver accepted.",
            ),
            failed: counter(
                "promhttp_remote_write_samples_failed_total",
                "Samples the remote write receiver refused with a non-retryable status.",
            ),
            dropped,
            retries: counter(
                "promhttp_remote_write_retries_total",
                "Remote write requests retried after a 5xx, 429, connection error or timeout.",
            ),
            queue_length: gauge(
                "promhttp_remote_write_queue_length",
                "Samples waiting in the remote write queue.",
            ),
            queue_capacity: gauge(
                "promhttp_remote_write_queue_capacity",
                "Capacity of the remote write queue, in samples.",
            ),
        }
    }

    fn collectors(&self) -> [Box<dyn Collector>; 6] {
        [
            Box::new(self.sent.clone()),
            Box::new(self.failed.clone()),
            Box::new(self.dropped.clone()),
            Box::new(self.retries.clone()),
            Box::new(self.queue_length.clone()),
            Box::new(self.queue_capacity.clone()),
        ]
    }

    /// Registers the metrics in `registry`; on a conflict nothing stays registered.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        for (i, c) in self.collectors().into_iter().enumerate() {
            if let Err(e) = registry.register(c) {
                for done in self.collectors().into_iter().take(i) {
                    let _ = registry.unregister(done);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Samples accepted by the receiver so far.
    pub fn samples_sent(&self) -> u64 {
        self.sent.get()
    }

    /// Samples refused by the receiver so far.
    pub fn samples_failed(&self) -> u64 {
        self.failed.get()
    }

    /// Samples dropped unsent so far (queue full and shutdown together).
    pub fn samples_dropped(&self) -> u64 {
        ["queue_full", "shutdown"]
            .iter()
            .map(|r| self.dropped.with_label_values(&[r]).get())
            .sum()
    }

    /// Requests retried so far.
    pub fn retries(&self) -> u64 {
        self.retries.get()
    }

    /// Samples in the queue now (the batch being sent not included).
    pub fn queue_length(&self) -> u64 {
        self.queue_length.get().max(0) as u64
    }
}

impl Gather for RemoteWriteMetrics {
    fn gather_into(&self, out: &mut Gathered) {
        let families = self.collectors().iter().flat_map(|c| c.collect()).collect();
        from_proto(families, out);
    }
}

/// A count for an `IntGauge`, saturated at `i64::MAX`.
pub(super) fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gather::gather_all;

    #[test]
    fn self_metrics_register_and_gather() {
        let m = RemoteWriteMetrics::new();
        let r = Registry::new();
        m.register(&r).unwrap();
        assert!(RemoteWriteMetrics::new().register(&r).is_err());
        let page = gather_all(&m);
        let names: Vec<&str> = page.families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "promhttp_remote_write_queue_capacity",
                "promhttp_remote_write_queue_length",
                "promhttp_remote_write_retries_total",
                "promhttp_remote_write_samples_dropped_total",
                "promhttp_remote_write_samples_failed_total",
                "promhttp_remote_write_samples_sent_total",
            ]
        );
        assert_eq!(r.gather().len(), 6);
    }
}
