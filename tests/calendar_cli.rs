//! `yuqing calendar`: the real binary against the shipped tables in dictionaries/calendar.

use std::path::Path;

use assert_cmd::Command;

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
