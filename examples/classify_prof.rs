//! A steady loop over one classification workload, for instruction counts
//! (docs/performance.md, "Classification"): run it under callgrind once with 1 pass and
//! once with 2, and the difference is one steady pass without the dictionaries' load.
//!
//! ```text
//! cargo build --release --example classify_prof
//! valgrind --tool=callgrind target/release/examples/classify_prof routine 1
//! valgrind --tool=callgrind target/release/examples/classify_prof routine 2
//! ```
//!
//! Workloads:
//! - `corpus`: `classify` of every item of the shared corpus's three sets, as
//!   `benches/classify.rs` reads them (`../shared/corpus` or `$YUQING_CORPUS`);
//! - `routine`: the daemon path (`classify_with_key_terms`) over the 2,200 routine items
//!   of `benches/ingest.rs`' generator (2,400 items from 1,000 sources, the casualty
//!   reports left out);
//! - `casualty`: the daemon path over the 200 casualty reports of the same 2,400.
//!
//! It prints how many items were flagged, so a run that reads nothing shows.

#[path = "../tests/eval/harness.rs"]
mod harness;

#[path = "../benches/common/news.rs"]
mod news;

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use yuqing::classify::Classifier;
use yuqing::config::Jurisdiction;

/// Items and sources of the generated workloads (one in twelve a casualty report).
const ITEMS: usize = 2_400;
const SOURCES: usize = 1_000;

/// (title, body) of every item of the corpus's three sets, as the classify bench reads.
fn corpus() -> Result<Vec<(String, String)>> {
    let dir = harness::corpus_dir();
    let mut out = Vec::new();
    for (set, body) in [
        ("cec-emergencies", "body"),
        ("teddy-messages", "body"),
        ("liuyan-posts", "content"),
    ] {
        let path = dir.join(format!("{set}.jsonl"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("无法读取语料 {}", path.display()))?;
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            out.push((field("title"), field(body)));
        }
    }
    Ok(out)
}

/// The generated items that are (`alarms`) or are not casualty reports.
fn generated(alarms: bool) -> Vec<(String, String)> {
    let per_source = ITEMS.div_ceil(SOURCES);
    (0..SOURCES)
        .flat_map(|s| {
            (0..per_source.min(ITEMS.saturating_sub(s * per_source))).map(move |n| (s, n))
        })
        .map(|(s, n)| news::news_item(s, n, true))
        .filter(|(_, body)| body.contains("坍塌") == alarms)
        .collect()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (workload, passes) = match args.as_slice() {
        [w, p] => (w.as_str(), p.parse::<usize>().context("遍数应为正整数")?),
        [w] => (w.as_str(), 1),
        _ => bail!("用法：classify_prof corpus|routine|casualty [遍数]"),
    };
    let dict = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    let classifier = Classifier::load(&dict, &Jurisdiction::default())?;
    let (items, daemon) = match workload {
        "corpus" => (corpus()?, false),
        "routine" => (generated(false), true),
        "casualty" => (generated(true), true),
        other => bail!("未知的负载 {other}：应为 corpus、routine 或 casualty"),
    };
    let mut flagged = 0;
    for _ in 0..passes {
        flagged = 0;
        for (title, body) in &items {
            let flag = if daemon {
                std::hint::black_box(classifier.classify_with_key_terms(title, body, false))
                    .0
                    .flag
            } else {
                std::hint::black_box(classifier.classify(title, body, false)).flag
            };
            flagged += usize::from(flag);
        }
    }
    println!(
        "{workload}: {} items, {flagged} flagged, {passes} passes",
        items.len()
    );
    Ok(())
}
