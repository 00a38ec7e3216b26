//! When to poll next: the interval with jitter after a success, an exponential
//! back-off weighted by the kind of failure after a failure. Pure functions; the
//! random part is passed in so the rules can be tested exactly.

use std::time::Duration;

use crate::config::IntakeConfig;
use crate::model::Timestamp;

/// Why a poll failed, coarsely: sets how hard the source backs off and is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// No answer in time.
    Timeout,
    /// Could not connect (DNS, refused, reset), or the connection broke mid-body.
    Connect,
    /// 429 or 503: the server asked us to slow down.
    RateLimited,
    /// Another 5xx.
    ServerError,
    /// 4xx other than 429 (404, 410, 403 …): unlikely to fix itself soon.
    ClientError,
    /// A redirect loop or too many redirects.
    Redirect,
    /// The body exceeded `max_body_bytes`.
    TooLarge,
    /// The document could not be read as the source's kind says.
    Parse,
    /// The request could not be built from the source's settings.
    Invalid,
    /// Our own database failed.
    Store,
    /// Anything else.
    Other,
}

impl FailureKind {
    /// Multiplier on the back-off: transient network trouble retries soonest,
    /// answers that say "this is wrong" (404/410, unreadable document) back off hardest.
    pub fn weight(self) -> u32 {
        match self {
            FailureKind::Timeout
            | FailureKind::Connect
            | FailureKind::RateLimited
            | FailureKind::Store => 1,
            FailureKind::ServerError | FailureKind::Other => 2,
            FailureKind::ClientError
            | FailureKind::Redirect
            | FailureKind::TooLarge
            | FailureKind::Parse
            | FailureKind::Invalid => 4,
        }
    }

    /// A stable name for logs and `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Connect => "connect",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::ServerError => "server_error",
            FailureKind::ClientError => "client_error",
            FailureKind::Redirect => "redirect",
            FailureKind::TooLarge => "too_large",
            FailureKind::Parse => "parse",
            FailureKind::Invalid => "invalid",
            FailureKind::Store => "store",
            FailureKind::Other => "other",
        }
    }
}

/// The wait after the `failures`-th consecutive failure (counting from 1):
/// `interval × weight × 2^(failures−1)`, capped at `max_backoff`, never below the
/// interval, and never below a server's `Retry-After` (itself capped at `max_backoff`,
/// so a server cannot park a source for days).
pub fn failure_delay(
    interval: Duration,
    failures: u32,
    kind: FailureKind,
    retry_after: Option<Duration>,
    max_backoff: Duration,
) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    let grown = interval
        .saturating_mul(kind.weight())
        .saturating_mul(1 << doublings);
    let mut delay = grown.min(max_backoff).max(interval);
    if let Some(after) = retry_after {
        delay = delay.max(after.min(max_backoff.max(interval)));
    }
    delay
}

/// Adds `jitter` (a fraction of the delay) times `unit` (a random number in `[0, 1)`).
pub fn with_jitter(delay: Duration, jitter: f64, unit: f64) -> Duration {
    let extra = delay.as_secs_f64() * jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
    delay.saturating_add(Duration::from_secs_f64(extra))
}

/// Start-up spread per enabled source: 2,000 sources spread over a minute, one
/// source polls at once.
pub const SPREAD_PER_SOURCE: Duration = Duration::from_millis(30);

/// How far the first polls after a start are spread: a fresh start or a restart after
/// downtime must not hit every source at the same instant. The window grows with the
/// number of sources, up to one interval or a minute, whichever is shorter.
pub fn startup_spread(interval: Duration, sources: usize) -> Duration {
    let by_count = SPREAD_PER_SOURCE.saturating_mul(u32::try_from(sources).unwrap_or(u32::MAX));
    interval.min(Duration::from_secs(60)).min(by_count)
}

/// The first poll after a start. A stored schedule is kept when it is plausible: no
/// later than one interval ahead (one back-off ahead for a failing source), jitter
/// included. Otherwise (never polled, overdue after downtime, interval shortened in
/// the configuration, clock jumped) the poll lands at `spread_unit` (random, `[0, 1)`)
/// of the [`startup_spread`] window, so a start never polls everything at once.
pub fn first_poll_at(
    stored: Option<Timestamp>,
    failing: bool,
    now: Timestamp,
    interval: Duration,
    sources: usize,
    settings: &IntakeConfig,
    spread_unit: f64,
) -> Timestamp {
    let longest = if failing {
        interval.max(settings.max_backoff.as_duration())
    } else {
        interval
    };
    let latest = now + span(with_jitter(longest, settings.jitter, 1.0));
    match stored {
        Some(at) if at > now && at <= latest => at,
        _ => now + span(startup_spread(interval, sources).mul_f64(spread_unit.clamp(0.0, 1.0))),
    }
}

/// A std duration as a chrono span, saturating.
pub(crate) fn span(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn backoff_grows_by_kind_and_is_capped() {
        let cap = Duration::from_secs(6 * 3600);
        let m = |n: u64| Duration::from_secs(60 * n);
        // (failures, kind, retry_after, expected)
        let cases = [
            (1, FailureKind::Timeout, None, m(1)),
            (2, FailureKind::Timeout, None, m(2)),
            (3, FailureKind::Timeout, None, m(4)),
            (1, FailureKind::ServerError, None, m(2)),
            (3, FailureKind::ServerError, None, m(8)),
            (1, FailureKind::ClientError, None, m(4)),
            (1, FailureKind::Parse, None, m(4)),
            (3, FailureKind::Parse, None, m(16)),
            (30, FailureKind::Timeout, None, cap),
            (u32::MAX, FailureKind::Parse, None, cap),
            (1, FailureKind::RateLimited, Some(m(30)), m(30)),
            (
                3,
                FailureKind::RateLimited,
                Some(Duration::from_secs(5)),
                m(4),
            ),
            (
                1,
                FailureKind::RateLimited,
                Some(Duration::from_secs(86_400 * 3)),
                cap,
            ),
        ];
        for (failures, kind, retry_after, want) in cases {
            assert_eq!(
                failure_delay(MIN, failures, kind, retry_after, cap),
                want,
                "{failures} × {kind:?}, retry-after {retry_after:?}"
            );
        }
    }

    #[test]
    fn a_parse_error_backs_off_harder_than_a_timeout() {
        let cap = Duration::from_secs(6 * 3600);
        for n in 1..6 {
            assert!(
                failure_delay(MIN, n, FailureKind::Parse, None, cap)
                    > failure_delay(MIN, n, FailureKind::Timeout, None, cap)
            );
        }
    }

    #[test]
    fn never_below_the_interval_even_with_a_small_cap() {
        let interval = Duration::from_secs(3600);
        let delay = failure_delay(interval, 5, FailureKind::Parse, None, MIN);
        assert_eq!(delay, interval);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        assert_eq!(with_jitter(MIN, 0.1, 0.0), MIN);
        assert_eq!(with_jitter(MIN, 0.1, 0.5), Duration::from_secs(63));
        assert!(with_jitter(MIN, 0.1, 0.999) < Duration::from_secs(66));
        assert_eq!(with_jitter(MIN, 5.0, 1.0), Duration::from_secs(120));
        assert_eq!(
            startup_spread(Duration::from_secs(10), 10_000),
            Duration::from_secs(10)
        );
        assert_eq!(startup_spread(Duration::from_secs(3600), 10_000), MIN);
        assert_eq!(startup_spread(Duration::from_secs(3600), 2000), MIN);
        assert_eq!(
            startup_spread(Duration::from_secs(3600), 1),
            Duration::from_millis(30)
        );
    }

    #[test]
    fn a_restart_keeps_plausible_schedules_and_spreads_the_rest() {
        let settings = IntakeConfig {
            jitter: 0.1,
            max_backoff: crate::config::HumanDuration::from_secs(6 * 3600),
            ..IntakeConfig::default()
        };
        let now: Timestamp = "2026-11-24T08:00:00Z".parse().unwrap();
        let m = |n: i64| now + chrono::Duration::minutes(n);
        let s = |n: i64| now + chrono::Duration::seconds(n);
        let five = Duration::from_secs(300);
        // (stored, failing, spread unit, expected)
        let cases = [
            (Some(m(3)), false, 0.5, m(3)),      // due soon: kept
            (Some(s(329)), false, 0.5, s(329)),  // within interval + jitter: kept
            (Some(m(90)), false, 0.5, s(30)),    // interval was shortened: spread
            (Some(m(90)), true, 0.5, m(90)),     // backing off: kept
            (Some(m(7 * 60)), true, 0.5, s(30)), // beyond any back-off (clock jump): spread
            (Some(m(-30)), false, 0.25, s(15)),  // overdue after downtime: spread
            (None, false, 0.0, now),             // never polled: spread
            (
                None,
                false,
                0.999,
                now + chrono::Duration::milliseconds(59_940),
            ),
        ];
        for (stored, failing, unit, want) in cases {
            assert_eq!(
                first_poll_at(stored, failing, now, five, 10_000, &settings, unit),
                want,
                "{stored:?} failing={failing}"
            );
        }
    }
}
