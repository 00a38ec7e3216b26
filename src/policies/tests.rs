use std::path::Path;

use super::matching::{Answer, Candidate, DocNo, Match, Tier, doc_numbers, match_answer};
use super::*;
use crate::calendar::Calendar;

fn ts(text: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn no(prefix: &str, year: u32, number: u32) -> DocNo {
    DocNo {
        prefix: prefix.into(),
        year,
        number,
    }
}

#[test]
fn document_numbers_are_read_with_any_bracket() {
    let cases: &[(&str, &[DocNo])] = &[
        ("临政发〔2025〕12号", &[no("临政发", 2025, 12)]),
        ("临政发[2025]12号", &[no("临政发", 2025, 12)]),
        ("临政发［2025］12号", &[no("临政发", 2025, 12)]),
        ("（临政办发(2024)3号）", &[no("临政办发", 2024, 3)]),
        ("县政府公告2025年第3号", &[no("政府公告", 2025, 3)]),
        ("〔2025〕第7号", &[no("", 2025, 7)]),
        (
            // In running text the prefix may carry a word before it (据); matching
            // compares prefixes by suffix, so it still agrees with 国办发.
            "根据国办发〔2019〕14号和鲁政办字〔2019〕81号",
            &[no("据国办发", 2019, 14), no("鲁政办字", 2019, 81)],
        ),
        // Not document numbers: no 号, a year out of range, a date.
        ("〔2025〕12", &[]),
        ("[12]3号", &[]),
        ("2025年3月1日", &[]),
    ];
    for (text, expected) in cases {
        assert_eq!(doc_numbers(text), *expected, "{text}");
    }
    assert_eq!(no("临政发", 2025, 12).display(), "临政发〔2025〕12号");
}

#[test]
fn document_numbers_agree_on_the_issuer_suffix() {
    let cases = [
        (no("临政发", 2025, 12), no("发临政发", 2025, 12), true),
        (no("临政发", 2025, 12), no("", 2025, 12), true),
        (no("临政发", 2025, 12), no("临政办发", 2025, 12), false),
        (no("临政发", 2025, 12), no("临政发", 2024, 12), false),
        (no("临政发", 2025, 12), no("临政发", 2025, 13), false),
    ];
    for (a, b, same) in cases {
        assert_eq!(a.same(&b), same, "{a:?} {b:?}");
        assert_eq!(b.same(&a), same, "{b:?} {a:?}");
    }
}

struct Doc {
    key: &'static str,
    title: &'static str,
    doc_no: Option<DocNo>,
}

fn docs() -> Vec<Doc> {
    vec![
        Doc {
            key: "a",
            title: "临县人民政府关于印发临县促进就业若干措施的通知",
            doc_no: Some(no("临政发", 2025, 12)),
        },
        Doc {
            key: "b",
            title: "临县人民政府办公室关于印发临县农村供水管理办法的通知",
            doc_no: Some(no("临政办发", 2025, 4)),
        },
        Doc {
            key: "c",
            title: "临县人民政府办公室关于印发临县农村供水应急预案的通知",
            doc_no: None,
        },
    ]
}

fn run(title: &str, text: &str) -> Match {
    let docs = docs();
    let candidates: Vec<Candidate<'_>> = docs
        .iter()
        .map(|d| Candidate {
            source: "gov-policy",
            key: d.key,
            title: d.title,
            doc_no: d.doc_no.as_ref(),
        })
        .collect();
    let answer = Answer {
        source: "gov-news",
        key: "x",
        title,
        text,
    };
    match_answer(&answer, &candidates)
}

#[test]
fn answers_match_their_document() {
    let cases = [
        // 文号 in the text, brackets differ.
        (
            "一图读懂：促进就业新政",
            "临政发[2025]12号文件要点",
            Match::One(0, Tier::DocNo),
        ),
        // 文号 decides even when the title would point elsewhere.
        (
            "《临县农村供水应急预案》政策解读",
            "本解读对应临政办发〔2025〕4号。",
            Match::One(1, Tier::DocNo),
        ),
        // Quoted title, nested quotes.
        (
            "关于《〈临县促进就业若干措施〉的政策解读》",
            "",
            Match::One(0, Tier::QuotedTitle),
        ),
        (
            "《临县农村供水管理办法》解读",
            "",
            Match::One(1, Tier::QuotedTitle),
        ),
        // Title overlap without quotes.
        (
            "临县农村供水应急预案政策解读",
            "",
            Match::One(2, Tier::TitleOverlap),
        ),
        // Ambiguous: both 农村供水 documents contain the quoted words.
        (
            "《临县农村供水》图解",
            "",
            Match::Ambiguous(vec![1, 2], Tier::QuotedTitle),
        ),
        // Nothing in common.
        ("秋季防火政策解读", "", Match::None),
        // Too short to overlap.
        ("就业解读", "", Match::None),
    ];
    for (title, text, expected) in cases {
        assert_eq!(run(title, text), expected, "{title}");
    }
}

#[test]
fn a_document_is_never_its_own_answer() {
    let no = no("临政发", 2025, 12);
    let candidates = [Candidate {
        source: "gov-policy",
        key: "a",
        title: "关于临县促进就业若干措施的政策解读",
        doc_no: Some(&no),
    }];
    let answer = Answer {
        source: "gov-policy",
        key: "a",
        title: "关于临县促进就业若干措施的政策解读",
        text: "临政发〔2025〕12号",
    };
    assert_eq!(match_answer(&answer, &candidates), Match::None);
}

const SEED_CLOCKS: &str = r#"
[[document_clock]]
id = "interpretation"
name = "政策解读"
starts_on = { roles = ["policy"] }
within = "3 workdays"
met_by = ["解读", "图解", "一图读懂", "一图看懂", "政策问答", "答记者问"]

[[document_clock]]
id = "executive-meeting"
name = "常务会议公开"
starts_on = { roles = ["official"], title_words = ["常务会议"] }
within = "1工作日"
met_by = ["常务会议议定事项", "会议纪要", "会议决定"]

[[document_clock]]
id = "consultation"
name = "意见征集情况"
starts_on = { roles = ["official", "policy"], title_words = ["征求意见", "意见征集"] }
within = "10 workdays"
met_by = ["征集结果", "采纳情况", "意见征集情况", "征求意见情况"]
met_on = ["official", "policy"]
"#;

#[derive(serde::Deserialize)]
struct Clocks {
    document_clock: Vec<DocumentClock>,
}

fn seed_clocks() -> Vec<DocumentClock> {
    toml::from_str::<Clocks>(SEED_CLOCKS)
        .unwrap()
        .document_clock
}

#[test]
fn the_seed_clocks_are_configuration() {
    let clocks = seed_clocks();
    DocumentClock::validate_all(&clocks).unwrap();
    assert_eq!(
        clocks[0],
        DocumentClock::interpretation(Window::Workdays(3))
    );
    assert_eq!(clocks[1].within, Window::Workdays(1));
    assert_eq!(
        clocks[1].met_on,
        vec![SourceRole::Official, SourceRole::Policy]
    );
    assert_eq!(clocks[2].within, Window::Workdays(10));
}

#[test]
fn which_documents_start_and_answer_a_clock() {
    let clocks = seed_clocks();
    use SourceRole::{News, Official, Policy};
    // (clock, role, title, starts?, answers?)
    let cases = [
        (0, Policy, "关于印发临县促进就业若干措施的通知", true, false),
        (
            0,
            Official,
            "关于印发临县促进就业若干措施的通知",
            false,
            false,
        ),
        (0, Policy, "《临县促进就业若干措施》政策解读", false, true),
        (0, Official, "一图读懂临县促进就业若干措施", false, true),
        (0, News, "记者解读临县就业新政", false, false),
        (1, Official, "县政府召开第12次常务会议", true, false),
        (1, Official, "县政府第12次常务会议议定事项", false, true),
        (
            1,
            Policy,
            "关于印发临县促进就业若干措施的通知",
            false,
            false,
        ),
        (
            2,
            Policy,
            "关于公开征求《临县供水管理办法（征求意见稿）》意见的公告",
            true,
            false,
        ),
        (
            2,
            Official,
            "《临县供水管理办法》意见征集情况及采纳情况",
            false,
            true,
        ),
    ];
    for (clock, role, title, starts, answers) in cases {
        let clock = &clocks[clock];
        assert_eq!(
            clock.starts(role, title),
            starts,
            "{} starts {title}",
            clock.name
        );
        assert_eq!(
            clock.answers(role, title),
            answers,
            "{} answers {title}",
            clock.name
        );
    }
}

#[test]
fn bad_clocks_are_refused_with_what_to_change() {
    let good = DocumentClock::interpretation(Window::Workdays(3));
    let mut bad_id = good.clone();
    bad_id.id = "政策".into();
    let mut everything = good.clone();
    everything.starts_on = StartsOn::default();
    let mut no_words = good.clone();
    no_words.met_by.clear();
    let cases = [
        (vec![bad_id], PolicyError::BadId("政策解读".into())),
        (
            vec![everything],
            PolicyError::StartsOnEverything("政策解读".into()),
        ),
        (
            vec![no_words],
            PolicyError::NoAnswerWords("政策解读".into()),
        ),
        (
            vec![good.clone(), good],
            PolicyError::DuplicateId("interpretation".into()),
        ),
    ];
    for (clocks, error) in cases {
        assert_eq!(DocumentClock::validate_all(&clocks), Err(error));
    }
}

#[test]
fn due_times_follow_the_official_calendar() {
    let calendar =
        Calendar::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries")).unwrap();
    let clocks = seed_clocks();
    // (clock, published, due, why)
    let cases = [
        (
            1,
            "2025-09-26T10:00:00+08:00",
            "2025-09-29T00:00:00+08:00",
            "常务会议 on a Friday: the make-up Sunday 9-28 is the working day",
        ),
        (
            0,
            "2025-09-30T18:00:00+08:00",
            "2025-10-12T00:00:00+08:00",
            "解读 across 国庆: 10-9, 10-10, then the make-up Saturday 10-11",
        ),
        (
            0,
            "2025-03-03T09:00:00+08:00",
            "2025-03-07T00:00:00+08:00",
            "解读 in an ordinary week: Tue, Wed, Thu",
        ),
        (
            2,
            "2025-01-20T09:00:00+08:00",
            "2025-02-09T00:00:00+08:00",
            "意见征集 across 春节 with make-up days 1-26 and 2-8",
        ),
    ];
    for (clock, published, due, why) in cases {
        assert_eq!(
            calendar.due(ts(published), clocks[clock].within).unwrap(),
            ts(due),
            "{why}"
        );
    }
}

fn tracked(due: &str) -> TrackedDocument {
    TrackedDocument {
        clock: "executive-meeting".into(),
        source: "gov".into(),
        key: "k".into(),
        title: "县政府召开第12次常务会议".into(),
        url: None,
        doc_no: None,
        published_at: ts("2025-09-26T10:00:00+08:00"),
        due_at: ts(due),
        backfilled: false,
        met_at: None,
        met_by: None,
    }
}

#[test]
fn a_tracked_document_goes_pending_then_met_or_overdue() {
    let due = "2025-09-29T00:00:00+08:00";
    let before = ts("2025-09-28T12:00:00+08:00");
    let after = ts("2025-09-29T09:00:00+08:00");
    let open = tracked(due);
    assert_eq!(open.state(before), DocumentState::Pending);
    assert_eq!(open.state(after), DocumentState::Overdue);
    assert!(open.notifies(after));
    assert_eq!(open.on_time(), None);

    let mut met = tracked(due);
    met.met_at = Some(before);
    assert_eq!(met.state(after), DocumentState::Met);
    assert_eq!(met.on_time(), Some(true));
    assert!(!met.notifies(after));
    met.met_at = Some(after);
    assert_eq!(met.on_time(), Some(false), "met late");

    let mut old = tracked(due);
    old.backfilled = backfilled(true, old.due_at, after);
    assert_eq!(old.state(after), DocumentState::Backfilled);
    assert!(!old.notifies(after));
    assert!(
        !backfilled(false, old.due_at, after),
        "later polls track it"
    );
    assert!(!backfilled(true, old.due_at, before), "still in its window");
}
