//! Human durations in configuration: `90s`, `30m`, `5h`, `2d`, and sums such as `1h30m`;
//! and deadline windows ([`Window`]), which may also be working days: `3 workdays`,
//! `3 working days`, `3工作日`, `3个工作日` (counted on the official calendar, see
//! `crate::calendar`). `3d` stays three calendar days.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A configuration duration. Parses `90s`, `5m`, `5h`, `2d`, `1h30m`, `500ms`;
/// displays in the same notation, so a value round-trips through TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        HumanDuration(Duration::from_secs(secs))
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }

    /// The duration as a chrono span, for arithmetic with timestamps.
    pub fn as_chrono(self) -> chrono::Duration {
        chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX)
    }
}

/// The longest duration configuration accepts: 100 years. Longer values are typing
/// mistakes, and they would overflow the time arithmetic they feed.
pub const MAX_DURATION: Duration = Duration::from_secs(36_500 * 86_400);

/// Parses a duration such as `90s`, `5m`, `5h`, `2d`, `1h30m` or `250ms`, at most
/// [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("时长为空；请写成 90s、5m、5h 或 2d 的形式".to_string());
    }
    if workdays(text).is_some() {
        return Err(format!(
            "“{text}”是工作日时限，这一项只接受时长；请写成 90s、5m、5h 或 2d 的形式"
        ));
    }
    let bytes = text.as_bytes();
    let mut total = Duration::ZERO;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(format!(
                "无法解析时长“{text}”：数字缺失；请写成 90s、5m、5h 或 2d 的形式"
            ));
        }
        let number: u64 = text[start..i]
            .parse()
            .map_err(|_| format!("时长“{text}”中的数字过大"))?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &text[unit_start..i];
        let too_long = || format!("时长“{text}”过长；最长 36500d（100 年）");
        let secs = |size: u64| {
            number
                .checked_mul(size)
                .map(Duration::from_secs)
                .ok_or_else(too_long)
        };
        let part = match unit {
            "ms" => Duration::from_millis(number),
            "s" => secs(1)?,
            "m" => secs(60)?,
            "h" => secs(3600)?,
            "d" => secs(86_400)?,
            "" => {
                return Err(format!(
                    "时长“{text}”缺少单位；请加上 s（秒）、m（分）、h（时）或 d（天）"
                ));
            }
            other => {
                return Err(format!(
                    "时长“{text}”的单位“{other}”无法识别；可用 ms、s、m、h、d"
                ));
            }
        };
        total = total
            .checked_add(part)
            .filter(|t| *t <= MAX_DURATION)
            .ok_or_else(too_long)?;
    }
    Ok(total)
}

/// A deadline window: elapsed time, or a number of working days on the official calendar
/// (ending at 24:00 Asia/Shanghai of the N-th working day after the start's day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    Elapsed(HumanDuration),
    Workdays(u32),
}

impl Window {
    /// Whether this window needs the official calendar.
    pub fn is_workdays(self) -> bool {
        matches!(self, Window::Workdays(_))
    }
}

/// The number of a working-day text (`3 workdays`, `3 working days`, `3工作日`,
/// `3个工作日`), `None` when the text is not one.
fn workdays(text: &str) -> Option<Result<u32, String>> {
    let lower = text.trim().to_ascii_lowercase();
    let number = [
        "个工作日",
        "工作日",
        "working days",
        "working day",
        "workdays",
        "workday",
    ]
    .iter()
    .find_map(|suffix| lower.strip_suffix(suffix))?
    .trim();
    Some(match number.parse::<u32>() {
        Ok(0) => Err(format!("工作日时限“{text}”为 0；请写至少 1 个工作日")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "无法解析工作日时限“{text}”；请写成 3 workdays 或 3工作日 的形式"
        )),
    })
}

/// Parses a window: a working-day text, else a duration as [`parse_duration`] reads it.
pub fn parse_window(text: &str) -> Result<Window, String> {
    match workdays(text) {
        Some(n) => n.map(Window::Workdays),
        None => parse_duration(text).map(|d| Window::Elapsed(HumanDuration(d))),
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Elapsed(d) => d.fmt(f),
            Window::Workdays(n) => write!(f, "{n} workdays"),
        }
    }
}

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_window(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut secs = self.0.as_secs();
        let millis = self.0.subsec_millis();
        if secs == 0 {
            return write!(f, "{millis}ms");
        }
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
            }
        }
        if millis > 0 {
            write!(f, "{millis}ms")?;
        }
        Ok(())
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .map(HumanDuration)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let cases = [
            ("90s", 90),
            ("30m", 1800),
            ("5h", 18_000),
            ("2d", 172_800),
            ("1h30m", 5400),
            (" 24h ", 86_400),
        ];
        for (text, secs) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("36500d"), Ok(MAX_DURATION));
    }

    #[test]
    fn rejects_bad_forms_with_a_reason() {
        for text in [
            "",
            "5",
            "h",
            "5x",
            "-5m",
            "5 m",
            "99999999999999999999s",
            "213503982334601d",
            "36501d",
            "36500d1s",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(!err.is_empty(), "{text}");
        }
    }

    #[test]
    fn windows_read_working_days_and_durations() {
        let cases = [
            ("3 workdays", Window::Workdays(3)),
            ("1 workday", Window::Workdays(1)),
            ("3 working days", Window::Workdays(3)),
            ("5 Working Days", Window::Workdays(5)),
            ("3工作日", Window::Workdays(3)),
            ("10个工作日", Window::Workdays(10)),
            (" 3 工作日 ", Window::Workdays(3)),
            ("3d", Window::Elapsed(HumanDuration::from_secs(3 * 86_400))),
            ("48h", Window::Elapsed(HumanDuration::from_secs(48 * 3600))),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_window(text), Ok(expected), "{text}");
            // Display round-trips.
            assert_eq!(parse_window(&expected.to_string()), Ok(expected), "{text}");
        }
        for (text, reason) in [
            ("0 workdays", "至少 1 个"),
            ("x workdays", "3 workdays"),
            ("3 days", "单位"),
        ] {
            let err = parse_window(text).unwrap_err();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn a_plain_duration_refuses_working_days_by_name() {
        let err = parse_duration("3 working days").unwrap_err();
        assert!(err.contains("是工作日时限"), "{err}");
        assert!(!err.contains("缺少单位"), "{err}");
    }

    #[test]
    fn displays_in_config_notation() {
        assert_eq!(HumanDuration::from_secs(5400).to_string(), "1h30m");
        assert_eq!(HumanDuration::from_secs(172_800).to_string(), "2d");
        assert_eq!(
            HumanDuration(Duration::from_millis(250)).to_string(),
            "250ms"
        );
    }
}
