//! `[retention]`: how long routine items are kept (issue 16; the rule is in
//! `crate::store`'s retention module, docs/operations.md "数据保留").

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::duration::{HumanDuration, parse_duration};

/// `[retention]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Items that never became part of an incident are removed this long after they
    /// were first seen (`"off"`: kept forever). Default `"90d"`.
    pub routine_items: Keep,
    /// How often the daemon sweeps. Default `"1d"`.
    pub sweep_every: HumanDuration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            routine_items: Keep::For(HumanDuration::from_secs(90 * 86_400)),
            sweep_every: HumanDuration::from_secs(86_400),
        }
    }
}

/// A retention period, or `off`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Keep {
    Forever,
    For(HumanDuration),
}

impl Keep {
    /// The period, `None` when kept forever.
    pub fn period(self) -> Option<Duration> {
        match self {
            Keep::Forever => None,
            Keep::For(d) => Some(d.as_duration()),
        }
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keep::Forever => f.write_str("off"),
            Keep::For(d) => d.fmt(f),
        }
    }
}

impl Serialize for Keep {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Keep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim() == "off" {
            return Ok(Keep::Forever);
        }
        match parse_duration(&text) {
            Ok(d) if d >= Duration::from_secs(86_400) => Ok(Keep::For(HumanDuration(d))),
            Ok(_) => Err(serde::de::Error::custom(format!(
                "routine_items = \"{text}\" 过短：至少保留 1 天（\"1d\"），默认 \"90d\"；不删除请写 \"off\""
            ))),
            Err(err) => Err(serde::de::Error::custom(format!(
                "{err}；不删除请写 \"off\""
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RetentionConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn periods_off_and_mistakes() {
        let defaults = parse("").unwrap();
        assert_eq!(defaults, RetentionConfig::default());
        assert_eq!(
            defaults.routine_items.period(),
            Some(Duration::from_secs(90 * 86_400))
        );
        let off = parse("routine_items = \"off\"").unwrap();
        assert_eq!(off.routine_items, Keep::Forever);
        assert_eq!(off.routine_items.period(), None);
        let year = parse("routine_items = \"365d\"\nsweep_every = \"6h\"").unwrap();
        assert_eq!(year.routine_items.to_string(), "365d");
        assert_eq!(
            year.sweep_every.as_duration(),
            Duration::from_secs(6 * 3600)
        );
        let short = parse("routine_items = \"2h\"").unwrap_err().to_string();
        assert!(short.contains("至少保留 1 天"), "{short}");
        let wrong = parse("routine_items = \"never\"").unwrap_err().to_string();
        assert!(wrong.contains("\"off\""), "{wrong}");
    }
}
