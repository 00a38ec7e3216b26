//! Intake end to end: wiremock on 127.0.0.1 → fetch → parse → sled store → item channel.
//! No test touches the internet; none asserts on elapsed time.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, watch};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use yuqing::config::{Config, HumanDuration, IntakeConfig, load_sources_str};
use yuqing::model::{Item, NoticeKind, Timestamp};
use yuqing::sources::{FailureKind, FetchError, Fetched, Fetcher, Intake, PollError};
use yuqing::store::{SourceState, Store};

// ---------------------------------------------------------------- fixtures

fn rss(items: &[(&str, &str)]) -> String {
    let mut out = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>测试新闻</title><link>http://example.org/</link><description>测试</description>
"#,
    );
    for (guid, title) in items {
        out.push_str(&format!(
            "<item><title>{title}</title><link>http://example.org/{guid}.html</link><guid>{guid}</guid>\
             <description>{title}。正文内容。</description><pubDate>Tue, 24 Nov 2026 08:00:00 +0800</pubDate></item>\n"
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

fn list_page(meta: &str, titles: &[&str]) -> String {
    let mut out =
        format!("<html><head>{meta}<title>留言选登</title></head><body><ul class=\"list\">\n");
    for (i, title) in titles.iter().enumerate() {
        out.push_str(&format!(
            "<li><a href=\"/liuyan/{i}.html\">{title}</a><span class=\"date\">2026-11-2{i}</span></li>\n"
        ));
    }
    out.push_str("</ul></body></html>\n");
    out
}

fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable, "fixture text must be GBK-encodable");
    bytes.into_owned()
}

const TITLES: [&str; 3] = [
    "安丘市某小区供暖不热，居民多次反映无果",
    "关于兴安街道道路积水问题的咨询",
    "景芝镇企业拖欠工资，农民工讨薪",
];

/// A configuration with the given `feeds.toml` text; `{url}` is replaced by `base`.
fn config(dir: &Path, base: &str, feeds: &str, tune: impl FnOnce(&mut IntakeConfig)) -> Config {
    let text = feeds.replace("{url}", base);
    let sources = load_sources_str(&text, Path::new("feeds.toml")).expect("test feeds load");
    let mut intake = IntakeConfig {
        timeout: HumanDuration::from_secs(5),
        connect_timeout: HumanDuration::from_secs(2),
        jitter: 0.0,
        ..IntakeConfig::default()
    };
    tune(&mut intake);
    Config {
        data_dir: dir.to_path_buf(),
        sources,
        intake,
        ..Config::default()
    }
}

fn feed_source(id: &str, path: &str) -> String {
    format!(
        "[[source]]\nid = \"{id}\"\nname = \"测试源 {id}\"\nkind = \"feed\"\nurl = \"{{url}}{path}\"\ninterval = \"1m\"\n"
    )
}

struct Rig {
    intake: Intake,
    items: mpsc::Receiver<Item>,
    _dir: tempfile::TempDir,
}

fn rig(server: &MockServer, feeds: &str, tune: impl FnOnce(&mut IntakeConfig)) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &server.uri(), feeds, tune);
    let store = Store::open(&config.data_dir).unwrap();
    let (tx, rx) = mpsc::channel(1024);
    Rig {
        intake: Intake::new(&config, store, tx).unwrap(),
        items: rx,
        _dir: dir,
    }
}

fn drain(rx: &mut mpsc::Receiver<Item>) -> Vec<Item> {
    let mut out = Vec::new();
    while let Ok(item) = rx.try_recv() {
        out.push(item);
    }
    out
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

async fn mount(server: &MockServer, at_path: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(at_path))
        .respond_with(response)
        .mount(server)
        .await;
}

// ---------------------------------------------------------------- each kind, end to end

#[tokio::test]
async fn feed_is_fetched_parsed_stored_and_handed_on_once() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/rss.xml",
        ResponseTemplate::new(200).set_body_raw(
            rss(&[("a1", TITLES[0]), ("a2", TITLES[1])]),
            "application/rss+xml; charset=utf-8",
        ),
    )
    .await;
    let mut rig = rig(&server, &feed_source("news", "/rss.xml"), |_| {});
    let now = Utc::now();

    let done = rig
        .intake
        .poll_source("news", now)
        .await
        .unwrap()
        .result
        .unwrap();
    assert_eq!(
        (done.status, done.parsed, done.new, done.updated),
        (200, 2, 2, 0)
    );
    assert_eq!(done.encoding, Some("UTF-8"));
    let items = drain(&mut rig.items);
    let titles: Vec<_> = items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(titles, [TITLES[0], TITLES[1]]);
    assert!(
        items
            .iter()
            .all(|i| i.source == "news" && i.first_seen == now)
    );
    assert_eq!(rig.intake.store().item_count(), 2);

    // Same document again: nothing new is stored or handed on.
    let again = rig
        .intake
        .poll_source("news", now)
        .await
        .unwrap()
        .result
        .unwrap();
    assert_eq!((again.new, again.updated), (0, 0));
    assert!(drain(&mut rig.items).is_empty());

    // An edited title updates the item in place.
    server.reset().await;
    mount(
        &server,
        "/rss.xml",
        ResponseTemplate::new(200).set_body_raw(
            rss(&[
                ("a1", TITLES[0]),
                ("a2", "关于兴安街道道路积水问题的咨询（已更正）"),
            ]),
            "application/rss+xml",
        ),
    )
    .await;
    let edited = rig
        .intake
        .poll_source("news", now)
        .await
        .unwrap()
        .result
        .unwrap();
    assert_eq!((edited.new, edited.updated), (0, 1));
    let items = drain(&mut rig.items);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].revisions, 1);
    assert_eq!(rig.intake.store().item_count(), 2);
    let state = rig.intake.store().source_state("news").unwrap();
    assert_eq!(state.items_total, 2);
    assert_eq!(state.last_status, Some(200));
}

#[tokio::test]
async fn html_list_page_in_gbk_is_read_with_selectors() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/list.asp",
        ResponseTemplate::new(200)
            .set_body_raw(gbk(&list_page("", &TITLES)), "text/html; charset=gbk"),
    )
    .await;
    let feeds = r#"
[[source]]
id = "board"
name = "安丘市政府网站留言板"
kind = "html"
url = "{url}/list.asp"
interval = "5m"
local = true
item = "ul.list li"
date = "span.date"
"#;
    let mut rig = rig(&server, feeds, |_| {});
    let done = rig
        .intake
        .poll_source("board", Utc::now())
        .await
        .unwrap()
        .result
        .unwrap();
    assert_eq!(done.encoding, Some("GBK"));
    assert_eq!(done.new, 3);
    let items = drain(&mut rig.items);
    let titles: Vec<_> = items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(titles, TITLES);
    let link = items[0].link.as_deref().unwrap();
    assert_eq!(
        link,
        format!("{}/liuyan/0.html", server.uri()),
        "relative links resolve"
    );
}

#[tokio::test]
async fn json_api_is_posted_with_form_and_headers() {
    let server = MockServer::start().await;
    let answer = serde_json::json!({
        "result": "success",
        "responseData": [
            {"tid": 1001, "subject": TITLES[0], "content": "供暖温度只有十几度。", "dateline": 1_795_000_000},
            {"tid": 1002, "subject": TITLES[2], "content": "工资拖欠三个月。", "dateline": 1_795_000_100},
        ]
    });
    Mock::given(method("POST"))
        .and(path("/threads/queryThreadsList"))
        .and(body_string_contains("fid=539"))
        .and(header(
            "referer",
            "https://liuyan.example/forum/list?fid=539",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .expect(1)
        .mount(&server)
        .await;
    let feeds = r#"
[[source]]
id = "liuyan"
name = "领导留言板"
kind = "json"
method = "POST"
url = "{url}/threads/queryThreadsList"
form = { fid = "539", lastItem = "0" }
headers = { Referer = "https://liuyan.example/forum/list?fid=539" }
items = "/responseData"
item_id = "/tid"
title = "/subject"
body = "/content"
date = "/dateline"
link = "https://liuyan.example/threads/content?tid={id}"
"#;
    let mut rig = rig(&server, feeds, |_| {});
    let done = rig
        .intake
        .poll_source("liuyan", Utc::now())
        .await
        .unwrap()
        .result
        .unwrap();
    assert_eq!(done.new, 2);
    let items = drain(&mut rig.items);
    assert_eq!(items[0].title, TITLES[0]);
    assert_eq!(items[0].body, "供暖温度只有十几度。");
    assert_eq!(
        items[0].published,
        chrono::DateTime::from_timestamp(1_795_000_000, 0),
        "Unix-seconds dateline"
    );
    assert_eq!(
        items[1].link.as_deref(),
        Some("https://liuyan.example/threads/content?tid=1002")
    );
}

// ---------------------------------------------------------------- encodings

#[tokio::test]
async fn every_way_of_declaring_gbk_is_read_correctly() {
    // (case, content type, page meta or XML declaration, forced source encoding, kind)
    let utf8_decl = r#"<meta charset="utf-8">"#;
    let cases: [(&str, &str, &str, Option<&str>, &str); 6] = [
        ("header", "text/html; charset=GBK", "", None, "html"),
        (
            "meta only",
            "text/html",
            r#"<meta http-equiv="Content-Type" content="text/html; charset=gb2312">"#,
            None,
            "html",
        ),
        (
            "html5 meta",
            "text/html",
            r#"<meta charset="gbk">"#,
            None,
            "html",
        ),
        ("none", "text/html", "", None, "html"),
        (
            "wrong declaration, forced",
            "text/html; charset=utf-8",
            utf8_decl,
            Some("gbk"),
            "html",
        ),
        ("xml declaration", "application/xml", "", None, "feed"),
    ];
    for (case, content_type, meta, forced, kind) in cases {
        let server = MockServer::start().await;
        let body = if kind == "feed" {
            gbk(
                &rss(&[("g1", TITLES[0]), ("g2", TITLES[1]), ("g3", TITLES[2])])
                    .replace("encoding=\"UTF-8\"", "encoding=\"gb2312\""),
            )
        } else {
            gbk(&list_page(meta, &TITLES))
        };
        mount(
            &server,
            "/p",
            ResponseTemplate::new(200).set_body_raw(body, content_type),
        )
        .await;
        let forced = forced
            .map(|e| format!("encoding = \"{e}\"\n"))
            .unwrap_or_default();
        let extra = if kind == "html" {
            "item = \"ul.list li\"\n"
        } else {
            ""
        };
        let feeds = format!(
            "[[source]]\nid = \"s\"\nkind = \"{kind}\"\nurl = \"{{url}}/p\"\n{forced}{extra}"
        );
        let mut rig = rig(&server, &feeds, |_| {});
        let done = rig
            .intake
            .poll_source("s", Utc::now())
            .await
            .unwrap()
            .result
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(done.encoding, Some("GBK"), "{case}");
        let titles: Vec<_> = drain(&mut rig.items).into_iter().map(|i| i.title).collect();
        assert_eq!(titles, TITLES, "{case}");
    }
}

// ---------------------------------------------------------------- conditional GET

#[tokio::test]
async fn validators_are_sent_and_304_is_a_quiet_success() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rss.xml"))
        .and(header("if-none-match", "\"v7\""))
        // Not `header()`: it splits values at commas, and an HTTP date has one.
        .and(|req: &wiremock::Request| {
            req.headers
                .get("if-modified-since")
                .is_some_and(|v| v == "Tue, 24 Nov 2026 00:00:00 GMT")
        })
        .respond_with(ResponseTemplate::new(304).insert_header("ETag", "\"v8\""))
        .expect(1)
        .mount(&server)
        .await;
    let mut rig = rig(&server, &feed_source("news", "/rss.xml"), |_| {});
    let store = rig.intake.store().clone();
    store
        .put_source_state(
            "news",
            &SourceState {
                etag: Some("\"v7\"".into()),
                last_modified: Some("Tue, 24 Nov 2026 00:00:00 GMT".into()),
                consecutive_failures: 2,
                failing_since: Some(at("2026-11-24T00:00:00Z")),
                ..SourceState::default()
            },
        )
        .unwrap();
    let now = at("2026-11-24T01:00:00Z");
    let report = rig.intake.poll_source("news", now).await.unwrap();
    let done = report.result.unwrap();
    assert_eq!((done.status, done.parsed, done.new), (304, 0, 0));
    assert!(drain(&mut rig.items).is_empty());
    let state = store.source_state("news").unwrap();
    assert_eq!(
        state.etag.as_deref(),
        Some("\"v8\""),
        "a fresh ETag on the 304 is kept"
    );
    assert_eq!(
        state.last_modified.as_deref(),
        Some("Tue, 24 Nov 2026 00:00:00 GMT")
    );
    assert_eq!(
        state.consecutive_failures, 0,
        "a 304 ends a failure episode"
    );
    assert_eq!(state.failing_since, None);
    assert_eq!(state.last_ok_at, Some(now));
    assert_eq!(report.next_poll_at, now + chrono::Duration::minutes(1));
}

#[tokio::test]
async fn validators_from_a_full_answer_are_used_next_time() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rss.xml"))
        .and(header("if-none-match", "\"abc\""))
        .respond_with(ResponseTemplate::new(304))
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rss.xml"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("ETag", "\"abc\"")
                .set_body_raw(rss(&[("a1", TITLES[0])]), "application/rss+xml"),
        )
        .expect(1)
        .with_priority(2)
        .mount(&server)
        .await;
    let rig = rig(&server, &feed_source("news", "/rss.xml"), |_| {});
    let first = rig
        .intake
        .poll_source("news", Utc::now())
        .await
        .unwrap()
        .result
        .unwrap();
    assert_eq!((first.status, first.new), (200, 1));
    let second = rig
        .intake
        .poll_source("news", Utc::now())
        .await
        .unwrap()
        .result
        .unwrap();
    assert_eq!(second.status, 304);
}

// ---------------------------------------------------------------- failures and back-off

#[tokio::test]
async fn retry_after_moves_the_schedule() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/rss.xml",
        ResponseTemplate::new(429).insert_header("Retry-After", "7200"),
    )
    .await;
    let rig = rig(&server, &feed_source("news", "/rss.xml"), |_| {});
    let now = at("2026-11-24T01:00:00Z");
    let report = rig.intake.poll_source("news", now).await.unwrap();
    let err = report.result.unwrap_err();
    assert_eq!(err.kind(), FailureKind::RateLimited);
    assert_eq!(err.status(), Some(429));
    assert_eq!(report.next_poll_at, now + chrono::Duration::hours(2));
    let state = rig.intake.store().source_state("news").unwrap();
    assert_eq!(state.next_poll_at, Some(now + chrono::Duration::hours(2)));
    assert_eq!(state.last_status, Some(429));
}

#[tokio::test]
async fn server_errors_back_off_exponentially_up_to_the_cap() {
    let server = MockServer::start().await;
    mount(&server, "/rss.xml", ResponseTemplate::new(500)).await;
    let rig = rig(&server, &feed_source("news", "/rss.xml"), |c| {
        c.max_backoff = HumanDuration::from_secs(10 * 60);
    });
    let now = at("2026-11-24T01:00:00Z");
    let mut delays = Vec::new();
    for _ in 0..4 {
        let report = rig.intake.poll_source("news", now).await.unwrap();
        assert_eq!(report.result.unwrap_err().kind(), FailureKind::ServerError);
        delays.push((report.next_poll_at - now).num_minutes());
    }
    // 1m interval × weight 2 × 2^(n−1), capped at 10m.
    assert_eq!(delays, [2, 4, 8, 10]);
    let state = rig.intake.store().source_state("news").unwrap();
    assert_eq!(state.consecutive_failures, 4);
    assert_eq!(state.last_status, Some(500));
    assert!(state.last_error.unwrap().contains("500"));
}

#[tokio::test]
async fn a_slow_server_trips_the_timeout() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/slow",
        ResponseTemplate::new(200)
            .set_body_raw(rss(&[]), "application/rss+xml")
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    let rig = rig(&server, &feed_source("slow", "/slow"), |c| {
        c.timeout = HumanDuration::from_secs(1);
    });
    let err = rig
        .intake
        .poll_source("slow", Utc::now())
        .await
        .unwrap()
        .result
        .unwrap_err();
    assert_eq!(err.kind(), FailureKind::Timeout, "{err}");
    assert!(err.to_string().contains("超时"));
}

#[tokio::test]
async fn an_oversize_body_and_a_gzip_bomb_are_cut_at_the_cap() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/big",
        ResponseTemplate::new(200).set_body_raw(vec![b'x'; 1024 * 1024], "application/xml"),
    )
    .await;
    let bomb = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/zeros-10mib.gz"
    ))
    .unwrap();
    assert!(bomb.len() < 64 * 1024, "the bomb is small on the wire");
    mount(
        &server,
        "/bomb",
        ResponseTemplate::new(200)
            .insert_header("Content-Encoding", "gzip")
            .set_body_raw(bomb, "application/xml"),
    )
    .await;
    let feeds = format!(
        "{}{}",
        feed_source("big", "/big"),
        feed_source("bomb", "/bomb")
    );
    let rig = rig(&server, &feeds, |c| c.max_body_bytes = 64 * 1024);
    for id in ["big", "bomb"] {
        let err = rig
            .intake
            .poll_source(id, Utc::now())
            .await
            .unwrap()
            .result
            .unwrap_err();
        assert!(
            matches!(err, PollError::Fetch(FetchError::TooLarge { limit: 65536 })),
            "{id}: {err:?}"
        );
        assert_eq!(err.kind(), FailureKind::TooLarge);
    }
}

#[tokio::test]
async fn malformed_xml_is_a_parse_failure_that_stores_nothing() {
    let server = MockServer::start().await;
    let broken = rss(&[("a1", TITLES[0])]).replace("</channel>", "");
    mount(
        &server,
        "/rss.xml",
        ResponseTemplate::new(200)
            .insert_header("ETag", "\"broken\"")
            .set_body_raw(broken, "application/rss+xml"),
    )
    .await;
    let mut rig = rig(&server, &feed_source("news", "/rss.xml"), |_| {});
    let err = rig
        .intake
        .poll_source("news", Utc::now())
        .await
        .unwrap()
        .result
        .unwrap_err();
    assert!(matches!(err, PollError::Parse(_)), "{err:?}");
    assert_eq!(err.kind(), FailureKind::Parse);
    assert!(drain(&mut rig.items).is_empty());
    let state = rig.intake.store().source_state("news").unwrap();
    assert_eq!(
        state.etag, None,
        "validators of an unreadable document are not kept"
    );
    assert_eq!(state.consecutive_failures, 1);
}

#[tokio::test]
async fn a_redirect_loop_is_an_error_not_a_hang() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/a",
        ResponseTemplate::new(302).insert_header("Location", "/b"),
    )
    .await;
    mount(
        &server,
        "/b",
        ResponseTemplate::new(301).insert_header("Location", "/a"),
    )
    .await;
    mount(
        &server,
        "/self",
        ResponseTemplate::new(307).insert_header("Location", "/self"),
    )
    .await;
    let feeds = format!(
        "{}{}",
        feed_source("ab", "/a"),
        feed_source("self", "/self")
    );
    let rig = rig(&server, &feeds, |_| {});
    for id in ["ab", "self"] {
        let err = rig
            .intake
            .poll_source(id, Utc::now())
            .await
            .unwrap()
            .result
            .unwrap_err();
        assert_eq!(err.kind(), FailureKind::Redirect, "{id}: {err}");
        assert!(err.to_string().contains("循环"), "{id}: {err}");
    }
}

#[tokio::test]
async fn too_many_redirects_are_refused() {
    let server = MockServer::start().await;
    for i in 0..4 {
        mount(
            &server,
            &format!("/r{i}"),
            ResponseTemplate::new(302).insert_header("Location", format!("/r{}", i + 1)),
        )
        .await;
    }
    let settings = IntakeConfig {
        max_redirects: 2,
        ..IntakeConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &server.uri(), &feed_source("r", "/r0"), |_| {});
    let fetcher = Fetcher::new(&settings).unwrap();
    let err = fetcher.fetch(&config.sources[0], None).await.unwrap_err();
    assert!(matches!(err, FetchError::Redirect(_)), "{err:?}");
    assert!(err.to_string().contains("超过 2 次"), "{err}");
}

#[tokio::test]
async fn an_empty_feed_is_a_success_with_no_items() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/rss.xml",
        ResponseTemplate::new(200).set_body_raw(rss(&[]), "application/rss+xml"),
    )
    .await;
    let mut rig = rig(&server, &feed_source("news", "/rss.xml"), |_| {});
    let done = rig
        .intake
        .poll_source("news", Utc::now())
        .await
        .unwrap()
        .result
        .unwrap();
    assert_eq!((done.status, done.parsed, done.new), (200, 0, 0));
    assert!(drain(&mut rig.items).is_empty());
}

#[tokio::test]
async fn a_request_carries_the_configured_user_agent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header(
            "user-agent",
            "yuqing-test/1.0 (+mailto:duty@localhost)",
        ))
        .respond_with(ResponseTemplate::new(304))
        .expect(1)
        .mount(&server)
        .await;
    let config = config(
        Path::new("."),
        &server.uri(),
        &feed_source("news", "/rss.xml"),
        |c| {
            c.user_agent = "yuqing-test/1.0 (+mailto:duty@localhost)".into();
        },
    );
    let fetcher = Fetcher::new(&config.intake).unwrap();
    assert!(matches!(
        fetcher.fetch(&config.sources[0], None).await,
        Ok(Fetched::NotModified(_))
    ));
}

// ---------------------------------------------------------------- source health

#[tokio::test]
async fn a_source_failing_too_long_raises_one_notice_per_episode() {
    let server = MockServer::start().await;
    mount(&server, "/rss.xml", ResponseTemplate::new(404)).await;
    let rig = rig(&server, &feed_source("board", "/rss.xml"), |c| {
        c.failing_after = HumanDuration::from_secs(3600);
    });
    let store = rig.intake.store().clone();
    let t0 = at("2026-11-24T00:00:00Z");
    let minutes = |m: i64| t0 + chrono::Duration::minutes(m);

    for m in [0, 30] {
        let err = rig
            .intake
            .poll_source("board", minutes(m))
            .await
            .unwrap()
            .result
            .unwrap_err();
        assert_eq!(err.kind(), FailureKind::ClientError);
    }
    assert_eq!(store.outbox_depth(), 0, "not failing long enough yet");
    assert!(!store.source_state("board").unwrap().reported);

    for m in [61, 90, 200] {
        rig.intake.poll_source("board", minutes(m)).await.unwrap();
    }
    let state = store.source_state("board").unwrap();
    assert!(state.reported);
    assert_eq!(state.episodes, 1);
    assert_eq!(state.failing_since, Some(t0));
    let pending = store.outbox_pending(10).unwrap();
    assert_eq!(pending.len(), 1, "one notice per episode");
    let notice = &pending[0].1.notice;
    assert_eq!(notice.key, "source/board/failing/1");
    assert_eq!(notice.to, ["duty@localhost"]);
    let NoticeKind::SourceFailing {
        source,
        since,
        error,
        episode,
        name,
    } = &notice.kind
    else {
        panic!("unexpected notice {notice:?}")
    };
    assert_eq!((source.as_str(), *since, *episode), ("board", t0, 1));
    assert_eq!(name, "测试源 board");
    assert!(error.contains("404"), "{error}");

    // A success (304) ends the episode; a new long failure is a second episode.
    server.reset().await;
    mount(&server, "/rss.xml", ResponseTemplate::new(304)).await;
    rig.intake
        .poll_source("board", minutes(300))
        .await
        .unwrap()
        .result
        .unwrap();
    let state = store.source_state("board").unwrap();
    assert!(!state.reported && state.failing_since.is_none());
    server.reset().await;
    mount(&server, "/rss.xml", ResponseTemplate::new(503)).await;
    for m in [400, 470, 480] {
        rig.intake.poll_source("board", minutes(m)).await.unwrap();
    }
    let keys: Vec<_> = store
        .outbox_pending(10)
        .unwrap()
        .into_iter()
        .map(|(_, row)| row.notice.key)
        .collect();
    assert_eq!(keys, ["source/board/failing/1", "source/board/failing/2"]);
}

// ---------------------------------------------------------------- restart and scheduler

#[tokio::test]
async fn a_restart_over_the_same_data_ingests_nothing_new() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/rss.xml",
        ResponseTemplate::new(200).set_body_raw(
            rss(&[("a1", TITLES[0]), ("a2", TITLES[1]), ("a3", TITLES[2])]),
            "application/rss+xml",
        ),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &server.uri(),
        &feed_source("news", "/rss.xml"),
        |_| {},
    );
    for (run, expected_new) in [(1, 3), (2, 0)] {
        let store = Store::open(&config.data_dir).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let intake = Intake::new(&config, store.clone(), tx).unwrap();
        let done = intake
            .poll_source("news", Utc::now())
            .await
            .unwrap()
            .result
            .unwrap();
        assert_eq!(done.new, expected_new, "run {run}");
        assert_eq!(drain(&mut rx).len(), expected_new, "run {run}");
        assert_eq!(store.item_count(), 3, "run {run}");
        store.flush().await.unwrap();
    }
}

#[tokio::test]
async fn the_scheduler_polls_due_sources_and_stops_on_shutdown() {
    let server = MockServer::start().await;
    mount(&server, "/rss.xml", ResponseTemplate::new(304)).await;
    let feeds = format!(
        "{}{}enabled = false\n",
        feed_source("on", "/rss.xml"),
        feed_source("off", "/off.xml")
    )
    .replace("interval = \"1m\"", "interval = \"10s\"");
    let rig = rig(&server, &feeds, |_| {});
    let store = rig.intake.store().clone();
    let (stop, stopping) = watch::channel(false);
    let running = tokio::spawn(rig.intake.clone().run(stopping));

    // Wait (bounded) for the first poll: the first one is spread within the interval.
    let mut polled = false;
    for _ in 0..300 {
        if store.source_state("on").unwrap().last_poll_at.is_some() {
            polled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(polled, "the enabled source was polled");
    let state = store.source_state("on").unwrap();
    assert!(state.next_poll_at.unwrap() > state.last_poll_at.unwrap());
    assert_eq!(store.source_state("off").unwrap(), SourceState::default());
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| r.url.path() == "/rss.xml"));

    stop.send(true).unwrap();
    running.await.expect("intake ends cleanly on shutdown");
}

#[tokio::test]
async fn a_full_channel_delays_ingestion_but_loses_nothing() {
    let server = MockServer::start().await;
    let items: Vec<(String, String)> = (0..20)
        .map(|i| (format!("k{i}"), format!("第{i}条：安丘市新闻")))
        .collect();
    let refs: Vec<(&str, &str)> = items
        .iter()
        .map(|(k, t)| (k.as_str(), t.as_str()))
        .collect();
    mount(
        &server,
        "/rss.xml",
        ResponseTemplate::new(200).set_body_raw(rss(&refs), "application/rss+xml"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &server.uri(),
        &feed_source("news", "/rss.xml"),
        |_| {},
    );
    let (tx, mut rx) = mpsc::channel(2);
    let intake = Intake::new(&config, Store::open(dir.path()).unwrap(), tx).unwrap();
    let poll = tokio::spawn(async move { intake.poll_source("news", Utc::now()).await });
    let mut received = Vec::new();
    while received.len() < 20 {
        received.push(rx.recv().await.expect("all items arrive").key);
    }
    let done = poll.await.unwrap().unwrap().result.unwrap();
    assert_eq!(done.new, 20);
    let keys: Vec<_> = items.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(received, keys);
}

#[tokio::test]
async fn an_unknown_source_is_named_with_the_known_ones() {
    let server = MockServer::start().await;
    let rig = rig(&server, &feed_source("news", "/rss.xml"), |_| {});
    let err = rig
        .intake
        .poll_source("nope", Utc::now())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("nope") && text.contains("news"), "{text}");
}

#[tokio::test]
async fn with_no_enabled_source_the_intake_waits_for_shutdown() {
    let server = MockServer::start().await;
    let feeds = format!("{}enabled = false\n", feed_source("off", "/rss.xml"));
    let rig = rig(&server, &feeds, |_| {});
    let (stop, stopping) = watch::channel(false);
    let running = tokio::spawn(rig.intake.clone().run(stopping));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!running.is_finished(), "the intake does not end on its own");
    stop.send(true).unwrap();
    running.await.unwrap();
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// A local server that counts requests in flight and remembers the most seen at once.
async fn concurrency_probe() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (n, p) = (now.clone(), peak.clone());
    let app = axum::Router::new().fallback(move || {
        let (n, p) = (n.clone(), p.clone());
        async move {
            let inflight = n.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(inflight, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(200)).await;
            n.fetch_sub(1, Ordering::SeqCst);
            axum::http::StatusCode::NOT_MODIFIED
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://127.0.0.1:{port}"), peak)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_and_global_limits_hold() {
    use std::sync::atomic::Ordering;
    // (limits, hosts used, most requests in flight allowed)
    let cases = [
        ((32, 2), vec!["127.0.0.1"], 2),
        ((32, 1), vec!["127.0.0.1"], 1),
        ((1, 4), vec!["127.0.0.1", "localhost"], 1),
    ];
    for ((concurrency, per_host), hosts, allowed) in cases {
        let (base, peak) = concurrency_probe().await;
        let mut feeds = String::new();
        for i in 0..6 {
            let host = hosts[i % hosts.len()];
            let url = base.replace("127.0.0.1", host);
            feeds.push_str(&feed_source(&format!("s{i}"), &format!("/{i}")).replace("{url}", &url));
        }
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), &base, &feeds, |c| {
            c.concurrency = concurrency;
            c.per_host = per_host;
        });
        let (tx, _rx) = mpsc::channel(16);
        let intake = Intake::new(&config, Store::open(dir.path()).unwrap(), tx).unwrap();
        let polls = (0..6).map(|i| {
            let intake = intake.clone();
            async move { intake.poll_source(&format!("s{i}"), Utc::now()).await }
        });
        for report in futures_util::future::join_all(polls).await {
            assert_eq!(report.unwrap().result.unwrap().status, 304);
        }
        let seen = peak.load(Ordering::SeqCst);
        assert!(
            (1..=allowed).contains(&seen),
            "concurrency {concurrency}, per_host {per_host}, hosts {hosts:?}: {seen} in flight"
        );
    }
}

#[tokio::test]
async fn a_json_source_can_post_a_json_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/list"))
        .and(header("content-type", "application/json"))
        .and(wiremock::matchers::body_json(
            serde_json::json!({"fid": 539, "page": 1}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"data": []})))
        .expect(1)
        .mount(&server)
        .await;
    let feeds = r#"
[[source]]
id = "api"
kind = "json"
method = "POST"
url = "{url}/api/list"
json = { fid = 539, page = 1 }
items = "/data"
title = "/title"
"#;
    let config = config(Path::new("."), &server.uri(), feeds, |_| {});
    let fetcher = Fetcher::new(&config.intake).unwrap();
    let Ok(Fetched::Body(body)) = fetcher.fetch(&config.sources[0], None).await else {
        panic!("the POST with a JSON body was not answered")
    };
    assert_eq!(body.status, 200);
    assert_eq!(body.bytes, br#"{"data":[]}"#);
}
