//! Retention end to end: a feed served by wiremock on 127.0.0.1 is polled into an
//! on-disk store, its items age past `[retention] routine_items` and are swept, and the
//! feed, still listing them, is polled again: nothing comes back as new; an edited
//! item does. No test touches the internet; none asserts on elapsed time.

use std::path::Path;

use chrono::Utc;
use tokio::sync::mpsc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use yuqing::config::{Config, load_sources_str};
use yuqing::sources::Intake;
use yuqing::store::Store;

fn rss(items: &[(&str, &str)]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>县新闻</title><link>http://example.org/</link><description>测试</description>\n",
    );
    for (guid, body) in items {
        out.push_str(&format!(
            "<item><title>县里新闻{guid}</title><link>http://example.org/{guid}.html</link><guid>{guid}</guid>\
             <description>{body}</description></item>\n"
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

fn config(dir: &Path, base: &str) -> Config {
    let feeds = format!(
        "[[source]]\nid = \"news\"\nname = \"县新闻\"\nkind = \"feed\"\nurl = \"{base}/rss.xml\"\ninterval = \"1m\"\n"
    );
    Config {
        data_dir: dir.to_path_buf(),
        sources: load_sources_str(&feeds, Path::new("feeds.toml")).unwrap(),
        ..Config::default()
    }
}

async fn serve(server: &MockServer, items: &[(&str, &str)]) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/rss.xml"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(rss(items), "application/rss+xml"))
        .mount(server)
        .await;
}

/// Polls once at `now`; returns how many items were new.
async fn poll(config: &Config, store: &Store, now: chrono::DateTime<Utc>) -> usize {
    let (tx, _rx) = mpsc::channel(64);
    let intake = Intake::new(config, store.clone(), tx).unwrap();
    let done = intake
        .poll_source("news", now)
        .await
        .unwrap()
        .result
        .unwrap();
    done.new
}

#[tokio::test]
async fn a_swept_item_still_listed_by_its_feed_is_not_taken_in_again() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &server.uri());
    let store = Store::open(&config.data_dir).unwrap();
    let items = [("a1", "冬季供暖通知。"), ("a2", "道路维修公告。")];
    serve(&server, &items).await;

    let long_ago = Utc::now() - chrono::Duration::days(120);
    assert_eq!(poll(&config, &store, long_ago).await, 2);
    for (key, _) in items {
        // Through the pipeline: classified routine, no incident.
        store.item_done("news", key).unwrap();
    }
    let now = Utc::now();
    let report = store
        .sweep_routine_items(now - chrono::Duration::days(90), now, || {})
        .unwrap();
    assert_eq!(report.removed, 2);
    assert_eq!(store.item_count(), 0);
    assert_eq!(store.item("news", "a1").unwrap(), None);

    // The feed still lists both: nothing is new.
    assert_eq!(poll(&config, &store, now).await, 0);
    assert_eq!(store.item_count(), 0);
    assert_eq!(store.pending_count(), 0, "nothing goes to the pipeline");

    // One of them edited: taken in again, as any edit is.
    serve(&server, &[("a1", "冬季供暖通知（更正）。"), items[1]]).await;
    assert_eq!(poll(&config, &store, now).await, 1);
    assert_eq!(store.item_count(), 1);
    assert_eq!(
        store.item("news", "a1").unwrap().unwrap().body,
        "冬季供暖通知（更正）。"
    );

    // And the ledger survives a restart with the swept records.
    store.flush().await.unwrap();
    drop(store);
    let store = Store::open(&config.data_dir).unwrap();
    assert_eq!(poll(&config, &store, Utc::now()).await, 0);
}
