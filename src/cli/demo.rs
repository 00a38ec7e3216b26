//! `yuqing demo [--dir 目录]`: the whole chain on one laptop, offline, in about a
//! minute and a half.
//!
//! The demo writes a site into `--dir` (default `demo/`: `yuqing.toml`, `feeds.toml`,
//! `data/`, `mail/`), serves two sources from memory on 127.0.0.1 (a news feed with an
//! accident report, and the county government's official feed, `role = "official"`,
//! which publishes its 情况通报 later), runs the daemon in this process with a
//! compressed policy (签收 40 s, 发布权威信息 1 min, 效果评估 30 s) and no `[smtp]`, so
//! every mail is written as an `.eml` file by the daemon's own outbox-folder transport
//! (`data/outbox` is a link to `mail/`). It narrates in Chinese what happens and acts
//! like a duty officer through the real control API (the CLI's client): 签收 after the
//! first reminder, a digest sent by hand at the end. Then it stops the daemon and exits 0.
//!
//! This module is the one place outside `sources` that serves HTTP: the demo's sources,
//! a fixture. It never fetches anything itself.
//!
//! Safety: `--dir` must be empty, missing, or a previous demo's folder (it holds the
//! marker file [`MARKER`]); only then are its `data/` and `mail/` replaced.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::{CliError, DemoArgs};
use crate::api::client::Client;
use crate::api::views::{AckRequest, IncidentDetail, IncidentView, ListQuery};
use crate::config::Config;
use crate::digest::SendOutcome;
use crate::model::{IncidentId, Milestone, NoticeKey, Verdict};

/// The file that marks a folder as the demo's own.
pub const MARKER: &str = ".yuqing-demo";
/// The whole script must end within this (the promise is three minutes).
const LIMIT: Duration = Duration::from_secs(170);
/// How often the script looks at the ledger and the mail folder.
const TICK: Duration = Duration::from_millis(500);

const NEWS_TITLE: &str = "安丘市景芝镇一烟花爆竹仓库发生爆炸 已致11人死亡";
const NEWS_BODY: &str = "今天上午10时许，安丘市景芝镇一烟花爆竹经营企业的仓库突然发生爆炸，\
    附近多间民房门窗受损。据现场救援人员介绍，爆炸已造成11人死亡、6人受伤，伤者已送往医院救治。\
    有网友发帖称爆炸声数公里外都能听到，当地消防、应急部门已赶赴现场处置。";
const STATEMENT_TITLE: &str = "关于景芝镇烟花爆竹仓库爆炸事故的情况通报";
const STATEMENT_BODY: &str = "安丘市人民政府通报：今天上午，景芝镇一烟花爆竹经营企业仓库发生爆炸，\
    经核实，事故造成11人死亡、6人受伤，伤者均已送医救治，无生命危险。事故原因正在调查，\
    涉事企业已停业，相关责任人已被控制，遇难者善后工作正有序开展。";

pub fn run(args: &DemoArgs) -> Result<(), CliError> {
    let dir = prepare(&args.dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(crate::daemon::BLOCKING_THREADS)
        .build()
        .map_err(|e| CliError::failed(format!("无法启动异步运行时：{e}")))?;
    let result = runtime.block_on(script(dir));
    runtime.shutdown_timeout(Duration::from_millis(500));
    result
}

/// Checks `dir` is the demo's to use and lays out a fresh site in it.
fn prepare(dir: &Path) -> Result<PathBuf, CliError> {
    let fail = |what: &str, e: std::io::Error| {
        CliError::failed(format!(
            "{what} {}：{}",
            dir.display(),
            crate::os_error::describe(&e)
        ))
    };
    if dir.exists() && !dir.join(MARKER).exists() {
        let empty = std::fs::read_dir(dir)
            .map_err(|e| fail("无法读取演示目录", e))?
            .next()
            .is_none();
        if !empty {
            return Err(CliError::usage(format!(
                "演示目录 {} 已存在且不是演示目录（缺少 {MARKER}）；请用 --dir 指定一个空目录或新目录",
                dir.display()
            )));
        }
    }
    for old in ["data", "mail"] {
        let path = dir.join(old);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|e| fail("无法清理上次演示的数据", e))?;
        }
    }
    std::fs::create_dir_all(dir.join("data")).map_err(|e| fail("无法创建演示目录", e))?;
    std::fs::create_dir_all(dir.join("mail")).map_err(|e| fail("无法创建演示目录", e))?;
    std::fs::write(dir.join(MARKER), "yuqing demo\n").map_err(|e| fail("无法写入", e))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| fail("无法读取演示目录", e))?;
    link_outbox(&dir).map_err(|e| fail("无法把发件目录链接到", e))?;
    Ok(dir)
}

/// The daemon writes mails to `<data_dir>/outbox`; the demo shows them in `mail/`.
#[cfg(unix)]
fn link_outbox(dir: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(dir.join("mail"), dir.join("data").join("outbox"))
}

#[cfg(not(unix))]
fn link_outbox(_dir: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "the demo links folders and needs Unix",
    ))
}

/// What the fixture server serves: the official feed's items appear when published.
#[derive(Clone)]
struct Fixture {
    news: Arc<String>,
    official: Arc<Mutex<Vec<FeedItem>>>,
}

#[derive(Clone)]
struct FeedItem {
    guid: &'static str,
    title: &'static str,
    body: &'static str,
    published: DateTime<Utc>,
}

/// An RSS 2.0 document of `items` (all text is the demo's own, escaped where needed).
fn rss(channel: &str, host: &str, items: &[FeedItem]) -> String {
    let items: String = items
        .iter()
        .map(|item| {
            format!(
                "<item><title>{}</title><link>http://{host}/{}.html</link><guid>{}</guid>\
                 <pubDate>{}</pubDate><description>{}</description></item>",
                item.title,
                item.guid,
                item.guid,
                item.published.to_rfc2822(),
                item.body
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>\
         <title>{channel}</title><link>http://{host}/</link><description>{channel}</description>\
         {items}</channel></rss>"
    )
}

async fn news_feed(State(fixture): State<Fixture>) -> impl IntoResponse {
    feed_response(fixture.news.to_string())
}

async fn official_feed(State(fixture): State<Fixture>) -> impl IntoResponse {
    let items = fixture
        .official
        .lock()
        .map(|items| items.clone())
        .unwrap_or_default();
    feed_response(rss("安丘市人民政府 政务公开", "gov.demo.invalid", &items))
}

fn feed_response(body: String) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/rss+xml; charset=utf-8")],
        body,
    )
}

/// Serves the two feeds on 127.0.0.1 (port 0) until `stop`.
async fn serve(fixture: Fixture, stop: oneshot::Receiver<()>) -> Result<String, CliError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| CliError::failed(format!("无法在 127.0.0.1 上提供演示信息源：{e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::failed(format!("无法读取演示信息源的端口：{e}")))?;
    let app = Router::new()
        .route("/news.xml", get(news_feed))
        .route("/gov.xml", get(official_feed))
        .with_state(fixture);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.await;
            })
            .await;
    });
    Ok(format!("http://{addr}"))
}

/// A free port on 127.0.0.1 for the control API (bound to port 0, then released).
fn free_port() -> Result<u16, CliError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| CliError::failed(format!("找不到可用的本机端口：{e}")))
}

/// The dictionaries of the checkout the demo runs in (`./dictionaries`), else of the
/// source tree it was built from.
fn dictionaries() -> PathBuf {
    let here = Path::new("dictionaries");
    match here.canonicalize() {
        Ok(path) if path.is_dir() => path,
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
    }
}

/// The demo's `yuqing.toml`: the shipped defaults with a compressed policy.
fn settings(port: u16, dictionaries: &Path) -> String {
    format!(
        "# yuqing demo: written by `yuqing demo`; the policy is compressed (minutes, not hours).\n\
         feeds = \"feeds.toml\"\ndictionaries = {:?}\ndata_dir = \"data\"\n\n\
         [api]\nbind = \"127.0.0.1:{port}\"\n\n\
         [recipients]\nduty = [\"zhiban@demo.invalid\"]\npropaganda = [\"xuanchuan@demo.invalid\"]\n\
         office = [\"bangongshi@demo.invalid\"]\nleaders = [\"lingdao@demo.invalid\"]\n\n\
         [policy]\nack = \"40s\"\nstatement = \"1m\"\npress = \"3m\"\nresponse = \"1m\"\n\
         remind_at = [{}, {}]\noverdue_repeat = \"1m\"\neffect_window = \"30s\"\n\n\
         [intake]\njitter = 0.0\n",
        dictionaries.display().to_string(),
        f64::from(REMIND_AT[0]) / 100.0,
        f64::from(REMIND_AT[1]) / 100.0,
    )
}

/// The demo's `feeds.toml`: the news feed and the county's official feed.
fn feeds(base: &str) -> String {
    format!(
        "[[source]]\nid = \"demo-news\"\nname = \"潍坊本地新闻（演示）\"\nkind = \"feed\"\n\
         url = \"{base}/news.xml\"\ninterval = \"10s\"\n\n\
         [[source]]\nid = \"demo-gov\"\nname = \"安丘市人民政府（演示）\"\nkind = \"feed\"\n\
         url = \"{base}/gov.xml\"\ninterval = \"10s\"\nlocal = true\nrole = \"official\"\n"
    )
}

/// The narration: one line per event, with the Beijing time.
fn say(text: &str) {
    println!("[{}] {text}", local_time(Utc::now()));
}

/// The demo's `remind_at`: the first step is the reminder (提醒), the second the
/// escalation (督办).
const REMIND_AT: [u8; 2] = [50, 80];

/// What a mail in the folder is, for the narration (its `X-Yuqing-Notice` key).
fn describe(key: &str) -> String {
    match key.parse::<NoticeKey>() {
        Ok(NoticeKey::Opened { incident }) => format!("告警邮件：事件 #{incident} 立案通知"),
        Ok(NoticeKey::Reminder {
            incident,
            milestone,
            percent,
        }) => format!(
            "{}邮件：事件 #{incident}「{}」时限已过 {percent}%",
            if percent == REMIND_AT[0] {
                "提醒"
            } else {
                "督办"
            },
            milestone.chinese()
        ),
        Ok(NoticeKey::Overdue {
            incident,
            milestone,
            repeat,
        }) => format!(
            "超时邮件：事件 #{incident}「{}」已超时（第 {repeat} 次）",
            milestone.chinese()
        ),
        Ok(NoticeKey::Response { incident, n }) => {
            format!("回应识别邮件：事件 #{incident} 的官方回应 {n} 已识别")
        }
        Ok(NoticeKey::EffectRising { incident }) => {
            format!("效果评估邮件：事件 #{incident} 回应后讨论仍在上升")
        }
        Ok(NoticeKey::Digest { .. }) => "舆情日报邮件".to_string(),
        _ => format!("系统通知邮件（{key}）"),
    }
}

/// The `X-Yuqing-Notice` header of an `.eml` file.
fn notice_key(eml: &str) -> Option<&str> {
    eml.lines()
        .take_while(|line| !line.trim_end().is_empty())
        .find_map(|line| line.strip_prefix("X-Yuqing-Notice: "))
        .map(str::trim)
}

/// The running script: the mail folder's keys seen so far and the clock.
struct Watch {
    mail: PathBuf,
    seen: BTreeSet<PathBuf>,
    keys: Vec<String>,
    started: Instant,
}

impl Watch {
    /// Narrates every mail that appeared since the last look.
    fn look(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.mail) else {
            return;
        };
        let mut new: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml") && !self.seen.contains(p))
            .collect();
        new.sort();
        for path in new {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let Some(key) = notice_key(&text) else {
                continue;
            };
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            say(&format!("  ✉ {}（mail/{name}）", describe(key)));
            self.keys.push(key.to_string());
            self.seen.insert(path);
        }
    }

    /// Waits until `check` gives a value, narrating mails meanwhile.
    async fn until<T, F>(&mut self, what: &str, mut check: F) -> Result<T, CliError>
    where
        F: AsyncFnMut(&Watch) -> Option<T>,
    {
        loop {
            self.look();
            if let Some(value) = check(self).await {
                return Ok(value);
            }
            if self.started.elapsed() > LIMIT {
                return Err(CliError::failed(format!(
                    "演示超时：等待「{what}」超过 {} 秒；守护进程的情况见 yuqing status",
                    LIMIT.as_secs()
                )));
            }
            tokio::time::sleep(TICK).await;
        }
    }

    /// Whether the step at `step` percent of `wanted`'s window was mailed.
    fn has_reminder(&self, id: IncidentId, wanted: Milestone, step: u8) -> bool {
        self.has_key(|key| {
            matches!(key, NoticeKey::Reminder { incident, milestone, percent }
                if *incident == id && *milestone == wanted && *percent == step)
        })
    }

    fn has_key(&self, wanted: impl Fn(&NoticeKey) -> bool) -> bool {
        self.keys
            .iter()
            .any(|key| key.parse::<NoticeKey>().is_ok_and(|key| wanted(&key)))
    }
}

async fn script(dir: PathBuf) -> Result<(), CliError> {
    let started = Instant::now();
    let fixture = Fixture {
        news: Arc::new(rss(
            "潍坊本地新闻",
            "news.demo.invalid",
            &[FeedItem {
                guid: "news-1",
                title: NEWS_TITLE,
                body: NEWS_BODY,
                published: Utc::now(),
            }],
        )),
        official: Arc::default(),
    };
    let (stop_sources, sources_stop) = oneshot::channel();
    let base = serve(fixture.clone(), sources_stop).await?;
    let port = free_port()?;
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).map_err(|e| {
            CliError::failed(format!(
                "无法写入 {}：{}",
                dir.join(name).display(),
                crate::os_error::describe(&e)
            ))
        })
    };
    write("yuqing.toml", settings(port, &dictionaries()))?;
    write("feeds.toml", feeds(&base))?;
    let config = Config::resolve(Some(&dir.join("yuqing.toml")))?;

    say(&format!(
        "演示开始：两个信息源在 {base} 上提供（本地新闻 RSS、安丘市人民政府官方发布），演示配置在 {}",
        dir.join("yuqing.toml").display()
    ));
    say(&format!(
        "时限已压缩：签收 40 秒，发布权威信息 1 分钟，时限过 {}% 提醒、过 {}% 督办，效果评估窗口 30 秒。",
        REMIND_AT[0], REMIND_AT[1]
    ));
    let (stop_daemon, daemon_stop) = oneshot::channel::<()>();
    let daemon = tokio::spawn(crate::daemon::run_until(config.clone(), async move {
        let _ = daemon_stop.await;
        "demo finished"
    }));
    say("守护进程已在本进程内启动，开始轮询。");

    let mut watch = Watch {
        mail: dir.join("mail"),
        seen: BTreeSet::new(),
        keys: Vec::new(),
        started,
    };
    let outcome = drive(&config, &mut watch, &fixture).await;

    let _ = stop_daemon.send(());
    let stopped = daemon.await;
    let _ = stop_sources.send(());
    watch.look();
    outcome?;
    match stopped {
        Ok(Ok(())) => {}
        Ok(Err(err)) => return Err(CliError::failed(format!("守护进程出错：{err:#}"))),
        Err(err) => return Err(CliError::failed(format!("守护进程意外结束：{err}"))),
    }
    say(&format!(
        "演示结束，用时 {} 秒。共写出 {} 封邮件，在 {} 下（.eml 文件，可用任何邮件客户端打开）；\
         台账数据在 {}。",
        started.elapsed().as_secs(),
        watch.keys.len(),
        dir.join("mail").display(),
        dir.join("data").display()
    ));
    Ok(())
}

/// The duty officer's side of the demo, through the control API.
async fn drive(config: &Config, watch: &mut Watch, fixture: &Fixture) -> Result<(), CliError> {
    // The token file appears once the daemon has bound its API.
    let client = watch
        .until("控制接口启动", async |_| {
            Client::from_config(config).ok()
        })
        .await?;
    let incident: IncidentView = watch
        .until("事件立案", async |_| {
            let (list, _): (Vec<IncidentView>, usize) =
                client.list(&ListQuery::default()).await.ok()?;
            list.into_iter().next()
        })
        .await?;
    let id = incident.id;
    say(&format!(
        "台账立案：事件 #{id}「{}」，{}，专题：{}，牵头单位：{}。",
        incident.title,
        crate::format::level(incident.level, crate::format::LevelStyle::Tag),
        incident
            .topics
            .iter()
            .map(|topic| crate::model::topic_name(topic))
            .collect::<Vec<_>>()
            .join("、"),
        incident.unit.as_deref().unwrap_or("未定")
    ));
    for deadline in &incident.deadlines {
        say(&format!(
            "  时限：{} 截止 {}",
            deadline.milestone.chinese(),
            local_time(deadline.due_at)
        ));
    }

    watch
        .until("签收督办", async |w| {
            w.has_reminder(id, Milestone::Ack, REMIND_AT[1])
                .then_some(())
        })
        .await?;
    let request = AckRequest {
        by: "演示值班员".into(),
        note: Some("已电话联系景芝镇核实".into()),
    };
    client
        .ack(id, &request)
        .await
        .map_err(|e| CliError::failed(format!("签收失败：{e}")))?;
    say(&format!(
        "值班员通过控制接口签收事件 #{id}（与 yuqing ack {id} --by 演示值班员 相同）。"
    ));

    watch
        .until("发布权威信息提醒", async |w| {
            w.has_reminder(id, Milestone::Statement, REMIND_AT[0])
                .then_some(())
        })
        .await?;
    if let Ok(mut items) = fixture.official.lock() {
        items.push(FeedItem {
            guid: "gov-1",
            title: STATEMENT_TITLE,
            body: STATEMENT_BODY,
            published: Utc::now(),
        });
    }
    say(&format!(
        "安丘市人民政府官方发布《{STATEMENT_TITLE}》，等待下一次轮询。"
    ));

    let response = watch
        .until("官方回应识别", async |_| {
            let detail: IncidentDetail = client.show(id).await.ok()?;
            detail.incident.responses.into_iter().next()
        })
        .await?;
    say(&format!(
        "识别为事件 #{id} 的官方回应 {}：《{}》，完成节点：{}（{}）。",
        response.n,
        response.title,
        response.milestone.map_or("无（续报）", Milestone::chinese),
        response.by
    ));

    let effect = watch
        .until("效果评估", async |_| {
            let detail: IncidentDetail = client.show(id).await.ok()?;
            detail
                .effect
                .filter(|effect| effect.verdict != Verdict::Pending)
        })
        .await?;
    say(&format!(
        "效果评估（窗口 {}）：{}（回应前 {} 条，回应后 {} 条）。",
        effect.window,
        effect.verdict.chinese(),
        effect.before,
        effect.after
    ));

    // Today's digest (Beijing day, up to now), so it holds the demo's incident.
    let today = crate::time::local_date(Utc::now()).format("%Y-%m-%d");
    let sent: SendOutcome = client
        .post_json(
            &format!("/v1/digest/send?date={today}"),
            &serde_json::json!({}),
        )
        .await
        .map_err(|e| CliError::failed(format!("日报发送失败：{e}")))?;
    say(&format!(
        "手动发送今日舆情日报（与 yuqing digest --date {today} --send 相同）：{}",
        sent.subject
    ));
    watch
        .until("日报邮件", async |w| {
            w.has_key(|k| matches!(k, NoticeKey::Digest { .. }))
                .then_some(())
        })
        .await?;
    Ok(())
}

/// A time of day in Beijing time, for the narration.
fn local_time(ts: DateTime<Utc>) -> String {
    ts.with_timezone(&crate::time::ZONE)
        .format("%H:%M:%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mails_are_named_by_their_notice_key() {
        for (key, says) in [
            ("3/opened", "告警邮件：事件 #3 立案通知"),
            ("3/ack/50", "提醒邮件：事件 #3「签收」时限已过 50%"),
            (
                "3/statement/80",
                "督办邮件：事件 #3「发布权威信息」时限已过 80%",
            ),
            ("3/responses/1", "回应识别邮件：事件 #3 的官方回应 1 已识别"),
            ("digest/2026-11-24", "舆情日报邮件"),
            ("nonsense", "系统通知邮件（nonsense）"),
        ] {
            assert_eq!(describe(key), says, "{key}");
        }
    }

    #[test]
    fn the_notice_key_is_read_from_the_headers_only() {
        let eml = "Subject: x\r\nX-Yuqing-Notice: 1/opened\r\n\r\nX-Yuqing-Notice: 9/opened\r\n";
        assert_eq!(notice_key(eml), Some("1/opened"));
        assert_eq!(notice_key("Subject: x\r\n\r\nbody"), None);
    }

    #[test]
    fn a_folder_that_is_not_the_demos_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let err = prepare(dir.path()).unwrap_err();
        assert_eq!(err.code, 2, "{err}");
        assert!(dir.path().join("notes.txt").exists());
        let fresh = dir.path().join("demo");
        let prepared = prepare(&fresh).unwrap();
        assert!(prepared.join(MARKER).exists());
        assert!(prepared.join("data/outbox").is_dir());
        // A second run reuses the demo's own folder.
        std::fs::write(prepared.join("mail/old.eml"), "old").unwrap();
        prepare(&fresh).unwrap();
        assert!(!prepared.join("mail/old.eml").exists());
    }
}
