//! The ledger export (台账): JSON lines for backup and scripts, CSV for Excel.
//!
//! The CSV is written for Excel on a Chinese Windows desktop: UTF-8 with a byte-order
//! mark (without it Excel guesses GBK and shows mojibake), CRLF line ends, RFC 4180
//! quoting, Chinese headers, Beijing times, one row per incident with each milestone's
//! due time, completion time and outcome as columns. Text cells that Excel would take
//! for a formula (`=`, `+`, `-`, `@` first: titles come from the public) are prefixed
//! with `'` so opening the file never runs anything.

use std::fmt::Write as _;

use super::views::{DeadlineView, IncidentDetail, IncidentView};
use crate::model::{DeadlineState, Milestone, topic_name};
use crate::time::local;

/// The milestones that get columns, in order.
const MILESTONES: [Milestone; 4] = [
    Milestone::Ack,
    Milestone::Statement,
    Milestone::Press,
    Milestone::Response,
];

/// One JSON object per line, each the `show --json` shape.
pub fn jsonl(incidents: &[IncidentDetail]) -> String {
    let mut out = String::new();
    for incident in incidents {
        // Views are plain data with string keys: serializing cannot fail.
        out.push_str(&serde_json::to_string(incident).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// The CSV (with BOM and CRLF), one row per incident.
pub fn csv(incidents: &[IncidentView]) -> String {
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

    let mut out = String::from("\u{feff}");
    write_row(&mut out, header.iter().map(String::as_str));
    for incident in incidents {
        let topics = incident
            .topics
            .iter()
            .map(|t| topic_name(t))
            .collect::<Vec<_>>()
            .join("、");
        let mut cells = vec![
            incident.id.to_string(),
            incident.title.clone(),
            format!("{}（{}）", incident.level, incident.level.chinese()),
            incident.status.chinese().to_string(),
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
        write_row(&mut out, cells.iter().map(String::as_str));
    }
    out
}

/// A deadline's outcome in the words of the 台账.
pub fn outcome(deadline: &DeadlineView) -> &'static str {
    match (deadline.state, deadline.on_time()) {
        (DeadlineState::Met, Some(false)) => "逾期完成",
        (DeadlineState::Met, _) => "按时完成",
        (DeadlineState::Overdue, _) => "已超时",
        (DeadlineState::Pending, _) => "未到期",
    }
}

fn write_row<'a>(out: &mut String, cells: impl IntoIterator<Item = &'a str>) {
    for (i, text) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_field(out, text);
    }
    out.push_str("\r\n");
}

/// One RFC 4180 field, formula-neutralized.
fn write_field(out: &mut String, text: &str) {
    let guarded;
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        guarded = format!("'{text}");
        guarded.as_str()
    } else {
        text
    };
    if text.contains([',', '"', '\r', '\n']) || text.starts_with(' ') || text.ends_with(' ') {
        let _ = write!(out, "\"{}\"", text.replace('"', "\"\""));
    } else {
        out.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::views::tests::{at, incident};

    /// Splits RFC 4180 text into rows of fields (the reader Excel uses, in miniature).
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\r') => {
                    assert_eq!(chars.next(), Some('\n'), "bare CR outside quotes");
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, '\n') => panic!("bare LF outside quotes"),
                (false, c) => field.push(c),
            }
        }
        assert!(
            field.is_empty() && row.is_empty(),
            "last row not terminated"
        );
        rows
    }

    #[test]
    fn csv_opens_in_excel_with_chinese() {
        let mut tricky = incident(8, "标题含,逗号 \"引号\"\n和换行");
        tricky.unit = Some("=HYPERLINK(\"http://x\")".into());
        let views = [
            IncidentView::new(
                &incident(7, "安丘市景芝镇一化工厂发生爆炸"),
                at("2026-11-24T03:00:00Z"),
            ),
            IncidentView::new(&tricky, at("2026-11-24T03:00:00Z")),
        ];
        let text = csv(&views);
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
        let second = &rows[2];
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
    }

    #[test]
    fn jsonl_is_one_object_per_line() {
        let detail = IncidentDetail {
            incident: IncidentView::new(&incident(7, "甲\n乙"), at("2026-11-24T03:00:00Z")),
            item_list: Vec::new(),
            audit: Vec::new(),
        };
        let text = jsonl(&[detail.clone(), detail]);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        for line in lines {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(value["title"], "甲\n乙");
        }
    }
}
