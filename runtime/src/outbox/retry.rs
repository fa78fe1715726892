//! When a failed item is tried again: exponential back-off with jitter,
//! `Retry-After`, and which HTTP statuses are a receiver's temporary
//! trouble and which are its bug.

use std::time::{Duration, SystemTime};

/// How a response status is treated. Every failure is retried until the
/// item expires, because a receiver's bug must not lose a call's data;
/// the class only decides how loudly it is logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    /// 2xx: the item is delivered.
    Delivered,
    /// 408, 425, 429 and 5xx: the receiver is busy or down.
    Temporary,
    /// Every other status, such as 400, 401, 404 or a redirect: the
    /// receiver or the hook's settings are wrong, so a warning is logged.
    Rejected,
}

/// Classifies an HTTP status code.
pub fn classify(status: u16) -> StatusClass {
    match status {
        200..=299 => StatusClass::Delivered,
        408 | 425 | 429 | 500..=599 => StatusClass::Temporary,
        _ => StatusClass::Rejected,
    }
}

/// Returns the delay before the next attempt after `attempts` failed ones
/// (1 for the first failure): `base * 2^(attempts - 1)` capped at `cap`,
/// then a random point between half of it and all of it, so items that
/// failed together do not all return at the same instant.
pub fn backoff(attempts: u32, base: Duration, cap: Duration) -> Duration {
    let exponent = attempts.saturating_sub(1).min(31);
    let full = base.saturating_mul(1u32 << exponent).min(cap);
    let full_ms = u64::try_from(full.as_millis()).unwrap_or(u64::MAX);
    let half = full_ms / 2;
    Duration::from_millis(half + fastrand::u64(0..=full_ms - half))
}

/// Reads a `Retry-After` value: delay seconds or an HTTP date, relative
/// to `now`. A date in the past gives zero; an invalid value gives `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classified() {
        assert_eq!(classify(200), StatusClass::Delivered);
        assert_eq!(classify(204), StatusClass::Delivered);
        for status in [408, 425, 429, 500, 502, 503, 599] {
            assert_eq!(classify(status), StatusClass::Temporary, "{status}");
        }
        for status in [301, 400, 401, 403, 404, 410, 422] {
            assert_eq!(classify(status), StatusClass::Rejected, "{status}");
        }
    }

    #[test]
    fn backoff_doubles_within_jitter() {
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(300);
        for _ in 0..200 {
            let first = backoff(1, base, cap);
            assert!(first >= Duration::from_millis(500), "{first:?}");
            assert!(first <= base, "{first:?}");
            let fourth = backoff(4, base, cap);
            assert!(fourth >= Duration::from_secs(4), "{fourth:?}");
            assert!(fourth <= Duration::from_secs(8), "{fourth:?}");
        }
    }

    #[test]
    fn backoff_is_capped() {
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(300);
        // From the 10th failure, 2^9 s is above the 300 s cap.
        for attempts in [10, 11, 40, u32::MAX] {
            let delay = backoff(attempts, base, cap);
            assert!(delay >= Duration::from_secs(150), "{attempts}: {delay:?}");
            assert!(delay <= cap, "{attempts}: {delay:?}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        // RFC 9110's example date is 784111777 in Unix seconds.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:30 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
