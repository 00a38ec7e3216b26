//! `yuqing run`: wiring and shutdown.
//!
//! Opens the store, starts the pipeline's tasks in one [`JoinSet`], waits for
//! SIGINT or SIGTERM, then stops: a `watch` signal tells every task to finish its
//! current step, the intake's item channel closes once the intake has stopped, the
//! consumer drains it and ends, and the store is flushed. Whatever is still running
//! after [`SHUTDOWN_GRACE`] is aborted (no step leaves the store inconsistent: a
//! poll interrupted before storing writes nothing, and sled writes are atomic).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::classify::Classifier;
use crate::clock::task::{DeadlineTask, TaskClock};
use crate::config::Config;
use crate::digest;
use crate::ledger::Ledger;
use crate::notify;
use crate::pipeline::Pipeline;
use crate::sources::Intake;
use crate::store::Store;
use crate::watchdog::{Liveness, Task, monitored};

/// Logs and tells duty (once per missing year) when the holiday table runs out soon.
fn warn_if_calendar_runs_out(
    calendar: &crate::calendar::Calendar,
    store: &Store,
    config: &Config,
) -> anyhow::Result<()> {
    let Some(notice) = calendar.expiry_notice(chrono::Utc::now(), config.recipients.duty.clone())
    else {
        return Ok(());
    };
    warn!(
        key = %notice.key,
        "official holiday table runs out within {} days; add the next year's file to dictionaries/calendar",
        crate::calendar::EXPIRY_WARNING_DAYS
    );
    store
        .enqueue_notice(&notice)
        .context("无法把节假日表到期提醒写入发信队列")?;
    Ok(())
}

/// How long tasks get to finish their current step after a stop signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(4500);

/// Threads for blocking work (parsing and storing a polled document, classifying an
/// item, sled reads for the control API and the digest). Beyond them blocking calls
/// wait their turn instead of each getting a thread (tokio's default allows 512: a
/// burst of 10,000 sources' first polls ran 527 threads). None of these calls waits
/// for another, so a full pool only queues work.
pub const BLOCKING_THREADS: usize = 32;

/// Items waiting between intake and the next stage. When full, the intake does not
/// wait: the items stay pending in the store and the pipeline reads them from there
/// (`Intake::spill_to_store`, src/pipeline.rs), so a burst never delays the next polls.
pub const ITEM_QUEUE: usize = 1024;

/// Runs the daemon until SIGINT or SIGTERM. Logging is set up by the caller. The
/// signals are taken from the first moment: one that arrives while the daemon is still
/// starting (opening the store, loading the dictionaries) stops it cleanly once it is
/// up, instead of killing it by the signal's default action.
pub async fn run(config: Config) -> anyhow::Result<()> {
    run_until(config, stop_signal()).await
}

/// Runs the daemon until `stop` completes (its output names the cause in the log):
/// `yuqing run` passes the signals, `yuqing demo` the end of its script.
pub async fn run_until(
    config: Config,
    stop_when: impl Future<Output = &'static str>,
) -> anyhow::Result<()> {
    let store = Store::open_with_cache(&config.data_dir, config.store.cache_bytes)
        .with_context(|| format!("无法打开数据目录 {}", config.data_dir.display()))?;
    // The store's lock is ours: temporary files of killed processes can go.
    crate::atomic_file::sweep(&config.data_dir);
    info!(
        data_dir = %config.data_dir.display(),
        config = ?config.path,
        sources = config.sources.len(),
        "yuqing daemon starting"
    );
    for source in config
        .sources
        .iter()
        .filter(|s| s.enabled && s.board_unmarked)
    {
        warn!(
            source = %source.id,
            "source looks like a message board but is not marked board = true: its posts are \
             decided by the news model, which misses many residents' posts; set board = true \
             (or board = false to silence this) in the sources file"
        );
    }

    let classifier = Arc::new(Classifier::load(
        &config.dictionaries,
        &config.jurisdiction,
    )?);
    let calendar = Arc::new(
        crate::calendar::Calendar::load(&config.dictionaries).context("无法读取官方节假日表")?,
    );
    warn_if_calendar_runs_out(&calendar, &store, &config)?;
    // The digest's top terms come from the classifier's TF-IDF keywords.
    let keywords: Arc<digest::Keywords> = {
        let classifier = classifier.clone();
        Arc::new(move |text: &str, n: usize| classifier.keywords(text, n))
    };
    let config = Arc::new(config);
    let (stop, stopping) = watch::channel(false);
    let (items_tx, items_rx) = mpsc::channel(ITEM_QUEUE);
    // The holiday table is loaded once, above, and shared with the reply tracking and
    // the document clocks.
    let intake = Intake::with_calendar(config.clone(), store.clone(), items_tx, Some(calendar))
        .context("无法启动信息源轮询")?;
    let spill = crate::sources::Spill::default();
    intake.spill_to_store(spill.clone());
    let ledger = Ledger::new(store.clone(), config.clone(), Arc::default());
    // Control API (src/api): the CLI's way to the ledger. Token and port are taken
    // now, so a daemon that cannot serve its CLI fails at start with the reason.
    let api = crate::api::Server::bind(store.clone(), ledger.clone(), config.clone())
        .await
        .context("无法启动控制接口")?
        .merge(crate::api::digest::routes(config.clone(), keywords.clone()))
        .merge(crate::api::replies::routes())
        .merge(crate::api::policies::routes());
    let pipeline =
        Pipeline::new(classifier, store.clone(), ledger.clone(), &config).with_spill(spill);

    // Every long-running task reports its steps to the watchdog (src/watchdog.rs).
    let liveness = Arc::new(Liveness::default());
    let mut tasks = JoinSet::new();
    let intake_stop = stopping.clone();
    tasks.spawn(monitored(liveness.clone(), Task::Intake, async move {
        intake.run(intake_stop).await;
        "intake"
    }));
    let deadlines = DeadlineTask::new(store.clone(), ledger.clone(), TaskClock::system())
        .with_replies(crate::clock::replies::ReplyClocks::new(
            store.clone(),
            config.clone(),
        ))
        .with_side_clocks(crate::clock::policies::DocumentClocks::new(
            store.clone(),
            config.clone(),
        ));
    let deadlines_stop = stopped(&stopping);
    tasks.spawn(monitored(liveness.clone(), Task::Deadlines, async move {
        deadlines.run(deadlines_stop).await;
        "deadline task"
    }));
    // Chat channels: each queued notice is also queued for its channels, and each
    // channel has a delivery worker; the store's outbox signal is relayed to all.
    store.route_to_channels(notify::channel::router(config.clone()));
    let (mut wakes, relaying) =
        notify::channel::relay(store.outbox_signal(), 1 + config.channels.len());
    let relay_stop = stopped(&stopping);
    tasks.spawn(async move {
        tokio::select! {
            () = relaying => {}
            () = relay_stop => {}
        }
        "delivery wake-ups"
    });
    let duty = crate::ledger::Routing::new(&config).duty();
    for channel_config in &config.channels {
        let channel = notify::channel::Channel::from_config(channel_config)
            .context("无法启动群机器人通知")?;
        let worker = notify::run_channel(
            store.clone(),
            channel,
            duty.clone(),
            notify::Backoff::default(),
            wakes.pop().unwrap_or_default(),
            stopped(&stopping),
        );
        tasks.spawn(async move {
            if let Err(err) = worker.await {
                error!(error = %err, "channel delivery stopped");
            }
            "channel delivery"
        });
    }
    let mail = notify::run(
        store.clone(),
        config.clone(),
        wakes.pop().unwrap_or_default(),
        stopped(&stopping),
    );
    tasks.spawn(monitored(liveness.clone(), Task::Mail, async move {
        if let Err(err) = mail.await {
            error!(error = %err, "mail delivery stopped");
        }
        "mail delivery"
    }));
    let pipeline_stop = stopping.clone();
    tasks.spawn(monitored(liveness.clone(), Task::Pipeline, async move {
        pipeline.run(items_rx, pipeline_stop).await;
        "classification"
    }));
    let daily = digest::run_scheduler(store.clone(), config.clone(), keywords, stopped(&stopping));
    tasks.spawn(monitored(liveness.clone(), Task::Digest, async move {
        daily.await;
        "digest schedule"
    }));
    if let Some(keep_for) = config.retention.routine_items.period() {
        let sweeper = crate::store::run_sweeper(
            store.clone(),
            keep_for,
            config.retention.sweep_every.as_duration(),
            stopped(&stopping),
        );
        tasks.spawn(monitored(liveness.clone(), Task::Retention, async move {
            sweeper.await;
            "retention sweep"
        }));
    }
    let api_stop = stopped(&stopping);
    tasks.spawn(monitored(liveness.clone(), Task::Api, async move {
        if let Err(err) = api.serve(api_stop).await {
            error!(error = %err, "control API stopped");
        }
        "control API"
    }));

    if let Some(metrics) = &config.metrics {
        let listener = tokio::net::TcpListener::bind(metrics.bind)
            .await
            .with_context(|| format!("无法在 {} 上提供指标接口（[metrics] bind）", metrics.bind))?;
        let serving =
            crate::metrics::serve(listener, store.clone(), config.clone(), stopped(&stopping));
        tasks.spawn(async move {
            if let Err(err) = serving.await {
                error!(error = %err, "metrics listener stopped");
            }
            "metrics"
        });
    }

    let watchdog = crate::watchdog::run(
        store.clone(),
        liveness.clone(),
        config.daemon.watchdog,
        crate::ledger::Routing::new(&config).duty(),
        stopped(&stopping),
    );
    tasks.spawn(async move {
        watchdog.await;
        "watchdog"
    });
    crate::watchdog::sd_notify("READY=1");
    info!("yuqing daemon ready");

    let early = tokio::select! {
        signal = stop_when => {
            info!(signal, "stop requested; shutting down");
            None
        }
        ended = tasks.join_next() => Some(ended),
    };
    if let Some(ended) = &early {
        error!(task = ?ended, "a daemon task ended on its own; shutting down");
    }

    crate::watchdog::sd_notify("STOPPING=1");
    let _ = stop.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(name) => info!(task = name, "stopped"),
                Err(err) => error!(error = %err, "task failed during shutdown"),
            }
        }
    })
    .await;
    if drained.is_err() {
        warn!(
            grace = ?SHUTDOWN_GRACE,
            "tasks still busy after the grace period; aborting them"
        );
        tasks.shutdown().await;
    }
    store.flush().await.context("退出前写入数据库失败")?;
    info!("yuqing daemon stopped");
    match early {
        Some(ended) => anyhow::bail!("守护进程的一个任务意外结束（{ended:?}）；请查看日志"),
        None => Ok(()),
    }
}

/// A future that completes when the stop signal is given.
fn stopped(stopping: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut stopping = stopping.clone();
    async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    }
}

/// SIGINT (Ctrl-C) or SIGTERM, whichever comes first. Not an `async fn`: the handlers
/// are installed when this is called, not when the future is first polled (after
/// start-up), so a signal during start-up is kept for then.
fn stop_signal() -> impl Future<Output = &'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => tokio::select! {
                    _ = interrupt.recv() => "SIGINT",
                    _ = terminate.recv() => "SIGTERM",
                },
                (Ok(mut interrupt), Err(err)) => {
                    warn!(error = %err, "cannot listen for SIGTERM; only SIGINT stops the daemon");
                    interrupt.recv().await;
                    "SIGINT"
                }
                (Err(err), Ok(mut terminate)) => {
                    warn!(error = %err, "cannot listen for SIGINT; only SIGTERM stops the daemon");
                    terminate.recv().await;
                    "SIGTERM"
                }
                (Err(err), Err(_)) => {
                    warn!(error = %err, "cannot listen for SIGINT or SIGTERM; the daemon stops only when killed");
                    std::future::pending().await
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let interrupt = tokio::signal::ctrl_c();
        async move {
            let _ = interrupt.await;
            "Ctrl-C"
        }
    }
}
