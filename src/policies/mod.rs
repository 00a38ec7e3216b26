//! Working-day document clocks (issue 13 point 4, docs/policies.md): a document published
//! on a source starts a clock (政策解读 within 3 working days of a policy document,
//! 意见征集情况 within 10 working days of a decision); an answering document on an
//! official or policy source meets it. Pure rules, no IO: which documents start a clock
//! ([`DocumentClock::starts`]), which answer one ([`DocumentClock::answers`] and
//! [`matching`]), and the state of a tracked document ([`TrackedDocument::state`]).
//!
//! ## Rule
//! - A clock is configuration (`[[document_clock]]`), not code: `name` (Chinese label),
//!   `id` (ASCII, used in notice keys), `starts_on` (source roles and/or title words; a
//!   document starts the clock when its source has one of the roles, if any are given,
//!   and its title contains one of the words, if any are given), `within` (a
//!   [`Window`]: `3 workdays` or an elapsed duration), `met_by` (title words of an
//!   answer), `met_on` (roles where an answer may appear, default official and policy).
//! - Due time: the window from the document's publication ([`crate::calendar::Calendar::due`]:
//!   24:00 Asia/Shanghai of the N-th working day after the publication day).
//! - A document that starts a clock is never its own answer, and a document whose title
//!   carries an answer word does not start the clock it would answer.
//! - Flood guard: a document already on the source at its first poll whose window has
//!   already run out is recorded as `backfilled`: listed, never reminded or overdue.
//! - Order between sources does not matter: an answer that matches no document yet (its
//!   source was polled before the document's) is remembered for [`REMEMBER_ANSWERS`];
//!   a document that starts its clock within that time is matched against them
//!   ([`RememberedAnswer`], `track`).

pub mod matching;
#[cfg(test)]
mod tests;
pub mod track;

use serde::{Deserialize, Serialize};

use crate::config::{SourceRole, Window};
use crate::model::Timestamp;

/// One configured document clock (`[[document_clock]]` in yuqing.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentClock {
    /// ASCII id used in notice keys (`policy/ID/SOURCE/KEY/…`), e.g. `interpretation`.
    pub id: String,
    /// Chinese label shown in mails, `yuqing policies` and the digest, e.g. 政策解读.
    pub name: String,
    /// Which new documents start the clock.
    pub starts_on: StartsOn,
    /// How long the answer may take, e.g. `3 workdays`.
    pub within: Window,
    /// Title words of an answering document, e.g. 解读, 图解, 一图读懂.
    pub met_by: Vec<String>,
    /// Roles of the sources where an answer may appear.
    #[serde(default = "default_met_on")]
    pub met_on: Vec<SourceRole>,
}

/// `starts_on` of a [`DocumentClock`]: both parts must hold; an empty part holds always.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartsOn {
    #[serde(default)]
    pub roles: Vec<SourceRole>,
    #[serde(default)]
    pub title_words: Vec<String>,
}

fn default_met_on() -> Vec<SourceRole> {
    vec![SourceRole::Official, SourceRole::Policy]
}

/// A clock configuration that cannot work, with what to change.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PolicyError {
    #[error("文件时限“{0}”的 id 须为英文字母、数字、- 或 _（用于提醒编号）")]
    BadId(String),
    #[error(
        "文件时限“{0}”的 starts_on 为空，会对所有来源的所有文件计时；请写 roles 或 title_words"
    )]
    StartsOnEverything(String),
    #[error("文件时限“{0}”的 met_by 为空，任何文件都无法满足它；请写答复文件标题中的词，如 解读")]
    NoAnswerWords(String),
    #[error(
        "文件时限 id “{0}”重复；每个 [[document_clock]] 的 id 须不同（[policy] interpretation 未设为 \"off\" 时，id interpretation 已由默认的政策解读时限使用）"
    )]
    DuplicateId(String),
}

impl DocumentClock {
    /// The default 政策解读 clock that `[policy] interpretation` configures: documents on
    /// `role = "policy"` sources, answered by a 解读 on an official or policy source.
    pub fn interpretation(within: Window) -> DocumentClock {
        DocumentClock {
            id: "interpretation".into(),
            name: "政策解读".into(),
            starts_on: StartsOn {
                roles: vec![SourceRole::Policy],
                title_words: Vec::new(),
            },
            within,
            met_by: [
                "解读",
                "图解",
                "一图读懂",
                "一图看懂",
                "政策问答",
                "答记者问",
            ]
            .map(String::from)
            .to_vec(),
            met_on: default_met_on(),
        }
    }

    /// Checks one clock and the set's ids.
    pub fn validate_all(clocks: &[DocumentClock]) -> Result<(), PolicyError> {
        for (i, clock) in clocks.iter().enumerate() {
            let id_ok = !clock.id.is_empty()
                && clock
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !id_ok {
                return Err(PolicyError::BadId(clock.name.clone()));
            }
            if clock.starts_on.roles.is_empty() && clock.starts_on.title_words.is_empty() {
                return Err(PolicyError::StartsOnEverything(clock.name.clone()));
            }
            if clock.met_by.is_empty() {
                return Err(PolicyError::NoAnswerWords(clock.name.clone()));
            }
            if clocks[..i].iter().any(|c| c.id == clock.id) {
                return Err(PolicyError::DuplicateId(clock.id.clone()));
            }
        }
        Ok(())
    }

    /// Whether a new document (its source's role, its title) starts this clock.
    pub fn starts(&self, role: SourceRole, title: &str) -> bool {
        let role_ok = self.starts_on.roles.is_empty() || self.starts_on.roles.contains(&role);
        let words_ok = self.starts_on.title_words.is_empty()
            || self.starts_on.title_words.iter().any(|w| title.contains(w));
        role_ok && words_ok && !self.has_answer_word(title)
    }

    /// Whether a document (its source's role, its title) is an answer of this clock's
    /// kind; which tracked document it answers is [`matching::match_answer`]'s business.
    pub fn answers(&self, role: SourceRole, title: &str) -> bool {
        self.met_on.contains(&role) && self.has_answer_word(title)
    }

    fn has_answer_word(&self, title: &str) -> bool {
        self.met_by.iter().any(|w| title.contains(w.as_str()))
    }
}

/// The answer that met a tracked document's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetBy {
    pub title: String,
    pub url: Option<String>,
}

/// A document whose clock runs (the policy ledger's row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedDocument {
    /// The [`DocumentClock::id`].
    pub clock: String,
    pub source: String,
    pub key: String,
    pub title: String,
    pub url: Option<String>,
    /// The normalised 文号 ([`matching::DocNo::display`]), if the document has one.
    pub doc_no: Option<String>,
    pub published_at: Timestamp,
    pub due_at: Timestamp,
    /// Seen at the source's first poll with its window already over: never notified.
    pub backfilled: bool,
    pub met_at: Option<Timestamp>,
    pub met_by: Option<MetBy>,
}

#[cfg(test)]
impl TrackedDocument {
    /// A pending 解读 document `key` of source `policy` (published 2026-06-12, due
    /// 2026-06-17), for the store's and the export's tests.
    pub(crate) fn example(key: &str) -> Self {
        let at = |s: &str| s.parse().expect("a test time");
        TrackedDocument {
            clock: "interpretation".into(),
            source: "policy".into(),
            key: key.into(),
            title: "关于印发某办法的通知".into(),
            url: None,
            doc_no: None,
            published_at: at("2026-06-12T02:00:00Z"),
            due_at: at("2026-06-17T16:00:00Z"),
            backfilled: false,
            met_at: None,
            met_by: None,
        }
    }
}

/// How long an answer that matched no document is kept for documents seen later.
pub const REMEMBER_ANSWERS: chrono::Duration = chrono::Duration::days(7);

/// An answer that matched no tracked document when it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedAnswer {
    /// The [`DocumentClock::id`] it answers.
    pub clock: String,
    pub source: String,
    pub key: String,
    pub title: String,
    /// Its text, at most [`REMEMBERED_TEXT`] characters (where a 文号 is quoted).
    pub text: String,
    pub url: Option<String>,
    /// When it was published (or first seen): the `met_at` it gives.
    pub published_at: Timestamp,
}

/// How much of a remembered answer's text is kept.
pub const REMEMBERED_TEXT: usize = 2000;

/// Where a tracked document's clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentState {
    Pending,
    Met,
    Overdue,
    /// Found at the first poll already past its window (the flood guard).
    Backfilled,
}

impl TrackedDocument {
    pub fn state(&self, now: Timestamp) -> DocumentState {
        if self.met_at.is_some() {
            DocumentState::Met
        } else if self.backfilled {
            DocumentState::Backfilled
        } else if now > self.due_at {
            DocumentState::Overdue
        } else {
            DocumentState::Pending
        }
    }

    /// Whether the answer came in time; `None` while unanswered.
    pub fn on_time(&self) -> Option<bool> {
        self.met_at.map(|at| at <= self.due_at)
    }

    /// Whether the clock sends reminders and overdue notices at all.
    pub fn notifies(&self, now: Timestamp) -> bool {
        matches!(
            self.state(now),
            DocumentState::Pending | DocumentState::Overdue
        )
    }
}

/// The flood guard: a document seen at its source's first poll whose due time has
/// already passed is backfilled.
pub fn backfilled(first_poll: bool, due_at: Timestamp, now: Timestamp) -> bool {
    first_poll && due_at <= now
}
