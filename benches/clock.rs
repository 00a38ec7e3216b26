//! The deadline task at scale (release build: `cargo bench --bench clock`).
//!
//! 1. Opens 10,000 level-IV incidents on a real on-disk store, their detection times
//!    staggered 2 ms apart, with a 90 s 签收 window: 30,000 notices (60 %, 80 %, overdue)
//!    fall due over about a minute while the deadline task runs in real time.
//!    Reports how late each notice was queued relative to its due time
//!    (`created_at − due`; target: within 1 s).
//! 2. With everything fired (the remaining clocks are 48 h away), measures the process
//!    CPU time over an idle stretch, per thread (target ≈ 0), and the same with the
//!    task stopped (what sled's own background threads cost).
//! 3. Backlog: 10,000 entries all due at once (as after downtime): time to drain.
//!    `cargo bench --bench clock -- backlog` runs this part alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use yuqing::clock::Deadlines;
use yuqing::clock::task::{DeadlineTask, TaskClock};
use yuqing::clock::{StepKind, step_at, step_kind};
use yuqing::config::Config;
use yuqing::ledger::Ledger;
use yuqing::model::{Classification, Item, Level, Milestone, NoticeKind, Timestamp};
use yuqing::store::Store;

const INCIDENTS: usize = 10_000;
const STAGGER_MS: i64 = 2;
const IDLE: Duration = Duration::from_secs(10);

fn config(dir: &std::path::Path, ack: &str) -> Arc<Config> {
    std::fs::write(dir.join("feeds.toml"), "").unwrap();
    let text = format!("[policy]\nack = \"{ack}\"\noverdue_repeat = \"1h\"\nspread_sources = 0\n");
    Arc::new(Config::from_str(&text, None, dir).unwrap())
}

fn item(i: usize, now: Timestamp) -> Item {
    Item {
        source: "bench".into(),
        key: format!("k{i}"),
        title: format!("事件{i}"),
        link: None,
        body: String::new(),
        published: None,
        date_quality: None,
        first_seen: now,
        updated_at: now,
        revisions: 0,
        classification: Some(Classification {
            flag: true,
            // One topic per incident: grouping reads no other incident.
            topics: vec![format!("topic{i}")],
            severity: Some(Level::IV),
            local: true,
            ..Default::default()
        }),
        incident: None,
    }
}

fn open_many(ledger: &Ledger, start: Timestamp) -> Duration {
    let began = Instant::now();
    let terms = vec!["事故".to_string(), "现场".to_string()];
    for i in 0..INCIDENTS {
        let now = start + chrono::Duration::milliseconds(i as i64 * STAGGER_MS);
        ledger.ingest(&item(i, now), &terms, now).unwrap();
    }
    began.elapsed()
}

/// CPU time (user + system, in ms) from a `stat` file, with the name it gives
/// (10 ms resolution).
fn stat_cpu(path: &std::path::Path) -> Option<(String, f64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat: 11 and 12 after the name.
    let ticks: f64 = fields
        .get(11..13)?
        .iter()
        .filter_map(|v| v.parse::<f64>().ok())
        .sum();
    Some((stat[open + 1..close].to_string(), ticks * 10.0)) // USER_HZ is 100 on Linux
}

/// CPU time of the whole process (key `""`, including threads that have ended) and of
/// each live thread, by thread name.
fn cpu_by_thread() -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    if let Some((_, ms)) = stat_cpu(std::path::Path::new("/proc/self/stat")) {
        out.insert(String::new(), ms);
    }
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Some((name, ms)) = stat_cpu(&task.path().join("stat")) {
            *out.entry(name).or_insert(0.0) += ms;
        }
    }
    out
}

/// CPU used per thread name between two readings, non-zero ones only.
fn cpu_delta(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
) -> String {
    let total = after.get("").copied().unwrap_or(0.0) - before.get("").copied().unwrap_or(0.0);
    let parts: Vec<String> = after
        .iter()
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, ms)| (name, ms - before.get(name).copied().unwrap_or(0.0)))
        .filter(|(_, ms)| *ms > 0.0)
        .map(|(name, ms)| format!("{name} {ms:.0}"))
        .collect();
    format!("{total:.0} ms (by thread: {})", parts.join(", "))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

async fn live(rt_note: &str) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ledger = Ledger::new(store.clone(), config(dir.path(), "90s"), Arc::default());
    let start = Utc::now();
    let setup = open_many(&ledger, start);
    println!(
        "[{rt_note}] opened {INCIDENTS} incidents in {:.2} s ({:.0} µs each); due entries: {}",
        setup.as_secs_f64(),
        setup.as_micros() as f64 / INCIDENTS as f64,
        store.due_len()
    );
    assert!(
        setup < Duration::from_secs(50),
        "setup too slow for the 54 s first step"
    );

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = DeadlineTask::new(store.clone(), ledger.clone(), TaskClock::system());
    let handle = tokio::spawn(task.run(async {
        let _ = stopped.await;
    }));

    // Wait until the last overdue notice is due (90 s after the last detection), plus slack.
    let last_due = start
        + chrono::Duration::milliseconds(INCIDENTS as i64 * STAGGER_MS)
        + chrono::Duration::seconds(90);
    let expected = INCIDENTS * 4;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if Utc::now() > last_due + chrono::Duration::seconds(2) && store.outbox_depth() >= expected
        {
            break;
        }
        if Utc::now() > last_due + chrono::Duration::seconds(60) {
            println!("timed out waiting: {} queued", store.outbox_depth());
            break;
        }
    }

    let mut lateness = Vec::with_capacity(expected);
    for (_, row) in store.outbox_pending(usize::MAX).unwrap() {
        let (incident, milestone, index) = match &row.notice.kind {
            NoticeKind::Reminder {
                incident,
                milestone,
                percent,
                ..
            } => {
                let index = (0..incident.policy.remind_at.len() as u32)
                    .find(|&i| {
                        matches!(step_kind(&incident.policy, i),
                        StepKind::Fraction { percent: p, .. } if p == *percent)
                    })
                    .unwrap();
                (incident, milestone, index)
            }
            NoticeKind::Overdue {
                incident,
                milestone,
                repeat,
            } => (
                incident,
                milestone,
                incident.policy.remind_at.len() as u32 + repeat - 1,
            ),
            _ => continue,
        };
        assert_eq!(*milestone, Milestone::Ack);
        let deadline = incident.deadline(Milestone::Ack).unwrap();
        let due = step_at(&incident.policy, deadline, index);
        lateness.push((row.notice.created_at - due).num_microseconds().unwrap() as f64 / 1000.0);
    }
    lateness.sort_by(f64::total_cmp);
    println!(
        "[{rt_note}] fired {} notices; lateness ms: p50 {:.1}, p99 {:.1}, max {:.1}, min {:.1}",
        lateness.len(),
        percentile(&lateness, 0.5),
        percentile(&lateness, 0.99),
        percentile(&lateness, 1.0),
        percentile(&lateness, 0.0),
    );

    // Let the last writes settle, then measure a quiet stretch.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = cpu_by_thread();
    tokio::time::sleep(IDLE).await;
    println!(
        "[{rt_note}] idle {} s with {} due entries pending (48 h away): process CPU {}",
        IDLE.as_secs(),
        store.due_len(),
        cpu_delta(&before, &cpu_by_thread())
    );
    stop.send(()).unwrap();
    handle.await.unwrap();
    // The same idle stretch with the task stopped: what the store alone costs.
    let before = cpu_by_thread();
    tokio::time::sleep(IDLE).await;
    println!(
        "[{rt_note}] idle {} s, deadline task stopped, store open: process CPU {}",
        IDLE.as_secs(),
        cpu_delta(&before, &cpu_by_thread())
    );
}

fn backlog() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ledger = Ledger::new(store.clone(), config(dir.path(), "30m"), Arc::default());
    let start = Utc::now();
    open_many(&ledger, start);
    let deadlines = Deadlines::new(store.clone(), ledger.clone());
    // Three hours later every 签收 clock is overdue: one notice each (catch-up rule).
    let later = start + chrono::Duration::hours(3);
    let began = Instant::now();
    let mut queued = 0;
    loop {
        let report = deadlines.fire_due(later, 256).unwrap();
        queued += report.queued;
        if !report.more {
            break;
        }
    }
    let took = began.elapsed();
    println!(
        "[backlog] {queued} overdue notices after downtime drained in {:.2} s ({:.0} µs each)",
        took.as_secs_f64(),
        took.as_micros() as f64 / queued.max(1) as f64
    );
}

fn main() {
    if std::env::args().any(|a| a == "backlog") {
        backlog();
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(live("live"));
    backlog();
}
