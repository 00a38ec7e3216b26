//! Board reply tracking end to end: a board served by wiremock on 127.0.0.1 → intake →
//! parse (reply fields) → tracked posts in the store, under the official calendar.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use yuqing::clock::replies::ReplyClocks;
use yuqing::config::{Config, HumanDuration, IntakeConfig, load_sources_str};
use yuqing::model::Timestamp;
use yuqing::replies::{Rates, ReplyState, TrackedPost};
use yuqing::sources::Intake;
use yuqing::store::Store;

mod common;
use common::daemon::{Daemon, PATIENCE, Site, tail};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

struct Board {
    intake: Intake,
    store: Store,
    config: Config,
    _items: mpsc::Receiver<yuqing::model::Item>,
    _dir: tempfile::TempDir,
}

fn board(server: &MockServer, feeds: &str) -> Board {
    let dir = tempfile::tempdir().unwrap();
    let text = feeds.replace("{url}", &server.uri());
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        dictionaries: Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
        sources: load_sources_str(&text, Path::new("feeds.toml")).expect("test feeds load"),
        intake: IntakeConfig {
            timeout: HumanDuration::from_secs(5),
            connect_timeout: HumanDuration::from_secs(2),
            jitter: 0.0,
            ..IntakeConfig::default()
        },
        ..Config::default()
    };
    let store = Store::open(&config.data_dir).unwrap();
    let (tx, rx) = mpsc::channel(1024);
    Board {
        intake: Intake::new(&config, store.clone(), tx).unwrap(),
        store,
        config,
        _items: rx,
        _dir: dir,
    }
}

/// Serves `body` (replacing whatever was served before) and polls the board at `now`.
async fn poll(server: &MockServer, board: &Board, body: ResponseTemplate, now: &str) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/board"))
        .respond_with(body)
        .mount(server)
        .await;
    let report = board.intake.poll_source("board", at(now)).await.unwrap();
    report.result.expect("the poll succeeds");
}

fn post(board: &Board, key: &str) -> TrackedPost {
    board
        .store
        .tracked_post("board", key)
        .unwrap()
        .unwrap_or_else(|| panic!("post {key} is tracked"))
}

const JSON_BOARD: &str = r#"
[[source]]
id = "board"
name = "领导留言板"
kind = "json"
url = "{url}/board"
items = "/list"
item_id = "/tid"
title = "/title"
date = "/date"
reply_status = "/status"
reply_date = "/replyTime"
replied = ["已回复", "已办理"]
reply_within = "3 workdays"
"#;

fn json_post(tid: u32, title: &str, date: &str, status: &str, reply: Option<&str>) -> String {
    let reply = reply.map_or(String::new(), |r| format!(r#","replyTime":"{r}""#));
    format!(r#"{{"tid":{tid},"title":"{title}","date":"{date}","status":"{status}"{reply}}}"#)
}

fn json_page(posts: &[String]) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/json; charset=utf-8")
        .set_body_string(format!(r#"{{"list":[{}]}}"#, posts.join(",")))
}

/// Posted Friday 2025-09-26 18:00 before 国庆: 3 working days are Sun 09-28 (make-up day),
/// Mon 09-29 and Tue 09-30, so the post is due at 2025-09-30 24:00 Beijing time.
#[tokio::test]
async fn a_json_board_post_flips_from_pending_to_replied() {
    let server = MockServer::start().await;
    let board = board(&server, JSON_BOARD);
    let first = [
        json_post(1, "小区污水井堵塞", "2025-09-26 18:00", "未回复", None),
        json_post(2, "路灯不亮", "2025-09-26 18:00", "未回复", None),
        json_post(3, "噪声扰民", "2025-09-27 09:00", "未回复", None),
        json_post(4, "供暖不热", "2025-09-20 09:00", "未回复", None),
    ];
    poll(&server, &board, json_page(&first), "2025-09-27T04:00:00Z").await;
    let due = at("2025-09-30T16:00:00Z");
    let pending = post(&board, "1");
    assert_eq!(pending.due_at, due);
    assert_eq!(pending.posted_at, at("2025-09-26T10:00:00Z"));
    assert_eq!(
        pending.state(at("2025-09-29T00:00:00Z")),
        ReplyState::Pending
    );
    assert_eq!(
        pending.state(at("2025-10-01T00:00:00Z")),
        ReplyState::Overdue
    );

    // Reply clocks: post 4 (due 2025-09-24 24:00, 60 h before) is found overdue far past
    // `reply_overdue_max` (3) × `overdue_repeat` (1 h): a board's first poll sends no mail
    // for it (the digest reports it). Posts 1–3 get their 80 % reminders (the 60 % ones
    // were passed over while nothing fired).
    let clocks = ReplyClocks::new(board.store.clone(), Arc::new(board.config.clone()));
    let sent = |key: &str| board.store.notice_record(key).unwrap().is_some();
    assert_eq!(
        clocks.fire_due(at("2025-09-27T04:00:00Z"), 100).unwrap(),
        (0, false)
    );
    assert!(!sent("reply/board/4/overdue/61"));
    assert!(!sent("reply/board/4/60"));
    assert_eq!(
        clocks.fire_due(at("2025-09-30T06:00:00Z"), 100).unwrap().0,
        3
    );
    for key in ["reply/board/1/80", "reply/board/2/80", "reply/board/3/80"] {
        assert!(sent(key), "{key}");
    }
    assert!(!sent("reply/board/1/60"));
    let queued = board.store.outbox_pending(10).unwrap();
    let yuqing::model::NoticeKind::Bulletin {
        subject,
        paragraphs,
        ..
    } = &queued[0].1.notice.kind
    else {
        panic!("a reply notice is a bulletin");
    };
    assert_eq!(subject, "【留言待答复】领导留言板：小区污水井堵塞");
    assert!(
        paragraphs
            .iter()
            .any(|p| p.contains("应于 2025-10-01 00:00 前答复")),
        "{paragraphs:?}"
    );
    // Until the next poll the posts look unanswered: each gets overdue notices 1–3, one
    // an hour from its due time on, then no more.
    for now in [
        "2025-09-30T16:00:00Z",
        "2025-09-30T17:00:00Z",
        "2025-09-30T18:00:00Z",
    ] {
        assert!(clocks.fire_due(at(now), 100).unwrap().0 > 0, "{now}");
    }
    for now in ["2025-09-30T19:00:00Z", "2025-10-03T00:00:00Z"] {
        assert_eq!(clocks.fire_due(at(now), 100).unwrap().0, 0, "{now}");
    }
    for n in 1..=3 {
        assert!(sent(&format!("reply/board/2/overdue/{n}")), "{n}");
    }
    assert!(!sent("reply/board/2/overdue/4"));

    // Second poll: post 1 answered in time, post 2 answered after its due date, post 3
    // taken down, post 4 paged out (older than anything the page now shows).
    let second = [
        json_post(
            1,
            "小区污水井堵塞",
            "2025-09-26 18:00",
            "已回复",
            Some("2025-09-29 10:00"),
        ),
        json_post(
            2,
            "路灯不亮",
            "2025-09-26 18:00",
            "已回复",
            Some("2025-10-10 09:00"),
        ),
    ];
    let queued_before = board.store.outbox_pending(100).unwrap().len();
    assert!(
        queued_before >= 12,
        "no mail worker runs: {queued_before} still queued"
    );
    poll(&server, &board, json_page(&second), "2025-10-10T04:00:00Z").await;
    let now = at("2025-10-10T04:00:00Z");
    // The notices still queued for posts 1–3 are withdrawn, never sent: the posts no
    // longer wait (answered, taken down).
    assert!(
        board.store.outbox_pending(100).unwrap().is_empty(),
        "queued reply notices of answered or removed posts are withdrawn"
    );
    assert!(matches!(
        board.store.notice_record("reply/board/2/overdue/3").unwrap(),
        Some(yuqing::store::NoticeRecord::Superseded { by, .. }) if by == "replied"
    ));
    assert!(matches!(
        board.store.notice_record("reply/board/3/80").unwrap(),
        Some(yuqing::store::NoticeRecord::Superseded { by, .. }) if by == "removed"
    ));
    let replied = post(&board, "1");
    assert_eq!(replied.state(now), ReplyState::Replied);
    assert_eq!(replied.replied_at, Some(at("2025-09-29T02:00:00Z")));
    assert_eq!(replied.on_time(), Some(true));
    let late = post(&board, "2");
    assert_eq!(late.state(now), ReplyState::Replied);
    assert_eq!(
        late.on_time(),
        Some(false),
        "a reply after the due date is late"
    );
    assert_eq!(post(&board, "3").state(now), ReplyState::Removed);
    assert_eq!(
        post(&board, "4").state(now),
        ReplyState::Overdue,
        "paged out, not removed"
    );

    let posts = board.store.tracked_posts(Some("board")).unwrap();
    let rates = Rates::of(&posts, now);
    assert_eq!(
        (rates.posts, rates.replied, rates.on_time, rates.overdue),
        (3, 2, 1, 1),
        "removed post 3 is left out; post 4 is overdue"
    );

    // The digest reports the board's rates: the late reply is late, post 4 overdue.
    let no_keywords = |_: &str, _: usize| Vec::new();
    let period = yuqing::digest::Period::scheduled(now);
    let report =
        yuqing::digest::build(&board.store, &board.config, &period, now, &no_keywords).unwrap();
    let row = &report.replies.boards[0];
    assert_eq!(row.name, "领导留言板");
    assert_eq!(
        (row.posts, row.replied, row.on_time, row.overdue),
        (3, 2, 1, 1)
    );
    assert_eq!(row.on_time_rate, Some(1.0 / 3.0));
    assert_eq!(report.replies.overdue.len(), 1);
    assert_eq!(report.replies.overdue[0].title, "供暖不热");
    let text = yuqing::digest::render_text(&report);
    assert!(text.contains("【留言答复（自开始跟踪以来）】"), "{text}");
    assert!(
        text.contains("领导留言板     3       2     1         1   66.7%       33.3%"),
        "{text}"
    );
    assert!(text.contains("· 领导留言板｜供暖不热｜应于"), "{text}");
    let html = yuqing::digest::render_html(&report);
    assert!(html.contains("留言答复（自开始跟踪以来）"), "{html}");
    assert!(html.contains(">33.3%</td>"), "{html}");
    assert!(html.contains(">供暖不热</td>"), "{html}");

    // A removed post is reported once: a third poll without it changes nothing.
    let removed_at = post(&board, "3").removed_at;
    let waiting: Vec<String> = board
        .store
        .replies_due(at("2030-01-01T00:00:00Z"), 100)
        .unwrap()
        .into_iter()
        .map(|entry| entry.key)
        .collect();
    assert!(
        waiting.is_empty(),
        "answered and removed posts' clocks stop, and post 4's is past the cap: {waiting:?}"
    );
    poll(&server, &board, json_page(&second), "2025-10-11T04:00:00Z").await;
    assert_eq!(post(&board, "3").removed_at, removed_at);
}

fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable, "fixture text must be GBK-encodable");
    bytes.into_owned()
}

/// An older 政府网站留言板: a GBK table with a 办理状态 column, no reply date.
#[tokio::test]
async fn a_gbk_html_board_with_a_status_column() {
    let feeds = r#"
[[source]]
id = "board"
kind = "html"
url = "{url}/board"
encoding = "gbk"
item = "table.liuyan tr.row"
title = "td.title a"
link = "td.title a@href"
date = "td.date"
reply_status = "td.state"
replied = ["已办理"]
reply_within = "5工作日"
"#;
    let page = |state: &str| {
        let html = format!(
            "<html><head><meta charset=\"gb2312\"><title>网上留言</title></head><body>\
             <table class=\"liuyan\"><tr><th>标题</th><th>留言时间</th><th>办理状态</th></tr>\
             <tr class=\"row\"><td class=\"title\"><a href=\"show.asp?id=88\">景芝镇道路积水</a></td>\
             <td class=\"date\">2025-11-03</td><td class=\"state\">{state}</td></tr></table></body></html>"
        );
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/html")
            .set_body_bytes(gbk(&html))
    };
    let server = MockServer::start().await;
    let board = board(&server, feeds);
    let key = format!("{}/show.asp?id=88", server.uri());
    poll(&server, &board, page("办理中"), "2025-11-04T02:00:00Z").await;
    let tracked = post(&board, &key);
    assert_eq!(tracked.title, "景芝镇道路积水");
    // Monday 2025-11-03 (a date without a time: its start, Beijing time) + 5 working days.
    assert_eq!(tracked.due_at, at("2025-11-10T16:00:00Z"));
    assert_eq!(
        tracked.state(at("2025-11-04T02:00:00Z")),
        ReplyState::Pending
    );
    poll(&server, &board, page("已办理"), "2025-11-05T02:00:00Z").await;
    let tracked = post(&board, &key);
    // No reply date on the page: answered when first seen answered.
    assert_eq!(tracked.replied_at, Some(at("2025-11-05T02:00:00Z")));
    assert_eq!(tracked.on_time(), Some(true));
}

/// The whole path through the real binary: the daemon polls a JSON board, and
/// `yuqing replies --json` (through the control API) lists the post pending/overdue with
/// its working-day due time, then, after the board shows it answered, as replied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yuqing_replies_lists_a_board_post_through_the_daemon() {
    let server = MockServer::start().await;
    // Tuesday 2026-12-01 09:00 + 3 working days: due Friday 2026-12-04 24:00 Beijing time.
    let serve = |status: &str, reply: Option<&str>| {
        json_page(&[json_post(
            7,
            "小区污水井堵塞",
            "2026-12-01 09:00",
            status,
            reply,
        )])
    };
    Mock::given(method("GET"))
        .and(path("/board"))
        .respond_with(serve("未回复", None))
        .mount(&server)
        .await;
    let dictionaries = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    let site = Site::new(
        &assert_cmd::cargo::cargo_bin("yuqing"),
        &dictionaries,
        &format!("{}/unused", server.uri()),
        "",
    );
    let feeds = JSON_BOARD
        .replace("{url}", &server.uri())
        .replace("reply_within", "interval = \"10s\"\nreply_within");
    std::fs::write(site.dir.path().join("feeds.toml"), feeds).unwrap();
    let mut daemon = Daemon::start(&site, &[]);
    common::daemon::Api::connect(&site, &mut daemon).await;

    let replies = |all: bool| {
        let mut command = site.command();
        command.arg("replies").arg("--json");
        if all {
            command.arg("--all");
        }
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
    };
    let wait_for = |all: bool, want: &'static str, daemon: &mut Daemon| {
        let start = Instant::now();
        loop {
            daemon.assert_running("waiting for the board post");
            let listed = replies(all);
            if listed.first().is_some_and(|p| p["state"] == want) {
                return listed;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "no {want} post:\n{}",
                tail(&daemon.log())
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    let waiting = if chrono::Utc::now() > at("2026-12-04T16:00:00Z") {
        "overdue"
    } else {
        "pending"
    };
    let listed = wait_for(false, waiting, &mut daemon);
    let post = &listed[0];
    assert_eq!(post["source"], "board");
    assert_eq!(post["key"], "7");
    assert_eq!(post["title"], "小区污水井堵塞");
    assert_eq!(post["posted_at"], "2026-12-01T01:00:00Z");
    assert_eq!(post["due_at"], "2026-12-04T16:00:00Z");
    assert_eq!(post["replied_at"], serde_json::Value::Null);

    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/board"))
        .respond_with(serve("已回复", Some("2026-12-03 15:00")))
        .mount(&server)
        .await;
    let listed = wait_for(true, "replied", &mut daemon);
    assert_eq!(listed[0]["replied_at"], "2026-12-03T07:00:00Z");
    assert!(
        replies(false).is_empty(),
        "an answered post is listed only with --all"
    );
    daemon.stop();
}

/// A board with reply tracking needs a readable holiday table: a broken one stops the
/// intake at start, saying why, instead of guessing weekends.
#[tokio::test]
async fn a_reply_board_with_a_broken_holiday_table_is_refused_at_start() {
    let server = MockServer::start().await;
    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir(empty.path().join("calendar")).unwrap();
    std::fs::write(empty.path().join("calendar/2025.toml"), "year = \"x\"\n").unwrap();
    let text = JSON_BOARD.replace("{url}", &server.uri());
    let config = Config {
        data_dir: empty.path().join("data"),
        dictionaries: empty.path().to_path_buf(),
        sources: load_sources_str(&text, Path::new("feeds.toml")).unwrap(),
        ..Config::default()
    };
    let store = Store::open(&config.data_dir).unwrap();
    let (tx, _rx) = mpsc::channel(1);
    let Err(err) = Intake::new(&config, store, tx) else {
        panic!("the intake started with a broken holiday table");
    };
    assert!(
        err.to_string()
            .contains("留言板答复时限和文件时限（政策解读等）需要官方节假日表"),
        "{err}"
    );
}
