//! One half of a histogram's state: what writers record into while it is hot, and
//! what a collector reads once it is cold and every writer on it has finished.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use super::index::bucket_index;
use super::table::{key, BucketTable};

/// Counts of one half (see `HistogramCore`).
pub(super) struct Half {
    /// Observations completed in this half; bumped last by each writer, so a
    /// collector knows every writer has finished when it reaches the started count.
    /// Not used by a classic-only histogram (see [`record_classic`](Self::record_classic)).
    pub(super) count: AtomicU64,
    /// The bits of the `f64` sum.
    sum: AtomicU64,
    /// Observations per classic bucket (not cumulative). A classic-only
    /// histogram has one more, `+Inf`; with native buckets, observations above
    /// the last bound are counted in `count` only.
    pub(super) classic: Box<[AtomicU64]>,
    /// Native: observations in the zero bucket.
    pub(super) zero: AtomicU64,
    /// Native: the current schema (changed only while no writer reaches the half).
    pub(super) schema: AtomicI32,
    /// Native: the bits of the current zero threshold (same rule as `schema`).
    pub(super) zero_threshold: AtomicU64,
    /// Native buckets.
    pub(super) table: BucketTable,
}

impl Half {
    pub(super) fn new(bounds: usize, schema: i32, zero_threshold: f64, max: Option<u32>) -> Self {
        Half {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
            classic: (0..bounds).map(|_| AtomicU64::new(0)).collect(),
            zero: AtomicU64::new(0),
            schema: AtomicI32::new(schema),
            zero_threshold: AtomicU64::new(zero_threshold.to_bits()),
            table: BucketTable::new(max),
        }
    }

    /// Records one observation of a classic-only histogram: the sum, then bucket
    /// `bucket` (`+Inf` included), released. Every observation lands in exactly
    /// one bucket and its bucket is the last thing it touches, so the buckets
    /// add up to the observations completed: a collector waits for that sum
    /// instead of a completion count (one atomic read-modify-write less).
    #[inline]
    pub(super) fn record_classic(&self, v: f64, bucket: usize) {
        add_f64(&self.sum, v);
        if let Some(b) = self.classic.get(bucket) {
            b.fetch_add(1, Ordering::Release);
        }
    }

    /// The observations completed in this half of a classic-only histogram (the
    /// sum of its buckets); once it is the number started, every write to the
    /// half is visible.
    pub(super) fn classic_completed(&self) -> u64 {
        self.classic.iter().fold(0u64, |total, b| {
            total.wrapping_add(b.load(Ordering::Acquire))
        })
    }

    /// Records one observation: classic bucket `bucket` (none when past the last
    /// bound), the sum, the native bucket when `native` (NaN has none), then the
    /// count. Returns whether a native bucket was recorded.
    pub(super) fn record(&self, v: f64, bucket: usize, native: bool) -> bool {
        if let Some(b) = self.classic.get(bucket) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        add_f64(&self.sum, v);
        let native = native && !v.is_nan();
        if native {
            let zero_threshold = self.zero_threshold();
            if v > zero_threshold {
                self.table
                    .add(key(false, bucket_index(v, self.schema())), 1);
            } else if v < -zero_threshold {
                self.table.add(key(true, bucket_index(v, self.schema())), 1);
            } else {
                self.zero.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Release);
        native
    }

    pub(super) fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }

    pub(super) fn schema(&self) -> i32 {
        self.schema.load(Ordering::Relaxed)
    }

    pub(super) fn zero_threshold(&self) -> f64 {
        f64::from_bits(self.zero_threshold.load(Ordering::Relaxed))
    }

    /// Adds the counts of `cold` (which no writer reaches) into this half and zeroes
    /// them there. `map` gives the bucket a cold bucket goes to here, or `None` for
    /// the zero bucket (after a widening or a schema reduction).
    pub(super) fn absorb(&self, cold: &Half, map: impl Fn(u64) -> Option<u64>) {
        add_f64(&self.sum, cold.sum());
        cold.sum.store(0f64.to_bits(), Ordering::Relaxed);
        for (hot, cold) in self.classic.iter().zip(cold.classic.iter()) {
            hot.fetch_add(cold.swap(0, Ordering::Relaxed), Ordering::Relaxed);
        }
        let mut zero = cold.zero.swap(0, Ordering::Relaxed);
        cold.table.for_each(|k, c| {
            if c > 0 {
                match map(k) {
                    Some(k) => {
                        self.table.add(k, c);
                    }
                    None => zero += c,
                }
            }
        });
        cold.table.zero_counts();
        self.zero.fetch_add(zero, Ordering::Relaxed);
        self.count
            .fetch_add(cold.count.swap(0, Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Adds this half's classic counts (which no writer reaches) into `totals`,
    /// bucket by bucket, zeroing what it took, and returns its sum (also zeroed).
    /// Buckets nothing was observed in cost a load and no store.
    pub(super) fn drain_classic(&self, totals: &mut [u64]) -> f64 {
        for (total, c) in totals.iter_mut().zip(self.classic.iter()) {
            let v = c.load(Ordering::Relaxed);
            if v != 0 {
                *total = total.wrapping_add(v);
                c.store(0, Ordering::Relaxed);
            }
        }
        let sum = self.sum.load(Ordering::Relaxed);
        if sum != 0 {
            self.sum.store(0, Ordering::Relaxed);
        }
        f64::from_bits(sum)
    }

    /// Back to nothing observed, at `schema` and `zero_threshold`. Only for a half
    /// no writer reaches.
    pub(super) fn reset(&self, schema: i32, zero_threshold: f64) {
        self.count.store(0, Ordering::Relaxed);
        self.sum.store(0f64.to_bits(), Ordering::Relaxed);
        for b in self.classic.iter() {
            b.store(0, Ordering::Relaxed);
        }
        self.zero.store(0, Ordering::Relaxed);
        self.schema.store(schema, Ordering::Relaxed);
        self.zero_threshold
            .store(zero_threshold.to_bits(), Ordering::Relaxed);
        self.table.clear();
    }
}

/// Adds `v` to the `f64` whose bits `bits` holds.
fn add_f64(bits: &AtomicU64, v: f64) {
    let mut current = bits.load(Ordering::Relaxed);
    loop {
        let new = (f64::from_bits(current) + v).to_bits();
        match bits.compare_exchange_weak(current, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => current = actual,
        }
    }
}
