//! `yuqing feeds check` and `yuqing run` through the real binary, against wiremock.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use assert_cmd::Command;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use yuqing::store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_yuqing");

fn write_config(dir: &Path, feeds: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("feeds.toml"), feeds).unwrap();
    let config = dir.join("yuqing.toml");
    std::fs::write(
        &config,
        format!(
            // Port 0: a daemon started by a test never collides with one running on the machine.
            "feeds = \"feeds.toml\"\ndata_dir = \"data\"\ndictionaries = '{}'\n\n[api]\nbind = \"127.0.0.1:0\"\n\n[intake]\ntimeout = \"5s\"\nconnect_timeout = \"2s\"\n",
            concat!(env!("CARGO_MANIFEST_DIR"), "/dictionaries")
        ),
    )
    .unwrap();
    config
}

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>新闻</title><link>http://example.org/</link><description>d</description>
<item><title>安丘市召开安全生产工作会议</title><link>http://example.org/1.html</link><guid>1</guid></item>
<item><title>潍坊市发布寒潮预警</title><link>http://example.org/2.html</link><guid>2</guid></item>
</channel></rss>
"#;

fn gbk_page() -> Vec<u8> {
    let html = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\"></head>\
                <body><ul class=\"list\"><li><a href=\"/1.html\">关于景芝镇供暖问题的投诉</a></li>\
                <li><a href=\"/2.html\">兴安街道路灯不亮</a></li></ul></body></html>";
    encoding_rs::GBK.encode(html).0.into_owned()
}

async fn three_sources() -> (MockServer, tempfile::TempDir, std::path::PathBuf) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rss.xml"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(RSS, "application/rss+xml"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/list.htm"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(gbk_page(), "text/html"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/gone"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let feeds = r#"
[[source]]
id = "news"
name = "新闻订阅"
kind = "feed"
url = "{url}/rss.xml"

[[source]]
id = "board"
name = "政府网站留言板"
kind = "html"
url = "{url}/list.htm"
item = "ul.list li"

[[source]]
id = "gone"
name = "已停用的订阅"
kind = "feed"
url = "{url}/gone"

[[source]]
id = "off"
kind = "feed"
url = "{url}/never"
enabled = false
"#
    .replace("{url}", &server.uri());
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &feeds);
    (server, dir, config)
}

/// Runs the binary off the async runtime (wiremock keeps serving meanwhile).
async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .env_remove("YUQING_CONFIG")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn args(config: &Path, rest: &[&str]) -> Vec<String> {
    let mut out = vec!["--config".to_string(), config.display().to_string()];
    out.extend(rest.iter().map(|s| s.to_string()));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn feeds_check_json_reports_every_enabled_source() {
    let (server, dir, config) = three_sources().await;
    let out = run(args(&config, &["feeds", "check", "--json"])).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "one source failed\n{stdout}\n{stderr}"
    );
    assert!(stderr.contains("gone"), "{stderr}");

    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<_> = lines
        .iter()
        .map(|l| l["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["news", "board", "gone"],
        "enabled sources, in file order"
    );

    let news = &lines[0];
    assert_eq!(news["ok"], true);
    assert_eq!(news["status"], 200);
    assert_eq!(news["items"], 2);
    assert_eq!(news["encoding"], "UTF-8");
    assert_eq!(news["error"], serde_json::Value::Null);
    assert_eq!(
        news["titles"],
        serde_json::json!(["安丘市召开安全生产工作会议", "潍坊市发布寒潮预警"])
    );

    let board = &lines[1];
    assert_eq!(board["ok"], true);
    assert_eq!(board["encoding"], "GBK");
    assert_eq!(
        board["titles"],
        serde_json::json!(["关于景芝镇供暖问题的投诉", "兴安街道路灯不亮"])
    );

    let gone = &lines[2];
    assert_eq!(gone["ok"], false);
    assert_eq!(gone["status"], 404);
    assert_eq!(gone["items"], 0);
    assert!(gone["error"].as_str().unwrap().contains("404"));

    assert!(
        !dir.path().join("data").exists(),
        "feeds check opens no database"
    );
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| r.url.path() != "/never"));
    assert!(
        requests
            .iter()
            .all(|r| !r.headers.contains_key("if-none-match")),
        "no conditional GET"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn feeds_check_one_source_and_the_readable_report() {
    let (_server, _dir, config) = three_sources().await;
    let out = run(args(&config, &["feeds", "check", "--source", "board"])).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("[正常] board（政府网站留言板）"),
        "{stdout}"
    );
    assert!(stdout.contains("编码 GBK"), "{stdout}");
    assert!(stdout.contains("· 关于景芝镇供暖问题的投诉"), "{stdout}");
    assert!(
        stdout.contains("共 1 个信息源：1 个正常，0 个失败"),
        "{stdout}"
    );
    assert!(!stdout.contains("news"));

    // A disabled source can still be checked by name.
    let out = run(args(
        &config,
        &["feeds", "check", "--source", "off", "--json"],
    ))
    .await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("\"source\":\"off\""), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn feeds_check_unknown_source_is_a_usage_error_listing_known_ids() {
    let (_server, _dir, config) = three_sources().await;
    let out = run(args(&config, &["feeds", "check", "--source", "nope"])).await;
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("未知的信息源“nope”"), "{stderr}");
    for id in ["news", "board", "gone", "off"] {
        assert!(stderr.contains(id), "{id} missing in {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_config_exits_2_listing_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        r#"
[[source]]
id = "a"
kind = "rss"
url = "https://example.org/"

[[source]]
id = "b"
kind = "feed"
url = "ftp://example.org/"
interval = "5s"
"#,
    );
    std::fs::write(
        &config,
        "feeds = \"feeds.toml\"\n[intake]\njitter = 3.0\nconcurrency = 0\n",
    )
    .unwrap();
    for command in [&["feeds", "check"][..], &["run"][..]] {
        let out = run(args(&config, command)).await;
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{command:?}: {stderr}");
        for needle in [
            "jitter",
            "concurrency",
            "信息源 a",
            "kind",
            "信息源 b",
            "ftp://",
            "interval",
        ] {
            assert!(
                stderr.contains(needle),
                "{command:?}: {needle} missing in {stderr}"
            );
        }
        assert!(!dir.path().join("data").exists());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_polls_and_stops_cleanly_on_sigterm() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rss.xml"))
        .respond_with(ResponseTemplate::new(304))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let feeds = format!(
        "[[source]]\nid = \"news\"\nkind = \"feed\"\nurl = \"{}/rss.xml\"\ninterval = \"10s\"\n",
        server.uri()
    );
    let config = write_config(dir.path(), &feeds);
    let mut child = std::process::Command::new(BIN)
        .args(["--config", &config.display().to_string(), "run"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Bounded wait for the first poll (spread within the 10s interval).
    let mut polled = false;
    for _ in 0..300 {
        if !server.received_requests().await.unwrap().is_empty() {
            polled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give the poll a moment to record its state before stopping.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        (status, stderr)
    })
    .await
    .unwrap();
    let (status, stderr) = output;
    assert!(polled, "the daemon polled the source\n{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    assert!(stderr.contains("yuqing daemon stopped"), "{stderr}");

    // The schedule survived the stop.
    let store = Store::open(&dir.path().join("data")).unwrap();
    let state = store.source_state("news").unwrap();
    assert_eq!(state.last_status, Some(304));
    assert!(state.next_poll_at.is_some());
}
