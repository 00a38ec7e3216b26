//! Detection throughput on real Chinese text: `cargo bench --bench classify`.
//!
//! Reads the shared evaluation corpus at run time (`../shared/corpus`, or
//! `$YUQING_CORPUS`; it is never copied into the repository): the titles and bodies of
//! cec-emergencies, teddy-messages and liuyan-posts, several MB of news reports and
//! complaints. Prints MB/s for the full `classify` and for jieba-rs `cut` alone (same
//! dictionaries), and the dictionary load time. `benches/jieba_compare.py` times
//! Python jieba on the same items for comparison.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use yuqing::classify::Classifier;
use yuqing::config::Jurisdiction;

fn corpus_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("YUQING_CORPUS") {
        return Some(PathBuf::from(dir));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    ["../shared/corpus", "../../shared/corpus"]
        .iter()
        .map(|p| root.join(p))
        .find(|p| p.is_dir())
}

/// (title, body) of every item of the three sets.
fn items(dir: &Path) -> std::io::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (set, body) in [
        ("cec-emergencies", "body"),
        ("teddy-messages", "body"),
        ("liuyan-posts", "content"),
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{set}.jsonl")))?;
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

/// Best of `runs` timings of `f`.
fn best(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn mb_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    let Some(dir) = corpus_dir() else {
        println!("语料目录不存在（../shared/corpus 或 $YUQING_CORPUS），跳过基准测试");
        return;
    };
    let items = match items(&dir) {
        Ok(items) => items,
        Err(err) => {
            println!("无法读取语料（{err}），跳过基准测试");
            return;
        }
    };
    let bytes: usize = items.iter().map(|(t, b)| t.len() + b.len()).sum();
    let dict = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    let jurisdiction = Jurisdiction::default();

    let mut classifier = None;
    let load = best(5, || {
        classifier = Some(Classifier::load(&dict, &jurisdiction).expect("dictionaries load"));
    });
    let classifier = classifier.expect("loaded");
    println!(
        "corpus: {} items, {:.2} MB (cec-emergencies + teddy-messages + liuyan-posts)",
        items.len(),
        bytes as f64 / 1e6
    );
    println!(
        "dictionary load: {:.1} ms (best of 5)",
        load.as_secs_f64() * 1e3
    );

    let mut flagged = 0;
    let classify = best(5, || {
        flagged = items
            .iter()
            .filter(|(t, b)| classifier.classify(t, b, false).flag)
            .count();
    });
    println!(
        "classify: {:.1} MB/s ({:.0} ms, {} of {} flagged)",
        mb_per_s(bytes, classify),
        classify.as_secs_f64() * 1e3,
        flagged,
        items.len()
    );

    let mut tokens = 0;
    let cut = best(5, || {
        tokens = items
            .iter()
            .map(|(t, b)| classifier.segment(t).len() + classifier.segment(b).len())
            .sum();
    });
    println!(
        "jieba-rs cut (HMM off, same dictionaries): {:.1} MB/s ({:.0} ms, {} tokens)",
        mb_per_s(bytes, cut),
        cut.as_secs_f64() * 1e3,
        tokens
    );
}
