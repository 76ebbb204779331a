//! `bench-server --mutate`: every series changes between two scrapes.
//!
//! A [`Mutator`] owns a thread that runs mutation passes over every series of the
//! workload, one pass per page: when a scrape's response has been rendered (the
//! handler's body is complete when its future resolves), [`Mutator::rendered`]
//! asks for the next pass; a scrape that starts first waits, in
//! [`Mutator::ready`], until the pass its page must show is done. So each page
//! shows every series changed since the page before it (under concurrent scrapes,
//! since the last page rendered before it started), and the first page shows the
//! workload as it was registered.
//!
//! What a scrape then measures: its own render, plus whatever part of the
//! preceding pass had not finished while the previous response was sent and the
//! next request came in. The passes run on the server's CPU (the harness pins the
//! whole process to one core), so their cost is in the server's CPU figures.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::watch;

/// Runs mutation passes between scrapes; cloned into the middleware. The thread
/// stops when the last clone is dropped.
#[derive(Clone)]
pub struct Mutator {
    owner: Arc<Owner>,
}

/// Stops the thread when dropped.
struct Owner {
    shared: Arc<Shared>,
}

struct Shared {
    /// The pass the next page must show (passes count from 1), and whether the
    /// thread must stop.
    wanted: Mutex<(u64, bool)>,
    wake: Condvar,
    /// The last pass finished.
    done: watch::Sender<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Mutator {
    /// Starts the thread; `pass(k)` is called for pass `k` = 1, 2, … in order,
    /// one at a time.
    pub fn start(mut pass: impl FnMut(u64) + Send + 'static) -> std::io::Result<Mutator> {
        let shared = Arc::new(Shared {
            wanted: Mutex::new((0, false)),
            wake: Condvar::new(),
            done: watch::channel(0).0,
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("mutator".to_owned())
            .spawn(move || {
                let mut done = 0;
                loop {
                    let mut wanted = lock(&s.wanted);
                    while wanted.0 <= done && !wanted.1 {
                        wanted = s.wake.wait(wanted).unwrap_or_else(PoisonError::into_inner);
                    }
                    if wanted.1 {
                        return;
                    }
                    let k = wanted.0;
                    drop(wanted);
                    pass(k);
                    done = k;
                    s.done.send_replace(k);
                }
            })?;
        Ok(Mutator {
            owner: Arc::new(Owner { shared }),
        })
    }

    /// Waits until the pass the next page must show is done, and returns its
    /// number (0 before the first pass is asked for).
    pub async fn ready(&self) -> u64 {
        let shared = &self.owner.shared;
        let wanted = lock(&shared.wanted).0;
        let mut done = shared.done.subscribe();
        // The sender lives in `shared`, which `self` holds: no error.
        let _ = done.wait_for(|d| *d >= wanted).await;
        wanted
    }

    /// A page showing pass `shown` has been rendered: asks for pass `shown + 1`
    /// unless it has been asked for already.
    pub fn rendered(&self, shown: u64) {
        let shared = &self.owner.shared;
        let mut wanted = lock(&shared.wanted);
        if wanted.0 <= shown {
            wanted.0 = shown + 1;
            shared.wake.notify_one();
        }
    }

    /// The number of the last pass finished.
    #[cfg(test)]
    pub fn done(&self) -> u64 {
        *self.owner.shared.done.borrow()
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        lock(&self.shared.wanted).1 = true;
        self.shared.wake.notify_one();
    }
}

/// The middleware (`axum::middleware::from_fn_with_state`) around the metrics
/// route: waits for the pass this page must show, renders, asks for the next.
pub async fn layer(State(mutator): State<Mutator>, request: Request, next: Next) -> Response {
    let shown = mutator.ready().await;
    let response = next.run(request).await;
    mutator.rendered(shown);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn each_page_waits_for_the_pass_the_one_before_asked_for() {
        let passes = Arc::new(Mutex::new(Vec::new()));
        let p = passes.clone();
        let value = Arc::new(AtomicU64::new(0));
        let v = value.clone();
        let m = Mutator::start(move |k| {
            // A slow pass: a page that did not wait would see the old value.
            std::thread::sleep(Duration::from_millis(20));
            v.store(k, Ordering::SeqCst);
            lock(&p).push(k);
        })
        .unwrap();
        for page in 0..5 {
            let shown = m.ready().await;
            assert_eq!(shown, page);
            assert_eq!(value.load(Ordering::SeqCst), page);
            m.rendered(shown);
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while m.done() < 5 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert_eq!(*lock(&passes), vec![1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn pages_rendered_from_one_state_ask_for_one_pass() {
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let m = Mutator::start(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        // Four scrapes in flight together all show pass 0 ...
        let mut shown = Vec::new();
        for _ in 0..4 {
            shown.push(m.ready().await);
        }
        assert_eq!(shown, vec![0; 4]);
        // ... and each asks for pass 1 when it is done: one pass runs, not four.
        for s in shown {
            m.rendered(s);
        }
        assert_eq!(m.ready().await, 1);
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert_eq!(m.done(), 1);
    }

    #[test]
    fn the_thread_stops_with_the_last_clone() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let m = Mutator::start(move |_| {
            let _ = &tx;
        })
        .unwrap();
        let clone = m.clone();
        drop(m);
        drop(clone);
        // The closure (and its sender) is dropped when the thread returns.
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
    }
}
