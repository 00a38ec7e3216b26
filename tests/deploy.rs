//! The shipped systemd unit: accepted by `systemd-analyze verify` without a warning
//! (fails under CI=true when systemd-analyze is missing; `.ci/run` installs it), and
//! its timings consistent with the daemon's: the watchdog budget longer than
//! `[daemon] watchdog`, the stop timeout longer than the daemon's shutdown bound.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

const UNIT: &str = include_str!("../deploy/yuqing.service");

/// The value of `Key=` in the unit (the last one wins, as in systemd).
fn setting<'a>(key: &str) -> Option<&'a str> {
    UNIT.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .next_back()
        .map(str::trim)
}

/// A systemd time span of the forms the unit uses: `15`, `15s`, `3min`.
fn span(text: &str) -> Duration {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .unwrap_or_else(|_| panic!("time span {text:?}"));
    match unit {
        "" | "s" => Duration::from_secs(n),
        "min" => Duration::from_secs(n * 60),
        other => panic!("unit {other:?} in {text:?}"),
    }
}

#[test]
fn systemd_analyze_verifies_the_unit_without_warnings() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        common::skip::require_or_skip(
            "the systemd unit",
            "systemd-analyze is not installed (apt-get install systemd)",
        );
        return;
    }
    // verify checks that ExecStart exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("yuqing.service");
    let exec = UNIT.replace("/usr/local/bin/yuqing", env!("CARGO_BIN_EXE_yuqing"));
    assert_ne!(exec, UNIT, "ExecStart names /usr/local/bin/yuqing");
    std::fs::write(&unit, exec).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "systemd-analyze verify: {said}");
    // It exits 0 on unknown keys and bad values too, only warning: none allowed.
    let unit_lines: Vec<_> = said
        .lines()
        .filter(|l| l.contains("yuqing.service"))
        .collect();
    assert!(unit_lines.is_empty(), "warnings about the unit: {said}");
}

#[test]
fn the_unit_is_hardened_and_its_timings_fit_the_daemon() {
    for (key, value) in [
        ("Type", "notify"),
        ("User", "yuqing"),
        ("StateDirectory", "yuqing"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "true"),
        ("PrivateTmp", "true"),
        ("NoNewPrivileges", "true"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("Restart", "on-failure"),
        ("LimitNOFILE", "8192"),
    ] {
        assert_eq!(setting(key), Some(value), "{key}=");
    }
    let shipped = yuqing::config::Config::resolve_settings(Some(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("yuqing.toml"),
    ))
    .expect("the shipped yuqing.toml loads");
    let watchdog = shipped.daemon.watchdog.as_duration();
    let budget = span(setting("WatchdogSec").expect("WatchdogSec="));
    assert!(
        watchdog < budget,
        "[daemon] watchdog {watchdog:?} must be shorter than WatchdogSec {budget:?}: the daemon \
         stops pinging after its watchdog, systemd restarts after WatchdogSec"
    );
    let stop = span(setting("TimeoutStopSec").expect("TimeoutStopSec="));
    assert!(
        stop >= 2 * (yuqing::daemon::SHUTDOWN_GRACE + Duration::from_secs(1)),
        "TimeoutStopSec {stop:?} leaves room over the daemon's shutdown bound"
    );
}
