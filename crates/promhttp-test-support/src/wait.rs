//! Bounded polling: wait for an effect instead of sleeping and hoping.
//!
//! The deadline is wall-clock time (`std::time::Instant`): it bounds how long a
//! test can hang, whatever the test does with Tokio's clock. Between checks the
//! async helpers sleep on Tokio's clock, so under `tokio::time::pause()` they let
//! paused time advance.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// Time between two checks of the polling helpers.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Checks `done` every [`POLL_INTERVAL`] until it returns `true`; panics (naming
/// `what`) when it is still `false` after `timeout`. Checks at least once.
pub async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Runs `check` every [`POLL_INTERVAL`] until it returns `Ok`, and returns that
/// value; panics (naming `what` and showing the last `Err`) when it has not
/// succeeded after `timeout`. Checks at least once.
pub async fn eventually<T, E, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) => assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; last: {last}"
            ),
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// [`wait_until`] for a test without a runtime: sleeps the thread between checks.
pub fn wait_until_blocking(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn wait_until_returns_once_the_condition_holds() {
        let checks = AtomicUsize::new(0);
        wait_until("the third check", Duration::from_secs(5), || {
            checks.fetch_add(1, Ordering::SeqCst) == 2
        })
        .await;
        assert_eq!(checks.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 50ms waiting for never")]
    async fn wait_until_fails_at_its_deadline() {
        wait_until("never", Duration::from_millis(50), || false).await;
    }

    #[tokio::test]
    async fn eventually_returns_the_value() {
        let checks = AtomicUsize::new(0);
        let got = eventually("a value", Duration::from_secs(5), || {
            let n = checks.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(format!("only {n} checks"))
                } else {
                    Ok(n * 10)
                }
            }
        })
        .await;
        assert_eq!(got, 20);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for a value; last: still 7")]
    async fn eventually_fails_with_the_last_error() {
        eventually("a value", Duration::from_millis(50), || async {
            Err::<(), _>("still 7")
        })
        .await;
    }

    #[test]
    fn wait_until_blocking_sees_another_thread() {
        let flag = Arc::new(AtomicUsize::new(0));
        let f = flag.clone();
        let t = std::thread::spawn(move || f.store(1, Ordering::SeqCst));
        wait_until_blocking("the other thread", Duration::from_secs(5), || {
            flag.load(Ordering::SeqCst) == 1
        });
        t.join().unwrap();
    }

    #[test]
    #[should_panic(expected = "timed out after 50ms waiting for nothing")]
    fn wait_until_blocking_fails_at_its_deadline() {
        wait_until_blocking("nothing", Duration::from_millis(50), || false);
    }
}
