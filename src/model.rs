//! The domain's shared vocabulary: items, classifications, incidents, deadlines,
//! audit entries and notices. Plain data, serde-serializable, no IO. Every other
//! module speaks in these types; `store` persists them as JSON.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod notice_key;
pub use notice_key::{BadNoticeKey, NoticeKey, ReplyStep};

/// The default taxonomy (`taxonomy.md`): topic id → Chinese name. Deployments may add
/// topics in their dictionaries; use [`topic_name`] to show any id.
pub const DEFAULT_TOPICS: [(&str, &str); 17] = [
    ("epidemic", "疫情防控"),
    ("finance", "经济金融"),
    ("wage_arrears", "工资拖欠"),
    ("environment", "生态环境"),
    ("food_drug", "食药安全"),
    ("education", "教育"),
    ("health", "医疗卫生"),
    ("elderly", "养老社保"),
    ("work_safety", "安全生产"),
    ("market", "市场监管"),
    ("real_estate", "房地产"),
    ("hardship", "困难群众"),
    ("land", "征地拆迁"),
    ("disaster", "自然灾害"),
    ("accident", "事故灾难"),
    ("public_security", "社会安全"),
    ("conduct", "干部作风"),
];

/// The Chinese name of a default topic, or the id itself for one a deployment added.
pub fn topic_name(id: &str) -> &str {
    DEFAULT_TOPICS
        .iter()
        .find(|(topic, _)| *topic == id)
        .map_or(id, |(_, name)| name)
}

/// A timestamp. Stored and exchanged in UTC; shown in Asia/Shanghai (see [`crate::time`]).
pub type Timestamp = DateTime<Utc>;

/// Incident id: a small, stable, human-typable number.
pub type IncidentId = u64;

/// Severity, I most severe. `Watch` (关注) is flagged but carries no clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Level {
    I,
    II,
    III,
    IV,
    #[serde(rename = "watch")]
    Watch,
}

impl Level {
    /// Every level, most severe first. The ledger's summary rows store a level as its
    /// index here: append only.
    pub const ALL: [Level; 5] = [Level::I, Level::II, Level::III, Level::IV, Level::Watch];

    /// Higher is more severe: I = 4 … IV = 1, watch = 0.
    pub fn rank(self) -> u8 {
        match self {
            Level::I => 4,
            Level::II => 3,
            Level::III => 2,
            Level::IV => 1,
            Level::Watch => 0,
        }
    }

    /// The more severe of two levels.
    pub fn max(self, other: Level) -> Level {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    /// One level more severe (I stays I, watch becomes IV).
    pub fn raised(self) -> Level {
        match self {
            Level::I | Level::II => Level::I,
            Level::III => Level::II,
            Level::IV => Level::III,
            Level::Watch => Level::IV,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::I => "I",
            Level::II => "II",
            Level::III => "III",
            Level::IV => "IV",
            Level::Watch => "watch",
        }
    }

    /// The Chinese grade name: 特别重大, 重大, 较大, 一般, 关注.
    pub fn chinese(self) -> &'static str {
        match self {
            Level::I => "特别重大",
            Level::II => "重大",
            Level::III => "较大",
            Level::IV => "一般",
            Level::Watch => "关注",
        }
    }

    /// The milestones whose clocks run at this level, ack first.
    pub fn milestones(self) -> &'static [Milestone] {
        match self {
            Level::I | Level::II => &[Milestone::Ack, Milestone::Statement, Milestone::Press],
            Level::III | Level::IV => &[Milestone::Ack, Milestone::Response],
            Level::Watch => &[],
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "I" | "i" | "1" => Ok(Level::I),
            "II" | "ii" | "2" => Ok(Level::II),
            "III" | "iii" | "3" => Ok(Level::III),
            "IV" | "iv" | "4" => Ok(Level::IV),
            "watch" | "WATCH" | "关注" => Ok(Level::Watch),
            other => Err(format!("等级“{other}”无效；可选 I、II、III、IV、watch")),
        }
    }
}

/// Incident lifecycle: new → acknowledged → responded → closed; or dismissed / merged.
///
/// The open statuses (new, acknowledged, responded) are not set by hand: they follow
/// from the incident's deadlines through [`Incident::settle_status`], the one place
/// they are decided, so the status cannot contradict the clocks:
/// - `responded` (已回应) when every public milestone of the current level (all but
///   签收: 发布权威信息 and 新闻发布会 for I–II, 回应 for III–IV) is recorded;
/// - else `acknowledged` (已签收) when the incident was acknowledged;
/// - else `new` (待签收).
///
/// A watch (关注) incident has no clock: it reads 关注中 while open and 已归档 once
/// closed ([`Status::label`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    New,
    Acknowledged,
    Responded,
    Closed,
    Dismissed,
    Merged,
}

impl Status {
    /// Every status, the open ones first. The ledger's summary rows store a status as
    /// its index here: append only.
    pub const ALL: [Status; 6] = [
        Status::New,
        Status::Acknowledged,
        Status::Responded,
        Status::Closed,
        Status::Dismissed,
        Status::Merged,
    ];

    /// Still open: clocks run and it is listed by default.
    pub fn is_open(self) -> bool {
        matches!(self, Status::New | Status::Acknowledged | Status::Responded)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Acknowledged => "acknowledged",
            Status::Responded => "responded",
            Status::Closed => "closed",
            Status::Dismissed => "dismissed",
            Status::Merged => "merged",
        }
    }

    /// The Chinese word for this status of an incident at `level`: as [`Status::chinese`],
    /// except that a watch (关注) incident, which has no clock to acknowledge or answer,
    /// reads 关注中 while open and 已归档 once closed.
    pub fn label(self, level: Level) -> &'static str {
        match (self, level) {
            (s, Level::Watch) if s.is_open() => "关注中",
            (Status::Closed, Level::Watch) => "已归档",
            (s, _) => s.chinese(),
        }
    }

    pub fn chinese(self) -> &'static str {
        match self {
            Status::New => "待签收",
            Status::Acknowledged => "已签收",
            Status::Responded => "已回应",
            Status::Closed => "已办结",
            Status::Dismissed => "误报",
            Status::Merged => "已合并",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A milestone with a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Milestone {
    /// 签收
    Ack,
    /// 发布权威信息 (levels I–II)
    Statement,
    /// 新闻发布会 (levels I–II)
    Press,
    /// 回应 (levels III–IV)
    Response,
}

impl Milestone {
    /// Every milestone, in the order of a level's clocks and of the export's columns.
    pub const ALL: [Milestone; 4] = [
        Milestone::Ack,
        Milestone::Statement,
        Milestone::Press,
        Milestone::Response,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Milestone::Ack => "ack",
            Milestone::Statement => "statement",
            Milestone::Press => "press",
            Milestone::Response => "response",
        }
    }

    pub fn chinese(self) -> &'static str {
        match self {
            Milestone::Ack => "签收",
            Milestone::Statement => "发布权威信息",
            Milestone::Press => "举行新闻发布会",
            Milestone::Response => "回应",
        }
    }
}

impl fmt::Display for Milestone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Milestone {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "ack" => Ok(Milestone::Ack),
            "statement" => Ok(Milestone::Statement),
            "press" => Ok(Milestone::Press),
            "response" => Ok(Milestone::Response),
            other => Err(format!(
                "节点“{other}”无效；可选 statement（发布权威信息）、press（新闻发布会）、response（回应）"
            )),
        }
    }
}

/// A milestone's state at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeadlineState {
    Pending,
    Met,
    Overdue,
    /// The incident was closed (or its clock stopped: dismissed, merged) with the
    /// milestone unmet. It counts as missed, never as "not yet due".
    Missed,
}

/// One clock of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub milestone: Milestone,
    pub due_at: Timestamp,
    pub met_at: Option<Timestamp>,
}

impl Deadline {
    /// Met when recorded (on time or late); overdue when unmet past due; else pending.
    pub fn state(&self, now: Timestamp) -> DeadlineState {
        match self.met_at {
            Some(_) => DeadlineState::Met,
            None if now >= self.due_at => DeadlineState::Overdue,
            None => DeadlineState::Pending,
        }
    }

    /// Whether it was (or is being) met on time.
    pub fn on_time(&self) -> Option<bool> {
        self.met_at.map(|met| met <= self.due_at)
    }
}

/// What the classifier concluded about one item (the `classify --json` shape).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Classification {
    pub flag: bool,
    /// Topic ids of taxonomy.md, primary first.
    pub topics: Vec<String>,
    /// I–IV for flagged items, `None` otherwise. Never `Watch`: that is an incident grade.
    pub severity: Option<Level>,
    pub deaths: Option<u32>,
    pub injured: Option<u32>,
    pub seriously_injured: Option<u32>,
    pub places: Vec<String>,
    pub local: bool,
    pub unit: Option<String>,
    /// The government of the first town of the jurisdiction named (属地管理,
    /// 景芝镇 → 景芝镇人民政府); absent when no town is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub government: Option<String>,
    pub score: f64,
    /// Calibrated probability (0–1) that the item warrants an alert, from the learned
    /// model (see `classify::model`). Records stored before it existed read as 0.
    #[serde(default)]
    pub confidence: f64,
    pub matches: Vec<TermMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermMatch {
    pub term: String,
    pub topic: String,
}

/// How a publication date was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DateQuality {
    /// Parsed and plausible.
    Credible,
    /// Parsed, but in the future or before 2000: kept, not trusted for clocks.
    Implausible,
}

/// One stored item: a news article or a message-board post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub source: String,
    /// Stable per source: guid, else link, else normalized title.
    pub key: String,
    pub title: String,
    pub link: Option<String>,
    pub body: String,
    pub published: Option<Timestamp>,
    pub date_quality: Option<DateQuality>,
    pub first_seen: Timestamp,
    pub updated_at: Timestamp,
    /// How many times its text changed after first seen.
    pub revisions: u32,
    pub classification: Option<Classification>,
    /// The incident it belongs to, once one is opened or joined.
    pub incident: Option<IncidentId>,
}

impl Item {
    /// The publication time if credible: what an incident's clock may start from.
    pub fn credible_published(&self) -> Option<Timestamp> {
        match self.date_quality {
            Some(DateQuality::Credible) => self.published,
            _ => None,
        }
    }

    /// An item with only its identity and times, for unit tests to fill in.
    #[cfg(test)]
    pub(crate) fn bare(source: &str, key: &str, seen: Timestamp) -> Item {
        Item {
            source: source.into(),
            key: key.into(),
            title: String::new(),
            link: None,
            body: String::new(),
            published: None,
            date_quality: None,
            first_seen: seen,
            updated_at: seen,
            revisions: 0,
            classification: None,
            incident: None,
        }
    }
}

/// A reference from an incident to one of its items: identified by source and key
/// (equality, order and hash use only these); the source's display name and the
/// item's link, as they were when the item was attached, are what mails show.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemRef {
    pub source: String,
    pub key: String,
    /// The source's `name` from feeds.toml (absent in records written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// The item's own link (absent when the item had none, and in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// What the item said, kept for the item that opened the incident only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<Box<Lead>>,
}

/// The opening of the item that opened an incident, for the mail: its first sentences
/// and the casualty figures its classification read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lead {
    pub excerpt: String,
    pub deaths: Option<u32>,
    pub injured: Option<u32>,
    pub seriously_injured: Option<u32>,
    /// The town government answerable for it (属地), when the item named a town.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub government: Option<String>,
}

impl ItemRef {
    /// The identity of the referenced item.
    fn id(&self) -> (&str, &str) {
        (&self.source, &self.key)
    }
}

impl PartialEq for ItemRef {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for ItemRef {}

impl PartialOrd for ItemRef {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ItemRef {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.id().cmp(&other.id())
    }
}

impl std::hash::Hash for ItemRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

/// The clock figures in force when an incident opened (snapshotted onto it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySnapshot {
    pub ack_secs: u64,
    pub statement_secs: u64,
    pub press_secs: u64,
    pub response_secs: u64,
    pub remind_at: Vec<f64>,
    pub overdue_repeat_secs: u64,
    /// 效果评估 window (`[policy] effect_window`); incidents stored before it existed
    /// read the default, 24 h.
    #[serde(default = "default_effect_secs")]
    pub effect_secs: u64,
}

fn default_effect_secs() -> u64 {
    24 * 3600
}

impl From<&crate::config::Policy> for PolicySnapshot {
    fn from(p: &crate::config::Policy) -> Self {
        PolicySnapshot {
            ack_secs: p.ack.0.as_secs(),
            statement_secs: p.statement.0.as_secs(),
            press_secs: p.press.0.as_secs(),
            response_secs: p.response.0.as_secs(),
            remind_at: p.remind_at.clone(),
            overdue_repeat_secs: p.overdue_repeat.0.as_secs(),
            effect_secs: p.effect_window.0.as_secs(),
        }
    }
}

impl PolicySnapshot {
    /// The window of a milestone, in seconds.
    pub fn window_secs(&self, milestone: Milestone) -> u64 {
        match milestone {
            Milestone::Ack => self.ack_secs,
            Milestone::Statement => self.statement_secs,
            Milestone::Press => self.press_secs,
            Milestone::Response => self.response_secs,
        }
    }
}

/// An incident in the ledger (台账).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentId,
    pub title: String,
    pub level: Level,
    /// The level the items alone gave, before regrades; kept for the audit trail.
    pub detected_level: Level,
    pub status: Status,
    pub topics: Vec<String>,
    pub unit: Option<String>,
    pub places: Vec<String>,
    pub local: bool,
    /// When the event happened: earliest credible publication, else detection.
    pub event_at: Timestamp,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    pub items: Vec<ItemRef>,
    pub sources: BTreeSet<String>,
    /// Segmented key terms, for matching later items to this incident.
    pub terms: Vec<String>,
    pub deadlines: Vec<Deadline>,
    pub policy: PolicySnapshot,
    pub merged_into: Option<IncidentId>,
    /// The government's own responses recognised for it (issue 12), numbered from 1 in
    /// the order recognised; one rejected by an officer stays, marked `unlinked`.
    #[serde(default)]
    pub responses: Vec<Response>,
    /// The 效果评估, recorded once when its window ended (see `clock::effect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
}

impl Incident {
    /// What the item that opened the incident said (absent in records kept before leads were).
    pub fn lead(&self) -> Option<&Lead> {
        self.items.first().and_then(|i| i.lead.as_deref())
    }

    pub fn deadline(&self, milestone: Milestone) -> Option<&Deadline> {
        self.deadlines.iter().find(|d| d.milestone == milestone)
    }

    /// A deadline's state as the ledger reports it: as [`Deadline::state`] while the
    /// incident is open; once it is closed, dismissed or merged an unmet deadline's
    /// clock has stopped, and it is missed.
    pub fn deadline_state(&self, deadline: &Deadline, now: Timestamp) -> DeadlineState {
        if deadline.met_at.is_none() && !self.status.is_open() {
            DeadlineState::Missed
        } else {
            deadline.state(now)
        }
    }

    /// Its unmet deadlines (all of its current level: met ones of an earlier level are
    /// kept as history, unmet ones are not), what closing would leave undone.
    pub fn unmet(&self) -> impl Iterator<Item = &Deadline> {
        self.deadlines.iter().filter(|d| d.met_at.is_none())
    }

    /// Brings an open incident's status in line with its level and deadlines (see
    /// [`Status`]); `acknowledged`: whether anyone has acknowledged it (签收, also
    /// while it was a watch incident without an ack clock). Closed, dismissed and
    /// merged incidents keep their status.
    pub fn settle_status(&mut self, acknowledged: bool) {
        if !self.status.is_open() {
            return;
        }
        let met = |m: &Milestone| {
            self.deadlines
                .iter()
                .any(|d| d.milestone == *m && d.met_at.is_some())
        };
        let mut public = self
            .level
            .milestones()
            .iter()
            .filter(|m| **m != Milestone::Ack)
            .peekable();
        self.status = if public.peek().is_some() && public.all(met) {
            Status::Responded
        } else if acknowledged || met(&Milestone::Ack) {
            Status::Acknowledged
        } else {
            Status::New
        };
    }

    /// The soonest unmet deadline, for sorting and "time left".
    pub fn next_due(&self) -> Option<&Deadline> {
        self.deadlines
            .iter()
            .filter(|d| d.met_at.is_none())
            .min_by_key(|d| d.due_at)
    }
}

/// An official response recognised for an incident (`crate::respond`): a 情况通报, a
/// press conference, a 续报 … published by the government itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// 1, 2, … in the order recognised; never reused (notice key `ID/responses/N`).
    pub n: u32,
    pub title: String,
    pub url: Option<String>,
    /// The source id it came from.
    pub source: String,
    /// Its credible publication time, else the time it was found.
    pub published_at: Timestamp,
    /// The milestone it met: `None` for a 续报, or while it is only a suggestion.
    pub milestone: Option<Milestone>,
    /// With `[policy] auto_milestones = false`: the milestone it would meet, for an
    /// officer to confirm (`yuqing milestone ID KIND --from-response N`).
    #[serde(default)]
    pub suggested: Option<Milestone>,
    /// `自动识别` ([`RECOGNISED_BY`]), or the officer who confirmed it.
    pub by: String,
    /// The item it is.
    pub item: ItemRef,
    /// Rejected by an officer (`yuqing unlink`): kept for the record, shown nowhere.
    #[serde(default)]
    pub unlinked: bool,
}

/// Who recorded an automatically recognised response.
pub const RECOGNISED_BY: &str = "自动识别";

impl Incident {
    /// Its responses, without those an officer rejected.
    pub fn linked_responses(&self) -> impl Iterator<Item = &Response> {
        self.responses.iter().filter(|r| !r.unlinked)
    }
}

/// The 效果评估 verdict (see `clock::effect` for the rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The window after the first response has not ended yet.
    Pending,
    /// After ≤ half of before: the response calmed it.
    Calming,
    /// Neither calming nor rising.
    Steady,
    /// After > before: still growing, a second response is advised.
    Rising,
    /// Fewer than 3 items in both windows together: too few to judge.
    Insufficient,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pending => "pending",
            Verdict::Calming => "calming",
            Verdict::Steady => "steady",
            Verdict::Rising => "rising",
            Verdict::Insufficient => "insufficient",
        }
    }

    /// 待评估, 平息, 平稳, 升温, 数据不足.
    pub fn chinese(self) -> &'static str {
        match self {
            Verdict::Pending => "待评估",
            Verdict::Calming => "平息",
            Verdict::Steady => "平稳",
            Verdict::Rising => "升温",
            Verdict::Insufficient => "数据不足",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An incident's 效果评估: items about it in the window before and after its first response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effect {
    pub verdict: Verdict,
    pub before: u32,
    pub after: u32,
    /// The first response: the earliest met statement, press or response milestone.
    pub first_response: Timestamp,
    pub window_secs: u64,
}

/// One immutable line of an incident's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub incident: IncidentId,
    pub at: Timestamp,
    /// A person's name (`--by`), or `system` for the daemon's own changes.
    pub by: String,
    /// Machine-readable action: `opened`, `item_added`, `ack`, `milestone`, `level`, …
    pub action: String,
    /// Human-readable detail, in Chinese.
    pub detail: String,
    /// The reason given, where one is required.
    pub reason: Option<String>,
}

/// A mail to send, as queued in the outbox. Everything needed to render it is
/// inside, so a retry after a crash renders the same mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// The `X-Yuqing-Notice` key: unique per notice and recipient list, identical on resend,
    /// e.g. `42/opened`, `42/statement/80`, `42/press/overdue/3`, `digest/2026-11-24`,
    /// `source/anqiu-board/failing/3`.
    pub key: String,
    /// Resolved recipient addresses.
    pub to: Vec<String>,
    pub created_at: Timestamp,
    pub kind: NoticeKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NoticeKind {
    /// A new incident: duty, propaganda and the lead unit.
    Opened { incident: Box<Incident> },
    /// A window is `percent` elapsed (reminder at the first fraction, escalation at later ones).
    Reminder {
        incident: Box<Incident>,
        milestone: Milestone,
        percent: u8,
        escalation: bool,
    },
    /// A window has closed unmet; `repeat` counts the overdue notices of this clock
    /// queued so far, this one included (from 1; the key's number counts repeat
    /// periods elapsed, which after downtime is larger).
    Overdue {
        incident: Box<Incident>,
        milestone: Milestone,
        repeat: u32,
    },
    /// The 效果评估 found the talk rising after the first response (its `effect`
    /// holds the counts): propaganda and office are advised to respond again; once.
    EffectRising { incident: Box<Incident> },
    /// A source has been failing longer than allowed; once per episode.
    SourceFailing {
        source: String,
        name: String,
        since: Timestamp,
        error: String,
        episode: u32,
    },
    /// A mail that could not be delivered (permanent failure), reported to duty.
    DeadLetter {
        original_key: String,
        original_to: Vec<String>,
        error: String,
        /// The subject the lost mail had, so duty can tell what it was.
        #[serde(default)]
        original_subject: String,
    },
    /// An official response recognised for an incident: duty and propaganda.
    Response { incident: Box<Incident>, n: u32 },
    /// A notice about something other than an incident (calendar running out, board
    /// replies, policy interpretations), written by the module that queues it: a subject,
    /// paragraphs and suggested commands (label, command line).
    Bulletin {
        subject: String,
        paragraphs: Vec<String>,
        #[serde(default)]
        commands: Vec<(String, String)>,
    },
    /// The daily digest, rendered when it was queued.
    Digest {
        date: chrono::NaiveDate,
        late: bool,
        subject: String,
        text: String,
        html: String,
    },
}

impl Notice {
    /// The incident this notice concerns, if any (for `X-Yuqing-Incident` and threading).
    pub fn incident(&self) -> Option<&Incident> {
        match &self.kind {
            NoticeKind::Opened { incident }
            | NoticeKind::Reminder { incident, .. }
            | NoticeKind::Overdue { incident, .. }
            | NoticeKind::Response { incident, .. } => Some(incident),
            NoticeKind::EffectRising { incident } => Some(incident),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_serializes_per_contract() {
        let json = serde_json::to_string(&[Level::I, Level::IV, Level::Watch]).unwrap();
        assert_eq!(json, r#"["I","IV","watch"]"#);
        assert_eq!("watch".parse::<Level>(), Ok(Level::Watch));
        assert!("V".parse::<Level>().is_err());
    }

    #[test]
    fn level_order_and_raise() {
        assert_eq!(Level::III.max(Level::II), Level::II);
        assert_eq!(Level::Watch.max(Level::IV), Level::IV);
        assert_eq!(Level::IV.raised(), Level::III);
        assert_eq!(Level::I.raised(), Level::I);
        assert_eq!(
            Level::II.milestones(),
            &[Milestone::Ack, Milestone::Statement, Milestone::Press]
        );
        assert!(Level::Watch.milestones().is_empty());
    }

    #[test]
    fn status_follows_the_deadlines_of_the_level() {
        let t: Timestamp = "2026-11-24T00:00:00Z".parse().unwrap();
        let d = |milestone, met: bool| Deadline {
            milestone,
            due_at: t,
            met_at: met.then_some(t),
        };
        use Milestone::{Ack, Press, Response, Statement};
        let table = [
            (
                Level::II,
                vec![d(Ack, false), d(Statement, false), d(Press, false)],
                false,
                Status::New,
            ),
            (
                Level::II,
                vec![d(Ack, true), d(Statement, false), d(Press, false)],
                true,
                Status::Acknowledged,
            ),
            // The statement alone leaves the press conference open.
            (
                Level::II,
                vec![d(Ack, true), d(Statement, true), d(Press, false)],
                true,
                Status::Acknowledged,
            ),
            (
                Level::II,
                vec![d(Ack, true), d(Statement, true), d(Press, true)],
                true,
                Status::Responded,
            ),
            // Responded at IV, then regraded to II: a met response is history.
            (
                Level::II,
                vec![
                    d(Ack, true),
                    d(Statement, false),
                    d(Press, false),
                    d(Response, true),
                ],
                true,
                Status::Acknowledged,
            ),
            (
                Level::IV,
                vec![d(Ack, true), d(Response, true)],
                true,
                Status::Responded,
            ),
            (Level::Watch, vec![], false, Status::New),
            (Level::Watch, vec![], true, Status::Acknowledged),
        ];
        for (level, deadlines, acked, want) in table {
            let mut incident = crate::api::views::tests::incident(1, "x");
            incident.level = level;
            incident.deadlines = deadlines;
            incident.status = Status::Responded;
            incident.settle_status(acked);
            assert_eq!(incident.status, want, "{level} {:?}", incident.deadlines);
        }
        // Finished incidents keep their status; unmet deadlines are missed.
        let mut closed = crate::api::views::tests::incident(1, "x");
        closed.status = Status::Closed;
        closed.settle_status(true);
        assert_eq!(closed.status, Status::Closed);
        assert_eq!(
            closed.deadline_state(&closed.deadlines[1], t),
            DeadlineState::Missed
        );
        assert_eq!(
            closed.deadline_state(&closed.deadlines[0], t),
            DeadlineState::Met
        );
    }

    #[test]
    fn watch_incidents_are_watched_then_filed() {
        assert_eq!(Status::New.label(Level::Watch), "关注中");
        assert_eq!(Status::Acknowledged.label(Level::Watch), "关注中");
        assert_eq!(Status::Closed.label(Level::Watch), "已归档");
        assert_eq!(Status::Dismissed.label(Level::Watch), "误报");
        assert_eq!(Status::New.label(Level::IV), "待签收");
        assert_eq!(Status::Closed.label(Level::II), "已办结");
    }

    #[test]
    fn deadline_states() {
        let due: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        let before: Timestamp = "2026-11-24T09:00:00Z".parse().unwrap();
        let after: Timestamp = "2026-11-24T11:00:00Z".parse().unwrap();
        let mut d = Deadline {
            milestone: Milestone::Statement,
            due_at: due,
            met_at: None,
        };
        assert_eq!(d.state(before), DeadlineState::Pending);
        assert_eq!(d.state(after), DeadlineState::Overdue);
        d.met_at = Some(after);
        assert_eq!(d.state(after), DeadlineState::Met);
        assert_eq!(d.on_time(), Some(false));
    }
}
