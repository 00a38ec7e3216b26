//! The crash test: the real daemon, a local feed (wiremock), a real SMTP server on
//! 127.0.0.1 (mailin-embedded), policy windows of seconds, and a driver making acks
//! and milestones through the API; SIGKILL at random moments. After each restart:
//! no incident, ack, milestone or audit entry the API confirmed is lost. At the end:
//! every queued notice delivered, at most one duplicate per crash.
//!
//! Used by `tests/crash.rs` (short form) and `examples/crashtest.rs` (long form).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::json;

use super::daemon::{Api, Daemon, PATIENCE, Site, feed_server, incident_ids};
use super::smtp;

const TITLES: [(&str, &str); 4] = [
    ("a1", "安丘市景芝镇一化工厂发生爆炸 造成3人死亡"),
    ("b1", "安丘市一建筑工地拖欠农民工工资 数十名工人聚集讨薪"),
    ("c1", "安丘市兴安街道一居民楼发生火灾 致2人受伤"),
    ("d1", "安丘市一客车侧翻 造成5人受伤"),
];

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub kills: usize,
    /// Confirmed changes (acks, milestones) the driver made.
    pub confirmed: usize,
    /// Confirmed changes missing after a restart (must be 0).
    pub lost: usize,
    pub mails: usize,
    pub duplicates: usize,
    pub undelivered: u64,
}

/// What the API has confirmed, per incident: audit entries by the driver, and
/// milestones recorded.
#[derive(Default)]
struct Confirmed {
    acks: HashMap<u64, usize>,
    milestones: HashMap<u64, Vec<String>>,
}

/// Runs `kills` crash rounds with the daemon binary `bin`.
pub async fn run(bin: &Path, dictionaries: &Path, kills: usize) -> Report {
    let feed = feed_server(&TITLES).await;
    let collector = smtp::Collector::default();
    let listener = smtp::listener();
    let smtp_port = listener.local_addr().unwrap().port();
    smtp::serve(listener, collector.clone());
    let site = Site::new(
        bin,
        dictionaries,
        &format!("{}/feed.xml", feed.uri()),
        &format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"none\"\ntimeout = \"5s\"\n\n\
             [policy]\nack = \"20s\"\nstatement = \"40s\"\npress = \"60s\"\nresponse = \"60s\"\n\
             overdue_repeat = \"15s\"\n"
        ),
    );

    let mut report = Report::default();
    let mut confirmed = Confirmed::default();
    let mut rng = rand::rng();
    for round in 0..=kills {
        let mut daemon = Daemon::start(&site, &[]);
        let api = Api::connect(&site, &mut daemon).await;
        report.lost += check(&api, &confirmed).await;
        let ids = incident_ids(&api, &mut daemon, 2).await;
        if round == kills {
            // The last round: no kill; wait until every queued mail is delivered.
            report.undelivered = drain(&api, &mut daemon).await;
            assert!(daemon.stop().success(), "clean exit at the end");
            break;
        }
        let until = Instant::now() + Duration::from_millis(rng.random_range(200..2500));
        while Instant::now() < until {
            let id = ids[rng.random_range(0..ids.len())];
            drive(&api, id, round, &mut confirmed, &mut report, &mut rng).await;
        }
        daemon.kill();
        report.kills += 1;
    }
    let mut by_key: BTreeMap<String, usize> = BTreeMap::new();
    for key in collector.keys() {
        *by_key.entry(key).or_default() += 1;
    }
    report.mails = by_key.values().sum();
    report.duplicates = by_key.values().map(|n| n - 1).sum();
    report
}

/// One acknowledgement or milestone; counted only when the API confirmed it.
async fn drive(
    api: &Api,
    id: u64,
    round: usize,
    confirmed: &mut Confirmed,
    report: &mut Report,
    rng: &mut impl Rng,
) {
    if rng.random_bool(0.8) {
        let body = json!({"by": "压测员", "note": format!("第{round}轮")});
        if api
            .post(&format!("/v1/incidents/{id}/ack"), body)
            .await
            .is_ok()
        {
            *confirmed.acks.entry(id).or_default() += 1;
            report.confirmed += 1;
        }
    } else {
        for milestone in ["statement", "response"] {
            let body = json!({"milestone": milestone, "by": "压测员"});
            if api
                .post(&format!("/v1/incidents/{id}/milestone"), body)
                .await
                .is_ok()
            {
                confirmed
                    .milestones
                    .entry(id)
                    .or_default()
                    .push(milestone.into());
                report.confirmed += 1;
            }
        }
    }
}

/// Counts confirmed changes missing from the ledger.
async fn check(api: &Api, confirmed: &Confirmed) -> usize {
    let mut lost = 0;
    for (&id, &acks) in &confirmed.acks {
        let detail = api.get(&format!("/v1/incidents/{id}")).await.unwrap();
        let audited = detail["audit"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["by"] == "压测员" && a["action"].as_str().unwrap_or("").contains("ack"))
            .count();
        lost += acks.saturating_sub(audited);
    }
    for (&id, milestones) in &confirmed.milestones {
        let detail = api.get(&format!("/v1/incidents/{id}")).await.unwrap();
        for milestone in milestones {
            let met = detail["deadlines"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["milestone"] == milestone.as_str() && d["met_at"].is_string());
            lost += usize::from(!met);
        }
    }
    lost
}

/// Waits for an empty outbox; returns what is left (pending + dead letters).
async fn drain(api: &Api, daemon: &mut Daemon) -> u64 {
    let start = Instant::now();
    loop {
        daemon.assert_running("waiting for the outbox to drain");
        let status = api.get("/v1/status").await.unwrap();
        let left = status["outbox_pending"].as_u64().unwrap_or(u64::MAX);
        let dead = status["dead_letters"].as_u64().unwrap_or(0);
        if left == 0 || start.elapsed() > PATIENCE {
            return left + dead;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
