//! `yuqing run` as a user starts it: the shipped configuration (no `[smtp]`, so mail
//! goes to `<data_dir>/outbox` as .eml files), one local fixture feed. A local
//! accident item must open an incident and write its alert; SIGTERM must stop the
//! daemon cleanly; a restart must neither re-ingest nor re-send (checked after the
//! restarted daemon has demonstrably polled and processed the feed again).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_yuqing");

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>安丘新闻</title><link>http://example.org/</link><description>本地新闻</description>
<!-- LATER --><item><title>安丘市景芝镇一化工厂发生爆炸 造成3人死亡</title><link>http://example.org/1.html</link>
<description>安丘市景芝镇一化工企业车间发生爆炸，造成3人死亡、2人受伤，事故原因正在调查。</description></item>
<item><title>安丘市举办农民丰收节文艺演出</title><link>http://example.org/2.html</link>
<description>活动现场气氛热烈，群众纷纷点赞。</description></item>
</channel></rss>
"#;

/// The shipped `yuqing.toml`, with the data folder, sources and dictionaries moved.
fn write_config(dir: &Path, feed_url: &str) -> PathBuf {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/yuqing.toml")).unwrap();
    let config = shipped
        .replace(
            "dictionaries = \"dictionaries\"",
            &format!(
                "dictionaries = '{}'",
                concat!(env!("CARGO_MANIFEST_DIR"), "/dictionaries")
            ),
        )
        .replace("bind = \"127.0.0.1:7390\"", "bind = \"127.0.0.1:0\"");
    assert!(
        config.contains(env!("CARGO_MANIFEST_DIR")),
        "dictionaries line replaced"
    );
    std::fs::write(dir.join("yuqing.toml"), config).unwrap();
    std::fs::write(
        dir.join("feeds.toml"),
        format!("[[source]]\nid = \"anqiu-news\"\nname = \"安丘新闻\"\nkind = \"feed\"\nurl = \"{feed_url}\"\ninterval = \"10s\"\n"),
    )
    .unwrap();
    dir.join("yuqing.toml")
}

fn start(config: &Path) -> Child {
    Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn stop(mut child: Child) -> std::process::ExitStatus {
    // SAFETY-free: send SIGTERM through the kill command, as systemd would.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap()
}

fn eml_files(outbox: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(outbox)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".eml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Waits up to 60 s (the source polls every 10 s).
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("gave up waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_accident_opens_an_incident_and_writes_its_alert() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rss.xml"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(RSS, "application/rss+xml"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &format!("{}/rss.xml", server.uri()));
    let outbox = dir.path().join("data/outbox");

    let daemon = start(&config);
    wait_for("the opened alert", || {
        eml_files(&outbox).iter().any(|n| n.contains("opened"))
    });
    let status = stop(daemon);
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");

    let files = eml_files(&outbox);
    let opened = files.iter().find(|n| n.contains("opened")).unwrap();
    let mail = std::fs::read_to_string(outbox.join(opened)).unwrap();
    assert!(mail.contains("X-Yuqing-Notice: 1/opened"), "{mail}");
    assert!(mail.contains("X-Yuqing-Incident: 1"), "{mail}");
    assert!(
        mail.contains("X-Yuqing-Level: III"),
        "3 deaths is level III: {mail}"
    );
    assert!(mail.contains("duty@localhost"), "{mail}");
    let parsed = mail_parser::MessageParser::default()
        .parse(mail.as_bytes())
        .unwrap();
    assert!(
        parsed
            .subject()
            .unwrap()
            .contains("安丘市景芝镇一化工厂发生爆炸"),
        "{:?}",
        parsed.subject()
    );
    // Besides the alert, only the holiday table's expiry notice (sent once per missing
    // year, from 60 days before the table runs out) may be there.
    let others: Vec<_> = files.iter().filter(|n| !n.contains("calendar")).collect();
    assert_eq!(
        others.len(),
        1,
        "the festival item opens nothing: {files:?}"
    );

    // A restart with the same data folder. The feed now carries one more accident
    // (a different event) ahead of the old items: its alert proves the restarted
    // daemon polled and processed the feed; the old items must not come back.
    server.reset().await;
    let later = RSS.replace(
        "<!-- LATER -->",
        "<item><title>安丘市一小学发生食物中毒 20名学生送医</title><link>http://example.org/3.html</link>\
         <description>安丘市某小学学生午餐后出现呕吐症状，已送医治疗。</description></item>",
    );
    Mock::given(method("GET"))
        .and(path("/rss.xml"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(later, "application/rss+xml"))
        .mount(&server)
        .await;
    let daemon = start(&config);
    wait_for("the restarted daemon's alert for the new item", || {
        eml_files(&outbox).len() > files.len()
    });
    let status = stop(daemon);
    assert!(status.success());
    let after = eml_files(&outbox);
    let new: Vec<&String> = after.iter().filter(|n| !files.contains(n)).collect();
    assert_eq!(
        new.len(),
        1,
        "only the new item's alert after a restart, no re-ingest or re-send: {new:?}"
    );
    let mail = std::fs::read_to_string(outbox.join(new[0])).unwrap();
    assert!(mail.contains("X-Yuqing-Notice: 2/opened"), "{mail}");
}
