//! Publication dates as sites write them: RFC 2822/3339 (leniently), ISO-like
//! `2024-05-02 09:30`, `2024/5/3 9:05`, `2024.05.03`, Chinese `2024年05月03日 09:30`,
//! compact `20240503`, epoch seconds and milliseconds, and any of these embedded in
//! surrounding text (`包头新闻网 发布时间： 2013年12月30日 10:24`). A time without a zone
//! is Beijing time. Hand-written scanning: no regex, no allocation unless the text
//! carries full-width digits.

use std::borrow::Cow;
use std::sync::LazyLock;

use chrono::{FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

use super::text::fold_width;
use crate::model::{DateQuality, Timestamp};

/// How far past `now` a date may lie and still be credible (clock skew between
/// the site and us).
pub const CLOCK_SKEW_MINUTES: i64 = 10;

/// Dates before this (2000-01-01 Beijing time) are kept but not credible.
static EARLIEST_CREDIBLE: LazyLock<Timestamp> = LazyLock::new(|| {
    crate::time::day_start(NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date"))
});

/// Years outside this range are not read as dates at all.
const YEARS: std::ops::RangeInclusive<u32> = 1970..=2100;

/// Parses a date and judges it against `now`: in the future (beyond
/// [`CLOCK_SKEW_MINUTES`]) or before 2000 → [`DateQuality::Implausible`].
pub fn parse_date(text: &str, now: Timestamp) -> Option<(Timestamp, DateQuality)> {
    let ts = parse_timestamp(text)?;
    Some((ts, quality(ts, now)))
}

/// Whether a timestamp is credible as a publication time, seen at `now`.
pub fn quality(ts: Timestamp, now: Timestamp) -> DateQuality {
    if ts > now + chrono::Duration::minutes(CLOCK_SKEW_MINUTES) || ts < *EARLIEST_CREDIBLE {
        DateQuality::Implausible
    } else {
        DateQuality::Credible
    }
}

/// An epoch number: milliseconds when its magnitude says so (≥ 1e11), else seconds.
pub fn from_epoch(n: i64) -> Option<Timestamp> {
    if n.unsigned_abs() >= 100_000_000_000 {
        chrono::DateTime::from_timestamp_millis(n)
    } else {
        chrono::DateTime::from_timestamp(n, 0)
    }
}

/// Parses the first date found in `text`, without judging it.
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let text: Cow<'_, str> = if text.contains(|c| matches!(c, '\u{FF01}'..='\u{FF5E}')) {
        Cow::Owned(text.chars().map(fold_width).collect())
    } else {
        Cow::Borrowed(text)
    };
    let text = text.as_ref();
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return all_digits(text);
    }
    numeric(text).or_else(|| english(text))
}

/// A bare number: epoch seconds (9–10 digits) or milliseconds (12–13), or a
/// compact `YYYYMMDD` / `YYYYMMDDhhmmss`.
fn all_digits(text: &str) -> Option<Timestamp> {
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    match text.len() {
        9 | 10 | 12 | 13 => from_epoch(text.parse().ok()?),
        8 | 14 => {
            let year = num(0..4).filter(|y| YEARS.contains(y))?;
            let date = NaiveDate::from_ymd_opt(year as i32, num(4..6)?, num(6..8)?)?;
            let time = if text.len() == 14 {
                NaiveTime::from_hms_opt(num(8..10)?, num(10..12)?, num(12..14)?)?
            } else {
                NaiveTime::MIN
            };
            beijing(date.and_time(time))
        }
        _ => None,
    }
}

/// A local time in Asia/Shanghai, as UTC.
fn beijing(local: NaiveDateTime) -> Option<Timestamp> {
    crate::time::ZONE
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// A local time at a fixed UTC offset (seconds east), as UTC.
fn at_offset(local: NaiveDateTime, offset: Option<i32>) -> Option<Timestamp> {
    match offset {
        None => beijing(local),
        Some(secs) => FixedOffset::east_opt(secs)?
            .from_local_datetime(&local)
            .single()
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// A byte cursor over the text.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// A run of ASCII digits of length 1..=max (the whole run must fit).
    fn digits(&mut self, max: usize) -> Option<u32> {
        let len = self.b[self.i..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if len == 0 || len > max {
            return None;
        }
        let value = self.b[self.i..self.i + len]
            .iter()
            .fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'));
        self.i += len;
        Some(value)
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.b[self.i..].starts_with(s.as_bytes()) {
            self.i += s.len();
            true
        } else {
            false
        }
    }

    /// Skips ASCII spaces, NBSP and the ideographic space.
    fn skip_spaces(&mut self) {
        loop {
            if matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                self.i += 1;
            } else if !(self.eat("\u{A0}") || self.eat("\u{3000}")) {
                break;
            }
        }
    }
}

/// Scans for the first `Y-M-D`-shaped date (separators `-` `/` `.` or 年月日),
/// with an optional time and zone after it.
fn numeric(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    (0..b.len())
        .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()))
        .find_map(|i| numeric_at(Cursor { b, i }))
}

fn numeric_at(mut c: Cursor<'_>) -> Option<Timestamp> {
    let start = c.i;
    let year = c.digits(4)?;
    if c.i - start != 4 || !YEARS.contains(&year) {
        return None;
    }
    c.skip_spaces();
    let sep = match c.peek()? {
        sep @ (b'-' | b'/' | b'.') => {
            c.i += 1;
            Some(sep)
        }
        _ if c.eat("年") => None,
        _ => return None,
    };
    c.skip_spaces();
    let month = c.digits(2)?;
    c.skip_spaces();
    match sep {
        Some(sep) if c.peek() == Some(sep) => c.i += 1,
        None if c.eat("月") => {}
        _ => return None,
    }
    c.skip_spaces();
    let day = c.digits(2)?;
    if sep.is_none() && !c.eat("日") {
        c.eat("号");
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let Some(time) = time_at(&mut c) else {
        return beijing(date.and_time(NaiveTime::MIN));
    };
    let offset = zone_at(&mut c);
    at_offset(date.and_time(time), offset)
}

/// `9:05`, `09:30:00.123`, `9时5分`, `9点05分30秒`, after optional spaces or a `T`.
fn time_at(c: &mut Cursor<'_>) -> Option<NaiveTime> {
    c.skip_spaces();
    if matches!(c.peek(), Some(b'T' | b't')) {
        c.i += 1;
    }
    let hour = c.digits(2)?;
    let (minute, second) = if c.eat(":") {
        let minute = c.digits(2)?;
        let second = if c.eat(":") { c.digits(2)? } else { 0 };
        if c.peek() == Some(b'.') {
            c.i += 1;
            c.digits(9);
        }
        (minute, second)
    } else if c.eat("时") || c.eat("点") {
        let minute = c.digits(2)?;
        c.eat("分");
        let before = c.i;
        let second = match c.digits(2) {
            Some(s) if c.eat("秒") => s,
            _ => {
                c.i = before;
                0
            }
        };
        (minute, second)
    } else {
        return None;
    };
    NaiveTime::from_hms_opt(hour, minute, second.min(59))
}

/// A zone after a time: `Z`, `+08:00`, `+0800`, `+08`, `UTC`, `GMT+8`, `CST` …
/// Returns seconds east of UTC.
fn zone_at(c: &mut Cursor<'_>) -> Option<i32> {
    c.skip_spaces();
    let rest = std::str::from_utf8(&c.b[c.i..]).ok()?;
    let token_len = rest
        .find(|ch: char| !(ch.is_ascii_alphanumeric() || matches!(ch, '+' | '-' | ':')))
        .unwrap_or(rest.len());
    zone(&rest[..token_len])
}

/// Reads a zone token. `CST` is China Standard Time here (as Java-made Chinese
/// feeds write it), not US Central.
fn zone(token: &str) -> Option<i32> {
    if token.is_empty() {
        return None;
    }
    let named = |name: &str| -> Option<i32> {
        let hours = match name.to_ascii_uppercase().as_str() {
            "Z" | "UT" | "UTC" | "GMT" => 0,
            "CST" | "BJT" | "HKT" | "AWST" => 8,
            "JST" | "KST" => 9,
            "EST" => -5,
            "EDT" | "AST" => -4,
            "CDT" => -5,
            "MST" => -7,
            "MDT" => -6,
            "PST" => -8,
            "PDT" => -7,
            _ => return None,
        };
        Some(hours * 3600)
    };
    let sign_at = token.find(['+', '-']);
    let (name, offset) = match sign_at {
        Some(at) => (&token[..at], Some(&token[at..])),
        None => (token, None),
    };
    let base = if name.is_empty() { 0 } else { named(name)? };
    let Some(offset) = offset else {
        return Some(base);
    };
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        3 => (digits[..1].parse().ok()?, digits[1..].parse().ok()?),
        4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
        _ => return None,
    };
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// English month-name forms: RFC 2822 (`Thu, 02 May 2024 09:30:00 +0800`), Java's
/// `Thu May 02 09:30:00 CST 2024`, `May 2, 2024 3:05 PM`.
fn english(text: &str) -> Option<Timestamp> {
    let (mut month, mut day, mut year) = (None, None, None);
    let (mut time, mut offset, mut pm) = (None, None, None);
    for raw in text.split(|c: char| c.is_whitespace() || c == ',') {
        let token = raw.trim_end_matches('.');
        if token.is_empty() {
            continue;
        }
        let first = token.as_bytes()[0];
        if first.is_ascii_digit() && token.contains(':') {
            let split = token[1..]
                .find(|c: char| c == '+' || c == '-' || c.is_ascii_alphabetic())
                .map_or(token.len(), |s| s + 1);
            let mut c = Cursor {
                b: &token.as_bytes()[..split],
                i: 0,
            };
            time = Some(time_at(&mut c).filter(|_| c.i == split)?);
            if split < token.len() {
                offset = Some(zone(&token[split..])?);
            }
        } else if token.bytes().all(|b| b.is_ascii_digit()) {
            let n: u32 = token.parse().ok()?;
            match token.len() {
                4 => year = Some(n),
                1 | 2 if day.is_none() => day = Some(n),
                2 if year.is_none() => year = Some(if n < 70 { 2000 + n } else { 1900 + n }),
                _ => return None,
            }
        } else if let Some(m) = month_of(token) {
            month = Some(m);
        } else if token.eq_ignore_ascii_case("am") || token.eq_ignore_ascii_case("pm") {
            pm = Some(token.eq_ignore_ascii_case("pm"));
        } else if let Some(z) = zone(token) {
            offset = Some(z);
        }
    }
    let year = year.filter(|y| YEARS.contains(y))?;
    let date = NaiveDate::from_ymd_opt(year as i32, month?, day?)?;
    let mut time = time.unwrap_or(NaiveTime::MIN);
    if let Some(pm) = pm {
        use chrono::Timelike;
        let hour = match (pm, time.hour()) {
            (true, h) if h < 12 => h + 12,
            (false, 12) => 0,
            (_, h) => h,
        };
        time = time.with_hour(hour)?;
    }
    at_offset(date.and_time(time), offset)
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// `Jan`, `January`, `Sept` … → 1..=12.
fn month_of(token: &str) -> Option<u32> {
    if token.len() < 3 || !token.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let lower = token.to_ascii_lowercase();
    let index = MONTHS
        .iter()
        .position(|m| m.starts_with(&lower) || (lower == "sept" && m.starts_with("sep")))?;
    Some(index as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_forms_sites_use() {
        // (input, expected UTC instant)
        let cases = [
            ("Thu, 02 May 2024 09:30:00 +0800", "2024-05-02T01:30:00Z"),
            ("Thu, 2 May 2024 09:30:00 GMT", "2024-05-02T09:30:00Z"),
            ("Sat, 31 Dec 2005 06:15:55+0900", "2005-12-30T21:15:55Z"),
            ("02 May 24 09:30 EST", "2024-05-02T14:30:00Z"),
            ("Thu May 02 09:30:00 CST 2024", "2024-05-02T01:30:00Z"),
            ("May 2, 2024 3:05 PM", "2024-05-02T07:05:00Z"),
            ("Sun, 19 Apr 2026 06:22:00 +0800", "2026-04-18T22:22:00Z"),
            ("2024-05-02T09:30:00+08:00", "2024-05-02T01:30:00Z"),
            ("2024-05-02T09:30:00.250Z", "2024-05-02T09:30:00Z"),
            ("2024-05-02T09:30:00+0530", "2024-05-02T04:00:00Z"),
            ("2024-05-02 09:30", "2024-05-02T01:30:00Z"),
            ("2024-05-02 09:30:00", "2024-05-02T01:30:00Z"),
            ("2024-5-2", "2024-05-01T16:00:00Z"),
            ("2024/5/3", "2024-05-02T16:00:00Z"),
            ("2024/5/3 9:05", "2024-05-03T01:05:00Z"),
            ("2024年05月03日 09:30", "2024-05-03T01:30:00Z"),
            ("2024年5月3日", "2024-05-02T16:00:00Z"),
            ("2024 年 5 月 3 日", "2024-05-02T16:00:00Z"),
            ("2024年5月3日9时5分", "2024-05-03T01:05:00Z"),
            ("2024年5月3日 9点05分30秒", "2024-05-03T01:05:30Z"),
            ("2024.05.03", "2024-05-02T16:00:00Z"),
            ("[2024-05-02]", "2024-05-01T16:00:00Z"),
            ("２０２４－０５－０２　０９：３０", "2024-05-02T01:30:00Z"),
            ("1714613400", "2024-05-02T01:30:00Z"),
            ("1714613400000", "2024-05-02T01:30:00Z"),
            ("20240502", "2024-05-01T16:00:00Z"),
            ("20240502093000", "2024-05-02T01:30:00Z"),
            (
                "包头新闻网 发布时间： 2013年12月30日 10:24",
                "2013-12-30T02:24:00Z",
            ),
            ("2014-04-18 10:24环球网", "2014-04-18T02:24:00Z"),
            ("2014年01月30日16:45来源：新华网", "2014-01-30T08:45:00Z"),
            (
                "2014年03月31日 11:22:07 星期一\u{3000}",
                "2014-03-31T03:22:07Z",
            ),
            ("2006-8-10 9:16:36", "2006-08-10T01:16:36Z"),
            ("第12期 2024-05-02 发布", "2024-05-01T16:00:00Z"),
            ("2024-05-03 12 条", "2024-05-02T16:00:00Z"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_timestamp(input),
                Some(utc(expected)),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn rejects_what_is_not_a_date() {
        let cases = [
            "",
            "   ",
            "昨天",
            "2005-12",
            "2024-13-01",
            "2024-02-30",
            "2024年5月",
            "12345",
            "Version 2.0.1",
            "May 2024",
            "0800-01-01",
        ];
        for input in cases {
            assert_eq!(parse_timestamp(input), None, "input {input:?}");
        }
    }

    #[test]
    fn a_bad_time_falls_back_to_the_date() {
        // An impossible hour is not a time: the date stands at midnight.
        assert_eq!(
            parse_timestamp("2024-05-02 25:00"),
            Some(utc("2024-05-01T16:00:00Z"))
        );
    }

    #[test]
    fn judges_plausibility() {
        let now = utc("2026-11-24T06:00:00Z");
        let cases = [
            ("2026-11-24 13:55", DateQuality::Credible),
            ("2026-11-24T06:09:00Z", DateQuality::Credible),
            ("2026-11-24T06:11:00Z", DateQuality::Implausible),
            ("2027-01-01", DateQuality::Implausible),
            ("2000-01-01 00:00", DateQuality::Credible),
            ("1999-12-31 23:59", DateQuality::Implausible),
            ("1990年1月1日", DateQuality::Implausible),
        ];
        for (input, expected) in cases {
            let (_, got) = parse_date(input, now).unwrap();
            assert_eq!(got, expected, "input {input:?}");
        }
    }

    #[test]
    fn epoch_numbers() {
        let cases = [
            (1_714_613_400, "2024-05-02T01:30:00Z"),
            (1_714_613_400_000, "2024-05-02T01:30:00Z"),
            (0, "1970-01-01T00:00:00Z"),
        ];
        for (n, expected) in cases {
            assert_eq!(from_epoch(n), Some(utc(expected)), "n {n}");
        }
    }
}
