//! The ledger at province scale (release build: `cargo bench --bench ledger`).
//!
//! 1. Opening an incident against the number of open incidents: open incidents are
//!    added through `Ledger::ingest` on an on-disk store, all of one topic, spread
//!    over 20 places and over time (one every 10 minutes of publication time, as
//!    watch incidents pile up over months); at 1k, 10k and 50k open, 200 more items
//!    that each open a new incident are timed (mean per open, issue 16 target
//!    ≤ 0.5 ms at 50k, flat), in wall time and in the CPU time of the opening thread.
//!    Each incident is filled as if processed when published (its last change is its
//!    publication time), as a ledger that grew over months is. Then 200 official items
//!    (response candidates, `Ledger::respond`) of the same topic and places, published
//!    now, about no open incident, are timed the same way: matching a response reads
//!    the incidents active within the incident window, not every open one.
//! 2. `list` at 50k incidents: a page of 100 open incidents, a filtered page
//!    (unit and level), `--all` counted (issue 16 target: ≤ 100 ms), and `export
//!    --since` selecting every incident and none.
//! 3. The process's RSS and threads at the end, with the store's page cache at
//!    `[store] cache_bytes`' default.
//! 4. Disk per stored item: `BENCH_ITEMS` (default 20,000) routine items of a
//!    typical size go the daemon's way into a fresh on-disk store (upsert with its
//!    pending mark and time index, classification stored, pending mark cleared),
//!    then the database's growth per item beyond the item's own text (title, body,
//!    link, key) is printed (issue 16 target ≤ 1 KB), and a retention sweep of all
//!    of them is timed.
//!
//! 5. Joining one incident against its distinct sources (issue 16 burst row, data
//!    format 7): items of one event from new sources join one incident (published
//!    over the last day, out of order, so first times land between earlier ones);
//!    at 1k, 10k and 50k sources, 200 joins from new sources and 200 from known ones
//!    are timed (mean per join, wall and the joining thread's CPU), under the
//!    default spread rule (5 sources within 6 hours). `BENCH_JOIN` sets the largest
//!    count (0: skip).
//!
//! `BENCH_OPEN` overrides the largest count (e.g. `BENCH_OPEN=10000` for a quick run);
//! `BENCH_KEEP=DIR` builds the ledger in `DIR/data` and leaves it there (the daemon's
//! RSS on it: docs/performance.md, "Ledger").

use std::sync::Arc;
use std::time::{Duration, Instant};

use yuqing::config::{Config, DEFAULT_CACHE_BYTES};
use yuqing::ledger::{IngestOutcome, Ledger};
use yuqing::model::{Classification, DateQuality, Item, Level, TermMatch, Timestamp};
use yuqing::parse::ParsedItem;
use yuqing::respond::Form;
use yuqing::store::{ListFilter, Store};

const PLACES: usize = 20;
const TIMED: usize = 200;
const STEP_MINUTES: i64 = 10;

fn config(dir: &std::path::Path) -> Arc<Config> {
    std::fs::write(dir.join("feeds.toml"), "").unwrap();
    let text = "[policy]\nspread_sources = 0\n";
    Arc::new(Config::from_str(text, None, dir).unwrap())
}

/// A flagged item of topic `accident` in place `n % PLACES`, published at `at`,
/// with key terms of its own (so it opens an incident rather than joining one).
fn item(n: usize, at: Timestamp) -> (Item, Vec<String>) {
    let item = Item {
        source: "bench".into(),
        key: format!("k{n}"),
        title: format!("事故{n}"),
        link: None,
        body: String::new(),
        published: Some(at),
        date_quality: Some(DateQuality::Credible),
        first_seen: at,
        updated_at: at,
        revisions: 0,
        classification: Some(Classification {
            flag: true,
            topics: vec!["accident".into()],
            places: vec![format!("镇{}", n % PLACES)],
            severity: Some(Level::IV),
            local: true,
            unit: Some(format!("单位{}", n % 7)),
            ..Default::default()
        }),
        incident: None,
    };
    let terms = vec![format!("词{n}a"), format!("词{n}b"), format!("词{n}c")];
    (item, terms)
}

fn ingest(ledger: &Ledger, n: usize, at: Timestamp, now: Timestamp) {
    let (item, terms) = item(n, at);
    match ledger.ingest(&item, &terms, now).unwrap() {
        Some(IngestOutcome::Opened(_)) => {}
        other => panic!("item {n} should open an incident: {other:?}"),
    }
}

fn proc_status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l[field.len()..].trim().to_string())
        .unwrap_or_else(|| "?".into())
}

/// CPU time of the calling thread (ns, from /proc/thread-self/schedstat): the work of
/// an open without the time other processes on a busy machine take from it (sled's
/// own background threads are not in it).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A routine news item of typical size: a 24-character title, a 600-character body
/// (about 1.8 KB of UTF-8), a link; different text each time.
fn routine(n: usize) -> ParsedItem {
    let phrase = "县政府召开会议部署冬季安全生产和民生保障工作强调要落实责任";
    let body: String = phrase.chars().cycle().skip(n % 29).take(600).collect();
    ParsedItem {
        key: format!("https://news.example.cn/2026/11/{n:08}.html"),
        title: format!(
            "{}{n}",
            &phrase[..phrase.char_indices().nth(20).map_or(0, |(i, _)| i)]
        ),
        link: Some(format!("https://news.example.cn/2026/11/{n:08}.html")),
        body,
        published: Some(chrono::Utc::now()),
        date_quality: Some(DateQuality::Credible),
    }
}

/// Part 4: bytes on disk per stored item beyond its text, and a sweep of them all.
fn disk_per_item(count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with_cache(&dir.path().join("data"), DEFAULT_CACHE_BYTES).unwrap();
    store.flush_blocking().unwrap();
    let empty = store.size_on_disk();
    let long_ago = chrono::Utc::now() - chrono::Duration::days(200);
    let mut text = 0usize;
    let classification = Classification {
        topics: vec!["livelihood".into()],
        places: vec!["景芝镇".into()],
        local: true,
        score: 0.4,
        confidence: 0.05,
        matches: vec![TermMatch {
            term: "民生".into(),
            topic: "livelihood".into(),
        }],
        ..Default::default()
    };
    for n in 0..count {
        let item = routine(n);
        text += item.title.len()
            + item.body.len()
            + item.key.len()
            + item.link.as_ref().map_or(0, String::len);
        let key = item.key.clone();
        store.upsert_item("county-news", item, long_ago).unwrap();
        store
            .set_classification("county-news", &key, classification.clone())
            .unwrap();
        store.item_done("county-news", &key).unwrap();
    }
    store.flush_blocking().unwrap();
    let grown = store.size_on_disk().saturating_sub(empty);
    let per_item = grown as f64 / count as f64;
    let own = text as f64 / count as f64;
    println!(
        "disk per stored item ({count} routine items): {per_item:.0} B on disk, of which text {own:.0} B; beyond the text {:.0} B",
        per_item - own
    );
    let began = Instant::now();
    let report = store
        .sweep_routine_items(
            chrono::Utc::now() - chrono::Duration::days(90),
            chrono::Utc::now(),
            || {},
        )
        .unwrap();
    store.flush_blocking().unwrap();
    println!(
        "retention sweep: {} removed in {:.0} ms ({:.1} µs each); db {:.1} MB after (sled reuses the space)",
        report.removed,
        ms(began.elapsed()),
        began.elapsed().as_secs_f64() * 1e6 / report.removed.max(1) as f64,
        store.size_on_disk() as f64 / 1e6
    );
}

/// An item of one event (the same topic, place and key terms) from source `source`,
/// published at `at`: it joins the incident the first one opened.
fn event_item(source: usize, n: usize, at: Timestamp) -> (Item, Vec<String>) {
    let (mut item, _) = item(0, at);
    item.source = format!("src{source}");
    item.key = format!("e{n}");
    let terms = vec!["化工厂".into(), "爆炸".into(), "景芝镇".into()];
    (item, terms)
}

/// Part 5: joins against the incident's distinct sources.
fn joins(largest: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with_cache(&dir.path().join("data"), DEFAULT_CACHE_BYTES).unwrap();
    std::fs::write(dir.path().join("feeds.toml"), "").unwrap();
    let config = Arc::new(Config::from_str("", None, dir.path()).unwrap());
    let ledger = Ledger::new(store, config, Arc::new(tokio::sync::Notify::new()));
    let now = chrono::Utc::now();
    // Over the last day, in an order that is not the time order.
    let at = |n: usize| now - chrono::Duration::seconds(((n * 7919) % 86_400) as i64);
    let mut n = 0;
    let mut join = |source: usize| {
        let (item, terms) = event_item(source, n, at(n));
        n += 1;
        ledger.ingest(&item, &terms, now).unwrap()
    };
    assert!(matches!(join(0), Some(IngestOutcome::Opened(1))));
    println!("joining one incident vs its distinct sources (mean of {TIMED} joins, ms):");
    let mut sources = 1;
    for checkpoint in [1_000, 10_000, 50_000]
        .into_iter()
        .filter(|c| *c <= largest)
    {
        let began = Instant::now();
        let from = sources;
        while sources < checkpoint {
            join(sources);
            sources += 1;
        }
        let fill = began.elapsed();
        let began = Instant::now();
        let cpu = thread_cpu_ns();
        for _ in 0..TIMED {
            assert_eq!(join(sources), Some(IngestOutcome::Joined(1)));
            sources += 1;
        }
        let new = (ms(began.elapsed()), (thread_cpu_ns() - cpu) as f64 / 1e6);
        let began = Instant::now();
        let cpu = thread_cpu_ns();
        for k in 0..TIMED {
            assert_eq!(join(k * 3), Some(IngestOutcome::Joined(1)));
        }
        let known = (ms(began.elapsed()), (thread_cpu_ns() - cpu) as f64 / 1e6);
        let per = |(wall, cpu): (f64, f64)| {
            format!(
                "{:.3} ms, {:.3} ms on its thread's CPU",
                wall / TIMED as f64,
                cpu / TIMED as f64
            )
        };
        println!(
            "  {checkpoint:>6} sources: a new source {}; a known one {} (filling took {:.1} s, {:.3} ms each)",
            per(new),
            per(known),
            fill.as_secs_f64(),
            ms(fill) / (checkpoint - from).max(1) as f64
        );
    }
}

fn main() {
    let items: usize = std::env::var("BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    disk_per_item(items);
    let largest: usize = std::env::var("BENCH_OPEN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let temporary = tempfile::tempdir().unwrap();
    // `BENCH_KEEP=DIR` leaves the ledger in DIR/data (for measuring a daemon on it).
    let dir =
        std::env::var_os("BENCH_KEEP").map_or_else(|| temporary.path().to_path_buf(), Into::into);
    let store = Store::open_with_cache(&dir.join("data"), DEFAULT_CACHE_BYTES).unwrap();
    let config = config(&dir);
    let ledger = Ledger::new(store.clone(), config, Arc::new(tokio::sync::Notify::new()));
    let now = chrono::Utc::now();
    // Publication times run back from now, one every STEP_MINUTES.
    let at = |n: usize| now - chrono::Duration::minutes(STEP_MINUTES * (largest - n) as i64);

    println!("opening an incident vs open incidents (mean of {TIMED} opens, ms):");
    let mut filled = 0;
    let mut next = largest;
    for checkpoint in [1_000, 10_000, 50_000]
        .into_iter()
        .filter(|c| *c <= largest)
    {
        let began = Instant::now();
        let from = filled;
        while filled < checkpoint {
            ingest(&ledger, filled, at(filled), at(filled));
            filled += 1;
        }
        let fill = began.elapsed();
        let began = Instant::now();
        let cpu = thread_cpu_ns();
        for _ in 0..TIMED {
            // Recent items: their window holds the newest open incidents.
            ingest(&ledger, next, now, now);
            next += 1;
        }
        let per_open = ms(began.elapsed()) / TIMED as f64;
        let cpu_per_open = (thread_cpu_ns() - cpu) as f64 / 1e6 / TIMED as f64;
        filled += TIMED;
        println!(
            "  {checkpoint:>6} open: {per_open:.3} ms per open, {cpu_per_open:.3} ms on its thread's CPU (filling took {:.1} s, {:.3} ms each)",
            fill.as_secs_f64(),
            ms(fill) / (checkpoint - from).max(1) as f64
        );
        let began = Instant::now();
        let cpu = thread_cpu_ns();
        for _ in 0..TIMED {
            // An official item with key terms of its own: about no open incident.
            let (mut official, terms) = item(next, now);
            official.source = "official".into();
            let matched = ledger
                .respond(&official, Form::Release, &terms, false, now)
                .unwrap();
            assert_eq!(
                matched, None,
                "official item {next} should match no incident"
            );
            next += 1;
        }
        println!(
            "  {checkpoint:>6} open: {:.3} ms per response candidate, {:.3} ms on its thread's CPU",
            ms(began.elapsed()) / TIMED as f64,
            (thread_cpu_ns() - cpu) as f64 / 1e6 / TIMED as f64
        );
    }

    println!("list at {} incidents (ms):", store.incident_count());
    let time = |what: &str, filter: ListFilter| {
        let began = Instant::now();
        let (page, total) = ledger.list_page(&filter).unwrap();
        println!(
            "  {what:<44} {:>8.1} ms ({} shown of {total})",
            ms(began.elapsed()),
            page.len()
        );
    };
    time(
        "open, first page (limit 100)",
        ListFilter {
            limit: Some(100),
            ..Default::default()
        },
    );
    time(
        "open, unit and level filter (limit 100)",
        ListFilter {
            unit: Some("单位3".into()),
            level: Some(Level::IV),
            limit: Some(100),
            ..Default::default()
        },
    );
    time(
        "all, first page (limit 100)",
        ListFilter {
            all: true,
            limit: Some(100),
            ..Default::default()
        },
    );
    // Every incident here last changed at or after `at(0)` (the first filled, the
    // oldest), none after `now`: `--since` selects all of them (the worst case, linear
    // in the selection) or none.
    time(
        "export --since: every incident changed since",
        ListFilter {
            all: true,
            since: Some(at(0)),
            ..Default::default()
        },
    );
    time(
        "export --since: none changed since",
        ListFilter {
            all: true,
            since: Some(now + chrono::Duration::milliseconds(1)),
            ..Default::default()
        },
    );
    let began = Instant::now();
    let open = store.open_incident_count().unwrap();
    println!(
        "  status: open incidents counted              {:>8.1} ms ({open})",
        ms(began.elapsed())
    );
    store.flush_blocking().unwrap();
    println!(
        "process: RSS {} (peak {}), {} threads; store cache {} MiB, db {:.1} MB",
        proc_status("VmRSS:"),
        proc_status("VmHWM:"),
        proc_status("Threads:"),
        DEFAULT_CACHE_BYTES >> 20,
        store.size_on_disk() as f64 / 1e6
    );
    let largest_join: usize = std::env::var("BENCH_JOIN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    joins(largest_join);
}
