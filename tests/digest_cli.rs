//! `yuqing digest` against the control API's digest routes, served in this process
//! on 127.0.0.1 with a real ledger: preview in every format, `--send`, bad dates,
//! no daemon.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use yuqing::config::Config;
use yuqing::digest::{DigestReport, Keywords};
use yuqing::ledger::Ledger;
use yuqing::model::{Classification, Level, NoticeKind};
use yuqing::store::Store;

fn yuqing(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(assert_cmd::cargo::cargo_bin("yuqing"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("YUQING_TOKEN")
        .env_remove("YUQING_CONFIG")
        .output()
        .unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes a configuration whose API listens on `port`.
fn config_file(dir: &Path, port: u16) -> std::path::PathBuf {
    std::fs::write(dir.join("feeds.toml"), "").unwrap();
    let path = dir.join("yuqing.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = \"data\"\n[api]\nbind = \"127.0.0.1:{port}\"\n\
             [recipients]\nduty = [\"duty@localhost\"]\nleaders = [\"leader@localhost\"]\n"
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_command_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let path = config_file(dir.path(), port);
    let config = Arc::new(Config::load(&path).unwrap());

    // The daemon's side: ledger, token, API with the digest routes.
    let store = Store::open(&config.data_dir).unwrap();
    let ledger = Ledger::new(store.clone(), config.clone(), Arc::default());
    let now = chrono::Utc::now();
    store
        .upsert_item(
            "board",
            yuqing::parse::ParsedItem {
                key: "1".into(),
                title: "某小区<b>停水</b>三天 居民聚集".into(),
                link: None,
                body: "停水".into(),
                published: None,
                date_quality: None,
            },
            now,
        )
        .unwrap();
    store
        .set_classification(
            "board",
            "1",
            Classification {
                flag: true,
                topics: vec!["hardship".into()],
                severity: Some(Level::IV),
                local: true,
                unit: Some("市住建局".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let item = store.item("board", "1").unwrap().unwrap();
    ledger
        .ingest(&item, &["停水".to_string()], now)
        .unwrap()
        .unwrap();
    let token = yuqing::api::Token::load_or_create(&config.data_dir).unwrap();
    let keywords: Arc<Keywords> = Arc::new(|_: &str, _: usize| vec![("停水".to_string(), 1.0)]);
    let app = yuqing::api::router(
        yuqing::api::ApiState::new(store.clone(), ledger, config.clone(), token),
        yuqing::api::digest::routes(config.clone(), keywords),
    );
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });

    let today = yuqing::time::local_date(now).to_string();
    let cli = |args: Vec<String>| {
        let path = path.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                yuqing(&path, &args)
            })
            .await
            .unwrap()
        }
    };
    let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    // JSON: the report as the daemon built it.
    let out = cli(args(&["digest", "--date", &today, "--format", "json"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let report: DigestReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.period.date.to_string(), today);
    assert_eq!(report.counts.new_incidents, 1);
    assert_eq!(report.new_incidents[0].unit.as_deref(), Some("市住建局"));
    assert_eq!(report.top_terms[0].term, "停水");

    // Text (the default) and HTML render locally from that report.
    let out = cli(args(&["digest", "--date", &today])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("舆情日报") && text.contains("某小区<b>停水</b>三天"),
        "{text}"
    );
    let out = cli(args(&["digest", "--date", &today, "--format", "html"])).await;
    let html = stdout(&out);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("某小区&lt;b&gt;停水&lt;/b&gt;三天"));
    // Without --date: the last scheduled period.
    let out = cli(args(&["digest", "--format", "json"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let report: DigestReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report.period.end - report.period.start,
        chrono::Duration::hours(24)
    );

    // --send queues the mail under a manual key, beside the scheduled one.
    let out = cli(args(&["digest", "--date", &today, "--send"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("日报已加入发送队列"),
        "{}",
        stdout(&out)
    );
    let rows = store.outbox_pending(100).unwrap();
    let digests: Vec<_> = rows
        .iter()
        .filter(|(_, row)| matches!(row.notice.kind, NoticeKind::Digest { .. }))
        .collect();
    assert_eq!(digests.len(), 1);
    let key = &digests[0].1.notice.key;
    assert!(key.starts_with(&format!("digest/{today}/manual/")), "{key}");
    assert_eq!(digests[0].1.notice.to, ["leader@localhost"]);

    // Usage errors are caught before the daemon is asked.
    for bad in ["2026-13-01", "yesterday", "2999-01-01"] {
        let out = cli(args(&["digest", "--date", bad])).await;
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains("日期"), "{}", stderr(&out));
    }
}

#[test]
fn no_daemon_means_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = config_file(dir.path(), port);
    let out = yuqing(&path, &["digest"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}
