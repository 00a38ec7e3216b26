//! The JSON the control API speaks, shared by the server and the CLI.
//!
//! The incident shape is the one of `interface.md` (`list --json`, `show --json`);
//! fields may be added, never renamed. Times are serialized as RFC 3339 in Beijing
//! time (`+08:00`, via [`crate::time::rfc3339`]) and read back as UTC timestamps.

use serde::{Deserialize, Serialize, Serializer};

use crate::model::{
    AuditEntry, Deadline, DeadlineState, Effect, Incident, IncidentId, Item, Level, Milestone,
    Response, Status, Timestamp, Verdict,
};

fn ts<S: Serializer>(value: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::rfc3339(*value))
}

fn opt_ts<S: Serializer>(value: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => ts(value, s),
        None => s.serialize_none(),
    }
}

/// One clock of an incident, with its state at the moment the answer was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadlineView {
    pub milestone: Milestone,
    #[serde(serialize_with = "ts")]
    pub due_at: Timestamp,
    #[serde(serialize_with = "opt_ts")]
    pub met_at: Option<Timestamp>,
    pub state: DeadlineState,
}

impl DeadlineView {
    /// One deadline of `incident`, with its state at `now` (missed once the incident
    /// is finished with it unmet, see [`Incident::deadline_state`]).
    pub fn new(incident: &Incident, deadline: &Deadline, now: Timestamp) -> DeadlineView {
        DeadlineView {
            milestone: deadline.milestone,
            due_at: deadline.due_at,
            met_at: deadline.met_at,
            state: incident.deadline_state(deadline, now),
        }
    }

    /// Whether it was met on time; `None` while unmet.
    pub fn on_time(&self) -> Option<bool> {
        self.met_at.map(|met| met <= self.due_at)
    }
}

/// The query of `GET /v1/incidents`: which incidents, how many (see
/// [`crate::store::ListFilter`] for the rule). `since` also serves `GET /v1/export`.
/// The answer carries the number of matches before `limit` in [`TOTAL_HEADER`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub all: bool,
    #[serde(default)]
    pub limit: Option<usize>,
    /// Changed at or after (RFC 3339).
    #[serde(default)]
    pub since: Option<Timestamp>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub level: Option<Level>,
    #[serde(default)]
    pub status: Option<Status>,
}

/// The response header of `GET /v1/incidents` with the number of matches before `limit`.
pub const TOTAL_HEADER: &str = "x-yuqing-total";

/// The response header of `GET /v1/incidents` with the largest id it lists (absent when
/// it lists none): the width of the table's 编号 column before the first row arrives.
pub const MAX_ID_HEADER: &str = "x-yuqing-max-id";

impl ListQuery {
    pub fn filter(&self) -> crate::store::ListFilter {
        crate::store::ListFilter {
            all: self.all,
            status: self.status,
            level: self.level,
            unit: self.unit.clone(),
            since: self.since,
            limit: self.limit,
        }
    }

    /// The URL query string (`all=true&limit=…`), values percent-encoded.
    pub fn to_query(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("all", if self.all { "true" } else { "false" });
        if let Some(limit) = self.limit {
            query.append_pair("limit", &limit.to_string());
        }
        if let Some(since) = self.since {
            query.append_pair("since", &crate::time::rfc3339(since));
        }
        if let Some(unit) = &self.unit {
            query.append_pair("unit", unit);
        }
        if let Some(level) = self.level {
            query.append_pair("level", &wire(&level));
        }
        if let Some(status) = self.status {
            query.append_pair("status", &wire(&status));
        }
        query.finish()
    }
}

/// A value's name on the wire (its serde name: `watch`, `acknowledged`).
fn wire<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// An incident as `list --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentView {
    pub id: IncidentId,
    pub title: String,
    pub level: Level,
    pub status: Status,
    pub topics: Vec<String>,
    pub unit: Option<String>,
    #[serde(serialize_with = "ts")]
    pub event_at: Timestamp,
    #[serde(serialize_with = "ts")]
    pub opened_at: Timestamp,
    /// How many items the incident holds.
    pub items: usize,
    pub deadlines: Vec<DeadlineView>,
    // Fields beyond the contract's minimum.
    /// The level the items alone gave, before any regrade.
    pub detected_level: Level,
    pub places: Vec<String>,
    pub local: bool,
    /// Source ids that carried the story.
    pub sources: Vec<String>,
    #[serde(serialize_with = "ts")]
    pub updated_at: Timestamp,
    pub merged_into: Option<IncidentId>,
    /// The government's own responses recognised for it (rejected ones left out).
    #[serde(default)]
    pub responses: Vec<ResponseView>,
}

impl IncidentView {
    pub fn new(incident: &Incident, now: Timestamp) -> IncidentView {
        IncidentView {
            id: incident.id,
            title: incident.title.clone(),
            level: incident.level,
            status: incident.status,
            topics: incident.topics.clone(),
            unit: incident.unit.clone(),
            event_at: incident.event_at,
            opened_at: incident.opened_at,
            items: incident.items.len(),
            deadlines: incident
                .deadlines
                .iter()
                .map(|d| DeadlineView::new(incident, d, now))
                .collect(),
            detected_level: incident.detected_level,
            places: incident.places.clone(),
            local: incident.local,
            sources: incident.sources.iter().cloned().collect(),
            updated_at: incident.updated_at,
            merged_into: incident.merged_into,
            responses: incident
                .linked_responses()
                .map(ResponseView::from)
                .collect(),
        }
    }

    /// The soonest unmet deadline of an open incident: what "time left" counts down to.
    pub fn next_due(&self) -> Option<&DeadlineView> {
        if !self.status.is_open() {
            return None;
        }
        self.deadlines
            .iter()
            .filter(|d| d.met_at.is_none())
            .min_by_key(|d| d.due_at)
    }

    pub fn deadline(&self, milestone: Milestone) -> Option<&DeadlineView> {
        self.deadlines.iter().find(|d| d.milestone == milestone)
    }
}

/// One recognised official response, as `show --json` prints it (interface.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseView {
    pub n: u32,
    pub title: String,
    pub url: Option<String>,
    pub source: String,
    #[serde(serialize_with = "ts")]
    pub published_at: Timestamp,
    /// The milestone it met; null for a 续报 or an unconfirmed suggestion.
    pub milestone: Option<Milestone>,
    /// `自动识别` or the officer who confirmed it.
    pub by: String,
    // Beyond the contract's minimum.
    /// With `auto_milestones = false`: the milestone awaiting confirmation.
    #[serde(default)]
    pub suggested: Option<Milestone>,
}

impl From<&Response> for ResponseView {
    fn from(r: &Response) -> Self {
        ResponseView {
            n: r.n,
            title: r.title.clone(),
            url: r.url.clone(),
            source: r.source.clone(),
            published_at: r.published_at,
            milestone: r.milestone,
            by: r.by.clone(),
            suggested: r.suggested,
        }
    }
}

/// One item of an incident, for `show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemView {
    pub source: String,
    /// The source's display name from `feeds.toml` (its id if it is no longer configured).
    pub source_name: String,
    pub title: String,
    pub link: Option<String>,
    #[serde(serialize_with = "opt_ts")]
    pub published: Option<Timestamp>,
    #[serde(serialize_with = "ts")]
    pub first_seen: Timestamp,
    pub revisions: u32,
    pub topics: Vec<String>,
    pub severity: Option<Level>,
}

impl ItemView {
    pub fn new(item: &Item, source_name: &str) -> ItemView {
        let classification = item.classification.as_ref();
        ItemView {
            source: item.source.clone(),
            source_name: source_name.to_string(),
            title: item.title.clone(),
            link: item.link.clone(),
            published: item.published,
            first_seen: item.first_seen,
            revisions: item.revisions,
            topics: classification.map(|c| c.topics.clone()).unwrap_or_default(),
            severity: classification.and_then(|c| c.severity),
        }
    }
}

/// One line of an incident's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditView {
    #[serde(serialize_with = "ts")]
    pub at: Timestamp,
    pub by: String,
    pub action: String,
    pub detail: String,
    pub reason: Option<String>,
}

impl From<&AuditEntry> for AuditView {
    fn from(entry: &AuditEntry) -> Self {
        AuditView {
            at: entry.at,
            by: entry.by.clone(),
            action: entry.action.clone(),
            detail: entry.detail.clone(),
            reason: entry.reason.clone(),
        }
    }
}

/// The 效果评估 of an incident (`show --json`'s `"effect"`): the recorded verdict, or
/// `pending` with the counts so far while the window runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectView {
    pub verdict: Verdict,
    /// Items in the window before the first response.
    pub before: u32,
    /// Items in the window from the first response on.
    pub after: u32,
    /// The window, as the configuration writes it (`"24h"`).
    pub window: String,
    // Beyond the contract's minimum.
    /// The first response: the earliest met statement, press or response milestone.
    #[serde(serialize_with = "ts")]
    pub first_response: Timestamp,
    /// The window in seconds.
    pub window_secs: u64,
}

impl From<&Effect> for EffectView {
    fn from(effect: &Effect) -> EffectView {
        EffectView {
            verdict: effect.verdict,
            before: effect.before,
            after: effect.after,
            window: crate::clock::effect::window_code(effect.window_secs),
            first_response: effect.first_response,
            window_secs: effect.window_secs,
        }
    }
}

/// An incident as `show --json` prints it: the list shape plus its items, audit trail
/// and 效果评估 (`null` without a response).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: IncidentView,
    pub item_list: Vec<ItemView>,
    pub audit: Vec<AuditView>,
    #[serde(default)]
    pub effect: Option<EffectView>,
}

/// `POST /v1/incidents/{id}/ack`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AckRequest {
    pub by: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// What an acknowledgement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckResult {
    /// This request acknowledged it.
    Acknowledged,
    /// Someone had already acknowledged it; nothing changed but the audit line.
    AlreadyAcknowledged,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckResponse {
    pub result: AckResult,
    /// Who acknowledged it first, and when (for `already_acknowledged`).
    pub acknowledged_by: Option<String>,
    #[serde(serialize_with = "opt_ts")]
    pub acknowledged_at: Option<Timestamp>,
    pub incident: IncidentView,
}

/// `POST /v1/incidents/{id}/milestone`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MilestoneRequest {
    pub milestone: Milestone,
    pub by: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// When it was met; default now.
    #[serde(default)]
    pub at: Option<Timestamp>,
    /// Confirm recognised response N as this milestone (met at its publication time;
    /// `url` and `at` come from the response).
    #[serde(default)]
    pub from_response: Option<u32>,
}

/// `POST /v1/incidents/{id}/unlink`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnlinkRequest {
    /// The response's number.
    pub response: u32,
    pub by: String,
    pub reason: String,
}

/// `POST /v1/incidents/{id}/level`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LevelRequest {
    pub level: Level,
    pub by: String,
    pub reason: String,
}

/// `POST /v1/incidents/{id}/assign`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssignRequest {
    pub unit: String,
    pub by: String,
}

/// `POST /v1/incidents/{id}/close`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloseRequest {
    pub by: String,
    #[serde(default)]
    pub note: Option<String>,
    /// Required while a milestone of the incident's level is unmet.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /v1/incidents/{id}/dismiss`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DismissRequest {
    pub by: String,
    pub reason: String,
}

/// `POST /v1/incidents/{id}/merge`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MergeRequest {
    pub into: IncidentId,
    pub by: String,
}

/// How a source is doing, for `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceHealth {
    /// The last poll succeeded.
    Ok,
    /// The last poll failed.
    Failing,
    /// Not polled yet.
    Waiting,
    /// `enabled = false` in feeds.toml.
    Disabled,
}

impl SourceHealth {
    pub fn chinese(self) -> &'static str {
        match self {
            SourceHealth::Ok => "正常",
            SourceHealth::Failing => "异常",
            SourceHealth::Waiting => "待轮询",
            SourceHealth::Disabled => "已停用",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub id: String,
    pub name: String,
    pub health: SourceHealth,
    /// `health == ok`, for scripts that only want a boolean.
    pub ok: bool,
    #[serde(serialize_with = "opt_ts")]
    pub last_poll_at: Option<Timestamp>,
    #[serde(serialize_with = "opt_ts")]
    pub last_ok_at: Option<Timestamp>,
    #[serde(serialize_with = "opt_ts")]
    pub failing_since: Option<Timestamp>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_status: Option<u16>,
    pub items_total: u64,
}

/// `GET /v1/status`: daemon health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    pub version: String,
    #[serde(serialize_with = "ts")]
    pub started_at: Timestamp,
    #[serde(serialize_with = "ts")]
    pub now: Timestamp,
    pub data_dir: String,
    pub db_bytes: u64,
    pub items: usize,
    pub open_incidents: usize,
    /// Mails waiting in the outbox (chat cards are counted per channel in `channels`).
    pub outbox_pending: usize,
    /// Mails that could not be delivered.
    pub dead_letters: usize,
    /// Queued mails that failed at least once (SMTP down), the last SMTP error and
    /// the next retry.
    #[serde(default)]
    pub mail_failing: usize,
    #[serde(default)]
    pub mail_last_error: Option<String>,
    #[serde(default, serialize_with = "opt_ts")]
    pub mail_next_retry_at: Option<Timestamp>,
    /// The most recent poll of any source.
    #[serde(serialize_with = "opt_ts")]
    pub last_poll_at: Option<Timestamp>,
    pub sources: Vec<SourceStatus>,
    /// Each `[[channel]]`, in configuration order.
    #[serde(default)]
    pub channels: Vec<ChannelStatus>,
    /// Retention of routine items: the configured period and the last sweep.
    #[serde(default)]
    pub retention: RetentionStatus,
}

/// `status`'s retention figures (`[retention]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetentionStatus {
    /// `[retention] routine_items` as configured (`"90d"`, `"off"`).
    pub routine_items: String,
    /// When the last sweep finished, and what it did.
    #[serde(default, serialize_with = "opt_ts")]
    pub last_sweep_at: Option<Timestamp>,
    #[serde(default)]
    pub last_removed: u64,
    /// Items older than the period kept by the last sweep (incident, pending, awaiting a reply).
    #[serde(default)]
    pub last_kept: u64,
}

/// One chat channel in `status`: like the mail lines, per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelStatus {
    pub name: String,
    /// `wecom` | `dingtalk` | `feishu` | `webhook`; `removed` for cards queued for a
    /// channel no longer in the configuration (they wait until it is configured again).
    pub kind: String,
    /// Cards waiting to be posted.
    pub pending: usize,
    /// Of those, cards that failed at least once (the robot down or refusing).
    pub failing: usize,
    pub last_error: Option<String>,
    #[serde(default, serialize_with = "opt_ts")]
    pub next_retry_at: Option<Timestamp>,
}

/// Every error answer: a Chinese sentence and a machine-readable code
/// (`unauthorized`, `not_found`, `not_allowed`, `bad_request`, `internal`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub code: String,
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::{ItemRef, PolicySnapshot};

    pub(crate) fn at(s: &str) -> Timestamp {
        s.parse().expect("test timestamp")
    }

    /// A level II incident opened at 02:00 UTC (10:00 Beijing), ack met, statement pending.
    pub(crate) fn incident(id: IncidentId, title: &str) -> Incident {
        let opened = at("2026-11-24T02:00:00Z");
        Incident {
            id,
            title: title.to_string(),
            level: Level::II,
            detected_level: Level::III,
            status: Status::Acknowledged,
            topics: vec!["accident".into(), "work_safety".into()],
            unit: Some("市应急管理局".into()),
            places: vec!["景芝镇".into()],
            local: true,
            event_at: opened,
            opened_at: opened,
            updated_at: opened,
            items: vec![
                ItemRef {
                    source: "a".into(),
                    key: "1".into(),
                    source_name: None,
                    link: None,
                    lead: None,
                },
                ItemRef {
                    source: "b".into(),
                    key: "2".into(),
                    source_name: None,
                    link: None,
                    lead: None,
                },
            ],
            sources: BTreeSet::from(["a".to_string(), "b".to_string()]),
            terms: vec!["化工厂".into()],
            deadlines: vec![
                Deadline {
                    milestone: Milestone::Ack,
                    due_at: at("2026-11-24T02:30:00Z"),
                    met_at: Some(at("2026-11-24T02:10:00Z")),
                },
                Deadline {
                    milestone: Milestone::Statement,
                    due_at: at("2026-11-24T07:00:00Z"),
                    met_at: None,
                },
                Deadline {
                    milestone: Milestone::Press,
                    due_at: at("2026-11-25T02:00:00Z"),
                    met_at: None,
                },
            ],
            policy: PolicySnapshot::from(&crate::config::Policy::default()),
            merged_into: None,
            responses: Vec::new(),
            effect: None,
        }
    }

    #[test]
    fn incident_json_has_the_contract_shape() {
        let view = IncidentView::new(&incident(7, "化工厂爆炸"), at("2026-11-24T08:00:00Z"));
        let json = serde_json::to_value(&view).unwrap();
        for key in [
            "id",
            "title",
            "level",
            "status",
            "topics",
            "unit",
            "event_at",
            "opened_at",
            "items",
            "deadlines",
        ] {
            assert!(json.get(key).is_some(), "missing {key}: {json}");
        }
        assert_eq!(json["id"], 7);
        assert_eq!(json["level"], "II");
        assert_eq!(json["status"], "acknowledged");
        assert_eq!(json["items"], 2);
        assert_eq!(json["event_at"], "2026-11-24T10:00:00+08:00");
        let deadlines = json["deadlines"].as_array().unwrap();
        assert_eq!(deadlines.len(), 3);
        assert_eq!(deadlines[0]["milestone"], "ack");
        assert_eq!(deadlines[0]["state"], "met");
        assert_eq!(deadlines[0]["met_at"], "2026-11-24T10:10:00+08:00");
        assert_eq!(deadlines[1]["state"], "overdue");
        assert_eq!(deadlines[1]["met_at"], serde_json::Value::Null);
        assert_eq!(deadlines[2]["state"], "pending");
        assert_eq!(deadlines[2]["due_at"], "2026-11-25T10:00:00+08:00");
        // And it reads back to the same value (the CLI parses what the server wrote).
        let back: IncidentView = serde_json::from_value(json).unwrap();
        assert_eq!(back, view);
    }

    /// 张三's 签收 at 10:10 Beijing, as the audit trail shows it.
    pub(crate) fn ack_by_zhang() -> AuditView {
        AuditView {
            at: at("2026-11-24T02:10:00Z"),
            by: "张三".into(),
            action: "ack".into(),
            detail: "签收".into(),
            reason: None,
        }
    }

    #[test]
    fn detail_adds_items_and_audit_beside_the_incident_fields() {
        let detail = IncidentDetail {
            incident: IncidentView::new(&incident(7, "化工厂爆炸"), at("2026-11-24T03:00:00Z")),
            item_list: Vec::new(),
            audit: vec![ack_by_zhang()],
            effect: None,
        };
        let json = serde_json::to_value(&detail).unwrap();
        assert_eq!(json["id"], 7);
        assert!(json["item_list"].is_array());
        assert_eq!(json["audit"][0]["by"], "张三");
        assert!(json["effect"].is_null(), "null without a response: {json}");
        let back: IncidentDetail = serde_json::from_value(json).unwrap();
        assert_eq!(back, detail);
    }

    #[test]
    fn effect_json_has_the_contract_shape() {
        let effect = Effect {
            verdict: Verdict::Rising,
            before: 3,
            after: 7,
            first_response: at("2026-11-24T06:30:00Z"),
            window_secs: 24 * 3600,
        };
        let json = serde_json::to_value(EffectView::from(&effect)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"verdict": "rising", "before": 3, "after": 7, "window": "24h",
                "first_response": "2026-11-24T14:30:00+08:00", "window_secs": 86400})
        );
        let back: EffectView = serde_json::from_value(json).unwrap();
        assert_eq!(back, EffectView::from(&effect));
    }

    #[test]
    fn next_due_is_the_soonest_unmet_deadline_of_an_open_incident() {
        let mut inc = incident(7, "x");
        let view = IncidentView::new(&inc, at("2026-11-24T03:00:00Z"));
        assert_eq!(
            view.next_due().map(|d| d.milestone),
            Some(Milestone::Statement)
        );
        inc.status = Status::Closed;
        let view = IncidentView::new(&inc, at("2026-11-24T03:00:00Z"));
        assert!(view.next_due().is_none());
    }
}
