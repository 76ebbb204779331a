//! [`RemoteWriteHandle`]: the running writer; shutdown flushes in time, drop stops at once.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::config::Config;
use super::metrics::{gauge_value, RemoteWriteMetrics};
use super::queue::Shared;

/// What [`RemoteWriteHandle::shutdown`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Everything queued was sent (or refused by the receiver) before the timeout.
    pub flushed: bool,
    /// Samples left unsent when the timeout ran out.
    pub dropped_samples: u64,
}

/// A running remote writer, from [`RemoteWriter::start`](super::RemoteWriter::start).
///
/// * [`shutdown`](Self::shutdown) stops the snapshots, takes the final one, sends
///   what is queued within the shutdown timeout, and reports what it achieved.
/// * [`detach`](Self::detach) lets it run until its runtime stops (no final
///   flush then).
/// * **Dropping the handle** stops both tasks at once, without waiting and
///   without a flush: what was queued is discarded and counted as dropped
///   (`reason="shutdown"`), with a `warn` log.
///
/// Dropping it unused is a compile-time warning:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// # async fn run(registry: promhttp::prometheus::Registry) {
/// use promhttp::push::remote_write::RemoteWriter;
/// // Starts, then stops at once: the handle is dropped.
/// RemoteWriter::builder("http://127.0.0.1:9090/api/v1/write", registry).start().unwrap();
/// # }
/// ```
#[must_use = "dropping the handle stops the remote writer: keep it, or call .detach()"]
pub struct RemoteWriteHandle {
    pub(super) config: Arc<Config>,
    pub(super) shared: Arc<Shared>,
    pub(super) stop: watch::Sender<bool>,
    pub(super) deadline: watch::Sender<Option<Instant>>,
    pub(super) snapshot_task: Option<JoinHandle<()>>,
    pub(super) sender_task: Option<JoinHandle<()>>,
}

impl fmt::Debug for RemoteWriteHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWriteHandle")
            .field("url", &self.config.url)
            .field("queue_length", &self.shared.len())
            .finish_non_exhaustive()
    }
}

impl RemoteWriteHandle {
    /// The writer's metrics (register them to expose them).
    pub fn metrics(&self) -> &RemoteWriteMetrics {
        &self.shared.metrics
    }

    /// Samples in the queue now (the batch being sent not included).
    pub fn queue_length(&self) -> usize {
        self.shared.len()
    }

    /// Stops snapshotting, takes a final snapshot (unless disabled), and sends
    /// what is queued, retrying as usual, for at most the
    /// [shutdown timeout](super::RemoteWriterBuilder::shutdown_timeout). What is left
    /// then is dropped and counted.
    pub async fn shutdown(mut self) -> ShutdownReport {
        let deadline = crate::time::after(Instant::now(), self.config.shutdown_timeout);
        let _ = self.deadline.send(Some(deadline));
        let _ = self.stop.send(true);
        if let Some(mut task) = self.snapshot_task.take() {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                tracing::warn!(
                    "remote write: final snapshot did not finish before the shutdown timeout"
                );
            }
        }
        // Whether or not the final snapshot made it, no more batches come.
        self.shared.close();
        let mut flushed = true;
        if let Some(mut task) = self.sender_task.take() {
            // The sender gives up at the deadline by itself; the grace is for safety.
            let grace = deadline
                .checked_add(Duration::from_millis(500))
                .unwrap_or(deadline);
            if tokio::time::timeout_at(grace, &mut task).await.is_err() {
                task.abort();
                flushed = false;
            }
        }
        let left = self.shared.drain();
        if left > 0 {
            self.shared
                .metrics
                .dropped
                .with_label_values(&["shutdown"])
                .inc_by(left as u64);
        }
        let dropped_samples = left as u64;
        flushed &= left == 0;
        self.shared
            .metrics
            .queue_capacity
            .sub(gauge_value(self.config.queue_capacity));
        if flushed {
            tracing::info!(url = %self.config.url, "remote write stopped, queue flushed");
        } else {
            tracing::warn!(
                url = %self.config.url,
                dropped = dropped_samples,
                "remote write stopped before the queue was flushed"
            );
        }
        ShutdownReport {
            flushed,
            dropped_samples,
        }
    }
}

impl RemoteWriteHandle {
    /// Lets the writer snapshot and send until the runtime it runs on shuts
    /// down, without a handle (no final flush then).
    pub fn detach(mut self) {
        // The tasks run on; they stop when these senders are gone: never.
        drop(self.snapshot_task.take());
        drop(self.sender_task.take());
        std::mem::forget(std::mem::replace(&mut self.stop, watch::channel(false).0));
        std::mem::forget(std::mem::replace(
            &mut self.deadline,
            watch::channel(None).0,
        ));
    }
}

impl Drop for RemoteWriteHandle {
    fn drop(&mut self) {
        if let Some(t) = self.snapshot_task.take() {
            t.abort();
        }
        if let Some(t) = self.sender_task.take() {
            t.abort();
            self.shared
                .metrics
                .queue_capacity
                .sub(gauge_value(self.config.queue_capacity));
            // Dropped without shutdown: what was queued is discarded, and counted.
            let left = self.shared.drain();
            if left > 0 {
                self.shared
                    .metrics
                    .dropped
                    .with_label_values(&["shutdown"])
                    .inc_by(left as u64);
                tracing::warn!(
                    url = %self.config.url,
                    dropped = left,
                    "remote write handle dropped without shutdown: queued samples discarded"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gather::{Gather, Gathered};
    use crate::push::remote_write::RemoteWriter;

    /// A source with no series that counts how often it was gathered.
    fn counting_source() -> (impl Gather, Arc<std::sync::atomic::AtomicUsize>) {
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = count.clone();
        let source = crate::gather::from_fn(move |_: &mut Gathered| {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        (source, count)
    }

    // Nothing is ever sent in these (the source has no series): no I/O.
    const NOWHERE: &str = "http://127.0.0.1:9/api/v1/write";

    #[tokio::test]
    async fn the_longest_interval_does_not_panic() {
        let (source, gathers) = counting_source();
        let writer = RemoteWriter::builder(NOWHERE, source)
            .interval(Duration::MAX)
            .start()
            .unwrap();
        // The first snapshot is taken at start.
        let waited = std::time::Instant::now();
        while gathers.load(std::sync::atomic::Ordering::SeqCst) == 0
            && waited.elapsed() < Duration::from_secs(5)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let report = writer.shutdown().await;
        assert!(report.flushed, "{report:?}");
        assert_eq!(
            gathers.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "the first and the final snapshot"
        );
    }

    #[tokio::test]
    async fn the_longest_shutdown_timeout_does_not_panic() {
        let (source, gathers) = counting_source();
        let writer = RemoteWriter::builder(NOWHERE, source)
            .shutdown_timeout(Duration::MAX)
            .start()
            .unwrap();
        let report = tokio::time::timeout(Duration::from_secs(10), writer.shutdown())
            .await
            .expect("an empty queue flushes at once");
        assert!(report.flushed, "{report:?}");
        assert!(gathers.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    }

    #[tokio::test]
    async fn the_largest_queue_capacity_is_a_positive_gauge() {
        let (source, _) = counting_source();
        let writer = RemoteWriter::builder(NOWHERE, source)
            .queue_capacity(usize::MAX)
            .max_batch(usize::MAX)
            .start()
            .unwrap();
        // Kept as given; only the gauge saturates.
        assert_eq!(writer.config.queue_capacity, usize::MAX);
        assert_eq!(writer.config.max_batch, usize::MAX);
        let metrics = writer.metrics().clone();
        assert_eq!(metrics.queue_capacity.get(), i64::MAX);
        assert!(writer.shutdown().await.flushed);
        assert_eq!(metrics.queue_capacity.get(), 0);
    }

    #[tokio::test]
    async fn a_detached_writer_keeps_taking_snapshots() {
        let (source, gathers) = counting_source();
        RemoteWriter::builder(NOWHERE, source)
            .interval(Duration::from_millis(10))
            .start()
            .unwrap()
            .detach();
        let waited = std::time::Instant::now();
        while gathers.load(std::sync::atomic::Ordering::SeqCst) < 5
            && waited.elapsed() < Duration::from_secs(10)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            gathers.load(std::sync::atomic::Ordering::SeqCst) >= 5,
            "no snapshots after detach"
        );
    }
}
