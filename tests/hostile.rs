//! Hostile sources (issue 9): each misbehaviour a public site can show, served by a
//! local wiremock server on 127.0.0.1, and the bounded behaviour that answers it.
//! No test asserts on elapsed time: each checks a cap, an error kind or that other
//! work still got done.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, watch};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use yuqing::classify::Classifier;
use yuqing::config::Config;
use yuqing::ledger::Ledger;
use yuqing::model::Item;
use yuqing::pipeline::Pipeline;
use yuqing::sources::{FailureKind, FetchError, Ingested, Intake, PollError};
use yuqing::store::Store;

/// `feeds.toml` with one feed source per `(id, path)`, and `extra` appended.
fn feeds(base: &str, feeds: &[(&str, &str)], extra: &str) -> String {
    let mut out = String::new();
    for (id, at) in feeds {
        out.push_str(&format!(
            "[[source]]\nid = \"{id}\"\nname = \"测试源 {id}\"\nkind = \"feed\"\nurl = \"{base}{at}\"\ninterval = \"1m\"\n\n"
        ));
    }
    out + extra
}

struct Rig {
    config: Arc<Config>,
    store: Store,
    intake: Intake,
    items: mpsc::Receiver<Item>,
    _dir: tempfile::TempDir,
}

/// A daemon's intake over `feeds_toml`, with `[intake]` settings from `intake`.
fn rig(feeds_toml: &str, intake: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let dictionaries = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    std::fs::write(dir.path().join("feeds.toml"), feeds_toml).unwrap();
    let config_path = dir.path().join("yuqing.toml");
    std::fs::write(
        &config_path,
        format!(
            "data_dir = \"data\"\ndictionaries = {:?}\n\n[recipients]\nduty = [\"duty@example.org\"]\n\n\
             [intake]\ntimeout = \"5s\"\nconnect_timeout = \"2s\"\njitter = 0.0\n{intake}\n",
            dictionaries.display().to_string()
        ),
    )
    .unwrap();
    let config = Arc::new(Config::load(&config_path).unwrap());
    let store = Store::open(&config.data_dir).unwrap();
    let (tx, rx) = mpsc::channel(1024);
    let intake = Intake::new(&config, store.clone(), tx).unwrap();
    Rig {
        config,
        store,
        intake,
        items: rx,
        _dir: dir,
    }
}

fn rss(items: &[(String, String)]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>测试</title>\
         <link>http://example.org/</link><description>测试</description>\n",
    );
    for (guid, title) in items {
        out.push_str(&format!(
            "<item><title>{title}</title><guid>{guid}</guid></item>\n"
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

async fn serve(server: &MockServer, at: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn poll(rig: &Rig, id: &str) -> Result<Ingested, PollError> {
    rig.intake.poll_source(id, Utc::now()).await.unwrap().result
}

// ---------------------------------------------------------------- one source, many

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_title_and_a_flood_of_items_do_not_hold_up_another_source() {
    let server = MockServer::start().await;
    // 1.5 million characters of title that state a death toll at the start, then 599
    // more items: more than a poll takes.
    let huge = format!("某镇工地坍塌致3人死亡{}", "现场".repeat(750_000));
    let mut flood = vec![("huge".to_string(), huge.clone())];
    flood.extend((1..600).map(|i| (format!("f{i}"), format!("第{i}条普通消息"))));
    serve(
        &server,
        "/flood.xml",
        ResponseTemplate::new(200).set_body_raw(rss(&flood), "application/rss+xml"),
    )
    .await;
    serve(
        &server,
        "/county.xml",
        ResponseTemplate::new(200).set_body_raw(
            rss(&[("c1".into(), "景芝镇一居民楼发生火灾致2人死亡".into())]),
            "application/rss+xml",
        ),
    )
    .await;
    let toml = feeds(
        &server.uri(),
        &[("flood", "/flood.xml"), ("county", "/county.xml")],
        "",
    );
    let Rig {
        config,
        store,
        intake,
        items,
        _dir,
    } = rig(&toml, "max_items_per_poll = 500");

    let flooded = intake.poll_source("flood", Utc::now()).await.unwrap();
    let flooded = flooded.result.unwrap();
    assert_eq!((flooded.parsed, flooded.new), (600, 500));
    let county = intake.poll_source("county", Utc::now()).await.unwrap();
    assert_eq!(county.result.unwrap().new, 1);
    // The intake is done: its channel closes once the pipeline has taken everything.
    drop(intake);

    let classifier =
        Arc::new(Classifier::load(&config.dictionaries, &config.jurisdiction).unwrap());
    let ledger = Ledger::new(store.clone(), config.clone(), Arc::default());
    let pipeline = Pipeline::new(classifier, store.clone(), ledger, &config);
    let (_stop, stopping) = watch::channel(false);
    pipeline.run(items, stopping).await;

    assert_eq!(store.item_count(), 501);
    assert_eq!(store.pending_count(), 0);
    let county = store.item("county", "c1").unwrap().unwrap();
    let c = county
        .classification
        .expect("the other source's item is classified");
    assert!(c.flag && c.deaths == Some(2), "{c:?}");
    // The huge item was classified from its bounded start, figure included, and
    // stored whole.
    let huge_item = store.item("flood", "huge").unwrap().unwrap();
    assert_eq!(huge_item.title.chars().count(), huge.chars().count());
    let c = huge_item
        .classification
        .expect("the huge item is classified");
    assert_eq!(c.deaths, Some(3), "{c:?}");
}

#[tokio::test]
async fn a_feed_of_100000_items_is_cut_to_the_per_poll_cap() {
    let server = MockServer::start().await;
    let items: Vec<(String, String)> = (0..100_000)
        .map(|i| (i.to_string(), format!("t{i}")))
        .collect();
    serve(
        &server,
        "/big.xml",
        ResponseTemplate::new(200).set_body_raw(rss(&items), "application/rss+xml"),
    )
    .await;
    let mut rig = rig(&feeds(&server.uri(), &[("big", "/big.xml")], ""), "");
    assert_eq!(rig.config.intake.max_items_per_poll, 500, "the default");

    let done = poll(&rig, "big").await.unwrap();
    assert_eq!((done.parsed, done.new), (100_000, 500));
    assert_eq!(rig.store.item_count(), 500);
    let mut handed_on = Vec::new();
    while let Ok(item) = rig.items.try_recv() {
        handed_on.push(item.key);
    }
    // The first 500 in document order (feeds list the newest first).
    let first: Vec<String> = (0..500).map(|i| i.to_string()).collect();
    assert_eq!(handed_on, first);
}

// ---------------------------------------------------------------- documents

#[tokio::test]
async fn deeply_nested_html_is_a_source_error_not_a_stall() {
    let server = MockServer::start().await;
    let page = format!(
        "<html><body>{}<ul><li><a href=\"/1\">标题</a></li></ul></body></html>",
        "<div>".repeat(100_000)
    );
    serve(
        &server,
        "/list",
        ResponseTemplate::new(200).set_body_raw(page, "text/html; charset=utf-8"),
    )
    .await;
    let toml = format!(
        "[[source]]\nid = \"deep\"\nname = \"深\"\nkind = \"html\"\nurl = \"{}/list\"\ninterval = \"1m\"\n\
         item = \"ul li\"\ntitle = \"a\"\nlink = \"a@href\"\n",
        server.uri()
    );
    let rig = rig(&toml, "");
    let err = poll(&rig, "deep").await.unwrap_err();
    assert!(matches!(err, PollError::Parse(_)), "{err:?}");
    assert_eq!(err.kind(), FailureKind::Parse);
    assert!(err.to_string().contains("嵌套超过"), "{err}");
    assert_eq!(rig.store.item_count(), 0);
}

#[tokio::test]
async fn a_short_utf8_feed_with_bad_bytes_keeps_its_casualty_item() {
    let server = MockServer::start().await;
    let text = rss(&[
        ("a".into(), "某镇工地坍塌致3人死亡".into()),
        ("b".into(), "工地通报\u{0}".into()),
    ]);
    // Three stray bytes where the NUL was: a Latin-1 é and a cut character.
    let bytes: Vec<u8> = text
        .bytes()
        .flat_map(|b| {
            if b == 0 {
                vec![0xE9, 0xE5, 0xB7]
            } else {
                vec![b]
            }
        })
        .collect();
    serve(
        &server,
        "/rss.xml",
        ResponseTemplate::new(200).set_body_raw(bytes, "application/rss+xml"),
    )
    .await;
    let rig = rig(&feeds(&server.uri(), &[("news", "/rss.xml")], ""), "");
    let done = poll(&rig, "news").await.unwrap();
    assert_eq!(done.encoding, Some("UTF-8"));
    let item = rig.store.item("news", "a").unwrap().unwrap();
    assert_eq!(item.title, "某镇工地坍塌致3人死亡");
}

#[tokio::test]
async fn control_and_bidi_characters_are_stripped_at_intake() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/rss.xml",
        ResponseTemplate::new(200).set_body_raw(
            rss(&[(
                "x".into(),
                "\u{1b}[2J\u{7}\u{8}通知\u{202E}gpj.exe\u{202C}&#27;".into(),
            )]),
            "application/rss+xml",
        ),
    )
    .await;
    let rig = rig(&feeds(&server.uri(), &[("news", "/rss.xml")], ""), "");
    poll(&rig, "news").await.unwrap();
    let item = rig.store.item("news", "x").unwrap().unwrap();
    assert_eq!(item.title, "[2J通知gpj.exe");
}

// ---------------------------------------------------------------- HTTP

#[tokio::test]
async fn redirects_off_the_web_are_refused_and_named() {
    let server = MockServer::start().await;
    for (at, to) in [
        ("/to-file", "file:///etc/passwd"),
        ("/to-ftp", "ftp://127.0.0.1/feed.xml"),
    ] {
        serve(
            &server,
            at,
            ResponseTemplate::new(302).insert_header("Location", to),
        )
        .await;
    }
    let toml = feeds(
        &server.uri(),
        &[("file", "/to-file"), ("ftp", "/to-ftp")],
        "",
    );
    let rig = rig(&toml, "");
    for (id, scheme) in [("file", "file://"), ("ftp", "ftp://")] {
        let err = poll(&rig, id).await.unwrap_err();
        let PollError::Fetch(fetch @ FetchError::Redirect(_)) = &err else {
            panic!("{id}: {err:?}");
        };
        assert_eq!(fetch.kind(), FailureKind::Redirect);
        assert!(err.to_string().contains(scheme), "{id}: {err}");
    }
}

#[tokio::test]
async fn a_huge_retry_after_is_capped_and_shown_capped() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/rss.xml",
        // 11,574 days.
        ResponseTemplate::new(503).insert_header("Retry-After", "1000000000"),
    )
    .await;
    let rig = rig(
        &feeds(&server.uri(), &[("slow", "/rss.xml")], ""),
        "max_backoff = \"6h\"",
    );
    let now = Utc::now();
    let report = rig.intake.poll_source("slow", now).await.unwrap();
    let err = report.result.unwrap_err();
    let PollError::Fetch(fetch) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(fetch.retry_after(), Some(Duration::from_secs(6 * 3600)));
    assert!(err.to_string().contains("6h"), "{err}");
    assert!(!err.to_string().contains("11574"), "{err}");
    assert!(report.next_poll_at <= now + chrono::Duration::hours(6));
}

// ---------------------------------------------------------------- the CLI

#[tokio::test(flavor = "multi_thread")]
async fn feeds_check_into_a_closed_pipe_exits_quietly() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/rss.xml",
        ResponseTemplate::new(200).set_body_raw(
            rss(&[("a".into(), "某镇工地坍塌致3人死亡".into())]),
            "application/rss+xml",
        ),
    )
    .await;
    let rig = rig(&feeds(&server.uri(), &[("news", "/rss.xml")], ""), "");
    let config = rig.config.path.clone().expect("loaded from a file");
    let output = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_yuqing"))
            .args(["--config", &config.display().to_string(), "feeds", "check"])
            .env_remove("YUQING_CONFIG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // `| head -0`: the reader is gone before anything is written.
        drop(child.stdout.take());
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}
