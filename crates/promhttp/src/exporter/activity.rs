//! What one connection is doing, and when it has done nothing useful for too long.
//!
//! Bytes are not activity: an HTTP/2 client can ping, or trickle header bytes, for
//! ever. Activity is a request in progress, and, while a response is being sent,
//! its body moving. The connection's watchdog reads this and closes the connection
//! when it has had no request for the idle timeout, or when a response has not
//! moved for the write timeout, or has taken longer than the response timeout.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::time::after;

/// The timeouts the watchdog applies.
#[derive(Clone, Copy, Debug)]
pub(super) struct Timeouts {
    pub idle: Duration,
    pub stall: Duration,
    pub response: Duration,
}

/// Why a connection is closed by its watchdog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expired {
    /// No request in progress for the idle timeout.
    Idle,
    /// A response made no progress for the write timeout.
    Stalled,
    /// A response took longer than the response timeout to send.
    TooSlow,
}

/// One connection's activity; shared by its requests, their bodies, the watchdog
/// and the connection table.
pub(super) struct Activity {
    state: Mutex<State>,
    /// Wakes the watchdog when a request starts or ends, or a response starts.
    changed: Notify,
    /// Wakes the accept loop when this connection becomes idle (evictable).
    idle_notify: Arc<Notify>,
    max_scrapes: usize,
}

struct State {
    requests: usize,
    /// Requests answered so far.
    served: u64,
    scrapes: usize,
    idle_since: Instant,
    /// Responses being sent: (id, started, last progress).
    sending: Vec<(u64, Instant, Instant)>,
    next_id: u64,
}

impl Activity {
    pub(super) fn new(idle_notify: Arc<Notify>, max_scrapes: usize) -> Arc<Self> {
        Arc::new(Activity {
            state: Mutex::new(State {
                requests: 0,
                served: 0,
                scrapes: 0,
                idle_since: Instant::now(),
                sending: Vec::new(),
                next_id: 0,
            }),
            changed: Notify::new(),
            idle_notify,
            max_scrapes,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        crate::util::lock(&self.state)
    }

    /// A request has arrived; it is in progress until the guard (moved into the
    /// response body) is dropped.
    pub(super) fn request(self: &Arc<Self>) -> Request {
        self.lock().requests += 1;
        self.changed.notify_one();
        Request {
            activity: self.clone(),
            scrape: false,
            sending: None,
        }
    }

    /// Since when the connection has had no request in progress; `None` while one is.
    #[cfg(test)]
    pub(super) fn idle_since(&self) -> Option<Instant> {
        let st = self.lock();
        (st.requests == 0).then_some(st.idle_since)
    }

    /// How little this connection has done, when it has no request in progress:
    /// (requests answered, idle since). The smallest is evicted first: a client
    /// that never finished a request (a trickler, a silent HTTP/2 connection) goes
    /// before a scraper's keep-alive connection between two scrapes.
    pub(super) fn eviction_rank(&self) -> Option<(u64, Instant)> {
        let st = self.lock();
        (st.requests == 0).then_some((st.served, st.idle_since))
    }

    /// The earliest moment the watchdog must act, and what it would find then.
    fn next_deadline(&self, t: &Timeouts) -> Option<(Instant, Expired)> {
        let st = self.lock();
        if st.requests == 0 {
            return Some((after(st.idle_since, t.idle), Expired::Idle));
        }
        st.sending
            .iter()
            .flat_map(|&(_, started, progress)| {
                [
                    (after(progress, t.stall), Expired::Stalled),
                    (after(started, t.response), Expired::TooSlow),
                ]
            })
            .min_by_key(|(at, _)| *at)
    }

    /// Resolves when the connection has expired, and says why.
    pub(super) async fn watchdog(&self, t: Timeouts) -> Expired {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.next_deadline(&t) {
                // A request is being rendered: the handler's deadline bounds it.
                None => changed.await,
                Some((at, why)) if at <= Instant::now() => return why,
                // Progress moves deadlines without waking us: on waking, look again.
                Some((at, _)) => tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = &mut changed => {}
                },
            }
        }
    }
}

/// A request in progress on a connection.
pub(super) struct Request {
    activity: Arc<Activity>,
    scrape: bool,
    sending: Option<u64>,
}

impl Request {
    /// Counts this request as a scrape; `false` when the connection already has
    /// as many scrapes in progress as allowed.
    pub(super) fn scrape(&mut self) -> bool {
        if self.scrape {
            return true;
        }
        let mut st = self.activity.lock();
        if st.scrapes >= self.activity.max_scrapes {
            return false;
        }
        st.scrapes += 1;
        self.scrape = true;
        true
    }

    /// The response starts being sent: from now on it must keep moving.
    pub(super) fn sending(&mut self) {
        if self.sending.is_some() {
            return;
        }
        let now = Instant::now();
        {
            let mut st = self.activity.lock();
            let id = st.next_id;
            st.next_id += 1;
            st.sending.push((id, now, now));
            self.sending = Some(id);
        }
        self.activity.changed.notify_one();
    }

    /// The response moved (the client took a piece of the body).
    pub(super) fn progress(&self) {
        if let Some(id) = self.sending {
            let now = Instant::now();
            let mut st = self.activity.lock();
            if let Some(s) = st.sending.iter_mut().find(|s| s.0 == id) {
                s.2 = now;
            }
        }
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        let idle = {
            let mut st = self.activity.lock();
            st.requests -= 1;
            st.served += 1;
            if self.scrape {
                st.scrapes -= 1;
            }
            if let Some(id) = self.sending {
                st.sending.retain(|s| s.0 != id);
            }
            if st.requests == 0 {
                st.idle_since = Instant::now();
            }
            st.requests == 0
        };
        self.activity.changed.notify_one();
        if idle {
            self.activity.idle_notify.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeouts() -> Timeouts {
        Timeouts {
            idle: Duration::from_secs(10),
            stall: Duration::from_secs(30),
            response: Duration::from_secs(60),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_expires_after_the_idle_timeout() {
        let a = Activity::new(Arc::new(Notify::new()), 1);
        let started = Instant::now();
        assert_eq!(a.watchdog(timeouts()).await, Expired::Idle);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_being_rendered_has_no_deadline_here_and_idle_restarts_after() {
        let a = Activity::new(Arc::new(Notify::new()), 1);
        let r = a.request();
        let started = Instant::now();
        let a2 = a.clone();
        let dog = tokio::spawn(async move { a2.watchdog(timeouts()).await });
        tokio::time::sleep(Duration::from_secs(1000)).await;
        assert!(!dog.is_finished());
        drop(r);
        assert_eq!(dog.await.unwrap(), Expired::Idle);
        assert_eq!(started.elapsed(), Duration::from_secs(1010));
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_that_stops_moving_is_stalled_and_one_that_crawls_is_too_slow() {
        let a = Activity::new(Arc::new(Notify::new()), 1);
        let mut r = a.request();
        r.sending();
        let started = Instant::now();
        assert_eq!(a.watchdog(timeouts()).await, Expired::Stalled);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        drop(r);

        let mut r = a.request();
        r.sending();
        let started = Instant::now();
        let a2 = a.clone();
        let dog = tokio::spawn(async move { (a2.watchdog(timeouts()).await, Instant::now()) });
        // A piece every 20 s: never stalled, but the whole takes too long.
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_secs(20)).await;
            if dog.is_finished() {
                break;
            }
            r.progress();
        }
        let (why, at) = dog.await.unwrap();
        assert_eq!(why, Expired::TooSlow);
        assert_eq!(at - started, Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn pings_are_not_activity_and_huge_timeouts_do_not_overflow() {
        let a = Activity::new(Arc::new(Notify::new()), 1);
        let t = Timeouts {
            idle: Duration::MAX,
            stall: Duration::MAX,
            response: Duration::MAX,
        };
        let a2 = a.clone();
        let dog = tokio::spawn(async move { a2.watchdog(t).await });
        tokio::time::sleep(Duration::from_secs(365 * 86400)).await;
        assert!(!dog.is_finished());
        dog.abort();
    }

    #[test]
    fn scrapes_per_connection_are_limited() {
        let a = Activity::new(Arc::new(Notify::new()), 1);
        let mut first = a.request();
        let mut second = a.request();
        assert!(first.scrape());
        assert!(!second.scrape());
        drop(first);
        assert!(second.scrape());
    }
}
