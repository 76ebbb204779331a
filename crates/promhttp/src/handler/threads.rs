//! The threads renders run on: started when none is idle, the most recently idle
//! one taking the next render, ended after [`KEEP_ALIVE`] without work.
//!
//! Why not tokio's blocking pool: its idle threads take turns at new work, so after
//! a few scrapes every one of them has gathered and encoded a page, and with glibc's
//! malloc each thread allocates from an arena of its own that keeps the memory of
//! the largest page it has seen. Here scrapes one after another run on the same
//! thread (and allocate from the same arena); a second thread starts only while a
//! render is still running, which the handler's render limit bounds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use crate::util::lock;

/// Work for a render thread: it runs `work`, goes back to the idle list, then runs
/// what `work` returned (publishing the result), so the scrape that the result wakes
/// finds this thread idle when it asks for the next render.
pub(crate) type Task = Box<dyn FnOnce() -> Finish + Send>;
/// The second half of a [`Task`].
pub(crate) type Finish = Box<dyn FnOnce() + Send>;

/// How long an idle render thread waits for work before it ends.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);

struct Idle {
    id: u64,
    tx: mpsc::Sender<Task>,
}

/// A set of render threads.
pub(crate) struct Threads {
    /// Idle threads, the most recently idle last.
    idle: Mutex<Vec<Idle>>,
    next_id: AtomicU64,
    keep_alive: Duration,
}

/// The threads every handler's renders run on.
pub(crate) static RENDER_THREADS: Threads = Threads::new(KEEP_ALIVE);

impl Threads {
    pub(crate) const fn new(keep_alive: Duration) -> Threads {
        Threads {
            idle: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            keep_alive,
        }
    }

    /// Runs `task` on the most recently idle thread, or on a new one.
    pub(crate) fn run(&'static self, task: Task) -> std::io::Result<()> {
        let mut task = task;
        loop {
            let next = lock(&self.idle).pop();
            let Some(thread) = next else { break };
            match thread.tx.send(task) {
                Ok(()) => return Ok(()),
                // That thread has just ended; try the next one.
                Err(mpsc::SendError(t)) => task = t,
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        std::thread::Builder::new()
            .name("promhttp-render".to_owned())
            .spawn(move || self.work(id, task))
            .map(drop)
    }

    /// How many threads are idle now.
    #[cfg(test)]
    pub(crate) fn idle(&self) -> usize {
        lock(&self.idle).len()
    }

    fn work(&self, id: u64, first: Task) {
        let mut task = first;
        loop {
            let finish = task();
            let (tx, rx) = mpsc::channel();
            lock(&self.idle).push(Idle { id, tx });
            finish();
            task = match rx.recv_timeout(self.keep_alive) {
                Ok(t) => t,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let mut idle = lock(&self.idle);
                    match idle.iter().position(|t| t.id == id) {
                        Some(i) => {
                            idle.remove(i);
                            return;
                        }
                        // Taken for a task just now: it is on its way.
                        None => {
                            drop(idle);
                            match rx.recv() {
                                Ok(t) => t,
                                Err(_) => return,
                            }
                        }
                    }
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread::ThreadId;

    fn on_thread(threads: &'static Threads) -> ThreadId {
        let (tx, rx) = mpsc::channel();
        let task: Task = Box::new(move || {
            let me = std::thread::current().id();
            Box::new(move || {
                let _ = tx.send(me);
            })
        });
        threads.run(task).expect("spawning a render thread");
        rx.recv().expect("the task ran")
    }

    #[test]
    fn renders_one_after_another_share_one_thread() {
        static THREADS: Threads = Threads::new(Duration::from_secs(60));
        let first = on_thread(&THREADS);
        for _ in 0..20 {
            assert_eq!(on_thread(&THREADS), first);
        }
        assert_eq!(THREADS.idle(), 1);
    }

    #[test]
    fn a_thread_busy_with_a_render_is_not_given_another() {
        static THREADS: Threads = Threads::new(Duration::from_secs(60));
        let (release, held) = mpsc::channel::<()>();
        let (started_tx, started) = mpsc::channel();
        let slow: Task = Box::new(move || {
            let _ = started_tx.send(std::thread::current().id());
            let _ = held.recv();
            Box::new(|| {})
        });
        THREADS.run(slow).expect("spawning a render thread");
        let busy = started.recv().expect("the slow task started");
        assert_ne!(on_thread(&THREADS), busy);
        drop(release);
    }

    #[test]
    fn idle_threads_end_after_the_keep_alive() {
        static THREADS: Threads = Threads::new(Duration::from_millis(20));
        let first = on_thread(&THREADS);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while THREADS.idle() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(THREADS.idle(), 0);
        assert_ne!(on_thread(&THREADS), first);
    }
}
