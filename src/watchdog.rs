//! Liveness: the daemon's own check that it is not frozen, and systemd's watchdog.
//!
//! Two kinds of things report to a [`Liveness`] registry:
//! - **probes** beat when they make progress: `runtime` (the watchdog task itself is
//!   scheduled) and `store` (a flush through the store's single flusher completes —
//!   the sled freeze of issue 9 stops it);
//! - **tasks** ([`Task`]: intake scheduler, pipeline, deadline task, mail delivery,
//!   control API, digest schedule), each run through [`monitored`], are *busy* while
//!   their future is being polled, i.e. inside a step. An idle task (waiting for its
//!   next poll time, item, due entry, mail or request) is live however long it waits.
//!
//! The rule: a probe with no heartbeat, or a task busy without a break, for the whole
//! `[daemon] watchdog` time is *stale*. The watchdog task looks every quarter of that
//! time; a newly stale one is logged at ERROR once per episode (again at INFO when it
//! recovers) and raised to duty as a notice through the outbox
//! (`system/watchdog/<name>/<YYYYMMDDTHHMMSS>`, [`wedged_notice`]). Under systemd
//! (`Type=notify`, `$NOTIFY_SOCKET`), the daemon sends `READY=1` once started,
//! `WATCHDOG=1` only while nothing is stale (so systemd restarts a wedged daemon after
//! `WatchdogSec=`), and `STOPPING=1` at shutdown. When the wedged task is the mail
//! delivery itself, its own notice cannot go out: the systemd restart covers that case
//! (the notice stays queued and is sent after the restart).
//!
//! Not seen: a task that awaits a blocking job (`spawn_blocking`) which never ends is
//! idle as far as its future goes; the store probe catches the sled freeze, and the
//! classification a pipeline step runs is bounded by `[intake] max_text_bytes`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::HumanDuration;
use crate::model::{Notice, NoticeKey, NoticeKind, Timestamp};
use crate::store::Store;

/// A long-running task of `yuqing run`, followed by the watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Task {
    Intake,
    Pipeline,
    Deadlines,
    Mail,
    Api,
    Digest,
    Retention,
}

impl Task {
    /// Its name in logs, notice keys and `YUQING_TEST_WEDGE`.
    pub fn id(self) -> &'static str {
        match self {
            Task::Intake => "intake",
            Task::Pipeline => "pipeline",
            Task::Deadlines => "deadlines",
            Task::Mail => "mail",
            Task::Api => "api",
            Task::Digest => "digest",
            Task::Retention => "retention",
        }
    }
}

/// What a stale probe or task is called, and what stops while it is stuck, in Chinese.
fn describe(name: &str) -> (&'static str, &'static str) {
    match name {
        "intake" => ("信息源轮询", "信息源不再被轮询，新的舆情不会被发现"),
        "pipeline" => ("研判流水线", "新抓取的信息不再被研判，不会立案"),
        "deadlines" => (
            "时限任务",
            "签收、发布权威信息等时限的提醒、升级和超时通知不会发出",
        ),
        "mail" => (
            "邮件发送",
            "邮件不再发出（这封通知可能要等守护进程被 systemd 重启后才能送达）",
        ),
        "api" => ("控制接口", "值班人员的命令（签收、办结、导出等）无法执行"),
        "digest" => ("舆情日报定时任务", "舆情日报不会按时发出"),
        "retention" => ("数据保留清理", "过期的常规信息不再被清理，数据库会持续增大"),
        "store" => ("数据库写入", "所有变更都无法写入磁盘"),
        _ => ("运行时", "守护进程整体停滞"),
    }
}

/// The heartbeat registry.
#[derive(Default)]
pub struct Liveness {
    beats: Mutex<BTreeMap<&'static str, Instant>>,
    /// Tasks inside a step, and since when.
    busy: Mutex<BTreeMap<&'static str, Instant>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain maps of instants: a panic while holding the lock cannot break them.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Liveness {
    /// Records progress of `probe` now.
    pub fn beat(&self, probe: &'static str) {
        lock(&self.beats).insert(probe, Instant::now());
    }

    /// Marks `task` busy until the guard is dropped.
    fn busy(&self, task: Task) -> Busy<'_> {
        lock(&self.busy).insert(task.id(), Instant::now());
        Busy {
            liveness: self,
            task,
        }
    }

    /// Probes with no heartbeat, and tasks busy without a break, for `limit` or longer.
    pub fn stale(&self, limit: Duration) -> Vec<&'static str> {
        let now = Instant::now();
        let old = |map: &BTreeMap<&'static str, Instant>| -> Vec<&'static str> {
            map.iter()
                .filter(|(_, at)| now.duration_since(**at) >= limit)
                .map(|(name, _)| *name)
                .collect()
        };
        let mut stale = old(&lock(&self.beats));
        stale.extend(old(&lock(&self.busy)));
        stale
    }
}

/// A task inside a step; dropping it ends the step.
struct Busy<'a> {
    liveness: &'a Liveness,
    task: Task,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        lock(&self.liveness.busy).remove(self.task.id());
    }
}

/// Runs `task`'s future, marking the task busy while the future is polled: a poll that
/// does not return (a blocked thread, a loop that never yields) leaves it busy, and the
/// watchdog reports it once it has been busy for `[daemon] watchdog`.
pub fn monitored<F: Future>(
    liveness: Arc<Liveness>,
    task: Task,
    future: F,
) -> impl Future<Output = F::Output> {
    let mut future = Box::pin(future);
    let wedged = test_wedge(task);
    std::future::poll_fn(move |cx| {
        if wedged {
            // Busy from the first poll on, never returning: see `test_wedge`.
            std::mem::forget(liveness.busy(task));
            return Poll::Pending;
        }
        let _busy = liveness.busy(task);
        future.as_mut().poll(cx)
    })
}

/// Test hook, compiled into debug builds only (release builds have none):
/// `YUQING_TEST_WEDGE=<task id>` makes that task hang in its first step, so the
/// integration tests can watch the watchdog report it.
#[cfg(debug_assertions)]
fn test_wedge(task: Task) -> bool {
    std::env::var("YUQING_TEST_WEDGE").is_ok_and(|v| v == task.id())
}

#[cfg(not(debug_assertions))]
fn test_wedge(_: Task) -> bool {
    false
}

/// The notice to duty about a stale probe or task `name`, detected at `at`.
pub fn wedged_notice(name: &str, at: Timestamp, limit: HumanDuration, to: Vec<String>) -> Notice {
    let (what, stopped) = describe(name);
    Notice {
        key: NoticeKey::Watchdog {
            task: name.to_string(),
            since: at.with_timezone(&crate::time::ZONE).naive_local(),
        }
        .to_string(),
        to,
        created_at: at,
        kind: NoticeKind::Bulletin {
            subject: format!("【系统告警】守护进程的{what}（{name}）停滞"),
            paragraphs: vec![
                format!(
                    "守护进程的{what}（{name}）超过 {limit}（[daemon] watchdog）没有进展，可能已卡死；{} 发现。",
                    crate::time::local(at)
                ),
                format!("在它恢复之前：{stopped}。"),
                "守护进程已停止向 systemd 报告心跳，systemd 会在 WatchdogSec 之后重启它；如果没有重启，或重启后再次出现，请查看错误日志并交给维护人员。".into(),
            ],
            commands: vec![
                ("查看运行状态".into(), "yuqing status".into()),
                (
                    "查看错误日志".into(),
                    "journalctl -u yuqing -p err --since \"1 hour ago\"".into(),
                ),
            ],
        },
    }
}

/// Sends a state to systemd when `$NOTIFY_SOCKET` is set (the sd_notify datagram
/// protocol); does nothing otherwise. Failures are logged, never fatal.
pub fn sd_notify(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    #[cfg(unix)]
    {
        use std::os::unix::net::UnixDatagram;
        let sent = UnixDatagram::unbound().and_then(|sock| {
            let bytes = socket.as_encoded_bytes();
            #[cfg(target_os = "linux")]
            if let Some(name) = bytes.strip_prefix(b"@") {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                return sock.send_to_addr(state.as_bytes(), &addr);
            }
            sock.send_to(state.as_bytes(), std::path::Path::new(&socket))
        });
        if let Err(err) = sent {
            tracing::warn!(error = %err, state, "cannot notify systemd");
        }
    }
    #[cfg(not(unix))]
    let _ = (socket, state);
}

/// How often to ping systemd: half of `$WATCHDOG_USEC` when set.
fn systemd_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    Some(Duration::from_micros(usec) / 2)
}

/// Runs the probes and the check until `stop` resolves; stale probes and tasks are
/// reported to `duty` through the store's outbox.
pub async fn run(
    store: Store,
    liveness: Arc<Liveness>,
    limit: HumanDuration,
    duty: Vec<String>,
    stop: impl Future<Output = ()>,
) {
    let period = limit.as_duration() / 4;
    let period = systemd_interval().map_or(period, |sd| sd.min(period));
    liveness.beat("runtime");
    liveness.beat("store");
    let mut flushing: Option<tokio::task::JoinHandle<()>> = None;
    let mut reported: Vec<&'static str> = Vec::new();
    tokio::pin!(stop);
    loop {
        liveness.beat("runtime");
        // One flush probe at a time: a hung one stays hung and goes stale.
        if flushing.as_ref().is_none_or(|h| h.is_finished()) {
            let (store, liveness) = (store.clone(), liveness.clone());
            flushing = Some(tokio::spawn(async move {
                if store.flush().await.is_ok() {
                    liveness.beat("store");
                }
            }));
        }
        let stale = liveness.stale(limit.as_duration());
        for probe in stale.iter().filter(|p| !reported.contains(p)) {
            tracing::error!(
                probe,
                limit = %limit,
                "no progress within the watchdog time; the daemon may be frozen"
            );
            let notice = wedged_notice(probe, chrono::Utc::now(), limit, duty.clone());
            let store = store.clone();
            // On a blocking thread: a frozen store must not freeze this loop too.
            tokio::task::spawn_blocking(move || {
                if let Err(err) = store.enqueue_notice(&notice) {
                    tracing::error!(key = notice.key, error = %err, "cannot queue the watchdog notice");
                }
            });
        }
        for probe in reported.iter().filter(|p| !stale.contains(p)) {
            tracing::info!(probe, "making progress again");
        }
        if stale.is_empty() {
            sd_notify("WATCHDOG=1");
        }
        reported = stale;
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(period) => {}
        }
    }
    if let Some(probe) = flushing {
        probe.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_probe_without_heartbeats_goes_stale_and_recovers() {
        let liveness = Liveness::default();
        let limit = Duration::from_secs(120);
        liveness.beat("store");
        liveness.beat("runtime");
        tokio::time::advance(Duration::from_secs(60)).await;
        liveness.beat("runtime");
        assert!(liveness.stale(limit).is_empty());
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(liveness.stale(limit), ["store"]);
        liveness.beat("store");
        assert!(liveness.stale(limit).is_empty());
    }

    /// A task is stale only while one step (one poll) lasts the whole limit; waiting
    /// between steps, however long, is not a lack of progress.
    #[tokio::test(start_paused = true)]
    async fn a_task_is_stale_only_when_one_step_lasts_the_limit() {
        let liveness = Arc::new(Liveness::default());
        let limit = Duration::from_secs(120);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let seen = liveness.clone();
        let task = tokio::spawn(monitored(liveness.clone(), Task::Pipeline, async move {
            let mut busy_inside = Vec::new();
            while rx.recv().await.is_some() {
                // Inside a step, the task is marked busy (stale at once with limit 0).
                busy_inside.push(seen.stale(Duration::ZERO).contains(&"pipeline"));
            }
            busy_inside
        }));
        tokio::time::advance(Duration::from_secs(600)).await;
        assert!(
            liveness.stale(limit).is_empty(),
            "idle for 10 minutes is fine"
        );
        tx.send(()).await.unwrap();
        tokio::task::yield_now().await;
        assert!(
            liveness.stale(Duration::ZERO).is_empty(),
            "a finished step leaves no mark"
        );
        drop(tx);
        assert_eq!(task.await.unwrap(), [true]);

        // A step that does not end: live until the limit, stale from then on.
        let busy = liveness.busy(Task::Mail);
        tokio::time::advance(Duration::from_secs(119)).await;
        assert!(liveness.stale(limit).is_empty());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(liveness.stale(limit), ["mail"]);
        drop(busy);
        assert!(
            liveness.stale(limit).is_empty(),
            "the step ended: live again"
        );
    }

    #[test]
    fn the_notice_names_the_task_what_stops_and_what_to_do() {
        let at: Timestamp = "2026-11-24T02:00:05Z".parse().unwrap();
        let notice = wedged_notice(
            "mail",
            at,
            HumanDuration::from_secs(120),
            vec!["duty@example.org".into()],
        );
        assert_eq!(notice.key, "system/watchdog/mail/20261124T100005");
        assert_eq!(
            notice.key.parse::<NoticeKey>().unwrap().to_string(),
            notice.key
        );
        let NoticeKind::Bulletin {
            subject,
            paragraphs,
            commands,
        } = notice.kind
        else {
            panic!("a bulletin")
        };
        assert_eq!(subject, "【系统告警】守护进程的邮件发送（mail）停滞");
        let text = paragraphs.join("\n");
        assert!(
            text.contains("超过 2m（[daemon] watchdog）没有进展"),
            "{text}"
        );
        assert!(text.contains("2026-11-24 10:00"), "Beijing time: {text}");
        assert!(text.contains("systemd"), "{text}");
        assert!(commands.iter().any(|(_, c)| c.starts_with("journalctl")));
    }
}
