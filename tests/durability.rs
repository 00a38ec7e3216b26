//! The daemon under load, against the real binary: many duty officers changing the
//! ledger at once must never freeze it (sled 0.34.7 deadlocks when flushes race with
//! writes; the store's single flusher prevents it), and every confirmed change is
//! in the audit trail afterwards.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::daemon::{Api, Daemon, Site, feed_server, incident_ids};
use serde_json::json;
use wiremock::MockServer;

const BIN: &str = env!("CARGO_BIN_EXE_yuqing");
const TITLES: [&str; 3] = [
    "安丘市景芝镇一化工厂发生爆炸 造成3人死亡",
    "安丘市一建筑工地拖欠农民工工资 数十名工人聚集讨薪",
    "安丘市兴安街道一居民楼发生火灾 致2人受伤",
];
const WRITERS: usize = 50;
const ROUNDS: usize = 200;

async fn feed() -> MockServer {
    feed_server(&[("a1", TITLES[0]), ("b1", TITLES[1]), ("c1", TITLES[2])]).await
}

fn site(feed: &MockServer) -> Site {
    Site::new(
        Path::new(BIN),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
        &format!("{}/feed.xml", feed.uri()),
        "",
    )
}

async fn audit_len(api: &Api, id: u64) -> usize {
    let detail = api.get(&format!("/v1/incidents/{id}")).await.unwrap();
    detail["audit"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_writers_never_freeze_the_daemon() {
    let feed = feed().await;
    let site = site(&feed);
    let mut daemon = Daemon::start(&site, &[]);
    let api = Api::connect(&site, &mut daemon).await;
    let ids = incident_ids(&api, &mut daemon, 3).await;
    let mut before = Vec::new();
    for &id in &ids {
        before.push(audit_len(&api, id).await);
    }

    // 50 writers, 200 rounds each: every request is an acknowledgement (the first
    // one acknowledges, the rest are audited repeats), so every one writes and flushes.
    let started = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let api = api.clone();
        let ids = ids.clone();
        writers.spawn(async move {
            let mut confirmed = vec![0usize; ids.len()];
            for round in 0..ROUNDS {
                let which = (writer + round) % ids.len();
                let body = json!({"by": format!("值班员{writer}"), "note": format!("第{round}轮")});
                api.post(&format!("/v1/incidents/{}/ack", ids[which]), body)
                    .await
                    .unwrap_or_else(|e| panic!("writer {writer} round {round}: {e}"));
                confirmed[which] += 1;
            }
            confirmed
        });
    }
    let mut confirmed = vec![0usize; ids.len()];
    let all = async {
        while let Some(done) = writers.join_next().await {
            for (total, n) in confirmed.iter_mut().zip(done.expect("writer")) {
                *total += n;
            }
        }
    };
    // A generous guard against a hang, not a speed claim.
    if tokio::time::timeout(Duration::from_secs(900), all)
        .await
        .is_err()
    {
        panic!(
            "the daemon froze under {WRITERS} concurrent writers:\n{}",
            common::daemon::tail(&daemon.log())
        );
    }
    let writing = started.elapsed();

    let asked = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(30), api.get("/v1/status"))
        .await
        .expect("status answers after the load")
        .expect("status succeeds");
    let answer = asked.elapsed();
    eprintln!(
        "{WRITERS} writers x {ROUNDS} rounds = {} acks in {:.1} s; status answered in {} ms afterwards",
        WRITERS * ROUNDS,
        writing.as_secs_f64(),
        answer.as_millis()
    );
    assert!(status["items"].is_u64(), "{status}");

    // Nothing confirmed is missing from the audit trail (one entry per request).
    for (k, &id) in ids.iter().enumerate() {
        let after = audit_len(&api, id).await;
        assert_eq!(
            after - before[k],
            confirmed[k],
            "incident {id}: every confirmed ack is audited"
        );
    }
    assert!(
        daemon.stop().success(),
        "clean exit on SIGTERM after the load"
    );
}

fn cli(site: &Site, args: &[&str]) -> (i32, String, String) {
    let out = site.command().args(args).output().expect("run yuqing");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_an_intact_ledger_and_a_damaged_one_is_refused() {
    let feed = feed().await;
    let site = site(&feed);
    let mut daemon = Daemon::start(&site, &[]);
    let api = Api::connect(&site, &mut daemon).await;
    let ids = incident_ids(&api, &mut daemon, 3).await;
    api.post(
        &format!("/v1/incidents/{}/ack", ids[0]),
        json!({"by": "张三"}),
    )
    .await
    .unwrap();
    let (code, _, stderr) = cli(&site, &["verify"]);
    assert_eq!(code, 1, "the daemon holds the database: {stderr}");
    assert!(stderr.contains("先停止守护进程"), "{stderr}");
    assert!(daemon.stop().success());

    let (code, stdout, stderr) = cli(&site, &["verify"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("台账完整"), "{stdout}");

    // Zero the first 4 KiB of the database file: refused by verify and by run.
    let file = site.data_dir().join("db").join("db");
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len().min(4096);
    bytes[..n].fill(0);
    std::fs::write(&file, bytes).unwrap();
    let (code, stdout, stderr) = cli(&site, &["verify"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("恢复办法"), "{stderr}");
    let (code, _, stderr) = cli(&site, &["run"]);
    assert_ne!(code, 0, "a damaged ledger is refused at start: {stderr}");
    assert!(stderr.contains("恢复办法"), "{stderr}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_tells_systemd_ready_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let feed = feed().await;
    let site = Site::new(
        Path::new(BIN),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
        &format!("{}/feed.xml", feed.uri()),
        "[daemon]\nwatchdog = \"4s\"\n",
    );
    let socket_path = site.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut daemon = Daemon::start(
        &site,
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "2000000"),
        ],
    );
    let mut got: Vec<String> = Vec::new();
    let mut buf = [0u8; 256];
    while !(got.iter().any(|m| m == "READY=1")
        && got.iter().filter(|m| *m == "WATCHDOG=1").count() >= 2)
    {
        let n = socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no notification ({e}); got {got:?}:\n{}", daemon.log()));
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    daemon.assert_running("after READY");
    assert!(daemon.stop().success());
    loop {
        let n = socket.recv(&mut buf).expect("STOPPING=1 before exit");
        if &buf[..n] == b"STOPPING=1" {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_during_an_smtp_outage_shows_failures_error_and_next_retry() {
    let feed = feed().await;
    // An SMTP port with nobody listening (down), later served (up).
    let smtp_port = common::daemon::free_port();
    let site = Site::new(
        Path::new(BIN),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
        &format!("{}/feed.xml", feed.uri()),
        &format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"none\"\ntimeout = \"5s\"\n"
        ),
    );
    let mut daemon = Daemon::start(&site, &[]);
    let api = Api::connect(&site, &mut daemon).await;
    let start = Instant::now();
    let status = loop {
        daemon.assert_running("waiting for a failed delivery");
        let status = api.get("/v1/status").await.unwrap();
        if status["mail_failing"].as_u64().unwrap_or(0) > 0 {
            break status;
        }
        assert!(start.elapsed() < common::daemon::PATIENCE, "{status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        status["mail_last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{status}"
    );
    assert!(status["mail_next_retry_at"].is_string(), "{status}");
    let (code, stdout, stderr) = cli(&site, &["status"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("邮件发送失败"), "{stdout}");
    assert!(stdout.contains("下次重试"), "{stdout}");

    // The server comes up: the queued mail goes out at the next retry.
    let collector = common::smtp::Collector::default();
    common::smtp::serve(
        std::net::TcpListener::bind(("127.0.0.1", smtp_port)).unwrap(),
        collector.clone(),
    );
    let start = Instant::now();
    loop {
        daemon.assert_running("waiting for the retry");
        let status = api.get("/v1/status").await.unwrap();
        if status["outbox_pending"] == 0 && !collector.keys().is_empty() {
            assert_eq!(status["mail_failing"], 0, "{status}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(180), "{status}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(daemon.stop().success());
}
