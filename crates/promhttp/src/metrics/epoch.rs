//! Read sections that write nothing shared, for the series tables' lock-free lookups.
//!
//! A reader [`enter`]s a section, reads a table (and the series it points to), and
//! leaves. Entering stores the global epoch into the thread's own slot (one store to
//! a cache line no other thread writes); leaving clears it. A writer (always under
//! its table's mutex) that unlinks something — a table's old slot array, a removed
//! series — tags it with [`retire_epoch`] and keeps it; [`oldest_reader`] then
//! tells when no reader that may still see it is left, and the writer frees it at a
//! later write or when the table is dropped. Sections nest (only the outermost one
//! stores); a thread stuck inside one delays the freeing of what is retired
//! meanwhile, never a reader or a writer.
//!
//! Why it is sound, with every operation below `SeqCst` (plain loads, and one
//! `xchg` to enter, on x86): a reader that read an unlinked pointer stored its slot
//! (value `e`, read from [`EPOCH`] before) before that read, which came before the
//! writer's unlinking store, which came before the writer's `fetch_add` returning
//! `r` (so `e <= r`) and before its scan of the slots: the scan sees `e` while the
//! section lasts. A reader whose slot store comes after the scan loads the table
//! after the unlinking store and cannot see what was unlinked.
//!
//! Slots are never freed: a thread takes a free one (or makes one) at its first
//! section and gives it back when it exits.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering::SeqCst};

/// The global epoch: starts at 1 and grows by one at every retirement, so a slot
/// holding 0 is outside any section.
static EPOCH: AtomicU64 = AtomicU64::new(1);

/// Every slot ever made, newest first.
static SLOTS: AtomicPtr<Slot> = AtomicPtr::new(ptr::null_mut());

/// One thread's slot.
struct Slot {
    /// The epoch its thread's outermost section entered at; 0 outside.
    entered: AtomicU64,
    /// Whether a thread owns it.
    taken: AtomicBool,
    /// The slot made before this one (set once, before the slot is published).
    next: *const Slot,
}

// SAFETY: `next` is written once before the slot is shared and only read afterwards;
// every other field is atomic.
unsafe impl Sync for Slot {}

/// Every slot, newest first.
fn slots() -> impl Iterator<Item = &'static Slot> {
    // SAFETY: slots are leaked when made, never freed: every pointer in the list
    // stays valid for the life of the process.
    let mut next = SLOTS.load(SeqCst).cast_const();
    std::iter::from_fn(move || {
        let slot = unsafe { next.as_ref() }?;
        next = slot.next;
        Some(slot)
    })
}

/// A free slot, taken; a new one when none is free.
fn take_slot() -> &'static Slot {
    if let Some(free) = slots().find(|s| {
        s.taken
            .compare_exchange(false, true, SeqCst, SeqCst)
            .is_ok()
    }) {
        return free;
    }
    let slot = Box::leak(Box::new(Slot {
        entered: AtomicU64::new(0),
        taken: AtomicBool::new(true),
        next: ptr::null(),
    }));
    let mut head = SLOTS.load(SeqCst);
    loop {
        slot.next = head;
        match SLOTS.compare_exchange_weak(head, slot, SeqCst, SeqCst) {
            Ok(_) => return slot,
            Err(now) => head = now,
        }
    }
}

/// A thread's slot (taken at its first section) and how deep it is in sections.
struct Local {
    slot: Cell<Option<&'static Slot>>,
    depth: Cell<usize>,
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.get() {
            slot.entered.store(0, SeqCst);
            slot.taken.store(false, SeqCst);
        }
    }
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            slot: Cell::new(None),
            depth: Cell::new(0),
        }
    };
}

/// An open read section: what a table held when it was entered stays allocated
/// until it is dropped. Not `Send`: it is the section of the thread that made it.
pub(crate) struct Guard {
    _thread: PhantomData<*const ()>,
}

/// Enters a read section; `None` while the thread's locals are being torn down (the
/// caller then reads under its table's mutex instead).
#[inline]
pub(crate) fn enter() -> Option<Guard> {
    LOCAL
        .try_with(|local| {
            let depth = local.depth.get();
            if depth == 0 {
                let slot = match local.slot.get() {
                    Some(slot) => slot,
                    None => {
                        let slot = take_slot();
                        local.slot.set(Some(slot));
                        slot
                    }
                };
                slot.entered.store(EPOCH.load(SeqCst), SeqCst);
            }
            local.depth.set(depth + 1);
        })
        .ok()
        .map(|()| Guard {
            _thread: PhantomData,
        })
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        // The section was entered on this thread, whose locals are still alive: a
        // guard cannot outlive the thread-local it was made from (it is not Send,
        // and is never stored in a thread-local by this crate).
        let _ = LOCAL.try_with(|local| {
            let depth = local.depth.get().saturating_sub(1);
            local.depth.set(depth);
            if depth == 0 {
                if let Some(slot) = local.slot.get() {
                    slot.entered.store(0, std::sync::atomic::Ordering::Release);
                }
            }
        });
    }
}

/// The tag of something a writer has just unlinked (after the unlinking store).
pub(crate) fn retire_epoch() -> u64 {
    EPOCH.fetch_add(1, SeqCst)
}

/// The epoch of the oldest open section, if any: what was retired with a tag
/// below it can no longer be seen by any reader.
pub(crate) fn oldest_reader() -> Option<u64> {
    slots()
        .map(|s| s.entered.load(SeqCst))
        .filter(|&e| e != 0)
        .min()
}

/// Whether what was retired with tag `retired` may be freed now.
pub(crate) fn is_unreachable(retired: u64, oldest: Option<u64>) -> bool {
    oldest.is_none_or(|oldest| retired < oldest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What this thread's slot holds: 0 outside any section.
    fn own_entered() -> u64 {
        LOCAL.with(|l| l.slot.get().map_or(0, |s| s.entered.load(SeqCst)))
    }

    #[test]
    fn sections_nest_and_hold_back_only_what_is_retired_during_them() {
        let before = retire_epoch();
        let outer = enter().expect("thread locals alive");
        let entered = own_entered();
        // Entered after `before` was retired: this section never holds it back.
        assert!(entered > before && is_unreachable(before, Some(entered)));
        let inner = enter().expect("thread locals alive");
        assert_eq!(own_entered(), entered, "only the outermost section stores");
        let during = retire_epoch();
        assert!(!is_unreachable(during, oldest_reader()));
        drop(inner);
        assert!(!is_unreachable(during, oldest_reader()));
        drop(outer);
        assert_eq!(own_entered(), 0);
        assert!(is_unreachable(during, None));
    }

    #[test]
    fn an_exited_thread_gives_its_slot_back() {
        std::thread::spawn(|| drop(enter()))
            .join()
            .expect("no panic");
        let before = slots().count();
        for _ in 0..48 {
            std::thread::spawn(|| drop(enter()))
                .join()
                .expect("no panic");
        }
        // Each thread took a free slot back instead of making one: 48 threads one
        // after another need one slot. Tests running beside this one may add slots
        // of their own meanwhile (one per thread of theirs inside a section at
        // once, a handful), never dozens.
        assert!(slots().count() < before + 24);
    }
}
