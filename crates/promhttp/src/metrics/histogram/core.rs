//! [`HistogramCore`]: one histogram series, recorded without a lock and read whole.
//!
//! The state is kept twice, in two [`Half`]s, as Go's client does. One atomic word
//! holds the index of the hot half (its top bit) and the number of observations
//! started (the other bits). A writer bumps that word, which tells it the hot half,
//! records into that half, and then bumps the half's completion count. A collector
//! (collectors are serialized by a mutex that writers never take) flips the top
//! bit: new observations now go to the other half. It waits until the old half's
//! completion count reaches the started count it got from the flip (every writer
//! that chose that half has then finished: a short spin, then yielding), reads the
//! half, which holds every observation up to one moment, adds it into the new hot
//! half and zeroes it. So a scrape never sees a torn histogram, and writers never
//! wait for a scrape.
//!
//! A classic-only histogram has no completion count: each observation lands in
//! exactly one bucket (`+Inf` and NaN included) and bumps it last, so the buckets
//! of a half add up to the observations completed in it, and the collector waits
//! for that sum instead (three atomic read-modify-writes per observation: the
//! word, the sum, the bucket).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Instant, SystemTime};

use super::config::{Buckets, NativeBuckets};
use super::exemplars::Exemplars;
use super::half::{Half, NativeHalf};
use super::table::sign_and_index;
use crate::model::{Bucket, Exemplar, HistogramValue, NativeHistogram};

/// The top bit of `count_and_hot`: the hot half.
pub(super) const HOT_BIT: u64 = 1 << 63;
/// The other bits: observations started.
pub(super) const STARTED: u64 = HOT_BIT - 1;

/// State that only collectors and the bucket-limiting slow path touch.
pub(super) struct Control {
    /// When the histogram was created or last reset.
    pub(super) last_reset: Instant,
    /// A classic-only histogram's totals (see [`HistogramCore::read_totals`]).
    totals: Option<Box<Totals>>,
}

/// Everything a classic-only histogram has observed up to the last collection: the
/// halves then only hold what came since, and a collection moves it here.
struct Totals {
    /// Per bucket, not cumulative.
    classic: Box<[u64]>,
    count: u64,
    sum: f64,
}

/// One histogram series: classic buckets, native buckets or both.
pub struct HistogramCore {
    /// Hot half index (top bit) and observations started.
    pub(super) count_and_hot: AtomicU64,
    pub(super) halves: [Half; 2],
    bounds: Arc<[f64]>,
    /// Whether classic buckets were asked for (a native-only histogram has none).
    classic: bool,
    /// The native settings (boxed: a classic-only histogram has none).
    pub(super) native: Option<Box<NativeBuckets>>,
    pub(super) control: Mutex<Control>,
    exemplars: OnceLock<Box<Exemplars>>,
}

impl HistogramCore {
    /// A series with `classic` buckets, `native` buckets, or both. With neither, it
    /// has the default classic buckets (as Go's client).
    pub(crate) fn new(classic: Option<&Buckets>, native: Option<&NativeBuckets>) -> Self {
        let bounds = match (classic, native) {
            (Some(b), _) => b.shared(),
            (None, Some(_)) => Arc::from(Vec::new()),
            (None, None) => Buckets::default().shared(),
        };
        let start = native.map(|n| (n.schema(), n.zero_threshold(), n.max_buckets()));
        // A classic-only histogram counts `+Inf` in a bucket of its own (see the
        // module documentation).
        let classic_buckets = bounds.len() + usize::from(native.is_none());
        let half = || Half::new(classic_buckets, start);
        HistogramCore {
            count_and_hot: AtomicU64::new(0),
            halves: [half(), half()],
            classic: classic.is_some() || native.is_none(),
            bounds,
            native: native.map(|n| Box::new(n.clone())),
            control: Mutex::new(Control {
                last_reset: Instant::now(),
                totals: native.is_none().then(|| {
                    Box::new(Totals {
                        classic: vec![0; classic_buckets].into_boxed_slice(),
                        count: 0,
                        sum: 0.0,
                    })
                }),
            }),
            exemplars: OnceLock::new(),
        }
    }

    /// Whether an exemplar was ever recorded.
    pub(crate) fn has_exemplars(&self) -> bool {
        self.exemplars.get().is_some()
    }

    /// The classic bucket bounds, without `+Inf` (empty for a native-only series).
    pub(crate) fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// Records `v`. NaN counts in the count, the sum (which becomes NaN) and the
    /// `+Inf` bucket, and in no native bucket (as Go). No lock is taken unless the
    /// native buckets are past the bucket limit (the slow path that brings them
    /// back, and the table's spill, see `table.rs`).
    #[inline]
    pub(crate) fn observe(&self, v: f64) {
        let bucket = self.classic_bucket(v);
        let n = self.count_and_hot.fetch_add(1, Ordering::AcqRel);
        let hot = &self.halves[(n >> 63) as usize];
        if self.native.is_none() {
            hot.record_classic(v, bucket);
            return;
        }
        if let Some(native) = hot.record(v, bucket) {
            if let Some(max) = native.max_buckets {
                if native.table.len() > max.get() {
                    self.limit_buckets(v, bucket, max.get());
                }
            }
        }
    }

    /// Records `v` with an exemplar, whose value is set to `v` and which is
    /// timestamped now if it has no timestamp. The exemplar replaces the one of the
    /// classic bucket `v` fell into and joins the native exemplars (replacing the
    /// oldest when there are `max_exemplars`). Storing the exemplar never waits:
    /// when another thread is storing one in the same place, this one is dropped.
    pub(crate) fn observe_with_exemplar(&self, v: f64, mut exemplar: Exemplar) {
        self.observe(v);
        exemplar.value = v;
        if exemplar.timestamp.is_none() {
            exemplar.timestamp = Some(SystemTime::now());
        }
        let max_native = self
            .native
            .as_deref()
            .filter(|_| !v.is_nan())
            .map_or(0, NativeBuckets::max_exemplars);
        let exemplars = self
            .exemplars
            .get_or_init(|| Box::new(Exemplars::new(self.bounds.len() + 1)));
        if max_native > 0 {
            exemplars.add_native(exemplar.clone(), max_native);
        }
        if self.classic {
            exemplars.set_classic(self.classic_bucket(v), exemplar);
        }
    }

    /// The classic bucket of `v`: the first bound at or above it, or
    /// `bounds.len()` for `+Inf` (NaN included).
    #[inline]
    fn classic_bucket(&self, v: f64) -> usize {
        let bounds = &self.bounds[..];
        if v.is_nan() {
            return bounds.len();
        }
        if bounds.len() <= 16 {
            // The bounds below `v`, counted without a branch per bound (the
            // bounds are sorted and distinct): observations that land in
            // different buckets one after the other cost no mispredicted
            // branch, as a search stopping at the first bound would.
            bounds.iter().map(|b| usize::from(*b < v)).sum()
        } else {
            bounds.partition_point(|b| *b < v)
        }
    }

    pub(super) fn lock_control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `read` on a half holding every observation up to one moment (see the
    /// module documentation), then folds it back into the hot half.
    fn read<R>(&self, read: impl FnOnce(&Half) -> R) -> R {
        let _control = self.lock_control();
        let n = self.count_and_hot.fetch_add(HOT_BIT, Ordering::AcqRel);
        let cold = &self.halves[(n >> 63) as usize];
        let hot = &self.halves[((n >> 63) ^ 1) as usize];
        wait_for_writers(cold, n & STARTED);
        let result = read(cold);
        hot.absorb(cold, Some);
        result
    }

    /// For a classic-only histogram: moves what the hot half gathered since the last
    /// collection into the totals (flipping halves and waiting for its writers, as
    /// [`read`](Self::read) does), and runs `read` on the totals. Unlike `read`, the
    /// totals are not added back into a half: a collection touches only the buckets
    /// observed since the last one, with plain loads and stores, instead of moving
    /// every count between the halves with atomic read-modify-writes.
    pub(crate) fn read_totals<R>(&self, read: impl FnOnce(&[u64], u64, f64) -> R) -> Option<R> {
        let mut control = self.lock_control();
        let totals = control.totals.as_mut()?;
        let n = self.count_and_hot.fetch_add(HOT_BIT, Ordering::AcqRel);
        let cold = &self.halves[(n >> 63) as usize];
        // Everything started before the previous flip is in the totals already.
        let count = (n & STARTED).wrapping_sub(totals.count);
        wait_until(|| cold.classic_completed() == count);
        let sum = cold.drain_classic(&mut totals.classic);
        totals.count = totals.count.wrapping_add(count);
        totals.sum += sum;
        Some(read(&totals.classic, totals.count, totals.sum))
    }

    /// Writes the cumulative count of each classic bound into `cumulative` (as many
    /// as both have) and returns the count and sum, all from one moment, without
    /// allocating.
    pub(crate) fn collect_classic(&self, cumulative: &mut [u64]) -> (u64, f64) {
        debug_assert_eq!(cumulative.len(), self.bounds.len());
        let from_totals = self.read_totals(|classic, count, sum| {
            let mut total = 0u64;
            for (out, b) in cumulative.iter_mut().zip(classic.iter()) {
                total += b;
                *out = total;
            }
            (count, sum)
        });
        if let Some(read) = from_totals {
            return read;
        }
        self.read(|half| {
            let mut total = 0u64;
            for (out, b) in cumulative.iter_mut().zip(half.classic.iter()) {
                total += b.load(Ordering::Relaxed);
                *out = total;
            }
            (half.count.load(Ordering::Relaxed), half.sum())
        })
    }

    /// The series' value, all from one moment: cumulative classic buckets (with
    /// their exemplars; no `+Inf` bucket unless it has an exemplar, as Go), count,
    /// sum, and the native buckets for a native series.
    pub(crate) fn collect(&self) -> HistogramValue {
        let mut counts = vec![0u64; self.bounds.len()];
        let (count, sum, native) = if self.native.is_none() {
            let (count, sum) = self.collect_classic(&mut counts);
            (count, sum, None)
        } else {
            self.read(|half| {
                let mut total = 0u64;
                for (out, b) in counts.iter_mut().zip(half.classic.iter()) {
                    total += b.load(Ordering::Relaxed);
                    *out = total;
                }
                let native = half.native().map(native_histogram);
                (half.count.load(Ordering::Relaxed), half.sum(), native)
            })
        };
        let mut buckets: Vec<Bucket> = self
            .bounds
            .iter()
            .zip(counts)
            .map(|(bound, c)| Bucket::new(*bound, c))
            .collect();
        let mut value_native = native;
        if let Some(exemplars) = self.exemplars.get() {
            if self.classic {
                exemplars.attach_classic(&mut buckets, count);
            }
            if let Some(n) = value_native.as_mut() {
                n.exemplars = exemplars.native();
            }
        }
        let value = HistogramValue::new(buckets, count, sum);
        match value_native {
            Some(n) => value.with_native(n),
            None => value,
        }
    }
}

/// The native buckets of a half no writer reaches.
fn native_histogram(half: &NativeHalf) -> NativeHistogram {
    let mut entries = Vec::with_capacity(half.table.len() as usize);
    half.table.for_each(|k, c| {
        if c > 0 {
            entries.push((sign_and_index(k), c));
        }
    });
    entries.sort_unstable_by_key(|(k, _)| *k);
    // A bucket may be listed twice (see the table); add up equal keys.
    let mut merged: Vec<((bool, i32), u64)> = Vec::with_capacity(entries.len());
    for (k, c) in entries {
        match merged.last_mut() {
            Some((last, total)) if *last == k => *total += c,
            _ => merged.push((k, c)),
        }
    }
    let split = merged.partition_point(|((negative, _), _)| !negative);
    let (positive, negative) = merged.split_at(split);
    NativeHistogram::from_counts(
        half.schema(),
        half.zero_threshold(),
        half.zero.load(Ordering::Relaxed),
        positive.iter().map(|((_, i), c)| (*i, *c)),
        negative.iter().map(|((_, i), c)| (*i, *c)),
    )
}

/// Waits until `half` has completed `started` observations: the writers that chose
/// it before it went cold are finishing a few atomic operations, so this ends.
pub(super) fn wait_for_writers(half: &Half, started: u64) {
    wait_until(|| half.count.load(Ordering::Acquire) == started);
}

/// Spins a little, then yields, until `done`: for writers finishing a few atomic
/// operations.
fn wait_until(done: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !done() {
        if spins < 64 {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}
