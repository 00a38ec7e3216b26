//! The watchdog against the real binary: a task wedged in a step (the debug-build test
//! hook `YUQING_TEST_WEDGE`) is logged at ERROR once and reported to duty by mail,
//! through the outbox, to a real SMTP server; the other tasks keep working, and SIGTERM
//! still stops the daemon (the wedged task is aborted after the grace period).

mod common;

use std::path::Path;

use common::daemon::{Api, Daemon, Site, feed_server, incident_ids};
use common::smtp;

const BIN: &str = env!("CARGO_BIN_EXE_yuqing");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wedged_task_is_logged_once_and_mailed_to_duty() {
    if !cfg!(debug_assertions) {
        common::skip::require_or_skip(
            "the watchdog notice",
            "the YUQING_TEST_WEDGE hook exists in debug builds only; run without --release",
        );
        return;
    }
    let feed = feed_server(&[("a1", "安丘市景芝镇一化工厂发生爆炸 造成3人死亡")]).await;
    let collector = smtp::Collector::default();
    let listener = smtp::listener();
    let smtp_port = listener.local_addr().unwrap().port();
    smtp::serve(listener, collector.clone());
    let site = Site::new(
        Path::new(BIN),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
        &format!("{}/feed.xml", feed.uri()),
        &format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"none\"\ntimeout = \"5s\"\n\n\
             [daemon]\nwatchdog = \"4s\"\n"
        ),
    );
    let mut daemon = Daemon::start(&site, &[("YUQING_TEST_WEDGE", "digest")]);
    let api = Api::connect(&site, &mut daemon).await;
    // The other tasks work: an incident opens and its alert goes out.
    let ids = incident_ids(&api, &mut daemon, 1).await;
    let opened = format!("{}/opened", ids[0]);
    let wedged = |key: &String| key.starts_with("system/watchdog/");
    smtp::until("the alert and the watchdog notice", || {
        let keys = collector.keys();
        keys.contains(&opened) && keys.iter().any(wedged)
    })
    .await;
    // Several more watchdog rounds (a quarter of 4 s each): still one report.
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        daemon.assert_running("the digest task is wedged");
    }
    let notices: Vec<_> = collector
        .received()
        .into_iter()
        .filter(|m| wedged(&m.key()))
        .collect();
    assert_eq!(notices.len(), 1, "one notice per episode");
    let notice = &notices[0];
    assert!(
        notice.key().starts_with("system/watchdog/digest/"),
        "{}",
        notice.key()
    );
    assert_eq!(notice.to, ["duty@localhost"], "to duty");
    let mail = mail_parser::MessageParser::default()
        .parse(&notice.raw)
        .expect("mail parses");
    let subject = mail.subject().unwrap_or_default();
    assert!(
        subject.contains("系统告警") && subject.contains("digest"),
        "{subject}"
    );
    let text = mail.body_text(0).unwrap_or_default();
    assert!(
        text.contains("没有进展") && text.contains("systemd"),
        "{text}"
    );
    let log = daemon.log();
    let errors: Vec<_> = log
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("no progress within the watchdog time"))
        .collect();
    assert_eq!(errors.len(), 1, "logged once per episode:\n{log}");
    assert!(
        errors[0].contains("probe=\"digest\"") || errors[0].contains("probe=digest"),
        "{}",
        errors[0]
    );
    let status = daemon.stop();
    assert!(
        status.success(),
        "SIGTERM stops it even with a wedged task: {status}"
    );
}
