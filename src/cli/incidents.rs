//! The duty officers' commands: `list`, `show`, `ack`, `milestone`, `level`, `assign`,
//! `close`, `dismiss`, `merge`, `status` (`export` is [`super::export`]). Each talks
//! to the running daemon through [`crate::api::client::Client`]; input is checked here
//! first, so a usage mistake is reported (exit 2) even when the daemon is down.
//!
//! Output is made to be read at 3 a.m.: Chinese headers, soonest deadline first,
//! time left in hours and minutes, overdue rows in red and near-due rows in yellow
//! when stdout is a terminal (never when piped or with `NO_COLOR` set).

use std::fmt::Write as _;
use std::future::Future;
use std::io::{IsTerminal, Write};

use chrono::{NaiveDateTime, TimeZone, Utc};
use unicode_width::UnicodeWidthStr;

use super::{
    AckArgs, AssignArgs, CliError, CloseArgs, DismissArgs, JsonFlag, LevelArgs, ListArgs,
    MergeArgs, MilestoneArg, MilestoneArgs, ShowArgs, UnlinkArgs,
};
use crate::api::client::{Client, ClientError};
use crate::api::export::outcome;
use crate::api::views::{
    AckRequest, AckResult, AssignRequest, CloseRequest, DeadlineView, DismissRequest,
    IncidentDetail, IncidentView, LevelRequest, ListQuery, MergeRequest, MilestoneRequest,
    RetentionStatus, SourceHealth, StatusView, UnlinkRequest,
};
use crate::api::{ApiError, check_by, check_reason};
use crate::config::Config;
use crate::format::{self, LevelStyle, pad, truncate_columns};
use crate::model::{DeadlineState, IncidentId, Level, Milestone, Status, Timestamp, topic_name};
use crate::time::{ZONE, local, span, time_left};

/// The CLI's exit code and message for a failed control-API call.
impl From<ClientError> for CliError {
    fn from(err: ClientError) -> Self {
        CliError {
            code: err.exit_code(),
            message: err.to_string(),
        }
    }
}

/// A deadline with less than this left is near (yellow), whatever its window.
const NEAR_SECS: i64 = 3600;
/// … and so is one with less than this fraction of its window left.
const NEAR_FRACTION: f64 = 0.2;
/// Widest title and unit shown in the table, in terminal columns.
const TITLE_COLUMNS: usize = 36;
const UNIT_COLUMNS: usize = 16;

/// Rows the `list` table shows when `--limit` is not given (JSON: no limit).
pub const LIST_TABLE_LIMIT: usize = 100;

pub fn list(config: &Config, args: &ListArgs) -> Result<(), CliError> {
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let filtered = since.is_some() || args.unit.is_some() || args.level.is_some();
    let query = ListQuery {
        all: args.all,
        limit: args.limit.or((!args.json).then_some(LIST_TABLE_LIMIT)),
        since,
        unit: args.unit.clone(),
        level: args.level.map(Into::into),
        status: args.status.map(Into::into),
    };
    let client = connect(config)?;
    if args.json {
        return block_on(print_json_list(&client, &query))?;
    }
    let nothing = if filtered || query.status.is_some() {
        "没有符合条件的事件。\n"
    } else if args.all {
        "台账中还没有事件。\n"
    } else {
        "当前没有未办结的舆情事件。\n"
    };
    block_on(print_table(&client, &query, nothing, use_color()))?
}

/// The `list` table, each batch of rows printed as it arrives, in the daemon's order
/// (the list order: soonest deadline first, incidents without a running clock last),
/// aligned by [`ListTable`]'s fixed widths; then the line saying how many were left
/// out, or `nothing` when no incident matched. Stops reading when the reader went away.
async fn print_table(
    client: &Client,
    query: &ListQuery,
    nothing: &str,
    color: bool,
) -> Result<(), CliError> {
    let mut listing = client.list_stream(query).await?;
    let now = Utc::now();
    let mut table: Option<ListTable> = None;
    let mut shown = 0;
    while let Some(batch) = listing.next::<IncidentView>().await? {
        let Some(widest) = batch.iter().map(|i| i.id).max() else {
            continue;
        };
        let mut text = String::new();
        let table = table.get_or_insert_with(|| {
            let table = ListTable::new(listing.max_id().unwrap_or(widest), now, color);
            text.push_str(&table.header());
            table
        });
        text.push_str(&table.rows(&batch));
        shown += batch.len();
        if !emit_streamed(&text)? {
            return Ok(());
        }
    }
    if shown == 0 {
        return emit(nothing);
    }
    emit(&more_line(listing.total(), shown))
}

/// `list --json`: each batch of incidents printed as it arrives (see [`json_batch`]).
async fn print_json_list(client: &Client, query: &ListQuery) -> Result<(), CliError> {
    let mut listing = client.list_stream(query).await?;
    let mut first = true;
    while let Some(values) = listing.next::<serde_json::Value>().await? {
        if !emit_streamed(&json_batch(&values, &mut first))? {
            return Ok(());
        }
    }
    emit(if first { "[]\n" } else { "\n]\n" })
}

/// A batch of a pretty-printed array's elements, at the array's indent, each after
/// `[` (the `first`) or a comma: with `]` at the end, the same text as pretty-printing
/// the whole array (JSON text has no raw line breaks, so indenting each line of an
/// element's own pretty form is exact).
fn json_batch(values: &[serde_json::Value], first: &mut bool) -> String {
    let mut text = String::new();
    for value in values {
        text.push_str(if *first { "[\n" } else { ",\n" });
        *first = false;
        for (i, line) in pretty(value).lines().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            text.push_str("  ");
            text.push_str(line);
        }
    }
    text
}

/// The line under a page that does not show every match.
fn more_line(total: usize, shown: usize) -> String {
    match total.checked_sub(shown) {
        Some(more) if more > 0 => format!("还有 {more} 条，用 --limit 或 --since 查看\n"),
        _ => String::new(),
    }
}

pub fn show(config: &Config, args: &ShowArgs) -> Result<(), CliError> {
    let client = connect(config)?;
    if args.json {
        let value: serde_json::Value = block_on(client.show(args.id))??;
        return emit(&pretty(&value));
    }
    let detail: IncidentDetail = block_on(client.show(args.id))??;
    emit(&render_detail(&detail, Utc::now(), use_color()))
}

pub fn ack(config: &Config, args: &AckArgs) -> Result<(), CliError> {
    let request = AckRequest {
        by: check_by(&args.by).map_err(usage)?,
        note: args.note.clone(),
    };
    let client = connect(config)?;
    block_on(async {
        let mut failures = Vec::new();
        for &id in &args.ids {
            match client.ack(id, &request).await {
                Ok(answer) => {
                    let line = match answer.result {
                        AckResult::Acknowledged => {
                            format!("事件 {id}：签收成功（{}）\n", clean(&answer.incident.title))
                        }
                        AckResult::AlreadyAcknowledged => format!(
                            "事件 {id}：已签收（{} 于 {} 签收），无需重复签收\n",
                            answer.acknowledged_by.as_deref().unwrap_or("他人"),
                            answer.acknowledged_at.map(local).unwrap_or_default()
                        ),
                    };
                    emit(&line)?;
                }
                // Unknown id or not allowed: report it and go on with the others.
                Err(err) if err.exit_code() == 1 => failures.push((id, err)),
                Err(err) => return Err(err.into()),
            }
        }
        match failures.len() {
            0 => Ok(()),
            1 if args.ids.len() == 1 => Err(failures.remove(0).1.into()),
            n => {
                for (id, err) in &failures {
                    eprintln!("错误：事件 {id}：{err}");
                }
                Err(CliError::failed(format!(
                    "{n} 个事件签收失败（共 {} 个）",
                    args.ids.len()
                )))
            }
        }
    })?
}

pub fn milestone(config: &Config, args: &MilestoneArgs) -> Result<(), CliError> {
    let milestone = match args.milestone {
        MilestoneArg::Statement => Milestone::Statement,
        MilestoneArg::Press => Milestone::Press,
        MilestoneArg::Response => Milestone::Response,
    };
    let by = check_by(&args.by).map_err(usage)?;
    let at = args
        .at
        .as_deref()
        .map(|text| parse_at(text, Utc::now()))
        .transpose()?;
    let request = MilestoneRequest {
        milestone,
        by,
        url: args.url.clone(),
        note: args.note.clone(),
        at,
        from_response: args.from_response,
    };
    let client = connect(config)?;
    let incident = block_on(client.milestone(args.id, &request))??;
    let timing = incident
        .deadline(milestone)
        .and_then(|d| Some((d.met_at?, d.on_time()?)))
        .map(|(met, on_time)| {
            format!(
                "（完成于 {}，{}）",
                local(met),
                if on_time { "按时" } else { "逾期" }
            )
        })
        .unwrap_or_default();
    let from = args
        .from_response
        .map(|n| format!("（依据第 {n} 条官方回应）"))
        .unwrap_or_default();
    emit(&format!(
        "事件 {}：已记录{}{from}{timing}\n",
        args.id,
        milestone.chinese()
    ))
}

pub fn unlink(config: &Config, args: &UnlinkArgs) -> Result<(), CliError> {
    let request = UnlinkRequest {
        response: args.response,
        by: check_by(&args.by).map_err(usage)?,
        reason: check_reason(&args.reason).map_err(usage)?,
    };
    let client = connect(config)?;
    let incident = block_on(client.unlink(args.id, &request))??;
    let next = next_due_text(&incident, Utc::now())
        .map(|text| format!("；下一时限：{text}"))
        .unwrap_or_default();
    emit(&format!(
        "事件 {}：已撤销第 {} 条官方回应{next}\n",
        args.id, args.response
    ))
}

pub fn level(config: &Config, args: &LevelArgs) -> Result<(), CliError> {
    let level: Level = args.level.parse().map_err(CliError::usage)?;
    let request = LevelRequest {
        level,
        by: check_by(&args.by).map_err(usage)?,
        reason: check_reason(&args.reason).map_err(usage)?,
    };
    let client = connect(config)?;
    let incident = block_on(client.level(args.id, &request))??;
    let next = next_due_text(&incident, Utc::now())
        .map(|text| format!("；下一时限：{text}"))
        .unwrap_or_default();
    emit(&format!(
        "事件 {}：等级已调整为 {}，时限已按新等级重算{next}\n",
        args.id,
        format::level(level, LevelStyle::Code)
    ))
}

pub fn assign(config: &Config, args: &AssignArgs) -> Result<(), CliError> {
    let request = AssignRequest {
        unit: args.unit.clone(),
        by: check_by(&args.by).map_err(usage)?,
    };
    let client = connect(config)?;
    let incident = block_on(client.assign(args.id, &request))??;
    emit(&format!(
        "事件 {}：责任单位已改为 {}\n",
        args.id,
        incident.unit.as_deref().unwrap_or(&request.unit)
    ))
}

pub fn close(config: &Config, args: &CloseArgs) -> Result<(), CliError> {
    let request = CloseRequest {
        by: check_by(&args.by).map_err(usage)?,
        note: args.note.clone(),
        reason: args.reason.clone(),
    };
    let client = connect(config)?;
    let incident = block_on(client.close(args.id, &request))??;
    let missed: Vec<&str> = incident
        .deadlines
        .iter()
        .filter(|d| d.state == DeadlineState::Missed)
        .map(|d| d.milestone.chinese())
        .collect();
    let mut text = format!(
        "事件 {}：{}，不再发送提醒",
        args.id,
        incident.status.label(incident.level)
    );
    if !missed.is_empty() {
        let _ = write!(text, "；{} 计为未完成", missed.join("、"));
    }
    text.push('\n');
    emit(&text)
}

pub fn dismiss(config: &Config, args: &DismissArgs) -> Result<(), CliError> {
    let request = DismissRequest {
        by: check_by(&args.by).map_err(usage)?,
        reason: check_reason(&args.reason).map_err(usage)?,
    };
    let client = connect(config)?;
    block_on(client.dismiss(args.id, &request))??;
    emit(&format!("事件 {}：已标记为误报，不再发送提醒\n", args.id))
}

pub fn merge(config: &Config, args: &MergeArgs) -> Result<(), CliError> {
    let request = MergeRequest {
        into: args.into,
        by: check_by(&args.by).map_err(usage)?,
    };
    let client = connect(config)?;
    let target = block_on(client.merge(args.id, &request))??;
    emit(&format!(
        "事件 {} 已并入事件 {}（现共 {} 条条目）\n",
        args.id, target.id, target.items
    ))
}

pub fn status(config: &Config, args: &JsonFlag) -> Result<(), CliError> {
    let client = connect(config)?;
    if args.json {
        let value: serde_json::Value = block_on(client.status())??;
        return emit(&pretty(&value));
    }
    let status: StatusView = block_on(client.status())??;
    emit(&render_status(&status, use_color()))
}

/// Parses `--at`: Beijing wall time (`2026-11-24 14:30`, seconds and `T` optional,
/// `/` accepted) or RFC 3339. A time after `now` is refused: a milestone is recorded
/// once it has happened.
pub fn parse_at(text: &str, now: Timestamp) -> Result<Timestamp, CliError> {
    let at = parse_time("--at", text)?;
    if at > now {
        return Err(CliError::usage(format!(
            "--at {} 晚于当前时间 {}；只能记录已经完成的节点",
            local(at),
            local(now)
        )));
    }
    Ok(at)
}

/// `--since`: a date alone (`2026-11-24`, Beijing midnight), or a time as
/// [`parse_time`] reads it.
pub fn parse_since(text: &str) -> Result<Timestamp, CliError> {
    let date = ["%Y-%m-%d", "%Y/%m/%d"]
        .iter()
        .find_map(|format| chrono::NaiveDate::parse_from_str(text.trim(), format).ok())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|midnight| ZONE.from_local_datetime(&midnight).single());
    match date {
        Some(at) => Ok(at.with_timezone(&Utc)),
        None => parse_time("--since", text),
    }
}

/// Parses a time option (`flag` names it in the error): Beijing wall time
/// (`2026-11-24 14:30`, seconds and `T` optional, `/` accepted) or RFC 3339.
pub fn parse_time(flag: &str, text: &str) -> Result<Timestamp, CliError> {
    let text = text.trim();
    let bad = || {
        CliError::usage(format!(
            "{flag} “{text}” 不是有效的时间；请写成 \"2026-11-24 14:30\"（北京时间）或 RFC 3339（如 2026-11-24T14:30:00+08:00）"
        ))
    };
    let at = match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(at) => at.with_timezone(&Utc),
        Err(_) => {
            let naive = [
                "%Y-%m-%d %H:%M",
                "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%dT%H:%M",
                "%Y-%m-%dT%H:%M:%S",
                "%Y/%m/%d %H:%M",
                "%Y/%m/%d %H:%M:%S",
            ]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
            .ok_or_else(bad)?;
            ZONE.from_local_datetime(&naive)
                .single()
                .ok_or_else(bad)?
                .with_timezone(&Utc)
        }
    };
    Ok(at)
}

fn usage(err: ApiError) -> CliError {
    CliError::usage(err.to_string())
}

pub(super) fn connect(config: &Config) -> Result<Client, CliError> {
    Ok(Client::from_config(config)?)
}

/// Runs one request on a small single-threaded runtime (the CLI does one thing at a time).
pub(super) fn block_on<F: Future>(future: F) -> Result<F::Output, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::failed(format!("无法启动异步运行时：{err}")))?;
    Ok(runtime.block_on(future))
}

fn pretty(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

pub(super) fn emit(text: &str) -> Result<(), CliError> {
    emit_bytes(text.as_bytes())
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn emit_bytes(bytes: &[u8]) -> Result<(), CliError> {
    write_out(bytes).map(drop)
}

/// A part of a streamed answer, as [`emit`]: `false` when the reader went away, so the
/// rest need not be read.
fn emit_streamed(text: &str) -> Result<bool, CliError> {
    write_out(text.as_bytes())
}

/// Writes to stdout: `true` when written, `false` when the reader went away.
fn write_out(bytes: &[u8]) -> Result<bool, CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(err) => Err(CliError::failed(format!("无法写出结果：{err}"))),
    }
}

/// Colors only for a terminal, and never with `NO_COLOR` set (no-color.org) or `TERM=dumb`.
pub fn use_color() -> bool {
    color_allowed(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    )
}

fn color_allowed(
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Plain,
    Near,
    Overdue,
}

impl Tone {
    fn paint(self, text: &str, color: bool) -> String {
        match (color, self) {
            (true, Tone::Overdue) => format!("\x1b[31m{text}\x1b[0m"),
            (true, Tone::Near) => format!("\x1b[33m{text}\x1b[0m"),
            _ => text.to_string(),
        }
    }
}

/// How urgent a pending deadline is: overdue, near (under an hour, or under a fifth
/// of its window counted from the event), or plain.
fn tone(deadline: &DeadlineView, event_at: Timestamp, now: Timestamp) -> Tone {
    match deadline.state {
        DeadlineState::Met => Tone::Plain,
        DeadlineState::Overdue | DeadlineState::Missed => Tone::Overdue,
        DeadlineState::Pending => {
            let left = (deadline.due_at - now).num_seconds();
            let window = (deadline.due_at - event_at).num_seconds().max(1);
            if left <= 0 {
                Tone::Overdue
            } else if left < NEAR_SECS || (left as f64) < NEAR_FRACTION * window as f64 {
                Tone::Near
            } else {
                Tone::Plain
            }
        }
    }
}

/// Text from the outside world, made safe for a terminal: control characters
/// (newlines, escape sequences) become spaces.
/// Who made a change, as shown: the daemon's own changes read 系统.
fn who(by: &str) -> String {
    if by == crate::ledger::SYSTEM {
        "系统".to_string()
    } else {
        clean(by)
    }
}

fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A table with aligned columns; each row carries its tone. The last column is not
/// padded, so lines carry no trailing blanks.
fn table(headers: &[&str], rows: &[(Vec<String>, Tone)], color: bool) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for (cells, _) in rows {
        for (w, cell) in widths.iter_mut().zip(cells) {
            *w = (*w).max(cell.width());
        }
    }
    let mut out = header_line(headers, &widths, color);
    for (cells, tone) in rows {
        out.push_str(&tone.paint(&line(cells, &widths), color));
        out.push('\n');
    }
    out
}

/// The header row of a table (bold on a terminal), with its line end.
fn header_line(headers: &[&str], widths: &[usize], color: bool) -> String {
    let cells: Vec<String> = headers.iter().map(ToString::to_string).collect();
    let header = line(&cells, widths);
    if color {
        format!("\x1b[1m{header}\x1b[0m\n")
    } else {
        format!("{header}\n")
    }
}

/// One row: each cell padded to its column's width but the last (no trailing blanks),
/// two spaces between.
fn line(cells: &[String], widths: &[usize]) -> String {
    let last = cells.len().saturating_sub(1);
    cells
        .iter()
        .zip(widths)
        .enumerate()
        .map(|(i, (c, &w))| if i == last { c.clone() } else { pad(c, w) })
        .collect::<Vec<_>>()
        .join("  ")
}

fn level_text(level: Level) -> String {
    format::level(level, LevelStyle::Short)
}

/// `发布权威信息 11-24 15:00`: the next deadline, compactly.
fn next_due_cell(deadline: &DeadlineView) -> String {
    format!(
        "{} {}",
        deadline.milestone.chinese(),
        deadline.due_at.with_timezone(&ZONE).format("%m-%d %H:%M")
    )
}

fn next_due_text(incident: &IncidentView, now: Timestamp) -> Option<String> {
    incident.next_due().map(|d| {
        format!(
            "{} {}（{}）",
            d.milestone.chinese(),
            local(d.due_at),
            time_left(d.due_at, now)
        )
    })
}

/// The `list` table's headers.
const LIST_HEADERS: [&str; 7] = [
    "编号",
    "等级",
    "状态",
    "标题",
    "责任单位",
    "下一时限",
    "剩余",
];

/// The `list` table, laid out before its first row arrives: each column as wide as
/// the widest value its field can take (the largest id listed; the widest level,
/// status and milestone names; titles and units cut to [`TITLE_COLUMNS`] and
/// [`UNIT_COLUMNS`]), so rows printed batch by batch line up with the header. The
/// last column (剩余) is not padded.
struct ListTable {
    widths: [usize; 7],
    now: Timestamp,
    color: bool,
}

impl ListTable {
    fn new(max_id: IncidentId, now: Timestamp, color: bool) -> ListTable {
        let widest = |widths: &mut dyn Iterator<Item = usize>| widths.max().unwrap_or(0);
        let fields = [
            max_id.to_string().len(),
            widest(&mut Level::ALL.iter().map(|&l| level_text(l).width())),
            widest(
                &mut Status::ALL
                    .iter()
                    .flat_map(|&s| Level::ALL.map(|l| s.label(l).width())),
            ),
            TITLE_COLUMNS,
            UNIT_COLUMNS,
            // `发布权威信息 11-24 15:00`, see [`next_due_cell`].
            widest(&mut Milestone::ALL.iter().map(|m| m.chinese().width())) + " 11-24 15:00".len(),
            0,
        ];
        let mut widths = [0; 7];
        for (i, width) in widths.iter_mut().enumerate() {
            *width = LIST_HEADERS[i].width().max(fields[i]);
        }
        ListTable { widths, now, color }
    }

    fn header(&self) -> String {
        header_line(&LIST_HEADERS, &self.widths, self.color)
    }

    /// The rows of `incidents`, in the order given, each with its line end.
    fn rows(&self, incidents: &[IncidentView]) -> String {
        let mut out = String::new();
        for incident in incidents {
            let next = incident.next_due();
            let cells = [
                incident.id.to_string(),
                level_text(incident.level),
                incident.status.label(incident.level).to_string(),
                truncate_columns(&clean(&incident.title), TITLE_COLUMNS),
                truncate_columns(
                    &clean(incident.unit.as_deref().unwrap_or("—")),
                    UNIT_COLUMNS,
                ),
                next.map_or_else(|| "—".to_string(), next_due_cell),
                next.map_or_else(|| "—".to_string(), |d| time_left(d.due_at, self.now)),
            ];
            let tone = next.map_or(Tone::Plain, |d| tone(d, incident.event_at, self.now));
            out.push_str(&tone.paint(&line(&cells, &self.widths), self.color));
            out.push('\n');
        }
        out
    }
}

/// The `show` block: facts, deadlines, items with sources and links, audit trail.
pub fn render_detail(detail: &IncidentDetail, now: Timestamp, color: bool) -> String {
    let incident = &detail.incident;
    let mut out = format!("事件 {}：{}\n", incident.id, clean(&incident.title));
    let mut facts: Vec<(&str, String)> = vec![
        ("等级", {
            let mut text = level_text(incident.level);
            if incident.detected_level != incident.level {
                let _ = write!(text, "（研判为 {}）", level_text(incident.detected_level));
            }
            text
        }),
        ("状态", incident.status.label(incident.level).to_string()),
        (
            "主题",
            incident
                .topics
                .iter()
                .map(|t| topic_name(t))
                .collect::<Vec<_>>()
                .join("、"),
        ),
        (
            "责任单位",
            clean(incident.unit.as_deref().unwrap_or("（未指定）")),
        ),
        ("事发时间", local(incident.event_at)),
        ("立案时间", local(incident.opened_at)),
    ];
    if !incident.places.is_empty() {
        facts.push(("地点", clean(&incident.places.join("、"))));
    }
    if let Some(into) = incident.merged_into {
        facts.push(("并入", format!("事件 {into}")));
    }
    let label_width = facts.iter().map(|(l, _)| l.width()).max().unwrap_or(0);
    for (label, value) in &facts {
        let _ = writeln!(out, "  {}  {value}", pad(label, label_width));
    }

    out.push_str("\n时限\n");
    if incident.deadlines.is_empty() {
        out.push_str("  （关注级，无回应时限）\n");
    }
    let name_width = incident
        .deadlines
        .iter()
        .map(|d| d.milestone.chinese().width())
        .max()
        .unwrap_or(0);
    for d in &incident.deadlines {
        let (state, tone) = match (d.met_at, incident.status.is_open()) {
            (Some(met), _) => (
                format!("{}，完成于 {}", outcome(d), local(met)),
                Tone::Plain,
            ),
            (None, true) => {
                let tone = tone(d, incident.event_at, now);
                let text = match tone {
                    Tone::Overdue => time_left(d.due_at, now),
                    _ => format!("剩余 {}", time_left(d.due_at, now)),
                };
                (text, tone)
            }
            (None, false) => (outcome(d).to_string(), Tone::Plain),
        };
        let line = format!(
            "  {}  {}  {state}",
            pad(d.milestone.chinese(), name_width),
            local(d.due_at)
        );
        out.push_str(&tone.paint(&line, color));
        out.push('\n');
    }

    if let Some(effect) = &detail.effect {
        let window = crate::clock::effect::window_chinese(effect.window_secs);
        let _ = writeln!(
            out,
            "\n效果评估：{}（首次回应 {}；回应前 {window}内 {} 条，回应后 {window}内 {} 条）",
            effect.verdict.chinese(),
            local(effect.first_response),
            effect.before,
            effect.after
        );
    }

    let _ = writeln!(out, "\n条目（{} 条）", detail.item_list.len());
    for (n, item) in detail.item_list.iter().enumerate() {
        let _ = writeln!(out, "  {}. {}", n + 1, clean(&item.title));
        let published = item
            .published
            .map(|p| format!("，发布于 {}", local(p)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "     来源：{}（{}）{published}，收录于 {}",
            clean(&item.source_name),
            item.source,
            local(item.first_seen)
        );
        if let Some(link) = &item.link {
            let _ = writeln!(out, "     {}", clean(link));
        }
    }

    if !incident.responses.is_empty() {
        let _ = writeln!(out, "\n官方回应（{} 条）", incident.responses.len());
        for r in &incident.responses {
            let met = match (r.milestone, r.suggested) {
                (Some(m), _) => format!("完成“{}”", m.chinese()),
                (None, Some(m)) => format!("建议登记“{}”，待确认", m.chinese()),
                (None, None) => "续报".to_string(),
            };
            let _ = writeln!(out, "  {}. {}", r.n, clean(&r.title));
            let _ = writeln!(
                out,
                "     来源：{}，发布于 {}，{met}（{}）",
                clean(&r.source),
                local(r.published_at),
                who(&r.by)
            );
            if let Some(url) = &r.url {
                let _ = writeln!(out, "     {}", clean(url));
            }
        }
    }

    out.push_str("\n操作记录\n");
    let by_width = detail
        .audit
        .iter()
        .map(|a| who(&a.by).width())
        .max()
        .unwrap_or(0);
    for entry in &detail.audit {
        let what = if entry.detail.is_empty() {
            entry.action.as_str()
        } else {
            entry.detail.as_str()
        };
        let reason = entry
            .reason
            .as_deref()
            .map(|r| format!("（理由：{}）", clean(r)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}  {}  {}{reason}",
            local(entry.at),
            pad(&who(&entry.by), by_width),
            clean(what)
        );
    }
    out
}

fn bytes_text(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MIB {
        format!("{:.1} MB", bytes as f64 / MIB)
    } else {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    }
}

/// `status`'s retention line: the period, and the last sweep.
fn retention_line(retention: &RetentionStatus) -> String {
    let period = match crate::config::parse_duration(&retention.routine_items) {
        Ok(d) => format!(
            "未进入事件的条目保留 {}",
            span(chrono::Duration::from_std(d).unwrap_or(chrono::TimeDelta::MAX))
        ),
        Err(_) => "条目永久保留（[retention] routine_items = \"off\"）".to_string(),
    };
    let last = retention.last_sweep_at.map_or_else(
        || "尚未清理".to_string(),
        |at| {
            format!(
                "上次清理 {}，删除 {} 条，保留超期条目 {} 条（属于事件、待处理或待答复）",
                local(at),
                retention.last_removed,
                retention.last_kept
            )
        },
    );
    format!("数据保留：{period}；{last}")
}

/// The `status` report.
pub fn render_status(status: &StatusView, color: bool) -> String {
    let now = status.now;
    let mut out = format!(
        "守护进程运行中：yuqing {}，已运行 {}（自 {} 起）\n",
        status.version,
        span(now - status.started_at),
        local(status.started_at)
    );
    let _ = writeln!(
        out,
        "数据目录：{}（数据库 {}）",
        status.data_dir,
        bytes_text(status.db_bytes)
    );
    let _ = writeln!(
        out,
        "条目：{} 条；未办结事件：{} 个",
        status.items, status.open_incidents
    );
    let _ = writeln!(out, "{}", retention_line(&status.retention));
    let _ = writeln!(
        out,
        "最近轮询：{}",
        status.last_poll_at.map_or_else(
            || "尚未轮询".to_string(),
            |t| format!("{}（{}前）", local(t), span(now - t))
        )
    );
    let mail = format!(
        "邮件：待发送 {} 封，无法投递 {} 封{}\n",
        status.outbox_pending,
        status.dead_letters,
        if status.dead_letters > 0 {
            "（请检查 [smtp] 设置和收件地址）"
        } else {
            ""
        }
    );
    let mail_tone = if status.dead_letters > 0 {
        Tone::Overdue
    } else {
        Tone::Plain
    };
    out.push_str(&mail_tone.paint(&mail, color));
    if status.mail_failing > 0 {
        let failing = format!(
            "邮件发送失败：{} 封待重试；最近错误：{}；下次重试：{}\n",
            status.mail_failing,
            status.mail_last_error.as_deref().unwrap_or("（未记录）"),
            status
                .mail_next_retry_at
                .map_or_else(|| "未定".to_string(), local)
        );
        out.push_str(&Tone::Overdue.paint(&failing, color));
    }
    for channel in &status.channels {
        let line = if channel.failing > 0 {
            format!(
                "群机器人 {}（{}）：待发送 {} 条，{} 条发送失败待重试；最近错误：{}；下次重试：{}\n",
                channel.name,
                channel.kind,
                channel.pending,
                channel.failing,
                channel.last_error.as_deref().unwrap_or("（未记录）"),
                channel
                    .next_retry_at
                    .map_or_else(|| "未定".to_string(), local)
            )
        } else {
            format!(
                "群机器人 {}（{}）：待发送 {} 条\n",
                channel.name, channel.kind, channel.pending
            )
        };
        let tone = if channel.failing > 0 {
            Tone::Overdue
        } else {
            Tone::Plain
        };
        out.push_str(&tone.paint(&line, color));
    }

    let count = |h: SourceHealth| status.sources.iter().filter(|s| s.health == h).count();
    let _ = writeln!(
        out,
        "\n信息源：{} 个正常，{} 个异常，{} 个待轮询，{} 个已停用",
        count(SourceHealth::Ok),
        count(SourceHealth::Failing),
        count(SourceHealth::Waiting),
        count(SourceHealth::Disabled)
    );
    if status.sources.is_empty() {
        return out;
    }
    let rows: Vec<(Vec<String>, Tone)> = status
        .sources
        .iter()
        .map(|s| {
            let detail = match s.health {
                SourceHealth::Failing => format!(
                    "连续失败 {} 次{}：{}",
                    s.consecutive_failures,
                    s.failing_since
                        .map(|t| format!("（自 {} 起）", local(t)))
                        .unwrap_or_default(),
                    clean(s.last_error.as_deref().unwrap_or("未知错误"))
                ),
                _ => format!("累计 {} 条", s.items_total),
            };
            let tone = if s.health == SourceHealth::Failing {
                Tone::Overdue
            } else {
                Tone::Plain
            };
            let cells = vec![
                s.health.chinese().to_string(),
                s.id.clone(),
                truncate_columns(&clean(&s.name), 24),
                s.last_poll_at.map_or_else(|| "—".to_string(), local),
                detail,
            ];
            (cells, tone)
        })
        .collect();
    out.push_str(&table(
        &["状态", "编号", "名称", "最近轮询", "情况"],
        &rows,
        color,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `list --json` printed batch by batch is `pretty` of the whole array, however the
    /// batches fall (empty ones included), and of an empty array.
    #[test]
    fn json_printed_in_batches_is_the_whole_array_pretty_printed() {
        let values: Vec<serde_json::Value> = (0..5)
            .map(|i| {
                serde_json::json!({"id": i, "title": "甲\n\"乙\"", "deadlines": [{"a": []}, {}], "unit": null})
            })
            .collect();
        let whole = pretty(&serde_json::Value::Array(values.clone()));
        for cuts in [vec![5], vec![1, 4], vec![0, 2, 0, 3], vec![1, 1, 1, 1, 1]] {
            let (mut text, mut first, mut at) = (String::new(), true, 0);
            for n in cuts {
                text.push_str(&json_batch(&values[at..at + n], &mut first));
                at += n;
            }
            text.push_str(if first { "[]\n" } else { "\n]\n" });
            assert_eq!(text, whole);
        }
        let mut first = true;
        assert!(json_batch(&[], &mut first).is_empty() && first);
        assert_eq!(pretty(&serde_json::json!([])), "[]\n");
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        let refused = ClientError::Refused {
            code: "not_found".into(),
            message: "x".into(),
        };
        assert_eq!(CliError::from(refused).code, 1);
        assert_eq!(CliError::from(ClientError::Usage("x".into())).code, 2);
        assert_eq!(
            CliError::from(ClientError::Unauthorized("x".into())).code,
            2
        );
        assert_eq!(CliError::from(ClientError::Unreachable("x".into())).code, 3);
    }

    use crate::api::views::tests::{at, incident};
    use crate::api::views::{ItemView, SourceStatus};
    use crate::model::Status;

    fn now() -> Timestamp {
        at("2026-11-24T09:30:00Z") // 17:30 Beijing
    }

    #[test]
    fn at_accepts_beijing_time_and_rfc3339() {
        let cases = [
            ("2026-11-24 14:30", "2026-11-24T06:30:00Z"),
            ("2026-11-24 14:30:15", "2026-11-24T06:30:15Z"),
            ("2026-11-24T09:05", "2026-11-24T01:05:00Z"),
            ("2026/11/24 00:10", "2026-11-23T16:10:00Z"),
            ("2026-11-24T14:30:00+08:00", "2026-11-24T06:30:00Z"),
            ("2026-11-24T01:00:00Z", "2026-11-24T01:00:00Z"),
            ("  2026-11-24 14:00  ", "2026-11-24T06:00:00Z"),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_at(text, now()).unwrap(), at(expected), "{text}");
        }
    }

    #[test]
    fn since_takes_a_date_a_beijing_time_or_rfc3339() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let table = [
            ("2026-11-24", t("2026-11-23T16:00:00Z")),
            ("2026/11/24", t("2026-11-23T16:00:00Z")),
            ("2026-11-24 08:30", t("2026-11-24T00:30:00Z")),
            ("2026-11-24T08:30:00+08:00", t("2026-11-24T00:30:00Z")),
        ];
        for (text, expected) in table {
            assert_eq!(parse_since(text).unwrap(), expected, "{text}");
        }
        let err = parse_since("上周").unwrap_err();
        assert_eq!(err.code, 2);
        assert!(err.message.contains("--since"), "{err}");
    }

    #[test]
    fn the_more_line_counts_what_the_page_left_out() {
        assert_eq!(
            more_line(250, 100),
            "还有 150 条，用 --limit 或 --since 查看\n"
        );
        assert_eq!(more_line(100, 100), "");
        assert_eq!(more_line(0, 0), "");
    }

    #[test]
    fn malformed_or_future_at_is_a_usage_error() {
        for text in [
            "",
            "yesterday",
            "14:30",
            "2026-11-24",
            "2026-13-01 10:00",
            "2026-11-24 25:00",
            "2026-11-24 17:31",
            "2027-01-01T00:00:00+08:00",
        ] {
            let err = parse_at(text, now()).unwrap_err();
            assert_eq!(err.code, 2, "{text}: {err}");
            assert!(err.message.contains("--at"), "{text}: {err}");
        }
    }

    #[test]
    fn widths_count_chinese_as_two_columns() {
        assert_eq!(pad("标题", 6), "标题  ");
        assert_eq!(pad("ab", 6), "ab    ");
        assert_eq!(
            truncate_columns("安丘市景芝镇一化工厂发生爆炸", 10),
            "安丘市景…"
        );
        assert_eq!(
            truncate_columns("安丘市景芝镇一化工厂发生爆炸", 10).width(),
            9
        );
        assert_eq!(truncate_columns("short", 10), "short");
        assert_eq!(truncate_columns("安丘市", 6), "安丘市");
        assert_eq!(truncate_columns("abcdefghijkl", 6), "abcde…");
        assert_eq!(clean("第一行\n第二行\x1b[31m"), "第一行 第二行 [31m");
    }

    /// The table as `list` prints it, every row in one batch.
    fn render_list(incidents: &[IncidentView], now: Timestamp, color: bool) -> String {
        let max_id = incidents.iter().map(|i| i.id).max().unwrap_or(0);
        let table = ListTable::new(max_id, now, color);
        table.header() + &table.rows(incidents)
    }

    /// Each column is as wide as the widest value its field can take, so a row that
    /// arrives later never pushes the columns after it out of line.
    #[test]
    fn list_columns_fit_every_level_status_and_milestone() {
        let table = ListTable::new(99_999, now(), false);
        let header = table.header();
        let left = |line: &str, needle: &str| line[..line.rfind(needle).unwrap()].width();
        let start = left(&header, "剩余");
        for level in Level::ALL {
            for status in Status::ALL {
                for milestone in Milestone::ALL {
                    let mut inc = incident(99_999, &"长".repeat(40));
                    inc.level = level;
                    inc.status = status;
                    inc.unit = Some("单".repeat(20));
                    inc.deadlines.retain(|d| d.milestone == Milestone::Ack);
                    inc.deadlines[0].milestone = milestone;
                    inc.deadlines[0].met_at = None;
                    let row = table.rows(&[IncidentView::new(&inc, now())]);
                    let last = if status.is_open() { "已超时" } else { "—" };
                    assert_eq!(left(&row, last), start, "{header}{row}");
                }
            }
        }
        assert!(header.starts_with("编号   等级"), "{header}");
    }

    #[test]
    fn table_columns_line_up_with_chinese_text() {
        let mut long = incident(
            12,
            "安丘市景芝镇一化工厂发生爆炸造成3人死亡多人受伤当地政府已成立调查组",
        );
        long.unit = Some("景芝镇人民政府".into());
        let mut watch = incident(3, "关注事项");
        watch.level = Level::Watch;
        watch.deadlines.clear();
        watch.unit = None;
        // In the daemon's (list) order, as `list` receives them.
        let views = [
            IncidentView::new(&incident(7, "化工厂爆炸"), now()),
            IncidentView::new(&long, now()),
            IncidentView::new(&watch, now()),
        ];
        let text = render_list(&views, now(), false);
        // Printed batch by batch, the rows line up the same: the widths come before
        // the rows.
        let table = ListTable::new(12, now(), false);
        let batches = table.header() + &table.rows(&views[..1]) + &table.rows(&views[1..]);
        assert_eq!(batches, text);
        assert!(!text.contains('\x1b'), "no colors when not a terminal");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("编号"));
        for header in ["等级", "状态", "标题", "责任单位", "下一时限", "剩余"] {
            assert!(lines[0].contains(header), "{header}");
        }
        // Every row's 剩余 column starts at the same display column as the header's.
        let column = |line: &str, needle: &str| line[..line.rfind(needle).unwrap()].width();
        let left = column(lines[0], "剩余");
        assert_eq!(column(lines[1], "已超时"), left, "{text}");
        assert_eq!(column(lines[3], "—"), left, "{text}");
        // Soonest first: both clocked incidents are overdue on the statement; watch last.
        assert!(
            lines[1].starts_with("12") || lines[1].starts_with("7 "),
            "{text}"
        );
        assert!(lines[3].starts_with("3 "), "{text}");
        assert!(text.contains("…"), "long title truncated: {text}");
        assert!(text.contains("已超时 2小时30分"), "{text}");
        assert!(text.contains("发布权威信息 11-24 15:00"), "{text}");
        assert!(
            text.lines().all(|l| !l.ends_with(' ')),
            "no trailing blanks"
        );
    }

    #[test]
    fn overdue_is_red_and_near_is_yellow_on_a_terminal() {
        let overdue = IncidentView::new(&incident(7, "超时"), now());
        let text = render_list(std::slice::from_ref(&overdue), now(), true);
        assert!(text.contains("\x1b[31m7 "), "{text:?}");
        // 40 minutes before the statement is due: near.
        let soon = at("2026-11-24T06:20:00Z");
        let view = IncidentView::new(&incident(7, "临近"), soon);
        let text = render_list(std::slice::from_ref(&view), soon, true);
        assert!(text.contains("\x1b[33m7 "), "{text:?}");
        // Four hours before: plain.
        let early = at("2026-11-24T03:00:00Z");
        let view = IncidentView::new(&incident(7, "尚早"), early);
        let text = render_list(std::slice::from_ref(&view), early, true);
        assert!(
            !text.contains("\x1b[31m") && !text.contains("\x1b[33m"),
            "{text:?}"
        );
    }

    #[test]
    fn near_counts_a_fifth_of_long_windows() {
        let mut inc = incident(7, "x");
        inc.level = Level::III;
        inc.deadlines = vec![crate::model::Deadline {
            milestone: Milestone::Response,
            due_at: at("2026-11-26T02:00:00Z"), // 48 h after the event
            met_at: None,
        }];
        let nine_hours_left = at("2026-11-25T17:00:00Z");
        let view = IncidentView::new(&inc, nine_hours_left);
        assert_eq!(
            tone(&view.deadlines[0], view.event_at, nine_hours_left),
            Tone::Near
        );
        let twenty_hours_left = at("2026-11-25T06:00:00Z");
        let view = IncidentView::new(&inc, twenty_hours_left);
        assert_eq!(
            tone(&view.deadlines[0], view.event_at, twenty_hours_left),
            Tone::Plain
        );
    }

    #[test]
    fn colors_follow_terminal_and_no_color() {
        use std::ffi::OsStr;
        assert!(color_allowed(true, None, Some(OsStr::new("xterm"))));
        assert!(!color_allowed(false, None, None));
        assert!(!color_allowed(true, Some(OsStr::new("1")), None));
        assert!(color_allowed(true, Some(OsStr::new("")), None));
        assert!(!color_allowed(true, None, Some(OsStr::new("dumb"))));
    }

    #[test]
    fn watch_incidents_read_as_watched_then_filed_never_awaiting_ack() {
        let mut inc = incident(9, "外地某化工厂起火");
        inc.level = Level::Watch;
        inc.deadlines.clear();
        inc.status = Status::New;
        let list = render_list(&[IncidentView::new(&inc, now())], now(), false);
        assert!(list.contains("关注中"), "{list}");
        assert!(!list.contains("待签收"), "{list}");
        inc.status = Status::Closed;
        let detail = IncidentDetail {
            incident: IncidentView::new(&inc, now()),
            item_list: Vec::new(),
            audit: Vec::new(),
            effect: None,
        };
        let text = render_detail(&detail, now(), false);
        assert!(text.contains("已归档"), "{text}");
        assert!(!text.contains("已办结"), "{text}");
    }

    #[test]
    fn show_block_has_facts_deadlines_items_and_audit() {
        let mut inc = incident(7, "安丘市景芝镇一化工厂发生爆炸");
        inc.status = Status::Acknowledged;
        let detail = IncidentDetail {
            incident: IncidentView::new(&inc, now()),
            item_list: vec![ItemView {
                source: "local-news".into(),
                source_name: "本地新闻".into(),
                title: "安丘市景芝镇一化工厂发生爆炸 造成3人死亡".into(),
                link: Some("http://127.0.0.1/1.html".into()),
                published: Some(at("2026-11-24T01:58:00Z")),
                first_seen: at("2026-11-24T02:00:00Z"),
                revisions: 0,
                topics: vec!["accident".into()],
                severity: Some(Level::III),
            }],
            audit: vec![crate::api::views::tests::ack_by_zhang()],
            effect: Some(crate::api::views::EffectView {
                verdict: crate::model::Verdict::Pending,
                before: 1,
                after: 0,
                window: "24h".into(),
                first_response: at("2026-11-24T03:00:00Z"),
                window_secs: 24 * 3600,
            }),
        };
        let text = render_detail(&detail, now(), false);
        for needle in [
            "事件 7：安丘市景芝镇一化工厂发生爆炸",
            "II 重大（研判为 III 较大）",
            "事故灾难、安全生产",
            "市应急管理局",
            "按时完成，完成于 2026-11-24 10:10",
            "已超时 2小时30分",
            "剩余 16小时30分",
            "来源：本地新闻（local-news），发布于 2026-11-24 09:58",
            "http://127.0.0.1/1.html",
            "2026-11-24 10:10  张三  签收",
            "效果评估：待评估（首次回应 2026-11-24 11:00；回应前 24 小时内 1 条，回应后 24 小时内 0 条）",
        ] {
            assert!(text.contains(needle), "missing {needle}:\n{text}");
        }
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn status_report_names_failing_sources() {
        let status = StatusView {
            version: "0.1.0".into(),
            started_at: at("2026-11-24T04:00:00Z"),
            now: now(),
            data_dir: "/var/lib/yuqing".into(),
            db_bytes: 3 * 1024 * 1024,
            items: 42,
            open_incidents: 2,
            outbox_pending: 1,
            dead_letters: 0,
            mail_failing: 0,
            mail_last_error: None,
            mail_next_retry_at: None,
            last_poll_at: Some(at("2026-11-24T09:25:00Z")),
            sources: vec![SourceStatus {
                id: "anqiu-board".into(),
                name: "安丘市政府网站留言板".into(),
                health: SourceHealth::Failing,
                ok: false,
                last_poll_at: Some(at("2026-11-24T09:25:00Z")),
                last_ok_at: None,
                failing_since: Some(at("2026-11-24T05:00:00Z")),
                consecutive_failures: 3,
                last_error: Some("HTTP 503".into()),
                last_status: Some(503),
                items_total: 0,
            }],
            channels: vec![crate::api::views::ChannelStatus {
                name: "duty-ding".into(),
                kind: "dingtalk".into(),
                pending: 2,
                failing: 2,
                last_error: Some("群机器人 duty-ding 未接收：HTTP 503".into()),
                next_retry_at: Some(at("2026-11-24T09:31:00Z")),
            }],
            retention: RetentionStatus {
                routine_items: "90d".into(),
                last_sweep_at: Some(at("2026-11-24T09:01:00Z")),
                last_removed: 1234,
                last_kept: 56,
            },
        };
        let text = render_status(&status, false);
        for needle in [
            "已运行 5小时30分",
            "数据库 3.0 MB",
            "条目：42 条；未办结事件：2 个",
            "最近轮询：2026-11-24 17:25（5分钟前）",
            "待发送 1 封，无法投递 0 封",
            "0 个正常，1 个异常",
            "连续失败 3 次（自 2026-11-24 13:00 起）：HTTP 503",
            "数据保留：未进入事件的条目保留 90天；上次清理 2026-11-24 17:01，删除 1234 条，保留超期条目 56 条",
            "群机器人 duty-ding（dingtalk）：待发送 2 条，2 条发送失败待重试；最近错误：群机器人 duty-ding 未接收：HTTP 503；下次重试：2026-11-24 17:31",
        ] {
            assert!(text.contains(needle), "missing {needle}:\n{text}");
        }
        assert!(render_status(&status, true).contains("\x1b[31m异常"));
    }
}
