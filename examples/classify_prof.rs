//! A steady loop over one classification workload, for counting instructions:
//!
//! ```text
//! cargo build --release --example classify_prof
//! valgrind --tool=callgrind target/release/examples/classify_prof WORKLOAD 1
//! valgrind --tool=callgrind target/release/examples/classify_prof WORKLOAD 2
//! ```
//!
//! The second run less the first is one pass in steady state (the dictionaries' load,
//! the corpus's reading and the first pass's warm-up cancel out). Workloads:
//! - `corpus`: `classify` over the classification bench's corpus items (2,488 items of
//!   cec-emergencies, teddy-messages and liuyan-posts: `benches/support/corpus.rs`);
//! - `corpus-daemon`: the daemon's path (`classify_with_key_terms`) over the same items;
//! - `routine`: the daemon's path over the ingest bench's routine items (2,200 items of
//!   500–700 characters of county news, none flagged: `benches/support/news.rs`);
//! - `casualty`: the daemon's path over its casualty reports (the 200 items among the
//!   same 2,400 that carry the casualty sentence, all flagged).
//!
//! It prints how many items were flagged and how many key terms were given, so that two
//! builds can be seen to do the same work. docs/performance.md ("Classification") has
//! the counts of each round.

#[path = "../benches/support/corpus.rs"]
mod corpus;
#[path = "../tests/eval/harness.rs"]
mod harness;
#[path = "../benches/support/news.rs"]
mod news;

use std::path::Path;

use anyhow::{Context, Result, bail};
use yuqing::classify::{Classifier, ReportKind};
use yuqing::config::Jurisdiction;

/// Sources and items per source of the ingest bench's generator read here: 2,400 items,
/// one in twelve a casualty report.
const SOURCES: usize = 120;
const PER_SOURCE: usize = 20;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(workload), Some(passes)) = (args.first(), args.get(1)) else {
        bail!("用法：classify_prof corpus|corpus-daemon|routine|casualty 遍数");
    };
    let passes: usize = passes
        .parse()
        .with_context(|| format!("遍数应为正整数，而不是 {passes}"))?;
    let items: Vec<(String, String)> = match workload.as_str() {
        "corpus" | "corpus-daemon" => corpus::items(&harness::corpus_dir())
            .context("无法读取语料（../shared/corpus 或 $YUQING_CORPUS）")?,
        "routine" | "casualty" => {
            let alarms = workload == "casualty";
            (0..SOURCES)
                .flat_map(|s| (0..PER_SOURCE).map(move |n| news::item(s, n, true)))
                .filter(|&(_, _, alarm)| alarm == alarms)
                .map(|(title, body, _)| (title, body))
                .collect()
        }
        other => bail!("未知的负载 {other}；可选 corpus、corpus-daemon、routine、casualty"),
    };
    let dict = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    let classifier = Classifier::load(&dict, &Jurisdiction::default())?;
    let daemon = workload != "corpus";
    let (mut flagged, mut terms) = (0, 0);
    for _ in 0..passes {
        (flagged, terms) = (0, 0);
        for (title, body) in &items {
            if daemon {
                let (c, t) =
                    classifier.classify_with_key_terms(title, body, false, ReportKind::News);
                flagged += usize::from(c.flag);
                terms += t.len();
            } else {
                flagged += usize::from(classifier.classify(title, body, false).flag);
            }
        }
    }
    println!(
        "{workload}: {} items, {flagged} flagged, {terms} key terms, {passes} passes",
        items.len()
    );
    Ok(())
}
