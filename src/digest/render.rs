//! The digest as people read it: a plain-text part and an HTML part for mail.
//!
//! The HTML is built for mail clients (Outlook, Foxmail, webmail): table layout,
//! inline styles and `bgcolor` attributes only, no external resources, no script,
//! no CSS classes. The 7-day chart is a table of coloured cells whose widths carry
//! the figures, so it renders wherever tables do. Every piece of text that comes
//! from outside (titles, unit and source names, errors, terms) is escaped.

use askama::Template as _;
use std::fmt::Write as _;

use super::report::NO_UNIT;
use super::{
    Breach, DeadlineOutcome, DigestReport, FailingSource, IncidentLine, LEVELS, NextDue,
    PeriodKind, RateRow,
};
use unicode_width::UnicodeWidthStr;

use crate::format::pad;
use crate::model::{Level, topic_name};
use crate::time::{local, span};

/// Rows shown per list before "另有 N 条" (the JSON always has every row).
const MAX_ROWS: usize = 50;
/// Terms shown.
const MAX_TERMS: usize = 20;

/// `0.667` → `66.7%`, `1.0` → `100%`.
pub(super) fn percent(rate: f64) -> String {
    let text = format!("{:.1}", rate * 100.0);
    format!("{}%", text.strip_suffix(".0").unwrap_or(&text))
}

fn rate_text(row: &RateRow) -> String {
    row.rate.map_or_else(|| "—".to_string(), percent)
}

/// The mail subject: `【舆情日报】安丘市 2026年11月24日`, `（补发）` when sent late.
pub fn subject(report: &DigestReport, late: bool) -> String {
    let mut s = format!(
        "【舆情日报】{} {}",
        report.jurisdiction,
        report.period.date.format("%Y年%m月%d日")
    );
    if report.quiet {
        s.push_str(" 无新增舆情事件");
    } else {
        let _ = write!(s, " 新增舆情事件{}起", report.counts.new_incidents);
    }
    if late {
        s.push_str("（补发）");
    }
    s
}

/// `2026-11-23 08:00 至 2026-11-24 08:00`.
fn period_text(report: &DigestReport) -> String {
    let p = &report.period;
    match p.kind {
        PeriodKind::Day if p.end - p.start == chrono::Duration::days(1) => {
            format!("{} 全天", p.date.format("%Y-%m-%d"))
        }
        _ => format!("{} 至 {}", local(p.start), local(p.end)),
    }
}

fn unit(unit: &Option<String>) -> &str {
    unit.as_deref().unwrap_or(NO_UNIT)
}

fn topics(line: &IncidentLine) -> String {
    if line.topics.is_empty() {
        return "—".into();
    }
    line.topics
        .iter()
        .map(|t| topic_name(t))
        .collect::<Vec<_>>()
        .join("、")
}

/// An incident's sources by name (ids of sources no longer configured stay ids).
fn sources(report: &DigestReport, line: &IncidentLine) -> String {
    line.sources
        .iter()
        .map(|id| {
            report
                .counts
                .by_source
                .iter()
                .find(|s| &s.source == id)
                .map_or(id.as_str(), |s| s.name.as_str())
        })
        .collect::<Vec<_>>()
        .join("、")
}

/// What to show for an open incident without an unmet deadline.
fn no_due(line: &IncidentLine) -> &'static str {
    if line.level == Level::Watch {
        "关注级，不计时限"
    } else {
        "各时限节点均已完成"
    }
}

fn level_tag(level: Level) -> String {
    crate::format::level(level, crate::format::LevelStyle::Tag)
}

/// `回应 还剩 4小时12分（11-24 15:00）` or `回应 已超时 35分钟`.
fn due_text(due: &NextDue) -> String {
    let at = local(due.due_at);
    if due.left_secs < 0 {
        format!(
            "{} 已超时 {}（应于 {at}）",
            due.milestone.chinese(),
            span(chrono::Duration::seconds(due.left_secs))
        )
    } else {
        format!(
            "{} 还剩 {}（{at}）",
            due.milestone.chinese(),
            span(chrono::Duration::seconds(due.left_secs))
        )
    }
}

fn breach_text(b: &Breach) -> String {
    let late = span(chrono::Duration::seconds(b.overdue_secs));
    match (b.outcome, b.met_at, b.closed_at) {
        (DeadlineOutcome::Late, Some(met), _) => format!("{} 完成，超时 {late}", local(met)),
        (_, _, Some(closed)) => format!("未完成，{} 办结", local(closed)),
        _ => format!("未完成，已超时 {late}"),
    }
}

fn failing_text(f: &FailingSource) -> String {
    let mut s = match (f.since, f.failing_secs) {
        (Some(since), Some(secs)) => format!(
            "自 {} 起失败，已持续 {}，连续失败 {} 次",
            local(since),
            span(chrono::Duration::seconds(secs)),
            f.failures
        ),
        _ => format!("连续失败 {} 次", f.failures),
    };
    if let Some(ok) = f.last_ok_at {
        let _ = write!(s, "；最后成功 {}", local(ok));
    }
    s
}

/// The plain-text part.
pub fn render_text(report: &DigestReport) -> String {
    let mut out = String::new();
    let o = &mut out;
    let _ = writeln!(
        o,
        "{}舆情日报 {}",
        report.jurisdiction,
        report.period.date.format("%Y年%m月%d日")
    );
    let _ = writeln!(
        o,
        "统计时段：{}（北京时间），生成于 {}",
        period_text(report),
        local(report.generated_at)
    );

    section(o, "概况");
    let _ = writeln!(o, "{}", report.summary);

    section(o, &format!("新增事件（{}起）", report.new_incidents.len()));
    if report.new_incidents.is_empty() {
        let _ = writeln!(o, "无新增舆情事件。");
    }
    for line in report.new_incidents.iter().take(MAX_ROWS) {
        incident_heading(o, line.id, line.level, &line.title);
        let _ = writeln!(
            o,
            "  {}｜{}｜领域：{}｜来源：{}｜条目 {}｜立案 {}",
            line.status.label(line.level),
            unit(&line.unit),
            topics(line),
            sources(report, line),
            line.items,
            local(line.opened_at)
        );
    }
    more(o, report.new_incidents.len());

    section(
        o,
        &format!("未办结事件（{}起）", report.open_incidents.len()),
    );
    if report.open_incidents.is_empty() {
        let _ = writeln!(o, "没有未办结的事件。");
    }
    for line in report.open_incidents.iter().take(MAX_ROWS) {
        let due = line
            .next_due
            .as_ref()
            .map_or_else(|| no_due(line).to_string(), due_text);
        incident_heading(o, line.id, line.level, &line.title);
        let _ = writeln!(
            o,
            "  {}｜{}｜{}",
            line.status.label(line.level),
            unit(&line.unit),
            due
        );
    }
    more(o, report.open_incidents.len());

    let d = &report.deadlines;
    section(o, &format!("超时节点（{}个）", d.breaches.len()));
    if d.breaches.is_empty() {
        let _ = writeln!(o, "期内到期的处置时限均按时完成。");
    }
    for b in d.breaches.iter().take(MAX_ROWS) {
        let _ = writeln!(
            o,
            "· #{} {}：{}，应于 {}，{}｜责任单位：{}",
            b.incident,
            b.title,
            b.milestone.chinese(),
            local(b.due_at),
            breach_text(b),
            unit(&b.unit)
        );
    }
    more(o, d.breaches.len());

    section(o, "回应与效果");
    for line in response_lines(report) {
        let _ = writeln!(o, "{line}");
    }

    section(o, "按时率（期内到期的时限）");
    rate_table(o, "节点", &d.by_milestone);
    let _ = writeln!(o);
    let mut units = d.by_unit.clone();
    units.push(d.overall.clone());
    rate_table(o, "责任单位（对外发布与回应）", &units);

    section(o, "分布");
    let levels: Vec<String> = LEVELS
        .iter()
        .map(|l| format!("{} {}", l.chinese(), report.counts.by_level.get(*l)))
        .collect();
    let _ = writeln!(o, "按等级：{}", levels.join("，"));
    if !report.counts.by_topic.is_empty() {
        let topics: Vec<String> = report
            .counts
            .by_topic
            .iter()
            .map(|t| format!("{} {}", t.name, t.count))
            .collect();
        let _ = writeln!(o, "按领域：{}", topics.join("，"));
    }
    let _ = writeln!(o, "按信息源（条目/预警/事件）：");
    let active: Vec<_> = report
        .counts
        .by_source
        .iter()
        .filter(|s| s.items + s.incidents > 0)
        .collect();
    for s in &active {
        let _ = writeln!(
            o,
            "  {} {}/{}/{}",
            pad(&s.name, 28),
            s.items,
            s.flagged,
            s.incidents
        );
    }
    let silent = report.counts.by_source.len() - active.len();
    if silent > 0 {
        let _ = writeln!(o, "  其余{silent}个信息源期内无新条目。");
    }

    section(o, "热词");
    if report.top_terms.is_empty() {
        let _ = writeln!(o, "期内无新条目。");
    } else {
        let terms: Vec<&str> = report
            .top_terms
            .iter()
            .take(MAX_TERMS)
            .map(|t| t.term.as_str())
            .collect();
        let _ = writeln!(o, "{}", terms.join("、"));
    }

    section(o, "信息源状况");
    if report.sources.failing.is_empty() {
        let _ = writeln!(o, "{}个信息源运行正常。", report.sources.total);
    }
    for f in &report.sources.failing {
        let _ = writeln!(o, "· {}（{}）：{}", f.name, f.source, failing_text(f));
        if let Some(err) = &f.last_error {
            let _ = writeln!(o, "  最近错误：{err}");
        }
    }

    replies_text(o, &report.replies);
    documents_text(o, &report.document_clocks);

    section(o, "近7日新增事件");
    let max = report.trend.iter().map(|d| d.total).max().unwrap_or(0);
    for day in &report.trend {
        let bar = if max == 0 {
            0
        } else {
            (day.total * 30).div_ceil(max) as usize
        };
        let levels: Vec<String> = LEVELS
            .iter()
            .filter(|l| day.by_level.get(**l) > 0)
            .map(|l| format!("{}{}", l.chinese(), day.by_level.get(*l)))
            .collect();
        let line = format!(
            "{} {:>3} {}{}",
            day.label,
            day.total,
            "█".repeat(bar),
            if levels.is_empty() {
                String::new()
            } else {
                format!(" {}", levels.join(" "))
            }
        );
        let _ = writeln!(o, "{}", line.trim_end());
    }
    if report.period.kind == PeriodKind::Scheduled {
        let _ = writeln!(o, "（每行为自该日日报时刻起的24小时）");
    }
    out
}

/// The 回应与效果 section as lines, shared by the text and the HTML part: the summary,
/// each response (at most [`MAX_ROWS`]), then the evaluations that ended.
fn response_lines(report: &DigestReport) -> Vec<String> {
    let r = &report.responses;
    let mut lines = Vec::new();
    if r.responses.is_empty() {
        lines.push("期内没有登记回应。".to_string());
    } else {
        let mean = r
            .mean_to_first_secs
            .map(|s| {
                format!(
                    "，立案至首次回应平均 {}",
                    span(chrono::Duration::seconds(s))
                )
            })
            .unwrap_or_default();
        lines.push(format!(
            "期内登记回应 {} 次，其中首次回应 {} 起{mean}。",
            r.responses.len(),
            r.first_responses
        ));
    }
    for line in r.responses.iter().take(MAX_ROWS) {
        let first = if line.first { "（首次）" } else { "" };
        lines.push(format!(
            "· #{} {}：{}{first}，{}，距立案 {}",
            line.incident,
            crate::format::title(&line.title),
            line.milestone.chinese(),
            local(line.met_at),
            span(chrono::Duration::seconds(line.since_opened_secs))
        ));
    }
    if r.responses.len() > MAX_ROWS {
        lines.push(format!("……另有{}条未列出", r.responses.len() - MAX_ROWS));
    }
    if r.verdicts.is_empty() {
        lines.push("期内没有结束的效果评估。".to_string());
    }
    for v in r.verdicts.iter().take(MAX_ROWS) {
        let advice = if v.verdict == crate::model::Verdict::Rising {
            "，舆情未平息，建议二次回应"
        } else {
            ""
        };
        lines.push(format!(
            "· 效果评估 #{} {}：{}（回应前 {} 条，回应后 {} 条）{advice}",
            v.incident,
            crate::format::title(&v.title),
            v.verdict.chinese(),
            v.before,
            v.after
        ));
    }
    lines
}

/// 留言答复: rates per board and per unit, then the overdue posts; nothing without boards.
fn replies_text(o: &mut String, replies: &super::ReplySummary) {
    if replies.boards.is_empty() {
        return;
    }
    section(o, "留言答复（自开始跟踪以来）");
    let rate = |r: Option<f64>| r.map_or_else(|| "—".to_string(), percent);
    for (first, rows) in [("留言板", &replies.boards), ("责任单位", &replies.units)] {
        let w = column_width(first, rows.iter().map(|r| r.name.as_str()));
        let _ = writeln!(
            o,
            "{}留言  已答复  按时  超期未答  答复率  按时答复率",
            pad(first, w)
        );
        for r in rows.iter() {
            let _ = writeln!(
                o,
                "{}{:>4}  {:>6}  {:>4}  {:>8}  {:>6}  {:>10}",
                pad(&r.name, w),
                r.posts,
                r.replied,
                r.on_time,
                r.overdue,
                rate(r.reply_rate),
                rate(r.on_time_rate)
            );
        }
    }
    let _ = writeln!(o, "超期未答复的留言（{}条）：", replies.overdue.len());
    for p in replies.overdue.iter().take(MAX_ROWS) {
        let _ = writeln!(
            o,
            "· {}｜{}｜应于 {} 前答复｜{}",
            p.board,
            p.title,
            local(p.due_at),
            unit(&p.unit)
        );
    }
    more(o, replies.overdue.len());
}

/// 文件时限: one row per document clock, then the overdue documents; nothing without.
fn documents_text(o: &mut String, rows: &[super::DocumentClockRow]) {
    if rows.is_empty() {
        return;
    }
    section(o, "文件时限（自开始跟踪以来）");
    let w = column_width("时限", rows.iter().map(|r| r.name.as_str()));
    let _ = writeln!(
        o,
        "{}文件  按时发布  逾期发布  待发布  超期未发布",
        pad("时限", w)
    );
    for r in rows {
        let _ = writeln!(
            o,
            "{}{:>4}  {:>8}  {:>8}  {:>6}  {:>10}",
            pad(&r.name, w),
            r.started,
            r.met_on_time,
            r.met_late,
            r.pending,
            r.overdue
        );
    }
    for r in rows.iter().filter(|r| !r.overdue_documents.is_empty()) {
        let _ = writeln!(o, "{}超期未发布的文件（{}件）：", r.name, r.overdue);
        for d in r.overdue_documents.iter().take(MAX_ROWS) {
            let _ = writeln!(
                o,
                "· {}｜{}{}｜应于 {} 前发布",
                d.source,
                d.title,
                doc_no(&d.doc_no),
                local(d.due_at)
            );
        }
        more(o, r.overdue_documents.len());
    }
}

/// A 文号 in brackets after a title, or nothing.
fn doc_no(no: &Option<String>) -> String {
    no.as_deref()
        .map(|no| format!("（{no}）"))
        .unwrap_or_default()
}

fn section(o: &mut String, title: &str) {
    let _ = writeln!(o, "\n【{title}】");
}

fn more(o: &mut String, total: usize) {
    if total > MAX_ROWS {
        let _ = writeln!(
            o,
            "……另有{}条未列出，详见 yuqing list --all",
            total - MAX_ROWS
        );
    }
}

/// The width of a name column: its widest cell (header included) plus two spaces.
fn column_width<'a>(header: &str, names: impl Iterator<Item = &'a str>) -> usize {
    names
        .map(UnicodeWidthStr::width)
        .chain([header.width()])
        .max()
        .unwrap_or(0)
        + 2
}

fn rate_table(o: &mut String, first: &str, rows: &[RateRow]) {
    let w = column_width(first, rows.iter().map(|r| r.name.as_str()));
    let _ = writeln!(o, "{}到期  按时  超时完成  未完成  按时率", pad(first, w));
    for r in rows {
        let _ = writeln!(
            o,
            "{}{:>4}  {:>4}  {:>8}  {:>6}  {:>6}",
            pad(&r.name, w),
            r.due,
            r.on_time,
            r.late,
            r.missed,
            rate_text(r)
        );
    }
}

/// The first line of an incident in the text part: `· #12 [III级 较大] 标题`.
fn incident_heading(o: &mut String, id: u64, level: Level, title: &str) {
    let _ = writeln!(o, "· #{id} [{}] {title}", level_tag(level));
}

/// Bar colours: the Chinese warning colours (红橙黄蓝), grey for 关注.
fn level_colour(level: Level) -> &'static str {
    match level {
        Level::I => "#c81e1e",
        Level::II => "#ee7b12",
        Level::III => "#e6b800",
        Level::IV => "#1f6fd1",
        Level::Watch => "#8c96a0",
    }
}

/// The HTML part, through `templates/digest.html` (every value auto-escaped).
pub fn render_html(report: &DigestReport) -> String {
    DigestHtml::new(report).render().unwrap_or_else(|err| {
        // A template renders plain data into a String; it cannot fail in practice.
        tracing::error!(error = %err, "digest template failed");
        String::new()
    })
}

/// A level badge: colour, text colour and `II级 重大`.
struct Badge {
    colour: &'static str,
    text_colour: &'static str,
    tag: String,
}

impl Badge {
    fn of(level: Level) -> Badge {
        Badge {
            colour: level_colour(level),
            text_colour: if level == Level::III {
                "#1f2329"
            } else {
                "#ffffff"
            },
            tag: level_tag(level),
        }
    }
}

/// One incident row: id, badge, title over a muted detail line, unit, last column.
struct IncidentRow {
    id: u64,
    badge: Badge,
    title: String,
    detail: String,
    unit: String,
    last: String,
    last_style: &'static str,
}

struct TrendRow {
    label: String,
    total: u32,
    /// The bar's width in percent of the widest day, `None` for an empty day.
    outer: Option<u32>,
    cells: Vec<BarCell>,
}

struct BarCell {
    width: u32,
    colour: &'static str,
    tag: String,
    count: u32,
}

struct BreachRow {
    incident: u64,
    title: String,
    milestone: &'static str,
    due: String,
    text: String,
    unit: String,
}

struct RateTable {
    first: &'static str,
    empty: bool,
    rows: Vec<RateView>,
}

struct RateView {
    name: String,
    due: u32,
    on_time: u32,
    late: u32,
    missed: u32,
    rate: String,
    weight: &'static str,
    rate_colour: &'static str,
}

impl RateTable {
    fn new(first: &'static str, rows: &[RateRow], total: Option<&RateRow>) -> RateTable {
        let rows_shown = rows
            .iter()
            .map(|r| (r, false))
            .chain(total.map(|t| (t, true)))
            .map(|(row, bold)| RateView {
                name: row.name.clone(),
                due: row.due,
                on_time: row.on_time,
                late: row.late,
                missed: row.missed,
                rate: rate_text(row),
                weight: if bold { "font-weight:bold;" } else { "" },
                rate_colour: match row.rate {
                    Some(r) if r < 1.0 => "color:#b71c1c;",
                    _ => "",
                },
            })
            .collect();
        RateTable {
            first,
            empty: rows.is_empty(),
            rows: rows_shown,
        }
    }
}

struct SourceRow {
    name: String,
    items: u32,
    flagged: u32,
    incidents: u32,
}

struct FailingRow {
    name: String,
    source: String,
    text: String,
    error: String,
}

struct ReplyRow {
    name: String,
    weight: &'static str,
    posts: u32,
    replied: u32,
    on_time: u32,
    overdue: u32,
    reply_rate: String,
    on_time_rate: String,
}

impl ReplyRow {
    /// The boards (bold), then the units.
    fn all(replies: &super::ReplySummary) -> Vec<ReplyRow> {
        let rate = |r: Option<f64>| r.map_or_else(|| "—".to_string(), percent);
        let boards = replies.boards.iter().map(|r| (r, "font-weight:bold;"));
        let units = replies.units.iter().map(|r| (r, ""));
        boards
            .chain(units)
            .map(|(r, weight)| ReplyRow {
                name: r.name.clone(),
                weight,
                posts: r.posts,
                replied: r.replied,
                on_time: r.on_time,
                overdue: r.overdue,
                reply_rate: rate(r.reply_rate),
                on_time_rate: rate(r.on_time_rate),
            })
            .collect()
    }
}

struct DocumentRow {
    name: String,
    started: u32,
    met_on_time: u32,
    met_late: u32,
    pending: u32,
    overdue: u32,
}

struct DocumentOverdueRow {
    clock: String,
    source: String,
    title: String,
    due: String,
}

struct ReplyOverdueRow {
    board: String,
    title: String,
    due: String,
    unit: String,
}

#[derive(askama::Template)]
#[template(path = "digest.html")]
struct DigestHtml {
    title: String,
    period: String,
    generated: String,
    summary: String,
    figures: Vec<(&'static str, String, &'static str)>,
    trend: Vec<TrendRow>,
    legend: Vec<Badge>,
    scheduled: bool,
    new_title: String,
    new_rows: Vec<IncidentRow>,
    new_more: Option<String>,
    open_title: String,
    open_rows: Vec<IncidentRow>,
    open_more: Option<String>,
    breach_title: String,
    breaches: Vec<BreachRow>,
    breach_more: Option<String>,
    response_lines: Vec<String>,
    milestone_rates: RateTable,
    unit_rates: RateTable,
    by_level: Vec<(Badge, u32)>,
    by_topic: String,
    active_sources: Vec<SourceRow>,
    silent_sources: Option<usize>,
    terms: Vec<String>,
    sources_ok: String,
    /// 留言答复: board rows, then unit rows (empty without tracked boards).
    reply_rows: Vec<ReplyRow>,
    reply_overdue: Vec<ReplyOverdueRow>,
    /// 文件时限: one row per document clock (empty without tracked documents).
    document_rows: Vec<DocumentRow>,
    document_overdue: Vec<DocumentOverdueRow>,
    failing: Vec<FailingRow>,
}

impl DigestHtml {
    fn new(report: &DigestReport) -> DigestHtml {
        let c = &report.counts;
        let d = &report.deadlines;
        let active: Vec<SourceRow> = c
            .by_source
            .iter()
            .filter(|s| s.items + s.incidents > 0)
            .map(|s| SourceRow {
                name: s.name.clone(),
                items: s.items,
                flagged: s.flagged,
                incidents: s.incidents,
            })
            .collect();
        let silent = c.by_source.len() - active.len();
        DigestHtml {
            title: format!(
                "{}舆情日报 {}",
                report.jurisdiction,
                report.period.date.format("%Y年%m月%d日")
            ),
            period: period_text(report),
            generated: local(report.generated_at),
            summary: report.summary.clone(),
            figures: key_figures(report),
            trend: trend_rows(report),
            legend: LEVELS.into_iter().map(Badge::of).collect(),
            scheduled: report.period.kind == PeriodKind::Scheduled,
            new_title: format!("新增事件（{}起）", report.new_incidents.len()),
            new_rows: report
                .new_incidents
                .iter()
                .take(MAX_ROWS)
                .map(|line| IncidentRow {
                    detail: format!(
                        "领域：{}｜来源：{}｜条目 {}｜立案 {}",
                        topics(line),
                        sources(report, line),
                        line.items,
                        local(line.opened_at)
                    ),
                    last: line.status.label(line.level).to_string(),
                    last_style: "white-space:nowrap;",
                    ..incident_row(line)
                })
                .collect(),
            new_more: more_note(report.new_incidents.len()),
            open_title: format!("未办结事件（{}起）", report.open_incidents.len()),
            open_rows: report
                .open_incidents
                .iter()
                .take(MAX_ROWS)
                .map(|line| {
                    let (last, last_style) = match &line.next_due {
                        Some(d) if d.left_secs < 0 => {
                            (due_text(d), "color:#b71c1c;font-weight:bold;")
                        }
                        Some(d) => (due_text(d), ""),
                        None => (no_due(line).to_string(), "color:#6b7280;"),
                    };
                    IncidentRow {
                        detail: line.status.label(line.level).to_string(),
                        last,
                        last_style,
                        ..incident_row(line)
                    }
                })
                .collect(),
            open_more: more_note(report.open_incidents.len()),
            breach_title: format!("超时节点（{}个）", d.breaches.len()),
            breaches: d
                .breaches
                .iter()
                .take(MAX_ROWS)
                .map(|b| BreachRow {
                    incident: b.incident,
                    title: b.title.clone(),
                    milestone: b.milestone.chinese(),
                    due: local(b.due_at),
                    text: breach_text(b),
                    unit: unit(&b.unit).to_string(),
                })
                .collect(),
            breach_more: more_note(d.breaches.len()),
            response_lines: response_lines(report),
            milestone_rates: RateTable::new("节点", &d.by_milestone, None),
            unit_rates: RateTable::new("责任单位（对外发布与回应）", &d.by_unit, Some(&d.overall)),
            by_level: LEVELS
                .into_iter()
                .map(|l| (Badge::of(l), c.by_level.get(l)))
                .collect(),
            by_topic: c
                .by_topic
                .iter()
                .map(|t| format!("{} {}", t.name, t.count))
                .collect::<Vec<_>>()
                .join("，"),
            silent_sources: (silent > 0 || active.is_empty()).then_some(silent),
            active_sources: active,
            terms: report
                .top_terms
                .iter()
                .take(MAX_TERMS)
                .map(|t| t.term.clone())
                .collect(),
            sources_ok: format!("{}个信息源运行正常。", report.sources.total),
            reply_rows: ReplyRow::all(&report.replies),
            reply_overdue: report
                .replies
                .overdue
                .iter()
                .take(MAX_ROWS)
                .map(|o| ReplyOverdueRow {
                    board: o.board.clone(),
                    title: o.title.clone(),
                    due: local(o.due_at),
                    unit: unit(&o.unit).to_string(),
                })
                .collect(),
            document_rows: report
                .document_clocks
                .iter()
                .map(|r| DocumentRow {
                    name: r.name.clone(),
                    started: r.started,
                    met_on_time: r.met_on_time,
                    met_late: r.met_late,
                    pending: r.pending,
                    overdue: r.overdue,
                })
                .collect(),
            document_overdue: report
                .document_clocks
                .iter()
                .flat_map(|r| {
                    r.overdue_documents.iter().map(move |d| DocumentOverdueRow {
                        clock: r.name.clone(),
                        source: d.source.clone(),
                        title: format!("{}{}", d.title, doc_no(&d.doc_no)),
                        due: local(d.due_at),
                    })
                })
                .take(MAX_ROWS)
                .collect(),
            failing: report
                .sources
                .failing
                .iter()
                .map(|f| FailingRow {
                    name: f.name.clone(),
                    source: f.source.clone(),
                    text: failing_text(f),
                    error: f.last_error.clone().unwrap_or_else(|| "—".into()),
                })
                .collect(),
        }
    }
}

/// The columns every incident row shares; the caller fills detail and last column.
fn incident_row(line: &IncidentLine) -> IncidentRow {
    IncidentRow {
        id: line.id,
        badge: Badge::of(line.level),
        title: line.title.clone(),
        detail: String::new(),
        unit: unit(&line.unit).to_string(),
        last: String::new(),
        last_style: "",
    }
}

/// `……另有N条未列出` under a list cut at [`MAX_ROWS`].
fn more_note(total: usize) -> Option<String> {
    (total > MAX_ROWS)
        .then(|| format!("……另有{}条未列出，详见 yuqing list --all", total - MAX_ROWS))
}

/// The big numbers under the summary: label, value, colour.
fn key_figures(report: &DigestReport) -> Vec<(&'static str, String, &'static str)> {
    let c = &report.counts;
    let d = &report.deadlines;
    let missed: u32 = d.by_milestone.iter().map(|r| r.late + r.missed).sum();
    let alert = |bad: bool| if bad { "#b71c1c" } else { "#1f2329" };
    vec![
        ("新增事件", c.new_incidents.to_string(), "#1f2329"),
        ("未办结", c.open.to_string(), "#1f2329"),
        ("超时节点", missed.to_string(), alert(missed > 0)),
        ("按时率", rate_text(&d.overall), "#1f2329"),
        (
            "信息源异常",
            report.sources.failing.len().to_string(),
            alert(!report.sources.failing.is_empty()),
        ),
    ]
}

/// The 7-day chart: one row per day, a stacked bar of level-coloured cells whose
/// widths are whole percentages adding up to 100, the bar itself as wide as the day's
/// share of the busiest day.
fn trend_rows(report: &DigestReport) -> Vec<TrendRow> {
    let max = report.trend.iter().map(|d| d.total).max().unwrap_or(0);
    report
        .trend
        .iter()
        .map(|day| {
            let mut row = TrendRow {
                label: day.label.clone(),
                total: day.total,
                outer: None,
                cells: Vec::new(),
            };
            if day.total == 0 || max == 0 {
                return row;
            }
            row.outer = Some((day.total * 100).div_ceil(max).max(1));
            let (mut used, mut cumulative) = (0, 0);
            for level in LEVELS {
                let n = day.by_level.get(level);
                if n == 0 {
                    continue;
                }
                cumulative += n;
                let end = cumulative * 100 / day.total;
                row.cells.push(BarCell {
                    width: end - used,
                    colour: level_colour(level),
                    tag: level_tag(level),
                    count: n,
                });
                used = end;
            }
            row
        })
        .collect()
}
