//! Scrape hooks and interval updaters: run, bounded, their failures contained.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::watch;

use super::ExporterError;
use crate::util::{lock, panic_message};

pub(super) type HookFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
pub(super) type Hook = Arc<dyn Fn() -> HookFuture + Send + Sync>;

pub(super) fn wrap_hook<F, Fut, E>(hook: F) -> Hook
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + 'static,
{
    Arc::new(move || {
        let fut = hook();
        Box::pin(async move { fut.await.map_err(|e| e.to_string()) }) as HookFuture
    })
}

/// The hook failure counter, registered by `start()`; undone if `start()` fails
/// after registering.
pub(super) struct Registered {
    registry: prometheus::Registry,
    counter: prometheus::IntCounter,
}

impl Registered {
    /// `promhttp_exporter_hook_failures_total`, registered in `registry`.
    pub(super) fn hook_failures(registry: &prometheus::Registry) -> Result<Self, ExporterError> {
        const NAME: &str = "promhttp_exporter_hook_failures_total";
        let register = || {
            let counter = prometheus::IntCounter::new(
                NAME,
                "Scrape hooks and interval updaters that failed, panicked or timed out.",
            )?;
            registry.register(Box::new(counter.clone()))?;
            Ok(counter)
        };
        match register() {
            Ok(counter) => Ok(Registered {
                registry: registry.clone(),
                counter,
            }),
            Err(source) => Err(ExporterError::Register {
                name: NAME.to_owned(),
                source,
            }),
        }
    }

    pub(super) fn counter(&self) -> prometheus::IntCounter {
        self.counter.clone()
    }

    /// Takes the counter out of the registry again.
    pub(super) fn undo(self) {
        if let Err(e) = self.registry.unregister(Box::new(self.counter)) {
            tracing::debug!("unregistering the hook failure counter: {e}");
        }
    }
}

/// The `on_scrape` hook, run once for all scrapes that arrive while it runs.
pub(super) struct ScrapeHook {
    hook: Hook,
    failures: Option<prometheus::IntCounter>,
    running: Mutex<Option<watch::Receiver<bool>>>,
}

impl ScrapeHook {
    pub(super) fn new(hook: Hook, failures: Option<prometheus::IntCounter>) -> Self {
        ScrapeHook {
            hook,
            failures,
            running: Mutex::new(None),
        }
    }

    /// Runs the hook (or joins the run under way) and waits for it at most `wait`.
    /// The run goes on when a scrape stops waiting, so a slow hook runs once at a
    /// time, however many scrapes time out on it.
    pub(super) async fn run(&self, wait: Duration) {
        let mut done = {
            let mut slot = lock(&self.running);
            match slot.as_ref().filter(|rx| !*rx.borrow()) {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(false);
                    *slot = Some(rx.clone());
                    let hook = self.hook.clone();
                    let failures = self.failures.clone();
                    tokio::spawn(async move {
                        // The deadline is each waiting scrape's own.
                        run_hook(&hook, failures.as_ref(), "scrape hook").await;
                        let _ = tx.send(true);
                    });
                    rx
                }
            }
        };
        if tokio::time::timeout(wait, done.wait_for(|d| *d))
            .await
            .is_err()
        {
            fail(
                self.failures.as_ref(),
                "scrape hook",
                &format!("still running after {wait:?}; answering without waiting"),
            );
        }
    }
}

/// Runs `hook` every `every` until `stop` says so.
pub(super) async fn run_updater(
    every: Duration,
    hook: Hook,
    failures: Option<prometheus::IntCounter>,
    mut stop: watch::Receiver<bool>,
) {
    // `interval` panics on zero; the builder refuses zero, this is the backstop.
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = super::stopped(&mut stop) => return,
            _ = tick.tick() => {}
        }
        run_hook(&hook, failures.as_ref(), "updater").await;
    }
}

/// Runs a hook, catching errors and panics.
async fn run_hook(hook: &Hook, failures: Option<&prometheus::IntCounter>, what: &str) {
    let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| hook())) {
        Ok(f) => f,
        Err(p) => {
            fail(failures, what, &format!("panicked: {}", panic_message(&*p)));
            return;
        }
    };
    match CatchUnwind(fut).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => fail(failures, what, &format!("failed: {e}")),
        Err(p) => fail(failures, what, &format!("panicked: {p}")),
    }
}

fn fail(failures: Option<&prometheus::IntCounter>, what: &str, why: &str) {
    if let Some(c) = failures {
        c.inc();
    }
    tracing::warn!("exporter {what} {why}");
}

/// Polls a future, turning a panic into an error.
struct CatchUnwind(HookFuture);

impl Future for CatchUnwind {
    type Output = Result<Result<(), String>, String>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(Err(panic_message(&*p))),
        }
    }
}
