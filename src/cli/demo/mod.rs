//! `yuqing demo [--dir 目录]`: the whole chain on one laptop, offline, in about two
//! minutes.
//!
//! The demo writes a site into `--dir` (default `demo/`: `yuqing.toml`, `feeds.toml`,
//! `data/`, `mail/`), serves four sources from memory on 127.0.0.1 ([`sources`]: a news
//! feed with an accident report and the reposts that follow, the county government's
//! official feed, `role = "official"`, which publishes its 情况通报 later, a JSON
//! 领导留言板 with reply states and a GBK 网上留言 page), runs a local SMTP server
//! ([`smtp`]) that keeps every mail under `mail/`, and runs the daemon in this process
//! with `[smtp]` pointing at it and a compressed policy (签收 40 s, 发布权威信息 1 min,
//! 效果评估 1 min, the JSON board's answers due in 90 s). It narrates in Chinese what
//! happens and acts like a duty officer through the real control API (the CLI's
//! client): 签收 after the escalation, a digest sent by hand at the end. It also plays
//! the other sides: the government publishes, the board answers one post in time and
//! one late. Then it stops the daemon and exits 0.
//!
//! Safety: `--dir` must be empty, missing, or a previous demo's folder (it holds the
//! marker file [`MARKER`]); only then are its `data/` and `mail/` replaced.

mod smtp;
mod sources;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::{CliError, DemoArgs};
use crate::api::client::Client;
use crate::api::replies::ReplyView;
use crate::api::views::{AckRequest, IncidentDetail, IncidentView, ListQuery};
use crate::config::Config;
use crate::digest::{DigestReport, SendOutcome};
use crate::model::{IncidentId, Milestone, NoticeKey, ReplyStep, Verdict};
use crate::replies::ReplyState;
use smtp::Mailbox;
use sources::{BOARD, LATE_POST, PROMPT_POST, Sources};

/// The file that marks a folder as the demo's own.
pub const MARKER: &str = ".yuqing-demo";
/// The whole script must end within this (the promise is three minutes).
const LIMIT: Duration = Duration::from_secs(170);
/// How often the script looks at the ledger and the mails received.
const TICK: Duration = Duration::from_millis(500);

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
    dir.canonicalize().map_err(|e| fail("无法读取演示目录", e))
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

/// The demo's `yuqing.toml`: the shipped defaults with a compressed policy, and mail
/// through the demo's SMTP server.
fn settings(port: u16, smtp_port: u16, dictionaries: &Path) -> String {
    format!(
        "# yuqing demo: written by `yuqing demo`; the policy is compressed (minutes, not hours).\n\
         feeds = \"feeds.toml\"\ndictionaries = {:?}\ndata_dir = \"data\"\n\n\
         [api]\nbind = \"127.0.0.1:{port}\"\n\n\
         # The demo's own SMTP server on 127.0.0.1; it keeps every mail under mail/.\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"none\"\n\
         from = \"安丘市舆情值班室 <yuqing@demo.invalid>\"\ntimeout = \"5s\"\n\n\
         [recipients]\nduty = [\"zhiban@demo.invalid\"]\npropaganda = [\"xuanchuan@demo.invalid\"]\n\
         office = [\"bangongshi@demo.invalid\"]\nleaders = [\"lingdao@demo.invalid\"]\n\n\
         [policy]\nack = \"40s\"\nstatement = \"1m\"\npress = \"3m\"\nresponse = \"1m\"\n\
         remind_at = [{}, {}]\noverdue_repeat = \"1m\"\neffect_window = \"{}s\"\n\n\
         [intake]\njitter = 0.0\n",
        dictionaries.display().to_string(),
        f64::from(REMIND_AT[0]) / 100.0,
        f64::from(REMIND_AT[1]) / 100.0,
        EFFECT_WINDOW.as_secs(),
    )
}

/// The demo's `feeds.toml`: the news feed, the county's official feed and two boards,
/// configured as docs/replies.md shows.
fn feeds(base: &str) -> String {
    format!(
        "[[source]]\nid = \"demo-news\"\nname = \"潍坊本地新闻（演示）\"\nkind = \"feed\"\n\
         url = \"{base}/news.xml\"\ninterval = \"10s\"\n\n\
         [[source]]\nid = \"demo-gov\"\nname = \"安丘市人民政府（演示）\"\nkind = \"feed\"\n\
         url = \"{base}/gov.xml\"\ninterval = \"10s\"\nlocal = true\nrole = \"official\"\n\n\
         # A JSON board API with reply states; the demo's answers are due in {reply}s.\n\
         [[source]]\nid = \"{BOARD}\"\nname = \"领导留言板（演示）\"\nkind = \"json\"\n\
         url = \"{base}/board/api/threads\"\ninterval = \"10s\"\nlocal = true\n\
         items = \"/responseData\"\nitem_id = \"/tid\"\ntitle = \"/subject\"\nbody = \"/content\"\n\
         date = \"/dateline\"\nlink = \"http://liuyan.demo.invalid/thread?tid={{id}}\"\n\
         reply_status = \"/status\"\nreply_date = \"/replyTime\"\n\
         replied = [\"已办理\", \"已回复\"]\nreply_within = \"{reply}s\"\n\n\
         # An older GBK list page; its encoding is declared only in a <meta> tag.\n\
         [[source]]\nid = \"demo-liuyan\"\nname = \"安丘市人民政府 网上留言（演示）\"\nkind = \"html\"\n\
         url = \"{base}/liuyan/list.asp\"\ninterval = \"10s\"\nlocal = true\n\
         item = \"table.liuyan tr.row\"\ntitle = \"td.title a\"\nlink = \"td.title a@href\"\n\
         date = \"td.date\"\nreply_status = \"td.state\"\n\
         replied = [\"已办理\", \"已回复\", \"已办结\"]\nreply_within = \"72h\"\n",
        reply = REPLY_WITHIN.as_secs(),
    )
}

/// The narration: one line per event, with the Beijing time.
fn say(text: &str) {
    println!("[{}] {text}", local_time(Utc::now()));
}

/// The demo's `remind_at`: the first step is the reminder (提醒), the second the
/// escalation (督办).
const REMIND_AT: [u8; 2] = [50, 80];
/// The demo's `effect_window`.
const EFFECT_WINDOW: Duration = Duration::from_secs(60);
/// The JSON board's `reply_within`.
const REPLY_WITHIN: Duration = Duration::from_secs(90);

/// What a mail is, for the narration (from its `X-Yuqing-Notice` key).
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
        Ok(NoticeKey::Reply { source, key, step }) => match step {
            ReplyStep::Reminder(percent) => {
                format!("留言答复提醒邮件：{source} 留言 {key} 的答复期限已过 {percent}%")
            }
            ReplyStep::Overdue(n) => {
                format!("留言超期邮件：{source} 留言 {key} 已超过答复期限（第 {n} 次）")
            }
        },
        Ok(NoticeKey::Digest { .. }) => "舆情日报邮件".to_string(),
        _ => match key
            .strip_prefix("calendar/")
            .and_then(|rest| rest.strip_suffix("/missing"))
        {
            Some(year) => format!("系统通知邮件：缺少 {year} 年的节假日安排表"),
            None => format!("系统通知邮件（{key}）"),
        },
    }
}

/// The running script: the mails narrated so far and the clock.
struct Watch {
    mailbox: Arc<Mailbox>,
    seen: usize,
    keys: Vec<String>,
    started: Instant,
}

impl Watch {
    /// Narrates every mail the SMTP server received since the last look.
    fn look(&mut self) {
        let received = self.mailbox.received();
        for mail in received.iter().skip(self.seen) {
            let key = mail.key.as_deref().unwrap_or_default();
            let to = match mail.to.as_slice() {
                [one] => one.clone(),
                [first, rest @ ..] => format!("{first} 等 {} 人", rest.len() + 1),
                [] => String::new(),
            };
            say(&format!(
                "  ✉ {}，发给 {to}（mail/{}）",
                describe(key),
                mail.file
            ));
            self.keys.push(key.to_string());
        }
        self.seen = received.len();
    }

    /// Waits until `check` gives a value, narrating mails meanwhile (the event first,
    /// then the mails it caused).
    async fn until<T, F>(&mut self, what: &str, mut check: F) -> Result<T, CliError>
    where
        F: AsyncFnMut(&Watch) -> Option<T>,
    {
        loop {
            if let Some(value) = check(self).await {
                return Ok(value);
            }
            self.look();
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
    let sources = Sources::new(Utc::now());
    let (stop_sources, sources_stop) = oneshot::channel();
    let base = sources.serve(sources_stop).await?;
    let (stop_smtp, smtp_stop) = oneshot::channel();
    let (smtp_addr, mailbox) = smtp::serve(&dir.join("mail"), smtp_stop)
        .await
        .map_err(|e| CliError::failed(format!("无法在 127.0.0.1 上启动演示邮件服务器：{e}")))?;
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
    write(
        "yuqing.toml",
        settings(port, smtp_addr.port(), &dictionaries()),
    )?;
    write("feeds.toml", feeds(&base))?;
    let config = Config::resolve(Some(&dir.join("yuqing.toml")))?;

    say(&format!(
        "演示开始：四个信息源在 {base} 上提供（本地新闻 RSS、安丘市人民政府官方发布、\
         JSON 领导留言板、GBK 编码的网上留言页），演示配置在 {}",
        dir.join("yuqing.toml").display()
    ));
    say(&format!(
        "邮件服务器在 smtp://{smtp_addr}，收到的邮件按到达顺序存为 {} 下的 .eml 文件。",
        dir.join("mail").display()
    ));
    say(&format!(
        "时限已压缩：签收 40 秒，发布权威信息 1 分钟，时限过 {}% 提醒、过 {}% 督办，\
         效果评估窗口 {} 秒，领导留言板的答复期限 {} 秒。",
        REMIND_AT[0],
        REMIND_AT[1],
        EFFECT_WINDOW.as_secs(),
        REPLY_WITHIN.as_secs()
    ));
    let (stop_daemon, daemon_stop) = oneshot::channel::<()>();
    let daemon = tokio::spawn(crate::daemon::run_until(config.clone(), async move {
        let _ = daemon_stop.await;
        "demo finished"
    }));
    say("守护进程已在本进程内启动，开始轮询。");

    let mut watch = Watch {
        mailbox,
        seen: 0,
        keys: Vec::new(),
        started,
    };
    let outcome = drive(&config, &mut watch, &sources).await;

    let _ = stop_daemon.send(());
    let stopped = daemon.await;
    let _ = stop_sources.send(());
    let _ = stop_smtp.send(());
    watch.look();
    outcome?;
    match stopped {
        Ok(Ok(())) => {}
        Ok(Err(err)) => return Err(CliError::failed(format!("守护进程出错：{err:#}"))),
        Err(err) => return Err(CliError::failed(format!("守护进程意外结束：{err}"))),
    }
    say(&format!(
        "演示结束，用时 {} 秒。邮件服务器共收到 {} 封邮件，按到达顺序存在 {} 下（.eml 文件，\
         可用任何邮件客户端打开）；台账数据在 {}。",
        started.elapsed().as_secs(),
        watch.keys.len(),
        dir.join("mail").display(),
        dir.join("data").display()
    ));
    Ok(())
}

/// The duty officer's side of the demo, through the control API, and the other sides
/// (the government, the board) through the sources.
async fn drive(config: &Config, watch: &mut Watch, sources: &Sources) -> Result<(), CliError> {
    // The token file appears once the daemon has bound its API.
    let client = watch
        .until("控制接口启动", async |_| {
            Client::from_config(config).ok()
        })
        .await?;
    let id = incident(watch, &client).await?;
    boards(watch, &client).await?;

    watch
        .until("签收提醒", async |w| {
            w.has_reminder(id, Milestone::Ack, REMIND_AT[0])
                .then_some(())
        })
        .await?;
    for follow_up in &sources::FOLLOW_UPS {
        sources.publish_news(*follow_up);
    }
    say(&format!(
        "网上讨论升温：本地新闻又发出 {} 篇转载和追问，等待下一次轮询归入事件 #{id}。",
        sources::FOLLOW_UPS.len()
    ));
    let subject = sources.answer(PROMPT_POST, Utc::now());
    say(&format!(
        "领导留言板答复了留言「{subject}」（状态改为 已办理，在答复期限内）。"
    ));

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

    statement(watch, &client, sources, id).await?;
    late_reply(watch, &client, sources).await?;
    digest(watch, &client).await
}

/// Waits for the accident's incident and narrates it; returns its id.
async fn incident(watch: &mut Watch, client: &Client) -> Result<IncidentId, CliError> {
    let incident: IncidentView = watch
        .until("事件立案", async |_| {
            let (list, _): (Vec<IncidentView>, usize) =
                client.list(&ListQuery::default()).await.ok()?;
            list.into_iter()
                .find(|incident| incident.title.contains(sources::NEWS_TITLE))
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
    Ok(id)
}

/// The tracked board posts (`GET /v1/replies?all=true`).
async fn tracked(client: &Client) -> Option<Vec<ReplyView>> {
    client.get_json("/v1/replies?all=true").await.ok()
}

/// Waits until both boards' posts are tracked and lists them.
async fn boards(watch: &mut Watch, client: &Client) -> Result<(), CliError> {
    let posts = watch
        .until("留言板首次轮询", async |_| {
            let posts = tracked(client).await?;
            let boards: std::collections::BTreeSet<&str> =
                posts.iter().map(|post| post.source.as_str()).collect();
            (boards.len() == 2).then_some(posts)
        })
        .await?;
    say(&format!(
        "两个留言板的 {} 条留言已开始答复跟踪（与 yuqing replies --all 相同）：",
        posts.len()
    ));
    for post in &posts {
        say(&format!(
            "  {}｜{}｜答复期限 {}｜{}",
            post.state.chinese(),
            post.source,
            local_time(post.due_at),
            post.title
        ));
    }
    Ok(())
}

/// The government publishes its 情况通报; the response is recognised, one more report
/// follows, and the effect verdict comes at the end of the window.
async fn statement(
    watch: &mut Watch,
    client: &Client,
    sources: &Sources,
    id: IncidentId,
) -> Result<(), CliError> {
    watch
        .until("发布权威信息提醒", async |w| {
            w.has_reminder(id, Milestone::Statement, REMIND_AT[0])
                .then_some(())
        })
        .await?;
    sources.publish_statement();
    say(&format!(
        "安丘市人民政府官方发布《{}》，等待下一次轮询。",
        sources::STATEMENT_TITLE
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
    sources.publish_news(sources::AFTER);
    say(&format!(
        "通报之后，本地新闻只有 1 篇跟进报道；{} 秒的效果评估窗口结束时比较通报前后的报道数。",
        EFFECT_WINDOW.as_secs()
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
    Ok(())
}

/// The board answers the late post only after its overdue notice; the daemon sees
/// the reply after the due time and counts it late.
async fn late_reply(watch: &mut Watch, client: &Client, sources: &Sources) -> Result<(), CliError> {
    let late = LATE_POST.to_string();
    let subject = sources.subject(LATE_POST);
    watch
        .until("留言超期通知", async |w| {
            w.has_key(|key| {
                matches!(key, NoticeKey::Reply { source, key, step: ReplyStep::Overdue(_) }
                    if source == BOARD && *key == late)
            })
            .then_some(())
        })
        .await?;
    sources.answer(LATE_POST, Utc::now());
    say(&format!(
        "超期之后，领导留言板才答复留言「{subject}」（状态改为 已办理，附答复时间）。"
    ));
    let post = watch
        .until("留言答复", async |_| {
            tracked(client).await?.into_iter().find(|post| {
                post.source == BOARD && post.key == late && post.state == ReplyState::Replied
            })
        })
        .await?;
    let replied_at = post.replied_at.unwrap_or(post.due_at);
    say(&format!(
        "留言「{}」已答复：答复时间 {}，答复期限 {}，超期 {} 秒答复，计为超期答复。",
        post.title,
        local_time(replied_at),
        local_time(post.due_at),
        (replied_at - post.due_at).num_seconds()
    ));
    Ok(())
}

/// Today's digest (Beijing day, up to now): its 留言答复 figures, then sent by hand.
async fn digest(watch: &mut Watch, client: &Client) -> Result<(), CliError> {
    let today = crate::time::local_date(Utc::now()).format("%Y-%m-%d");
    let report: DigestReport = client
        .get_json(&format!("/v1/digest?date={today}"))
        .await
        .map_err(|e| CliError::failed(format!("无法生成日报：{e}")))?;
    // As the digest shows it: 66.7%, 100%.
    let rate = |rate: Option<f64>| {
        rate.map_or("—".to_string(), |r| {
            let text = format!("{:.1}", r * 100.0);
            format!("{}%", text.strip_suffix(".0").unwrap_or(&text))
        })
    };
    for board in &report.replies.boards {
        say(&format!(
            "日报【留言答复】{}：留言 {} 条，已答复 {} 条，按时 {} 条，答复率 {}，按时答复率 {}。",
            board.name,
            board.posts,
            board.replied,
            board.on_time,
            rate(board.reply_rate),
            rate(board.on_time_rate)
        ));
    }
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
            w.keys.contains(&sent.key).then_some(())
        })
        .await?;
    Ok(())
}

/// A time in Beijing time for the narration: the time of day, with the date when it
/// is not today.
fn local_time(ts: DateTime<Utc>) -> String {
    let local = ts.with_timezone(&crate::time::ZONE);
    if local.date_naive() == crate::time::local_date(Utc::now()) {
        local.format("%H:%M:%S").to_string()
    } else {
        local.format("%m月%d日 %H:%M").to_string()
    }
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
            (
                "reply/demo-board/25489103/80",
                "留言答复提醒邮件：demo-board 留言 25489103 的答复期限已过 80%",
            ),
            (
                "reply/demo-board/25489103/overdue/1",
                "留言超期邮件：demo-board 留言 25489103 已超过答复期限（第 1 次）",
            ),
            ("digest/2026-11-24", "舆情日报邮件"),
            (
                "calendar/2027/missing",
                "系统通知邮件：缺少 2027 年的节假日安排表",
            ),
            ("nonsense", "系统通知邮件（nonsense）"),
        ] {
            assert_eq!(describe(key), says, "{key}");
        }
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
        assert!(prepared.join("data").is_dir() && prepared.join("mail").is_dir());
        // A second run reuses the demo's own folder.
        std::fs::write(prepared.join("mail/old.eml"), "old").unwrap();
        prepare(&fresh).unwrap();
        assert!(!prepared.join("mail/old.eml").exists());
    }
}
