//! 效果评估 end to end through the real `yuqing run` binary: a local feed reports an
//! accident, the incident opens, its response is recorded with `yuqing milestone`,
//! more reports (reposts) arrive after it, the daemon is stopped and started again
//! across the end of `[policy] effect_window`, and then the verdict `rising` is in
//! `show --json` and the `ID/effect/rising` mail reaches a real SMTP server on
//! 127.0.0.1 exactly once. Items carry no publication date, so each counts at the
//! time the daemon first saw it.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;
use common::daemon::{Api, Daemon, PATIENCE, Site, incident_ids, tail};
use common::smtp::{Collector, serve};

const BIN: &str = env!("CARGO_BIN_EXE_yuqing");
const EXPLOSION: &str = "安丘市景芝镇一化工厂发生爆炸 造成3人死亡";
/// Long enough for the later reports to be polled (every 10 s) inside it.
const WINDOW_SECS: u64 = 45;

/// An RSS feed of reports of the explosion, without publication dates.
fn undated_rss(guids: &[&str]) -> String {
    let items: String = guids
        .iter()
        .map(|guid| {
            format!(
                "<item><title>{EXPLOSION}</title><link>http://127.0.0.1/news/{guid}.html</link>\
                 <guid>{guid}</guid><description>{EXPLOSION}。记者从当地获悉，相关部门已赶赴现场处置。</description></item>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>\
         <title>本地新闻</title><link>http://127.0.0.1/</link><description>测试</description>\
         {items}</channel></rss>"
    )
}

async fn serve_feed(server: &MockServer, guids: &[&str]) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/rss+xml; charset=utf-8")
                .set_body_string(undated_rss(guids)),
        )
        .mount(server)
        .await;
}

/// Runs the CLI against the site; returns stdout, insisting on exit code 0.
fn cli(site: &Site, args: &[&str]) -> String {
    let out = site.command().args(args).output().expect("run yuqing");
    assert!(
        out.status.success(),
        "yuqing {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn show(site: &Site, id: u64) -> Value {
    serde_json::from_str(&cli(site, &["show", &id.to_string(), "--json"])).expect("show --json")
}

/// Polls `show --json` until `done` holds.
async fn wait_show(
    site: &Site,
    daemon: &mut Daemon,
    id: u64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        daemon.assert_running(what);
        let detail = show(site, id);
        if done(&detail) {
            return detail;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "gave up waiting for {what}: {detail}\n{}",
            tail(&daemon.log())
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rising_verdict_after_the_window_is_shown_and_mailed_once_across_a_restart() {
    let feed = MockServer::start().await;
    serve_feed(&feed, &["a1"]).await;
    let smtp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let smtp_port = smtp.local_addr().unwrap().port();
    let mail = Collector::default();
    serve(smtp, mail.clone());
    let site = Site::new(
        Path::new(BIN),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
        &format!("{}/feed.xml", feed.uri()),
        &format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"none\"\n\n\
             [recipients]\nduty = [\"duty@localhost\"]\npropaganda = [\"xcb@localhost\"]\n\
             office = [\"office@localhost\"]\n\n\
             [policy]\neffect_window = \"{WINDOW_SECS}s\"\n"
        ),
    );
    let mut daemon = Daemon::start(&site, &[]);
    let api = Api::connect(&site, &mut daemon).await;
    let id = incident_ids(&api, &mut daemon, 1).await[0];

    // No response yet: no evaluation.
    assert!(show(&site, id)["effect"].is_null());
    // The response (3 deaths is level III: 回应), recorded as a duty officer does.
    cli(
        &site,
        &["milestone", &id.to_string(), "response", "--by", "张三"],
    );
    let responded = Instant::now();
    let detail = show(&site, id);
    assert_eq!(detail["effect"]["verdict"], "pending", "{detail}");
    assert_eq!(detail["effect"]["before"], 1, "{detail}");
    assert_eq!(detail["effect"]["after"], 0, "{detail}");
    assert_eq!(detail["effect"]["window"], format!("{WINDOW_SECS}s"));

    // Three reposts after the response.
    serve_feed(&feed, &["a1", "a2", "a3", "a4"]).await;
    let joined = wait_show(&site, &mut daemon, id, "the reposts to join", |d| {
        d["items"] == 4
    })
    .await;
    assert_eq!(joined["effect"]["verdict"], "pending", "{joined}");
    assert_eq!(joined["effect"]["after"], 3, "{joined}");
    let text = cli(&site, &["show", &id.to_string()]);
    assert!(text.contains("效果评估：待评估"), "{text}");
    assert!(
        responded.elapsed() < Duration::from_secs(WINDOW_SECS),
        "the reposts came too late for this test's window"
    );

    // Down across the end of the window: the evaluation waits in the due index.
    assert!(daemon.stop().success());
    let end = responded + Duration::from_secs(WINDOW_SECS + 1);
    tokio::time::sleep(end.saturating_duration_since(Instant::now())).await;
    let mut daemon = Daemon::start(&site, &[]);
    Api::connect(&site, &mut daemon).await;
    let done = wait_show(&site, &mut daemon, id, "the verdict", |d| {
        d["effect"]["verdict"] != "pending"
    })
    .await;
    assert_eq!(done["effect"]["verdict"], "rising", "{done}");
    assert_eq!(done["effect"]["before"], 1, "{done}");
    assert_eq!(done["effect"]["after"], 3, "{done}");
    let audit: Vec<&Value> = done["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "effect")
        .collect();
    assert_eq!(audit.len(), 1, "{done}");
    assert_eq!(audit[0]["by"], "system");
    let text = cli(&site, &["show", &id.to_string()]);
    assert!(text.contains("效果评估：升温"), "{text}");
    let export = cli(&site, &["export", "--format", "csv"]);
    assert!(export.contains("升温"), "{export}");

    let key = format!("{id}/effect/rising");
    common::smtp::until("the rising mail", || mail.keys().contains(&key)).await;
    // Give a duplicate every chance to show up: another poll, another deadline pass.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rising: Vec<_> = mail
        .received()
        .into_iter()
        .filter(|m| m.key() == key)
        .collect();
    assert_eq!(rising.len(), 1, "exactly once: {:?}", mail.keys());
    let mut to = rising[0].to.clone();
    to.sort();
    assert_eq!(to, ["office@localhost", "xcb@localhost"]);
    assert_eq!(rising[0].header("X-Yuqing-Incident"), id.to_string());
    assert!(daemon.stop().success());
}
