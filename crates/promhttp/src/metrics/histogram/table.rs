//! The native buckets of one half of a histogram: a lock-free table from bucket
//! (sign and index) to count.
//!
//! The table is open-addressed with linear probing, a fixed power-of-two number of
//! slots sized from the bucket limit and allocated at the first native bucket
//! observed. A bucket's slot is claimed with a compare-and-swap on its key and is
//! never freed while writers may use the table (only [`BucketTable::clear`] frees
//! slots, on a table no writer can reach), so a key is always found at the first
//! place its probe reaches it or an empty slot: adding to an existing bucket is a
//! probe and one atomic add.
//!
//! When the table is three quarters full, new buckets go to a small list behind a
//! mutex (the spill). That only happens past the bucket limit, before the limiting
//! strategy has brought the count back, or without a limit. Two writers may then
//! put the same bucket in both places; readers add up equal keys.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// A bucket as a table key: the sign and the index, plus one so that 0 means empty.
pub(crate) fn key(negative: bool, index: i32) -> u64 {
    ((u64::from(negative) << 32) | u64::from(index as u32)) + 1
}

/// The sign (`true` for negative) and index of a table key.
pub(crate) fn sign_and_index(key: u64) -> (bool, i32) {
    let raw = key - 1;
    (raw >> 32 == 1, raw as u32 as i32)
}

struct Slot {
    key: AtomicU64,
    count: AtomicU64,
}

/// Native bucket counts (see the module documentation).
pub(crate) struct BucketTable {
    slots: OnceLock<Box<[Slot]>>,
    capacity: usize,
    /// Distinct buckets in the table and the spill (a bucket in both counts twice).
    len: AtomicU32,
    spill: Mutex<Vec<(u64, u64)>>,
}

impl BucketTable {
    /// A table for about `max_buckets` buckets (256 slots without a limit).
    pub(crate) fn new(max_buckets: Option<u32>) -> Self {
        let wanted = max_buckets.map_or(256, |m| m as usize + m as usize / 3 + 1);
        BucketTable {
            slots: OnceLock::new(),
            capacity: wanted.clamp(16, 1 << 16).next_power_of_two(),
            len: AtomicU32::new(0),
            spill: Mutex::new(Vec::new()),
        }
    }

    /// Adds `n` to the bucket `key`; `true` when the bucket was new.
    pub(crate) fn add(&self, key: u64, n: u64) -> bool {
        let slots = self.slots.get_or_init(|| {
            (0..self.capacity)
                .map(|_| Slot {
                    key: AtomicU64::new(0),
                    count: AtomicU64::new(0),
                })
                .collect()
        });
        let mask = self.capacity - 1;
        let max_fill = self.capacity / 4 * 3;
        let mut i = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask;
        for _ in 0..self.capacity {
            let slot = &slots[i];
            let mut current = slot.key.load(Ordering::Acquire);
            if current == 0 {
                if self.len.load(Ordering::Relaxed) as usize >= max_fill {
                    break;
                }
                match slot
                    .key
                    .compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        self.len.fetch_add(1, Ordering::Relaxed);
                        slot.count.fetch_add(n, Ordering::Relaxed);
                        return true;
                    }
                    Err(actual) => current = actual,
                }
            }
            if current == key {
                slot.count.fetch_add(n, Ordering::Relaxed);
                return false;
            }
            i = (i + 1) & mask;
        }
        self.add_to_spill(key, n)
    }

    #[cold]
    fn add_to_spill(&self, key: u64, n: u64) -> bool {
        let mut spill = self.spill.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = spill.iter_mut().find(|(k, _)| *k == key) {
            entry.1 += n;
            return false;
        }
        spill.push((key, n));
        self.len.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// How many buckets the table holds (see `len` on the type).
    pub(crate) fn len(&self) -> u32 {
        self.len.load(Ordering::Relaxed)
    }

    /// Calls `f` with each bucket's key and count, in no order; a key may come twice
    /// (see the module documentation). For a table no writer reaches, or for
    /// figures that may be slightly behind (the keys only).
    pub(crate) fn for_each(&self, mut f: impl FnMut(u64, u64)) {
        if let Some(slots) = self.slots.get() {
            for slot in slots.iter() {
                let key = slot.key.load(Ordering::Acquire);
                if key != 0 {
                    f(key, slot.count.load(Ordering::Relaxed));
                }
            }
        }
        let spill = self.spill.lock().unwrap_or_else(PoisonError::into_inner);
        for &(key, count) in spill.iter() {
            f(key, count);
        }
    }

    /// Sets every count to 0, keeping the buckets (so they need not be claimed again).
    /// Only for a table no writer reaches.
    pub(crate) fn zero_counts(&self) {
        if let Some(slots) = self.slots.get() {
            for slot in slots.iter() {
                slot.count.store(0, Ordering::Relaxed);
            }
        }
        let mut spill = self.spill.lock().unwrap_or_else(PoisonError::into_inner);
        for entry in spill.iter_mut() {
            entry.1 = 0;
        }
    }

    /// Removes every bucket. Only for a table no writer reaches.
    pub(crate) fn clear(&self) {
        if let Some(slots) = self.slots.get() {
            for slot in slots.iter() {
                slot.key.store(0, Ordering::Relaxed);
                slot.count.store(0, Ordering::Relaxed);
            }
        }
        self.spill
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.len.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn contents(t: &BucketTable) -> BTreeMap<u64, u64> {
        let mut m = BTreeMap::new();
        t.for_each(|k, c| *m.entry(k).or_default() += c);
        m
    }

    #[test]
    fn keys_round_trip() {
        for (neg, i) in [
            (false, 0),
            (true, 0),
            (false, -5),
            (true, i32::MIN),
            (false, i32::MAX),
        ] {
            assert_ne!(key(neg, i), 0);
            assert_eq!(sign_and_index(key(neg, i)), (neg, i));
        }
    }

    #[test]
    fn adds_spills_and_clears() {
        let t = BucketTable::new(Some(10));
        assert_eq!(t.capacity, 16);
        let mut want = BTreeMap::new();
        for i in 0..40 {
            for n in 0..3 {
                let k = key(i % 2 == 0, i);
                let created = t.add(k, n + 1);
                assert_eq!(created, n == 0);
                *want.entry(k).or_insert(0) += n + 1;
            }
        }
        assert_eq!(t.len(), 40);
        assert!(!t.spill.lock().unwrap().is_empty());
        assert_eq!(contents(&t), want);
        t.zero_counts();
        assert!(contents(&t).values().all(|c| *c == 0));
        assert_eq!(t.len(), 40);
        t.clear();
        assert!(contents(&t).is_empty());
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn concurrent_adds_are_all_counted() {
        let t = BucketTable::new(Some(20));
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for i in 0..10_000 {
                        t.add(key(false, i % 37), 1);
                    }
                });
            }
        });
        let c = contents(&t);
        assert_eq!(c.len(), 37);
        assert_eq!(c.values().sum::<u64>(), 20_000);
    }
}
