//! Dumps what `Classifier` concludes about every text of the shared corpus, one JSON
//! line per text: the classification, the model's features, the key terms and the
//! daemon path's answer (`classify_with_key_terms`). Run it before and after a change
//! that must not change results, and compare the two files byte for byte:
//!
//! ```text
//! cargo run --release --example classify_dump > /tmp/before.jsonl
//! # change, rebuild
//! cargo run --release --example classify_dump > /tmp/after.jsonl
//! cmp /tmp/before.jsonl /tmp/after.jsonl
//! ```
//!
//! Texts: every item of every corpus file with a title or body (`../shared/corpus` or
//! `$YUQING_CORPUS`), then the length cases of `benches/classify.rs` at smaller sizes:
//! the corpus joined into one text, its Han characters as one run, and a casualty
//! sentence repeated. The output holds no text, only ids (file and line) and results.

#[path = "../tests/eval/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use yuqing::classify::{Classifier, ReportKind};
use yuqing::config::Jurisdiction;

/// The shared corpus, found where the evaluation finds it, if it is there.
fn corpus_dir() -> Option<PathBuf> {
    Some(harness::corpus_dir()).filter(|dir| dir.is_dir())
}

fn dump(classifier: &Classifier, id: &str, title: &str, body: &str) -> Result<()> {
    let classification = classifier.classify(title, body, false);
    let features = classifier.features(title, body);
    let key_terms = classifier.key_terms(title, body);
    let daemon = classifier.classify_with_key_terms(title, body, false, ReportKind::News);
    let line = json!({
        "id": id,
        "classification": classification,
        "features": features,
        "key_terms": key_terms,
        "daemon": daemon,
    });
    println!("{}", serde_json::to_string(&line)?);
    Ok(())
}

fn main() -> Result<()> {
    let dir = corpus_dir().context("语料目录不存在（../shared/corpus 或 $YUQING_CORPUS）")?;
    let dict = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    let classifier = Classifier::load(&dict, &Jurisdiction::default())?;

    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut joined = String::new();
    for path in &files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("无法读取 {}", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let field = |keys: &[&str]| {
                keys.iter()
                    .find_map(|k| v.get(*k).and_then(Value::as_str))
                    .unwrap_or("")
                    .to_string()
            };
            let title = field(&["title"]);
            let body = field(&["body", "content", "reply"]);
            if title.is_empty() && body.is_empty() {
                continue;
            }
            dump(&classifier, &format!("{name}:{}", n + 1), &title, &body)?;
            // The body alone, as a title-less item (what the length cases read).
            dump(&classifier, &format!("{name}:{}:body", n + 1), "", &body)?;
            if joined.len() < 2_000_000 {
                joined.push_str(&title);
                joined.push('\n');
                joined.push_str(&body);
                joined.push('\n');
            }
        }
    }
    dump(&classifier, "joined", "", &joined)?;
    let han: String = joined
        .chars()
        .filter(|c| ('\u{4E00}'..='\u{9FFF}').contains(c))
        .take(300_000)
        .collect();
    dump(&classifier, "han-run", "", &han)?;
    let repeated = "某镇一工地发生坍塌事故，造成3人死亡、5人受伤。".repeat(2_000);
    dump(&classifier, "repeated", "", &repeated)?;
    Ok(())
}
