//! The buffers a handler renders its pages into: lent to a render, kept by an
//! identity page until the last response holding it has been sent, then given
//! back for the next render.
//!
//! A page can be megabytes, and a scrape that arrives while the last page is still
//! being sent gets a fresh render (its values must be current), so with several
//! scrapers a handler could have as many pages alive as it has connections, each
//! in a buffer of its own. Here only [`MAX_LENT`] buffer is lent out at a time
//! without waiting: a render that finds the last page still being sent waits for
//! its buffer (scrapes arriving meanwhile join that render, so waiting also
//! shares one render among more scrapes), for at most the pool's wait, and then
//! takes a new one; a slow or stuck reader delays a render by that much, never
//! more. Sent over loopback or a LAN, a page is usually back within milliseconds.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::util::lock;

/// Buffers lent out at once before a render waits for one to come back.
pub(crate) const MAX_LENT: usize = 1;

/// How long a render waits for a lent buffer before it takes a new one.
pub(crate) const MAX_WAIT: Duration = Duration::from_millis(100);

/// Page buffers of one handler.
pub(crate) struct Pages {
    state: Mutex<State>,
    returned: Condvar,
    wait: Duration,
}

struct State {
    /// Buffers kept for the next render, at most [`MAX_LENT`].
    free: Vec<Vec<u8>>,
    /// Buffers lent out now.
    lent: usize,
}

impl Default for Pages {
    fn default() -> Self {
        Pages::new(MAX_WAIT)
    }
}

impl Pages {
    pub(crate) fn new(wait: Duration) -> Pages {
        Pages {
            state: Mutex::new(State {
                free: Vec::new(),
                lent: 0,
            }),
            returned: Condvar::new(),
            wait,
        }
    }

    /// A buffer for one render, cleared; it comes back when the [`Page`] is dropped.
    pub(crate) fn take(self: &Arc<Self>) -> Page {
        let mut state = lock(&self.state);
        let deadline = Instant::now().checked_add(self.wait);
        let buf = loop {
            if let Some(buf) = state.free.pop() {
                break buf;
            }
            if state.lent < MAX_LENT {
                break Vec::new();
            }
            let left = deadline.and_then(|d| d.checked_duration_since(Instant::now()));
            match left {
                Some(left) if !left.is_zero() => {
                    state = match self.returned.wait_timeout(state, left) {
                        Ok((s, _)) => s,
                        Err(poisoned) => poisoned.into_inner().0,
                    };
                }
                // Nothing came back in time: the pages out are held by slow readers.
                _ => {
                    tracing::debug!(
                        lent = state.lent,
                        "page buffers still being sent; taking a new one"
                    );
                    break Vec::new();
                }
            }
        };
        state.lent += 1;
        drop(state);
        let mut buf = buf;
        buf.clear();
        Page {
            buf,
            pages: Arc::downgrade(self),
            keep_up_to: 0,
        }
    }

    fn give_back(&self, buf: Vec<u8>, keep_up_to: usize) {
        let mut state = lock(&self.state);
        state.lent = state.lent.saturating_sub(1);
        let dropped = if buf.capacity() <= keep_up_to && state.free.len() < MAX_LENT {
            state.free.push(buf);
            None
        } else {
            Some(buf)
        };
        drop(state);
        self.returned.notify_one();
        // Freed outside the lock.
        drop(dropped);
    }

    /// (kept, lent) now.
    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        let state = lock(&self.state);
        (state.free.len(), state.lent)
    }
}

/// A lent buffer; given back when dropped (also when a render panics), and kept
/// for the next render unless it is much larger than the last page.
pub(crate) struct Page {
    buf: Vec<u8>,
    pages: Weak<Pages>,
    keep_up_to: usize,
}

impl Page {
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Makes room for a page of about `hint` bytes (the size of the last one):
    /// the buffer is kept while it has room for that and a sixteenth more (pages
    /// grow slowly as their numbers gain digits), else replaced by one with an
    /// eighth more. It is made new, the old one freed first, rather than grown:
    /// growing doubles its capacity, and with glibc a buffer that is not a
    /// mapping of its own is copied whole into the new one while the old stays
    /// resident.
    pub(crate) fn make_room(&mut self, hint: usize) {
        let want = hint.saturating_add(hint / 16).saturating_add(64);
        if self.buf.capacity() < want {
            self.buf = Vec::new();
            self.buf
                .reserve_exact(hint.saturating_add(hint / 8).saturating_add(64));
        }
    }

    /// Says how large the last page was: a buffer of more than twice that plus
    /// 64 KiB is freed instead of kept, so a page that was once much larger does
    /// not pin its memory for ever.
    pub(crate) fn last_page(&mut self, len: usize) {
        self.keep_up_to = len.saturating_mul(2).saturating_add(64 * 1024);
    }
}

impl AsRef<[u8]> for Page {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        if let Some(pages) = self.pages.upgrade() {
            pages.give_back(std::mem::take(&mut self.buf), self.keep_up_to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(pages: &Arc<Pages>, len: usize) -> Page {
        let mut p = pages.take();
        p.buf().resize(len, b'x');
        p.last_page(len);
        p
    }

    #[test]
    fn a_returned_buffer_is_reused() {
        let pages = Arc::new(Pages::new(Duration::from_secs(5)));
        let p = page(&pages, 1000);
        let at = p.buf.as_ptr();
        drop(p);
        assert_eq!(pages.counts(), (1, 0));
        let mut again = pages.take();
        assert_eq!(again.buf().as_ptr(), at);
        assert!(again.buf().is_empty(), "a lent buffer starts cleared");
    }

    #[test]
    fn at_most_max_lent_are_kept() {
        let pages = Arc::new(Pages::new(Duration::ZERO));
        let lent: Vec<Page> = (0..MAX_LENT + 3).map(|_| page(&pages, 1000)).collect();
        assert_eq!(pages.counts(), (0, MAX_LENT + 3));
        drop(lent);
        assert_eq!(pages.counts(), (MAX_LENT, 0));
    }

    #[test]
    fn a_buffer_much_larger_than_the_last_page_is_freed() {
        let pages = Arc::new(Pages::new(Duration::ZERO));
        let mut p = page(&pages, 10);
        p.buf().reserve(3 * 64 * 1024);
        drop(p);
        assert_eq!(pages.counts(), (0, 0));
        drop(page(&pages, 100_000));
        assert_eq!(pages.counts(), (1, 0));
    }

    #[test]
    fn a_buffer_with_room_is_kept_and_a_short_one_replaced_not_grown() {
        let pages = Arc::new(Pages::new(Duration::ZERO));
        let mut p = pages.take();
        p.make_room(16_000);
        assert_eq!(p.buf().capacity(), 16_000 + 2_000 + 64, "an eighth more");
        let at = p.buf().as_ptr();
        // The next page is a little larger: it still fits a sixteenth more.
        p.make_room(16_900);
        assert_eq!(p.buf().as_ptr(), at);
        // Past that: a new buffer of the new size and an eighth, not a doubled one.
        p.make_room(17_000);
        assert_eq!(p.buf().capacity(), 17_000 + 2_125 + 64);
    }

    #[test]
    fn a_render_waits_for_a_page_still_being_sent() {
        let pages = Arc::new(Pages::new(Duration::from_secs(30)));
        let held: Vec<Page> = (0..MAX_LENT).map(|_| page(&pages, 1000)).collect();
        let first = held[0].buf.as_ptr() as usize;
        let (tx, rx) = std::sync::mpsc::channel();
        let p = pages.clone();
        let waiter = std::thread::spawn(move || {
            let mut third = p.take();
            let _ = tx.send(third.buf().as_ptr() as usize);
        });
        // Still waiting: both buffers are out.
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        let mut held = held;
        drop(held.remove(0));
        let got = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("woken by the return");
        assert_eq!(got, first, "the render got the buffer that came back");
        waiter.join().expect("the waiter ended");
    }

    #[test]
    fn the_wait_is_bounded() {
        let wait = Duration::from_millis(30);
        let pages = Arc::new(Pages::new(wait));
        let _held: Vec<Page> = (0..MAX_LENT).map(|_| page(&pages, 1000)).collect();
        let t = Instant::now();
        let third = pages.take();
        assert!(t.elapsed() >= wait);
        assert_eq!(pages.counts(), (0, MAX_LENT + 1));
        drop(third);
    }

    #[test]
    fn a_page_dropped_by_a_panic_is_given_back() {
        let pages = Arc::new(Pages::new(Duration::ZERO));
        let p = pages.clone();
        let r = std::panic::catch_unwind(move || {
            let _page = p.take();
            panic!("encoder bug");
        });
        assert!(r.is_err());
        assert_eq!(pages.counts().1, 0);
    }
}
