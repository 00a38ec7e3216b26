//! Evaluation of detection against the hand labels.
//!
//! `cargo run --release --example eval -- [LABELS] [--errors] [--dictionaries DIR]`
//!
//! LABELS defaults to `tests/eval/labels.jsonl`. The texts are joined from the shared
//! corpus (`../shared/corpus`, or `$YUQING_CORPUS`) by (set, id); the corpus stays
//! outside the repository (evaluation use only). Prints, for all items and per set:
//! flag precision/recall/F1, per-topic precision/recall, primary-topic accuracy on
//! flagged items, severity accuracy, and exact casualty matches on items whose label
//! states casualties. `--errors` lists every item the classifier got wrong.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Deserialize;
use serde_json::Value;
use yuqing::classify::{Casualties, Classifier};
use yuqing::config::Jurisdiction;
use yuqing::model::{Classification, Level};

#[derive(Debug, Deserialize)]
struct Label {
    set: String,
    id: String,
    flag: bool,
    topics: Vec<String>,
    deaths: Option<u32>,
    injured: Option<u32>,
    seriously_injured: Option<u32>,
    #[serde(default)]
    note: String,
}

struct Text {
    title: String,
    body: String,
}

fn corpus_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("YUQING_CORPUS") {
        return PathBuf::from(dir);
    }
    // Beside the repository, or beside the folder of worktrees.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    ["../shared/corpus", "../../shared/corpus"]
        .iter()
        .map(|p| root.join(p))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| root.join("../shared/corpus"))
}

/// (set, id) → text, for the JSONL sets.
fn load_jsonl(
    dir: &Path,
    set: &str,
    body_field: &str,
    out: &mut HashMap<(String, String), Text>,
) -> Result<(), String> {
    let path = dir.join(format!("{set}.jsonl"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).map_err(|e| format!("{}: {e}", path.display()))?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        // The first row with an id wins (teddy has one duplicated id, not labelled).
        out.entry((set.to_string(), field("id"))).or_insert(Text {
            title: field("title"),
            body: field(body_field),
        });
    }
    Ok(())
}

fn load_rss(dir: &Path, out: &mut HashMap<(String, String), Text>) -> Result<(), String> {
    let path = dir.join("pages/chinanews-scroll-news.rss.xml");
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let feed =
        feed_rs::parser::parse(&bytes[..]).map_err(|e| format!("{}: {e}", path.display()))?;
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

#[derive(Default)]
struct Counts {
    n: usize,
    tp: usize,
    fp: usize,
    fn_: usize,
    flagged: usize,
    primary_ok: usize,
    severity_n: usize,
    severity_ok: usize,
    casualty_n: usize,
    casualty_ok: usize,
    topic: BTreeMap<String, (usize, usize, usize)>,
}

fn pct(a: usize, b: usize) -> String {
    if b == 0 {
        "   -  ".to_string()
    } else {
        format!("{:5.1}%", 100.0 * a as f64 / b as f64)
    }
}

impl Counts {
    fn add(&mut self, label: &Label, got: &Classification) {
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
            }
        }
        let want_level = want_severity(label);
        self.severity_n += 1;
        if want_level == got.severity {
            self.severity_ok += 1;
        }
        if label.deaths.is_some() || label.injured.is_some() || label.seriously_injured.is_some() {
            self.casualty_n += 1;
            if casualties_match(label, got) {
                self.casualty_ok += 1;
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
    }

    fn print(&self, name: &str, per_topic: bool) {
        let p = self.tp as f64 / (self.tp + self.fp).max(1) as f64;
        let r = self.tp as f64 / (self.tp + self.fn_).max(1) as f64;
        let f1 = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        println!(
            "{name:<16} n={:<4} flag P={:.3} R={:.3} F1={:.3} (tp {} fp {} fn {})  primary {} of {} = {}  severity {}  casualties {} of {} = {}",
            self.n,
            p,
            r,
            f1,
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
        );
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
    }
}

fn want_severity(label: &Label) -> Option<Level> {
    let c = Casualties {
        deaths: label.deaths,
        injured: label.injured,
        seriously_injured: label.seriously_injured,
    };
    yuqing::classify::casualty::severity(label.flag, &c)
}

fn casualties_match(label: &Label, got: &Classification) -> bool {
    label.deaths == got.deaths
        && label.injured == got.injured
        && label.seriously_injured == got.seriously_injured
}

fn main() -> ExitCode {
    let mut labels_path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/eval/labels.jsonl"
    ));
    let mut dict_dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/dictionaries"));
    let mut errors = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--errors" => errors = true,
            "--dictionaries" => match args.next() {
                Some(d) => dict_dir = PathBuf::from(d),
                None => {
                    eprintln!("--dictionaries 需要一个目录");
                    return ExitCode::from(2);
                }
            },
            other => labels_path = PathBuf::from(other),
        }
    }
    let labels_text = match std::fs::read_to_string(&labels_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("无法读取标注文件 {}：{e}", labels_path.display());
            return ExitCode::from(2);
        }
    };
    let labels: Vec<Label> = match labels_text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("标注文件格式错误：{e}");
            return ExitCode::from(2);
        }
    };

    let dir = corpus_dir();
    let mut texts = HashMap::new();
    let loaded = load_jsonl(&dir, "cec-emergencies", "body", &mut texts)
        .and_then(|_| load_jsonl(&dir, "teddy-messages", "body", &mut texts))
        .and_then(|_| load_jsonl(&dir, "liuyan-posts", "content", &mut texts))
        .and_then(|_| load_rss(&dir, &mut texts));
    if let Err(e) = loaded {
        eprintln!("语料不可用（{e}）；评测跳过。设置 YUQING_CORPUS 指向语料目录");
        return ExitCode::SUCCESS;
    }

    let classifier = match Classifier::load(&dict_dir, &Jurisdiction::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };

    let mut all = Counts::default();
    let mut per_set: BTreeMap<String, Counts> = BTreeMap::new();
    let mut missing = 0;
    for label in &labels {
        let Some(text) = texts.get(&(label.set.clone(), label.id.clone())) else {
            missing += 1;
            eprintln!("语料中找不到 {} {}", label.set, label.id);
            continue;
        };
        let got = classifier.classify(&text.title, &text.body, false);
        all.add(label, &got);
        per_set
            .entry(label.set.clone())
            .or_default()
            .add(label, &got);
        let wrong_flag = label.flag != got.flag;
        let wrong_topic = label.flag && got.topics.first() != label.topics.first();
        let has_casualties =
            label.deaths.is_some() || label.injured.is_some() || label.seriously_injured.is_some();
        let wrong_casualty = has_casualties && !casualties_match(label, &got);
        let wrong_severity = want_severity(label) != got.severity;
        if errors && (wrong_flag || wrong_topic || wrong_casualty || wrong_severity) {
            let mut what = Vec::new();
            if wrong_flag {
                what.push(format!("flag {}→{}", label.flag, got.flag));
            }
            if wrong_topic {
                what.push(format!("topics {:?}→{:?}", label.topics, got.topics));
            }
            if wrong_casualty {
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
            if wrong_severity {
                what.push(format!(
                    "severity {:?}→{:?}",
                    want_severity(label),
                    got.severity
                ));
            }
            let terms: Vec<String> = got
                .matches
                .iter()
                .map(|m| format!("{}:{}", m.topic, m.term))
                .collect();
            let title: String = text.title.chars().take(40).collect();
            println!(
                "[{}] {} | {} | score {} | {} | {}",
                label.set,
                title,
                what.join("; "),
                got.score,
                terms.join(" "),
                label.note
            );
        }
    }
    if errors {
        println!();
    }
    all.print("all", true);
    let mut without_cec = Counts::default();
    for label in labels.iter().filter(|l| l.set != "cec-emergencies") {
        if let Some(text) = texts.get(&(label.set.clone(), label.id.clone())) {
            without_cec.add(label, &classifier.classify(&text.title, &text.body, false));
        }
    }
    without_cec.print("all except cec", false);
    for (set, counts) in &per_set {
        counts.print(set, false);
    }
    if missing > 0 {
        eprintln!("{missing} 条标注在语料中找不到");
    }
    ExitCode::SUCCESS
}
