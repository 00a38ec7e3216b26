//! The ledger export (台账): JSON lines for backup and scripts, CSV for Excel.
//!
//! `GET /v1/export` streams: the incidents' ids are read from the list index first
//! (eight bytes each), then the incidents are read, encoded and sent [`PAGE`] at a
//! time, each page one chunk of the response, the next read only when the connection
//! has taken the last; so the daemon holds one page of the export, not the ledger.
//! The board posts and the tracked documents follow, [`PAGE`] at a time too: all of
//! them read by key from where the last page ended, or with `since` those changed
//! since then, their keys read from the store's change index when the export starts.
//! A failure part-way aborts the response (the connection closes without the chunked
//! body's end), so the client sees an error, never a well-formed but short file.
//!
//! The CSV is written for Excel on a Chinese Windows desktop: UTF-8 with a byte-order
//! mark (without it Excel guesses GBK and shows mojibake), CRLF line ends, RFC 4180
//! quoting, Chinese headers, Beijing times, one row per incident with each milestone's
//! due time, completion time and outcome as columns, then the 效果评估 (verdict, items
//! before and after the first response, the window). Text cells that Excel would take
//! for a formula (`=`, `+`, `-`, `@` first: titles come from the public) are prefixed
//! with `'` so opening the file never runs anything.

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{Timelike, Utc};
use serde::Deserialize;

use super::views::{DeadlineView, EffectView, IncidentDetail, IncidentView};
use super::{ApiError, ApiState};
use crate::ledger::LedgerError;
use crate::model::{DeadlineState, IncidentId, Milestone, Timestamp, topic_name};
use crate::store::{DocumentId, ListFilter, RecordKey};
use crate::time::local;

/// Incidents read, encoded and sent as one chunk. A JSONL line carries the incident's
/// items twice (the view and the record), a few KB for a routine incident: a page is
/// about a megabyte.
pub const PAGE: usize = 200;

/// The milestones that get columns, in order.
const MILESTONES: [Milestone; 4] = Milestone::ALL;

/// The first line of a JSONL export (`"kind": "export"`): what it is and when it was
/// taken, so that `yuqing import` can tell a full export from an incremental one and
/// check that a chain of them leaves no gap.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExportHeader {
    /// `"export"`.
    pub kind: String,
    /// The yuqing version that wrote it.
    pub version: String,
    /// The data format of the ledger it was taken from.
    pub format: u32,
    /// When its snapshot started, less [`GRACE`], to the millisecond: the `--since`
    /// of the next incremental export.
    pub taken_at: Timestamp,
    /// The `--since` it was taken with; `None` for a full export.
    pub since: Option<Timestamp>,
}

/// How long before the export starts reading its `taken_at` is: a change whose
/// transaction took its time just before the export started but committed after the
/// export read the indexes is in neither this export nor, without it, the next one.
/// A transaction takes milliseconds; the next export carries this second again.
pub const GRACE: chrono::Duration = chrono::Duration::seconds(1);

impl ExportHeader {
    pub const KIND: &'static str = "export";

    /// The header of an export whose snapshot starts `now`, taken with `since`.
    fn new(now: Timestamp, since: Option<Timestamp>) -> ExportHeader {
        let taken_at = now - GRACE;
        ExportHeader {
            kind: ExportHeader::KIND.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            format: crate::store::FORMAT_VERSION,
            taken_at: taken_at
                .with_nanosecond(taken_at.nanosecond() / 1_000_000 * 1_000_000)
                .unwrap_or(taken_at),
            since,
        }
    }
}

/// One line of the JSONL export: the `show --json` shape, plus `record`, the
/// ledger's own records of the incident that `yuqing import` restores from
/// ([`crate::store::LedgerRecord`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportLine {
    #[serde(flatten)]
    pub detail: IncidentDetail,
    pub record: crate::store::LedgerRecord,
}

/// A line of the JSONL export after the incidents, one per tracked board post: `kind`
/// `"reply"`, the `replies --json` shape, plus `record` ([`crate::store::ReplyRecord`]:
/// the post, its reply clock and notices) that `yuqing import` restores.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplyLine {
    pub kind: &'static str,
    #[serde(flatten)]
    pub view: super::replies::ReplyView,
    pub record: crate::store::ReplyRecord,
}

impl ReplyLine {
    pub fn new(record: crate::store::ReplyRecord, now: crate::model::Timestamp) -> ReplyLine {
        ReplyLine {
            kind: "reply",
            view: super::replies::ReplyView::new(&record.post, now),
            record,
        }
    }
}

/// A line of the JSONL export after the board posts, one per tracked document of a
/// document clock: `kind` `"policy"`, the `policies --json` shape, plus `record`
/// ([`crate::store::PolicyRecord`]: the document, its clock and notices) that
/// `yuqing import` restores.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PolicyLine {
    pub kind: &'static str,
    #[serde(flatten)]
    pub view: super::policies::DocumentView,
    pub record: crate::store::PolicyRecord,
}

impl PolicyLine {
    /// `clock_name`: the name of the document's clock.
    pub fn new(
        record: crate::store::PolicyRecord,
        clock_name: &str,
        now: crate::model::Timestamp,
    ) -> PolicyLine {
        PolicyLine {
            kind: "policy",
            view: super::policies::DocumentView::new(&record.document, clock_name, now),
            record,
        }
    }
}

/// One JSON object and its line end (the [`ExportHeader`], each an [`ExportLine`], a
/// [`ReplyLine`] or a [`PolicyLine`]).
fn push_line<T: serde::Serialize>(out: &mut String, line: &T) {
    // Views are plain data with string keys: serializing cannot fail.
    out.push_str(&serde_json::to_string(line).unwrap_or_default());
    out.push('\n');
}

/// The CSV's start: the byte-order mark and the header row (with CRLF).
pub fn csv_header() -> String {
    let mut header: Vec<String> = [
        "编号",
        "标题",
        "等级",
        "状态",
        "主题",
        "责任单位",
        "地点",
        "事发时间",
        "立案时间",
        "条目数",
        "信息源",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    for milestone in MILESTONES {
        let name = milestone.chinese();
        header.push(format!("{name}时限"));
        header.push(format!("{name}完成时间"));
        header.push(format!("{name}情况"));
    }
    header.push("并入事件".into());
    for name in ["效果评估", "回应前条数", "回应后条数", "评估时段"] {
        header.push(name.into());
    }
    let mut out = csv_writer();
    write_row(&mut out, &header);
    format!("\u{feff}{}", csv_text(out))
}

/// CSV rows (CRLF), one per incident with its 效果评估 (if answered); they follow
/// [`csv_header`], a page at a time.
pub fn csv_rows(incidents: &[(IncidentView, Option<EffectView>)]) -> String {
    let mut out = csv_writer();
    for (incident, effect) in incidents {
        let topics = incident
            .topics
            .iter()
            .map(|t| topic_name(t))
            .collect::<Vec<_>>()
            .join("、");
        let mut cells = vec![
            incident.id.to_string(),
            incident.title.clone(),
            crate::format::level(incident.level, crate::format::LevelStyle::Code),
            incident.status.label(incident.level).to_string(),
            topics,
            incident.unit.clone().unwrap_or_default(),
            incident.places.join("、"),
            local(incident.event_at),
            local(incident.opened_at),
            incident.items.to_string(),
            incident.sources.join("、"),
        ];
        for milestone in MILESTONES {
            match incident.deadline(milestone) {
                Some(d) => {
                    cells.push(local(d.due_at));
                    cells.push(d.met_at.map(local).unwrap_or_default());
                    cells.push(outcome(d).to_string());
                }
                None => cells.extend([String::new(), String::new(), String::new()]),
            }
        }
        cells.push(
            incident
                .merged_into
                .map(|id| id.to_string())
                .unwrap_or_default(),
        );
        match effect {
            Some(e) => cells.extend([
                e.verdict.chinese().to_string(),
                e.before.to_string(),
                e.after.to_string(),
                e.window.clone(),
            ]),
            None => cells.extend(std::iter::repeat_n(String::new(), 4)),
        }
        write_row(&mut out, &cells);
    }
    csv_text(out)
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

fn csv_text(out: csv::Writer<Vec<u8>>) -> String {
    // Writing into memory cannot fail, and every cell is UTF-8.
    let bytes = out.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// A deadline's outcome in the words of the 台账. A milestone left unmet when the
/// incident was closed (or its clock stopped) is 未完成, never 未到期.
pub fn outcome(deadline: &DeadlineView) -> &'static str {
    match (deadline.state, deadline.on_time()) {
        (DeadlineState::Met, Some(false)) => "逾期完成",
        (DeadlineState::Met, _) => "按时完成",
        (DeadlineState::Overdue, _) => "已超时",
        (DeadlineState::Pending, _) => "未到期",
        (DeadlineState::Missed, _) => "未完成",
    }
}

/// One row; text Excel would take for a formula is neutralized with a leading `'`.
fn write_row(out: &mut csv::Writer<Vec<u8>>, cells: &[String]) {
    let guarded = cells.iter().map(|text| {
        if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{text}")
        } else {
            text.clone()
        }
    });
    // An in-memory writer does not fail.
    let _ = out.write_record(guarded);
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ExportFormat {
    #[default]
    Jsonl,
    Csv,
}

#[derive(Debug, Deserialize)]
pub(super) struct ExportQuery {
    #[serde(default)]
    format: ExportFormat,
    /// Only records changed at or after this time (RFC 3339; CSV: incidents whose
    /// `updated_at` is).
    #[serde(default)]
    since: Option<Timestamp>,
}

/// `GET /v1/export?format=jsonl|csv&since=…`: for JSONL the [`ExportHeader`], then the
/// incidents by id (all, or those changed since: their `updated_at` or their stamp in
/// the change index), then the board posts and the tracked documents (all, or those
/// changed since, by key); for CSV the incidents (all, or those whose `updated_at` is
/// since).
/// Errors before the first byte (a bad query, an unreadable index) are answered as
/// usual; later ones abort the response.
pub(super) async fn export(
    State(state): State<ApiState>,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|_| {
        ApiError::BadRequest(
            "导出参数无效；format 可选 jsonl 或 csv，since 须为 RFC 3339 时间".into(),
        )
    })?;
    let filter = ListFilter {
        all: true,
        since: query.since,
        ..ListFilter::default()
    };
    let store = state.store.clone();
    let since = query.since.filter(|_| query.format == ExportFormat::Jsonl);
    // Before anything is read: every change after it is in this export or the next.
    let header = ExportHeader::new(Utc::now(), since);
    let (mut ids, replies, policies) = state
        .run(move |_| {
            let mut ids = store.list_incidents(&filter)?.ids;
            let (replies, policies) = match since {
                Some(since) => {
                    ids.extend(store.changed_incidents(since)?);
                    (
                        Selection::changed(store.changed_posts(since)?),
                        Selection::changed(store.changed_documents(since)?),
                    )
                }
                None => (Selection::all(), Selection::all()),
            };
            Ok((ids, replies, policies))
        })
        .await?;
    ids.sort_unstable();
    ids.dedup();
    let (content_type, first) = match query.format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", Part::CsvHeader),
        ExportFormat::Jsonl => ("application/x-ndjson; charset=utf-8", Part::Header),
    };
    tracing::info!(incidents = ids.len(), format = ?query.format, "export started");
    let pages = Pages {
        state,
        format: query.format,
        now: Utc::now(),
        header,
        ids,
        sent: 0,
        part: first,
        replies,
        policies,
    };
    let body = Body::from_stream(futures_util::stream::try_unfold(pages, Pages::next));
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// Which part of the export comes next.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    CsvHeader,
    Header,
    Incidents,
    Replies,
    Policies,
    Done,
}

/// The export's state between chunks: the ids to send and how far it got.
struct Pages {
    state: ApiState,
    format: ExportFormat,
    /// One instant for every view of the export.
    now: Timestamp,
    /// The JSONL export's first line.
    header: ExportHeader,
    ids: Vec<IncidentId>,
    /// How many of `ids` have been sent.
    sent: usize,
    part: Part,
    /// The board posts still to send, by `(source, key)`.
    replies: Selection<(String, String)>,
    /// The tracked documents still to send.
    policies: Selection<DocumentId>,
}

/// Which board posts (or tracked documents) of the export are still to be sent.
enum Selection<Id> {
    /// Every one, by key, after `after` (from the first with `None`); `done` once a
    /// page came back short.
    All { after: Option<Id>, done: bool },
    /// Those changed since `since` (their keys read when the export started, so a
    /// record that changes meanwhile is sent once), `sent` of them already.
    Changed { keys: Vec<RecordKey>, sent: usize },
}

/// One page of a [`Selection`] to read.
enum Page<Id> {
    After(Option<Id>),
    Of(Vec<RecordKey>),
}

impl<Id: Clone> Selection<Id> {
    fn all() -> Selection<Id> {
        Selection::All {
            after: None,
            done: false,
        }
    }

    fn changed(keys: Vec<RecordKey>) -> Selection<Id> {
        Selection::Changed { keys, sent: 0 }
    }

    /// The next page to read, `None` when every record was sent.
    fn page(&mut self) -> Option<Page<Id>> {
        match self {
            Selection::All { done: true, .. } => None,
            Selection::All { after, .. } => Some(Page::After(after.clone())),
            Selection::Changed { keys, sent } if *sent < keys.len() => {
                let end = (*sent + PAGE).min(keys.len());
                let page = keys[*sent..end].to_vec();
                *sent = end;
                Some(Page::Of(page))
            }
            Selection::Changed { .. } => None,
        }
    }

    /// After reading a page: `last`, its last record when it was full (`None`: none
    /// follows).
    fn advance(&mut self, last: Option<Id>) {
        if let Selection::All { after, done } = self {
            match last {
                Some(last) => *after = Some(last),
                None => *done = true,
            }
        }
    }
}

impl Pages {
    /// The next non-empty chunk, `None` at the end.
    async fn next(mut self) -> Result<Option<(Bytes, Pages)>, std::io::Error> {
        loop {
            let chunk = match self.part {
                Part::CsvHeader => {
                    self.part = Part::Incidents;
                    csv_header()
                }
                Part::Header => {
                    self.part = Part::Incidents;
                    let mut line = String::new();
                    push_line(&mut line, &self.header);
                    line
                }
                Part::Incidents if self.sent < self.ids.len() => {
                    let end = (self.sent + PAGE).min(self.ids.len());
                    let page = self.ids[self.sent..end].to_vec();
                    let format = self.format;
                    let lines = self
                        .read(move |state, now| match format {
                            ExportFormat::Jsonl => incident_lines(state, &page, now),
                            ExportFormat::Csv => csv_page(state, &page, now),
                        })
                        .await?;
                    // Counted once read, so a failure's log names the incidents sent.
                    self.sent = end;
                    lines
                }
                Part::Incidents => {
                    self.part = match self.format {
                        ExportFormat::Jsonl => Part::Replies,
                        ExportFormat::Csv => Part::Done,
                    };
                    continue;
                }
                Part::Replies => {
                    let Some(page) = self.replies.page() else {
                        self.part = Part::Policies;
                        continue;
                    };
                    let (lines, last) = self
                        .read(move |state, now| reply_lines(state, page, now))
                        .await?;
                    self.replies.advance(last);
                    lines
                }
                Part::Policies => {
                    let Some(page) = self.policies.page() else {
                        self.part = Part::Done;
                        continue;
                    };
                    let (lines, last) = self
                        .read(move |state, now| policy_lines(state, page, now))
                        .await?;
                    self.policies.advance(last);
                    lines
                }
                Part::Done => {
                    tracing::info!(incidents = self.ids.len(), "export sent");
                    return Ok(None);
                }
            };
            if !chunk.is_empty() {
                return Ok(Some((Bytes::from(chunk), self)));
            }
        }
    }

    /// Runs `f` off the async threads (sled may block on IO); a failure is logged and
    /// becomes the body's error, which aborts the response.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ApiState, Timestamp) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, std::io::Error> {
        let now = self.now;
        let result = read_off_thread(&self.state, move |state| f(state, now)).await;
        result.map_err(|err| {
            tracing::error!(%err, sent = self.sent, of = self.ids.len(),
                "export failed part-way; the response is cut off");
            std::io::Error::other(err)
        })
    }
}

/// Runs a chunk's reads off the async threads (sled may block on IO); the error as text.
pub(super) async fn read_off_thread<T: Send + 'static>(
    state: &ApiState,
    f: impl FnOnce(&ApiState) -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, String> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state))
        .await
        .map_err(|err| err.to_string())
        .and_then(|r| r.map_err(|err| err.to_string()))
}

/// The JSONL lines of `ids`: the `show --json` shape and the ledger's records, both
/// from one read of each incident. An id the index names but the ledger lacks is
/// skipped with a warning, as `list` does.
fn incident_lines(
    state: &ApiState,
    ids: &[IncidentId],
    now: Timestamp,
) -> Result<String, LedgerError> {
    let mut out = String::new();
    for &id in ids {
        let Some(record) = state.store.ledger_record(id)? else {
            tracing::warn!(incident = id, "the list index names a missing incident");
            continue;
        };
        let mut items: Vec<_> = record.items.iter().collect();
        items.sort_by_key(|item| item.first_seen);
        let detail = super::detail(&state.config, &record.incident, &items, &record.audit, now);
        push_line(&mut out, &ExportLine { detail, record });
    }
    Ok(out)
}

/// The CSV rows of `ids` (missing ones skipped, as in [`incident_lines`]).
fn csv_page(state: &ApiState, ids: &[IncidentId], now: Timestamp) -> Result<String, LedgerError> {
    let mut rows = Vec::with_capacity(ids.len());
    for &id in ids {
        let Some(incident) = state.store.incident(id)? else {
            tracing::warn!(incident = id, "the list index names a missing incident");
            continue;
        };
        let effect = state.ledger.effect(&incident, now)?;
        rows.push((
            IncidentView::new(&incident, now),
            effect.as_ref().map(EffectView::from),
        ));
    }
    Ok(csv_rows(&rows))
}

/// A page of the reply ledger: [`PAGE`] board posts after a post, or the posts of
/// the keys given; and the last one's `(source, key)` when there may be more after it
/// (`None`: no more).
fn reply_lines(
    state: &ApiState,
    page: Page<(String, String)>,
    now: Timestamp,
) -> Result<(String, Option<(String, String)>), LedgerError> {
    let records = match page {
        Page::After(after) => {
            let after = after.as_ref().map(|(s, k)| (s.as_str(), k.as_str()));
            state.store.reply_records(after, PAGE)?
        }
        Page::Of(keys) => state.store.reply_records_of(&keys)?,
    };
    let last = (records.len() == PAGE)
        .then(|| records.last())
        .flatten()
        .map(|r| (r.post.source.clone(), r.post.key.clone()));
    let mut out = String::new();
    for record in records {
        push_line(&mut out, &ReplyLine::new(record, now));
    }
    Ok((out, last))
}

/// A page of the tracked documents of the document clocks, as [`reply_lines`].
fn policy_lines(
    state: &ApiState,
    page: Page<DocumentId>,
    now: Timestamp,
) -> Result<(String, Option<DocumentId>), LedgerError> {
    let records = match page {
        Page::After(after) => state.store.policy_records(after.as_ref(), PAGE)?,
        Page::Of(keys) => state.store.policy_records_of(&keys)?,
    };
    let last = (records.len() == PAGE)
        .then(|| records.last())
        .flatten()
        .map(|r| DocumentId::of(&r.document));
    let mut out = String::new();
    for record in records {
        let name = super::policies::clock_name(&state.config, &record.document.clock);
        push_line(&mut out, &PolicyLine::new(record, &name, now));
    }
    Ok((out, last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::views::tests::{at, incident};
    use crate::model::Status;

    /// Reads RFC 4180 text into rows of fields, insisting on CRLF line ends.
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        for outside_quotes in text.split('"').step_by(2) {
            let rest = outside_quotes.replace("\r\n", "");
            assert!(!rest.contains(['\r', '\n']), "bare CR or LF: {text:?}");
        }
        csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn csv_opens_in_excel_with_chinese() {
        let mut tricky = incident(8, "标题含,逗号 \"引号\"\n和换行");
        tricky.unit = Some("=HYPERLINK(\"http://x\")".into());
        let calming = crate::model::Effect {
            verdict: crate::model::Verdict::Calming,
            before: 6,
            after: 2,
            first_response: at("2026-11-24T03:00:00Z"),
            window_secs: 24 * 3600,
        };
        let views = [
            (
                IncidentView::new(
                    &incident(7, "安丘市景芝镇一化工厂发生爆炸"),
                    at("2026-11-24T03:00:00Z"),
                ),
                Some(EffectView::from(&calming)),
            ),
            (IncidentView::new(&tricky, at("2026-11-24T03:00:00Z")), None),
        ];
        let text = csv_header() + &csv_rows(&views[..1]) + &csv_rows(&views[1..]);
        assert!(text.starts_with('\u{feff}'), "UTF-8 BOM first");
        assert!(text.ends_with("\r\n"));
        let rows = parse_csv(text.trim_start_matches('\u{feff}'));
        assert_eq!(rows.len(), 3);
        let header = &rows[0];
        assert!(rows.iter().all(|r| r.len() == header.len()), "{rows:?}");
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let first = &rows[1];
        assert_eq!(first[col("编号")], "7");
        assert_eq!(first[col("标题")], "安丘市景芝镇一化工厂发生爆炸");
        assert_eq!(first[col("等级")], "II（重大）");
        assert_eq!(first[col("状态")], "已签收");
        assert_eq!(first[col("主题")], "事故灾难、安全生产");
        assert_eq!(first[col("事发时间")], "2026-11-24 10:00");
        assert_eq!(first[col("签收时限")], "2026-11-24 10:30");
        assert_eq!(first[col("签收完成时间")], "2026-11-24 10:10");
        assert_eq!(first[col("签收情况")], "按时完成");
        assert_eq!(first[col("发布权威信息情况")], "未到期");
        assert_eq!(
            first[col("回应时限")],
            "",
            "a level II incident has no 回应 clock"
        );
        assert_eq!(first[col("效果评估")], "平息");
        assert_eq!(first[col("回应前条数")], "6");
        assert_eq!(first[col("回应后条数")], "2");
        assert_eq!(first[col("评估时段")], "24h");
        let second = &rows[2];
        assert_eq!(second[col("效果评估")], "", "no response, no evaluation");
        assert_eq!(second[col("标题")], "标题含,逗号 \"引号\"\n和换行");
        assert_eq!(second[col("责任单位")], "'=HYPERLINK(\"http://x\")");
    }

    #[test]
    fn outcomes_read_like_the_ledger() {
        let mut inc = incident(7, "x");
        inc.deadlines[0].met_at = Some(at("2026-11-24T03:00:00Z")); // after the 02:30 due
        let view = IncidentView::new(&inc, at("2026-11-24T08:00:00Z"));
        let outcomes: Vec<_> = view.deadlines.iter().map(outcome).collect();
        assert_eq!(outcomes, ["逾期完成", "已超时", "未到期"]);
        // Closed with the statement and press unmet: both missed, never 未到期, in
        // the CSV as in the JSON.
        inc.status = Status::Closed;
        let view = IncidentView::new(&inc, at("2026-11-24T03:00:00Z"));
        let outcomes: Vec<_> = view.deadlines.iter().map(outcome).collect();
        assert_eq!(outcomes, ["逾期完成", "未完成", "未完成"]);
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["deadlines"][2]["state"], "missed");
        let text = csv_header() + &csv_rows(&[(view, None)]);
        let rows = parse_csv(text.trim_start_matches('\u{feff}'));
        let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
        assert_eq!(rows[1][col("状态")], "已办结");
        assert_eq!(rows[1][col("举行新闻发布会情况")], "未完成");
    }

    /// The daemon holds a page at a time: the body is the header line (JSONL), then
    /// one chunk per page of [`PAGE`] incidents (the last one the rest), then of board
    /// posts, then of tracked documents, each once, in order, with its own notices.
    #[tokio::test]
    async fn the_body_is_one_chunk_per_page() {
        use futures_util::StreamExt;
        let store = crate::store::Store::temporary().unwrap();
        crate::api::tests::fill(&store, PAGE as u64 * 2 + 3);
        let config = std::sync::Arc::new(crate::config::Config::default());
        let ledger = crate::ledger::Ledger::new(
            store.clone(),
            config.clone(),
            std::sync::Arc::new(tokio::sync::Notify::new()),
        );
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        for i in 0..=PAGE {
            store
                .put_tracked_post(&crate::replies::TrackedPost::example(&format!("p{i:04}")))
                .unwrap();
            let document = crate::policies::TrackedDocument::example(&format!("d{i:04}"));
            store.put_tracked_document(&document, None).unwrap();
        }
        // The last post's notice travels with it, on the last page of posts.
        let last = format!("reply/board/p{PAGE:04}/overdue/1");
        let notice = crate::model::Notice {
            key: last,
            to: vec!["duty@localhost".into()],
            created_at: at("2026-11-24T02:00:00Z"),
            kind: crate::model::NoticeKind::Bulletin {
                subject: "s".into(),
                paragraphs: vec![],
                commands: vec![],
            },
        };
        store.enqueue_notice(&notice).unwrap();
        let state = ApiState::new(store, ledger, config, crate::api::Token::generate());
        // JSONL: the incidents, then the posts, then the documents, a page at a time.
        for (format, expected) in [
            (
                ExportFormat::Jsonl,
                vec![1, PAGE, PAGE, 3, PAGE, 1, PAGE, 1],
            ),
            (ExportFormat::Csv, vec![1, PAGE, PAGE, 3]),
        ] {
            let query = ExportQuery {
                format,
                since: None,
            };
            let response = export(State(state.clone()), Ok(Query(query)))
                .await
                .unwrap();
            let mut chunks = response.into_body().into_data_stream();
            let mut lines = Vec::new();
            let mut text = Vec::new();
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.unwrap();
                lines.push(chunk.iter().filter(|b| **b == b'\n').count());
                text.extend_from_slice(&chunk);
            }
            assert_eq!(lines, expected, "{format:?}");
            if format == ExportFormat::Jsonl {
                let keys: Vec<(String, usize)> = String::from_utf8(text)
                    .unwrap()
                    .lines()
                    .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
                    .filter(|line| line["kind"] == "reply" || line["kind"] == "policy")
                    .map(|line| {
                        let record = &line["record"];
                        let key = record["post"]["key"]
                            .as_str()
                            .or(record["document"]["key"].as_str())
                            .unwrap()
                            .to_string();
                        (key, record["notices"].as_array().unwrap().len())
                    })
                    .collect();
                let expected: Vec<(String, usize)> = (0..=PAGE)
                    .map(|i| (format!("p{i:04}"), usize::from(i == PAGE)))
                    .chain((0..=PAGE).map(|i| (format!("d{i:04}"), 0)))
                    .collect();
                assert_eq!(keys, expected, "each post and document once, in order");
            }
        }
    }

    #[test]
    fn jsonl_is_one_object_per_line() {
        let detail = IncidentDetail {
            incident: IncidentView::new(&incident(7, "甲\n乙"), at("2026-11-24T03:00:00Z")),
            item_list: Vec::new(),
            audit: Vec::new(),
            effect: None,
        };
        let mut text = String::new();
        push_line(&mut text, &detail);
        push_line(&mut text, &detail);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        for line in lines {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(value["title"], "甲\n乙");
        }
    }
}
