//! Response matching quality (issue 12): official statements matched against open
//! incidents, scored for precision and recall (`tests/eval/responses.jsonl`, see
//! tests/eval/README.md). Every CEC report of the shared corpus (332, real text) is an
//! open incident at the same moment, so only place, topic and key terms decide; each
//! statement (written for this set) is recognised as the pipeline does
//! (`respond::candidate` from an official source) and matched with
//! `respond::same_event`, the best incident winning. A statement matched to an incident
//! not among its `answers` is a false match, as is any match of a statement that
//! answers none of them.
//!
//! The thresholds were tuned on the `tune` half (65 statements); the `test` half (30,
//! written afterwards and run once) measured precision 1.000 (19 of 19 matches right)
//! and recall 0.950 (19 of 20); CI enforces a little below that. Without the corpus the test skips with a note,
//! except under `CI=true`, where it fails.

mod common;
#[path = "eval/harness.rs"]
mod harness;

use std::path::Path;

use chrono::{Duration, Utc};
use serde::Deserialize;
use yuqing::classify::Classifier;
use yuqing::config::Jurisdiction;
use yuqing::respond::{self, EventFacts, TermWeights};

/// The test half must keep at least these.
const MIN_PRECISION: f64 = 0.95;
const MIN_RECALL: f64 = 0.9;

#[derive(Debug, Deserialize)]
struct Case {
    id: String,
    half: String,
    /// CEC ids of the reports the statement answers (empty: it answers none).
    answers: Vec<String>,
    title: String,
    body: String,
}

#[derive(Debug, Deserialize)]
struct Report {
    id: String,
    title: String,
    body: String,
}

struct Incident {
    id: String,
    places: Vec<String>,
    topics: Vec<String>,
    terms: Vec<String>,
}

#[derive(Debug, Default)]
struct Score {
    answering: usize,
    right: usize,
    wrong: usize,
    misses: Vec<String>,
    false_matches: Vec<String>,
}

impl Score {
    fn precision(&self) -> f64 {
        match self.right + self.wrong {
            0 => 1.0,
            n => self.right as f64 / n as f64,
        }
    }

    fn recall(&self) -> f64 {
        match self.answering {
            0 => 1.0,
            n => self.right as f64 / n as f64,
        }
    }
}

#[test]
fn response_matching_meets_its_thresholds() {
    let corpus = harness::corpus_dir().join("cec-emergencies.jsonl");
    let Ok(text) = std::fs::read_to_string(&corpus) else {
        common::skip::require_or_skip(
            "response matching quality",
            &format!(
                "the shared corpus is not at {} (set YUQING_CORPUS)",
                corpus.display()
            ),
        );
        return;
    };
    let reports: Vec<Report> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("corpus row"))
        .collect();
    let cases: Vec<Case> =
        std::fs::read_to_string(Path::new(harness::ROOT).join("tests/eval/responses.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("case"))
            .collect();
    for case in &cases {
        for id in &case.answers {
            assert!(
                reports.iter().any(|r| &r.id == id),
                "{}: {id} is not in the corpus",
                case.id
            );
        }
    }
    let classifier = Classifier::load(
        &Path::new(harness::ROOT).join("dictionaries"),
        &Jurisdiction::default(),
    )
    .unwrap();
    let incidents: Vec<Incident> = reports
        .iter()
        .map(|r| {
            let class = classifier.classify(&r.title, &r.body, false);
            Incident {
                id: r.id.clone(),
                places: class.places,
                topics: class.topics,
                terms: classifier.key_terms(&r.title, &r.body),
            }
        })
        .collect();
    let weights = TermWeights::new(incidents.iter().map(|i| i.terms.as_slice()));
    let now = Utc::now();
    let window = Duration::hours(72);
    let mut halves = [("tune", Score::default()), ("test", Score::default())];
    for case in &cases {
        let (_, score) = halves
            .iter_mut()
            .find(|(h, _)| *h == case.half)
            .unwrap_or_else(|| panic!("{}: unknown half {}", case.id, case.half));
        let answering = !case.answers.is_empty();
        score.answering += usize::from(answering);
        let matched = respond::candidate(&case.title, &case.body, true).and_then(|_| {
            let class = classifier.classify(&case.title, &case.body, false);
            let terms = respond::event_terms(&classifier.key_terms(&case.title, &case.body));
            let candidate = EventFacts {
                time: now,
                latest: now,
                places: &class.places,
                topics: &class.topics,
                terms: &terms,
            };
            let mut best: Option<(f64, &str)> = None;
            for incident in &incidents {
                let facts = EventFacts {
                    time: now,
                    latest: now,
                    places: &incident.places,
                    topics: &incident.topics,
                    terms: &incident.terms,
                };
                if respond::same_event(&candidate, &facts, window).is_none() {
                    continue;
                }
                let rank = weights.rank(&terms, &incident.terms);
                if best.is_none_or(|(b, _)| rank > b) {
                    best = Some((rank, &incident.id));
                }
            }
            best.map(|(_, id)| id.to_string())
        });
        match matched {
            Some(id) if case.answers.contains(&id) => score.right += 1,
            Some(id) => {
                score.wrong += 1;
                score.false_matches.push(format!("{} → {id}", case.id));
                if answering {
                    score.misses.push(case.id.clone());
                }
            }
            None if answering => score.misses.push(case.id.clone()),
            None => {}
        }
    }
    for (half, s) in &halves {
        eprintln!(
            "{half}: {} statements answering an event, {} answering none; precision {:.3} \
             ({} right, {} wrong), recall {:.3}; missed {:?}; false {:?}",
            s.answering,
            cases.iter().filter(|c| c.half == *half).count() - s.answering,
            s.precision(),
            s.right,
            s.wrong,
            s.recall(),
            s.misses,
            s.false_matches
        );
    }
    let test = &halves[1].1;
    assert!(
        test.precision() >= MIN_PRECISION && test.recall() >= MIN_RECALL,
        "test half: precision {:.3} (at least {MIN_PRECISION}), recall {:.3} (at least {MIN_RECALL})",
        test.precision(),
        test.recall()
    );
}
