//! The daily digest (舆情日报): what happened in a period, what is still open, which
//! deadlines were missed and by whom, how the sources held up.
//!
//! The core is pure: [`DigestInput`] (plain data gathered from the ledger and the
//! store) → [`compute`] → [`DigestReport`] (the `digest --format json` shape) →
//! [`render_text`] / [`render_html`]. [`gather`] collects the input from a running
//! ledger; [`run_scheduler`] queues the mail every morning; [`build`] and
//! [`send_now`] serve the control API.
//!
//! # Periods
//! A scheduled digest (and `yuqing digest` without `--date`) covers the 24 hours
//! before the digest time `[digest] at`; its date is the date of that time. With
//! `--date D` it covers calendar day D in Asia/Shanghai, up to now when D is today.
//!
//! # On-time rates (按时率)
//! A deadline counts in the period in which it falls due (`start ≤ due_at < end`),
//! so every deadline is counted exactly once over consecutive digests. Each such
//! deadline is
//! - on time (按时) when its milestone was recorded at or before `due_at`;
//! - late (超时完成) when it was recorded after `due_at`;
//! - missed (未完成) when it is still unrecorded when the digest is made.
//!
//! A milestone left unmet when the incident was closed (办结, which then needs a
//! reason) is missed: it counts in the period in which it fell due, or in which the
//! incident was closed if that came first. Closing never makes a deadline disappear
//! from the rates.
//!
//! Rate = on time ÷ due, `null` when nothing fell due. Not counted: deadlines of
//! incidents dismissed as 误报 or merged into another (their clocks stopped or
//! moved).
//! Per milestone: 签收, 发布权威信息, 新闻发布会, 回应. Per unit and overall: the
//! public milestones only (发布权威信息, 新闻发布会, 回应), the ones the
//! assessment (考核) grades; 签收 is the duty office's step, shown per milestone.
//! An incident without a unit is counted under 未指定单位.
//!
//! # 回应与效果
//! A response counts in the period in which its milestone was met (`met_at`); it is
//! a first response when it is its incident's earliest met response milestone. The
//! time to first response runs from the opening (立案, detection). A 效果评估 counts
//! in the period in which its window ended (first response + `effect_window`), with
//! the verdict recorded then (see `crate::clock::effect`).
//!
//! # Counting incidents
//! New incidents are those opened in the period. Merged incidents are not counted
//! (their target is); dismissed ones (误报) are listed and counted apart. The 7-day
//! trend counts new incidents the same way over the period and the six periods of
//! the same length before it.

mod policies;
mod render;
mod replies;
mod report;
mod schedule;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::model::{AuditEntry, Incident, IncidentId, Item, Level, Milestone, Status, Timestamp};
use crate::store::SourceState;

pub use policies::{DocumentClockRow, OverdueDocument};
pub use render::{render_html, render_text, subject};
pub use replies::{OverduePost, ReplyRates, ReplySummary};
pub use report::compute;
pub use schedule::{
    DigestSchedule, ExtractKeywords, Keywords, SendOutcome, build, build_blocking, digest_key,
    gather, queue, run_scheduler, send_now,
};

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("日期“{0}”无效；请写成 YYYY-MM-DD，例如 2026-11-24")]
    BadDate(String),
    #[error("日期 {0} 还没有到（北京时间）；请指定今天或以前的日期")]
    FutureDate(NaiveDate),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("日报的收件人为空：[digest] to 中的角色在 [recipients] 里都没有地址；请配置收件人")]
    NoRecipients,
    #[error("生成日报时出错：{0}；请查看守护进程日志")]
    Interrupted(#[source] tokio::task::JoinError),
}

/// Which kind of period a digest covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    /// The 24 hours before a digest time.
    Scheduled,
    /// A calendar day in Asia/Shanghai (up to now if it is today).
    Day,
}

/// The span a digest covers: `start ≤ t < end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// The digest's date: the calendar day, or the date of the digest time.
    pub date: NaiveDate,
    pub kind: PeriodKind,
    #[serde(with = "local_ts")]
    pub start: Timestamp,
    #[serde(with = "local_ts")]
    pub end: Timestamp,
}

impl Period {
    /// The 24 hours before the digest time `at`.
    pub fn scheduled(at: Timestamp) -> Period {
        Period {
            date: crate::time::local_date(at),
            kind: PeriodKind::Scheduled,
            start: at - chrono::Duration::hours(24),
            end: at,
        }
    }

    /// Calendar day `date` (Asia/Shanghai), up to `now` when it is today.
    pub fn day(date: NaiveDate, now: Timestamp) -> Result<Period, DigestError> {
        let start = crate::time::day_start(date);
        if start > now {
            return Err(DigestError::FutureDate(date));
        }
        let next = date
            .succ_opt()
            .map(crate::time::day_start)
            .ok_or_else(|| DigestError::BadDate(date.to_string()))?;
        Ok(Period {
            date,
            kind: PeriodKind::Day,
            start,
            end: next.min(now),
        })
    }

    /// `--date` if given (a bad one is an error), else the last scheduled digest period.
    pub fn resolve(
        date: Option<&str>,
        schedule: &DigestSchedule,
        now: Timestamp,
    ) -> Result<Period, DigestError> {
        match date {
            Some(text) => Period::day(parse_date(text)?, now),
            None => Ok(Period::scheduled(schedule.last_at_or_before(now))),
        }
    }

    /// The same span moved back by whole days (Asia/Shanghai has no DST).
    fn back(&self, days: i64) -> (Timestamp, Timestamp) {
        let shift = chrono::Duration::days(days);
        (self.start - shift, self.end - shift)
    }

    fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

/// Parses a `--date` / `?date=` value.
pub fn parse_date(text: &str) -> Result<NaiveDate, DigestError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| DigestError::BadDate(text.to_string()))
}

/// A configured source with its stored polling state.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    pub id: String,
    pub name: String,
    pub state: SourceState,
}

/// Everything a digest is computed from: plain data, no IO.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestInput {
    /// The jurisdiction's name, e.g. 安丘市.
    pub jurisdiction: String,
    pub period: Period,
    /// When the digest is made (≥ `period.end`).
    pub now: Timestamp,
    /// Every incident in the ledger, whatever its status.
    pub incidents: Vec<Incident>,
    /// Audit trails, at least of the incidents closed or dismissed since the period began.
    pub audits: BTreeMap<IncidentId, Vec<AuditEntry>>,
    /// Items first seen in the period.
    pub items: Vec<Item>,
    /// Every configured source.
    pub sources: Vec<SourceInfo>,
    /// The period's key terms (jieba keyword extraction over its items), best first.
    pub top_terms: Vec<(String, f64)>,
}

/// The digest: the `digest --format json` shape. Fields may be added, not renamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestReport {
    pub jurisdiction: String,
    pub period: Period,
    #[serde(with = "local_ts")]
    pub generated_at: Timestamp,
    /// No new incidents in the period.
    pub quiet: bool,
    /// One paragraph of plain Chinese.
    pub summary: String,
    pub counts: Counts,
    /// Incidents opened in the period (merged ones left out), oldest first.
    pub new_incidents: Vec<IncidentLine>,
    /// Incidents open now, most urgent first; those without a clock (关注) last.
    pub open_incidents: Vec<IncidentLine>,
    pub deadlines: DeadlineStats,
    /// 回应与效果: responses recorded in the period and the 效果评估 that ended in it.
    #[serde(default)]
    pub responses: ResponseStats,
    pub top_terms: Vec<Term>,
    pub sources: SourceSummary,
    /// The period and the six before it, oldest first.
    pub trend: Vec<TrendDay>,
    /// 留言答复: board reply rates and overdue posts (empty without tracked boards).
    #[serde(default)]
    pub replies: ReplySummary,
    /// 文件时限: one row per document clock with tracked documents (empty without).
    #[serde(default)]
    pub document_clocks: Vec<DocumentClockRow>,
}

/// Counts of incidents per level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelCounts {
    #[serde(rename = "I")]
    pub i: u32,
    #[serde(rename = "II")]
    pub ii: u32,
    #[serde(rename = "III")]
    pub iii: u32,
    #[serde(rename = "IV")]
    pub iv: u32,
    pub watch: u32,
}

/// Levels in display order, most severe first.
pub const LEVELS: [Level; 5] = [Level::I, Level::II, Level::III, Level::IV, Level::Watch];

impl LevelCounts {
    pub fn get(&self, level: Level) -> u32 {
        match level {
            Level::I => self.i,
            Level::II => self.ii,
            Level::III => self.iii,
            Level::IV => self.iv,
            Level::Watch => self.watch,
        }
    }

    fn add(&mut self, level: Level) {
        let slot = match level {
            Level::I => &mut self.i,
            Level::II => &mut self.ii,
            Level::III => &mut self.iii,
            Level::IV => &mut self.iv,
            Level::Watch => &mut self.watch,
        };
        *slot += 1;
    }

    pub fn total(&self) -> u32 {
        LEVELS.iter().map(|l| self.get(*l)).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Items first seen in the period, all sources.
    pub items: u32,
    /// Of those, flagged by the classifier.
    pub flagged_items: u32,
    /// Incidents opened in the period, dismissed and merged ones left out.
    pub new_incidents: u32,
    /// Incidents opened in the period and since dismissed as 误报.
    pub dismissed: u32,
    /// Incidents closed (办结) in the period.
    pub closed: u32,
    /// Incidents open now.
    pub open: u32,
    /// New incidents per level.
    pub by_level: LevelCounts,
    /// New incidents per topic (an incident counts once for each of its topics), most first.
    pub by_topic: Vec<TopicCount>,
    /// Per source (channel): items, flagged items and new incidents carried; every configured source.
    pub by_source: Vec<SourceCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicCount {
    pub topic: String,
    pub name: String,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCount {
    pub source: String,
    pub name: String,
    pub items: u32,
    pub flagged: u32,
    pub incidents: u32,
}

/// One incident as the digest shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentLine {
    pub id: IncidentId,
    pub title: String,
    pub level: Level,
    pub status: Status,
    pub unit: Option<String>,
    pub topics: Vec<String>,
    pub sources: Vec<String>,
    pub items: usize,
    #[serde(with = "local_ts")]
    pub event_at: Timestamp,
    #[serde(with = "local_ts")]
    pub opened_at: Timestamp,
    /// The soonest unmet deadline, for open incidents with a clock.
    pub next_due: Option<NextDue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextDue {
    pub milestone: Milestone,
    #[serde(with = "local_ts")]
    pub due_at: Timestamp,
    /// Seconds from the digest time to `due_at`; negative once overdue.
    pub left_secs: i64,
}

/// How one deadline due in the period turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineOutcome {
    OnTime,
    Late,
    Missed,
}

/// Deadlines due in the period and how they were met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadlineStats {
    /// Public milestones (发布权威信息, 新闻发布会, 回应) together.
    pub overall: RateRow,
    /// Every milestone, 签收 included, in a fixed order.
    pub by_milestone: Vec<RateRow>,
    /// Public milestones per responsible unit, lowest rate first.
    pub by_unit: Vec<RateRow>,
    /// Deadlines due in the period met late or not at all, in due order.
    pub breaches: Vec<Breach>,
}

/// On-time figures for one group of deadlines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateRow {
    /// Milestone id, unit name, or `public`.
    pub key: String,
    /// What to show: 发布权威信息, 市应急管理局, …
    pub name: String,
    pub due: u32,
    pub on_time: u32,
    pub late: u32,
    pub missed: u32,
    /// `on_time / due`, `null` when nothing fell due.
    pub rate: Option<f64>,
}

/// A deadline due in the period that was met late or not at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    pub incident: IncidentId,
    pub title: String,
    pub level: Level,
    pub unit: Option<String>,
    pub milestone: Milestone,
    #[serde(with = "local_ts")]
    pub due_at: Timestamp,
    #[serde(with = "local_ts::option")]
    pub met_at: Option<Timestamp>,
    pub outcome: DeadlineOutcome,
    /// How late: to `met_at`, to `closed_at`, or to the digest time while still missing
    /// (negative when the incident was closed before the deadline fell due).
    pub overdue_secs: i64,
    /// When the incident was closed (办结) with this milestone unmet.
    #[serde(
        default,
        with = "local_ts::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub closed_at: Option<Timestamp>,
}

/// 回应与效果: the response milestones (发布权威信息, 新闻发布会, 回应) met in the
/// period, and the 效果评估 whose window ended in it. Dismissed and merged incidents
/// are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseStats {
    /// Responses met in the period, in time order.
    pub responses: Vec<ResponseLine>,
    /// Of those, first responses of their incident.
    pub first_responses: u32,
    /// Mean time from the opening (立案) to the first response, over those; `null` when none.
    pub mean_to_first_secs: Option<i64>,
    /// Evaluations whose window ended in the period, by incident.
    pub verdicts: Vec<VerdictLine>,
}

/// One response met in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseLine {
    pub incident: IncidentId,
    pub title: String,
    pub level: Level,
    pub milestone: Milestone,
    #[serde(with = "local_ts")]
    pub met_at: Timestamp,
    /// The incident's first response.
    pub first: bool,
    /// Seconds from the opening (立案) to this response; 0 when recorded as earlier.
    pub since_opened_secs: i64,
}

/// One 效果评估 that ended in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictLine {
    pub incident: IncidentId,
    pub title: String,
    pub verdict: crate::model::Verdict,
    pub before: u32,
    pub after: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Term {
    pub term: String,
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSummary {
    /// Configured sources.
    pub total: u32,
    /// Sources whose last poll failed, longest failing first.
    pub failing: Vec<FailingSource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailingSource {
    pub source: String,
    pub name: String,
    /// Start of the current failure episode.
    #[serde(with = "local_ts::option")]
    pub since: Option<Timestamp>,
    /// Seconds from `since` to the digest time.
    pub failing_secs: Option<i64>,
    /// Consecutive failed polls.
    pub failures: u32,
    pub last_error: Option<String>,
    #[serde(with = "local_ts::option")]
    pub last_ok_at: Option<Timestamp>,
}

/// New incidents of one period of the trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendDay {
    /// `MM-DD`, the date the span starts on.
    pub label: String,
    #[serde(with = "local_ts")]
    pub start: Timestamp,
    #[serde(with = "local_ts")]
    pub end: Timestamp,
    pub total: u32,
    pub by_level: LevelCounts,
}

/// Timestamps in the report as RFC 3339 with the +08:00 offset; any offset is read back.
mod local_ts {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::model::Timestamp;

    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::time::rfc3339(*ts))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        Timestamp::deserialize(d)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            match ts {
                Some(ts) => super::serialize(ts, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
            Option::<Timestamp>::deserialize(d)
        }
    }
}
