//! The official working-day calendar: which dates are working days in mainland China,
//! from the State Council's yearly holiday notices (国务院办公厅关于20XX年部分节假日安排的通知),
//! 调休 make-up working days included. Pure: the only IO is [`Calendar::load`], once at start.
//!
//! ## Data
//! One file per year, `<dictionaries>/calendar/YYYY.toml`, citing its notice(s) and listing
//! the holidays (date ranges with the notice's name and day count) and the make-up working
//! days. A deployment adds a year by dropping a file there (see `dictionaries/calendar/README.md`).
//!
//! ## Rule
//! A date is a working day when it is a make-up day, else when it is neither a listed holiday
//! nor a Saturday or Sunday. A date whose year has no file is an error naming that year,
//! never a weekends-only guess ([`CalendarError::Uncovered`]).
//!
//! A deadline of N working days from an instant ends at the end (24:00 Asia/Shanghai) of the
//! N-th working day *after* the instant's calendar day; the day of the instant never counts,
//! whether it is a working day or not. Examples (2025):
//! - a post on Friday 2025-09-26 at 18:00, 3 working days: Sun 09-28 (make-up day), Mon 09-29,
//!   Tue 09-30 → due 2025-09-30 24:00;
//! - a post on 2025-10-03 (国庆 holiday), 3 working days: 10-09, 10-10, Sat 10-11 (make-up
//!   day) → due 2025-10-11 24:00;
//! - 0 working days: the end of the instant's own day.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::Deserialize;

use crate::config::Window;
use crate::model::{Notice, NoticeKind, Timestamp};
use crate::time;

/// The folder, inside the dictionaries folder, that holds the yearly tables.
pub const FOLDER: &str = "calendar";

/// How long before the table runs out `run` warns (and tells duty).
pub const EXPIRY_WARNING_DAYS: u64 = 60;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    #[error(
        "官方节假日表没有 {year} 年（已收录：{covered}）；请按国务院办公厅关于{year}年部分节假日安排的通知编写 {year}.toml，放入词典目录的 calendar 文件夹后重启"
    )]
    Uncovered { year: i32, covered: String },
    #[error("无法读取节假日表 {path}：{reason}；请检查路径和权限")]
    Read { path: PathBuf, reason: String },
    #[error("节假日表有 {} 处错误：{}", .0.len(), .0.join("；"))]
    Invalid(Vec<String>),
    #[error("日期超出可计算范围：{0}")]
    OutOfRange(NaiveDate),
}

/// One notice a year's table is taken from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceNotice {
    pub title: String,
    /// The document number (文号), e.g. `国办发明电〔2024〕12号`, when verified.
    #[serde(default)]
    pub document: Option<String>,
    pub issued: NaiveDate,
}

/// A holiday period as the notice states it (放假调休, both ends included).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    pub name: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The notice's “共N天”, checked against the range.
    pub days: u32,
}

/// A Saturday or Sunday that is a working day (调休上班).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MakeUpDay {
    pub date: NaiveDate,
    /// The holiday it makes up for.
    pub name: String,
}

/// One year's table, as in its file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearTable {
    pub year: i32,
    #[serde(rename = "notice")]
    pub notices: Vec<SourceNotice>,
    #[serde(rename = "holiday", default)]
    pub holidays: Vec<Holiday>,
    #[serde(rename = "workday", default)]
    pub workdays: Vec<MakeUpDay>,
}

/// What a date is, per the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Day {
    Holiday,
    MakeUp,
}

/// The loaded tables.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    years: BTreeMap<i32, YearTable>,
    days: BTreeMap<NaiveDate, Day>,
}

impl Calendar {
    /// Loads every `YYYY.toml` in `<dictionaries>/calendar`. A missing folder is an empty
    /// calendar (every working-day computation then fails with the missing year).
    pub fn load(dictionaries: &Path) -> Result<Calendar, CalendarError> {
        let folder = dictionaries.join(FOLDER);
        if !folder.is_dir() {
            return Ok(Calendar::default());
        }
        let read_err = |path: &Path, err: std::io::Error| CalendarError::Read {
            path: path.to_path_buf(),
            reason: err.to_string(),
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&folder).map_err(|e| read_err(&folder, e))? {
            let path = entry.map_err(|e| read_err(&folder, e))?.path();
            if path.extension().is_some_and(|ext| ext == "toml") {
                let text = std::fs::read_to_string(&path).map_err(|e| read_err(&path, e))?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                files.push((name, text));
            }
        }
        files.sort();
        Calendar::from_files(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
    }

    /// Builds the calendar from `(file name, text)` pairs, checking every file; all problems
    /// come back together.
    pub fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Calendar, CalendarError> {
        let mut problems = Vec::new();
        let mut calendar = Calendar::default();
        for (name, text) in files {
            let table: YearTable = match toml::from_str(text) {
                Ok(table) => table,
                Err(err) => {
                    problems.push(format!(
                        "{name}：格式错误（{}）；请对照 dictionaries/calendar/README.md 中的格式修改",
                        err.message()
                    ));
                    continue;
                }
            };
            let before = problems.len();
            check_table(name, &table, &mut problems);
            if problems.len() == before {
                calendar.add(name, table, &mut problems);
            }
        }
        if problems.is_empty() {
            Ok(calendar)
        } else {
            Err(CalendarError::Invalid(problems))
        }
    }

    fn add(&mut self, name: &str, table: YearTable, problems: &mut Vec<String>) {
        if self.years.contains_key(&table.year) {
            problems.push(format!("{name}：{} 年已由另一个文件给出", table.year));
            return;
        }
        let holidays = table
            .holidays
            .iter()
            .flat_map(|h| h.from.iter_days().take_while(move |d| *d <= h.to));
        let makeups = table.workdays.iter().map(|w| w.date);
        for (date, day) in holidays
            .map(|d| (d, Day::Holiday))
            .chain(makeups.map(|d| (d, Day::MakeUp)))
        {
            if let Some(other) = self.days.insert(date, day)
                && other != day
            {
                problems.push(format!("{name}：{date} 既是假日又是调休上班日"));
            }
        }
        self.years.insert(table.year, table);
    }

    /// The years the table covers, ascending.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.keys().copied()
    }

    /// One year's table.
    pub fn year(&self, year: i32) -> Result<&YearTable, CalendarError> {
        self.years.get(&year).ok_or_else(|| self.uncovered(year))
    }

    fn uncovered(&self, year: i32) -> CalendarError {
        let covered = match (self.years.keys().next(), self.years.keys().last()) {
            (Some(first), Some(last)) if first == last => format!("{first} 年"),
            (Some(first), Some(last)) => format!("{first}–{last} 年"),
            _ => "无".into(),
        };
        CalendarError::Uncovered { year, covered }
    }

    /// Whether `date` is a working day (see the module docs for the rule).
    pub fn is_workday(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        self.year(date.year())?;
        Ok(match self.days.get(&date) {
            Some(Day::MakeUp) => true,
            Some(Day::Holiday) => false,
            None => !matches!(date.weekday(), Weekday::Sat | Weekday::Sun),
        })
    }

    /// The `n`-th working day after `date` (`date` itself never counts; `n = 0` is `date`).
    pub fn add_workdays(&self, date: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        let mut day = date;
        let mut left = n;
        while left > 0 {
            day = day
                .checked_add_days(Days::new(1))
                .ok_or(CalendarError::OutOfRange(day))?;
            if self.is_workday(day)? {
                left -= 1;
            }
        }
        Ok(day)
    }

    /// The end (24:00 Asia/Shanghai) of the `n`-th working day after the day of `from`.
    pub fn workday_deadline(&self, from: Timestamp, n: u32) -> Result<Timestamp, CalendarError> {
        let last = self.add_workdays(time::local_date(from), n)?;
        let next = last
            .checked_add_days(Days::new(1))
            .ok_or(CalendarError::OutOfRange(last))?;
        Ok(time::day_start(next))
    }

    /// When a window that starts at `from` ends: elapsed windows add their duration,
    /// working-day windows follow [`Calendar::workday_deadline`].
    pub fn due(&self, from: Timestamp, window: Window) -> Result<Timestamp, CalendarError> {
        match window {
            Window::Elapsed(d) => Ok(from
                .checked_add_signed(d.as_chrono())
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)),
            Window::Workdays(n) => self.workday_deadline(from, n),
        }
    }

    /// The last date of the unbroken run of covered years that contains `today`, if
    /// `today`'s year is covered.
    pub fn covered_until(&self, today: NaiveDate) -> Option<NaiveDate> {
        let mut year = today.year();
        if !self.years.contains_key(&year) {
            return None;
        }
        while self.years.contains_key(&(year + 1)) {
            year += 1;
        }
        NaiveDate::from_ymd_opt(year, 12, 31)
    }

    /// When the table runs out within [`EXPIRY_WARNING_DAYS`] of `today` (or does not cover
    /// today at all): the first year missing.
    pub fn missing_soon(&self, today: NaiveDate) -> Option<i32> {
        match self.covered_until(today) {
            None => Some(today.year()),
            Some(last) if (last - today).num_days() < EXPIRY_WARNING_DAYS as i64 => {
                Some(last.year() + 1)
            }
            Some(_) => None,
        }
    }
}

impl Calendar {
    /// The notice `run` queues to duty when the table runs out within
    /// [`EXPIRY_WARNING_DAYS`] (key `calendar/YEAR/missing`: once per missing year).
    pub fn expiry_notice(&self, now: Timestamp, to: Vec<String>) -> Option<Notice> {
        let today = time::local_date(now);
        let missing = self.missing_soon(today)?;
        let state = match self.covered_until(today) {
            Some(last) => format!(
                "官方节假日表只收录到 {}（还剩 {} 天），还没有 {missing} 年。",
                last.format("%Y-%m-%d"),
                (last - today).num_days() + 1
            ),
            None => format!("官方节假日表没有今年（{missing} 年）。"),
        };
        Some(Notice {
            key: format!("calendar/{missing}/missing"),
            to,
            created_at: now,
            kind: NoticeKind::Bulletin {
                subject: format!("【节假日表】缺少 {missing} 年的官方节假日安排"),
                paragraphs: vec![
                    state,
                    format!(
                        "国务院办公厅关于{missing}年部分节假日安排的通知发布后，请按 dictionaries/calendar/README.md 整理为 {missing}.toml，放入词典目录的 calendar 文件夹并重启守护进程。"
                    ),
                    format!(
                        "在此之前，凡落在 {missing} 年的工作日时限都无法计算，系统会报错而不会按周末猜测。"
                    ),
                ],
                commands: vec![(
                    "查看已收录的安排".into(),
                    format!("yuqing calendar show {}", missing - 1),
                )],
            },
        })
    }
}

/// Checks one year's table on its own: file name, ranges, counts, make-up days on weekends.
fn check_table(name: &str, table: &YearTable, problems: &mut Vec<String>) {
    let year = table.year;
    if name.strip_suffix(".toml") != Some(year.to_string().as_str()) {
        problems.push(format!(
            "{name}：year = {year} 与文件名不符；请命名为 {year}.toml"
        ));
    }
    if table.notices.is_empty() {
        problems.push(format!(
            "{name}：缺少 [[notice]]；请注明依据的国务院办公厅通知（标题、文号、日期）"
        ));
    }
    // A holiday may start in the year before (元旦 2023 began on 2022-12-31).
    let near = |d: NaiveDate| (year - 1..=year).contains(&d.year());
    for h in &table.holidays {
        let span = (h.to - h.from).num_days() + 1;
        if h.to < h.from || !near(h.from) || h.to.year() != year {
            problems.push(format!(
                "{name}：{} 的日期 {} 至 {} 不在 {year} 年内或起止颠倒",
                h.name, h.from, h.to
            ));
        } else if span != i64::from(h.days) {
            problems.push(format!(
                "{name}：{} 自 {} 至 {} 共 {span} 天，与 days = {} 不符；请对照通知核实",
                h.name, h.from, h.to, h.days
            ));
        }
    }
    for w in &table.workdays {
        if !near(w.date) || !matches!(w.date.weekday(), Weekday::Sat | Weekday::Sun) {
            problems.push(format!(
                "{name}：调休上班日 {} 应是 {year} 年的星期六或星期日；请对照通知核实",
                w.date
            ));
        }
    }
}

#[cfg(test)]
mod tests;
