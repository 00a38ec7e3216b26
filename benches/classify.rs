//! Detection throughput on real Chinese text: `cargo bench --bench classify`.
//!
//! Reads the shared evaluation corpus at run time (`../shared/corpus`, or
//! `$YUQING_CORPUS`; it is never copied into the repository): the titles and bodies of
//! cec-emergencies, teddy-messages and liuyan-posts, several MB of news reports and
//! complaints. Prints, in one run:
//! - MB/s for the full `classify`, for the daemon's path (`classify_with_key_terms`:
//!   key terms for flagged items, as the pipeline asks) and for classify + key terms of
//!   every item, and for jieba-rs `cut` alone (same dictionaries);
//! - cost against text length: real text joined into 10 KB, 100 KB and 1 MB items,
//!   one 1 MB run of Han characters (the corpus with everything else taken out) and
//!   4 items of 1 MB repeating one casualty sentence, in ns/B;
//! - Python `jieba.lcut` on the same corpus, side by side, when `python3` with
//!   `jieba` is installed (`benches/jieba_compare.py`; `pip install jieba`).
//!
//! Each corpus figure is the best of several timed runs, and each run reads the corpus
//! `BENCH_PASSES` times (default 4, about 300 ms on an idle machine: one pass of 70–85
//! ms spread ±5 % between runs on the shared machine).

#[path = "support/corpus.rs"]
mod corpus;
#[path = "../tests/eval/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use yuqing::classify::{Classifier, ReportKind};
use yuqing::config::Jurisdiction;

/// The shared corpus, found where the evaluation finds it, if it is there.
fn corpus_dir() -> Option<PathBuf> {
    Some(harness::corpus_dir()).filter(|dir| dir.is_dir())
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

/// A number from the environment, or `default`.
fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn mb_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    let Some(dir) = corpus_dir() else {
        println!("语料目录不存在（../shared/corpus 或 $YUQING_CORPUS），跳过基准测试");
        return;
    };
    let items = match corpus::items(&dir) {
        Ok(items) => items,
        Err(err) => {
            println!("无法读取语料（{err}），跳过基准测试");
            return;
        }
    };
    let bytes: usize = items.iter().map(|(t, b)| t.len() + b.len()).sum();
    let passes = env_usize("BENCH_PASSES", 4).max(1);
    // What each timed run reads: the corpus `passes` times.
    let read = bytes * passes;
    let dict = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    let jurisdiction = Jurisdiction::default();

    let mut classifier = None;
    let load = best(5, || {
        classifier = Some(Classifier::load(&dict, &jurisdiction).expect("dictionaries load"));
    });
    let classifier = classifier.expect("loaded");
    println!(
        "corpus: {} items, {:.2} MB (cec-emergencies + teddy-messages + liuyan-posts), \
         read {passes} times per timed run (BENCH_PASSES)",
        items.len(),
        bytes as f64 / 1e6
    );
    println!(
        "dictionary load: {:.1} ms (best of 5)",
        load.as_secs_f64() * 1e3
    );

    let mut flagged = 0;
    let classify = best(5, || {
        for _ in 0..passes {
            flagged = items
                .iter()
                .filter(|(t, b)| classifier.classify(t, b, false).flag)
                .count();
        }
    });
    println!(
        "classify: {:.1} MB/s ({:.0} ms, {} of {} flagged)",
        mb_per_s(read, classify),
        classify.as_secs_f64() * 1e3,
        flagged,
        items.len()
    );

    let mut tokens = 0;
    let cut = best(5, || {
        for _ in 0..passes {
            tokens = items
                .iter()
                .map(|(t, b)| classifier.segment(t).len() + classifier.segment(b).len())
                .sum();
        }
    });
    println!(
        "jieba-rs cut (HMM off, same dictionaries): {:.1} MB/s ({:.0} ms, {} tokens)",
        mb_per_s(read, cut),
        cut.as_secs_f64() * 1e3,
        tokens
    );

    let daemon = best(5, || {
        for _ in 0..passes {
            for (t, b) in &items {
                std::hint::black_box(classifier.classify_with_key_terms(
                    t,
                    b,
                    false,
                    ReportKind::News,
                ));
            }
        }
    });
    println!(
        "daemon path (classify, key terms of flagged items): {:.1} MB/s ({:.0} ms)",
        mb_per_s(read, daemon),
        daemon.as_secs_f64() * 1e3
    );
    let both = best(3, || {
        for _ in 0..passes {
            for (t, b) in &items {
                std::hint::black_box(classifier.classify(t, b, false));
                std::hint::black_box(classifier.key_terms(t, b));
            }
        }
    });
    println!(
        "classify + key terms of every item: {:.1} MB/s ({:.0} ms)",
        mb_per_s(read, both),
        both.as_secs_f64() * 1e3
    );

    scaling(&classifier, &items);
    python_side_by_side(classify, read);
}

/// Cost per byte against item length, on real text and on two hostile shapes.
fn scaling(classifier: &Classifier, items: &[(String, String)]) {
    let joined: String = items
        .iter()
        .flat_map(|(t, b)| [t.as_str(), "\n", b.as_str(), "\n"])
        .collect();
    let cut = |n: usize| {
        let mut end = n.min(joined.len());
        while !joined.is_char_boundary(end) {
            end -= 1;
        }
        joined[..end].to_string()
    };
    let han_run: String = joined
        .chars()
        .filter(|c| ('\u{4E00}'..='\u{9FFF}').contains(c))
        .take(1_000_000 / 3)
        .collect();
    let repeated = "某镇一工地发生坍塌事故，造成3人死亡、5人受伤。".repeat(1_000_000 / 69);
    let cases: [(&str, Vec<String>); 5] = [
        ("10 KB of real text", vec![cut(10_000)]),
        ("100 KB of real text", vec![cut(100_000)]),
        ("1 MB of real text", vec![cut(1_000_000)]),
        ("1 MB Han run (no punctuation)", vec![han_run]),
        ("4 × 1 MB repeated casualty sentence", vec![repeated; 4]),
    ];
    println!("cost against length (classify; best of 3):");
    for (name, texts) in cases {
        let size: usize = texts.iter().map(String::len).sum();
        let took = best(3, || {
            for text in &texts {
                std::hint::black_box(classifier.classify("", text, false));
            }
        });
        println!(
            "  {name}: {:.1} ns/B, {:.1} MB/s ({:.1} ms)",
            took.as_secs_f64() * 1e9 / size as f64,
            mb_per_s(size, took),
            took.as_secs_f64() * 1e3
        );
    }
}

/// Python jieba on the same corpus, in the same run, and the ratio to `classify`
/// (which read `bytes` in `classify`).
fn python_side_by_side(classify: Duration, bytes: usize) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/jieba_compare.py");
    let output = match Command::new("python3").arg(&script).output() {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            println!(
                "python jieba: not run ({})",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return;
        }
        Err(err) => {
            println!("python jieba: not run (python3: {err})");
            return;
        }
    };
    let text = String::from_utf8_lossy(&output.stdout);
    print!("{text}");
    let python = text
        .lines()
        .find_map(|l| l.strip_prefix("python jieba.lcut (HMM off): "))
        .and_then(|l| l.split(' ').next())
        .and_then(|v| v.parse::<f64>().ok());
    if let Some(python) = python {
        println!(
            "classify vs python jieba.lcut: {:.0}×",
            mb_per_s(bytes, classify) / python
        );
    }
}
