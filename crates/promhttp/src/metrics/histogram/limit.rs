//! The slow path of native histograms: what happens when an observation created a
//! bucket past the bucket limit. It only runs then, and takes the collectors'
//! mutex. In Go's order: reset the histogram if the last reset is at least the
//! minimum reset duration ago; else widen the zero bucket to take in the bucket
//! closest to zero, if the maximum zero threshold allows; else halve the
//! resolution (schema minus one, bucket pairs merged), down to schema -4.
//!
//! Widening and reduction change the cold half first (no writer reaches it), make
//! it hot, wait for the writers of the other half to finish, and fold that half in
//! through the new zero threshold or schema, so no observation is lost or counted
//! twice and a collector (serialized by the same mutex) never sees a mixture.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::core::{wait_for_writers, Control, HistogramCore, HOT_BIT, STARTED};
use super::half::NativeHalf;
use super::index::{reduced_index, upper_bound, MIN_SCHEMA};
use super::table::{key, sign_and_index};

impl HistogramCore {
    /// Brings the number of native buckets back to `max` (best effort), after
    /// `value` (classic bucket `bucket`) created one too many.
    #[cold]
    pub(super) fn limit_buckets(&self, value: f64, bucket: usize, max: u32) {
        let Some(native) = &self.native else {
            return;
        };
        let mut control = self.lock_control();
        // A collector may have flipped the halves meanwhile: look again.
        let n = self.count_and_hot.load(Ordering::Acquire);
        let hot_index = (n >> 63) as usize;
        if self.halves[hot_index]
            .native()
            .is_none_or(|hot| hot.table.len() <= max)
        {
            return;
        }
        if let Some(min) = native.min_reset_duration() {
            if control.last_reset.elapsed() >= min {
                self.reset(&mut control, hot_index, value, bucket);
                return;
            }
        }
        // Unlike Go (one step per observation), repeat until within the limit, so
        // the limit holds as soon as this observation is done.
        loop {
            let Some((hot, cold)) = self.native_hot_and_cold() else {
                return;
            };
            if hot.table.len() <= max {
                return;
            }
            if self.widen_zero_bucket(hot, cold, native.max_zero_threshold()) {
                continue;
            }
            let schema = cold.schema();
            if schema <= MIN_SCHEMA {
                return;
            }
            cold.table.clear();
            cold.schema.store(schema - 1, Ordering::Relaxed);
            self.fold_after_flip(|k| {
                let (negative, index) = sign_and_index(k);
                Some(key(negative, reduced_index(index)))
            });
            let Some((new_hot, new_cold)) = self.native_hot_and_cold() else {
                return;
            };
            new_cold.schema.store(new_hot.schema(), Ordering::Relaxed);
            new_cold.table.clear();
        }
    }

    /// Resets both halves, keeping only `value`, the observation that hit the limit.
    fn reset(&self, control: &mut Control, hot_index: usize, value: f64, bucket: usize) {
        let Some(native) = &self.native else {
            return;
        };
        let (hot, cold) = (&self.halves[hot_index], &self.halves[hot_index ^ 1]);
        cold.reset(native.schema(), native.zero_threshold());
        cold.record(value, bucket);
        let n = self
            .count_and_hot
            .swap(((hot_index as u64 ^ 1) << 63) + 1, Ordering::AcqRel);
        wait_for_writers(hot, n & STARTED);
        hot.reset(native.schema(), native.zero_threshold());
        control.last_reset = Instant::now();
    }

    /// Widens the zero bucket up to the upper bound of the bucket closest to zero,
    /// if that is within `max_zero_threshold`; `false` when it cannot.
    fn widen_zero_bucket(
        &self,
        hot: &NativeHalf,
        cold: &NativeHalf,
        max_zero_threshold: f64,
    ) -> bool {
        if hot.zero_threshold() >= max_zero_threshold {
            return false;
        }
        let mut smallest: Option<i32> = None;
        hot.table.for_each(|k, _| {
            let (_, index) = sign_and_index(k);
            smallest = Some(smallest.map_or(index, |s| s.min(index)));
        });
        let Some(smallest) = smallest else {
            return false;
        };
        let threshold = upper_bound(smallest, hot.schema());
        if threshold > max_zero_threshold {
            return false;
        }
        cold.table.clear();
        cold.zero_threshold
            .store(threshold.to_bits(), Ordering::Relaxed);
        // Buckets created below `smallest` meanwhile go to the zero bucket too.
        self.fold_after_flip(|k| (sign_and_index(k).1 > smallest).then_some(k));
        if let Some((_, new_cold)) = self.native_hot_and_cold() {
            new_cold
                .zero_threshold
                .store(threshold.to_bits(), Ordering::Relaxed);
            new_cold.table.clear();
        }
        true
    }

    /// Makes the cold half hot, waits for the writers of the other one, and folds it
    /// into the new hot half through `map` (see [`Half::absorb`]).
    fn fold_after_flip(&self, map: impl Fn(u64) -> Option<u64>) {
        let n = self.count_and_hot.fetch_add(HOT_BIT, Ordering::AcqRel);
        let old_hot = &self.halves[(n >> 63) as usize];
        let new_hot = &self.halves[((n >> 63) ^ 1) as usize];
        wait_for_writers(old_hot, n & STARTED);
        new_hot.absorb(old_hot, map);
    }

    /// The native state of the hot half and of the cold one.
    fn native_hot_and_cold(&self) -> Option<(&NativeHalf, &NativeHalf)> {
        let hot = (self.count_and_hot.load(Ordering::Acquire) >> 63) as usize;
        Some((self.halves[hot].native()?, self.halves[hot ^ 1].native()?))
    }
}
