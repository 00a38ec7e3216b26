//! `[policy] interpretation` and `[[document_clock]]`: the working-day document clocks
//! (docs/policies.md; the rules are in `crate::policies`). The shorthand configures the
//! default 政策解读 clock; every other clock is a `[[document_clock]]` entry.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Problem;
use super::duration::{Window, parse_window};
use crate::policies::DocumentClock;

/// `[policy] interpretation`: the 政策解读 window, or `"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSwitch {
    Off,
    On(Window),
}

impl Default for ClockSwitch {
    /// 3 working days (seeds 000, 001).
    fn default() -> Self {
        ClockSwitch::On(Window::Workdays(3))
    }
}

impl fmt::Display for ClockSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockSwitch::Off => f.write_str("off"),
            ClockSwitch::On(window) => window.fmt(f),
        }
    }
}

impl Serialize for ClockSwitch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockSwitch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().eq_ignore_ascii_case("off") {
            return Ok(ClockSwitch::Off);
        }
        parse_window(&text)
            .map(ClockSwitch::On)
            .map_err(|err| serde::de::Error::custom(format!("{err}；不需要此时限时写 \"off\"")))
    }
}

/// The clocks of the built-in defaults: the 政策解读 clock of the default window.
pub(super) fn default_clocks() -> Vec<DocumentClock> {
    document_clocks(
        &mut Vec::new(),
        Path::new(""),
        ClockSwitch::default(),
        Vec::new(),
    )
}

/// The document clocks in force: the 政策解读 clock of `interpretation` (unless off),
/// then the `[[document_clock]]` entries; a set that cannot work is a problem.
pub(super) fn document_clocks(
    problems: &mut Vec<Problem>,
    file: &Path,
    interpretation: ClockSwitch,
    entries: Vec<DocumentClock>,
) -> Vec<DocumentClock> {
    let mut clocks = match interpretation {
        ClockSwitch::On(window) => vec![DocumentClock::interpretation(window)],
        ClockSwitch::Off => Vec::new(),
    };
    clocks.extend(entries);
    match DocumentClock::validate_all(&clocks) {
        Ok(()) => clocks,
        Err(err) => {
            problems.push(Problem {
                file: file.to_path_buf(),
                source: None,
                message: format!("[[document_clock]] {err}"),
            });
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shorthand_reads_a_window_or_off() {
        #[derive(Deserialize)]
        struct T {
            v: ClockSwitch,
        }
        let read = |text: &str| toml::from_str::<T>(&format!("v = \"{text}\"")).map(|t| t.v);
        assert_eq!(read("off").unwrap(), ClockSwitch::Off);
        assert_eq!(
            read("5工作日").unwrap(),
            ClockSwitch::On(Window::Workdays(5))
        );
        assert_eq!(read("3 workdays").unwrap(), ClockSwitch::default());
        let err = read("3 working dayz").unwrap_err().to_string();
        assert!(err.contains("3 working dayz"), "{err}");
        assert!(err.contains("off"), "{err}");
        assert_eq!(ClockSwitch::Off.to_string(), "off");
        assert_eq!(ClockSwitch::default().to_string(), "3 workdays");
    }

    #[test]
    fn the_shorthand_comes_first_and_a_clash_with_it_is_a_problem() {
        let own = |id: &str| {
            let mut clock = DocumentClock::interpretation(Window::Workdays(5));
            clock.id = id.into();
            clock
        };
        let file = Path::new("yuqing.toml");
        let mut problems = Vec::new();
        let ids = |clocks: Vec<DocumentClock>| clocks.into_iter().map(|c| c.id).collect::<Vec<_>>();
        let on = document_clocks(
            &mut problems,
            file,
            ClockSwitch::default(),
            vec![own("mine")],
        );
        assert_eq!(ids(on), ["interpretation", "mine"]);
        let off = document_clocks(
            &mut problems,
            file,
            ClockSwitch::Off,
            vec![own("interpretation")],
        );
        assert_eq!(ids(off), ["interpretation"]);
        assert!(problems.is_empty());
        let clash = document_clocks(
            &mut problems,
            file,
            ClockSwitch::default(),
            vec![own("interpretation")],
        );
        assert!(clash.is_empty());
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].message.contains("重复"),
            "{}",
            problems[0].message
        );
        assert_eq!(ids(default_clocks()), ["interpretation"]);
    }
}
