use super::*;

fn shipped() -> Calendar {
    Calendar::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries")).unwrap()
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn ts(text: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

#[test]
fn ships_2020_through_2026() {
    let calendar = shipped();
    assert_eq!(
        calendar.years().collect::<Vec<_>>(),
        (2020..=2026).collect::<Vec<_>>()
    );
    for year in 2020..=2026 {
        let table = calendar.year(year).unwrap();
        assert!(
            table.notices[0]
                .title
                .contains(&format!("{year}年部分节假日安排")),
            "{year}"
        );
    }
}

#[test]
fn working_days_follow_the_notices() {
    let calendar = shipped();
    // (date, working day?, why)
    let cases = [
        ("2025-01-01", false, "元旦"),
        ("2025-01-26", true, "Sunday made up for 春节"),
        ("2025-01-27", true, "ordinary Monday"),
        ("2025-01-28", false, "除夕, 春节 begins"),
        ("2025-02-04", false, "春节 last day"),
        ("2025-02-08", true, "Saturday made up for 春节"),
        ("2025-02-09", false, "ordinary Sunday"),
        ("2025-04-27", true, "Sunday made up for 劳动节"),
        ("2025-05-05", false, "劳动节"),
        ("2025-06-02", false, "端午节"),
        ("2025-09-28", true, "Sunday made up for 国庆"),
        ("2025-10-08", false, "国庆、中秋"),
        ("2025-10-11", true, "Saturday made up for 国庆"),
        ("2024-02-09", true, "除夕 2024 only encouraged off"),
        ("2023-01-02", false, "元旦 2023"),
        (
            "2020-02-01",
            false,
            "make-up day cancelled by the 2020 extension",
        ),
        ("2020-02-03", true, "work resumed after the extension"),
        ("2026-01-04", true, "Sunday made up for 元旦 2026"),
        ("2026-02-23", false, "春节 2026 last day"),
        ("2026-10-10", true, "Saturday made up for 国庆 2026"),
        (
            "2026-12-25",
            true,
            "ordinary Friday (where other crates panic)",
        ),
        ("2026-12-26", false, "ordinary Saturday"),
    ];
    for (day, expected, why) in cases {
        assert_eq!(calendar.is_workday(date(day)), Ok(expected), "{day}: {why}");
    }
}

#[test]
fn add_workdays_counts_after_the_day() {
    let calendar = shipped();
    let cases = [
        ("2025-09-30", 3, "2025-10-11"), // 国庆+中秋, then 10-09, 10-10, Sat 10-11
        ("2025-09-26", 1, "2025-09-28"), // Friday → the make-up Sunday
        ("2025-10-03", 3, "2025-10-11"), // from inside the holiday
        ("2025-01-24", 2, "2025-01-27"), // Fri → Sun 01-26 (make-up), Mon 01-27
        ("2025-01-27", 1, "2025-02-05"), // across 春节
        ("2026-12-04", 0, "2026-12-04"),
        ("2026-12-25", 3, "2026-12-30"),
        ("2020-01-23", 1, "2020-02-03"), // across the extended 2020 春节
    ];
    for (from, n, expected) in cases {
        assert_eq!(
            calendar.add_workdays(date(from), n),
            Ok(date(expected)),
            "{from} + {n}"
        );
    }
}

#[test]
fn deadline_ends_at_midnight_beijing() {
    let calendar = shipped();
    let cases = [
        // Friday 18:00 Beijing, 3 working days: Sun 09-28 (make-up), 09-29, 09-30.
        ("2025-09-26T18:00:00+08:00", 3, "2025-10-01T00:00:00+08:00"),
        // Posted on a holiday: 10-09, 10-10, Sat 10-11 (make-up).
        ("2025-10-03T09:30:00+08:00", 3, "2025-10-12T00:00:00+08:00"),
        // 23:30 UTC is already the next Beijing day (Sat 2026-12-05): Mon, Tue.
        ("2026-12-04T23:30:00Z", 2, "2026-12-09T00:00:00+08:00"),
        ("2026-12-04T10:00:00+08:00", 0, "2026-12-05T00:00:00+08:00"),
    ];
    for (from, n, expected) in cases {
        assert_eq!(
            calendar.workday_deadline(ts(from), n),
            Ok(ts(expected)),
            "{from} + {n} workdays"
        );
    }
}

#[test]
fn windows_are_elapsed_or_working_days() {
    let calendar = shipped();
    let from = ts("2025-09-26T18:00:00+08:00");
    let cases = [
        ("3 workdays", "2025-10-01T00:00:00+08:00"),
        ("3工作日", "2025-10-01T00:00:00+08:00"),
        ("3d", "2025-09-29T18:00:00+08:00"),
        ("5h", "2025-09-26T23:00:00+08:00"),
    ];
    for (window, expected) in cases {
        let window = crate::config::parse_window(window).unwrap();
        assert_eq!(calendar.due(from, window), Ok(ts(expected)), "{window}");
    }
}

#[test]
fn an_uncovered_year_is_an_error_naming_it() {
    let calendar = shipped();
    let err = calendar.add_workdays(date("2026-12-30"), 3).unwrap_err();
    assert_eq!(
        err,
        CalendarError::Uncovered {
            year: 2027,
            covered: "2020–2026 年".into()
        }
    );
    assert!(err.to_string().contains("没有 2027 年"), "{err}");
    assert!(calendar.is_workday(date("2019-12-31")).is_err());
    let empty = Calendar::default();
    assert!(
        empty
            .is_workday(date("2026-01-05"))
            .unwrap_err()
            .to_string()
            .contains("已收录：无")
    );
}

#[test]
fn warns_sixty_days_before_the_table_runs_out() {
    let calendar = shipped();
    let cases = [
        ("2026-10-01", None),
        ("2026-11-01", None),
        ("2026-11-02", Some(2027)), // 59 days left
        ("2026-12-05", Some(2027)),
        ("2027-01-01", Some(2027)), // not covered at all
        ("2023-12-05", None),       // later years follow
    ];
    for (today, expected) in cases {
        assert_eq!(calendar.missing_soon(date(today)), expected, "{today}");
    }
}

#[test]
fn checks_each_file() {
    let bad = r#"
year = 2031
[[notice]]
title = "国务院办公厅关于2031年部分节假日安排的通知"
issued = "2030-11-01"
[[holiday]]
name = "春节"
from = "2031-01-22"
to = "2031-01-28"
days = 8
[[workday]]
date = "2031-01-20"
name = "春节"
[[workday]]
date = "2031-01-25"
name = "春节"
"#;
    let err = Calendar::from_files([("2030.toml", bad)]).unwrap_err();
    let CalendarError::Invalid(problems) = err else {
        panic!("expected Invalid, got {err:?}");
    };
    let text = problems.join("\n");
    assert!(text.contains("与文件名不符"), "{text}");
    assert!(text.contains("共 7 天，与 days = 8 不符"), "{text}");
    assert!(text.contains("调休上班日 2031-01-20"), "{text}"); // a Monday
    let syntax = Calendar::from_files([("2031.toml", "year = ")]).unwrap_err();
    assert!(syntax.to_string().contains("2031.toml"), "{syntax}");
}

#[test]
fn a_date_cannot_be_both_holiday_and_workday() {
    let text = r#"
year = 2031
[[notice]]
title = "t"
issued = "2030-11-01"
[[holiday]]
name = "春节"
from = "2031-01-25"
to = "2031-01-26"
days = 2
[[workday]]
date = "2031-01-25"
name = "春节"
"#;
    let err = Calendar::from_files([("2031.toml", text)]).unwrap_err();
    assert!(err.to_string().contains("既是假日又是调休上班日"), "{err}");
}

#[test]
fn the_expiry_notice_names_the_missing_year_once() {
    let calendar = shipped();
    let to = vec!["duty@localhost".to_string()];
    let notice = calendar
        .expiry_notice(ts("2026-12-05T09:00:00+08:00"), to.clone())
        .unwrap();
    assert_eq!(notice.key, "calendar/2027/missing");
    let NoticeKind::Bulletin {
        subject,
        paragraphs,
        ..
    } = &notice.kind
    else {
        panic!("expected a bulletin");
    };
    assert_eq!(subject, "【节假日表】缺少 2027 年的官方节假日安排");
    assert!(
        paragraphs[0].contains("只收录到 2026-12-31（还剩 27 天）"),
        "{paragraphs:?}"
    );
    // The same key on every later start: the outbox queues it once.
    let later = calendar
        .expiry_notice(ts("2026-12-20T09:00:00+08:00"), to.clone())
        .unwrap();
    assert_eq!(later.key, notice.key);
    assert!(
        calendar
            .expiry_notice(ts("2026-06-01T09:00:00+08:00"), to)
            .is_none()
    );
}
