//! [`PeriodicPusher`]: pushes on an interval in a Tokio task, and once more on shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{PeriodicMethod, PushError, Pusher};

/// Pushes on an interval in a Tokio task, and once more on shutdown.
///
/// Made by [`PeriodicPusher::builder`] (or its [`start`](PeriodicPusherBuilder::start)
/// shortcut); [`start`](Self::start) runs it. The first push happens at once. A
/// failed push is logged (`warn`) and counted in [`PeriodicStats`]; the next tick
/// tries again. On [`PeriodicHandle::shutdown`] (or when the handle is dropped) a
/// final push is made, then the group is deleted if
/// [`delete_on_shutdown`](PeriodicPusherBuilder::delete_on_shutdown) was asked for.
///
/// ```no_run
/// # async fn run() -> Result<(), promhttp::push::PushError> {
/// use std::time::Duration;
/// use promhttp::push::{PeriodicPusher, Pusher};
///
/// let pusher = Pusher::builder("127.0.0.1:9091", "worker").build()?;
/// let handle = PeriodicPusher::builder(pusher, Duration::from_secs(10)).start()?;
/// // ... work ...
/// handle.shutdown().await?; // final push
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PeriodicPusher {
    pusher: Pusher,
    interval: Duration,
    method: PeriodicMethod,
    delete_on_shutdown: bool,
}

/// Settings of a [`PeriodicPusher`]; errors are reported by
/// [`build`](Self::build) (and [`start`](Self::start)).
#[derive(Debug)]
#[must_use]
pub struct PeriodicPusherBuilder {
    pusher: Pusher,
    interval: Duration,
    method: PeriodicMethod,
    delete_on_shutdown: bool,
}

impl PeriodicPusher {
    /// Settings for pushing with `pusher` every `interval` (which must not be
    /// zero; `Duration::MAX` is "only at start and on shutdown"). Defaults: a
    /// push (`PUT`) on each tick, no delete on shutdown.
    pub fn builder(pusher: Pusher, interval: Duration) -> PeriodicPusherBuilder {
        PeriodicPusherBuilder {
            pusher,
            interval,
            method: PeriodicMethod::Push,
            delete_on_shutdown: false,
        }
    }

    /// The pusher it pushes with.
    pub fn pusher(&self) -> &Pusher {
        &self.pusher
    }

    /// The time between pushes.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Starts the task on the current Tokio runtime; the first push happens at once.
    ///
    /// Errors: [`PushError::NoRuntime`] outside a Tokio runtime.
    pub fn start(self) -> Result<PeriodicHandle, PushError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| PushError::NoRuntime)?;
        let stats = Arc::new(Mutex::new(PeriodicStats::default()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(run_periodic(self, Arc::clone(&stats), stopped));
        Ok(PeriodicHandle {
            stop: Some(stop),
            task: Some(task),
            stats,
        })
    }
}

impl PeriodicPusherBuilder {
    /// What each tick sends: [`PeriodicMethod::Push`] (the default) or
    /// [`PeriodicMethod::Add`].
    pub fn method(mut self, method: PeriodicMethod) -> Self {
        self.method = method;
        self
    }

    /// After the final push on shutdown, delete the group (for short-lived
    /// instances whose metrics should not outlive them). Default: `false`.
    pub fn delete_on_shutdown(mut self, delete: bool) -> Self {
        self.delete_on_shutdown = delete;
        self
    }

    /// Checks the settings: the interval must not be zero.
    pub fn build(self) -> Result<PeriodicPusher, PushError> {
        if self.interval.is_zero() {
            return Err(PushError::InvalidOption {
                option: "interval",
                reason: "must not be zero".into(),
            });
        }
        Ok(PeriodicPusher {
            pusher: self.pusher,
            interval: self.interval,
            method: self.method,
            delete_on_shutdown: self.delete_on_shutdown,
        })
    }

    /// [`build`](Self::build), then [`PeriodicPusher::start`].
    pub fn start(self) -> Result<PeriodicHandle, PushError> {
        self.build()?.start()
    }
}

async fn run_periodic(
    config: PeriodicPusher,
    stats: Arc<Mutex<PeriodicStats>>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), PushError> {
    let PeriodicPusher {
        pusher,
        interval,
        method,
        delete_on_shutdown,
    } = config;
    let once = |pusher: Pusher| async move {
        match method {
            PeriodicMethod::Push => pusher.push().await,
            PeriodicMethod::Add => pusher.add().await,
        }
    };
    let record = |result: &Result<(), PushError>| {
        let mut s = crate::util::lock(&stats);
        match result {
            Ok(()) => s.pushes += 1,
            Err(e) => {
                s.failures += 1;
                s.last_error = Some(e.to_string());
            }
        }
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            // A send or a dropped handle: shut down either way.
            _ = &mut stopped => break,
            _ = ticker.tick() => {
                let result = once(pusher.clone()).await;
                if let Err(e) = &result {
                    tracing::warn!(url = %pusher.url(), error = %e, "periodic push failed; retrying at the next interval");
                }
                record(&result);
            }
        }
    }
    let result = once(pusher.clone()).await;
    record(&result);
    if let Err(e) = &result {
        tracing::warn!(url = %pusher.url(), error = %e, "final push on shutdown failed");
    }
    if delete_on_shutdown {
        let deleted = pusher.delete().await;
        if let Err(e) = &deleted {
            tracing::warn!(url = %pusher.url(), error = %e, "deleting the group on shutdown failed");
        }
        // Report the first failure.
        return result.and(deleted);
    }
    result
}

/// Counters of a [`PeriodicPusher`]'s pushes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeriodicStats {
    /// Successful pushes (or adds), the final one included.
    pub pushes: u64,
    /// Failed pushes.
    pub failures: u64,
    /// The last failure's text.
    pub last_error: Option<String>,
}

/// Controls a running [`PeriodicPusher`].
///
/// * [`shutdown`](Self::shutdown) stops the interval, makes the final push (and
///   the delete, if asked for), waits for them and returns their result.
/// * [`detach`](Self::detach) lets it push on its interval until the runtime
///   stops (no final push then).
/// * **Dropping the handle** stops the interval without waiting: the final push
///   (and delete) still happen, in the background, as long as the runtime runs;
///   their result is only logged.
///
/// Dropping it unused is a compile-time warning:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// # async fn run(pusher: promhttp::push::Pusher) {
/// use std::time::Duration;
/// use promhttp::push::PeriodicPusher;
/// // Pushes once, then stops at once: the handle is dropped.
/// PeriodicPusher::builder(pusher, Duration::from_secs(10)).start().unwrap();
/// # }
/// ```
#[derive(Debug)]
#[must_use = "dropping the handle stops the periodic pusher: keep it, or call .detach()"]
pub struct PeriodicHandle {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), PushError>>>,
    stats: Arc<Mutex<PeriodicStats>>,
}

impl PeriodicHandle {
    /// The counters so far.
    pub fn stats(&self) -> PeriodicStats {
        crate::util::lock(&self.stats).clone()
    }

    /// Lets the pusher push on its interval until the runtime it runs on shuts
    /// down, without a handle (no final push then).
    pub fn detach(mut self) {
        // The task stops when `stop` is dropped or sent; this one is never.
        std::mem::forget(self.stop.take());
        drop(self.task.take());
    }

    /// Stops the interval, makes the final push (and the delete, if asked for)
    /// and returns their result (the first failure). Bounded by the request
    /// time limits: a push under way is finished first, then the final push and
    /// the delete each take at most one time limit (times the attempts, when
    /// [`retries`](super::PusherBuilder::retries) are set).
    pub async fn shutdown(mut self) -> Result<(), PushError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(|e| PushError::Runtime {
                reason: format!("the periodic push task failed: {e}"),
            })?,
            None => Ok(()),
        }
    }
}

impl Drop for PeriodicHandle {
    fn drop(&mut self) {
        // Dropping `stop` wakes the task, which makes its final push.
        self.stop.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn periodic_pusher_with_the_longest_interval_does_not_panic() {
        use crate::gather::from_fn;
        use crate::model::{Metric, MetricFamily, MetricType, Value};
        // Gathering fails, so no request is ever made: each push is a quick failure.
        let broken = from_fn(|out| {
            out.families.push(
                MetricFamily::new("", "", MetricType::Gauge)
                    .with_metric(Metric::new(vec![], Value::Gauge(1.0))),
            )
        });
        let pusher = Pusher::builder("127.0.0.1:9", "j")
            .gatherer(broken)
            .build()
            .unwrap();
        // Duration::MAX: "never again". Tokio's interval caps its period (about 30
        // years), so adding it to the tick's instant cannot overflow.
        let handle = PeriodicPusher::builder(pusher, Duration::MAX)
            .start()
            .unwrap();
        // The first push happens at once.
        let waited = std::time::Instant::now();
        while handle.stats().failures == 0 && waited.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let stats = handle.stats();
        let result = handle.shutdown().await;
        assert!(
            matches!(result, Err(PushError::Gather { .. })),
            "{result:?}"
        );
        assert_eq!(stats.failures, 1, "{stats:?}");
    }

    #[test]
    fn settings_are_checked_at_build_and_start() {
        let pusher = Pusher::builder("127.0.0.1:9", "j").build().unwrap();
        let err = PeriodicPusher::builder(pusher.clone(), Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                PushError::InvalidOption {
                    option: "interval",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "invalid Pushgateway client setting interval: must not be zero"
        );
        let built = PeriodicPusher::builder(pusher, Duration::from_secs(3))
            .method(PeriodicMethod::Add)
            .delete_on_shutdown(true)
            .build()
            .unwrap();
        assert_eq!(built.interval(), Duration::from_secs(3));
        assert_eq!(built.pusher().job(), "j");
        assert_eq!(built.method, PeriodicMethod::Add);
        assert!(built.delete_on_shutdown);
        // Building needs no runtime; starting does.
        assert!(matches!(built.start(), Err(PushError::NoRuntime)));
    }

    #[tokio::test]
    async fn a_detached_pusher_keeps_pushing() {
        use crate::gather::from_fn;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let gathers = Arc::new(AtomicUsize::new(0));
        let g = gathers.clone();
        // Each push gathers (counted), then fails fast on a closed port.
        let source = from_fn(move |_| {
            g.fetch_add(1, Ordering::SeqCst);
        });
        let pusher = Pusher::builder("127.0.0.1:9", "j")
            .gatherer(source)
            .build()
            .unwrap();
        PeriodicPusher::builder(pusher, Duration::from_millis(10))
            .start()
            .unwrap()
            .detach();
        let waited = std::time::Instant::now();
        while gathers.load(Ordering::SeqCst) < 5 && waited.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            gathers.load(Ordering::SeqCst) >= 5,
            "no pushes after detach"
        );
    }
}
