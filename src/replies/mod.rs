//! Board reply tracking: the pure rules for one 留言 (a post on a 领导留言板 / 12345 /
//! 政府网站留言板) from its posting until it is answered, and the 答复率 / 按时答复率 figures.
//! No IO: the caller observes the board and keeps the [`TrackedPost`].
//!
//! ## Rules
//! - A post is due at `posted_at` + the board's `reply_within` window, computed on the
//!   official calendar (`"5 workdays"` ends at 24:00 Beijing time of the 5th working day
//!   after the day of posting, see `crate::calendar`).
//! - A post counts as answered when its status text on the board contains one of the
//!   board's `replied` values (e.g. 已回复, 已办结, 已办理). Its reply time is the board's
//!   reply date when the board shows one, else the time it was first seen answered.
//! - A post that disappears from the list is not answered: it becomes 已撤下 (removed), once;
//!   a removed post that reappears is tracked again.
//! - State at an instant: `replied` once answered; `removed` once gone; else `overdue` after
//!   its due time, `pending` before.
//! - A reply is on time when its reply time is not after the due time.
//! - A post first seen already answered on a board that shows no reply date counts as
//!   answered when first seen (configure `reply_date` for exact 按时答复率 from the start).
//! - Paging: a board lists only its newest posts, so a tracked post missing from a page is
//!   evidence of removal only when the page was fetched and read successfully, listed at
//!   least one post, and the missing post was posted no earlier than the oldest post the
//!   page shows ([`missing_means_removed`]). A post older than that has merely been paged
//!   out: it keeps its state (an unanswered one stays pending, then overdue) until the
//!   board shows it again. A 304 (not modified) or a failed poll observes nothing.
//!
//! ## Figures
//! Over a set of posts (one board, or one unit), removed posts excluded:
//! 答复率 = answered / all; 按时答复率 = answered on time / all whose outcome is known
//! (answered, or past due unanswered). No post: no figure (`None`), not 0 %.

use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, CalendarError};
use crate::config::Window;
use crate::model::Timestamp;

/// Where a tracked post stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyState {
    Pending,
    Replied,
    Overdue,
    Removed,
}

impl ReplyState {
    pub fn chinese(self) -> &'static str {
        match self {
            ReplyState::Pending => "待答复",
            ReplyState::Replied => "已答复",
            ReplyState::Overdue => "已超期",
            ReplyState::Removed => "已撤下",
        }
    }
}

/// A board's reply rule, from its source entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyRule {
    /// Status texts that mean answered.
    pub replied: Vec<String>,
    /// The answer deadline.
    pub within: Window,
}

impl From<&crate::config::ReplySpec> for ReplyRule {
    fn from(spec: &crate::config::ReplySpec) -> ReplyRule {
        ReplyRule {
            replied: spec.replied.clone(),
            within: spec.within,
        }
    }
}

/// Whether a tracked post posted at `posted_at` that is missing from a successfully read
/// page whose oldest listed post dates from `oldest_shown` (`None`: the page listed no
/// post) was removed, rather than paged out (see the module docs).
pub fn missing_means_removed(posted_at: Timestamp, oldest_shown: Option<Timestamp>) -> bool {
    oldest_shown.is_some_and(|oldest| posted_at >= oldest)
}

impl ReplyRule {
    /// Whether a status text on the board means answered.
    pub fn is_replied(&self, status: &str) -> bool {
        let status = status.trim();
        !status.is_empty()
            && self
                .replied
                .iter()
                .any(|value| !value.trim().is_empty() && status.contains(value.trim()))
    }
}

/// What one poll of the board says about a tracked post.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// On the list, with its status text and the board's reply date if it shows one.
    Listed {
        status: String,
        reply_date: Option<Timestamp>,
    },
    /// No longer on the list.
    Missing,
}

/// What an observation changed (each is reported once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Replied { on_time: bool },
    Removed,
    Reappeared,
}

/// A post as first seen on its board.
#[derive(Debug, Clone, Copy)]
pub struct Post<'a> {
    pub source: &'a str,
    pub key: &'a str,
    pub title: &'a str,
    pub url: Option<&'a str>,
    pub unit: Option<&'a str>,
    pub posted_at: Timestamp,
}

/// One post tracked for a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackedPost {
    pub source: String,
    pub key: String,
    pub title: String,
    pub url: Option<String>,
    /// The unit the post routes to, if any.
    pub unit: Option<String>,
    pub posted_at: Timestamp,
    pub due_at: Timestamp,
    pub replied_at: Option<Timestamp>,
    pub removed_at: Option<Timestamp>,
}

#[cfg(test)]
impl TrackedPost {
    /// A pending post `key` of source `board` (posted 2026-11-20, due 2026-11-23), for the
    /// store's and the export's tests.
    pub(crate) fn example(key: &str) -> Self {
        let at = |s: &str| s.parse().expect("a test time");
        TrackedPost {
            source: "board".into(),
            key: key.into(),
            title: "路灯不亮".into(),
            url: None,
            unit: None,
            posted_at: at("2026-11-20T02:00:00Z"),
            due_at: at("2026-11-23T16:00:00Z"),
            replied_at: None,
            removed_at: None,
        }
    }
}

impl TrackedPost {
    /// Starts tracking a post; fails when the deadline falls in a year the calendar lacks.
    pub fn start(
        post: Post<'_>,
        rule: &ReplyRule,
        calendar: &Calendar,
    ) -> Result<TrackedPost, CalendarError> {
        Ok(TrackedPost {
            source: post.source.into(),
            key: post.key.into(),
            title: post.title.into(),
            url: post.url.map(str::to_string),
            unit: post.unit.map(str::to_string),
            posted_at: post.posted_at,
            due_at: calendar.due(post.posted_at, rule.within)?,
            replied_at: None,
            removed_at: None,
        })
    }

    /// Applies one observation made at `now`.
    pub fn observe(
        &mut self,
        seen: &Observation,
        rule: &ReplyRule,
        now: Timestamp,
    ) -> Option<Change> {
        if self.replied_at.is_some() {
            return None;
        }
        match seen {
            Observation::Missing if self.removed_at.is_none() => {
                self.removed_at = Some(now);
                Some(Change::Removed)
            }
            Observation::Missing => None,
            Observation::Listed { status, reply_date } => {
                let reappeared = self.removed_at.take().is_some();
                if rule.is_replied(status) {
                    let at = reply_date.unwrap_or(now);
                    self.replied_at = Some(at);
                    Some(Change::Replied {
                        on_time: at <= self.due_at,
                    })
                } else {
                    reappeared.then_some(Change::Reappeared)
                }
            }
        }
    }

    pub fn state(&self, now: Timestamp) -> ReplyState {
        if self.replied_at.is_some() {
            ReplyState::Replied
        } else if self.removed_at.is_some() {
            ReplyState::Removed
        } else if now > self.due_at {
            ReplyState::Overdue
        } else {
            ReplyState::Pending
        }
    }

    /// Whether the reply came in time; `None` while unanswered.
    pub fn on_time(&self) -> Option<bool> {
        self.replied_at.map(|at| at <= self.due_at)
    }
}

/// 答复率 and 按时答复率 over a set of posts (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Rates {
    pub posts: u32,
    pub replied: u32,
    pub on_time: u32,
    pub overdue: u32,
}

impl Rates {
    pub fn of<'a>(posts: impl IntoIterator<Item = &'a TrackedPost>, now: Timestamp) -> Rates {
        let mut rates = Rates::default();
        for post in posts {
            match post.state(now) {
                ReplyState::Removed => continue,
                ReplyState::Replied => {
                    rates.replied += 1;
                    rates.on_time += u32::from(post.on_time() == Some(true));
                }
                ReplyState::Overdue => rates.overdue += 1,
                ReplyState::Pending => {}
            }
            rates.posts += 1;
        }
        rates
    }

    /// 答复率, 0–1.
    pub fn reply_rate(&self) -> Option<f64> {
        (self.posts > 0).then(|| f64::from(self.replied) / f64::from(self.posts))
    }

    /// 按时答复率, 0–1.
    pub fn on_time_rate(&self) -> Option<f64> {
        let decided = self.replied + self.overdue;
        (decided > 0).then(|| f64::from(self.on_time) / f64::from(decided))
    }
}

pub mod track;

#[cfg(test)]
mod tests;
