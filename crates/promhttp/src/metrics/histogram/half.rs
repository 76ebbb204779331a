//! One half of a histogram's state: what writers record into while it is hot, and
//! what a collector reads once it is cold and every writer on it has finished.

use std::num::NonZeroU32;
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
    /// The native state, for a histogram with native buckets: behind a pointer,
    /// so that a classic-only histogram (the common kind, often one per label
    /// set) does not carry it (about 80 bytes per half).
    native: Option<Box<NativeHalf>>,
}

/// The native part of a [`Half`].
pub(super) struct NativeHalf {
    /// Observations in the zero bucket.
    pub(super) zero: AtomicU64,
    /// The current schema (changed only while no writer reaches the half).
    pub(super) schema: AtomicI32,
    /// The bucket limit (kept here so that recording reads no settings elsewhere).
    pub(super) max_buckets: Option<NonZeroU32>,
    /// The bits of the current zero threshold (same rule as `schema`).
    pub(super) zero_threshold: AtomicU64,
    /// Native buckets.
    pub(super) table: BucketTable,
}

impl NativeHalf {
    pub(super) fn schema(&self) -> i32 {
        self.schema.load(Ordering::Relaxed)
    }

    pub(super) fn zero_threshold(&self) -> f64 {
        f64::from_bits(self.zero_threshold.load(Ordering::Relaxed))
    }
}

/// A native half's settings: schema, zero threshold, bucket limit.
pub(super) type NativeStart = (i32, f64, Option<NonZeroU32>);

impl Half {
    /// A half with `bounds` classic buckets, and native buckets when `native`
    /// gives their settings.
    pub(super) fn new(bounds: usize, native: Option<NativeStart>) -> Self {
        Half {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
            classic: (0..bounds).map(|_| AtomicU64::new(0)).collect(),
            native: native.map(|(schema, zero_threshold, max)| {
                Box::new(NativeHalf {
                    zero: AtomicU64::new(0),
                    schema: AtomicI32::new(schema),
                    max_buckets: max,
                    zero_threshold: AtomicU64::new(zero_threshold.to_bits()),
                    table: BucketTable::new(max.map(NonZeroU32::get)),
                })
            }),
        }
    }

    /// The native state (`None` for a classic-only histogram).
    #[inline]
    pub(super) fn native(&self) -> Option<&NativeHalf> {
        self.native.as_deref()
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
    /// bound), the sum, the native bucket if the half has native state (NaN has
    /// none), then the count. Returns the native state when a native bucket was
    /// recorded.
    #[inline]
    pub(super) fn record(&self, v: f64, bucket: usize) -> Option<&NativeHalf> {
        if let Some(b) = self.classic.get(bucket) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        add_f64(&self.sum, v);
        let native = self.native().filter(|_| !v.is_nan());
        if let Some(n) = native {
            let zero_threshold = n.zero_threshold();
            if v > zero_threshold {
                n.table.add(key(false, bucket_index(v, n.schema())), 1);
            } else if v < -zero_threshold {
                n.table.add(key(true, bucket_index(v, n.schema())), 1);
            } else {
                n.zero.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Release);
        native
    }

    pub(super) fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
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
        if let (Some(hot), Some(cold)) = (self.native(), cold.native()) {
            let mut zero = cold.zero.swap(0, Ordering::Relaxed);
            cold.table.for_each(|k, c| {
                if c > 0 {
                    match map(k) {
                        Some(k) => {
                            hot.table.add(k, c);
                        }
                        None => zero += c,
                    }
                }
            });
            cold.table.zero_counts();
            hot.zero.fetch_add(zero, Ordering::Relaxed);
        }
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
        if let Some(n) = self.native() {
            n.zero.store(0, Ordering::Relaxed);
            n.schema.store(schema, Ordering::Relaxed);
            n.zero_threshold
                .store(zero_threshold.to_bits(), Ordering::Relaxed);
            n.table.clear();
        }
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
