//! End to end: the real `yuqing run` daemon on a temporary data directory and a free
//! port, polling one local feed served by wiremock, driven through the real binary's
//! duty-officer commands. Checks JSON shapes, exit codes, tokens, concurrent acks,
//! refusals, and that SIGTERM stops the daemon cleanly.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const EXPLOSION: &str = "安丘市景芝镇一化工厂发生爆炸 造成3人死亡";
const WAGES: &str = "安丘市一建筑工地拖欠农民工工资 数十名工人聚集讨薪";
const FIRE: &str = "安丘市兴安街道一居民楼发生火灾 致2人受伤";

mod common;
use common::daemon::{Daemon, Site, rss};

/// How long to wait for the daemon to come up and to ingest the feed.
const PATIENCE: Duration = Duration::from_secs(90);

fn yuqing(config: &Path) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("yuqing"));
    command
        .arg("--config")
        .arg(config)
        .env_remove("YUQING_TOKEN")
        .env_remove("YUQING_CONFIG")
        .env_remove("NO_COLOR");
    command
}

#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {self:?}"))
    }
}

fn output(mut command: Command) -> Out {
    let out = command.output().expect("run yuqing");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run(config: &Path, args: &[&str]) -> Out {
    let mut command = yuqing(config);
    command.args(args);
    output(command)
}

/// Runs a command that must succeed.
fn ok(config: &Path, args: &[&str]) -> Out {
    let out = run(config, args);
    assert_eq!(out.code, 0, "yuqing {args:?} failed: {out:?}");
    out
}

/// Runs a command that must fail with `code`, saying `needle` in one line on stderr.
fn refused(config: &Path, args: &[&str], code: i32, needle: &str) -> Out {
    let out = run(config, args);
    assert_eq!(out.code, code, "yuqing {args:?}: {out:?}");
    assert!(out.stderr.contains(needle), "yuqing {args:?}: {out:?}");
    assert!(out.stdout.is_empty(), "yuqing {args:?}: {out:?}");
    out
}

/// A deployment of the real binary whose daemon polls `feed_url`.
fn site(feed_url: &str) -> Site {
    let dictionaries = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    Site::new(
        &assert_cmd::cargo::cargo_bin("yuqing"),
        &dictionaries,
        feed_url,
        "",
    )
}

/// Waits until `check` returns a value, or fails with the daemon's log.
fn wait_for<T>(daemon: &mut Daemon, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        daemon.assert_running(&format!("waiting for {what}"));
        assert!(
            start.elapsed() < PATIENCE,
            "gave up waiting for {what}:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn incident_titled<'a>(list: &'a Value, title: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|i| i["title"].as_str().is_some_and(|t| t.contains(title)))
}

fn assert_incident_shape(incident: &Value) {
    for key in [
        "id",
        "title",
        "level",
        "status",
        "topics",
        "unit",
        "event_at",
        "opened_at",
        "items",
        "deadlines",
    ] {
        assert!(incident.get(key).is_some(), "missing {key}: {incident}");
    }
    assert!(incident["id"].is_u64());
    assert!(
        ["I", "II", "III", "IV", "watch"].contains(&incident["level"].as_str().unwrap()),
        "{incident}"
    );
    assert!(incident["items"].is_u64(), "items is a count: {incident}");
    assert!(incident["topics"].is_array());
    for key in ["event_at", "opened_at"] {
        let text = incident[key].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|_| panic!("{key}: {text}"));
    }
    for deadline in incident["deadlines"].as_array().unwrap() {
        assert!(
            ["ack", "statement", "press", "response"]
                .contains(&deadline["milestone"].as_str().unwrap()),
            "{deadline}"
        );
        chrono::DateTime::parse_from_rfc3339(deadline["due_at"].as_str().unwrap()).unwrap();
        assert!(deadline["met_at"].is_null() || deadline["met_at"].is_string());
        assert!(
            ["pending", "met", "overdue", "missed"].contains(&deadline["state"].as_str().unwrap()),
            "{deadline}"
        );
    }
}

fn deadline<'a>(incident: &'a Value, milestone: &str) -> Option<&'a Value> {
    incident["deadlines"]
        .as_array()?
        .iter()
        .find(|d| d["milestone"] == milestone)
}

fn audit_by(detail: &Value, by: &str, action: &str) -> usize {
    detail["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["by"] == by && a["action"].as_str().is_some_and(|x| x.contains(action)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duty_officer_workflow_through_the_daemon() {
    let feed = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/rss+xml; charset=utf-8")
                .set_body_string(rss(&[("a1", EXPLOSION), ("b1", WAGES), ("c1", FIRE)])),
        )
        .mount(&feed)
        .await;
    let site = site(&format!("{}/feed.xml", feed.uri()));
    let config = site.config.clone();
    let cfg = config.as_path();
    let mut daemon = Daemon::start(&site, &[]);

    // The API comes up; the token file is private.
    let status = wait_for(&mut daemon, "the control API", || {
        let out = run(cfg, &["status", "--json"]);
        (out.code == 0).then(|| out.json())
    });
    assert_eq!(status["sources"][0]["id"], "local-news", "{status}");
    for key in ["outbox_pending", "dead_letters", "items", "open_incidents"] {
        assert!(status[key].is_u64(), "status.{key}: {status}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(site.data_dir().join("api.token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The feed is polled, classified, and three incidents open.
    let list = wait_for(&mut daemon, "three incidents", || {
        let list = ok(cfg, &["list", "--json"]).json();
        [EXPLOSION, WAGES, FIRE]
            .iter()
            .all(|t| incident_titled(&list, t).is_some())
            .then_some(list)
    });
    for incident in list.as_array().unwrap() {
        assert_incident_shape(incident);
    }
    let id_of = |title: &str| {
        incident_titled(&list, title).unwrap()["id"]
            .as_u64()
            .unwrap()
    };
    let (a, b, c) = (id_of(EXPLOSION), id_of(WAGES), id_of(FIRE));
    let (sa, sb, sc) = (a.to_string(), b.to_string(), c.to_string());
    let explosion = incident_titled(&list, EXPLOSION).unwrap();
    assert_eq!(explosion["status"], "new");
    assert_eq!(explosion["items"], 1);
    assert!(deadline(explosion, "ack").is_some(), "{explosion}");

    // The table, piped: Chinese headers, no colors.
    let table = ok(cfg, &["list"]).stdout;
    for header in [
        "编号",
        "等级",
        "状态",
        "标题",
        "责任单位",
        "下一时限",
        "剩余",
    ] {
        assert!(table.contains(header), "{table}");
    }
    assert!(table.contains("景芝镇"), "{table}");
    assert!(!table.contains('\x1b'), "no colors when piped: {table:?}");

    // Paging and filters (issue 16.5): the page keeps the list order and says how
    // many it left out; filters are answered by the daemon.
    let ids = |list: &Value| -> Vec<u64> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_u64().unwrap())
            .collect()
    };
    let page = ok(cfg, &["list", "--json", "--limit", "2"]).json();
    assert_eq!(ids(&page), ids(&list)[..2], "{page}");
    let short = ok(cfg, &["list", "--limit", "1"]).stdout;
    assert!(
        short.contains("还有 2 条，用 --limit 或 --since 查看"),
        "{short}"
    );
    assert!(
        !table.contains("还有"),
        "a full page says nothing more: {table}"
    );
    let new = ok(cfg, &["list", "--json", "--status", "new"]).json();
    assert_eq!(new.as_array().unwrap().len(), 3, "{new}");
    let closed = ok(cfg, &["list", "--json", "--status", "closed"]).json();
    assert_eq!(closed, Value::Array(Vec::new()));
    let level = explosion["level"].as_str().unwrap();
    let same_level = ok(cfg, &["list", "--json", "--level", level]).json();
    assert!(
        incident_titled(&same_level, EXPLOSION).is_some(),
        "{same_level}"
    );
    assert!(
        same_level
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["level"] == level),
        "{same_level}"
    );
    let later = ok(cfg, &["list", "--since", "2999-01-01"]).stdout;
    assert!(later.contains("没有符合条件的事件"), "{later}");
    let since = ok(cfg, &["list", "--json", "--since", "2000-01-01 00:00"]).json();
    assert_eq!(since.as_array().unwrap().len(), 3, "{since}");
    refused(cfg, &["list", "--since", "上周"], 2, "--since");
    refused(cfg, &["list", "--level", "V"], 2, "");
    let future = ok(cfg, &["export", "--since", "2999-01-01"]).stdout;
    let lines: Vec<Value> = future
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "nothing changed after 2999: {future}");
    assert_eq!(lines[0]["kind"], "export", "the header alone: {future}");

    // show: JSON with items and audit; the readable block.
    let detail = ok(cfg, &["show", &sa, "--json"]).json();
    assert_incident_shape(&detail);
    assert_eq!(detail["item_list"][0]["title"], EXPLOSION, "{detail}");
    assert_eq!(detail["item_list"][0]["source"], "local-news");
    assert!(!detail["audit"].as_array().unwrap().is_empty(), "{detail}");
    let block = ok(cfg, &["show", &sa]).stdout;
    for needle in [
        "时限",
        "条目",
        "操作记录",
        "本地新闻",
        "http://127.0.0.1/news/a1.html",
    ] {
        assert!(block.contains(needle), "missing {needle}:\n{block}");
    }
    // The daemon's own changes (opening the incident) read 系统, not the stored `system`.
    let audit = &block[block.find("操作记录").unwrap()..];
    assert!(
        audit.contains("  系统  ") && !audit.contains("system"),
        "{audit}"
    );

    // A wrong token: exit 2, nothing changed.
    let mut wrong = yuqing(cfg);
    wrong
        .args(["ack", &sa, "--by", "王五"])
        .env("YUQING_TOKEN", "0".repeat(64));
    let out = output(wrong);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("YUQING_TOKEN"), "{out:?}");
    let detail = ok(cfg, &["show", &sa, "--json"]).json();
    assert_eq!(detail["status"], "new");
    assert_eq!(audit_by(&detail, "王五", ""), 0, "{detail}");

    // Usage refusals (exit 2), checked before anything is sent.
    refused(cfg, &["ack", &sa, "--by", ""], 2, "--by");
    refused(cfg, &["ack", &sa, "--by", "   "], 2, "--by");
    refused(
        cfg,
        &["dismiss", &sb, "--by", "张三", "--reason", ""],
        2,
        "--reason",
    );
    refused(
        cfg,
        &["level", &sa, "V", "--by", "张三", "--reason", "核实"],
        2,
        "等级",
    );
    refused(
        cfg,
        &["level", &sa, "II", "--by", "张三", "--reason", " "],
        2,
        "--reason",
    );
    for at in [
        "明天下午",
        "2026-11-24",
        "2026-13-01 10:00",
        "2999-01-01 10:00",
    ] {
        refused(
            cfg,
            &["milestone", &sa, "response", "--by", "张三", "--at", at],
            2,
            "--at",
        );
    }
    refused(
        cfg,
        &[
            "milestone",
            &sa,
            "response",
            "--by",
            "张三",
            "--url",
            "not a url",
        ],
        2,
        "网址",
    );
    let out = run(cfg, &["ack", &sa]);
    assert_eq!(out.code, 2, "clap: --by is required: {out:?}");
    // Unknown ids (exit 1).
    refused(cfg, &["show", "99999"], 1, "99999");
    refused(cfg, &["ack", "99999", "--by", "张三"], 1, "99999");

    // Two officers ack at once: one wins, both are told, both are audited.
    let spawn_ack = |by: &str| {
        let mut command = yuqing(cfg);
        command
            .args(["ack", &sa, "--by", by])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command.spawn().expect("spawn ack")
    };
    let (first, second) = (spawn_ack("张三"), spawn_ack("李四"));
    let outs: Vec<_> = [first, second]
        .into_iter()
        .map(|child| child.wait_with_output().expect("ack output"))
        .collect();
    for out in &outs {
        assert!(out.status.success(), "{out:?}");
    }
    let texts: Vec<String> = outs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .collect();
    let won = texts.iter().filter(|t| t.contains("签收成功")).count();
    let told = texts.iter().filter(|t| t.contains("已签收")).count();
    assert_eq!((won, told), (1, 1), "{texts:?}");
    let detail = ok(cfg, &["show", &sa, "--json"]).json();
    assert_eq!(detail["status"], "acknowledged");
    assert_eq!(audit_by(&detail, "张三", "ack"), 1, "{detail}");
    assert_eq!(audit_by(&detail, "李四", "ack"), 1, "{detail}");
    assert!(deadline(&detail, "ack").unwrap()["met_at"].is_string());

    // Repeating is harmless and says so; several ids report one by one.
    let out = ok(cfg, &["ack", &sa, "--by", "张三", "--note", "再次确认"]);
    assert!(out.stdout.contains("已签收"), "{out:?}");
    let out = run(cfg, &["ack", &sb, "99999", "--by", "张三"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.contains(&format!("事件 {b}：签收成功")),
        "{out:?}"
    );
    assert!(out.stderr.contains("99999"), "{out:?}");

    // The README's walk: respond at III, then regrade to II. The incident is 已回应
    // only until the regrade opens the 5 h statement clock.
    ok(cfg, &["milestone", &sa, "response", "--by", "张三"]);
    assert_eq!(
        ok(cfg, &["show", &sa, "--json"]).json()["status"],
        "responded"
    );

    // Regrade to II: the statement and press clocks appear, audited with the reason.
    let out = ok(
        cfg,
        &[
            "level",
            &sa,
            "II",
            "--by",
            "张三",
            "--reason",
            "核实死亡人数后上调",
        ],
    );
    assert!(out.stdout.contains("II"), "{out:?}");
    let detail = ok(cfg, &["show", &sa, "--json"]).json();
    assert_eq!(detail["level"], "II");
    assert_eq!(detail["status"], "acknowledged", "the statement is open");
    let block = ok(cfg, &["show", &sa]).stdout;
    assert!(
        block.contains("已签收") && !block.contains("已回应"),
        "{block}"
    );
    // Closing now would leave the statement and press unmet: refused without a reason.
    let out = refused(cfg, &["close", &sa, "--by", "张三"], 1, "--reason");
    assert!(
        out.stderr.contains("发布权威信息") && out.stderr.contains("举行新闻发布会"),
        "{out:?}"
    );
    assert!(deadline(&detail, "statement").is_some(), "{detail}");
    assert!(deadline(&detail, "press").is_some(), "{detail}");
    assert!(
        detail["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "核实死亡人数后上调"),
        "{detail}"
    );

    // Record the statement at a Beijing wall time, the press conference in RFC 3339.
    let now = chrono::Utc::now();
    let earlier = (now - chrono::Duration::minutes(5))
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let out = ok(
        cfg,
        &[
            "milestone",
            &sa,
            "statement",
            "--by",
            "张三",
            "--url",
            "http://127.0.0.1/gov/notice-1.html",
            "--note",
            "市政府新闻办发布情况通报",
            "--at",
            &earlier,
        ],
    );
    assert!(out.stdout.contains("发布权威信息"), "{out:?}");
    let rfc = (now - chrono::Duration::minutes(1)).to_rfc3339();
    ok(
        cfg,
        &["milestone", &sa, "press", "--by", "张三", "--at", &rfc],
    );
    let detail = ok(cfg, &["show", &sa, "--json"]).json();
    let statement = deadline(&detail, "statement").unwrap();
    assert_eq!(statement["state"], "met", "{detail}");
    let met = chrono::DateTime::parse_from_rfc3339(statement["met_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        met.with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        earlier
    );
    assert_eq!(deadline(&detail, "press").unwrap()["state"], "met");
    assert_eq!(detail["status"], "responded");

    // Assign, dismiss, merge, close.
    ok(cfg, &["assign", &sa, "景芝镇人民政府", "--by", "张三"]);
    let detail = ok(cfg, &["show", &sa, "--json"]).json();
    assert_eq!(detail["unit"], "景芝镇人民政府");
    let of_unit = ok(cfg, &["list", "--json", "--unit", "景芝镇人民政府"]).json();
    assert_eq!(ids(&of_unit), [a], "{of_unit}");
    assert_eq!(audit_by(&detail, "张三", "assign"), 1, "{detail}");

    ok(
        cfg,
        &["dismiss", &sb, "--by", "张三", "--reason", "系外地旧闻"],
    );
    assert_eq!(
        ok(cfg, &["show", &sb, "--json"]).json()["status"],
        "dismissed"
    );
    // A transition not allowed: a milestone on a dismissed incident.
    refused(cfg, &["milestone", &sb, "response", "--by", "张三"], 1, "");

    let out = ok(cfg, &["merge", &sc, &sa, "--by", "张三"]);
    assert!(
        out.stdout.contains(&format!("事件 {c} 已并入事件 {a}")),
        "{out:?}"
    );
    assert_eq!(ok(cfg, &["show", &sc, "--json"]).json()["status"], "merged");
    assert_eq!(ok(cfg, &["show", &sa, "--json"]).json()["items"], 2);

    ok(cfg, &["close", &sa, "--by", "张三", "--note", "已处置完毕"]);
    let open = ok(cfg, &["list", "--json"]).json();
    assert!(incident_titled(&open, EXPLOSION).is_none(), "{open}");
    let all = ok(cfg, &["list", "--all", "--json"]).json();
    assert_eq!(
        incident_titled(&all, EXPLOSION).unwrap()["status"],
        "closed"
    );
    refused(cfg, &["milestone", &sa, "press", "--by", "张三"], 1, "");
    refused(
        cfg,
        &["close", &sa, "--by", "张三"],
        1,
        "已办结，无需重复办结",
    );

    // Export: CSV for Excel, JSON lines for backup.
    let mut csv = yuqing(cfg);
    csv.args(["export", "--format", "csv"]);
    let bytes = csv.output().expect("export csv").stdout;
    assert!(bytes.starts_with(b"\xef\xbb\xbf"), "UTF-8 BOM");
    let text = String::from_utf8(bytes).expect("UTF-8");
    assert!(text.contains("\r\n") && !text.replace("\r\n", "").contains('\n'));
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert!(
        lines[0].contains("编号") && lines[0].contains("签收时限"),
        "{text}"
    );
    assert_eq!(lines.len(), 1 + all.as_array().unwrap().len(), "{text}");
    let jsonl = ok(cfg, &["export"]).stdout;
    let (header, jsonl) = jsonl.split_once('\n').unwrap();
    let header: Value = serde_json::from_str(header).unwrap();
    assert_eq!(header["kind"], "export");
    assert!(header["since"].is_null(), "a full export: {header}");
    let exported: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(exported.len(), all.as_array().unwrap().len());
    // Incremental: at least every incident changed (`updated_at`) at or after --since,
    // each once (a notice or a clock step since may add others). (JSON shows whole
    // seconds, so every incident shown at or after the latest change is expected.)
    let changed = |i: &Value| {
        chrono::DateTime::parse_from_rfc3339(i["updated_at"].as_str().unwrap()).unwrap()
    };
    let last_change = exported.iter().map(changed).max().unwrap();
    let ids = |lines: &mut dyn Iterator<Item = &Value>| -> Vec<u64> {
        lines.map(|i| i["id"].as_u64().unwrap()).collect()
    };
    let expected = ids(&mut exported.iter().filter(|i| changed(i) >= last_change));
    let recent = ok(cfg, &["export", "--since", &last_change.to_rfc3339()]).stdout;
    let recent: Vec<Value> = recent
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recent[0]["kind"], "export");
    assert!(recent[0]["since"].is_string(), "{}", recent[0]);
    let got = ids(&mut recent[1..].iter());
    assert!(
        expected.iter().all(|id| got.contains(id)),
        "{last_change}: {got:?} lacks some of {expected:?}"
    );
    let mut once = got.clone();
    once.dedup();
    assert_eq!(once, got, "by id, each once");
    let mut csv_since = yuqing(cfg);
    csv_since.args(["export", "--format", "csv", "--since", "2999-01-01"]);
    let text = String::from_utf8(csv_since.output().unwrap().stdout).unwrap();
    assert_eq!(
        text.trim_end().split("\r\n").count(),
        1,
        "header only: {text}"
    );
    for line in &exported {
        assert_incident_shape(line);
        assert!(line["audit"].is_array() && line["item_list"].is_array());
    }

    // status as text.
    let report = ok(cfg, &["status"]).stdout;
    assert!(report.contains("守护进程运行中"), "{report}");
    assert!(report.contains("local-news"), "{report}");

    // A CLI pointed at another data directory has no token: daemon "not running".
    let elsewhere = site.dir.path().join("elsewhere.toml");
    std::fs::write(
        &elsewhere,
        std::fs::read_to_string(cfg)
            .unwrap()
            .replace("data_dir = \"data\"", "data_dir = \"other-data\""),
    )
    .unwrap();
    refused(&elsewhere, &["list"], 3, "守护进程未运行");

    // SIGTERM stops the daemon cleanly.
    let log = daemon.log.clone();
    let code = daemon.stop().code();
    assert_eq!(
        code,
        Some(0),
        "daemon exit after SIGTERM:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    refused(cfg, &["list"], 3, "守护进程未运行");
}

#[test]
fn no_daemon_means_exit_3() {
    let site = site("http://127.0.0.1:9/feed.xml");
    let port = site.port;
    // Never started: no token file.
    let out = refused(&site.config, &["status"], 3, "守护进程未运行");
    assert!(out.stderr.contains(&format!("127.0.0.1:{port}")), "{out:?}");
    // A token but nobody listening.
    std::fs::create_dir_all(site.data_dir()).unwrap();
    std::fs::write(site.data_dir().join("api.token"), "a".repeat(64)).unwrap();
    for args in [
        vec!["list"],
        vec!["show", "1"],
        vec!["ack", "1", "2", "--by", "张三"],
        vec!["export", "--format", "csv"],
    ] {
        refused(&site.config, &args, 3, "yuqing run");
    }
    // A usage mistake is still reported as one (exit 2), daemon or not.
    refused(&site.config, &["ack", "1", "--by", ""], 2, "--by");
}
