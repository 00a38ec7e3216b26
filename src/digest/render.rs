//! The digest as people read it: a plain-text part and an HTML part for mail.
//!
//! The HTML is built for mail clients (Outlook, Foxmail, webmail): table layout,
//! inline styles and `bgcolor` attributes only, no external resources, no script,
//! no CSS classes. The 7-day chart is a table of coloured cells whose widths carry
//! the figures, so it renders wherever tables do. Every piece of text that comes
//! from outside (titles, unit and source names, errors, terms) is escaped.

use crate::notify::render::escape as esc;
use std::fmt::Write as _;

use unicode_width::UnicodeWidthStr;

use super::report::NO_UNIT;
use super::{
    Breach, DigestReport, FailingSource, IncidentLine, LEVELS, NextDue, Outcome, PeriodKind,
    RateRow, TrendDay,
};
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
        s.push_str(&format!(" 新增舆情事件{}起", report.counts.new_incidents));
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
    match level {
        Level::Watch => "关注".to_string(),
        _ => format!("{}级 {}", level.as_str(), level.chinese()),
    }
}

/// `回应 还剩 4时12分（11-24 15:00）` or `回应 已超时 35分`.
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
    match (b.outcome, b.met_at) {
        (Outcome::Late, Some(met)) => format!("{} 完成，超时 {late}", local(met)),
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

/// `s` padded with spaces to `to` terminal columns (CJK characters take two).
fn pad(s: &str, to: usize) -> String {
    format!("{s}{}", " ".repeat(to.saturating_sub(s.width())))
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
            line.status.chinese(),
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
            line.status.chinese(),
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

fn rate_table(o: &mut String, first: &str, rows: &[RateRow]) {
    let w = rows
        .iter()
        .map(|r| r.name.width())
        .chain([first.width()])
        .max()
        .unwrap_or(0)
        + 2;
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

const FONT: &str = "font-family:'Microsoft YaHei','PingFang SC','Noto Sans CJK SC','Source Han Sans SC',SimSun,Arial,sans-serif;";
const TH: &str = "white-space:nowrap;padding:6px 8px;border-bottom:1px solid #d0d5dc;background-color:#f4f6f8;font-weight:bold;text-align:left;font-size:13px;color:#41464b;";
const TD: &str =
    "padding:6px 8px;border-bottom:1px solid #e8ebef;font-size:13px;vertical-align:top;";
const TD_NUM: &str = "padding:6px 8px;border-bottom:1px solid #e8ebef;font-size:13px;text-align:right;vertical-align:top;";
const MUTED: &str = "color:#6b7280;font-size:12px;";

/// Builds the HTML part.
pub fn render_html(report: &DigestReport) -> String {
    let mut h = String::with_capacity(32 * 1024);
    let title = format!(
        "{}舆情日报 {}",
        report.jurisdiction,
        report.period.date.format("%Y年%m月%d日")
    );
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n</head>\n\
         <body style=\"margin:0;padding:0;background-color:#eef0f3;\">\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" bgcolor=\"#eef0f3\" style=\"background-color:#eef0f3;\"><tr><td align=\"center\" style=\"padding:16px 8px;\">\n\
         <table role=\"presentation\" width=\"680\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" bgcolor=\"#ffffff\" style=\"width:100%;max-width:680px;background-color:#ffffff;{FONT}font-size:14px;line-height:1.6;color:#1f2329;\">\n",
        esc(&title)
    );

    // Masthead.
    let _ = writeln!(
        h,
        "<tr><td bgcolor=\"#b71c1c\" style=\"background-color:#b71c1c;padding:18px 24px;color:#ffffff;\">\
         <div style=\"font-size:22px;font-weight:bold;letter-spacing:2px;\">{}</div>\
         <div style=\"font-size:13px;color:#fde2e2;\">统计时段：{}（北京时间）　生成于 {}</div></td></tr>",
        esc(&title),
        esc(&period_text(report)),
        esc(&local(report.generated_at))
    );

    // Summary.
    let _ = writeln!(
        h,
        "<tr><td style=\"padding:18px 24px 6px 24px;\">{}\
         <p style=\"margin:0;font-size:15px;line-height:1.8;\">{}</p></td></tr>",
        heading("概况"),
        esc(&report.summary)
    );
    key_figures(&mut h, report);
    block(&mut h, "近7日新增事件", |h| trend_html(h, report));

    block(
        &mut h,
        &format!("新增事件（{}起）", report.new_incidents.len()),
        |h| {
            if report.new_incidents.is_empty() {
                note(h, "无新增舆情事件。");
                return;
            }
            table_start(h, &["编号", "等级", "事件", "责任单位", "状态"]);
            for line in report.new_incidents.iter().take(MAX_ROWS) {
                let detail = format!(
                    "领域：{}｜来源：{}｜条目 {}｜立案 {}",
                    topics(line),
                    sources(report, line),
                    line.items,
                    local(line.opened_at)
                );
                let _ = writeln!(
                    h,
                    "<tr><td style=\"{TD}white-space:nowrap;\">#{}</td><td style=\"{TD}\">{}</td>\
                 <td style=\"{TD}\">{}<br><span style=\"{MUTED}\">{}</span></td>\
                 <td style=\"{TD}\">{}</td><td style=\"{TD}white-space:nowrap;\">{}</td></tr>",
                    line.id,
                    level_badge(line.level),
                    esc(&line.title),
                    esc(&detail),
                    esc(unit(&line.unit)),
                    esc(line.status.chinese())
                );
            }
            table_end(h);
            more_html(h, report.new_incidents.len());
        },
    );

    block(
        &mut h,
        &format!("未办结事件（{}起）", report.open_incidents.len()),
        |h| {
            if report.open_incidents.is_empty() {
                note(h, "没有未办结的事件。");
                return;
            }
            table_start(h, &["编号", "等级", "事件", "责任单位", "下一时限"]);
            for line in report.open_incidents.iter().take(MAX_ROWS) {
                let (due, style) = match &line.next_due {
                    Some(d) if d.left_secs < 0 => (due_text(d), "color:#b71c1c;font-weight:bold;"),
                    Some(d) => (due_text(d), ""),
                    None => (no_due(line).to_string(), "color:#6b7280;"),
                };
                let _ = writeln!(
                    h,
                    "<tr><td style=\"{TD}white-space:nowrap;\">#{}</td><td style=\"{TD}\">{}</td>\
                 <td style=\"{TD}\">{}<br><span style=\"{MUTED}\">{}</span></td>\
                 <td style=\"{TD}\">{}</td><td style=\"{TD}{style}\">{}</td></tr>",
                    line.id,
                    level_badge(line.level),
                    esc(&line.title),
                    esc(line.status.chinese()),
                    esc(unit(&line.unit)),
                    esc(&due)
                );
            }
            table_end(h);
            more_html(h, report.open_incidents.len());
        },
    );

    let d = &report.deadlines;
    block(
        &mut h,
        &format!("超时节点（{}个）", d.breaches.len()),
        |h| {
            if d.breaches.is_empty() {
                note(h, "期内到期的处置时限均按时完成。");
                return;
            }
            table_start(h, &["事件", "节点", "应完成", "情况", "责任单位"]);
            for b in d.breaches.iter().take(MAX_ROWS) {
                let _ = writeln!(
                    h,
                    "<tr><td style=\"{TD}\">#{} {}</td><td style=\"{TD}\">{}</td>\
                 <td style=\"{TD}\">{}</td><td style=\"{TD}color:#b71c1c;\">{}</td>\
                 <td style=\"{TD}font-weight:bold;\">{}</td></tr>",
                    b.incident,
                    esc(&b.title),
                    esc(b.milestone.chinese()),
                    esc(&local(b.due_at)),
                    esc(&breach_text(b)),
                    esc(unit(&b.unit))
                );
            }
            table_end(h);
            more_html(h, d.breaches.len());
        },
    );

    block(&mut h, "按时率（期内到期的时限）", |h| {
        rate_table_html(h, "节点", &d.by_milestone, None);
        let _ = write!(
            h,
            "<div style=\"height:12px;line-height:12px;\">&#160;</div>"
        );
        rate_table_html(
            h,
            "责任单位（对外发布与回应）",
            &d.by_unit,
            Some(&d.overall),
        );
        note(
            h,
            "按时率＝期内到期且按时完成的时限数÷期内到期的时限数；误报、已合并及到期前已办结事件的时限不计入。",
        );
    });

    block(&mut h, "分布", |h| distribution_html(h, report));

    block(&mut h, "热词", |h| {
        if report.top_terms.is_empty() {
            note(h, "期内无新条目。");
            return;
        }
        let _ = write!(h, "<p style=\"margin:0;line-height:2.2;\">");
        for t in report.top_terms.iter().take(MAX_TERMS) {
            let _ = write!(
                h,
                "<span style=\"display:inline-block;margin:0 6px 0 0;padding:1px 8px;border:1px solid #d0d5dc;background-color:#f4f6f8;font-size:13px;\">{}</span> ",
                esc(&t.term)
            );
        }
        let _ = writeln!(h, "</p>");
    });

    block(&mut h, "信息源状况", |h| {
        if report.sources.failing.is_empty() {
            note(h, &format!("{}个信息源运行正常。", report.sources.total));
            return;
        }
        table_start(h, &["信息源", "情况", "最近错误"]);
        for f in &report.sources.failing {
            let _ = writeln!(
                h,
                "<tr><td style=\"{TD}\">{}<br><span style=\"{MUTED}\">{}</span></td>\
                 <td style=\"{TD}color:#b71c1c;\">{}</td><td style=\"{TD}\">{}</td></tr>",
                esc(&f.name),
                esc(&f.source),
                esc(&failing_text(f)),
                esc(f.last_error.as_deref().unwrap_or("—"))
            );
        }
        table_end(h);
    });

    let _ = write!(
        h,
        "<tr><td style=\"padding:14px 24px 20px 24px;border-top:1px solid #e8ebef;{MUTED}\">\
         本日报由 yuqing 舆情监测系统自动生成。事件详情：yuqing show 编号；全部台账：yuqing export。</td></tr>\n\
         </table>\n</td></tr></table>\n</body>\n</html>\n"
    );
    h
}

fn heading(title: &str) -> String {
    format!(
        "<h2 style=\"margin:0 0 8px 0;padding:0 0 0 8px;border-left:4px solid #b71c1c;font-size:16px;line-height:1.4;color:#1f2329;\">{}</h2>",
        esc(title)
    )
}

/// One section: a row of the outer table with a heading.
fn block(h: &mut String, title: &str, body: impl FnOnce(&mut String)) {
    let _ = writeln!(
        h,
        "<tr><td style=\"padding:16px 24px 4px 24px;\">{}",
        heading(title)
    );
    body(h);
    let _ = writeln!(h, "</td></tr>");
}

fn note(h: &mut String, text: &str) {
    let _ = writeln!(h, "<p style=\"margin:6px 0;{MUTED}\">{}</p>", esc(text));
}

fn more_html(h: &mut String, total: usize) {
    if total > MAX_ROWS {
        note(
            h,
            &format!("……另有{}条未列出，详见 yuqing list --all", total - MAX_ROWS),
        );
    }
}

fn table_start(h: &mut String, headers: &[&str]) {
    let _ = write!(
        h,
        "<table width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"border-collapse:collapse;width:100%;\">\n<tr>"
    );
    for header in headers {
        let _ = write!(h, "<th style=\"{TH}\">{}</th>", esc(header));
    }
    let _ = writeln!(h, "</tr>");
}

fn table_end(h: &mut String) {
    let _ = writeln!(h, "</table>");
}

fn level_badge(level: Level) -> String {
    let text_colour = if level == Level::III {
        "#1f2329"
    } else {
        "#ffffff"
    };
    format!(
        "<span style=\"display:inline-block;padding:0 6px;background-color:{};color:{text_colour};font-size:12px;white-space:nowrap;\">{}</span>",
        level_colour(level),
        esc(&level_tag(level))
    )
}

/// The big numbers under the summary.
fn key_figures(h: &mut String, report: &DigestReport) {
    let c = &report.counts;
    let d = &report.deadlines;
    let missed: u32 = d.by_milestone.iter().map(|r| r.late + r.missed).sum();
    let figures = [
        ("新增事件", c.new_incidents.to_string(), "#1f2329"),
        ("未办结", c.open.to_string(), "#1f2329"),
        (
            "超时节点",
            missed.to_string(),
            if missed > 0 { "#b71c1c" } else { "#1f2329" },
        ),
        ("按时率", rate_text(&d.overall), "#1f2329"),
        (
            "信息源异常",
            report.sources.failing.len().to_string(),
            if report.sources.failing.is_empty() {
                "#1f2329"
            } else {
                "#b71c1c"
            },
        ),
    ];
    let _ = write!(
        h,
        "<tr><td style=\"padding:10px 24px 4px 24px;\"><table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr>"
    );
    for (label, value, colour) in figures {
        let _ = write!(
            h,
            "<td width=\"20%\" align=\"center\" bgcolor=\"#f4f6f8\" style=\"width:20%;padding:8px 4px;background-color:#f4f6f8;border:2px solid #ffffff;\">\
             <div style=\"font-size:22px;font-weight:bold;color:{colour};\">{}</div>\
             <div style=\"{MUTED}\">{}</div></td>",
            esc(&value),
            esc(label)
        );
    }
    let _ = writeln!(h, "</tr></table></td></tr>");
}

fn rate_table_html(h: &mut String, first: &str, rows: &[RateRow], total: Option<&RateRow>) {
    table_start(h, &[first, "到期", "按时", "超时完成", "未完成", "按时率"]);
    if rows.is_empty() {
        let _ = writeln!(
            h,
            "<tr><td colspan=\"6\" style=\"{TD}{MUTED}\">期内无到期的时限。</td></tr>"
        );
    }
    for (row, bold) in rows
        .iter()
        .map(|r| (r, false))
        .chain(total.map(|t| (t, true)))
    {
        let weight = if bold { "font-weight:bold;" } else { "" };
        let rate_colour = match row.rate {
            Some(r) if r < 1.0 => "color:#b71c1c;",
            _ => "",
        };
        let _ = writeln!(
            h,
            "<tr><td style=\"{TD}{weight}\">{}</td><td style=\"{TD_NUM}{weight}\">{}</td>\
             <td style=\"{TD_NUM}{weight}\">{}</td><td style=\"{TD_NUM}{weight}\">{}</td>\
             <td style=\"{TD_NUM}{weight}\">{}</td><td style=\"{TD_NUM}{weight}{rate_colour}\">{}</td></tr>",
            esc(&row.name),
            row.due,
            row.on_time,
            row.late,
            row.missed,
            esc(&rate_text(row))
        );
    }
    table_end(h);
}

fn distribution_html(h: &mut String, report: &DigestReport) {
    let c = &report.counts;
    let _ = writeln!(
        h,
        "<p style=\"margin:0 0 8px 0;\"><span style=\"font-weight:bold;\">按等级：</span>{}</p>",
        LEVELS
            .iter()
            .map(|l| format!("{} {}", level_badge(*l), c.by_level.get(*l)))
            .collect::<Vec<_>>()
            .join("　")
    );
    if !c.by_topic.is_empty() {
        let _ = writeln!(
            h,
            "<p style=\"margin:0 0 8px 0;\"><span style=\"font-weight:bold;\">按领域：</span>{}</p>",
            esc(&c
                .by_topic
                .iter()
                .map(|t| format!("{} {}", t.name, t.count))
                .collect::<Vec<_>>()
                .join("，"))
        );
    }
    table_start(h, &["信息源", "新条目", "预警条目", "涉及事件"]);
    let active: Vec<_> = c
        .by_source
        .iter()
        .filter(|s| s.items + s.incidents > 0)
        .collect();
    for s in &active {
        let _ = writeln!(
            h,
            "<tr><td style=\"{TD}\">{}</td><td style=\"{TD_NUM}\">{}</td>\
             <td style=\"{TD_NUM}\">{}</td><td style=\"{TD_NUM}\">{}</td></tr>",
            esc(&s.name),
            s.items,
            s.flagged,
            s.incidents
        );
    }
    let silent = c.by_source.len() - active.len();
    if silent > 0 || active.is_empty() {
        let _ = writeln!(
            h,
            "<tr><td colspan=\"4\" style=\"{TD}{MUTED}\">{}个信息源期内无新条目。</td></tr>",
            silent
        );
    }
    table_end(h);
}

/// The 7-day chart: one row per day, a stacked bar of level-coloured cells whose
/// widths are proportional to the counts, the total on the right.
fn trend_html(h: &mut String, report: &DigestReport) {
    let max = report.trend.iter().map(|d| d.total).max().unwrap_or(0);
    let _ = writeln!(
        h,
        "<table id=\"trend\" role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"width:100%;\">"
    );
    for day in &report.trend {
        let _ = write!(
            h,
            "<tr><td width=\"56\" style=\"width:56px;padding:4px 8px 4px 0;font-size:13px;white-space:nowrap;\">{}</td>\
             <td style=\"padding:4px 0;\">",
            esc(&day.label)
        );
        bar_html(h, day, max);
        let _ = writeln!(
            h,
            "</td><td width=\"40\" align=\"right\" style=\"width:40px;padding:4px 0 4px 8px;font-size:13px;font-weight:bold;\">{}</td></tr>",
            day.total
        );
    }
    let _ = writeln!(h, "</table>");
    // Legend.
    let _ = write!(
        h,
        "<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"margin-top:8px;\"><tr>"
    );
    for level in LEVELS {
        let _ = write!(
            h,
            "<td width=\"10\" height=\"10\" bgcolor=\"{c}\" style=\"width:10px;height:10px;background-color:{c};font-size:1px;line-height:1px;\">&#160;</td>\
             <td style=\"padding:0 12px 0 4px;{MUTED}\">{}</td>",
            esc(&level_tag(level)),
            c = level_colour(level)
        );
    }
    let _ = writeln!(h, "</tr></table>");
    if report.period.kind == PeriodKind::Scheduled {
        note(h, "每行为自该日日报时刻起的24小时。");
    }
}

/// One stacked bar. Cell widths are whole percentages that add up to 100.
fn bar_html(h: &mut String, day: &TrendDay, max: u32) {
    if day.total == 0 || max == 0 {
        let _ = write!(
            h,
            "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr>\
             <td height=\"18\" bgcolor=\"#f4f6f8\" style=\"height:18px;background-color:#f4f6f8;font-size:1px;line-height:1px;\">&#160;</td></tr></table>"
        );
        return;
    }
    let outer = (day.total * 100).div_ceil(max).max(1);
    let _ = write!(
        h,
        "<table role=\"presentation\" width=\"{outer}%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"width:{outer}%;\"><tr>"
    );
    let mut used = 0;
    let mut cumulative = 0;
    for level in LEVELS {
        let n = day.by_level.get(level);
        if n == 0 {
            continue;
        }
        cumulative += n;
        let end = cumulative * 100 / day.total;
        let w = end - used;
        used = end;
        let _ = write!(
            h,
            "<td width=\"{w}%\" height=\"18\" bgcolor=\"{c}\" title=\"{t} {n}\" style=\"width:{w}%;height:18px;background-color:{c};font-size:1px;line-height:1px;\">&#160;</td>",
            c = level_colour(level),
            t = esc(&level_tag(level))
        );
    }
    let _ = write!(h, "</tr></table>");
}
