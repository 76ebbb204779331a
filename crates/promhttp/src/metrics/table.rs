//! A family's series table: lookups read it without a lock and without writing
//! anything shared; adding and removing series take its mutex.
//!
//! Open addressing over a power-of-two array of atomic pointers (triangular
//! probing, which visits every slot). A slot is empty (null), a tombstone (a removed
//! series), or one `Arc<Series>` the table owns, its pointer carrying three bits of
//! the series' hash in its low bits (a series is 8-aligned) so that most probes that
//! miss do not read the series. The array is replaced by a larger one (or one
//! without tombstones) when live series and tombstones would pass 7/8 of it; the
//! old array and every removed series are kept until no reader can still see them
//! ([`epoch`](super::epoch)), then freed at a later write or when the table is dropped.
//!
//! A lookup that finds nothing (or that ran on an array just replaced) is not an
//! answer: the caller looks again under the mutex before adding.

use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::epoch::{self, Guard};

use super::family::Series;
use crate::util::lock;

/// The low pointer bits that hold part of the hash.
const TAG_MASK: usize = 0b111;

/// The tag of a hash: its top three bits (the index uses the low ones).
fn tag(hash: u64) -> usize {
    (hash >> 61) as usize
}

/// A tombstone: an address no series has (an `Arc`'s value is past its counts).
fn tombstone() -> *mut u8 {
    NonNull::<u64>::dangling().as_ptr().cast()
}

/// One slot array.
struct Slots {
    slots: Box<[AtomicPtr<u8>]>,
}

impl Slots {
    fn new(capacity: usize) -> Self {
        Slots {
            slots: (0..capacity)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
        }
    }

    /// The slots `hash` probes, in order: all of them, once each.
    fn probe(&self, hash: u64) -> impl Iterator<Item = &AtomicPtr<u8>> + '_ {
        let mask = self.slots.len().wrapping_sub(1);
        let mut at = hash as usize;
        (0..self.slots.len()).map(move |step| {
            at = at.wrapping_add(step) & mask;
            &self.slots[at]
        })
    }
}

/// A tagged slot value's series.
fn untag<C>(p: *mut u8) -> *const Series<C> {
    p.wrapping_sub(p as usize & TAG_MASK).cast_const().cast()
}

/// What a writer unlinked, kept until no reader can see it.
enum Retired<C> {
    Slots(#[allow(dead_code)] RetiredSlots),
    Series(#[allow(dead_code)] Arc<Series<C>>),
}

/// An unlinked array (from `Box::into_raw`), freed when dropped. Kept as a raw
/// pointer, not a `Box`, while readers may still hold references into it: a `Box`
/// would claim it unaliased.
struct RetiredSlots(NonNull<Slots>);

// SAFETY: `Slots` is an array of atomics; the pointer is owned (freed once, on drop).
unsafe impl Send for RetiredSlots {}
// SAFETY: as above; nothing is reached through `&RetiredSlots`.
unsafe impl Sync for RetiredSlots {}

impl Drop for RetiredSlots {
    fn drop(&mut self) {
        // SAFETY: from `Box::into_raw`, unlinked, and dropped only once no reader
        // can see it (see `reclaim`).
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// The writers' side: counts, and what waits to be freed.
struct Writer<C> {
    /// Live series plus tombstones in the current array.
    used: usize,
    retired: Vec<(u64, Retired<C>)>,
}

/// The series of one family.
pub(crate) struct Table<C> {
    /// The current array (from `Box::into_raw`); replaced only under `writer`.
    current: AtomicPtr<Slots>,
    writer: Mutex<Writer<C>>,
    len: AtomicUsize,
    _owns: PhantomData<Arc<Series<C>>>,
}

// SAFETY: the table owns `Arc<Series<C>>`s (shared between threads by design) and
// arrays of atomics; `C: Send + Sync` makes those `Send + Sync`.
unsafe impl<C: Send + Sync> Send for Table<C> {}
// SAFETY: as above; every shared access goes through atomics or the mutex.
unsafe impl<C: Send + Sync> Sync for Table<C> {}

/// A series found by a lookup, valid while the read section it was found in lasts.
/// Holds the pointer the table stored (from `Arc::into_raw`, so allowed to reach
/// the counts in front of the series), not a reference derived from it.
pub(crate) struct Found<'g, C> {
    ptr: *const Series<C>,
    _section: PhantomData<&'g Series<C>>,
}

impl<C> Found<'_, C> {
    fn new(ptr: *const Series<C>) -> Self {
        Found {
            ptr,
            _section: PhantomData,
        }
    }

    /// A counted handle of the series.
    pub(crate) fn to_arc(&self) -> Arc<Series<C>> {
        let p = self.ptr;
        // SAFETY: `p` came from `Arc::into_raw` and the table still holds that count
        // (or holds it retired) while the section lasts.
        unsafe {
            Arc::increment_strong_count(p);
            Arc::from_raw(p)
        }
    }

    /// The table's own `Arc`, borrowed: for a handle made without touching the
    /// count, which must not be dropped (wrap it in `ManuallyDrop`).
    ///
    /// # Safety
    ///
    /// The returned `Arc` must never be dropped, and must not be used after the
    /// read section ends (a clone of it may).
    pub(crate) unsafe fn borrowed_arc(&self) -> std::mem::ManuallyDrop<Arc<Series<C>>> {
        let p = self.ptr;
        // SAFETY: `p` came from `Arc::into_raw`; the `ManuallyDrop` never gives the
        // table's count back, and the caller keeps it within the section.
        std::mem::ManuallyDrop::new(unsafe { Arc::from_raw(p) })
    }
}

impl<C> Table<C> {
    pub(crate) fn new() -> Self {
        // The low 3 bits of a series pointer carry hash bits: it must be 8-aligned.
        const {
            assert!(std::mem::align_of::<Series<C>>() >= 8);
        }
        Table {
            current: AtomicPtr::new(Box::into_raw(Box::new(Slots::new(0)))),
            writer: Mutex::new(Writer {
                used: 0,
                retired: Vec::new(),
            }),
            len: AtomicUsize::new(0),
            _owns: PhantomData,
        }
    }

    /// How many series the table holds.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// The current array, valid while `_guard`'s section (or the writer's mutex) lasts.
    fn slots<'g>(&self, _guard: &'g Guard) -> &'g Slots {
        // SAFETY: arrays are replaced under the mutex and freed only once no section
        // entered before their replacement is open (see `epoch`).
        unsafe { &*self.current.load(Ordering::SeqCst) }
    }

    /// The series for which `eq` holds, probing from `hash`, within a read section.
    #[inline]
    pub(crate) fn find<'g>(
        &'g self,
        guard: &'g Guard,
        hash: u64,
        eq: impl Fn(&Series<C>) -> bool,
    ) -> Option<Found<'g, C>> {
        find_in(self.slots(guard), hash, &eq).map(|(_, p)| Found::new(p))
    }

    /// Takes the writers' mutex.
    pub(crate) fn write(&self) -> WriteGuard<'_, C> {
        WriteGuard {
            table: self,
            writer: lock(&self.writer),
        }
    }

    /// Every series, each counted: one moment's set (under the mutex: a series
    /// removed and added again meanwhile is not seen twice).
    ///
    /// Also frees what was retired and no reader can see any more: a family that
    /// is scraped but never written again does not keep removed series alive.
    pub(crate) fn all(&self) -> Vec<Arc<Series<C>>> {
        let mut writer = self.write();
        writer.reclaim();
        collect(writer.slots())
    }
}

/// The slot holding the series `eq` accepts, and the series' pointer as stored.
#[inline]
fn find_in<'s, C>(
    slots: &'s Slots,
    hash: u64,
    eq: &impl Fn(&Series<C>) -> bool,
) -> Option<(&'s AtomicPtr<u8>, *const Series<C>)> {
    let tag = tag(hash);
    for slot in slots.probe(hash) {
        let p = slot.load(Ordering::SeqCst);
        if p.is_null() {
            return None;
        }
        if p == tombstone() || p as usize & TAG_MASK != tag {
            continue;
        }
        let series = untag::<C>(p);
        // SAFETY: a tagged pointer from `Arc::into_raw`, alive while the caller's
        // section or mutex lasts.
        if eq(unsafe { &*series }) {
            return Some((slot, series));
        }
    }
    None
}

fn collect<C>(slots: &Slots) -> Vec<Arc<Series<C>>> {
    let mut out = Vec::new();
    for slot in slots.slots.iter() {
        let p = slot.load(Ordering::SeqCst);
        if !p.is_null() && p != tombstone() {
            out.push(Found::new(untag::<C>(p)).to_arc());
        }
    }
    out
}

/// The writers' mutex, held.
pub(crate) struct WriteGuard<'t, C> {
    table: &'t Table<C>,
    writer: MutexGuard<'t, Writer<C>>,
}

impl<C> WriteGuard<'_, C> {
    fn slots(&self) -> &Slots {
        // SAFETY: only a writer replaces or frees an array; this one holds the mutex.
        unsafe { &*self.table.current.load(Ordering::SeqCst) }
    }

    /// The series for which `eq` holds.
    pub(crate) fn find(
        &self,
        hash: u64,
        eq: impl Fn(&Series<C>) -> bool,
    ) -> Option<Arc<Series<C>>> {
        find_in(self.slots(), hash, &eq).map(|(_, p)| Found::new(p).to_arc())
    }

    /// Adds `series` (not in the table), whose hash is `hash`; `rehash` gives the
    /// hash of a series already there, when the array grows.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        series: Arc<Series<C>>,
        rehash: impl Fn(&Series<C>) -> u64,
    ) {
        let len = self.table.len();
        let capacity = self.slots().slots.len();
        if (self.writer.used + 1) * 8 > capacity * 7 {
            self.rebuild(len + 1, &rehash);
        }
        let tagged = Arc::into_raw(series)
            .cast::<u8>()
            .cast_mut()
            .wrapping_add(tag(hash));
        loop {
            let free = self.slots().probe(hash).find(|slot| {
                let p = slot.load(Ordering::SeqCst);
                p.is_null() || p == tombstone()
            });
            if let Some(slot) = free {
                let was_empty = slot.load(Ordering::SeqCst).is_null();
                slot.store(tagged, Ordering::SeqCst);
                self.table.len.fetch_add(1, Ordering::Relaxed);
                if was_empty {
                    self.writer.used += 1;
                }
                return;
            }
            // Not reached: an array is never more than 7/8 full. Were it full,
            // a larger one makes room.
            let capacity = self.slots().slots.len();
            self.rebuild(capacity + 1, &rehash);
        }
    }

    /// Replaces the array by one with room for `room` series at most 7/8 full,
    /// without tombstones.
    fn rebuild(&mut self, room: usize, rehash: &impl Fn(&Series<C>) -> u64) {
        let mut capacity = 8;
        while room * 8 > capacity * 7 {
            capacity *= 2;
        }
        let new = Slots::new(capacity);
        let mut used = 0;
        for slot in self.slots().slots.iter() {
            let p = slot.load(Ordering::SeqCst);
            if p.is_null() || p == tombstone() {
                continue;
            }
            // SAFETY: as in `find_in`; the mutex is held.
            let hash = rehash(unsafe { &*untag::<C>(p) });
            let base = p.wrapping_sub(p as usize & TAG_MASK);
            if let Some(free) = new
                .probe(hash)
                .find(|s| s.load(Ordering::Relaxed).is_null())
            {
                free.store(base.wrapping_add(tag(hash)), Ordering::Relaxed);
                used += 1;
            }
        }
        let new = Box::into_raw(Box::new(new));
        let old = self.table.current.swap(new, Ordering::SeqCst);
        self.writer.used = used;
        // `old` came from `Box::into_raw` and is unlinked now; its series moved to
        // the new array (the old one does not own them).
        if let Some(old) = NonNull::new(old) {
            self.retire(Retired::Slots(RetiredSlots(old)));
        }
    }

    /// Removes the series for which `eq` holds; whether there was one.
    pub(crate) fn remove(&mut self, hash: u64, eq: impl Fn(&Series<C>) -> bool) -> bool {
        let Some((slot, p)) = find_in(self.slots(), hash, &eq) else {
            return false;
        };
        slot.store(tombstone(), Ordering::SeqCst);
        self.table.len.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: the slot held the count from `Arc::into_raw`; unlinked, it is ours.
        let owned = unsafe { Arc::from_raw(p) };
        self.retire(Retired::Series(owned));
        true
    }

    /// Removes every series.
    pub(crate) fn clear(&mut self) {
        let empty = Box::into_raw(Box::new(Slots::new(0)));
        let old = self.table.current.swap(empty, Ordering::SeqCst);
        self.table.len.store(0, Ordering::Relaxed);
        self.writer.used = 0;
        let Some(old) = NonNull::new(old) else {
            return;
        };
        // SAFETY: `old` came from `Box::into_raw`; unlinked now, it is freed only
        // once no reader can see it (readers only load from it, as this does).
        let series: Vec<_> = own_all::<C>(unsafe { old.as_ref() });
        let tag = epoch::retire_epoch();
        self.writer
            .retired
            .push((tag, Retired::Slots(RetiredSlots(old))));
        self.writer
            .retired
            .extend(series.into_iter().map(|s| (tag, Retired::Series(s))));
        self.reclaim();
    }

    fn retire(&mut self, what: Retired<C>) {
        let tag = epoch::retire_epoch();
        self.writer.retired.push((tag, what));
        self.reclaim();
    }

    /// Frees what no reader can see any more.
    fn reclaim(&mut self) {
        let oldest = epoch::oldest_reader();
        self.writer
            .retired
            .retain(|(tag, _)| !epoch::is_unreachable(*tag, oldest));
    }
}

/// Takes the counts an array holds.
fn own_all<C>(slots: &Slots) -> Vec<Arc<Series<C>>> {
    slots
        .slots
        .iter()
        .map(|slot| slot.swap(ptr::null_mut(), Ordering::SeqCst))
        .filter(|p| !p.is_null() && *p != tombstone())
        // SAFETY: each live slot held one count from `Arc::into_raw`, taken once.
        .map(|p| unsafe { Arc::from_raw(untag::<C>(p)) })
        .collect()
}

impl<C> Drop for Table<C> {
    fn drop(&mut self) {
        let current = *self.current.get_mut();
        // SAFETY: `&mut self`: no reader or writer is left; `current` came from
        // `Box::into_raw`.
        let slots = unsafe { Box::from_raw(current) };
        drop(own_all::<C>(&slots));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::metrics::labels::{hash_values, StoredValues};

    /// A core that counts its drops.
    struct Core<'a>(&'a AtomicUsize);

    impl Drop for Core<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn series_are_found_removed_added_again_and_each_freed_once() {
        let drops = AtomicUsize::new(0);
        let hasher = foldhash::fast::RandomState::default();
        let key = |i: usize| [format!("k{i}"), (i % 7).to_string()];
        let table = Table::new();
        let add = |i: usize| {
            let values = key(i);
            let series = Arc::new(Series::new(
                StoredValues::new(&values).unwrap(),
                Core(&drops),
            ));
            table
                .write()
                .insert(hash_values(&hasher, &values), series, |s| {
                    s.values.hash_with(&hasher)
                });
        };
        let find = |i: usize| {
            let values = key(i);
            let section = epoch::enter().unwrap();
            table
                .find(&section, hash_values(&hasher, &values), |s| {
                    s.values.equals(&values)
                })
                .map(|found| found.to_arc())
        };
        for i in 0..1000 {
            add(i);
        }
        assert_eq!(table.len(), 1000);
        assert!((0..1000).all(|i| find(i).is_some_and(|s| s.values.equals(&key(i)))));
        assert!(find(1000).is_none());
        // A removed series held elsewhere stays usable, and is not found any more.
        let held = find(2).unwrap();
        for i in (0..1000).step_by(2) {
            let values = key(i);
            assert!(table
                .write()
                .remove(hash_values(&hasher, &values), |s| s.values.equals(&values)));
        }
        assert!(!table
            .write()
            .remove(hash_values(&hasher, &key(0)), |s| s.values.equals(&key(0))));
        assert_eq!(table.len(), 500);
        assert!((0..1000).all(|i| find(i).is_some() == (i % 2 == 1)));
        assert!(held.values.equals(&key(2)));
        // Tombstones are reused or swept by rebuilds: adding the removed ones again
        // finds every series once.
        for i in (0..1000).step_by(2) {
            add(i);
        }
        assert_eq!(table.len(), 1000);
        assert_eq!(table.all().len(), 1000);
        assert!((0..1000).all(|i| find(i).is_some()));
        table.write().clear();
        assert_eq!((table.len(), table.all().len()), (0, 0));
        assert!(find(1).is_none());
        add(1);
        assert!(find(1).is_some());
        drop(held);
        drop(table);
        // 1,000 series, 500 of them made twice, one more after the clear: every one
        // freed exactly once (removed ones once no section could see them, at the
        // latest with the table).
        assert_eq!(drops.load(Ordering::SeqCst), 1501);
    }

    /// A series removed while another thread's section has found it stays alive
    /// (writes meanwhile do not free it) until that section ends; the next write or
    /// scrape after that frees it.
    #[test]
    fn a_removed_series_outlives_the_sections_that_found_it() {
        let drops = AtomicUsize::new(0);
        let hasher = foldhash::fast::RandomState::default();
        let table = Table::new();
        let key = |i: usize| [format!("k{i}")];
        let hash = |i: usize| hash_values(&hasher, &key(i));
        let add = |i: usize| {
            let series = Arc::new(Series::new(
                StoredValues::new(&key(i)).unwrap(),
                Core(&drops),
            ));
            table
                .write()
                .insert(hash(i), series, |s| s.values.hash_with(&hasher));
        };
        add(0);
        let (found_tx, found_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            // Dropped when this closure ends, a failed assertion included: the
            // reader then stops waiting.
            let go_tx = go_tx;
            let (table, key, hash) = (&table, &key, &hash);
            let reader = s.spawn(move || {
                let section = epoch::enter().unwrap();
                let found = table.find(&section, hash(0), |s| s.values.equals(&key(0)));
                found_tx.send(found.is_some()).unwrap();
                go_rx.recv().unwrap();
                // Read after the removal and the writes below: still the series.
                let again = found.map(|f| f.to_arc());
                drop(section);
                again.is_some_and(|s| s.values.equals(&key(0)))
            });
            assert!(found_rx.recv().unwrap());
            assert!(table.write().remove(hash(0), |s| s.values.equals(&key(0))));
            // Growth retires arrays and reclaims: the series is held back.
            for i in 1..100 {
                add(i);
            }
            assert_eq!(table.all().len(), 99);
            assert_eq!(drops.load(Ordering::SeqCst), 0);
            go_tx.send(()).unwrap();
            assert!(reader.join().unwrap());
        });
        // Freed at a later scrape (other tests' sections may hold it back a moment).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while drops.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
            table.all();
            std::thread::yield_now();
        }
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}
