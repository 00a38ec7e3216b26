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

/// A span in Chinese hours and minutes: `4时12分`, `35分`, `2天3时`.
pub fn span(d: chrono::Duration) -> String {
    let minutes = d.num_minutes().abs();
    let (days, hours, mins) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    if days > 0 {
        format!("{days}天{hours}时")
    } else if hours > 0 {
        format!("{hours}时{mins}分")
    } else {
        format!("{mins}分")
    }
}

/// Time left until `due`: `4时12分`, or `已超时 35分` once past.
pub fn time_left(due: Timestamp, now: Timestamp) -> String {
    let d = due - now;
    if d < chrono::Duration::zero() {
        format!("已超时 {}", span(d))
    } else {
        span(d)
    }
}

/// Midnight starting a Beijing calendar day, in UTC.
pub fn day_start(date: chrono::NaiveDate) -> DateTime<Utc> {
    ZONE.from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
        .single()
        .expect("Asia/Shanghai has no DST gaps")
        .with_timezone(&Utc)
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
        assert_eq!(
            local_date("2026-11-24T17:00:00Z".parse().unwrap()).to_string(),
            "2026-11-25"
        );
    }

    #[test]
    fn time_left_reads_naturally() {
        let now: Timestamp = "2026-11-24T00:00:00Z".parse().unwrap();
        let m = chrono::Duration::minutes;
        assert_eq!(time_left(now + m(252), now), "4时12分");
        assert_eq!(time_left(now - m(35), now), "已超时 35分");
        assert_eq!(time_left(now + m(3 * 1440 + 120), now), "3天2时");
        assert_eq!(
            day_start("2026-11-24".parse().unwrap()).to_rfc3339(),
            "2026-11-23T16:00:00+00:00"
        );
    }
}
