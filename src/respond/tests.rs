use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|t| t.to_string()).collect()
}

#[test]
fn candidates_by_source_title_and_speaker() {
    // (title, body, official source, expected form)
    let table: [(&str, &str, bool, Option<Form>); 12] = [
        (
            "关于石埠子镇矿山透水事故的情况通报",
            "",
            true,
            Some(Form::Statement),
        ),
        (
            "关于石埠子镇矿山透水事故的情况通报",
            "安丘市应急管理局 2026年11月24日",
            false,
            Some(Form::Statement),
        ),
        // A form word without a speaker, from a news source: not a candidate.
        ("网友通报小区停水情况", "", false, None),
        ("安丘警方通报一起交通事故", "", false, Some(Form::Statement)),
        ("市政府召开矿山事故新闻发布会", "", false, Some(Form::Press)),
        // Press beats the routine word 召开 and the statement words.
        (
            "召开透水事故情况通报新闻发布会",
            "",
            true,
            Some(Form::Press),
        ),
        ("透水事故救援续报", "", true, Some(Form::FollowUp)),
        (
            "应急管理局：透水事故救援最新进展",
            "",
            false,
            Some(Form::FollowUp),
        ),
        // An official item without a form word is a release …
        (
            "石埠子镇全力开展透水事故救援",
            "",
            true,
            Some(Form::Release),
        ),
        // … unless it is routine business.
        ("县政府召开常务会议", "", true, None),
        ("关于做好冬季安全生产工作的通知", "", true, None),
        // A news item without any form: never.
        ("矿山透水 3人被困", "县应急管理局赶赴现场", false, None),
    ];
    for (title, body, official, expected) in table {
        assert_eq!(candidate(title, body, official), expected, "{title}");
    }
}

#[test]
fn only_full_forms_answer_an_event_alone() {
    assert!(Form::Statement.answers_alone());
    assert!(Form::Press.answers_alone());
    assert!(Form::FollowUp.answers_alone());
    assert!(!Form::Release.answers_alone());
}

#[test]
fn form_vocabulary_is_set_aside() {
    let terms = strings(&["情况通报", "透水", "关于", "矿山", "通报", "石埠子镇"]);
    assert_eq!(event_terms(&terms), strings(&["透水", "矿山", "石埠子镇"]));
}

#[test]
fn same_event_rules() {
    let event = ts("2026-11-24T02:00:00Z");
    let latest = ts("2026-11-24T06:00:00Z");
    let window = Duration::hours(72);
    let incident_terms = strings(&["矿山", "透水", "石埠子镇", "被困", "救援", "矿工", "井下"]);
    let place = strings(&["安丘市"]);
    let accident = strings(&["accident"]);
    let incident = EventFacts {
        time: event,
        latest,
        places: &place,
        topics: &accident,
        terms: &incident_terms,
    };
    let other_place = strings(&["潍坊市"]);
    let none: Vec<String> = Vec::new();
    let health = strings(&["health"]);
    let good = strings(&["矿山", "透水", "被困", "矿工", "组织", "全力"]);
    let two = strings(&["矿山", "透水", "组织", "全力"]);
    let four = strings(&["矿山", "透水", "被困", "矿工"]);
    let diluted = strings(&[
        "矿山", "透水", "被困", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10",
    ]);
    let h = Duration::hours;
    // (case, time, places, topics, terms, matches)
    type Case<'a> = (
        &'a str,
        Timestamp,
        &'a [String],
        &'a [String],
        &'a [String],
        bool,
    );
    let table: Vec<Case> = vec![
        ("same event", latest + h(2), &place, &accident, &good, true),
        (
            "other place",
            latest + h(2),
            &other_place,
            &accident,
            &good,
            false,
        ),
        (
            "no place vs a place",
            latest + h(2),
            &none,
            &accident,
            &good,
            false,
        ),
        ("other topic", latest + h(2), &place, &health, &good, false),
        (
            "no topic is no veto",
            latest + h(2),
            &place,
            &none,
            &good,
            true,
        ),
        (
            "two shared terms",
            latest + h(2),
            &place,
            &accident,
            &two,
            false,
        ),
        (
            "diluted: 3 of 13",
            latest + h(2),
            &place,
            &accident,
            &diluted,
            false,
        ),
        (
            "after the window",
            latest + h(73),
            &place,
            &accident,
            &good,
            false,
        ),
        (
            "well before the event",
            event - h(73),
            &place,
            &accident,
            &good,
            false,
        ),
        (
            "just before the event",
            event - h(1),
            &place,
            &accident,
            &good,
            true,
        ),
        ("exactly four", latest, &place, &accident, &four, true),
    ];
    for (case, time, places, topics, terms, expected) in table {
        let candidate = EventFacts {
            time,
            latest: time,
            places,
            topics,
            terms,
        };
        assert_eq!(
            same_event(&candidate, &incident, window).is_some(),
            expected,
            "{case}"
        );
    }
    // Neither names a place: four shared terms are needed.
    let placeless = EventFacts {
        places: &none,
        ..incident
    };
    let three = strings(&["矿山", "透水", "被困"]);
    for (terms, expected) in [(&three, None), (&four, Some(1.0))] {
        let candidate = EventFacts {
            time: latest,
            latest,
            places: &none,
            topics: &none,
            terms,
        };
        assert_eq!(
            same_event(&candidate, &placeless, window),
            expected,
            "{terms:?}"
        );
    }
}

#[test]
fn milestone_by_form_level_and_what_is_met() {
    let due = ts("2026-11-24T10:00:00Z");
    let met = Some(ts("2026-11-24T05:00:00Z"));
    let deadline = |milestone, met_at| Deadline {
        milestone,
        due_at: due,
        met_at,
    };
    let high = |statement, press| {
        vec![
            deadline(Milestone::Ack, None),
            deadline(Milestone::Statement, statement),
            deadline(Milestone::Press, press),
        ]
    };
    let low = |response| {
        vec![
            deadline(Milestone::Ack, None),
            deadline(Milestone::Response, response),
        ]
    };
    use Form::*;
    use Milestone as M;
    let table: Vec<(Form, Level, Vec<Deadline>, Option<Milestone>)> = vec![
        (Statement, Level::II, high(None, None), Some(M::Statement)),
        (Release, Level::I, high(None, None), Some(M::Statement)),
        (Press, Level::II, high(None, None), Some(M::Press)),
        // Press already held: a press conference still publishes the statement.
        (Press, Level::II, high(None, met), Some(M::Statement)),
        // The statement is met: a later statement is a 续报.
        (Statement, Level::II, high(met, None), None),
        (FollowUp, Level::II, high(met, met), None),
        (Statement, Level::III, low(None), Some(M::Response)),
        (Press, Level::IV, low(None), Some(M::Response)),
        (Statement, Level::IV, low(met), None),
        (Statement, Level::Watch, vec![], None),
    ];
    for (form, level, deadlines, expected) in table {
        assert_eq!(
            milestone_for(form, level, &deadlines),
            expected,
            "{form:?} {level:?}"
        );
    }
}

#[test]
fn rare_shared_terms_rank_first() {
    let a = strings(&["矿山", "透水", "石埠子镇", "被困"]);
    let b = strings(&["矿山", "透水", "景芝镇", "被困"]);
    let c = strings(&["矿山", "塌方", "景芝镇"]);
    let weights = TermWeights::new([a.as_slice(), b.as_slice(), c.as_slice()]);
    // A term no incident has weighs most, one every incident has least.
    assert!(weights.weight("新词") > weights.weight("石埠子镇"));
    assert!(weights.weight("石埠子镇") > weights.weight("透水"));
    assert!(weights.weight("透水") > weights.weight("矿山"));
    assert!((weights.weight("矿山") - 1.0).abs() < 1e-9);
    // The statement names 石埠子镇: incident a, though both share three terms.
    let statement = strings(&["矿山", "透水", "石埠子镇", "救援"]);
    assert!(weights.rank(&statement, &a) > weights.rank(&statement, &b));
    assert_eq!(weights.rank(&statement, &strings(&["地震"])), 0.0);
    // Repeated terms count once.
    let twice = strings(&["石埠子镇", "石埠子镇"]);
    assert_eq!(weights.rank(&twice, &a), weights.rank(&twice[..1], &a));
}
