//! `yuqing calendar add-workdays DATE N` and `yuqing calendar show YEAR`: the official
//! working-day table (src/calendar), read from the configured dictionaries folder.
//! No daemon needed. A year the table does not cover is exit 1 with the year named.

use chrono::{Datelike, NaiveDate};

use super::incidents::emit;
use super::{CalendarCommand, CliError};
use crate::calendar::{Calendar, YearTable};
use crate::config::Config;

pub fn run(config: &Config, command: &CalendarCommand) -> Result<(), CliError> {
    let calendar = load(config)?;
    match command {
        CalendarCommand::AddWorkdays { date, n } => {
            let date = parse_date(date)?;
            let due = calendar
                .add_workdays(date, *n)
                .map_err(|err| CliError::failed(err.to_string()))?;
            emit(&format!("{}\n", due.format("%Y-%m-%d")))
        }
        CalendarCommand::Show { year } => {
            let table = calendar
                .year(*year)
                .map_err(|err| CliError::failed(err.to_string()))?;
            emit(&render(table))
        }
    }
}

/// The calendar of the configured dictionaries; no table at all is a configuration problem.
fn load(config: &Config) -> Result<Calendar, CliError> {
    let calendar =
        Calendar::load(&config.dictionaries).map_err(|err| CliError::usage(err.to_string()))?;
    if calendar.years().next().is_none() {
        return Err(CliError::usage(format!(
            "在 {} 中找不到节假日表（YYYY.toml）；请用 --config 指定配置文件，或在配置中把 dictionaries 指向随程序发布的词典目录",
            config.dictionaries.join(crate::calendar::FOLDER).display()
        )));
    }
    Ok(calendar)
}

fn parse_date(text: &str) -> Result<NaiveDate, CliError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        CliError::usage(format!(
            "日期“{text}”无法识别；请写成 YYYY-MM-DD，如 2025-09-30"
        ))
    })
}

const WEEKDAYS: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];

fn day(date: NaiveDate) -> String {
    format!(
        "{}（{}）",
        date.format("%Y-%m-%d"),
        WEEKDAYS[date.weekday().num_days_from_monday() as usize]
    )
}

/// One year's holidays and make-up days, in Chinese, with the notices they come from.
pub fn render(table: &YearTable) -> String {
    let mut out = format!("{} 年节假日安排\n依据：\n", table.year);
    for notice in &table.notices {
        let document = notice
            .document
            .as_deref()
            .map(|d| format!("，{d}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {}（{}{document}）\n",
            notice.title,
            notice.issued.format("%Y年%-m月%-d日")
        ));
    }
    out.push_str("放假：\n");
    for h in &table.holidays {
        let range = if h.from == h.to {
            day(h.from)
        } else {
            format!("{} 至 {}", day(h.from), day(h.to))
        };
        out.push_str(&format!("  {}：{range}，共 {} 天\n", h.name, h.days));
    }
    out.push_str("调休上班：\n");
    if table.workdays.is_empty() {
        out.push_str("  （无）\n");
    }
    for w in &table.workdays {
        out.push_str(&format!("  {}（{}）\n", day(w.date), w.name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_year_in_chinese() {
        let dictionaries = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
        let calendar = Calendar::load(&dictionaries).unwrap();
        let text = render(calendar.year(2025).unwrap());
        for line in [
            "2025 年节假日安排",
            "  国务院办公厅关于2025年部分节假日安排的通知（2024年11月12日，国办发明电〔2024〕12号）",
            "  元旦：2025-01-01（周三），共 1 天",
            "  国庆节、中秋节：2025-10-01（周三） 至 2025-10-08（周三），共 8 天",
            "  2025-10-11（周六）（国庆节、中秋节）",
        ] {
            assert!(
                text.lines().any(|l| l == line.trim_end()),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn a_bad_date_is_a_usage_error() {
        let err = parse_date("2025/09/30").unwrap_err();
        assert_eq!(err.code, 2);
        assert!(err.message.contains("YYYY-MM-DD"));
    }
}
