//! The cap on scrapes served at once: a counter, so every limit a `usize` can
//! hold is exact (a semaphore would cap it at its permit maximum).

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

/// At most `max` scrapes inside at once.
#[derive(Debug)]
pub(super) struct InFlightLimit {
    max: NonZeroUsize,
    inside: AtomicUsize,
}

impl InFlightLimit {
    pub(super) fn new(max: NonZeroUsize) -> Self {
        InFlightLimit {
            max,
            inside: AtomicUsize::new(0),
        }
    }

    pub(super) fn max(&self) -> NonZeroUsize {
        self.max
    }

    /// A place, held until the guard drops; `None` when all `max` are taken.
    pub(super) fn try_enter(&self) -> Option<Entered<'_>> {
        self.inside
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                // Only below `max` is `n + 1` computed: it stays within `usize`.
                if n < self.max.get() {
                    Some(n + 1)
                } else {
                    None
                }
            })
            .ok()
            .map(|_| Entered(self))
    }
}

/// One scrape inside the limit; leaving is dropping it.
pub(super) struct Entered<'a>(&'a InFlightLimit);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.inside.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_and_again_after_a_leave() {
        let limit = InFlightLimit::new(NonZeroUsize::new(2).unwrap());
        let a = limit.try_enter().unwrap();
        let _b = limit.try_enter().unwrap();
        assert!(limit.try_enter().is_none());
        drop(a);
        let _c = limit.try_enter().unwrap();
        assert!(limit.try_enter().is_none());
    }

    #[test]
    fn the_largest_limit_is_taken_as_given() {
        let limit = InFlightLimit::new(NonZeroUsize::MAX);
        assert_eq!(limit.max(), NonZeroUsize::MAX);
        // One below the top: the last place is still free, then none is.
        limit.inside.store(usize::MAX - 1, Ordering::Relaxed);
        let last = limit.try_enter().unwrap();
        assert!(limit.try_enter().is_none());
        drop(last);
        assert_eq!(limit.inside.load(Ordering::Relaxed), usize::MAX - 1);
    }
}
