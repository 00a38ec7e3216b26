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
//!
//! First, the order of the kept topics (`topic_rank.txt`, beside the model file): for
//! each labelled alert whose dictionaries keep two or more topics, the labelled primary
//! among them, a softmax over the candidates' linear scores (`Ranker`), trained the same
//! deterministic way; out-of-fold primary-topic accuracy is printed beside the
//! dictionary rule's. The flag model is then trained on features read with the learned
//! order (its `primary=` feature).

#[path = "../tests/eval/harness.rs"]
mod harness;

use std::path::PathBuf;
use std::process::ExitCode;

use harness::{Label, Missing};
use yuqing::classify::Classifier;
use yuqing::classify::model::{Feature, Model, Ranker};
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
/// The topic ranker: feature space, epochs, L2.
const RANK_BITS: u32 = 18;
const RANK_EPOCHS: usize = 300;
const RANK_L2: f64 = 0.003;

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

/// Writes a generated file; false (and a message) when it cannot.
fn write(path: &std::path::Path, text: &str) -> bool {
    std::fs::write(path, text)
        .map_err(|e| eprintln!("无法写入 {}：{e}", path.display()))
        .is_ok()
}

/// Adds `err` × each active feature's value to the gradient.
fn accumulate(grad: &mut [f64], features: &[Feature], active: &[bool], err: f64) {
    for &(i, v) in features {
        if active[i as usize] {
            grad[i as usize] += err * f64::from(v);
        }
    }
}

/// One AdaGrad step on the active weights: `grad` summed over `n` items, plus L2.
fn adagrad(w: &mut [f64], g2: &mut [f64], grad: &[f64], active: &[bool], n: f64, l2: f64) {
    for i in (0..w.len()).filter(|&i| active[i]) {
        let g = grad[i] / n + l2 * w[i];
        g2[i] += g * g;
        w[i] -= STEP * g / g2[i].sqrt();
    }
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
            accumulate(&mut grad, &e.features, &active, err);
        }
        adagrad(&mut w, &mut g2, &grad, &active, n, L2);
        let g = gb / n;
        b2 += g * g;
        bias -= STEP * g / b2.sqrt();
    }
    (w.into_iter().map(|x| x as f32).collect(), bias)
}

/// A labelled alert with a choice of primary topic: each candidate's masked ranking
/// features (rule order) and which one is the labelled primary.
struct RankExample<'a> {
    label: &'a Label,
    candidates: Vec<Vec<Feature>>,
    truth: usize,
    fold: u64,
}

/// Softmax over each item's candidates, L2-regularized, full-batch AdaGrad from zero.
fn fit_rank(examples: &[&RankExample<'_>]) -> Vec<f32> {
    let size = 1usize << RANK_BITS;
    let mut docs = vec![0usize; size];
    for e in examples {
        let mut seen: Vec<u32> = e.candidates.iter().flatten().map(|f| f.0).collect();
        seen.sort_unstable();
        seen.dedup();
        for i in seen {
            docs[i as usize] += 1;
        }
    }
    let active: Vec<bool> = docs.iter().map(|&d| d >= MIN_DOCS).collect();
    let mut w = vec![0.0f64; size];
    let mut g2 = vec![1e-8f64; size];
    let mut grad = vec![0.0f64; size];
    let n = examples.len().max(1) as f64;
    for _ in 0..RANK_EPOCHS {
        grad.iter_mut().for_each(|g| *g = 0.0);
        for e in examples {
            let scores: Vec<f64> = e
                .candidates
                .iter()
                .map(|c| {
                    c.iter()
                        .filter(|f| active[f.0 as usize])
                        .map(|&(i, v)| w[i as usize] * f64::from(v))
                        .sum()
                })
                .collect();
            let top = scores.iter().copied().fold(f64::MIN, f64::max);
            let exp: Vec<f64> = scores.iter().map(|s| (s - top).exp()).collect();
            let total: f64 = exp.iter().sum();
            for (k, c) in e.candidates.iter().enumerate() {
                let err = exp[k] / total - if k == e.truth { 1.0 } else { 0.0 };
                accumulate(&mut grad, c, &active, err);
            }
        }
        adagrad(&mut w, &mut g2, &grad, &active, n, RANK_L2);
    }
    w.into_iter().map(|x| x as f32).collect()
}

/// Trains the topic ranker; prints the dictionary rule's and the learned order's
/// out-of-fold primary-topic accuracy, over the alerts with a choice and over all
/// labelled alerts, per source family. Returns the ranker trained on every example.
fn train_ranker(classifier: &Classifier, labels: &[Label], texts: &harness::Texts) -> Ranker {
    let mask = (1u32 << RANK_BITS) - 1;
    let mut examples = Vec::new();
    // Labelled alerts whose primary the rule order gets right, and those with a choice
    // but without the labelled primary among the candidates, per family (board, news).
    let mut rule_right = [0usize; 2];
    let mut alerts = [0usize; 2];
    let mut absent = [0usize; 2];
    for label in labels.iter().filter(|l| l.flag) {
        let Some(primary) = label.topics.first() else {
            continue;
        };
        let family = usize::from(!label.is_board());
        alerts[family] += 1;
        let text = &texts[&label.key()];
        let got = classifier.classify(&text.title, &text.body, false);
        rule_right[family] += usize::from(got.topics.first() == Some(primary));
        let candidates = classifier.rank_candidates(&text.title, &text.body);
        match candidates.iter().position(|(t, _)| t == primary) {
            Some(truth) => examples.push(RankExample {
                label,
                candidates: candidates
                    .into_iter()
                    .map(|(_, f)| f.into_iter().map(|(i, v)| (i & mask, v)).collect())
                    .collect(),
                truth,
                fold: fnv(&label.id) % FOLDS,
            }),
            None => absent[family] += usize::from(!candidates.is_empty()),
        }
    }
    // Per family: (examples, rule right, learned right out of fold).
    let mut choice = [(0usize, 0usize, 0usize); 2];
    for fold in 0..FOLDS {
        let train: Vec<&RankExample> = examples.iter().filter(|e| e.fold != fold).collect();
        let part = Ranker::from_parts(RANK_BITS, fit_rank(&train));
        for e in examples.iter().filter(|e| e.fold == fold) {
            let c = &mut choice[usize::from(!e.label.is_board())];
            c.0 += 1;
            c.1 += usize::from(e.truth == 0);
            c.2 += usize::from(part.order(&e.candidates)[0] == e.truth);
        }
    }
    for (family, name) in [(0, "message boards"), (1, "news")] {
        let (n, rule, learned) = choice[family];
        let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
        let end = rule_right[family] - rule + learned;
        println!(
            "topic order, {name:<14}: {n} alerts with the labelled primary among 2+ candidates ({} more without it): rule {rule} ({:.1}%), learned out-of-fold {learned} ({:.1}%) | primary over all {} alerts: rule {} ({:.1}%), learned out-of-fold {end} ({:.1}%)",
            absent[family],
            pct(rule, n),
            pct(learned, n),
            alerts[family],
            rule_right[family],
            pct(rule_right[family], alerts[family]),
            pct(end, alerts[family]),
        );
    }
    let all: Vec<&RankExample> = examples.iter().collect();
    Ranker::from_parts(RANK_BITS, fit_rank(&all))
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
    let mut classifier = match Classifier::load(&dict_dir, &Jurisdiction::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // The topic order first: the flag model's features name the primary topic.
    classifier.set_ranker(None);
    let ranker = train_ranker(&classifier, &labels, &texts);
    let rank_out = out.with_file_name("topic_rank.txt");
    let rank_text = ranker.to_text(
        &format!(
            "The learned order of the kept topics; generated by `cargo run --release --example train`, do not edit.\n\
             Softmax over each labelled alert's candidates (classify/model.rs rank_features), L2 {RANK_L2}, \
             {RANK_EPOCHS} AdaGrad epochs, features in >= {MIN_DOCS} items."
        ),
        MIN_WEIGHT,
    );
    if !write(&rank_out, &rank_text) {
        return ExitCode::from(2);
    }
    println!(
        "wrote {} ({} KB)",
        rank_out.display(),
        rank_text.len() / 1024
    );
    // The flag model learns from the order the daemon will use: the ranker as read
    // back from its file (weights rounded, small ones left out), not the one in memory.
    match Ranker::parse(&rank_text, &rank_out) {
        Ok(served) => classifier.set_ranker(Some(served)),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    }

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
    if !write(&out, &text) {
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
