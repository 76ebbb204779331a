//! Retry delays: the capped exponential backoff and `Retry-After` parsing.

use std::time::{Duration, SystemTime};

/// The delay before retry number `retry` (0 for the first retry): `min * 2^retry`,
/// at most `max`.
pub(super) fn backoff_delay(min: Duration, max: Duration, retry: u32) -> Duration {
    let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
    min.checked_mul(factor).unwrap_or(max).min(max)
}

/// Parses a `Retry-After` value: delay-seconds, or an HTTP date (any of the three
/// forms RFC 9110 asks recipients to accept: `Sun, 06 Nov 1994 08:49:37 GMT`,
/// `Sunday, 06-Nov-94 08:49:37 GMT`, `Sun Nov  6 08:49:37 1994`) relative to
/// `now` (a date in the past is a zero delay). `None` when it is neither.
/// Absurdly large values saturate; the caller caps the delay anyway.
pub(super) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX / 2),
        ));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let ms = Duration::from_millis;
        let got: Vec<Duration> = (0..10)
            .map(|r| backoff_delay(ms(30), ms(5000), r))
            .collect();
        assert_eq!(
            got,
            [30, 60, 120, 240, 480, 960, 1920, 3840, 5000, 5000].map(ms)
        );
        assert_eq!(backoff_delay(ms(30), ms(5000), 40), ms(5000));
        assert_eq!(backoff_delay(ms(30), ms(5000), u32::MAX), ms(5000));
        assert_eq!(
            backoff_delay(Duration::from_secs(u64::MAX / 4), Duration::MAX, 10),
            Duration::MAX
        );
    }

    #[test]
    fn retry_after_seconds_and_http_dates() {
        // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example).
        let date = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let now = date - Duration::from_secs(10);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 3 ", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        // The three date forms a recipient must accept.
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                parse_retry_after(form, now),
                Some(Duration::from_secs(10)),
                "{form}"
            );
        }
        // A date in the past: retry now.
        assert_eq!(
            parse_retry_after(
                "Sun, 06 Nov 1994 08:49:37 GMT",
                date + Duration::from_secs(5)
            ),
            Some(Duration::ZERO)
        );
        // A leap day, and the epoch.
        assert_eq!(
            parse_retry_after("Thu, 29 Feb 2024 23:59:59 GMT", UNIX_EPOCH),
            Some(Duration::from_secs(1_709_251_199))
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", UNIX_EPOCH),
            Some(Duration::from_secs(100))
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "+5",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT trailing",
            "Ünï, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn hostile_retry_after_values_saturate() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        // More seconds than u64 holds: a very long delay, not an error or a panic.
        let huge = "9".repeat(400);
        assert_eq!(
            parse_retry_after(&huge, now),
            Some(Duration::from_secs(u64::MAX / 2))
        );
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(Duration::from_secs(u64::MAX))
        );
        // The latest date there is: thousands of years, still a Duration.
        let far = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now).unwrap();
        assert!(far > Duration::from_secs(250_000_000_000), "{far:?}");
    }

    proptest::proptest! {
        /// Whatever a receiver sends, parsing neither panics nor goes below zero;
        /// digits are always seconds.
        #[test]
        fn any_header_value_is_safe(value in "\\PC{0,40}", secs in 0u64..1_000_000_000) {
            let now = UNIX_EPOCH + Duration::from_secs(secs);
            let _ = parse_retry_after(&value, now);
            proptest::prop_assert_eq!(
                parse_retry_after(&secs.to_string(), now),
                Some(Duration::from_secs(secs))
            );
        }
    }
}
