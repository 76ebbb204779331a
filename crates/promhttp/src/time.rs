//! Deadlines that cannot overflow: the one home of every `Instant + Duration`
//! computed from a configured or client-sent duration.

use std::time::Duration;

use tokio::time::Instant;

/// Durations this long or longer mean "never": about 30 years, the cap tokio puts
/// on its own sleeps and intervals. Deadlines are computed with at most this, so
/// no setting (up to `Duration::MAX`) can overflow a clock.
pub(crate) const NEVER: Duration = Duration::from_secs(30 * 365 * 86_400);

/// `at + d`, saturated at `at + NEVER` (and, on a platform whose clock cannot
/// reach that far, at the latest instant within a factor of two of it): never
/// panics, whatever `d`.
pub(crate) fn after(at: Instant, d: Duration) -> Instant {
    let mut wait = d.min(NEVER);
    loop {
        // Ends: `at + 0` is always representable.
        if let Some(deadline) = at.checked_add(wait) {
            return deadline;
        }
        wait /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_saturate() {
        let now = Instant::now();
        assert_eq!(after(now, Duration::MAX), now + NEVER);
        assert_eq!(
            after(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
    }
}
