//! `yuqing calendar`: the real binary against the shipped tables in dictionaries/calendar;
//! and `yuqing run` telling duty, once, that the table runs out.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use chrono::Datelike;

/// The binary, run from the repository root so the built-in defaults find `dictionaries/`.
fn yuqing() -> Command {
    let mut cmd = Command::cargo_bin("yuqing").expect("binary built");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("YUQING_CONFIG");
    cmd
}

#[test]
fn add_workdays_skips_the_national_day_holiday_and_counts_the_make_up_saturday() {
    let out = yuqing()
        .args(["calendar", "add-workdays", "2025-09-30", "3"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8(out).unwrap(), "2025-10-11\n");
}

#[test]
fn an_uncovered_year_exits_1_naming_it() {
    let assert = yuqing()
        .args(["calendar", "add-workdays", "2026-12-30", "3"])
        .assert()
        .code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("没有 2027 年"), "{stderr}");
    yuqing().args(["calendar", "show", "2019"]).assert().code(1);
}

#[test]
fn show_lists_holidays_and_make_up_days() {
    let assert = yuqing()
        .args(["calendar", "show", "2026"])
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("春节：2026-02-15（周日） 至 2026-02-23（周一），共 9 天"),
        "{stdout}"
    );
    assert!(stdout.contains("2026-02-28（周六）（春节）"), "{stdout}");
}

#[test]
fn a_dictionaries_folder_without_tables_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dictionaries")).unwrap();
    let config = dir.path().join("yuqing.toml");
    std::fs::write(&config, "feeds = \"feeds.toml\"\n").unwrap();
    std::fs::write(dir.path().join("feeds.toml"), "").unwrap();
    let assert = yuqing()
        .arg("--config")
        .arg(Path::new(&config))
        .args(["calendar", "add-workdays", "2025-09-30", "3"])
        .assert()
        .code(2);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("找不到节假日表"), "{stderr}");
}

/// Copies the shipped dictionaries except the holiday tables.
fn copy_dictionaries(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "calendar" {
                copy_dictionaries(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn start(config: &Path) -> Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_yuqing"))
        .args(["--config", config.to_str().unwrap(), "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn stop(mut child: Child) -> std::process::ExitStatus {
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap()
}

fn calendar_mails(outbox: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(outbox)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("calendar") && n.ends_with(".eml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A deployment whose table stops at last year: the current year is missing, whatever
/// today is, so `run` must warn duty; a restart must not send it again.
#[test]
fn run_tells_duty_once_that_the_table_runs_out() {
    let dir = tempfile::tempdir().unwrap();
    let dictionaries = dir.path().join("dictionaries");
    copy_dictionaries(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
        &dictionaries,
    );
    let year = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
        .year();
    let last = year - 1;
    std::fs::create_dir(dictionaries.join("calendar")).unwrap();
    std::fs::write(
        dictionaries.join(format!("calendar/{last}.toml")),
        format!(
            "year = {last}\n[[notice]]\ntitle = \"测试用表\"\nissued = \"{}-11-01\"\n",
            last - 1
        ),
    )
    .unwrap();
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/yuqing.toml")).unwrap();
    let config_text = shipped.replace("bind = \"127.0.0.1:7390\"", "bind = \"127.0.0.1:0\"");
    assert!(config_text.contains("dictionaries = \"dictionaries\""));
    let config = dir.path().join("yuqing.toml");
    std::fs::write(&config, config_text).unwrap();
    std::fs::write(dir.path().join("feeds.toml"), "").unwrap();
    let outbox = dir.path().join("data/outbox");

    let daemon = start(&config);
    let deadline = Instant::now() + Duration::from_secs(60);
    while calendar_mails(&outbox).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(stop(daemon).success(), "clean exit on SIGTERM");
    let mails = calendar_mails(&outbox);
    assert_eq!(mails.len(), 1, "one notice: {mails:?}");
    let mail = std::fs::read_to_string(outbox.join(&mails[0])).unwrap();
    assert!(
        mail.contains(&format!("X-Yuqing-Notice: calendar/{year}/missing")),
        "{mail}"
    );
    assert!(mail.contains("duty@localhost"), "{mail}");
    let parsed = mail_parser::MessageParser::default()
        .parse(mail.as_bytes())
        .unwrap();
    assert_eq!(
        parsed.subject(),
        Some(format!("【节假日表】缺少 {year} 年的官方节假日安排").as_str())
    );

    let daemon = start(&config);
    std::thread::sleep(Duration::from_secs(3));
    assert!(stop(daemon).success());
    assert_eq!(
        calendar_mails(&outbox),
        mails,
        "not sent again after a restart"
    );
}
