//! Backup and restore against the real binary: a ledger with incidents in every state
//! (acknowledged, milestone met, closed, dismissed, merged) is exported as JSONL,
//! imported into a fresh data directory with `yuqing import`, checked with
//! `yuqing verify`, and served by a daemon started on it: `list --json` and every
//! `show --json` are the same as before, and no notice already delivered is sent again.
//! A copy of the data directory taken while the daemon is stopped restores the same way.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::daemon::{Api, Daemon, PATIENCE, Site, feed_server, incident_ids, tail};
use common::smtp;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_yuqing");
const TITLES: [(&str, &str); 5] = [
    ("a1", "安丘市景芝镇一化工厂发生爆炸 造成3人死亡"),
    ("b1", "安丘市一建筑工地拖欠农民工工资 数十名工人聚集讨薪"),
    ("c1", "安丘市兴安街道一居民楼发生火灾 致2人受伤"),
    ("d1", "安丘市一河道发现大量死鱼 疑似化工废水污染"),
    ("e1", "安丘市一学校食堂发生食物中毒 30余名学生送医"),
];

fn dictionaries() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries")
}

/// `yuqing ARGS` on `site`: (exit code, stdout, stderr).
fn cli(site: &Site, args: &[&str]) -> (i32, String, String) {
    let out = site.command().args(args).output().expect("run yuqing");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_of(site: &Site, args: &[&str]) -> Value {
    let (code, out, err) = cli(site, args);
    assert_eq!(code, 0, "yuqing {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("yuqing {args:?}: {e}: {out}"))
}

/// `list --all --json` and `show ID --json` of every incident.
fn views(site: &Site, ids: &[u64]) -> (Value, BTreeMap<u64, Value>) {
    let list = json_of(site, &["list", "--all", "--json"]);
    let shown = ids
        .iter()
        .map(|id| (*id, json_of(site, &["show", &id.to_string(), "--json"])))
        .collect();
    (list, shown)
}

/// Waits until the daemon has polled its feed and the outbox is empty.
async fn settled(api: &Api, daemon: &mut Daemon, since: chrono::DateTime<chrono::Utc>) {
    let start = Instant::now();
    loop {
        daemon.assert_running("waiting for the outbox to drain");
        if let Ok(status) = api.get("/v1/status").await {
            let polled = status["last_poll_at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t >= since);
            if polled && status["outbox_pending"] == 0 && status["mail_failing"] == 0 {
                return;
            }
        }
        assert!(start.elapsed() < PATIENCE, "{}", tail(&daemon.log()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `cp -a` of a data directory (the daemon stopped).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

async fn post(api: &Api, path: &str, body: Value) {
    api.post(path, body)
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_round_trip_restores_the_ledger_without_resending() {
    let feed = feed_server(&TITLES).await;
    // Windows long enough that no clock changes state during the test.
    let (collector, extra) =
        smtp_with_policy("ack = \"2h\"\nstatement = \"4h\"\npress = \"6h\"\nresponse = \"8h\"\n");
    let feed_url = format!("{}/feed.xml", feed.uri());
    let old = Site::new(Path::new(BIN), &dictionaries(), &feed_url, &extra);
    let started = chrono::Utc::now();
    let mut daemon = Daemon::start(&old, &[]);
    let api = Api::connect(&old, &mut daemon).await;
    let mut ids = incident_ids(&api, &mut daemon, TITLES.len()).await;
    ids.sort_unstable();
    let [acked, met, closed, dismissed, merged] = ids[..5] else {
        unreachable!()
    };
    let by = json!({"by": "值班员甲"});
    for id in [acked, met, merged] {
        post(&api, &format!("/v1/incidents/{id}/ack"), by.clone()).await;
    }
    // The first milestone after 签收 that its level has (statement for I/II, response for III/IV).
    let detail = api.get(&format!("/v1/incidents/{met}")).await.unwrap();
    let milestone = detail["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["milestone"].as_str().unwrap().to_string())
        .find(|m| m != "ack")
        .expect("a milestone besides 签收");
    post(
        &api,
        &format!("/v1/incidents/{met}/milestone"),
        json!({"milestone": milestone, "by": "值班员甲", "url": "http://127.0.0.1/notice.html"}),
    )
    .await;
    post(
        &api,
        &format!("/v1/incidents/{closed}/close"),
        json!({"by": "值班员乙", "note": "已妥善处置", "reason": "经核实已处置完毕"}),
    )
    .await;
    post(
        &api,
        &format!("/v1/incidents/{dismissed}/dismiss"),
        json!({"by": "值班员乙", "reason": "外地旧闻"}),
    )
    .await;
    post(
        &api,
        &format!("/v1/incidents/{merged}/merge"),
        json!({"into": acked, "by": "值班员甲"}),
    )
    .await;
    settled(&api, &mut daemon, started).await;

    let (code, export, err) = cli(&old, &["export", "--format", "jsonl"]);
    assert_eq!(code, 0, "export: {err}");
    let backup = old.dir.path().join("backup.jsonl");
    std::fs::write(&backup, &export).unwrap();
    let before = views(&old, &ids);
    assert!(daemon.stop().success(), "clean stop");
    let sent_before = collector.keys();
    assert!(
        sent_before.iter().any(|k| k.ends_with("/opened")),
        "alerts went out before the backup: {sent_before:?}"
    );

    // A copy of the data directory taken while stopped is a backup too: it verifies
    // and serves the same ledger.
    let copy = Site::new(Path::new(BIN), &dictionaries(), &feed_url, &extra);
    copy_dir(&old.data_dir(), &copy.data_dir());
    let (code, out, err) = cli(&copy, &["verify"]);
    assert_eq!(code, 0, "verify of the copy: {out}{err}");
    let mut daemon = Daemon::start(&copy, &[]);
    Api::connect(&copy, &mut daemon).await;
    assert_eq!(views(&copy, &ids), before, "the copied data directory");
    assert!(daemon.stop().success());

    // Import into a fresh data directory, then verify it offline.
    let new = Site::new(Path::new(BIN), &dictionaries(), &feed_url, &extra);
    let backup = backup.to_str().unwrap();
    let (code, out, err) = cli(&new, &["import", backup]);
    assert_eq!(code, 0, "import: {err}");
    assert!(
        out.contains(&format!("已导入 {} 个事件", ids.len())),
        "{out}"
    );
    let (code, out, err) = cli(&new, &["verify"]);
    assert_eq!(code, 0, "verify after import: {out}{err}");
    // A second import into the now non-empty ledger is refused, then forced.
    let (code, _, err) = cli(&new, &["import", backup]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--force"), "{err}");
    let (code, _, err) = cli(&new, &["import", "--force", backup]);
    assert_eq!(code, 0, "import --force: {err}");
    assert_eq!(cli(&new, &["verify"]).0, 0);

    let restarted = chrono::Utc::now();
    let mut daemon = Daemon::start(&new, &[]);
    let api = Api::connect(&new, &mut daemon).await;
    // Refused while the daemon holds the database.
    let (code, _, err) = cli(&new, &["import", "--force", backup]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("停止守护进程"), "{err}");

    let after = views(&new, &ids);
    assert_eq!(after.0, before.0, "list --all --json");
    for id in &ids {
        assert_eq!(after.1[id], before.1[id], "show {id} --json");
    }
    let shown = &after.1;
    assert_eq!(shown[&closed]["status"], "closed");
    assert_eq!(shown[&dismissed]["status"], "dismissed");
    assert_eq!(shown[&merged]["merged_into"], acked);
    assert!(
        shown[&met]["deadlines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["milestone"] == milestone.as_str() && d["state"] == "met"),
        "{}",
        shown[&met]
    );

    // The restored daemon polls the same feed and drains its outbox: nothing sent twice.
    settled(&api, &mut daemon, restarted).await;
    let mut sent: BTreeMap<String, usize> = BTreeMap::new();
    for key in collector.keys() {
        *sent.entry(key).or_default() += 1;
    }
    // Incident notices (`<id>/…`) are carried by the export; the daemon's own notices
    // about the installation (the holiday-table warning) are not, and a fresh data
    // directory raises them once more (docs/operations.md).
    let twice: Vec<_> = sent
        .iter()
        .filter(|(key, n)| **n > 1 && !key.starts_with("calendar/"))
        .collect();
    assert!(twice.is_empty(), "sent again after the restore: {twice:?}");
    assert!(daemon.stop().success(), "clean stop of the restored daemon");
}

/// A JSON board post: `{"tid", "title", "date", "status"[, "replyTime"]}`, times in
/// Beijing wall time.
fn board_post(tid: u32, title: &str, date: &str, status: &str, reply: Option<&str>) -> String {
    let reply = reply.map_or(String::new(), |r| format!(r#","replyTime":"{r}""#));
    format!(r#"{{"tid":{tid},"title":"{title}","date":"{date}","status":"{status}"{reply}}}"#)
}

/// Serves `posts` as the board's only page, replacing what was served before.
async fn serve_board(server: &wiremock::MockServer, posts: &[String]) {
    server.reset().await;
    wiremock::Mock::given(wiremock::matchers::path("/board"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .insert_header("content-type", "application/json; charset=utf-8")
                .set_body_string(format!(r#"{{"list":[{}]}}"#, posts.join(","))),
        )
        .mount(server)
        .await;
}

/// A site whose only source is the JSON board at `board`.
fn board_site(board: &str, extra: &str) -> Site {
    let site = Site::new(
        Path::new(BIN),
        &dictionaries(),
        "http://127.0.0.1:9/unused",
        extra,
    );
    let feeds = format!(
        "[[source]]\nid = \"board\"\nname = \"领导留言板\"\nkind = \"json\"\nurl = \"{board}\"\n\
         interval = \"10s\"\nlocal = true\nitems = \"/list\"\nitem_id = \"/tid\"\ntitle = \"/title\"\n\
         date = \"/date\"\nreply_status = \"/status\"\nreply_date = \"/replyTime\"\n\
         replied = [\"已回复\"]\nreply_within = \"72h\"\n"
    );
    std::fs::write(site.dir.path().join("feeds.toml"), feeds).unwrap();
    site
}

/// `yuqing replies --all --json`, as printed.
fn replies_json(site: &Site) -> String {
    let (code, out, err) = cli(site, &["replies", "--all", "--json"]);
    assert_eq!(code, 0, "replies: {err}");
    out
}

/// A real SMTP server on 127.0.0.1 collecting what it receives, and the site's extra
/// configuration: its `[smtp]` section, then `[policy]` with `policy`'s lines.
fn smtp_with_policy(policy: &str) -> (smtp::Collector, String) {
    let collector = smtp::Collector::default();
    let listener = smtp::listener();
    let smtp_port = listener.local_addr().unwrap().port();
    smtp::serve(listener, collector.clone());
    let extra = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"none\"\ntimeout = \"5s\"\n\n\
         [policy]\n{policy}"
    );
    (collector, extra)
}

/// A time `hours_ago` as the test board shows it (Beijing time, to the minute).
fn beijing(hours_ago: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8 - hours_ago))
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// Post 2 of [`reply_scene`]'s board: 96 h old on a 72 h answer window, in `status`.
fn late_post(status: &str, reply: Option<&str>) -> String {
    board_post(2, "楼道积水无人处理", &beijing(96), status, reply)
}

/// Where the reply-ledger backup tests start: a board of three posts polled by a daemon
/// that mails a real SMTP server, once post 1's 80 % reminder and post 2's overdue notice
/// are sent.
struct ReplyScene {
    server: wiremock::MockServer,
    collector: smtp::Collector,
    /// The board's address and the site's extra configuration, for a second site.
    board: String,
    extra: String,
    site: Site,
    daemon: Daemon,
    api: Api,
    /// Post 1 as served: 60 h of 72 h gone (its 80 % reminder is due), due in 12 h.
    waiting: String,
}

/// Serves [`ReplyScene`]'s board (post 1 waiting, post 2 ([`late_post`]) 24 h overdue,
/// post 3 new) and waits for the daemon's reply notices. Overdue notices repeat every
/// 12 h, so post 2, 24 h past due on the first poll, gets the current one (within
/// `reply_overdue_max` × 12 h).
async fn reply_scene() -> ReplyScene {
    let server = wiremock::MockServer::start().await;
    let (collector, extra) = smtp_with_policy("overdue_repeat = \"12h\"\n");
    let waiting = board_post(1, "小区路灯不亮", &beijing(60), "未回复", None);
    let taken_down = board_post(3, "咨询公交线路调整", &beijing(10), "未回复", None);
    serve_board(
        &server,
        &[waiting.clone(), late_post("未回复", None), taken_down],
    )
    .await;
    let board = format!("{}/board", server.uri());
    let site = board_site(&board, &extra);
    let mut daemon = Daemon::start(&site, &[]);
    let api = Api::connect(&site, &mut daemon).await;
    wait_for_replies(
        &site,
        &mut daemon,
        &[("1", "pending"), ("2", "overdue"), ("3", "pending")],
    );
    wait_for_mail(
        &collector,
        &mut daemon,
        &["reply/board/1/80", "reply/board/2/overdue/"],
    )
    .await;
    ReplyScene {
        server,
        collector,
        board,
        extra,
        site,
        daemon,
        api,
        waiting,
    }
}

/// Waits until the SMTP server has received a mail whose key starts with each of `keys`.
async fn wait_for_mail(collector: &smtp::Collector, daemon: &mut Daemon, keys: &[&str]) {
    let start = Instant::now();
    while !keys
        .iter()
        .all(|key| collector.keys().iter().any(|k| k.starts_with(key)))
    {
        daemon.assert_running("waiting for mail");
        assert!(
            start.elapsed() < PATIENCE,
            "waiting for {keys:?}; sent: {:?}\n{}",
            collector.keys(),
            tail(&daemon.log())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `yuqing replies --all --json` lists the posts `key → state` of `want`.
fn wait_for_replies(site: &Site, daemon: &mut Daemon, want: &[(&str, &str)]) {
    let start = Instant::now();
    loop {
        daemon.assert_running("waiting for the board's posts");
        let listed: Vec<Value> = serde_json::from_str(&replies_json(site)).unwrap();
        let states: BTreeMap<String, String> = listed
            .iter()
            .map(|p| {
                (
                    p["key"].as_str().unwrap().into(),
                    p["state"].as_str().unwrap().into(),
                )
            })
            .collect();
        let want: BTreeMap<String, String> = want
            .iter()
            .map(|(k, s)| ((*k).into(), (*s).into()))
            .collect();
        if states == want {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "posts {states:?}, want {want:?}\n{}",
            tail(&daemon.log())
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The reply ledger travels with the export (made by the real daemon polling a local JSON
/// board twice): a post pending with its 80 % reminder sent, one answered late after an
/// overdue notice, one taken down. Imported into a fresh data directory, a daemon on it
/// lists the same posts byte for byte and sends no reply notice again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reply_ledger_survives_export_and_import() {
    let ReplyScene {
        server,
        collector,
        board,
        extra,
        site: old,
        mut daemon,
        api,
        waiting: pending,
    } = reply_scene().await;
    // Second page: post 2 answered an hour ago (a day late), post 3 gone.
    let answered = beijing(1);
    serve_board(&server, &[pending, late_post("已回复", Some(&answered))]).await;
    wait_for_replies(
        &old,
        &mut daemon,
        &[("1", "pending"), ("2", "replied"), ("3", "removed")],
    );
    settled(&api, &mut daemon, chrono::Utc::now()).await;

    let (code, export, err) = cli(&old, &["export", "--format", "jsonl"]);
    assert_eq!(code, 0, "export: {err}");
    let reply_lines: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["kind"] == "reply")
        .collect();
    assert_eq!(reply_lines.len(), 3, "one line per tracked post:\n{export}");
    assert!(
        reply_lines
            .iter()
            .all(|l| l["record"]["post"]["key"] == l["key"])
    );
    let backup = old.dir.path().join("backup.jsonl");
    std::fs::write(&backup, &export).unwrap();
    let before = replies_json(&old);
    assert!(daemon.stop().success(), "clean stop");
    let sent_before = collector.keys();

    let new = board_site(&board, &extra);
    let (code, out, err) = cli(&new, &["import", backup.to_str().unwrap()]);
    assert_eq!(code, 0, "import: {err}");
    assert!(out.contains("3 条跟踪中的留言"), "{out}");
    let restarted = chrono::Utc::now();
    let mut daemon = Daemon::start(&new, &[]);
    let api = Api::connect(&new, &mut daemon).await;
    // The restored daemon polls the board (the second page) and drains its outbox.
    settled(&api, &mut daemon, restarted).await;
    assert_eq!(
        replies_json(&new),
        before,
        "replies --all --json after import"
    );

    let mut sent: BTreeMap<String, usize> = BTreeMap::new();
    for key in collector.keys() {
        *sent.entry(key).or_default() += 1;
    }
    // The holiday-table warning is the installation's, not the ledger's (see above).
    let twice: Vec<_> = sent
        .iter()
        .filter(|(key, n)| **n > 1 && !key.starts_with("calendar/"))
        .collect();
    assert!(twice.is_empty(), "sent again after the restore: {twice:?}");
    assert!(
        sent.len() >= sent_before.len(),
        "{sent:?} / {sent_before:?}"
    );
    assert!(daemon.stop().success(), "clean stop of the restored daemon");
}

/// The board posts of an export: `key → record` (queue numbers blanked: a restore
/// queues anew), in the export's order.
fn reply_records(export: &str) -> Vec<(String, Value)> {
    export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["kind"] == "reply")
        .map(|mut l| {
            for notice in l["record"]["notices"].as_array_mut().unwrap() {
                if notice["record"]["seq"].is_u64() {
                    notice["record"]["seq"] = 0.into();
                }
            }
            (l["key"].as_str().unwrap().to_string(), l["record"].take())
        })
        .collect()
}

/// Nightly backups with the real binary: after a full export, `export --since` its
/// start carries no board post while nothing changed (polls that find the board as it
/// was change nothing), then only the posts that changed (one answered, one taken
/// down, one new; not the one still waiting). `import FULL INCREMENTAL` into a fresh
/// data directory restores the reply ledger a full export shows at that time, and a
/// daemon on it lists the same posts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_export_carries_the_changed_posts_and_restores_over_the_full_one() {
    let ReplyScene {
        server,
        board,
        extra,
        site: old,
        mut daemon,
        api,
        waiting,
        ..
    } = reply_scene().await;
    settled(&api, &mut daemon, chrono::Utc::now()).await;

    // The full export's `taken_at` is a second before it starts: past the last change.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let full = old.dir.path().join("full.jsonl");
    export_to(&old, None, &full);
    let since = export_header(&full)["taken_at"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        reply_records(&std::fs::read_to_string(&full).unwrap()).len(),
        3
    );
    // At least one more poll of the unchanged board, then: nothing to carry.
    settled(&api, &mut daemon, chrono::Utc::now()).await;
    let (code, export, err) = cli(&old, &["export", "--since", &since]);
    assert_eq!(code, 0, "export --since: {err}");
    assert!(
        reply_records(&export).is_empty(),
        "nothing changed since {since}:\n{export}"
    );

    // Post 2 answered an hour ago, post 3 gone, post 4 new.
    let new_post = board_post(4, "噪音扰民请求处理", &beijing(2), "未回复", None);
    serve_board(
        &server,
        &[waiting, late_post("已回复", Some(&beijing(1))), new_post],
    )
    .await;
    wait_for_replies(
        &old,
        &mut daemon,
        &[
            ("1", "pending"),
            ("2", "replied"),
            ("3", "removed"),
            ("4", "pending"),
        ],
    );
    settled(&api, &mut daemon, chrono::Utc::now()).await;
    let incremental = old.dir.path().join("incremental.jsonl");
    export_to(&old, Some(&since), &incremental);
    let changed: Vec<String> = reply_records(&std::fs::read_to_string(&incremental).unwrap())
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(changed, ["2", "3", "4"], "only the posts that changed");
    let (code, now, err) = cli(&old, &["export"]);
    assert_eq!(code, 0, "export: {err}");
    let before = replies_json(&old);
    assert!(daemon.stop().success(), "clean stop");

    let new = board_site(&board, &extra);
    let (code, out, err) = cli(
        &new,
        &[
            "import",
            full.to_str().unwrap(),
            incremental.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "import: {err}");
    assert!(out.contains("4 条跟踪中的留言"), "{out}");
    let mut daemon = Daemon::start(&new, &[]);
    let api = Api::connect(&new, &mut daemon).await;
    settled(&api, &mut daemon, chrono::Utc::now()).await;
    let (code, restored, err) = cli(&new, &["export"]);
    assert_eq!(code, 0, "export: {err}");
    assert_eq!(reply_records(&restored), reply_records(&now));
    assert_eq!(replies_json(&new), before, "replies --all --json");
    assert!(daemon.stop().success(), "clean stop of the restored daemon");
}

/// `yuqing export [--since SINCE] -o PATH` on `site`, which succeeds: what it said on
/// stderr.
fn export_to(site: &Site, since: Option<&str>, path: &Path) -> String {
    let mut args = vec!["export"];
    args.extend(since.iter().flat_map(|since| ["--since", since]));
    args.extend(["-o", path.to_str().unwrap()]);
    let (code, _, err) = cli(site, &args);
    assert_eq!(code, 0, "{args:?}: {err}");
    err
}

/// The first line of an export file: what it is and when it was taken.
fn export_header(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["kind"], "export", "{first}");
    first
}

/// An incident whose only change after a full backup is a clock step and its
/// reminder, sent: nothing moves its `updated_at`, yet `export --since` the full
/// backup's `taken_at` carries it with the reminder sent, and `import FULL INCREMENTAL`
/// into a fresh data directory gives a daemon that does not send the reminder again.
/// `import` refuses the incremental file alone and the two files in the wrong order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_export_carries_a_reminder_sent_for_an_untouched_incident() {
    let feed = feed_server(&TITLES[..1]).await;
    // The 签收 reminder at 30 % of a minute (18 s), the escalation at 90 % (54 s): the
    // restore below starts between them. The other clocks are hours away.
    let (collector, extra) = smtp_with_policy(
        "ack = \"60s\"\nstatement = \"4h\"\npress = \"6h\"\nresponse = \"8h\"\nremind_at = [0.3, 0.9]\n",
    );
    let feed_url = format!("{}/feed.xml", feed.uri());
    let old = Site::new(Path::new(BIN), &dictionaries(), &feed_url, &extra);
    let started = chrono::Utc::now();
    let mut daemon = Daemon::start(&old, &[]);
    let api = Api::connect(&old, &mut daemon).await;
    let id = incident_ids(&api, &mut daemon, 1).await[0];
    settled(&api, &mut daemon, started).await;
    let reminder = format!("{id}/ack/30");
    assert!(
        !collector.keys().contains(&reminder),
        "the reminder is not due yet: {:?}",
        collector.keys()
    );

    // Past the full export's grace (its `taken_at` is a second before it starts): the
    // incident's `updated_at` is before `taken_at`, so only its stamps can select it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let full = old.dir.path().join("full.jsonl");
    let err = export_to(&old, None, &full);
    let header = export_header(&full);
    assert!(header["since"].is_null(), "a full export: {header}");
    let taken_at = header["taken_at"].as_str().unwrap().to_string();
    assert!(
        err.contains(&format!("下次增量备份：yuqing export --since {taken_at}")),
        "{err}"
    );

    // The clock steps and the reminder goes out; nothing else touches the incident.
    wait_for_mail(&collector, &mut daemon, &[&reminder]).await;
    settled(&api, &mut daemon, chrono::Utc::now()).await;
    let incremental = old.dir.path().join("incremental.jsonl");
    export_to(&old, Some(&taken_at), &incremental);
    assert!(daemon.stop().success(), "clean stop");
    assert_eq!(export_header(&incremental)["since"], taken_at.as_str());
    let text = std::fs::read_to_string(&incremental).unwrap();
    let line = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["id"] == id)
        .unwrap_or_else(|| panic!("incident {id} is in the incremental export:\n{text}"));
    let updated_at = line["updated_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(updated_at).unwrap()
            < chrono::DateTime::parse_from_rfc3339(&taken_at).unwrap(),
        "nothing moved its updated_at ({updated_at}) since {taken_at}"
    );
    let sent = line["record"]["notices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["key"] == reminder.as_str())
        .unwrap_or_else(|| panic!("the reminder travels with its incident: {line}"));
    assert_eq!(sent["record"]["state"], "sent", "{sent}");

    // The files out of order, or the incremental alone: refused, nothing written.
    let new = Site::new(Path::new(BIN), &dictionaries(), &feed_url, &extra);
    let (full, incremental) = (full.to_str().unwrap(), incremental.to_str().unwrap());
    for files in [vec![incremental], vec![incremental, full]] {
        let (code, _, err) = cli(&new, &[&["import"][..], &files].concat());
        assert_eq!(code, 1, "import {files:?}: {err}");
        assert!(err.contains("不能作为第一个文件"), "{err}");
    }
    let (code, out, err) = cli(&new, &["import", full, incremental]);
    assert_eq!(code, 0, "import: {err}");
    assert!(out.contains("已导入 1 个事件"), "{out}");

    let restarted = chrono::Utc::now();
    let mut daemon = Daemon::start(&new, &[]);
    let api = Api::connect(&new, &mut daemon).await;
    settled(&api, &mut daemon, restarted).await;
    let times = collector.keys().iter().filter(|k| **k == reminder).count();
    assert_eq!(
        times,
        1,
        "the reminder is sent once: {:?}",
        collector.keys()
    );
    assert!(daemon.stop().success(), "clean stop of the restored daemon");
}
