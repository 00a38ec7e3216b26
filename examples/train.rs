//! Trains the learned alert decision (`dictionaries/model.txt`).
//!
//! `cargo run --release --example train -- [LABELS…] [--out FILE] [--dictionaries DIR]`
//!
//! LABELS default to `tests/eval/inews-tune.jsonl` (independent news, tuning split) and
//! `tests/eval/labels.jsonl` (the corpus development set). The test sets
//! (`inews-test.jsonl`, `holdout.jsonl`) are refused: they measure what this learns.
//! Texts come from where the evaluation gets them (`tests/eval/harness.rs`).
//!
//! Only candidates (items where the dictionaries keep a topic) are learned from; the
//! others set the prior. Logistic regression, L2-regularized, full-batch gradient
//! descent with AdaGrad steps from zero weights: no randomness, so the same labels,
//! texts and dictionaries always give the same file. Five folds (by a hash of the item
//! id) give out-of-fold scores, on which the calibration (Platt scaling) and the flag
//! threshold (best mean F1 of message boards and news) are fitted; the final weights
//! are trained on all candidates.

#[path = "../tests/eval/harness.rs"]
mod harness;

use std::path::PathBuf;
use std::process::ExitCode;

use harness::{Label, Missing};
use yuqing::classify::Classifier;
use yuqing::classify::model::{Feature, Model};
use yuqing::config::Jurisdiction;

/// Feature space: 2^BITS weights.
const BITS: u32 = 18;
const EPOCHS: usize = 400;
const STEP: f64 = 0.5;
const L2: f64 = 0.001;
const FOLDS: u64 = 5;
/// A feature must occur in this many training items to get a weight.
const MIN_DOCS: usize = 3;
/// Weights smaller than this are left out of the file.
const MIN_WEIGHT: f32 = 0.002;

struct Example<'a> {
    label: &'a Label,
    features: Vec<Feature>,
    fold: u64,
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Logistic regression on masked features: (weights, bias).
fn fit(examples: &[&Example<'_>]) -> (Vec<f32>, f64) {
    let size = 1usize << BITS;
    // Features seen in fewer than MIN_DOCS items stay at zero.
    let mut docs = vec![0usize; size];
    for e in examples {
        for &(i, _) in &e.features {
            docs[i as usize] += 1;
        }
    }
    let active: Vec<bool> = docs.iter().map(|&d| d >= MIN_DOCS).collect();
    let mut w = vec![0.0f64; size];
    let mut bias = 0.0f64;
    let mut g2 = vec![1e-8f64; size];
    let mut b2 = 1e-8f64;
    let n = examples.len().max(1) as f64;
    let mut grad = vec![0.0f64; size];
    for _ in 0..EPOCHS {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut gb = 0.0;
        for e in examples {
            let z = bias
                + e.features
                    .iter()
                    .filter(|f| active[f.0 as usize])
                    .map(|&(i, v)| w[i as usize] * f64::from(v))
                    .sum::<f64>();
            let err = sigmoid(z) - if e.label.flag { 1.0 } else { 0.0 };
            gb += err;
            for &(i, v) in &e.features {
                if active[i as usize] {
                    grad[i as usize] += err * f64::from(v);
                }
            }
        }
        for i in (0..size).filter(|&i| active[i]) {
            let g = grad[i] / n + L2 * w[i];
            g2[i] += g * g;
            w[i] -= STEP * g / g2[i].sqrt();
        }
        let g = gb / n;
        b2 += g * g;
        bias -= STEP * g / b2.sqrt();
    }
    (w.into_iter().map(|x| x as f32).collect(), bias)
}

/// Platt scaling on (raw score, truth): p = σ(a·z + c), fitted by Newton's method.
fn platt(scores: &[(f64, bool)]) -> (f64, f64) {
    let (mut a, mut c) = (1.0f64, 0.0f64);
    for _ in 0..100 {
        let (mut ga, mut gc, mut haa, mut hac, mut hcc) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
        for &(z, y) in scores {
            let p = sigmoid(a * z + c);
            let d = p - if y { 1.0 } else { 0.0 };
            let h = p * (1.0 - p);
            ga += d * z;
            gc += d;
            haa += h * z * z;
            hac += h * z;
            hcc += h;
        }
        let det = haa * hcc - hac * hac;
        if det.abs() < 1e-12 {
            break;
        }
        a -= (hcc * ga - hac * gc) / det;
        c -= (haa * gc - hac * ga) / det;
    }
    (a, c)
}

fn f1(pairs: &[(f64, bool)], threshold: f64) -> (f64, f64, f64) {
    let tp = pairs.iter().filter(|p| p.1 && p.0 >= threshold).count() as f64;
    let fp = pairs.iter().filter(|p| !p.1 && p.0 >= threshold).count() as f64;
    let fn_ = pairs.iter().filter(|p| p.1 && p.0 < threshold).count() as f64;
    let p = tp / (tp + fp).max(1.0);
    let r = tp / (tp + fn_).max(1.0);
    let f = if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    };
    (p, r, f)
}

/// The flag threshold: the one with the best mean F1 of the two source families,
/// message boards and news (with the emergency reports), on out-of-fold scores. A pooled
/// F1 would let news, most of the candidates, set the threshold for boards too.
fn pick_threshold(calibrated: &[(f64, bool)], boards: &[bool]) -> f64 {
    let family = |board: bool| -> Vec<(f64, bool)> {
        calibrated
            .iter()
            .zip(boards)
            .filter(|&(_, &b)| b == board)
            .map(|(p, _)| *p)
            .collect()
    };
    let families = [family(true), family(false)];
    let mean_f1 = |t: f64| {
        let scores: Vec<f64> = families
            .iter()
            .filter(|f| !f.is_empty())
            .map(|f| f1(f, t).2)
            .collect();
        scores.iter().sum::<f64>() / scores.len().max(1) as f64
    };
    (20..=80)
        .map(|t| f64::from(t) / 100.0)
        .max_by(|&x, &y| mean_f1(x).total_cmp(&mean_f1(y)))
        .unwrap_or(0.5)
}

fn main() -> ExitCode {
    let root = PathBuf::from(harness::ROOT);
    let mut label_files = Vec::new();
    let mut out = root.join("dictionaries/model.txt");
    let mut dict_dir = root.join("dictionaries");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" | "--dictionaries" => {
                let Some(v) = args.next() else {
                    eprintln!("{arg} 需要一个路径");
                    return ExitCode::from(2);
                };
                if arg == "--out" {
                    out = PathBuf::from(v);
                } else {
                    dict_dir = PathBuf::from(v);
                }
            }
            other => label_files.push(PathBuf::from(other)),
        }
    }
    if label_files.is_empty() {
        label_files.push(root.join("tests/eval/inews-tune.jsonl"));
        label_files.push(root.join("tests/eval/labels.jsonl"));
    }
    let mut labels = match harness::load_label_files(&label_files) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(l) = labels
        .iter()
        .find(|l| matches!(l.set.as_str(), "inews-random" | "inews-casualty"))
    {
        eprintln!("拒绝在测试集上训练（{} {}）：测试集只用于评测", l.set, l.id);
        return ExitCode::from(2);
    }
    labels.sort_by_key(Label::key);
    let texts = match harness::load_texts(&labels) {
        Ok(t) => t,
        Err(Missing::Unavailable(e) | Missing::Broken(e)) => {
            eprintln!("训练数据不可用：{e}");
            return ExitCode::from(2);
        }
    };
    let classifier = match Classifier::load(&dict_dir, &Jurisdiction::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // Masking needs only the size: an empty model of BITS.
    let shape = Model::from_parts(BITS, vec![0.0; 1 << BITS], 0.0, (1.0, 0.0), 0.5, 0.0);

    let mut examples = Vec::new();
    let (mut outside, mut outside_flagged) = (0usize, 0usize);
    // Flagged items without a candidate, per set: misses whatever the model learns.
    let mut missed: std::collections::BTreeMap<&str, usize> = Default::default();
    for label in &labels {
        let text = &texts[&label.key()];
        match classifier.features(&text.title, &text.body) {
            Some(f) => examples.push(Example {
                label,
                features: shape.mask(&f),
                fold: fnv(&label.id) % FOLDS,
            }),
            None => {
                outside += 1;
                outside_flagged += usize::from(label.flag);
                *missed.entry(label.set.as_str()).or_default() += usize::from(label.flag);
            }
        }
    }
    // Laplace-smoothed flag rate of items without a candidate.
    let prior = (outside_flagged as f64 + 1.0) / (outside as f64 + 2.0);

    // Out-of-fold raw scores.
    let mut oof: Vec<(f64, bool)> = Vec::new();
    let mut oof_sets: Vec<&str> = Vec::new();
    let mut oof_boards: Vec<bool> = Vec::new();
    for fold in 0..FOLDS {
        let train: Vec<&Example> = examples.iter().filter(|e| e.fold != fold).collect();
        let (w, b) = fit(&train);
        let part = Model::from_parts(BITS, w, b, (1.0, 0.0), 0.5, prior);
        for e in examples.iter().filter(|e| e.fold == fold) {
            oof.push((part.score(&e.features), e.label.flag));
            oof_sets.push(&e.label.set);
            oof_boards.push(e.label.is_board());
        }
    }
    let (a, c) = platt(&oof);
    let calibrated: Vec<(f64, bool)> = oof.iter().map(|&(z, y)| (sigmoid(a * z + c), y)).collect();
    let threshold = pick_threshold(&calibrated, &oof_boards);

    let all: Vec<&Example> = examples.iter().collect();
    let (w, b) = fit(&all);
    let model = Model::from_parts(BITS, w, b, (a, c), threshold, prior);
    let comment = format!(
        "The learned alert decision; generated by `cargo run --release --example train`, do not edit.\n\
         Trained on {} candidate items ({} flagged) of {}; {} items without a candidate (prior {:.4}).\n\
         Logistic regression over hashed features (classify/model.rs), L2 {L2}, {EPOCHS} AdaGrad epochs, \
         features in >= {MIN_DOCS} items; Platt scaling and threshold from {FOLDS}-fold out-of-fold scores.",
        examples.len(),
        examples.iter().filter(|e| e.label.flag).count(),
        label_files
            .iter()
            .map(|f| f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned())
            .collect::<Vec<_>>()
            .join(", "),
        outside,
        prior,
    );
    let text = model.to_text(&comment, MIN_WEIGHT);
    if let Err(e) = std::fs::write(&out, &text) {
        eprintln!("无法写入 {}：{e}", out.display());
        return ExitCode::from(2);
    }

    println!(
        "wrote {} ({} KB, {} weights); platt a={a:.3} c={c:.3}; threshold {threshold:.2}; prior {prior:.4}",
        out.display(),
        text.len() / 1024,
        text.lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
            .count()
    );
    let mut groups: Vec<&str> = oof_sets.clone();
    groups.sort_unstable();
    groups.dedup();
    for set in groups.into_iter().chain(["all"]) {
        let part: Vec<(f64, bool)> = calibrated
            .iter()
            .zip(&oof_sets)
            .filter(|(_, s)| set == "all" || **s == set)
            .map(|(p, _)| *p)
            .collect();
        let (p, r, f) = f1(&part, threshold);
        // Recall over every flagged item of the set, candidates or not.
        let found = part.iter().filter(|q| q.1 && q.0 >= threshold).count();
        let flagged = part.iter().filter(|q| q.1).count()
            + missed
                .iter()
                .filter(|(s, _)| set == "all" || **s == set)
                .map(|(_, n)| n)
                .sum::<usize>();
        let recall = found as f64 / flagged.max(1) as f64;
        let f_all = if p + recall > 0.0 {
            2.0 * p * recall / (p + recall)
        } else {
            0.0
        };
        let brier = part
            .iter()
            .map(|&(q, y)| (q - if y { 1.0 } else { 0.0 }).powi(2))
            .sum::<f64>()
            / part.len().max(1) as f64;
        println!(
            "out-of-fold {set:<16} candidates {:<4} P={p:.3} R={r:.3} F1={f:.3} brier {brier:.3} | all {flagged} flagged: R={recall:.3} F1={f_all:.3}",
            part.len()
        );
    }
    ExitCode::SUCCESS
}
