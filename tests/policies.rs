//! Document clocks (政策解读 …) end to end: policy and official feeds served by wiremock
//! on 127.0.0.1 → intake → tracked documents in the store, under the official calendar;
//! the deadline task's firing into the outbox; and the real daemon mailing an overdue
//! notice to a real SMTP server, with `yuqing policies --json` listing the clocks.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use yuqing::clock::policies::DocumentClocks;
use yuqing::clock::task::SideClocks;
use yuqing::config::Config;
use yuqing::model::{NoticeKind, Timestamp};
use yuqing::policies::{DocumentState, TrackedDocument};
use yuqing::sources::Intake;
use yuqing::store::{DocumentId, NoticeRecord, Store};

mod common;
use common::daemon::{Daemon, PATIENCE, Site, tail};
use common::smtp::{Collector, listener, serve};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// An RSS feed of `(guid, title, description, pubDate)`; an empty pubDate gives none.
fn rss(items: &[(&str, &str, &str, &str)]) -> ResponseTemplate {
    let items: String = items
        .iter()
        .map(|(guid, title, text, date)| {
            let date = if date.is_empty() {
                String::new()
            } else {
                format!("<pubDate>{date}</pubDate>")
            };
            format!(
                "<item><title>{title}</title><link>http://127.0.0.1/doc/{guid}.html</link>\
                 <guid>{guid}</guid>{date}<description>{text}</description></item>"
            )
        })
        .collect();
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/rss+xml; charset=utf-8")
        .set_body_string(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>\
             <title>某某县人民政府</title><link>http://127.0.0.1/</link><description>测试</description>\
             {items}</channel></rss>"
        ))
}

const FEEDS: &str = r#"
[[source]]
id = "policy"
name = "县政府规范性文件"
kind = "feed"
url = "{url}/policy"
role = "policy"
interval = "10s"

[[source]]
id = "gov"
name = "县政府门户网站"
kind = "feed"
url = "{url}/gov"
role = "official"
interval = "10s"
"#;

/// The 意见征集 clock as docs/policies.md shows it configured (its `toml` block with
/// `id = "consultation"`), so the documented entry is the one tested.
fn consultation() -> String {
    let docs = include_str!("../docs/policies.md");
    docs.split("```toml")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.contains("id = \"consultation\""))
        .expect("docs/policies.md shows the consultation clock")
        .to_string()
}

const A: &str = "某某县人民政府办公室关于印发某某县促进消费若干措施的通知";
const B: &str = "某某县人民政府关于印发某某县农村人居环境整治实施方案的通知";
const D: &str = "某某县人民政府办公室关于进一步加强城市供水管理的通知";

struct Site2 {
    intake: Intake,
    store: Store,
    config: Config,
    _items: mpsc::Receiver<yuqing::model::Item>,
    _dir: tempfile::TempDir,
}

fn site(server: &MockServer, extra: &str) -> Site2 {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("feeds.toml"),
        FEEDS.replace("{url}", &server.uri()),
    )
    .unwrap();
    let dictionaries = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    let text = format!(
        "feeds = \"feeds.toml\"\ndictionaries = {:?}\ndata_dir = \"data\"\n\n\
         [recipients]\nduty = [\"duty@example.org\"]\npropaganda = [\"xcb@example.org\"]\n\n\
         [intake]\njitter = 0.0\n\n{extra}\n",
        dictionaries.display().to_string()
    );
    let config = Config::from_str(&text, None, dir.path()).expect("test config loads");
    let store = Store::open(&config.data_dir).unwrap();
    let (tx, rx) = mpsc::channel(1024);
    Site2 {
        intake: Intake::new(&config, store.clone(), tx).unwrap(),
        store,
        config,
        _items: rx,
        _dir: dir,
    }
}

/// Serves `body` at `/<source>` (replacing what that path served) and polls it at `now`.
async fn poll(server: &MockServer, site: &Site2, source: &str, body: ResponseTemplate, now: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/{source}")))
        .respond_with(body)
        .mount(server)
        .await;
    let report = site.intake.poll_source(source, at(now)).await.unwrap();
    report.result.expect("the poll succeeds");
    server.reset().await;
}

fn doc(site: &Site2, clock: &str, source: &str, guid: &str) -> TrackedDocument {
    let id = DocumentId {
        clock: clock.into(),
        source: source.into(),
        key: guid.into(),
    };
    site.store
        .tracked_document(&id)
        .unwrap()
        .unwrap_or_else(|| panic!("{clock}/{source}/{guid} is tracked"))
}

/// Monday 2025-11-03, an ordinary week: 3 working days from 09:00 Beijing time end on
/// Thursday 11-06 at 24:00 (16:00 UTC), 10 working days on Monday 11-17.
#[tokio::test]
async fn documents_start_clocks_answers_meet_them_and_the_unmet_one_goes_overdue() {
    let server = MockServer::start().await;
    let site = site(&server, &consultation());
    assert_eq!(
        site.config
            .document_clocks
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        ["interpretation", "consultation"]
    );
    let monday = "Mon, 03 Nov 2025 09:00:00 +0800";

    // The 解读 of D is on the portal before D is seen on the policy source.
    poll(
        &server,
        &site,
        "gov",
        rss(&[
            (
                "g1",
                "图解：《关于进一步加强城市供水管理的通知》",
                "一图读懂。",
                monday,
            ),
            (
                "g2",
                "关于公开征求《某某县养犬管理规定（征求意见稿）》意见的公告",
                "征求意见时间为30日。",
                monday,
            ),
        ]),
        "2025-11-03T02:00:00Z",
    )
    .await;
    // First poll of the policy source: A, B and D new; C found long past its window.
    poll(
        &server,
        &site,
        "policy",
        rss(&[
            ("a", A, "某政办发〔2025〕12号。为促进消费……", monday),
            ("b", B, "某政发〔2025〕7号 各乡镇人民政府……", monday),
            ("d", D, "某政办发〔2025〕15号", monday),
            (
                "c",
                "某某县人民政府关于公布行政许可事项清单的通知",
                "某政发〔2025〕3号",
                "Wed, 01 Oct 2025 09:00:00 +0800",
            ),
        ]),
        "2025-11-03T03:00:00Z",
    )
    .await;
    let a = doc(&site, "interpretation", "policy", "a");
    assert_eq!(a.published_at, at("2025-11-03T01:00:00Z"));
    assert_eq!(a.due_at, at("2025-11-06T16:00:00Z"));
    assert_eq!(a.doc_no.as_deref(), Some("某政办发〔2025〕12号"));
    assert_eq!(a.state(at("2025-11-05T00:00:00Z")), DocumentState::Pending);
    assert_eq!(
        doc(&site, "interpretation", "policy", "c").state(at("2025-11-03T03:00:00Z")),
        DocumentState::Backfilled,
        "the flood guard: no mail for what was overdue before the first poll"
    );
    let d = doc(&site, "interpretation", "policy", "d");
    assert_eq!(d.state(at("2025-11-03T03:00:00Z")), DocumentState::Met);
    assert_eq!(
        d.met_by.unwrap().title,
        "图解：《关于进一步加强城市供水管理的通知》"
    );
    let consultation = doc(&site, "consultation", "gov", "g2");
    assert_eq!(consultation.due_at, at("2025-11-17T16:00:00Z"));

    // Tuesday: the 解读 of A on the portal, matched by the title it quotes.
    poll(
        &server,
        &site,
        "gov",
        rss(&[(
            "g3",
            "《关于〈某某县促进消费若干措施〉的政策解读》",
            "一、出台背景……",
            "Tue, 04 Nov 2025 10:00:00 +0800",
        )]),
        "2025-11-04T03:00:00Z",
    )
    .await;
    let a = doc(&site, "interpretation", "policy", "a");
    assert_eq!(a.met_at, Some(at("2025-11-04T02:00:00Z")));
    assert_eq!(a.on_time(), Some(true));

    // B was never interpreted: the deadline task queues its overdue notice (the
    // reminders it passed over are skipped), to duty and propaganda; nothing for A, C, D.
    let clocks = DocumentClocks::new(site.store.clone(), Arc::new(site.config.clone()));
    let (queued, _) = clocks.fire_due(at("2025-11-06T16:30:00Z"), 100).unwrap();
    assert_eq!(queued, 1);
    let rows = site.store.outbox_pending(10).unwrap();
    let notice = &rows[0].1.notice;
    assert_eq!(notice.key, "policy/interpretation/policy/b/overdue/1");
    assert_eq!(notice.to, ["duty@example.org", "xcb@example.org"]);
    let NoticeKind::Bulletin {
        subject,
        paragraphs,
        ..
    } = &notice.kind
    else {
        panic!("a document clock notice is a bulletin");
    };
    assert_eq!(subject, &format!("【政策解读超期未发布】{B}"));
    let text = paragraphs.join("\n");
    for want in [
        "县政府规范性文件于 2025-11-03 09:00 发布",
        "（某政发〔2025〕7号）尚无政策解读",
        "应于 2025-11-07 00:00 前发布，已超期（第 1 次提醒）",
        "http://127.0.0.1/doc/b.html",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }

    // A 图解 quoting B's 文号 comes late: B is met (late), its queued notice withdrawn.
    poll(
        &server,
        &site,
        "gov",
        rss(&[(
            "g5",
            "一图读懂农村人居环境整治",
            "根据某政发〔2025〕7号文件……",
            "Fri, 07 Nov 2025 10:00:00 +0800",
        )]),
        "2025-11-07T03:00:00Z",
    )
    .await;
    let b = doc(&site, "interpretation", "policy", "b");
    assert_eq!(b.on_time(), Some(false));
    assert!(site.store.outbox_pending(10).unwrap().is_empty());
    assert!(matches!(
        site.store
            .notice_record("policy/interpretation/policy/b/overdue/1")
            .unwrap(),
        Some(NoticeRecord::Superseded { by, .. }) if by == "met"
    ));

    // The consultation's feedback, after the 10th working day: met late.
    poll(
        &server,
        &site,
        "gov",
        rss(&[(
            "g4",
            "关于《某某县养犬管理规定（征求意见稿）》征求意见情况的反馈",
            "共收到意见12条，采纳5条。",
            "Tue, 18 Nov 2025 10:00:00 +0800",
        )]),
        "2025-11-18T03:00:00Z",
    )
    .await;
    let consultation = doc(&site, "consultation", "gov", "g2");
    assert_eq!(consultation.on_time(), Some(false));
    assert_eq!(
        site.store
            .tracked_documents(Some("consultation"))
            .unwrap()
            .len(),
        1,
        "an answer starts no clock of its own"
    );
    assert_eq!(
        clocks.fire_due(at("2025-11-30T00:00:00Z"), 100).unwrap().0,
        0,
        "every clock stopped"
    );

    // A later document never interpreted, and the digest's 文件时限 section.
    poll(
        &server,
        &site,
        "policy",
        rss(&[(
            "e",
            "某某县人民政府关于印发某某县冬季清洁取暖工作方案的通知",
            "某政发〔2025〕21号",
            "Mon, 10 Nov 2025 09:00:00 +0800",
        )]),
        "2025-11-18T04:00:00Z",
    )
    .await;
    let now = at("2025-11-18T05:00:00Z");
    let no_keywords = |_: &str, _: usize| Vec::new();
    let period = yuqing::digest::Period::scheduled(now);
    let report =
        yuqing::digest::build(&site.store, &site.config, &period, now, &no_keywords).unwrap();
    let rows: Vec<_> = report
        .document_clocks
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.started,
                r.met_on_time,
                r.met_late,
                r.pending,
                r.overdue,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [("政策解读", 4, 2, 1, 0, 1), ("意见征集情况", 1, 0, 1, 0, 0)],
        "A and D in time, B late, E overdue; C (backfilled) left out"
    );
    let text = yuqing::digest::render_text(&report);
    assert!(text.contains("【文件时限（自开始跟踪以来）】"), "{text}");
    assert!(
        text.contains(
            "· 县政府规范性文件｜某某县人民政府关于印发某某县冬季清洁取暖工作方案的通知（某政发〔2025〕21号）｜应于 2025-11-14 00:00 前发布"
        ),
        "{text}"
    );
    let html = yuqing::digest::render_html(&report);
    assert!(html.contains("文件时限（自开始跟踪以来）"), "{html}");
    assert!(html.contains("超期未发布的文件（1件）"), "{html}");
}

/// The real daemon with a compressed window: one document interpreted in time, one
/// never; the overdue notice of the second reaches the SMTP server, and
/// `yuqing policies --json --all` lists both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_mails_an_overdue_interpretation_and_lists_the_clocks() {
    let server = MockServer::start().await;
    // No pubDate: a document's clock runs from when the daemon first sees it.
    Mock::given(method("GET"))
        .and(path("/policy"))
        .respond_with(rss(&[
            ("a", A, "某政办发〔2025〕12号", ""),
            ("b", B, "某政发〔2025〕7号", ""),
        ]))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/gov"))
        .respond_with(rss(&[(
            "g1",
            "《关于〈某某县促进消费若干措施〉的政策解读》",
            "某政办发〔2025〕12号",
            "",
        )]))
        .mount(&server)
        .await;
    let smtp = listener();
    let smtp_port = smtp.local_addr().unwrap().port();
    let collector = Collector::default();
    serve(smtp, collector.clone());
    let dictionaries = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    let site = Site::new(
        &assert_cmd::cargo::cargo_bin("yuqing"),
        &dictionaries,
        &format!("{}/unused", server.uri()),
        &format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"none\"\ntimeout = \"5s\"\n\n\
             [recipients]\nduty = [\"duty@example.org\"]\npropaganda = [\"xcb@example.org\"]\n\n\
             [policy]\ninterpretation = \"15s\"\n"
        ),
    );
    std::fs::write(
        site.dir.path().join("feeds.toml"),
        FEEDS.replace("{url}", &server.uri()),
    )
    .unwrap();
    let mut daemon = Daemon::start(&site, &[]);
    common::daemon::Api::connect(&site, &mut daemon).await;

    let overdue = "policy/interpretation/policy/b/overdue/1";
    let start = Instant::now();
    while !collector.keys().iter().any(|k| k == overdue) {
        daemon.assert_running("waiting for the overdue notice");
        assert!(
            start.elapsed() < PATIENCE,
            "no {overdue} mail; got {:?}\n{}",
            collector.keys(),
            tail(&daemon.log())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mail = collector
        .received()
        .into_iter()
        .find(|m| m.key() == overdue)
        .unwrap();
    assert!(
        mail.to.contains(&"xcb@example.org".to_string()),
        "{:?}",
        mail.to
    );
    assert!(
        !collector
            .keys()
            .iter()
            .any(|k| k.starts_with("policy/interpretation/policy/a/overdue")),
        "the interpreted document is never overdue: {:?}",
        collector.keys()
    );

    let policies = |args: &[&str]| {
        let out = site.command().arg("policies").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let listed: Vec<serde_json::Value> =
        serde_json::from_slice(&policies(&["--json", "--all"])).unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let b = &listed[0];
    assert_eq!(b["state"], "overdue");
    assert_eq!(b["clock"], "interpretation");
    assert_eq!(b["clock_name"], "政策解读");
    assert_eq!(b["source"], "policy");
    assert_eq!(b["key"], "b");
    assert_eq!(b["title"], B);
    assert_eq!(b["url"], "http://127.0.0.1/doc/b.html");
    assert_eq!(b["doc_no"], "某政发〔2025〕7号");
    assert_eq!(b["met_at"], serde_json::Value::Null);
    assert_eq!(b["met_by"], serde_json::Value::Null);
    let published = b["published_at"]
        .as_str()
        .unwrap()
        .parse::<Timestamp>()
        .unwrap();
    let due = b["due_at"].as_str().unwrap().parse::<Timestamp>().unwrap();
    assert_eq!((due - published).num_seconds(), 15);
    let a = &listed[1];
    assert_eq!(a["state"], "met");
    assert_eq!(
        a["met_by"]["title"],
        "《关于〈某某县促进消费若干措施〉的政策解读》"
    );
    assert_eq!(a["met_by"]["url"], "http://127.0.0.1/doc/g1.html");
    assert!(a["met_at"].is_string());

    let waiting: Vec<serde_json::Value> = serde_json::from_slice(&policies(&["--json"])).unwrap();
    assert_eq!(waiting.len(), 1, "met documents only with --all");
    let table = String::from_utf8(policies(&[])).unwrap();
    assert!(table.contains("已超期"), "{table}");
    assert!(table.contains("文号：某政发〔2025〕7号"), "{table}");

    // The export carries the policy ledger; import restores it into a new data directory.
    let out = site
        .command()
        .args(["export", "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &serde_json::Value| l["kind"] == "policy")
        .collect();
    assert_eq!(lines.len(), 2, "{export}");
    assert!(
        lines
            .iter()
            .all(|l| l["record"]["document"]["clock"] == "interpretation")
    );
    assert!(lines.iter().any(|l| l["state"] == "met" && l["key"] == "a"));
    let sent_overdue = lines
        .iter()
        .find(|l| l["key"] == "b")
        .and_then(|l| l["record"]["notices"].as_array())
        .is_some_and(|n| n.iter().any(|n| n["key"] == overdue));
    assert!(sent_overdue, "{export}");
    daemon.stop();

    let backup = site.dir.path().join("backup.jsonl");
    std::fs::write(&backup, &export).unwrap();
    let restored = tempfile::tempdir().unwrap();
    let out = site
        .command()
        .arg("import")
        .arg(&backup)
        .arg("--data-dir")
        .arg(restored.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("2 份计时的文件"), "{said}");
    let old = Store::open(&site.data_dir())
        .unwrap()
        .policy_records(None, usize::MAX)
        .unwrap();
    let new = Store::open(restored.path())
        .unwrap()
        .policy_records(None, usize::MAX)
        .unwrap();
    let documents = |records: &[yuqing::store::PolicyRecord]| {
        records
            .iter()
            .map(|r| (r.document.clone(), r.clock, r.notices.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(documents(&new), documents(&old));
    let restored = Store::open(restored.path()).unwrap();
    assert!(
        restored.notice_record(overdue).unwrap().is_some(),
        "a sent overdue notice is never sent again"
    );
}
