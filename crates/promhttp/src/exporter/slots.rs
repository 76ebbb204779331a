//! The connection table: the connection cap, the per-address cap, and who is
//! evicted when a new client arrives at the cap.
//!
//! Refusing new clients at the cap (or leaving them in the backlog) lets a few
//! hundred sockets that trickle a byte a second starve every scraper. Instead, a
//! client arriving at the cap takes the slot of the connection that has made the
//! least progress: among those with no request in progress, the one that has
//! answered the fewest requests (a trickler, a silent HTTP/2 connection: none),
//! then the one idle the longest — so a scraper's keep-alive connection between
//! two scrapes outlives the attackers. A connection answering a request is never
//! evicted; when all are, the accept loop waits until one ends or goes idle.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::activity::Activity;

/// The connections being served.
pub(super) struct Slots {
    cap: usize,
    per_peer: Option<NonZeroUsize>,
    max_scrapes: usize,
    table: Mutex<Table>,
    /// Notified when a connection ends or becomes idle.
    room: Arc<Notify>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    conns: HashMap<u64, Entry>,
    per_peer: HashMap<IpAddr, usize>,
}

struct Entry {
    peer: IpAddr,
    activity: Arc<Activity>,
    evict: Arc<Notify>,
    evicted: bool,
}

/// Why a new connection was not given a slot.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// Its address already has as many connections as allowed.
    PeerLimit,
    /// The table is full and every connection is busy (the one that was idle
    /// when the accept loop looked has since taken a request): wait for
    /// [`Slots::room`] and ask again.
    Full,
}

impl Slots {
    pub(super) fn new(cap: usize, per_peer: Option<NonZeroUsize>, max_scrapes: usize) -> Self {
        Slots {
            cap,
            per_peer,
            max_scrapes,
            table: Mutex::new(Table::default()),
            room: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        crate::util::lock(&self.table)
    }

    /// Connections in the table that have not been told to go.
    fn live(t: &Table) -> usize {
        t.conns.values().filter(|e| !e.evicted).count()
    }

    /// Whether one more connection can be taken: below the cap, or with one to
    /// evict — as long as those already evicted (closing, for at most a second)
    /// are fewer than the cap, so the table never holds more than twice the cap.
    fn has_room(&self, t: &Table) -> bool {
        let live = Self::live(t);
        let closing = t.conns.len() - live;
        live < self.cap || (closing < self.cap && Self::evictable(t).is_some())
    }

    /// The connection to evict: among those with no request in progress, the one
    /// that has answered the fewest requests, then the one idle the longest.
    fn evictable(t: &Table) -> Option<u64> {
        t.conns
            .iter()
            .filter(|(_, e)| !e.evicted)
            .filter_map(|(id, e)| e.activity.eviction_rank().map(|rank| (rank, *id)))
            .min()
            .map(|(_, id)| id)
    }

    /// Waits until a new connection can be taken: below the cap, or with a
    /// connection that can be evicted.
    pub(super) async fn room(&self) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                if self.has_room(&self.lock()) {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Gives `peer` a slot, evicting the longest-idle connection if the table is
    /// full. Dropping the returned slot frees it.
    pub(super) fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refused> {
        let mut t = self.lock();
        if let Some(limit) = self.per_peer {
            if t.per_peer.get(&peer).copied().unwrap_or(0) >= limit.get() {
                return Err(Refused::PeerLimit);
            }
        }
        if Self::live(&t) >= self.cap {
            let e = Self::evictable(&t)
                .and_then(|id| t.conns.get_mut(&id))
                .ok_or(Refused::Full)?;
            e.evicted = true;
            e.evict.notify_one();
            tracing::debug!(peer = %e.peer, "connection cap reached: closing the longest-idle connection");
        }
        let id = t.next_id;
        t.next_id += 1;
        let activity = Activity::new(self.room.clone(), self.max_scrapes);
        let evict = Arc::new(Notify::new());
        t.conns.insert(
            id,
            Entry {
                peer,
                activity: activity.clone(),
                evict: evict.clone(),
                evicted: false,
            },
        );
        *t.per_peer.entry(peer).or_insert(0) += 1;
        Ok(Slot {
            slots: self.clone(),
            id,
            activity,
            evict,
        })
    }

    /// Connections in the table (evicted ones still closing included).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().conns.len()
    }
}

/// One connection's place in the table.
pub(super) struct Slot {
    slots: Arc<Slots>,
    id: u64,
    pub(super) activity: Arc<Activity>,
    /// Notified when the connection is evicted.
    pub(super) evict: Arc<Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        {
            let mut t = self.slots.lock();
            if let Some(e) = t.conns.remove(&self.id) {
                if let Some(n) = t.per_peer.get_mut(&e.peer) {
                    *n -= 1;
                    if *n == 0 {
                        t.per_peer.remove(&e.peer);
                    }
                }
            }
        }
        self.slots.room.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_the_longest_idle_connection_makes_room() {
        let slots = Arc::new(Slots::new(2, None, 1));
        let old = slots.admit(ip(1)).unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let newer = slots.admit(ip(1)).unwrap();
        slots.room().await; // both idle: there is room by eviction
        let _third = slots.admit(ip(2)).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(1), old.evict.notified())
                .await
                .is_ok(),
            "the oldest idle connection is told to go"
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(1), newer.evict.notified())
                .await
                .is_err(),
            "only one is evicted"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn busy_connections_are_never_evicted_and_the_accept_loop_waits() {
        let slots = Arc::new(Slots::new(1, None, 1));
        let busy = slots.admit(ip(1)).unwrap();
        let request = busy.activity.request();
        let s2 = slots.clone();
        let waiting = tokio::spawn(async move { s2.room().await });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(
            !waiting.is_finished(),
            "no room while the only connection is busy"
        );
        drop(request); // it goes idle: now it can be evicted
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("room once the connection is idle")
            .unwrap();
        drop(busy);
        assert_eq!(slots.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_answered_requests_outlives_one_that_never_did() {
        let slots = Arc::new(Slots::new(2, None, 1));
        let scraper = slots.admit(ip(1)).unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let trickler = slots.admit(ip(2)).unwrap();
        drop(scraper.activity.request()); // the scraper was answered once
        let _new = slots.admit(ip(3)).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(1), trickler.evict.notified())
                .await
                .is_ok(),
            "the connection that never finished a request goes first"
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(1), scraper.evict.notified())
                .await
                .is_err()
        );
    }

    #[test]
    fn the_per_peer_limit_refuses_only_that_peer() {
        let slots = Arc::new(Slots::new(10, NonZeroUsize::new(2), 1));
        let _a = slots.admit(ip(1)).unwrap();
        let b = slots.admit(ip(1)).unwrap();
        assert_eq!(slots.admit(ip(1)).err(), Some(Refused::PeerLimit));
        assert!(slots.admit(ip(2)).is_ok());
        drop(b);
        assert!(slots.admit(ip(1)).is_ok());
    }
}
