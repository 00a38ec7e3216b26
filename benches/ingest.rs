//! Burst ingest benchmark (release build: `cargo bench --bench ingest`), issue 16
//! rows "burst" (≥ 10,000 items/s through the pipeline) and "db growth per stored
//! item" (≤ 1 KB beyond the item's own text).
//!
//! `BENCH_ITEMS` (default 20,000) generated items of realistic length (a 20–30
//! character title, a 500–700 character body, a link; about one in twelve a casualty
//! report in the second run, so the ledger opens and joins incidents) from `BENCH_SOURCES` (default
//! 1,000) sources go the daemon's way through a fresh on-disk store, with the real
//! dictionaries and ledger:
//!
//! 1. store: each source's items as one poll stores them (new items with their pending
//!    mark, time index and counter);
//! 2. pipeline: the pending items, in the pipeline's batches, classified, their
//!    classifications stored and pending marks cleared, flagged ones handed to the
//!    ledger. By default as the daemon runs it: `Pipeline::run` on a 2-worker runtime,
//!    the items arriving on its channel, a batch classified while the one before is
//!    stored. `BENCH_SERIAL=1`: one batch after the other on this thread
//!    (`Pipeline::classify_batch`, then `Pipeline::store_batch`: what
//!    `Pipeline::handle_batch` does), and the wall time of each stage is printed.
//!
//! It runs twice, each on a fresh store: routine items only, then with the casualty
//! reports. It prints items/s for each stage and for both together, and the
//! database's growth per item (after a flush) beyond the item's own text (title,
//! body, link, key), next to the live records per item, tree by tree (keys and values
//! as stored: what the file holds beyond them is sled's log).
//! Each stage also gives items per CPU-second of the process (all threads, from
//! /proc/self/stat), the steadier figure on a shared machine.
//! `BENCH_BATCH` sets the batch size in the serial run (1: one item at a time, as
//! before batching); the daemon's way takes the pipeline's own batches.

#[path = "support/news.rs"]
mod news;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use yuqing::classify::Classifier;
use yuqing::config::{Config, DEFAULT_CACHE_BYTES};
use yuqing::ledger::Ledger;
use yuqing::model::DateQuality;
use yuqing::parse::ParsedItem;
use yuqing::pipeline::Pipeline;
use yuqing::store::{Store, UpsertOutcome};

/// Item `n` of source `source`; with `alarms`, one in twelve is a casualty report.
fn parsed(source: usize, n: usize, at: yuqing::model::Timestamp, alarms: bool) -> ParsedItem {
    let (title, body, _) = news::item(source, n, alarms);
    let link = format!("https://news{source}.example.cn/2026/12/{n:06}.html");
    ParsedItem {
        key: link.clone(),
        title,
        link: Some(link),
        body,
        published: Some(at),
        date_quality: Some(DateQuality::Credible),
    }
}

/// CPU time of this process so far (every thread, user and system), from
/// /proc/self/stat; 0 where it cannot be read. On a shared machine items per
/// CPU-second say more than items per second.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime are the
    // 12th and 13th, in clock ticks (100 per second on Linux).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let count = env_usize("BENCH_ITEMS", 20_000);
    let sources = env_usize("BENCH_SOURCES", 1_000).max(1);
    let batch = env_usize("BENCH_BATCH", yuqing::pipeline::BATCH_ITEMS).max(1);
    let serial = std::env::var("BENCH_SERIAL").is_ok_and(|v| v == "1");
    let dictionaries = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    let classifier = Arc::new(Classifier::load(&dictionaries, &Default::default()).unwrap());
    println!("routine items only (disk per item: the issue's figure):");
    run(&classifier, count, sources, batch, serial, false);
    println!("one item in twelve a casualty report (the ledger opens and joins incidents):");
    run(&classifier, count, sources, batch, serial, true);
}

/// One measurement on a fresh on-disk store.
fn run(
    classifier: &Arc<Classifier>,
    count: usize,
    sources: usize,
    batch: usize,
    serial: bool,
    alarms: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(Config {
        data_dir: dir.path().to_path_buf(),
        dictionaries: Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
        ..Config::default()
    });
    let store = Store::open_with_cache(&dir.path().join("data"), DEFAULT_CACHE_BYTES).unwrap();
    let ledger = Ledger::new(store.clone(), config.clone(), Arc::default());
    let pipeline = Pipeline::new(classifier.clone(), store.clone(), ledger, &config);
    store.flush_blocking().unwrap();
    let empty = store.size_on_disk();
    let now = chrono::Utc::now();

    // The polls' documents, built before timing.
    let per_source = count.div_ceil(sources);
    let polls: Vec<Vec<ParsedItem>> = (0..sources)
        .map(|s| {
            (0..per_source.min(count.saturating_sub(s * per_source)))
                .map(|n| parsed(s, n, now - chrono::Duration::minutes(n as i64), alarms))
                .collect()
        })
        .filter(|poll: &Vec<ParsedItem>| !poll.is_empty())
        .collect();
    let text: usize = polls
        .iter()
        .flatten()
        .map(|i| {
            i.title.len() + i.body.len() + i.key.len() + i.link.as_ref().map_or(0, String::len)
        })
        .sum();
    let count: usize = polls.iter().map(Vec::len).sum();

    let (began, cpu) = (Instant::now(), cpu_secs());
    let mut stored = Vec::with_capacity(count);
    for (s, poll) in polls.into_iter().enumerate() {
        let source = format!("source-{s}");
        for outcome in store.upsert_items(&source, poll, now).unwrap() {
            if let UpsertOutcome::New(item) = outcome {
                stored.push(item);
            }
        }
    }
    let store_time = began.elapsed();
    let store_cpu = cpu_secs() - cpu;

    let names: Vec<(String, String)> = stored
        .iter()
        .map(|i| (i.source.clone(), i.key.clone()))
        .collect();
    let (began, cpu) = (Instant::now(), cpu_secs());
    let mode = if serial {
        serial_pipeline(&pipeline, stored, batch, now)
    } else {
        daemon_pipeline(pipeline, stored);
        "the daemon's way, two stages".to_string()
    };
    let pipeline_time = began.elapsed();
    let pipeline_cpu = cpu_secs() - cpu;
    assert_eq!(store.pending_count(), 0, "every item went through");
    let flagged = names
        .iter()
        .filter_map(|(source, key)| store.item(source, key).unwrap())
        .filter(|item| item.classification.as_ref().is_some_and(|c| c.flag))
        .count();
    store.flush_blocking().unwrap();
    let grown = store.size_on_disk().saturating_sub(empty) as f64 / count as f64;
    let own = text as f64 / count as f64;

    // What is live after the flush, tree by tree (keys and values as stored, before
    // sled's own node and log framing), against what the file grew by.
    let usage = store.tree_usage().unwrap();
    let live: u64 = usage.iter().map(|t| t.key_bytes + t.value_bytes).sum();
    let per_item = |bytes: u64| bytes as f64 / count as f64;

    let rate = |secs: f64| count as f64 / secs;
    println!(
        "  {count} items from {sources} sources: {flagged} flagged, {} incidents",
        store.incident_count()
    );
    println!(
        "  store (one transaction per poll): {:.0} items/s ({:.0} ms; {:.0} items per CPU-second)",
        rate(store_time.as_secs_f64()),
        store_time.as_secs_f64() * 1e3,
        rate(store_cpu)
    );
    println!(
        "  pipeline (classify, store results, ledger; {mode}): {:.0} items/s ({:.0} ms; {:.0} items per CPU-second)",
        rate(pipeline_time.as_secs_f64()),
        pipeline_time.as_secs_f64() * 1e3,
        rate(pipeline_cpu)
    );
    println!(
        "  both: {:.0} items/s",
        rate((store_time + pipeline_time).as_secs_f64())
    );
    println!(
        "  disk per item: {grown:.0} B, of which text {own:.0} B; beyond the text {:.0} B",
        grown - own,
    );
    println!(
        "  live records per item: {:.0} B (the file grew {:.2} times that):",
        per_item(live),
        grown / per_item(live)
    );
    for tree in usage.iter().filter(|t| t.entries > 0) {
        println!(
            "    {:<22} {:>7} entries, keys {:>6.1} B, values {:>7.1} B per item",
            tree.name,
            tree.entries,
            per_item(tree.key_bytes),
            per_item(tree.value_bytes)
        );
    }
}

/// The pipeline one batch after the other on this thread, each batch classified, then
/// stored; says where the wall time went.
fn serial_pipeline(
    pipeline: &Pipeline,
    stored: Vec<yuqing::model::Item>,
    batch: usize,
    now: yuqing::model::Timestamp,
) -> String {
    let (mut classifying, mut storing) = (Duration::ZERO, Duration::ZERO);
    let mut queue = stored.into_iter().peekable();
    while queue.peek().is_some() {
        let chunk: Vec<_> = queue.by_ref().take(batch).collect();
        let began = Instant::now();
        let classified = pipeline.classify_batch(chunk, now);
        let stored = Instant::now();
        for handled in pipeline.store_batch(classified) {
            handled.unwrap();
        }
        storing += stored.elapsed();
        classifying += stored - began;
    }
    format!(
        "serial, batch {batch}: classification {:.0} ms, store and ledger {:.0} ms",
        classifying.as_secs_f64() * 1e3,
        storing.as_secs_f64() * 1e3
    )
}

/// The pipeline as the daemon runs it (`Pipeline::run`, 2 runtime workers as on the
/// 2-core machine), every item already waiting on its channel; returns when all are
/// handled.
fn daemon_pipeline(pipeline: Pipeline, stored: Vec<yuqing::model::Item>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (send, receive) = tokio::sync::mpsc::channel(stored.len().max(1));
    for item in stored {
        send.try_send(item).unwrap();
    }
    drop(send);
    let (_stop, stopping) = tokio::sync::watch::channel(false);
    runtime.block_on(pipeline.run(receive, stopping));
}
