//! The bounded batch queue between the snapshot and sender tasks; when full, the oldest go.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

use super::metrics::RemoteWriteMetrics;

pub(super) struct Batch {
    pub(super) body: Bytes,
    pub(super) samples: usize,
}

#[derive(Default)]
pub(super) struct Queue {
    batches: VecDeque<Batch>,
    samples: usize,
    closed: bool,
    /// Whether the last push had to drop (to log the start of an overflow once).
    overflowing: bool,
    /// Samples of the batch the sender holds (taken from the queue, not yet done).
    in_flight: usize,
}

pub(super) struct Shared {
    pub(super) queue: Mutex<Queue>,
    pub(super) notify: Notify,
    pub(super) capacity: usize,
    pub(super) metrics: RemoteWriteMetrics,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        crate::util::lock(&self.queue)
    }

    /// Appends a batch, dropping the oldest ones while it does not fit.
    pub(super) fn push(&self, batch: Batch) {
        let mut q = self.lock();
        let mut dropped = 0usize;
        while q.samples.saturating_add(batch.samples) > self.capacity {
            let Some(old) = q.batches.pop_front() else {
                break;
            };
            q.samples -= old.samples;
            dropped += old.samples;
        }
        let pushed = batch.samples;
        q.samples += pushed;
        q.batches.push_back(batch);
        self.metrics
            .queue_length
            .add(pushed as i64 - dropped as i64);
        if dropped > 0 {
            self.metrics
                .dropped
                .with_label_values(&["queue_full"])
                .inc_by(dropped as u64);
            if !q.overflowing {
                tracing::warn!(
                    dropped,
                    capacity = self.capacity,
                    "remote write queue full: dropping the oldest samples"
                );
            }
        }
        q.overflowing = dropped > 0;
        drop(q);
        self.notify.notify_one();
    }

    pub(super) fn pop(&self) -> Result<Option<Batch>, ()> {
        let mut q = self.lock();
        match q.batches.pop_front() {
            Some(b) => {
                q.samples -= b.samples;
                q.in_flight = b.samples;
                self.metrics.queue_length.sub(b.samples as i64);
                Ok(Some(b))
            }
            None if q.closed => Err(()),
            None => Ok(None),
        }
    }

    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_one();
    }

    pub(super) fn done(&self) {
        self.lock().in_flight = 0;
    }

    /// Empties the queue, returning how many samples it held, the batch the
    /// sender was holding included.
    pub(super) fn drain(&self) -> usize {
        let mut q = self.lock();
        let queued = q.samples;
        let n = queued + q.in_flight;
        q.batches.clear();
        q.samples = 0;
        q.in_flight = 0;
        self.metrics.queue_length.sub(queued as i64);
        n
    }

    pub(super) fn len(&self) -> usize {
        self.lock().samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_drops_the_oldest_batches() {
        let metrics = RemoteWriteMetrics::new();
        let shared = Shared {
            queue: Mutex::new(Queue::default()),
            notify: Notify::new(),
            capacity: 10,
            metrics: metrics.clone(),
        };
        let batch = |n: usize, tag: u8| Batch {
            body: Bytes::from(vec![tag]),
            samples: n,
        };
        shared.push(batch(4, 1));
        shared.push(batch(4, 2));
        assert_eq!(shared.len(), 8);
        shared.push(batch(4, 3));
        assert_eq!(shared.len(), 8);
        assert_eq!(metrics.samples_dropped(), 4);
        assert_eq!(metrics.queue_length(), 8);
        shared.push(batch(10, 4));
        assert_eq!(shared.len(), 10);
        assert_eq!(metrics.samples_dropped(), 12);
        let b = shared.pop().unwrap().unwrap();
        assert_eq!(b.body[0], 4);
        assert_eq!(metrics.queue_length(), 0);
        assert!(shared.pop().unwrap().is_none());
        shared.close();
        assert!(shared.pop().is_err());
    }
}
