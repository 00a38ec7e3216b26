//! Time as people see it: Asia/Shanghai, Chinese durations.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

use crate::model::Timestamp;

/// The zone every user-facing time is shown in.
pub const ZONE: chrono_tz::Tz = Shanghai;

/// A timestamp in Beijing time, e.g. `2026-11-24 14:05`.
pub fn local(ts: Timestamp) -> String {
    ts.with_timezone(&ZONE).format("%Y-%m-%d %H:%M").to_string()
}

/// A timestamp as RFC 3339 with the +08:00 offset, for JSON.
pub fn rfc3339(ts: Timestamp) -> String {
    ts.with_timezone(&ZONE)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// A timestamp as an RFC 2822 mail date in Beijing time: `Tue, 24 Nov 2026 13:48:00 +0800`.
pub fn rfc2822(ts: Timestamp) -> String {
    ts.with_timezone(&ZONE).to_rfc2822()
}

/// A span as people say it, minutes dropped once it is a day or more:
/// `不到1分钟`, `35分钟`, `4小时`, `4小时59分`, `2天`, `2天3小时`.
pub fn span(d: chrono::Duration) -> String {
    let minutes = d.num_minutes().abs();
    let (days, rest) = (minutes / 1440, minutes % 1440);
    match (days, rest / 60) {
        (0, _) => hours_minutes(rest),
        (days, 0) => format!("{days}天"),
        (days, hours) => format!("{days}天{hours}小时"),
    }
}

/// A configured window (a policy duration) the way the policy states it, in hours:
/// `30分钟`, `1小时`, `1小时30分`, `48小时`.
pub fn window(d: chrono::Duration) -> String {
    hours_minutes(d.num_minutes().abs())
}

/// `不到1分钟`, `35分钟`, `4小时`, `4小时59分`, `48小时`.
fn hours_minutes(minutes: i64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, 0) => "不到1分钟".to_string(),
        (0, mins) => format!("{mins}分钟"),
        (hours, 0) => format!("{hours}小时"),
        (hours, mins) => format!("{hours}小时{mins}分"),
    }
}

/// Time left until `due`: `4小时12分`, or `已超时 35分钟` once past.
pub fn time_left(due: Timestamp, now: Timestamp) -> String {
    let d = due - now;
    if d < chrono::Duration::zero() {
        format!("已超时 {}", span(d))
    } else {
        span(d)
    }
}

/// The earliest instant of a Beijing calendar day, in UTC: its midnight, except on
/// the days Shanghai started daylight saving time at midnight (1919, 1940–1949,
/// 1986–1991), when the clocks jumped from 00:00 to 01:00 and the day began at 01:00.
/// A midnight that came twice (clocks set back) gives the first.
pub fn day_start(date: chrono::NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    // A gap is never longer than a day: step through it a minute at a time.
    (0..24 * 60)
        .find_map(|minute| {
            ZONE.from_local_datetime(&(midnight + chrono::Duration::minutes(minute)))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        })
        .unwrap_or_else(|| midnight.and_utc() - chrono::Duration::hours(8))
}

/// The Beijing calendar date of a timestamp.
pub fn local_date(ts: Timestamp) -> chrono::NaiveDate {
    ts.with_timezone(&ZONE).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_beijing_time() {
        let ts: Timestamp = "2026-11-24T02:05:00Z".parse().unwrap();
        assert_eq!(local(ts), "2026-11-24 10:05");
        assert_eq!(rfc3339(ts), "2026-11-24T10:05:00+08:00");
        assert_eq!(rfc2822(ts), "Tue, 24 Nov 2026 10:05:00 +0800");
        assert_eq!(
            local_date("2026-11-24T17:00:00Z".parse().unwrap()).to_string(),
            "2026-11-25"
        );
    }

    #[test]
    fn time_left_reads_naturally() {
        let now: Timestamp = "2026-11-24T00:00:00Z".parse().unwrap();
        let m = chrono::Duration::minutes;
        assert_eq!(time_left(now + m(252), now), "4小时12分");
        assert_eq!(time_left(now - m(35), now), "已超时 35分钟");
        assert_eq!(time_left(now + m(3 * 1440 + 120), now), "3天2小时");
        assert_eq!(
            day_start("2026-11-24".parse().unwrap()).to_rfc3339(),
            "2026-11-23T16:00:00+00:00"
        );
    }

    #[test]
    fn durations_read_as_durations() {
        let m = chrono::Duration::minutes;
        let s = chrono::Duration::seconds;
        // (span, as a span, as a configured window)
        let table = [
            (s(0), "不到1分钟", "不到1分钟"),
            (s(59), "不到1分钟", "不到1分钟"),
            (m(1), "1分钟", "1分钟"),
            (m(35), "35分钟", "35分钟"),
            (m(60), "1小时", "1小时"),
            (m(90), "1小时30分", "1小时30分"),
            (m(299), "4小时59分", "4小时59分"),
            (m(1439), "23小时59分", "23小时59分"),
            (m(1440), "1天", "24小时"),
            (m(2 * 1440), "2天", "48小时"),
            (m(2 * 1440 + 59), "2天", "48小时59分"),
            (m(2 * 1440 + 60), "2天1小时", "49小时"),
            (-m(35), "35分钟", "35分钟"),
        ];
        for (d, as_span, as_window) in table {
            assert_eq!(span(d), as_span, "{d}");
            assert_eq!(window(d), as_window, "{d}");
        }
    }

    #[test]
    fn a_day_that_skipped_midnight_starts_when_the_clocks_jumped() {
        // 1949-05-01: Shanghai moved its clocks from 00:00 to 01:00 (+09:00).
        let start = day_start("1949-05-01".parse().unwrap());
        assert_eq!(start.to_rfc3339(), "1949-04-30T16:00:00+00:00");
        assert_eq!(local(start), "1949-05-01 01:00");
        assert_eq!(local_date(start).to_string(), "1949-05-01");
        // Every day of the years with daylight saving time has a start, in order.
        let mut day: chrono::NaiveDate = "1919-01-01".parse().unwrap();
        let mut previous = day_start(day);
        while day < "1992-01-01".parse().unwrap() {
            day = day.succ_opt().unwrap();
            let start = day_start(day);
            assert!(start > previous, "{day}");
            assert_eq!(local_date(start), day, "{day}");
            previous = start;
        }
    }
}
