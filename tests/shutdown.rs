//! The shutdown bound against the real binary: SIGTERM while a long classification
//! is in flight (one item of a local feed is megabytes long, and `[intake]
//! max_text_bytes` is raised so that all of it is classified) ends the daemon with
//! exit 0 within the systemd unit's `TimeoutStopSec`, and nothing committed is lost:
//! the acknowledgement made just before is there after a restart, the ledger
//! verifies, and the item that was in flight is not lost: left pending and classified
//! after the restart, or (when its batch finished within the bound) stored before the
//! stop.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::daemon::{
    Api, Daemon, PATIENCE, Site, incident_ids, incidents_until, serve_feed, tail,
};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_yuqing");
const UNIT: &str = include_str!("../deploy/yuqing.service");

/// `TimeoutStopSec=` of the shipped unit, in seconds.
fn stop_timeout() -> Duration {
    let secs = UNIT
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .and_then(|v| v.trim().trim_end_matches('s').parse().ok())
        .expect("TimeoutStopSec in seconds");
    Duration::from_secs(secs)
}

/// A feed with a short flagged item, then one of about `mb` megabytes.
fn feed(mb: usize) -> String {
    let published = (chrono::Utc::now() - chrono::Duration::minutes(20)).to_rfc2822();
    let sentence = "安丘市兴安街道一居民楼发生火灾，消防部门赶赴现场处置，周边群众有序疏散。";
    let huge = sentence.repeat(mb * 1024 * 1024 / sentence.len());
    let item = |guid: &str, title: &str, body: &str| {
        format!(
            "<item><title>{title}</title><link>http://127.0.0.1/news/{guid}.html</link>\
             <guid>{guid}</guid><pubDate>{published}</pubDate>\
             <description>{body}</description></item>"
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>\
         <title>本地新闻</title><link>http://127.0.0.1/</link><description>测试</description>{}{}\
         </channel></rss>",
        item(
            "a1",
            "安丘市景芝镇一化工厂发生爆炸 造成3人死亡",
            "记者从当地获悉。"
        ),
        item("h1", "安丘市兴安街道一居民楼发生火灾", &huge),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_long_classification_exits_within_the_stop_timeout() {
    let server = serve_feed(feed(24)).await;
    let site = Site::new(
        Path::new(BIN),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
        &format!("{}/feed.xml", server.uri()),
        "[intake]\nmax_body_bytes = 67108864\nmax_text_bytes = 67108864\ntimeout = \"120s\"\n",
    );
    let mut daemon = Daemon::start(&site, &[]);
    let api = Api::connect(&site, &mut daemon).await;
    let ids = incident_ids(&api, &mut daemon, 1).await;
    let id = ids[0];
    api.post(
        &format!("/v1/incidents/{id}/ack"),
        json!({"by": "值班员甲", "note": "停机前签收"}),
    )
    .await
    .expect("ack");
    // The huge item was stored with the short one and is now being classified.
    let asked = Instant::now();
    let status = daemon.stop();
    let took = asked.elapsed();
    let log = std::fs::read_to_string(site.dir.path().join("daemon.log")).unwrap_or_default();
    assert!(
        status.success(),
        "exit 0 after SIGTERM: {status}\n{}",
        tail(&log)
    );
    assert!(
        took < stop_timeout(),
        "stopped in {took:?}, beyond TimeoutStopSec {:?} (systemd would SIGKILL)\n{}",
        stop_timeout(),
        tail(&log)
    );
    assert!(log.contains("yuqing daemon stopped"), "{}", tail(&log));

    let verify = site.command().arg("verify").output().unwrap();
    assert!(
        verify.status.success(),
        "verify after the stop: {}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // Restart: the acknowledgement is there; the item in flight was left pending.
    let mut daemon = Daemon::start(&site, &[]);
    let api = Api::connect(&site, &mut daemon).await;
    let incident = api.get(&format!("/v1/incidents/{id}")).await.unwrap();
    assert_eq!(incident["status"], "acknowledged", "{incident}");
    assert!(
        incident["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "ack" && e["by"] == "值班员甲"),
        "{incident}"
    );
    // The huge item is not lost: either its classification was done and stored before
    // the stop (the pipeline finishes the batch in hand when it can within the bound),
    // or it was left pending and is classified now. Either way its incident comes.
    // (Reading the 24 MB item back takes a moment in a debug build.)
    incidents_until(
        &api,
        &mut daemon,
        "waiting for the huge item's incident (lost at the stop?)",
        |list| {
            list.iter().any(|i| {
                i["title"]
                    .as_str()
                    .is_some_and(|t| t.contains("兴安街道一居民楼发生火灾"))
            })
        },
    )
    .await;
    let pending = daemon
        .log()
        .contains("classifying items left pending by an earlier run items=1");
    eprintln!(
        "the huge item was {} at SIGTERM",
        if pending {
            "in flight (left pending, classified after the restart)"
        } else {
            "already classified and stored"
        }
    );
    daemon.kill();
}

/// A stop asked for while the daemon is still starting (its store open, its
/// dictionaries loading) is kept and taken when it is up: exit 0, not a kill by
/// SIGTERM's default action (which a restart by systemd during start-up would be).
#[test]
fn sigterm_during_start_up_exits_cleanly() {
    let site = Site::new(
        Path::new(BIN),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
        "http://127.0.0.1:9/feed.xml",
        "",
    );
    let mut daemon = Daemon::start(&site, &[]);
    // "starting" is logged once the store is open, before the dictionaries load
    // (a tenth of a second and more); the signal lands in between.
    let deadline = Instant::now() + PATIENCE;
    while !daemon.log().contains("yuqing daemon starting") {
        daemon.assert_running("starting");
        assert!(
            Instant::now() < deadline,
            "no start:\n{}",
            tail(&daemon.log())
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = daemon.stop();
    let log = std::fs::read_to_string(site.dir.path().join("daemon.log")).unwrap_or_default();
    assert!(status.success(), "exit {status}:\n{}", tail(&log));
    assert!(log.contains("signal=\"SIGTERM\""), "{}", tail(&log));
}
