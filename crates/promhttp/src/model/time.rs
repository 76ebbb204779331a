//! Conversions between the model's [`SystemTime`]s and the numbers the formats write
//! (see [Time](super#time)).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `9999-12-31T23:59:59Z` in seconds since the epoch: the last second the model
/// writes in protobuf, for created times and exemplar timestamps.
pub(crate) const MAX_SECONDS: u64 = 253_402_300_799;

/// Whole milliseconds since the Unix epoch, rounded toward the past, saturating at
/// the ends of `i64`.
pub(crate) fn to_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => {
            let d = before.duration();
            let ms = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0);
            // 2^63 ms does not fit an i64, its negation does: it is i64::MIN.
            i64::try_from(ms).map_or(i64::MIN, |ms| -ms)
        }
    }
}

/// The time `ms` milliseconds after the Unix epoch (before it when negative);
/// `None` when this platform's `SystemTime` cannot hold it.
pub(crate) fn from_millis(ms: i64) -> Option<SystemTime> {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms < 0 {
        UNIX_EPOCH.checked_sub(d)
    } else {
        UNIX_EPOCH.checked_add(d)
    }
}

/// Seconds since the Unix epoch, negative before it, as [`Duration::as_secs_f64`]
/// rounds them: what OpenMetrics writes for created times and exemplar timestamps.
pub(crate) fn to_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// The time `seconds` after the Unix epoch (before it when negative), to the nearest
/// nanosecond; `None` for NaN, infinities and times `SystemTime` cannot hold. The
/// inverse of [`to_seconds`], to test it.
#[cfg(test)]
pub(crate) fn from_seconds(seconds: f64) -> Option<SystemTime> {
    let d = Duration::try_from_secs_f64(seconds.abs()).ok()?;
    if seconds < 0.0 {
        UNIX_EPOCH.checked_sub(d)
    } else {
        UNIX_EPOCH.checked_add(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn millis_round_toward_the_past() {
        let ns = |n: i64| {
            let d = Duration::from_nanos(n.unsigned_abs());
            if n < 0 {
                UNIX_EPOCH - d
            } else {
                UNIX_EPOCH + d
            }
        };
        for (nanos, ms) in [
            (0, 0),
            (1, 0),
            (999_999, 0),
            (1_000_000, 1),
            (1_500_000_000, 1500),
            (-1, -1),
            (-1_000_000, -1),
            (-1_000_001, -2),
            (-1_500_000_000, -1500),
        ] {
            assert_eq!(to_millis(ns(nanos)), ms, "{nanos} ns");
        }
    }

    #[test]
    fn millis_edges() {
        for ms in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX] {
            assert_eq!(to_millis(from_millis(ms).unwrap()), ms);
        }
        // Beyond i64 milliseconds: saturated.
        let far = from_millis(i64::MAX).unwrap() + Duration::from_secs(1);
        assert_eq!(to_millis(far), i64::MAX);
        let far = from_millis(i64::MIN).unwrap() - Duration::from_millis(1);
        assert_eq!(to_millis(far), i64::MIN);
    }

    #[test]
    fn seconds_edges() {
        assert_eq!(to_seconds(UNIX_EPOCH), 0.0);
        assert_eq!(to_seconds(UNIX_EPOCH + Duration::from_millis(1500)), 1.5);
        assert_eq!(to_seconds(UNIX_EPOCH - Duration::from_millis(250)), -0.25);
        assert_eq!(
            from_seconds(12.25),
            Some(UNIX_EPOCH + Duration::from_millis(12_250))
        );
        assert_eq!(
            from_seconds(-0.5),
            Some(UNIX_EPOCH - Duration::from_millis(500))
        );
        assert_eq!(from_seconds(-0.0), Some(UNIX_EPOCH));
        assert_eq!(from_seconds(f64::NAN), None);
        assert_eq!(from_seconds(f64::INFINITY), None);
        assert_eq!(from_seconds(f64::NEG_INFINITY), None);
        assert_eq!(from_seconds(1e300), None);
    }

    proptest! {
        /// Milliseconds survive the trip through `SystemTime`.
        #[test]
        fn millis_round_trip(ms in any::<i64>()) {
            prop_assert_eq!(from_millis(ms).map(to_millis), Some(ms));
        }

        /// Seconds of the magnitudes timestamps have (whose f64 step is coarser
        /// than a nanosecond) survive the trip through `SystemTime` bit for bit.
        #[test]
        fn seconds_round_trip(s in prop_oneof![1e8..1e11f64, -1e11..-1e8f64]) {
            let back = from_seconds(s).map(to_seconds);
            prop_assert_eq!(back.map(f64::to_bits), Some(s.to_bits()));
        }
    }
}
