//! `/metrics` of the running daemon: scraped over HTTP after an incident opened,
//! checked with `promtool check metrics` (Prometheus' own linter; `.ci/run` installs
//! it) and for the figures the issue names.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::{Api, Daemon, Site, feed_server, free_port, incident_ids, tail};
use common::skip::require_or_skip;

const BIN: &str = env!("CARGO_BIN_EXE_yuqing");

/// The value of the sample written exactly `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_prometheus_metrics_that_promtool_accepts() {
    let feed = feed_server(&[
        ("a1", "安丘市景芝镇一化工厂发生爆炸 造成3人死亡"),
        ("b1", "安丘市举办秋季农民丰收节 展示特色农产品"),
    ])
    .await;
    let port = free_port();
    let site = Site::new(
        Path::new(BIN),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
        &format!("{}/feed.xml", feed.uri()),
        &format!("[metrics]\nbind = \"127.0.0.1:{port}\"\n"),
    );
    let mut daemon = Daemon::start(&site, &[]);
    let api = Api::connect(&site, &mut daemon).await;
    incident_ids(&api, &mut daemon, 1).await;

    // The pipeline counts the flagged item just before the ledger opens the incident.
    let url = format!("http://127.0.0.1:{port}/metrics");
    let start = Instant::now();
    let (content_type, text) = loop {
        let response = reqwest::get(&url).await.expect("GET /metrics");
        assert!(response.status().is_success(), "{}", response.status());
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        let text = response.text().await.unwrap();
        if value(&text, "yuqing_incidents_open{level=\"II\"}").unwrap_or(0.0)
            + value(&text, "yuqing_incidents_open{level=\"III\"}").unwrap_or(0.0)
            + value(&text, "yuqing_incidents_open{level=\"I\"}").unwrap_or(0.0)
            >= 1.0
        {
            break (content_type, text);
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no open incident in /metrics:\n{text}\n{}",
            tail(&daemon.log())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );

    let source = "{source=\"local-news\"}";
    assert_eq!(
        value(&text, &format!("yuqing_items_ingested_total{source}")),
        Some(2.0),
        "{text}"
    );
    assert!(value(&text, &format!("yuqing_items_flagged_total{source}")).unwrap() >= 1.0);
    assert_eq!(
        value(&text, &format!("yuqing_source_up{source}")),
        Some(1.0)
    );
    assert_eq!(
        value(&text, &format!("yuqing_poll_failures_total{source}")),
        Some(0.0)
    );
    assert!(
        value(
            &text,
            &format!("yuqing_poll_duration_seconds_count{source}")
        )
        .unwrap()
            >= 1.0
    );
    assert!(value(&text, "yuqing_classification_duration_seconds_count").unwrap() >= 2.0);
    assert_eq!(
        value(&text, "yuqing_deadlines_overdue{milestone=\"ack\"}"),
        Some(0.0)
    );
    assert!(value(&text, "yuqing_notices_queued{channel=\"mail\"}").is_some());
    assert!(value(&text, "yuqing_notices_sent_total{channel=\"mail\"}").is_some());
    assert!(value(&text, "yuqing_pipeline_backlog_items").is_some());
    assert!(text.contains("yuqing_build_info{version=\""));

    if let Some(out) = promtool(&["check", "metrics"], Some(&text)) {
        assert!(
            out.status.success(),
            "promtool check metrics failed:\n{}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "promtool lint findings:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    daemon.stop();
}

#[test]
fn the_example_alert_rules_are_valid() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/prometheus-alerts.yml");
    let rules = rules.to_string_lossy();
    if let Some(out) = promtool(&["check", "rules", &rules], None) {
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("3 rules found"),
            "promtool check rules:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs promtool with `args`, `stdin` piped in; `None` (after a note, or a failure
/// under CI) when promtool cannot run.
fn promtool(args: &[&str], stdin: Option<&str>) -> Option<std::process::Output> {
    use std::io::Write;
    let mut child = match Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            require_or_skip(
                &format!("promtool {}", args.join(" ")),
                &format!("promtool cannot run ({err}); install the Debian package prometheus"),
            );
            return None;
        }
    };
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write to promtool");
    }
    drop(input);
    Some(child.wait_with_output().expect("promtool output"))
}
