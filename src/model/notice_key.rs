//! The `X-Yuqing-Notice` key of every notice, typed: built and read here only.
//!
//! The text form is the contract of interface.md (mail filters rely on it):
//! - `<id>/opened` — an incident announced;
//! - `<id>/<milestone>/<percent>` — a reminder (first fraction) or escalation (later ones);
//! - `<id>/<milestone>/overdue/<n>` — the n-th overdue notice;
//! - `<id>/responses/<n>` — official response n recognised (not `<id>/response/<n>`:
//!   that is the reminder key of the `response` milestone at n percent);
//! - `<id>/effect/rising` — the 效果评估 found the talk rising after the first response;
//! - `digest/<YYYY-MM-DD>` — the scheduled digest of a date, and
//!   `digest/<YYYY-MM-DD>/manual/<YYYYMMDDTHHMMSS>` — one sent by hand (Beijing time);
//! - `source/<source id>/failing/<episode>` — a source failing, once per episode;
//! - `dead/<key>` — the report that the notice `<key>` could not be delivered;
//! - `system/watchdog/<task>/<YYYYMMDDTHHMMSS>` — a daemon task made no progress
//!   (Beijing time the episode was detected).
//! - `reply/<source>/<post key>/<percent>` and `reply/<source>/<post key>/overdue/<n>` — a
//!   board post's reminder and its n-th overdue notice (the post key may contain `/`).
//! - `policy/<clock id>/<source>/<document key>/<percent>` and
//!   `policy/<clock id>/<source>/<document key>/overdue/<n>` — a document clock's
//!   (政策解读 …, `crate::policies`) reminder and its n-th overdue notice.
//!
//! A key is queued at most once, ever (the outbox), so a key names one mail forever.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime};

use super::{IncidentId, Milestone};

const DATE: &str = "%Y-%m-%d";
const STAMP: &str = "%Y%m%dT%H%M%S";

/// What a notice is about, as its key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKey {
    Opened {
        incident: IncidentId,
    },
    /// `percent` of a milestone's window elapsed.
    Reminder {
        incident: IncidentId,
        milestone: Milestone,
        percent: u8,
    },
    /// The `repeat`-th overdue notice of a milestone (from 1).
    Overdue {
        incident: IncidentId,
        milestone: Milestone,
        repeat: u32,
    },
    /// Official response `n` of an incident recognised.
    Response {
        incident: IncidentId,
        n: u32,
    },
    /// The 效果评估 of an incident came out `rising` (once per incident).
    EffectRising {
        incident: IncidentId,
    },
    /// The digest of `date`; `manual` is the Beijing time of a send by hand.
    Digest {
        date: NaiveDate,
        manual: Option<NaiveDateTime>,
    },
    SourceFailing {
        source: String,
        episode: u32,
    },
    /// The report on an undeliverable notice: its key, as it was.
    DeadLetter {
        original: String,
    },
    /// A daemon task (`crate::watchdog`) wedged; `since` is the Beijing time the
    /// episode was detected.
    Watchdog {
        task: String,
        since: NaiveDateTime,
    },
    /// A step of a board post's reply clock.
    Reply {
        source: String,
        key: String,
        step: ReplyStep,
    },
    /// A step of a tracked document's clock (`clock` is the clock's id).
    Document {
        clock: String,
        source: String,
        key: String,
        step: ReplyStep,
    },
}

/// Which step of a post's reply clock (or a document clock) a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyStep {
    /// `percent` of the answer window elapsed.
    Reminder(u8),
    /// The n-th overdue notice (from 1).
    Overdue(u32),
}

impl NoticeKey {
    /// The clock (incident and milestone) a reminder or overdue notice belongs to:
    /// of two queued notices of one clock, only the newer is worth sending.
    pub fn clock(&self) -> Option<(IncidentId, Milestone)> {
        match self {
            NoticeKey::Reminder {
                incident,
                milestone,
                ..
            }
            | NoticeKey::Overdue {
                incident,
                milestone,
                ..
            } => Some((*incident, *milestone)),
            _ => None,
        }
    }
}

impl fmt::Display for NoticeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoticeKey::Opened { incident } => write!(f, "{incident}/opened"),
            NoticeKey::Reminder {
                incident,
                milestone,
                percent,
            } => write!(f, "{incident}/{milestone}/{percent}"),
            NoticeKey::Overdue {
                incident,
                milestone,
                repeat,
            } => write!(f, "{incident}/{milestone}/overdue/{repeat}"),
            NoticeKey::Response { incident, n } => write!(f, "{incident}/responses/{n}"),
            NoticeKey::EffectRising { incident } => write!(f, "{incident}/effect/rising"),
            NoticeKey::Digest { date, manual } => {
                write!(f, "digest/{}", date.format(DATE))?;
                match manual {
                    Some(at) => write!(f, "/manual/{}", at.format(STAMP)),
                    None => Ok(()),
                }
            }
            NoticeKey::SourceFailing { source, episode } => {
                write!(f, "source/{source}/failing/{episode}")
            }
            NoticeKey::DeadLetter { original } => write!(f, "dead/{original}"),
            NoticeKey::Watchdog { task, since } => {
                write!(f, "system/watchdog/{task}/{}", since.format(STAMP))
            }
            NoticeKey::Reply { source, key, step } => match step {
                ReplyStep::Reminder(percent) => write!(f, "reply/{source}/{key}/{percent}"),
                ReplyStep::Overdue(n) => write!(f, "reply/{source}/{key}/overdue/{n}"),
            },
            NoticeKey::Document {
                clock,
                source,
                key,
                step,
            } => match step {
                ReplyStep::Reminder(percent) => {
                    write!(f, "policy/{clock}/{source}/{key}/{percent}")
                }
                ReplyStep::Overdue(n) => write!(f, "policy/{clock}/{source}/{key}/overdue/{n}"),
            },
        }
    }
}

/// A text that is not a notice key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("“{0}”不是有效的通知编号（例如 42/opened、42/statement/80、digest/2026-11-24）")]
pub struct BadNoticeKey(pub String);

impl FromStr for NoticeKey {
    type Err = BadNoticeKey;

    fn from_str(s: &str) -> Result<NoticeKey, BadNoticeKey> {
        let bad = || BadNoticeKey(s.to_string());
        if let Some(original) = s.strip_prefix("dead/") {
            return Ok(NoticeKey::DeadLetter {
                original: original.to_string(),
            });
        }
        if let Some(rest) = s.strip_prefix("reply/") {
            let (source, key, step) = step_key(rest).ok_or_else(bad)?;
            return Ok(NoticeKey::Reply { source, key, step });
        }
        if let Some(rest) = s.strip_prefix("policy/") {
            let (clock, rest) = rest.split_once('/').ok_or_else(bad)?;
            let (source, key, step) = step_key(rest).ok_or_else(bad)?;
            if clock.is_empty() {
                return Err(bad());
            }
            return Ok(NoticeKey::Document {
                clock: clock.to_string(),
                source,
                key,
                step,
            });
        }
        let parts: Vec<&str> = s.split('/').collect();
        let key = match parts.as_slice() {
            ["digest", date] => NoticeKey::Digest {
                date: NaiveDate::parse_from_str(date, DATE).map_err(|_| bad())?,
                manual: None,
            },
            ["digest", date, "manual", at] => NoticeKey::Digest {
                date: NaiveDate::parse_from_str(date, DATE).map_err(|_| bad())?,
                manual: Some(NaiveDateTime::parse_from_str(at, STAMP).map_err(|_| bad())?),
            },
            ["system", "watchdog", task, since] => NoticeKey::Watchdog {
                task: task.to_string(),
                since: NaiveDateTime::parse_from_str(since, STAMP).map_err(|_| bad())?,
            },
            ["source", source, "failing", episode] => NoticeKey::SourceFailing {
                source: source.to_string(),
                episode: episode.parse().map_err(|_| bad())?,
            },
            [id, "opened"] => NoticeKey::Opened {
                incident: id.parse().map_err(|_| bad())?,
            },
            [id, "responses", n] => NoticeKey::Response {
                incident: id.parse().map_err(|_| bad())?,
                n: n.parse().map_err(|_| bad())?,
            },
            [id, milestone, "overdue", n] => NoticeKey::Overdue {
                incident: id.parse().map_err(|_| bad())?,
                milestone: milestone.parse().map_err(|_| bad())?,
                repeat: n.parse().map_err(|_| bad())?,
            },
            [id, "effect", "rising"] => NoticeKey::EffectRising {
                incident: id.parse().map_err(|_| bad())?,
            },
            [id, milestone, percent] => NoticeKey::Reminder {
                incident: id.parse().map_err(|_| bad())?,
                milestone: milestone.parse().map_err(|_| bad())?,
                percent: percent.parse().map_err(|_| bad())?,
            },
            _ => return Err(bad()),
        };
        Ok(key)
    }
}

/// `<source>/<key>/<percent>` or `<source>/<key>/overdue/<n>`.
fn step_key(rest: &str) -> Option<(String, String, ReplyStep)> {
    let (source, rest) = rest.split_once('/')?;
    let (head, last) = rest.rsplit_once('/')?;
    let (key, step) = match head.strip_suffix("/overdue") {
        Some(key) => (key, ReplyStep::Overdue(last.parse().ok()?)),
        None => (head, ReplyStep::Reminder(last.parse().ok()?)),
    };
    (!source.is_empty() && !key.is_empty()).then(|| (source.to_string(), key.to_string(), step))
}

impl From<NoticeKey> for String {
    fn from(key: NoticeKey) -> String {
        key.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_in_the_interface_format() {
        let day: NaiveDate = "2026-11-24".parse().unwrap();
        let table = [
            (NoticeKey::Opened { incident: 42 }, "42/opened"),
            (
                NoticeKey::Reminder {
                    incident: 42,
                    milestone: Milestone::Statement,
                    percent: 80,
                },
                "42/statement/80",
            ),
            (
                NoticeKey::Overdue {
                    incident: 42,
                    milestone: Milestone::Press,
                    repeat: 3,
                },
                "42/press/overdue/3",
            ),
            (NoticeKey::Response { incident: 42, n: 2 }, "42/responses/2"),
            (NoticeKey::EffectRising { incident: 42 }, "42/effect/rising"),
            (
                NoticeKey::Digest {
                    date: day,
                    manual: None,
                },
                "digest/2026-11-24",
            ),
            (
                NoticeKey::Digest {
                    date: day,
                    manual: Some(day.and_hms_opt(9, 30, 5).unwrap()),
                },
                "digest/2026-11-24/manual/20261124T093005",
            ),
            (
                NoticeKey::SourceFailing {
                    source: "anqiu-board".into(),
                    episode: 3,
                },
                "source/anqiu-board/failing/3",
            ),
            (
                NoticeKey::DeadLetter {
                    original: "42/opened".into(),
                },
                "dead/42/opened",
            ),
            (
                NoticeKey::Watchdog {
                    task: "mail".into(),
                    since: day.and_hms_opt(3, 4, 5).unwrap(),
                },
                "system/watchdog/mail/20261124T030405",
            ),
            (
                NoticeKey::Reply {
                    source: "board".into(),
                    key: "25489118".into(),
                    step: ReplyStep::Reminder(80),
                },
                "reply/board/25489118/80",
            ),
            (
                NoticeKey::Reply {
                    source: "gov-board".into(),
                    key: "http://example.org/show.asp?id=8".into(),
                    step: ReplyStep::Overdue(2),
                },
                "reply/gov-board/http://example.org/show.asp?id=8/overdue/2",
            ),
            (
                NoticeKey::Document {
                    clock: "interpretation".into(),
                    source: "policy".into(),
                    key: "http://example.org/zc/1.html".into(),
                    step: ReplyStep::Reminder(60),
                },
                "policy/interpretation/policy/http://example.org/zc/1.html/60",
            ),
            (
                NoticeKey::Document {
                    clock: "consultation".into(),
                    source: "gov".into(),
                    key: "7".into(),
                    step: ReplyStep::Overdue(1),
                },
                "policy/consultation/gov/7/overdue/1",
            ),
        ];
        for (key, text) in table {
            assert_eq!(key.to_string(), text);
            assert_eq!(text.parse::<NoticeKey>(), Ok(key), "{text}");
        }
        for bad in [
            "",
            "42",
            "42/nothing/80",
            "42/effect/calming",
            "x/effect/rising",
            "x/opened",
            "digest/24.11.2026",
            "a/b/c/d/e",
            "reply/board/80",
            "reply/board/k/x",
            "reply//k/80",
            "policy/interpretation/src/80",
            "policy//src/k/80",
            "policy/interpretation/src/k/x",
        ] {
            assert!(bad.parse::<NoticeKey>().is_err(), "{bad}");
        }
        let clock = "7/response/overdue/2".parse::<NoticeKey>().unwrap().clock();
        assert_eq!(clock, Some((7, Milestone::Response)));
        assert_eq!(NoticeKey::Opened { incident: 7 }.clock(), None);
        // A recognised response is no step of a clock: never superseded.
        assert_eq!("7/responses/1".parse::<NoticeKey>().unwrap().clock(), None);
    }
}
