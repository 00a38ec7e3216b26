//! The ledger end to end over a real sled store: grouping, grading, clocks,
//! lifecycle, audit, concurrency, merge, and the deadline task under a paused clock.

use std::sync::Arc;

use yuqing::clock::{Deadlines, FireReport};
use yuqing::config::Config;
use yuqing::ledger::{AckOutcome, IngestOutcome, Ledger, LedgerError};
use yuqing::model::{
    Classification, DateQuality, DeadlineState, Incident, Item, Level, Milestone, NoticeKind,
    Status, Timestamp,
};
use yuqing::parse::ParsedItem;
use yuqing::store::Store;

const FEEDS: &str = r#"
[[source]]
id = "news-a"
name = "新闻甲"
kind = "feed"
url = "https://a.example.org/rss"
interval = "5m"

[[source]]
id = "news-b"
name = "新闻乙"
kind = "feed"
url = "https://b.example.org/rss"
interval = "5m"

[[source]]
id = "county-board"
name = "县政府留言板"
kind = "feed"
url = "https://board.example.org/rss"
interval = "5m"
local = true
"#;

const RECIPIENTS: &str = r#"
[recipients]
duty = ["duty@example.org"]
propaganda = ["xcb@example.org"]
office = ["office@example.org"]
leaders = ["leader@example.org"]

[units]
"市应急管理局" = ["yjj@example.org"]
"#;

/// A configuration with the test sources and recipients, plus `extra` TOML.
fn config_with(extra: &str) -> Arc<Config> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feeds.toml"), FEEDS).unwrap();
    let path = dir.path().join("yuqing.toml");
    std::fs::write(&path, format!("{RECIPIENTS}\n{extra}")).unwrap();
    Arc::new(Config::load(&path).unwrap())
}

/// The ledger under test with the store it is built on and its deadlines.
#[derive(Clone)]
struct Rig {
    ledger: Ledger,
    store: Store,
    deadlines: Deadlines,
}

impl Rig {
    fn new(store: Store, config: Arc<Config>, wake: Arc<tokio::sync::Notify>) -> Rig {
        let ledger = Ledger::new(store.clone(), config, wake);
        Rig {
            deadlines: Deadlines::new(store.clone(), ledger.clone()),
            ledger,
            store,
        }
    }

    fn store(&self) -> &Store {
        &self.store
    }

    fn fire_due(&self, now: Timestamp, limit: usize) -> Result<FireReport, LedgerError> {
        self.deadlines.fire_due(now, limit)
    }

    fn repair_schedule(&self, now: Timestamp) -> Result<usize, LedgerError> {
        self.deadlines.repair_schedule(now)
    }
}

impl std::ops::Deref for Rig {
    type Target = Ledger;

    fn deref(&self) -> &Ledger {
        &self.ledger
    }
}

fn ledger_with(extra: &str) -> Rig {
    Rig::new(
        Store::temporary().unwrap(),
        config_with(extra),
        Arc::new(tokio::sync::Notify::new()),
    )
}

fn ledger() -> Rig {
    ledger_with("")
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const T0: &str = "2026-11-24T00:00:00Z";

/// A flagged item about an explosion at 景芝镇, with its key terms.
struct Spec {
    source: &'static str,
    key: &'static str,
    topic: &'static str,
    places: &'static [&'static str],
    severity: Option<Level>,
    local: bool,
    published: Option<(&'static str, DateQuality)>,
    terms: &'static [&'static str],
}

const EXPLOSION: Spec = Spec {
    source: "news-a",
    key: "a1",
    topic: "work_safety",
    places: &["景芝镇"],
    severity: None,
    local: true,
    published: None,
    terms: &["化工厂", "爆炸", "景芝镇", "起火", "消防"],
};

/// Stores the item (as intake would) and returns it classified.
fn stored(store: &Store, spec: &Spec, now: Timestamp) -> Item {
    let (published, date_quality) = match spec.published {
        Some((at, q)) => (Some(ts(at)), Some(q)),
        None => (None, None),
    };
    store
        .upsert_item(
            spec.source,
            ParsedItem {
                key: spec.key.into(),
                title: format!("{}：{}", spec.key, spec.terms.join("")),
                link: None,
                body: spec.terms.join("，"),
                published,
                date_quality,
            },
            now,
        )
        .unwrap();
    let classification = Classification {
        flag: true,
        topics: vec![spec.topic.into()],
        severity: spec.severity,
        places: spec.places.iter().map(|p| p.to_string()).collect(),
        local: spec.local,
        unit: Some("市应急管理局".into()),
        ..Default::default()
    };
    store
        .set_classification(spec.source, spec.key, classification)
        .unwrap();
    store.item(spec.source, spec.key).unwrap().unwrap()
}

fn ingest(ledger: &Rig, spec: &Spec, now: Timestamp) -> IngestOutcome {
    let item = stored(ledger.store(), spec, now);
    let terms: Vec<String> = spec.terms.iter().map(|t| t.to_string()).collect();
    ledger.ingest(&item, &terms, now).unwrap().unwrap()
}

fn opened(outcome: IngestOutcome) -> u64 {
    match outcome {
        IngestOutcome::Opened(id) => id,
        other => panic!("expected a new incident, got {other:?}"),
    }
}

/// Issue 11.7/11.8: an incident keeps the source's name, the item's own link and the
/// opening item's lead (excerpt, casualties, town government), so the mail can name
/// the source, link a board post whose key is no address, and reach the 属地.
#[test]
fn item_refs_carry_the_source_name_and_the_items_link() {
    // Continues the [units] table of RECIPIENTS: the town government's address.
    let ledger = ledger_with("\"景芝镇人民政府\" = [\"jzz@example.org\"]\n");
    let now = ts(T0);
    let spec = Spec {
        source: "county-board",
        key: "tid-8812",
        ..EXPLOSION
    };
    let mut item = stored(ledger.store(), &spec, now);
    item.link = Some("https://board.example.org/view?tid=8812".into());
    if let Some(c) = item.classification.as_mut() {
        c.government = Some("景芝镇人民政府".into());
    }
    let terms: Vec<String> = spec.terms.iter().map(|t| t.to_string()).collect();
    let id = opened(ledger.ingest(&item, &terms, now).unwrap().unwrap());
    let incident = ledger.get(id).unwrap();
    assert_eq!(incident.items.len(), 1);
    assert_eq!(
        incident.items[0].source_name.as_deref(),
        Some("县政府留言板")
    );
    assert_eq!(
        incident.items[0].link.as_deref(),
        Some("https://board.example.org/view?tid=8812")
    );
    let lead = incident.lead().expect("the opening item's lead");
    assert_eq!(lead.excerpt, item.body);
    assert_eq!(lead.government.as_deref(), Some("景芝镇人民政府"));
    // The opened notice also goes to the town government (属地).
    let opened = ledger
        .store()
        .outbox_pending(usize::MAX)
        .unwrap()
        .into_iter()
        .find(|(_, row)| row.notice.key == format!("{id}/opened"))
        .expect("the opened notice");
    assert!(
        opened.1.notice.to.contains(&"jzz@example.org".to_string()),
        "{:?}",
        opened.1.notice.to
    );
    // A second item joins without a lead of its own.
    let again = Spec {
        key: "tid-8813",
        ..spec
    };
    assert_eq!(ingest(&ledger, &again, now), IngestOutcome::Joined(id));
    let incident = ledger.get(id).unwrap();
    assert_eq!(incident.items.len(), 2);
    assert!(incident.items[1].lead.is_none());
    assert!(incident.items[0].lead.is_some());
}

fn queued_keys(store: &Store) -> Vec<String> {
    store
        .outbox_pending(usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(_, row)| row.notice.key)
        .collect()
}

fn actions(ledger: &Rig, id: u64) -> Vec<String> {
    ledger
        .audit(id)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

fn not_allowed<T: std::fmt::Debug>(result: Result<T, LedgerError>) -> String {
    match result {
        Err(LedgerError::NotAllowed(message)) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn unflagged_items_are_ignored() {
    let ledger = ledger();
    let mut item = stored(ledger.store(), &EXPLOSION, ts(T0));
    item.classification.as_mut().unwrap().flag = false;
    assert_eq!(ledger.ingest(&item, &[], ts(T0)).unwrap(), None);
    item.classification = None;
    assert_eq!(ledger.ingest(&item, &[], ts(T0)).unwrap(), None);
    assert_eq!(ledger.store().incident_count(), 0);
}

/// Joining reads the incident without its later items and adds one key (issue 16):
/// every item is kept, in the order it joined, and each join's audit line counts them.
#[test]
fn many_joins_keep_every_item_in_order() {
    let ledger = ledger();
    let now = ts(T0);
    let id = opened(ingest(&ledger, &EXPLOSION, now));
    let keys = ["a2", "a3", "a4", "a5", "a6", "a7"];
    for (n, key) in keys.into_iter().enumerate() {
        let spec = Spec { key, ..EXPLOSION };
        let at = now + chrono::Duration::minutes(n as i64 + 1);
        assert_eq!(ingest(&ledger, &spec, at), IngestOutcome::Joined(id));
    }
    let incident = ledger.get(id).unwrap();
    let held: Vec<&str> = incident.items.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(held, ["a1", "a2", "a3", "a4", "a5", "a6", "a7"]);
    assert!(incident.items[0].lead.is_some());
    assert!(incident.items[1..].iter().all(|r| r.lead.is_none()));
    let joins: Vec<String> = ledger
        .audit(id)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "item_added")
        .map(|e| e.detail)
        .collect();
    assert_eq!(joins.len(), keys.len());
    for (n, detail) in joins.iter().enumerate() {
        assert!(detail.contains(&format!("共 {} 条", n + 2)), "{detail}");
    }
    assert_eq!(ledger.items_of(id).unwrap().len(), 7);
    let every: Vec<_> = ledger.store().incidents().map(Result::unwrap).collect();
    assert_eq!(every.len(), 1);
    assert_eq!(every[0].items, incident.items);
}

#[test]
fn reposts_across_sources_join_and_add_heat_once() {
    let ledger = ledger();
    let now = ts(T0);
    let id = opened(ingest(&ledger, &EXPLOSION, now));
    let repost = Spec {
        source: "news-b",
        key: "b7",
        terms: &["爆炸", "化工厂", "景芝镇", "伤亡"],
        ..EXPLOSION
    };
    let later = now + chrono::Duration::hours(2);
    assert_eq!(ingest(&ledger, &repost, later), IngestOutcome::Joined(id));
    // An edit of an attached item (same source and key) does not count twice.
    assert_eq!(ingest(&ledger, &repost, later), IngestOutcome::Joined(id));
    let incident = ledger.get(id).unwrap();
    assert_eq!(incident.items.len(), 2);
    assert_eq!(
        incident.sources.iter().collect::<Vec<_>>(),
        ["news-a", "news-b"]
    );
    assert_eq!(
        ledger
            .store()
            .item("news-b", "b7")
            .unwrap()
            .unwrap()
            .incident,
        Some(id)
    );
    assert_eq!(ledger.items_of(id).unwrap().len(), 2);
    assert_eq!(actions(&ledger, id), ["opened", "item_added"]);
    // The opening mail goes once, to duty, propaganda and the unit.
    assert_eq!(queued_keys(ledger.store()), [format!("{id}/opened")]);
    let pending = ledger.store().outbox_pending(10).unwrap();
    let notice = &pending[0].1.notice;
    assert_eq!(notice.key, format!("{id}/opened"));
    assert_eq!(
        notice.to,
        ["duty@example.org", "xcb@example.org", "yjj@example.org"]
    );
    assert!(matches!(&notice.kind, NoticeKind::Opened { incident } if incident.id == id));
}

#[test]
fn other_place_topic_terms_or_time_open_a_new_incident() {
    let day = chrono::Duration::days(1);
    let cases: [(&str, Spec, chrono::Duration); 5] = [
        (
            "other place",
            Spec {
                key: "p",
                places: &["兴安街道"],
                ..EXPLOSION
            },
            chrono::Duration::zero(),
        ),
        (
            "no place vs place",
            Spec {
                key: "q",
                places: &[],
                ..EXPLOSION
            },
            chrono::Duration::zero(),
        ),
        (
            "other topic",
            Spec {
                key: "t",
                topic: "environment",
                ..EXPLOSION
            },
            chrono::Duration::zero(),
        ),
        (
            "different story",
            Spec {
                key: "d",
                terms: &["化工厂", "招聘", "工资", "待遇"],
                ..EXPLOSION
            },
            chrono::Duration::zero(),
        ),
        (
            "outside the 72h window",
            Spec {
                key: "w",
                ..EXPLOSION
            },
            day * 4,
        ),
    ];
    for (what, spec, after) in cases {
        let ledger = ledger();
        let first = opened(ingest(&ledger, &EXPLOSION, ts(T0)));
        let second = ingest(&ledger, &spec, ts(T0) + after);
        assert!(
            matches!(second, IngestOutcome::Opened(id) if id != first),
            "{what}: {second:?}"
        );
    }
    // Within the window (71 h later) it still joins.
    let ledger = ledger();
    let first = opened(ingest(&ledger, &EXPLOSION, ts(T0)));
    let near = Spec {
        key: "n",
        ..EXPLOSION
    };
    assert_eq!(
        ingest(&ledger, &near, ts(T0) + chrono::Duration::hours(71)),
        IngestOutcome::Joined(first)
    );
}

#[test]
fn both_without_place_join() {
    let ledger = ledger();
    let a = Spec {
        places: &[],
        ..EXPLOSION
    };
    let b = Spec {
        source: "news-b",
        key: "b",
        places: &[],
        ..EXPLOSION
    };
    let id = opened(ingest(&ledger, &a, ts(T0)));
    assert_eq!(ingest(&ledger, &b, ts(T0)), IngestOutcome::Joined(id));
}

#[test]
fn level_watch_and_clocks_at_open() {
    let now = ts(T0);
    // (spec, outside_as_watch, expected level, expected milestones)
    let cases: [(Spec, bool, Level, &[Milestone]); 5] = [
        (
            EXPLOSION,
            true,
            Level::IV,
            &[Milestone::Ack, Milestone::Response],
        ),
        (
            Spec {
                severity: Some(Level::II),
                ..EXPLOSION
            },
            true,
            Level::II,
            &[Milestone::Ack, Milestone::Statement, Milestone::Press],
        ),
        (
            Spec {
                local: false,
                severity: Some(Level::III),
                ..EXPLOSION
            },
            true,
            Level::Watch,
            &[],
        ),
        (
            Spec {
                local: false,
                severity: Some(Level::III),
                ..EXPLOSION
            },
            false,
            Level::III,
            &[Milestone::Ack, Milestone::Response],
        ),
        // Not classified local, but from a local source: local.
        (
            Spec {
                source: "county-board",
                local: false,
                ..EXPLOSION
            },
            true,
            Level::IV,
            &[Milestone::Ack, Milestone::Response],
        ),
    ];
    for (spec, outside_as_watch, level, milestones) in cases {
        let ledger = ledger_with(&format!(
            "[jurisdiction]\noutside_as_watch = {outside_as_watch}\n"
        ));
        let id = opened(ingest(&ledger, &spec, now));
        let incident = ledger.get(id).unwrap();
        assert_eq!(incident.level, level, "{spec_key}", spec_key = spec.key);
        let got: Vec<_> = incident.deadlines.iter().map(|d| d.milestone).collect();
        assert_eq!(got, milestones);
        assert_eq!(ledger.store().due_of(id).unwrap().len(), milestones.len());
        let announced = if level == Level::Watch {
            vec![]
        } else {
            vec![format!("{id}/opened")]
        };
        assert_eq!(
            queued_keys(ledger.store()),
            announced,
            "watch is not mailed"
        );
    }
}

#[test]
fn a_higher_item_level_on_join_regrades_and_recomputes_clocks() {
    let ledger = ledger();
    let now = ts(T0);
    let id = opened(ingest(&ledger, &EXPLOSION, now));
    assert_eq!(ledger.get(id).unwrap().level, Level::IV);
    let worse = Spec {
        source: "news-b",
        key: "b",
        severity: Some(Level::II),
        ..EXPLOSION
    };
    ingest(&ledger, &worse, now + chrono::Duration::minutes(10));
    let incident = ledger.get(id).unwrap();
    assert_eq!(incident.level, Level::II);
    assert_eq!(incident.detected_level, Level::II);
    let statement = incident.deadline(Milestone::Statement).unwrap();
    assert_eq!(statement.due_at, now + chrono::Duration::hours(5));
    assert!(incident.deadline(Milestone::Response).is_none());
    let audit = ledger.audit(id).unwrap();
    let level = audit.iter().find(|e| e.action == "level").unwrap();
    assert_eq!(level.by, "system");
    assert!(level.detail.contains("IV") && level.detail.contains("II"));
    assert_eq!(level.reason.as_deref(), Some("新增信息的等级更高"));
    let due: Vec<_> = ledger
        .store()
        .due_of(id)
        .unwrap()
        .into_iter()
        .map(|e| e.milestone)
        .collect();
    assert_eq!(
        due,
        [Milestone::Ack, Milestone::Statement, Milestone::Press]
    );
}

#[test]
fn spread_across_sources_raises_one_level() {
    let ledger = ledger_with("[policy]\nspread_sources = 3\nspread_window = \"6h\"\n");
    let now = ts(T0);
    let id = opened(ingest(&ledger, &EXPLOSION, now));
    let b = Spec {
        source: "news-b",
        key: "b",
        ..EXPLOSION
    };
    ingest(&ledger, &b, now + chrono::Duration::hours(1));
    assert_eq!(ledger.get(id).unwrap().level, Level::IV);
    let c = Spec {
        source: "county-board",
        key: "c",
        ..EXPLOSION
    };
    ingest(&ledger, &c, now + chrono::Duration::hours(2));
    let incident = ledger.get(id).unwrap();
    assert_eq!(incident.level, Level::III);
    let level = ledger
        .audit(id)
        .unwrap()
        .into_iter()
        .find(|e| e.action == "level")
        .unwrap();
    assert!(level.reason.unwrap().contains("3 个来源"));

    // Three sources spread over more than the window: no raise.
    let slow = ledger_with("[policy]\nspread_sources = 3\nspread_window = \"6h\"\n");
    let id = opened(ingest(&slow, &EXPLOSION, now));
    ingest(&slow, &b, now + chrono::Duration::hours(4));
    ingest(&slow, &c, now + chrono::Duration::hours(8));
    assert_eq!(slow.get(id).unwrap().level, Level::IV);

    // spread_sources = 0: never.
    let never = ledger_with("[policy]\nspread_sources = 0\n");
    let id = opened(ingest(&never, &EXPLOSION, now));
    ingest(&never, &b, now);
    ingest(&never, &c, now);
    assert_eq!(never.get(id).unwrap().level, Level::IV);
}

#[test]
fn a_local_item_turns_a_watch_incident_into_a_graded_one() {
    let ledger = ledger();
    let now = ts(T0);
    let outside = Spec {
        local: false,
        ..EXPLOSION
    };
    let id = opened(ingest(&ledger, &outside, now));
    assert_eq!(ledger.get(id).unwrap().level, Level::Watch);
    let local = Spec {
        source: "county-board",
        key: "c",
        ..EXPLOSION
    };
    ingest(&ledger, &local, now);
    let incident = ledger.get(id).unwrap();
    assert_eq!(incident.level, Level::IV);
    assert!(incident.local);
    assert_eq!(incident.deadlines.len(), 2);
    // Announced now that it has a clock.
    assert_eq!(queued_keys(ledger.store()), [format!("{id}/opened")]);
}

#[test]
fn the_clock_starts_at_the_earliest_credible_publication() {
    let ledger = ledger();
    let now = ts("2026-11-24T06:00:00Z");
    let implausible = Spec {
        severity: Some(Level::II),
        published: Some(("1990-01-01T00:00:00Z", DateQuality::Implausible)),
        ..EXPLOSION
    };
    let id = opened(ingest(&ledger, &implausible, now));
    let incident = ledger.get(id).unwrap();
    assert_eq!(
        incident.event_at, now,
        "implausible dates fall back to detection"
    );
    let credible = Spec {
        source: "news-b",
        key: "b",
        severity: Some(Level::II),
        published: Some(("2026-11-24T03:00:00Z", DateQuality::Credible)),
        ..EXPLOSION
    };
    ingest(&ledger, &credible, now);
    let incident = ledger.get(id).unwrap();
    assert_eq!(incident.event_at, ts("2026-11-24T03:00:00Z"));
    assert_eq!(
        incident.deadline(Milestone::Statement).unwrap().due_at,
        ts("2026-11-24T08:00:00Z")
    );
    // The 签收 window runs from detection.
    assert_eq!(
        incident.deadline(Milestone::Ack).unwrap().due_at,
        now + chrono::Duration::minutes(30)
    );
    assert!(actions(&ledger, id).contains(&"event_time".to_string()));

    // Opened from a credible date: the clock starts there.
    let other = ledger_with("");
    let id = opened(ingest(&other, &credible, now));
    assert_eq!(other.get(id).unwrap().event_at, ts("2026-11-24T03:00:00Z"));
}

/// Opens a fresh incident at `level` (each call is a different event: its own item and place).
fn open_level(ledger: &Rig, level: Level) -> u64 {
    let n = ledger.store().incident_count();
    let name: &'static str = Box::leak(format!("事件地点{n}").into_boxed_str());
    let places: &'static [&'static str] = Box::leak(vec![name].into_boxed_slice());
    let spec = Spec {
        key: name,
        places,
        severity: Some(level),
        ..EXPLOSION
    };
    opened(ingest(ledger, &spec, ts(T0)))
}

#[test]
fn lifecycle_new_acknowledged_responded_closed() {
    let ledger = ledger();
    let id = open_level(&ledger, Level::II);
    let t = |m: i64| ts(T0) + chrono::Duration::minutes(m);
    assert_eq!(ledger.get(id).unwrap().status, Status::New);

    let AckOutcome::Acknowledged(incident) =
        ledger.ack(id, "张三", Some("已转应急局"), t(10)).unwrap()
    else {
        panic!("first ack acknowledges")
    };
    assert_eq!(incident.status, Status::Acknowledged);
    assert_eq!(
        incident.deadline(Milestone::Ack).unwrap().met_at,
        Some(t(10))
    );
    match ledger.ack(id, "李四", None, t(20)).unwrap() {
        AckOutcome::AlreadyAcknowledged { by, at, .. } => {
            assert_eq!((by.as_str(), at), ("张三", t(10)))
        }
        other => panic!("repeat ack: {other:?}"),
    }

    let incident = ledger
        .milestone(
            id,
            Milestone::Statement,
            "张三",
            Some("https://gov.example.org/1"),
            None,
            t(200),
            t(210),
        )
        .unwrap();
    assert_eq!(
        incident.status,
        Status::Acknowledged,
        "the press conference is still open"
    );
    let statement = incident.deadline(Milestone::Statement).unwrap();
    assert_eq!(statement.state(t(400)), DeadlineState::Met);
    assert_eq!(statement.on_time(), Some(true));
    let incident = ledger
        .milestone(id, Milestone::Press, "张三", None, None, t(1500), t(1500))
        .unwrap();
    assert_eq!(
        incident.deadline(Milestone::Press).unwrap().on_time(),
        Some(false)
    );
    assert_eq!(
        incident.status,
        Status::Responded,
        "every public milestone met"
    );
    assert!(
        ledger.store().due_of(id).unwrap().is_empty(),
        "all clocks met"
    );

    let incident = ledger
        .close(id, "王五", Some("已妥善处置"), None, t(1600))
        .unwrap();
    assert_eq!(incident.status, Status::Closed);
    assert_eq!(incident.updated_at, t(1600));
    assert!(
        matches!(
            ledger.ack(id, "李四", None, t(1700)).unwrap(),
            AckOutcome::AlreadyAcknowledged { .. }
        ),
        "a repeat stays harmless after closing"
    );
    assert_eq!(
        ledger.get(id).unwrap(),
        incident,
        "what is returned is what is stored"
    );
    assert_eq!(
        actions(&ledger, id),
        [
            "opened",
            "ack",
            "ack_repeat",
            "milestone",
            "milestone",
            "close",
            "ack_repeat"
        ]
    );
    let audit = ledger.audit(id).unwrap();
    assert_eq!(audit[1].by, "张三");
    assert!(
        audit[1].detail.contains("已转应急局"),
        "{}",
        audit[1].detail
    );
    assert!(audit[2].detail.contains("张三"), "{}", audit[2].detail);
    assert!(audit[3].detail.contains("https://gov.example.org/1"));
    assert!(audit[4].detail.contains("超时"), "{}", audit[4].detail);
    assert!(audit[5].detail.contains("已妥善处置"));
    assert!(!ledger.list(false).unwrap().iter().any(|i| i.id == id));
    assert!(ledger.list(true).unwrap().iter().any(|i| i.id == id));
    assert_eq!(
        ledger.get(id).unwrap().status,
        Status::Closed,
        "a repeat ack changes nothing"
    );
}

#[test]
fn closing_with_an_unmet_milestone_needs_a_reason_and_counts_it_missed() {
    let ledger = ledger();
    let id = open_level(&ledger, Level::II);
    let t = |m: i64| ts(T0) + chrono::Duration::minutes(m);
    ledger.ack(id, "张三", None, t(5)).unwrap();

    // 发布权威信息 and 新闻发布会 never recorded: closing without a reason is refused,
    // naming them, and changes nothing.
    for reason in [None, Some("  ")] {
        let message = not_allowed(ledger.close(id, "王五", None, reason, t(60)));
        assert!(
            message.contains("发布权威信息") && message.contains("举行新闻发布会"),
            "{message}"
        );
        assert!(message.contains("--reason"), "{message}");
    }
    assert_eq!(ledger.get(id).unwrap().status, Status::Acknowledged);
    assert_eq!(actions(&ledger, id), ["opened", "ack"]);

    let incident = ledger
        .close(
            id,
            "王五",
            Some("已移交"),
            Some("事件已由上级统一发布"),
            t(60),
        )
        .unwrap();
    assert_eq!(incident.status, Status::Closed);
    let last = ledger.audit(id).unwrap().pop().unwrap();
    assert_eq!(last.action, "close");
    assert_eq!(last.reason.as_deref(), Some("事件已由上级统一发布"));
    assert!(
        last.detail.contains("未完成：发布权威信息、举行新闻发布会"),
        "{}",
        last.detail
    );
    // Neither is "not yet due" any more, at any time: they were missed.
    for now in [t(61), t(60 * 48)] {
        let states: Vec<_> = incident
            .deadlines
            .iter()
            .map(|d| (d.milestone, incident.deadline_state(d, now)))
            .collect();
        assert_eq!(
            states,
            [
                (Milestone::Ack, DeadlineState::Met),
                (Milestone::Statement, DeadlineState::Missed),
                (Milestone::Press, DeadlineState::Missed),
            ]
        );
    }
    assert!(ledger.store().due_of(id).unwrap().is_empty());

    // With every milestone met no reason is needed.
    let four = open_level(&ledger, Level::IV);
    ledger
        .milestone(four, Milestone::Response, "张三", None, None, t(30), t(30))
        .unwrap();
    let closed = ledger.close(four, "王五", None, None, t(40)).unwrap();
    assert_eq!(closed.status, Status::Closed);
    assert_eq!(ledger.audit(four).unwrap().pop().unwrap().reason, None);
}

#[test]
fn status_follows_the_clocks_of_the_current_level() {
    // The README's walk: respond at IV, then regrade to II. The 5 h statement is open,
    // so the incident is not 已回应 any more.
    let ledger = ledger();
    let id = open_level(&ledger, Level::IV);
    let t = |m: i64| ts(T0) + chrono::Duration::minutes(m);
    let incident = ledger
        .milestone(id, Milestone::Response, "张三", None, None, t(20), t(20))
        .unwrap();
    assert_eq!(incident.status, Status::Responded);
    let incident = ledger
        .regrade(id, Level::II, "李四", "伤亡扩大", t(30))
        .unwrap();
    assert_eq!(incident.status, Status::Acknowledged);
    assert_eq!(ledger.get(id).unwrap().status, Status::Acknowledged);
    assert_eq!(
        incident
            .deadline(Milestone::Statement)
            .map(|d| incident.deadline_state(d, t(31))),
        Some(DeadlineState::Pending)
    );
    // Statement and press recorded: 已回应 again; back down to IV, the response
    // recorded earlier still stands.
    ledger
        .milestone(id, Milestone::Statement, "张三", None, None, t(40), t(40))
        .unwrap();
    assert_eq!(ledger.get(id).unwrap().status, Status::Acknowledged);
    let incident = ledger
        .milestone(id, Milestone::Press, "张三", None, None, t(50), t(50))
        .unwrap();
    assert_eq!(incident.status, Status::Responded);
    let incident = ledger
        .regrade(id, Level::IV, "李四", "核实", t(60))
        .unwrap();
    assert_eq!(incident.status, Status::Responded);

    // A watch incident acknowledged before it had an ack clock keeps that 签收 when
    // it is graded: no ack clock left running that nobody can stop.
    let watch = opened(ingest(
        &ledger,
        &Spec {
            key: "w",
            places: &["外地镇"],
            local: false,
            ..EXPLOSION
        },
        ts(T0),
    ));
    ledger.ack(watch, "张三", None, t(5)).unwrap();
    assert_eq!(ledger.get(watch).unwrap().status, Status::Acknowledged);
    let incident = ledger
        .regrade(watch, Level::III, "李四", "本地单位涉及", t(10))
        .unwrap();
    assert_eq!(incident.status, Status::Acknowledged);
    assert_eq!(
        incident.deadline(Milestone::Ack).unwrap().met_at,
        Some(t(5))
    );
    assert!(
        !ledger
            .store()
            .due_of(watch)
            .unwrap()
            .iter()
            .any(|e| e.milestone == Milestone::Ack)
    );
}

/// The overdue notices of one clock queued so far: (key, number shown, subject).
fn overdue_notices(store: &Store, id: u64, milestone: Milestone) -> Vec<(String, u32, String)> {
    store
        .outbox_pending(usize::MAX)
        .unwrap()
        .into_iter()
        .filter_map(|(_, row)| match &row.notice.kind {
            NoticeKind::Overdue {
                incident,
                milestone: m,
                repeat,
            } if incident.id == id && *m == milestone => Some((
                row.notice.key.clone(),
                *repeat,
                yuqing::notify::subject(&row.notice),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn overdue_notices_count_what_was_sent_not_the_time_elapsed() {
    let ledger = ledger();
    let id = open_level(&ledger, Level::III);
    let h = chrono::Duration::hours;
    let m = chrono::Duration::minutes;
    // The daemon was down: the ack window (due T0 + 30 min) is found 26 h late. The
    // key counts repeat periods (overdue/26), the mail says it is the first.
    ledger.fire_due(ts(T0) + h(26) + m(10), 100).unwrap();
    let first = overdue_notices(ledger.store(), id, Milestone::Ack);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].0, format!("{id}/ack/overdue/26"));
    assert_eq!(first[0].1, 1);
    assert!(first[0].2.contains("（第1次提醒）"), "{}", first[0].2);
    ledger.fire_due(ts(T0) + h(27) + m(10), 100).unwrap();
    let next = overdue_notices(ledger.store(), id, Milestone::Ack);
    assert_eq!(next.len(), 2, "{next:?}");
    assert_eq!(next[1].0, format!("{id}/ack/overdue/27"));
    assert_eq!(next[1].1, 2);
    assert!(next[1].2.contains("（第2次提醒）"), "{}", next[1].2);
    // Re-firing a step already sent queues nothing and counts nothing.
    ledger.fire_due(ts(T0) + h(27) + m(20), 100).unwrap();
    assert_eq!(overdue_notices(ledger.store(), id, Milestone::Ack).len(), 2);

    // A first overdue notice at the due instant: 已到时限, never "超过 0分".
    let other = open_level(&ledger, Level::IV);
    ledger.fire_due(ts(T0) + m(30), 100).unwrap();
    let at_due = overdue_notices(ledger.store(), other, Milestone::Ack);
    assert_eq!(at_due.len(), 1, "{at_due:?}");
    assert_eq!(at_due[0].1, 1);
    let subject = &at_due[0].2;
    assert!(subject.contains("已到签收时限"), "{subject}");
    assert!(!subject.contains("0分"), "{subject}");
}

/// Opens a watch (关注) incident at T0: the explosion reported from outside.
fn open_watch(ledger: &Rig) -> u64 {
    opened(ingest(
        ledger,
        &Spec {
            local: false,
            ..EXPLOSION
        },
        ts(T0),
    ))
}

#[test]
fn a_watch_incident_is_filed_without_a_reason_and_never_awaits_ack() {
    let ledger = ledger();
    let id = open_watch(&ledger);
    let incident = ledger.get(id).unwrap();
    assert_eq!(incident.level, Level::Watch);
    assert_eq!(incident.status.label(incident.level), "关注中");
    let filed = ledger
        .close(id, "张三", None, None, ts(T0) + chrono::Duration::hours(2))
        .unwrap();
    assert_eq!(filed.status, Status::Closed);
    assert_eq!(filed.status.label(filed.level), "已归档");
    let last = ledger.audit(id).unwrap().pop().unwrap();
    assert_eq!((last.action.as_str(), last.reason), ("close", None));
    assert!(last.detail.starts_with("归档"), "{}", last.detail);
    assert!(
        queued_keys(ledger.store()).is_empty(),
        "no mail for a watch"
    );
}

#[test]
fn a_watch_incident_without_a_filing_time_gets_one_at_start() {
    let ledger = ledger_with("[policy]\nwatch_expiry = \"2h\"\n");
    let id = open_watch(&ledger);
    // As a watch incident opened by an older build: no filing time.
    ledger
        .store()
        .ledger_tx(|tx| {
            Ok::<_, yuqing::store::Abort<yuqing::store::StoreError>>(tx.set_watch_expiry(id, None)?)
        })
        .unwrap();
    let later = ts(T0) + chrono::Duration::hours(3);
    assert_eq!(ledger.fire_due(later, 100).unwrap().filed, 0);
    assert!(ledger.get(id).unwrap().status.is_open());
    assert_eq!(ledger.repair_schedule(later).unwrap(), 1);
    assert_eq!(ledger.repair_schedule(later).unwrap(), 0, "once");
    assert_eq!(ledger.fire_due(later, 100).unwrap().filed, 1);
    assert_eq!(ledger.get(id).unwrap().status, Status::Closed);
}

#[test]
fn a_milestone_on_a_new_incident_also_acknowledges_it() {
    let ledger = ledger();
    let id = open_level(&ledger, Level::IV);
    let at = ts(T0) + chrono::Duration::hours(3);
    let incident = ledger
        .milestone(id, Milestone::Response, "赵六", None, None, at, at)
        .unwrap();
    assert_eq!(incident.status, Status::Responded);
    assert_eq!(incident.deadline(Milestone::Ack).unwrap().met_at, Some(at));
    assert_eq!(actions(&ledger, id), ["opened", "ack", "milestone"]);
    assert!(matches!(
        ledger.ack(id, "赵六", None, at).unwrap(),
        AckOutcome::AlreadyAcknowledged { .. }
    ));
}

#[test]
fn dismissal_stops_every_notice_and_is_audited_with_its_reason() {
    let ledger = ledger();
    let id = open_level(&ledger, Level::I);
    assert_eq!(ledger.store().due_of(id).unwrap().len(), 3);
    let incident = ledger
        .dismiss(id, "张三", "广告信息，非事件", ts(T0))
        .unwrap();
    assert_eq!(incident.status, Status::Dismissed);
    assert!(ledger.store().due_of(id).unwrap().is_empty());
    let last = ledger.audit(id).unwrap().pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.reason.as_deref()),
        ("dismiss", Some("广告信息，非事件"))
    );
    // A dismissed incident no longer collects items: the same story opens anew.
    let again = Spec {
        key: "again",
        ..EXPLOSION
    };
    assert!(matches!(ingest(&ledger, &again, ts(T0)), IngestOutcome::Opened(n) if n != id));
}

#[test]
fn refusals_say_why_in_chinese() {
    let ledger = ledger();
    let now = ts(T0) + chrono::Duration::hours(1);
    let closed = open_level(&ledger, Level::II);
    ledger
        .close(closed, "张三", None, Some("已妥善处置"), now)
        .unwrap();
    let dismissed = open_level(&ledger, Level::II);
    ledger.dismiss(dismissed, "张三", "误报", now).unwrap();
    let merged = open_level(&ledger, Level::II);
    let target = open_level(&ledger, Level::II);
    ledger.merge(merged, target, "张三", now).unwrap();
    let three = open_level(&ledger, Level::III);
    let watch = opened(ingest(
        &ledger,
        &Spec {
            local: false,
            ..EXPLOSION
        },
        ts(T0),
    ));
    let statement = |id| ledger.milestone(id, Milestone::Statement, "张三", None, None, now, now);

    let cases: Vec<(&str, Result<Incident, LedgerError>, &str)> = vec![
        ("closed", statement(closed), "已办结"),
        ("dismissed", statement(dismissed), "误报"),
        ("merged", statement(merged), "已并入事件"),
        (
            "level III has no statement",
            statement(three),
            "没有“发布权威信息”节点",
        ),
        ("watch has no clock", statement(watch), "没有"),
        (
            "ack through milestone",
            ledger.milestone(target, Milestone::Ack, "张三", None, None, now, now),
            "yuqing ack",
        ),
        (
            "future time",
            ledger.milestone(
                target,
                Milestone::Statement,
                "张三",
                None,
                None,
                now + chrono::Duration::minutes(5),
                now,
            ),
            "晚于现在",
        ),
        (
            "before the event",
            ledger.milestone(
                target,
                Milestone::Statement,
                "张三",
                None,
                None,
                ts(T0) - chrono::Duration::hours(1),
                now,
            ),
            "早于事发时间",
        ),
        (
            "empty by",
            ledger.milestone(target, Milestone::Statement, " ", None, None, now, now),
            "--by",
        ),
        (
            "empty reason",
            ledger.regrade(target, Level::I, "张三", "", now),
            "--reason",
        ),
        (
            "same level",
            ledger.regrade(target, Level::II, "张三", "核实", now),
            "无需调整",
        ),
        (
            "dismiss without reason",
            ledger.dismiss(target, "张三", "  ", now),
            "--reason",
        ),
        (
            "merge into itself",
            ledger.merge(target, target, "张三", now),
            "它自己",
        ),
        (
            "merge into closed",
            ledger.merge(three, closed, "张三", now),
            "已办结",
        ),
        (
            "merge into merged",
            ledger.merge(three, merged, "张三", now),
            "已合并",
        ),
        (
            "merge a closed one",
            ledger.merge(closed, target, "张三", now),
            "已办结",
        ),
        (
            "close twice",
            ledger.close(closed, "张三", None, Some("重复"), now),
            "已办结",
        ),
        (
            "assign closed",
            ledger.assign(closed, "市应急管理局", "张三", now),
            "已办结",
        ),
    ];
    for (what, result, expected) in cases {
        let message = not_allowed(result);
        assert!(message.contains(expected), "{what}: {message}");
    }
    // Recording the same milestone twice is refused; the first record stands.
    ledger
        .milestone(target, Milestone::Statement, "张三", None, None, now, now)
        .unwrap();
    let message =
        not_allowed(ledger.milestone(target, Milestone::Statement, "李四", None, None, now, now));
    assert!(message.contains("不能重复记录"), "{message}");
    let message = not_allowed(ledger.ack(closed, "张三", None, now));
    assert!(message.contains("不能签收"), "{message}");
    assert!(matches!(
        ledger.ack(999, "张三", None, now),
        Err(LedgerError::NotFound(999))
    ));
    assert!(matches!(ledger.get(999), Err(LedgerError::NotFound(999))));
    assert!(matches!(
        ledger.merge(three, 999, "张三", now),
        Err(LedgerError::NotFound(999))
    ));
}

#[test]
fn concurrent_acks_acknowledge_exactly_once() {
    for _round in 0..20 {
        let ledger = ledger();
        let id = open_level(&ledger, Level::III);
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let handles: Vec<_> = ["甲", "乙"]
            .into_iter()
            .map(|name| {
                let ledger = ledger.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    ledger.ack(id, name, None, ts(T0)).unwrap()
                })
            })
            .collect();
        let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let firsts: Vec<_> = outcomes
            .iter()
            .filter_map(|o| match o {
                AckOutcome::Acknowledged(i) => Some(i.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(firsts.len(), 1, "{outcomes:?}");
        let winner = ledger.audit(id).unwrap()[1].by.clone();
        let repeat = outcomes
            .iter()
            .find_map(|o| match o {
                AckOutcome::AlreadyAcknowledged { by, .. } => Some(by.clone()),
                _ => None,
            })
            .expect("the other ack is a repeat");
        assert_eq!(repeat, winner, "the repeat names the first signer");
        assert_eq!(actions(&ledger, id), ["opened", "ack", "ack_repeat"]);
    }
}

#[test]
fn regrade_recomputes_clocks_and_keeps_met_ones() {
    let ledger = ledger();
    let id = open_level(&ledger, Level::IV);
    let t = |m: i64| ts(T0) + chrono::Duration::minutes(m);
    ledger.ack(id, "张三", None, t(5)).unwrap();
    let incident = ledger
        .regrade(id, Level::II, "李四", "死亡人数上升", t(30))
        .unwrap();
    assert_eq!(incident.level, Level::II);
    assert_eq!(incident.detected_level, Level::IV, "detection is kept");
    let ack = incident.deadline(Milestone::Ack).unwrap();
    assert_eq!(ack.met_at, Some(t(5)), "met ack kept");
    assert_eq!(
        incident.deadline(Milestone::Statement).unwrap().due_at,
        t(300)
    );
    assert!(incident.deadline(Milestone::Response).is_none());
    let due: Vec<_> = ledger
        .store()
        .due_of(id)
        .unwrap()
        .into_iter()
        .map(|e| e.milestone)
        .collect();
    assert_eq!(due, [Milestone::Statement, Milestone::Press]);
    let entry = ledger.audit(id).unwrap().pop().unwrap();
    assert_eq!(
        (
            entry.action.as_str(),
            entry.by.as_str(),
            entry.reason.as_deref()
        ),
        ("level", "李四", Some("死亡人数上升"))
    );
    // To watch: no clocks run.
    ledger
        .regrade(id, Level::Watch, "李四", "非本辖区", t(40))
        .unwrap();
    assert!(ledger.store().due_of(id).unwrap().is_empty());
}

#[test]
fn assign_changes_the_unit() {
    let ledger = ledger();
    let id = open_level(&ledger, Level::IV);
    let incident = ledger.assign(id, "市市场监管局", "张三", ts(T0)).unwrap();
    assert_eq!(incident.unit.as_deref(), Some("市市场监管局"));
    let entry = ledger.audit(id).unwrap().pop().unwrap();
    assert_eq!(entry.detail, "牵头单位由 市应急管理局 改为 市市场监管局");
    assert!(not_allowed(ledger.assign(id, "市市场监管局", "张三", ts(T0))).contains("无需调整"));
}

#[test]
fn merge_folds_items_sources_and_level_into_the_target() {
    let ledger = ledger();
    let now = ts(T0) + chrono::Duration::hours(1);
    let target = open_level(&ledger, Level::IV);
    let other = Spec {
        source: "news-b",
        key: "elsewhere",
        places: &["兴安街道"],
        severity: Some(Level::III),
        published: Some(("2026-11-23T22:00:00Z", DateQuality::Credible)),
        ..EXPLOSION
    };
    let source = opened(ingest(&ledger, &other, ts(T0)));
    assert_ne!(source, target);
    let merged = ledger.merge(source, target, "张三", now).unwrap();
    assert_eq!(merged.id, target);
    assert_eq!(merged.items.len(), 2);
    assert_eq!(merged.sources.len(), 2);
    assert_eq!(merged.places, ["事件地点0", "兴安街道"]);
    assert_eq!(merged.level, Level::III, "the higher level wins");
    assert_eq!(merged.event_at, ts("2026-11-23T22:00:00Z"));
    assert_eq!(
        merged.deadline(Milestone::Response).unwrap().due_at,
        ts("2026-11-25T22:00:00Z")
    );
    let gone = ledger.get(source).unwrap();
    assert_eq!(
        (gone.status, gone.merged_into),
        (Status::Merged, Some(target))
    );
    assert!(ledger.store().due_of(source).unwrap().is_empty());
    assert_eq!(
        ledger
            .store()
            .item("news-b", "elsewhere")
            .unwrap()
            .unwrap()
            .incident,
        Some(target)
    );
    assert_eq!(actions(&ledger, source).last().unwrap(), "merge");
    assert!(actions(&ledger, target).contains(&"merge_in".to_string()));
    // The moved item now belongs to the target: an edit of it joins the target.
    assert_eq!(ingest(&ledger, &other, now), IngestOutcome::Joined(target));
}

#[test]
fn list_sorts_by_the_soonest_unmet_deadline() {
    let ledger = ledger();
    let now = ts(T0);
    let four = open_level(&ledger, Level::IV);
    let watch = opened(ingest(
        &ledger,
        &Spec {
            local: false,
            key: "w",
            places: &["外地"],
            ..EXPLOSION
        },
        now,
    ));
    let two = opened(ingest(
        &ledger,
        &Spec {
            key: "two",
            places: &["兴安街道"],
            severity: Some(Level::II),
            ..EXPLOSION
        },
        now + chrono::Duration::minutes(1),
    ));
    // Both ack clocks met: the IV incident's next deadline is 48h away, the II one's 5h.
    ledger.ack(four, "张三", None, now).unwrap();
    ledger.ack(two, "张三", None, now).unwrap();
    let order: Vec<_> = ledger.list(false).unwrap().iter().map(|i| i.id).collect();
    assert_eq!(order, [two, four, watch]);
    ledger
        .close(two, "张三", None, Some("已妥善处置"), now)
        .unwrap();
    let order: Vec<_> = ledger.list(true).unwrap().iter().map(|i| i.id).collect();
    assert_eq!(
        order,
        [four, two, watch],
        "closed and clockless: newest first"
    );
}

#[test]
fn the_ledger_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with("");
    let id = {
        let store = Store::open(dir.path()).unwrap();
        let ledger = Rig::new(store.clone(), config.clone(), Arc::default());
        let id = open_level(&ledger, Level::III);
        ledger.ack(id, "张三", None, ts(T0)).unwrap();
        store.flush_blocking().unwrap();
        id
    };
    let ledger = Rig::new(Store::open(dir.path()).unwrap(), config, Arc::default());
    assert_eq!(ledger.get(id).unwrap().status, Status::Acknowledged);
    assert_eq!(actions(&ledger, id), ["opened", "ack"]);
    assert_eq!(ledger.repair_schedule(ts(T0)).unwrap(), 0);
    // A lost due entry (an older build, a damaged index) is put back at start.
    let lost = ledger
        .store()
        .ledger_tx(|tx| {
            Ok::<_, yuqing::store::Abort<yuqing::store::StoreError>>(
                tx.unschedule(id, Milestone::Response)?,
            )
        })
        .unwrap();
    assert!(lost);
    assert!(ledger.store().due_of(id).unwrap().is_empty());
    assert_eq!(ledger.repair_schedule(ts(T0)).unwrap(), 1);
    let due = ledger.store().due_of(id).unwrap();
    assert_eq!(
        (due.len(), due[0].milestone, due[0].step),
        (1, Milestone::Response, 0)
    );
    let next = opened(ingest(
        &ledger,
        &Spec {
            key: "x",
            topic: "environment",
            ..EXPLOSION
        },
        ts(T0),
    ));
    assert_eq!(next, id + 1, "ids continue after a reopen");
}

#[test]
fn unrelated_changes_keep_each_clock_at_its_step() {
    let ledger = ledger();
    let id = open_level(&ledger, Level::IV);
    let m = |minutes: i64| ts(T0) + chrono::Duration::minutes(minutes);
    // 签收 60 % is due at 18 min.
    let report = ledger.fire_due(m(19), 100).unwrap();
    assert_eq!((report.queued, report.failed, report.more), (1, 0, false));
    let before = ledger.store().due_of(id).unwrap();
    let ack = before
        .iter()
        .find(|e| e.milestone == Milestone::Ack)
        .unwrap();
    assert_eq!((ack.step, ack.at), (1, m(24)));
    ledger.assign(id, "市住建局", "张三", m(20)).unwrap();
    assert_eq!(ledger.store().due_of(id).unwrap(), before);
    assert_eq!(ledger.fire_due(m(20), 100).unwrap().queued, 0);
    // A 签收 stops its clock; the response clock runs on.
    ledger.ack(id, "张三", None, m(21)).unwrap();
    let after: Vec<_> = ledger
        .store()
        .due_of(id)
        .unwrap()
        .into_iter()
        .map(|e| e.milestone)
        .collect();
    assert_eq!(after, [Milestone::Response]);
}

// ---- The deadline task under a paused tokio clock ----

mod timeline {
    use super::*;
    use futures_util::FutureExt;
    use tokio::sync::oneshot;
    use yuqing::clock::task::{DeadlineTask, TaskClock};

    fn minutes(m: f64) -> Timestamp {
        ts(T0) + chrono::Duration::milliseconds((m * 60_000.0) as i64)
    }

    /// A running deadline task and the means to stop it.
    struct Running {
        stop: oneshot::Sender<()>,
        handle: tokio::task::JoinHandle<()>,
    }

    fn start(ledger: &Rig, clock: TaskClock) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = DeadlineTask::new(ledger.store.clone(), ledger.ledger.clone(), clock);
        let handle = tokio::spawn(task.run(async {
            let _ = stopped.await;
        }));
        Running { stop, handle }
    }

    impl Running {
        async fn stop(self) {
            self.stop.send(()).unwrap();
            self.handle.await.unwrap();
        }
    }

    /// Lets the clock run to `at` (the task fires whatever falls due on the way).
    async fn run_until(clock: &TaskClock, at: Timestamp) {
        tokio::time::sleep_until(clock.instant_at(at)).await;
        // Let a task woken at the same instant finish its pass.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    }

    /// Keys queued since the last call.
    fn new_keys(store: &Store, seen: &mut usize) -> Vec<String> {
        let keys = queued_keys(store);
        let fresh = keys[*seen..].to_vec();
        *seen = keys.len();
        fresh
    }

    fn recipients_of(store: &Store, key: &str) -> Vec<String> {
        store
            .outbox_pending(usize::MAX)
            .unwrap()
            .into_iter()
            .find(|(_, row)| row.notice.key == key)
            .map(|(_, row)| row.notice.to)
            .unwrap()
    }

    /// The script of a level II incident opened at T0: (minutes, action, keys expected
    /// since the previous line).
    enum Act {
        Nothing,
        Ack,
        Statement,
        Press,
        /// Stop the task, reopen the store from its folder, start a new task.
        Restart,
    }

    const SCRIPT: &[(f64, Act, &[&str])] = &[
        (0.0, Act::Nothing, &["1/opened"]),
        (20.0, Act::Nothing, &["1/ack/60"]),
        (25.0, Act::Ack, &["1/ack/80"]),
        (170.0, Act::Nothing, &[]),
        (185.0, Act::Restart, &["1/statement/60"]),
        (245.0, Act::Statement, &["1/statement/80"]),
        (400.0, Act::Nothing, &[]),
        (870.0, Act::Nothing, &["1/press/60"]),
        (1160.0, Act::Nothing, &["1/press/80"]),
        (1450.0, Act::Nothing, &["1/press/overdue/1"]),
        (1510.0, Act::Nothing, &["1/press/overdue/2"]),
        (1570.0, Act::Press, &["1/press/overdue/3"]),
        (3000.0, Act::Nothing, &[]),
    ];

    async fn play(restart: bool) {
        let dir = tempfile::tempdir().unwrap();
        let config = config_with("");
        let clock = TaskClock::starting_at(ts(T0));
        let mut ledger = Rig::new(
            Store::open(dir.path()).unwrap(),
            config.clone(),
            Arc::default(),
        );
        let id = open_level(&ledger, Level::II);
        assert_eq!(id, 1);
        let mut running = start(&ledger, clock);
        let mut seen = 0;
        for (at, act, expected) in SCRIPT {
            run_until(&clock, minutes(*at)).await;
            assert_eq!(
                new_keys(ledger.store(), &mut seen),
                *expected,
                "at {at} min"
            );
            let now = clock.now();
            match act {
                Act::Nothing => {}
                Act::Ack => {
                    ledger.ack(id, "张三", None, now).unwrap();
                }
                Act::Statement | Act::Press => {
                    let m = if matches!(act, Act::Statement) {
                        Milestone::Statement
                    } else {
                        Milestone::Press
                    };
                    ledger
                        .milestone(id, m, "张三", None, None, now, now)
                        .unwrap();
                }
                Act::Restart if restart => {
                    running.stop().await;
                    ledger.store().flush_blocking().unwrap();
                    drop(ledger);
                    ledger = Rig::new(
                        Store::open(dir.path()).unwrap(),
                        config.clone(),
                        Arc::default(),
                    );
                    running = start(&ledger, clock);
                }
                Act::Restart => {}
            }
        }
        let store = ledger.store();
        assert_eq!(
            recipients_of(store, "1/ack/60"),
            ["duty@example.org", "yjj@example.org"]
        );
        assert_eq!(
            recipients_of(store, "1/ack/80"),
            ["office@example.org", "duty@example.org", "yjj@example.org"]
        );
        assert_eq!(
            recipients_of(store, "1/press/overdue/2"),
            [
                "leader@example.org",
                "office@example.org",
                "duty@example.org"
            ]
        );
        let kinds: Vec<_> = store
            .outbox_pending(usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(_, row)| match row.notice.kind {
                NoticeKind::Opened { .. } => "opened".to_string(),
                NoticeKind::Reminder {
                    milestone,
                    percent,
                    escalation,
                    ..
                } => format!("{milestone}:{percent}:{escalation}"),
                NoticeKind::Overdue {
                    milestone, repeat, ..
                } => format!("{milestone}:overdue:{repeat}"),
                other => panic!("unexpected notice {other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "opened",
                "ack:60:false",
                "ack:80:true",
                "statement:60:false",
                "statement:80:true",
                "press:60:false",
                "press:80:true",
                "press:overdue:1",
                "press:overdue:2",
                "press:overdue:3",
            ]
        );
        assert!(store.due_of(id).unwrap().is_empty(), "every clock met");
        assert_eq!(
            ledger.store().outbox_signal().notified().now_or_never(),
            Some(()),
            "the outbox worker was woken"
        );
        running.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn open_remind_escalate_ack_statement_overdue_repeats() {
        play(false).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_restart_mid_timeline_skips_nothing_and_repeats_nothing() {
        play(true).await;
    }

    #[tokio::test(start_paused = true)]
    async fn after_downtime_only_the_latest_due_step_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_with("");
        let clock = TaskClock::starting_at(ts(T0));
        let ledger = Rig::new(
            Store::open(dir.path()).unwrap(),
            config.clone(),
            Arc::default(),
        );
        // Level III: response due at 48 h (60 % at 28.8 h, 80 % at 38.4 h).
        let id = open_level(&ledger, Level::III);
        ledger.ack(id, "张三", None, ts(T0)).unwrap();
        let running = start(&ledger, clock);
        let mut seen = 0;
        run_until(&clock, minutes(29.0 * 60.0)).await;
        assert_eq!(
            new_keys(ledger.store(), &mut seen),
            ["1/opened", "1/response/60"]
        );
        running.stop().await;
        ledger.store().flush_blocking().unwrap();
        drop(ledger);

        // Down from 29 h to 49.5 h: the 80 % reminder and overdue/1 are stale.
        tokio::time::advance(std::time::Duration::from_secs(73_800)).await;
        assert_eq!(clock.now(), minutes(49.5 * 60.0));
        let ledger = Rig::new(Store::open(dir.path()).unwrap(), config, Arc::default());
        let running = start(&ledger, clock);
        run_until(&clock, minutes(49.5 * 60.0 + 1.0)).await;
        assert_eq!(
            new_keys(ledger.store(), &mut seen),
            ["1/response/overdue/2"]
        );
        run_until(&clock, minutes(50.0 * 60.0 + 1.0)).await;
        assert_eq!(
            new_keys(ledger.store(), &mut seen),
            ["1/response/overdue/3"]
        );
        ledger
            .close(id, "张三", None, Some("已妥善处置"), clock.now())
            .unwrap();
        run_until(&clock, minutes(60.0 * 60.0)).await;
        assert_eq!(new_keys(ledger.store(), &mut seen), Vec::<String>::new());
        running.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_watch_incident_is_filed_by_the_system_after_watch_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_with("[policy]\nwatch_expiry = \"2h\"\n");
        let clock = TaskClock::starting_at(ts(T0));
        let ledger = Rig::new(
            Store::open(dir.path()).unwrap(),
            config.clone(),
            Arc::default(),
        );
        let outside = Spec {
            local: false,
            ..EXPLOSION
        };
        let id = opened(ingest(&ledger, &outside, clock.now()));
        assert_eq!(ledger.get(id).unwrap().level, Level::Watch);
        let running = start(&ledger, clock);
        // A new item at 1:30 moves the filing to 3:30.
        run_until(&clock, minutes(90.0)).await;
        let again = Spec {
            source: "news-b",
            key: "b1",
            ..outside
        };
        assert!(matches!(
            ingest(&ledger, &again, clock.now()),
            IngestOutcome::Joined(n) if n == id
        ));
        run_until(&clock, minutes(150.0)).await;
        assert!(
            ledger.get(id).unwrap().status.is_open(),
            "2 h after the item only"
        );
        running.stop().await;
        ledger.store().flush_blocking().unwrap();
        drop(ledger);

        // Down from 2:30 to 4:00: filed at the restart, not forgotten.
        tokio::time::advance(std::time::Duration::from_secs(90 * 60)).await;
        let ledger = Rig::new(Store::open(dir.path()).unwrap(), config, Arc::default());
        let running = start(&ledger, clock);
        run_until(&clock, minutes(241.0)).await;
        let incident = ledger.get(id).unwrap();
        assert_eq!(incident.status, Status::Closed);
        assert_eq!(incident.status.label(incident.level), "已归档");
        let last = ledger.audit(id).unwrap().pop().unwrap();
        assert_eq!(
            (last.by.as_str(), last.action.as_str(), last.reason),
            (yuqing::ledger::SYSTEM, "close", None)
        );
        assert!(
            last.detail.starts_with("归档") && last.detail.contains("系统自动归档"),
            "{}",
            last.detail
        );
        assert!(
            queued_keys(ledger.store()).is_empty(),
            "filing sends no mail"
        );
        running.stop().await;

        // A graded incident is never filed this way.
        let graded = open_level(&ledger, Level::IV);
        ledger
            .fire_due(clock.now() + chrono::Duration::days(30), 100)
            .unwrap();
        assert!(ledger.get(graded).unwrap().status.is_open());
    }

    #[tokio::test(start_paused = true)]
    async fn an_incident_opened_late_starts_at_its_current_step() {
        // Published (credibly) 4.5 h before detection, level II: the statement window is
        // at 90 %, so only its 80 % escalation goes out, then overdue at 5 h. The 签收
        // window runs from detection (4:30): 60 % at 4:48, 80 % at 4:54, overdue at 5:00.
        let ledger = ledger();
        let clock = TaskClock::starting_at(ts("2026-11-24T04:30:00Z"));
        let spec = Spec {
            severity: Some(Level::II),
            published: Some(("2026-11-24T00:00:00Z", DateQuality::Credible)),
            ..EXPLOSION
        };
        ingest(&ledger, &spec, clock.now());
        let running = start(&ledger, clock);
        let mut seen = 0;
        run_until(&clock, minutes(4.5 * 60.0 + 1.0)).await;
        assert_eq!(
            new_keys(ledger.store(), &mut seen),
            ["1/opened", "1/statement/80"]
        );
        run_until(&clock, minutes(5.0 * 60.0 + 1.0)).await;
        assert_eq!(
            new_keys(ledger.store(), &mut seen),
            [
                "1/ack/60",
                "1/ack/80",
                "1/ack/overdue/1",
                "1/statement/overdue/1"
            ]
        );
        running.stop().await;
    }
}

/// Three reports of the explosion from the spec's sources at the given hours after T0.
fn reports(ledger: &Rig, hours: &[(&'static str, &'static str, i64)]) -> u64 {
    let mut id = None;
    for &(source, key, hour) in hours {
        let spec = Spec {
            source,
            key,
            ..EXPLOSION
        };
        let outcome = ingest(ledger, &spec, ts(T0) + chrono::Duration::hours(hour));
        match (outcome, id) {
            (IngestOutcome::Opened(new), None) => id = Some(new),
            (IngestOutcome::Joined(joined), Some(first)) => assert_eq!(joined, first),
            (other, _) => panic!("unexpected {other:?}"),
        }
    }
    id.unwrap()
}

#[test]
fn a_rising_effect_is_recorded_once_at_the_window_end_and_mailed_once() {
    let ledger = ledger_with("[policy]\neffect_window = \"2h\"\n");
    let hour = |h: i64| ts(T0) + chrono::Duration::hours(h);
    let id = reports(&ledger, &[("news-a", "a1", 0)]);
    assert!(ledger.get(id).unwrap().effect.is_none());
    assert_eq!(
        ledger.effect(&ledger.get(id).unwrap(), hour(1)).unwrap(),
        None
    );
    let r = hour(1);
    ledger
        .milestone(id, Milestone::Response, "赵六", None, None, r, r)
        .unwrap();
    let minute = |m: i64| r + chrono::Duration::minutes(m);
    for (source, key, at) in [("news-b", "b1", 30), ("county-board", "c1", 60)] {
        let spec = Spec {
            source,
            key,
            ..EXPLOSION
        };
        assert_eq!(
            ingest(&ledger, &spec, minute(at)),
            IngestOutcome::Joined(id)
        );
    }
    // While the window runs: pending, with the counts so far.
    let pending = ledger
        .effect(&ledger.get(id).unwrap(), minute(90))
        .unwrap()
        .unwrap();
    assert_eq!(
        (pending.verdict, pending.before, pending.after),
        (yuqing::model::Verdict::Pending, 1, 2)
    );
    let last_minute = ledger.fire_due(minute(119), 100).unwrap();
    assert_eq!(last_minute.failed, 0);
    assert!(ledger.get(id).unwrap().effect.is_none(), "not before r + W");
    ledger.fire_due(minute(120), 100).unwrap();
    let recorded = ledger.get(id).unwrap().effect.expect("recorded at r + W");
    assert_eq!(
        (recorded.verdict, recorded.before, recorded.after),
        (yuqing::model::Verdict::Rising, 1, 2)
    );
    assert_eq!(recorded.first_response, r);
    assert_eq!(recorded.window_secs, 7200);
    let audit = ledger.audit(id).unwrap();
    let line = audit.iter().find(|e| e.action == "effect").unwrap();
    assert_eq!(line.by, "system");
    assert!(line.detail.contains("升温"), "{}", line.detail);
    let rising = format!("{id}/effect/rising");
    let keys = queued_keys(ledger.store());
    assert_eq!(keys.iter().filter(|k| **k == rising).count(), 1, "{keys:?}");
    let pending_mail = ledger.store().outbox_pending(100).unwrap();
    let notice = &pending_mail
        .iter()
        .find(|(_, row)| row.notice.key == rising)
        .unwrap()
        .1
        .notice;
    assert_eq!(notice.to, ["xcb@example.org", "office@example.org"]);
    assert!(matches!(notice.kind, NoticeKind::EffectRising { .. }));

    // Once: later items and later passes change nothing.
    let late = Spec {
        source: "news-b",
        key: "b2",
        ..EXPLOSION
    };
    ingest(&ledger, &late, minute(150));
    ledger.fire_due(hour(48), 100).unwrap();
    assert_eq!(ledger.get(id).unwrap().effect, Some(recorded));
    assert_eq!(
        actions(&ledger, id)
            .iter()
            .filter(|a| *a == "effect")
            .count(),
        1
    );
    assert!(
        ledger
            .store()
            .effect_due_until(hour(1000), 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_quiet_or_dismissed_incident_is_evaluated_accordingly() {
    let ledger = ledger();
    let day = |h: i64| ts(T0) + chrono::Duration::hours(h);
    // Three reports before the response, none after: calming.
    let calm = reports(
        &ledger,
        &[
            ("news-a", "a1", 0),
            ("news-b", "b1", 1),
            ("county-board", "c1", 2),
        ],
    );
    ledger
        .milestone(
            calm,
            Milestone::Response,
            "赵六",
            None,
            None,
            day(3),
            day(3),
        )
        .unwrap();
    // The entry waits in the due index (it survives a restart with the store) …
    let due = ledger.store().effect_due_until(day(1000), 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].incident, due[0].at), (calm, day(27)));
    // … and is not a clock: `due_of` lists the clocks only.
    assert!(ledger.store().due_of(calm).unwrap().is_empty());
    ledger.fire_due(day(27), 100).unwrap();
    let effect = ledger.get(calm).unwrap().effect.unwrap();
    assert_eq!(
        (effect.verdict, effect.before, effect.after),
        (yuqing::model::Verdict::Calming, 3, 0)
    );
    assert!(
        !queued_keys(ledger.store())
            .iter()
            .any(|k| k.contains("effect"))
    );

    // A dismissed incident drops its evaluation.
    let other = Spec {
        topic: "food_drug",
        key: "x1",
        ..EXPLOSION
    };
    let gone = opened(ingest(&ledger, &other, day(30)));
    ledger
        .milestone(
            gone,
            Milestone::Response,
            "赵六",
            None,
            None,
            day(31),
            day(31),
        )
        .unwrap();
    assert_eq!(
        ledger
            .store()
            .effect_due_until(day(1000), 10)
            .unwrap()
            .len(),
        1
    );
    ledger
        .dismiss(gone, "赵六", "并非本地事件", day(32))
        .unwrap();
    assert!(
        ledger
            .store()
            .effect_due_until(day(1000), 10)
            .unwrap()
            .is_empty()
    );
    ledger.fire_due(day(1000), 100).unwrap();
    assert!(ledger.get(gone).unwrap().effect.is_none());
}

/// An official item for the response-matching comparison below.
fn official(n: usize, published: Timestamp, places: &[&str], topic: &str) -> Item {
    Item {
        source: "county-board".into(),
        key: format!("r{n}"),
        title: format!("情况通报{n}"),
        link: None,
        body: String::new(),
        published: Some(published),
        date_quality: Some(DateQuality::Credible),
        first_seen: published,
        updated_at: published,
        revisions: 0,
        classification: Some(Classification {
            flag: true,
            topics: vec![topic.into()],
            places: places.iter().map(|p| p.to_string()).collect(),
            local: true,
            ..Default::default()
        }),
        incident: None,
    }
}

/// What response matching picked before the store kept an index for it: every open
/// incident read, `respond::same_event`, `TermWeights::new` over all of them, the best
/// rank, then the most recently active, then the smallest id.
fn full_scan_match(
    store: &Store,
    item: &Item,
    terms: &[String],
    window: chrono::Duration,
) -> Option<u64> {
    use yuqing::respond::{self, EventFacts, TermWeights};
    let class = item.classification.clone().unwrap();
    let time = item.published.unwrap();
    // `terms` are distinct; the report vocabulary is set aside, as `Ledger::respond` does.
    let terms = respond::event_terms(terms);
    let terms = terms.as_slice();
    let candidate = EventFacts {
        time,
        latest: time,
        places: &class.places,
        topics: &class.topics,
        terms,
    };
    let open: Vec<Incident> = store
        .open_incident_ids()
        .unwrap()
        .into_iter()
        .filter_map(|id| store.incident(id).unwrap())
        .filter(|i| i.status.is_open())
        .collect();
    let weights = TermWeights::new(open.iter().map(|i| i.terms.as_slice()));
    let mut best: Option<(f64, Timestamp, u64)> = None;
    for incident in &open {
        let facts = EventFacts {
            time: incident.event_at,
            latest: incident.updated_at.max(incident.event_at),
            places: &incident.places,
            topics: &incident.topics,
            terms: &incident.terms,
        };
        if respond::same_event(&candidate, &facts, window).is_none() {
            continue;
        }
        let rank = weights.rank(terms, &incident.terms);
        if best.is_none_or(|(r, last, _)| rank > r || (rank == r && facts.latest > last)) {
            best = Some((rank, facts.latest, incident.id));
        }
    }
    best.map(|(_, _, id)| id)
}

/// Issue 16: response matching through the store's response-match index and term
/// counts picks the incident the full scan picked, on a seeded random ledger (three
/// places and none, two topics, a small vocabulary so that ranks tie and terms are
/// shared by many incidents, some incidents dismissed) for 150 random official items,
/// each compared before it is recorded (a recorded response changes the incident).
#[test]
fn response_matching_picks_what_the_full_scan_picked() {
    use rand::{Rng, SeedableRng};
    use yuqing::respond::Form;
    const VOCABULARY: [&str; 10] = [
        "化工厂",
        "爆炸",
        "起火",
        "消防",
        "学生",
        "中毒",
        "高速",
        "车祸",
        "矿山",
        "透水",
    ];
    const PLACES: [&[&str]; 4] = [&[], &["景芝镇"], &["石埠子镇"], &["景芝镇", "石埠子镇"]];
    const TOPICS: [&str; 2] = ["work_safety", "accident"];
    let ledger = ledger();
    let window = yuqing::config::Policy::default()
        .incident_window
        .as_chrono();
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    let t0 = ts(T0);
    let mut now = t0;
    let random_terms = |rng: &mut rand::rngs::StdRng| -> Vec<String> {
        let n = rng.random_range(2..6);
        let picked: std::collections::BTreeSet<&str> = (0..n)
            .map(|_| VOCABULARY[rng.random_range(0..VOCABULARY.len())])
            .collect();
        picked.into_iter().map(str::to_string).collect()
    };
    let mut opened = Vec::new();
    for n in 0..80 {
        now += chrono::Duration::minutes(7);
        let published = t0 - chrono::Duration::hours(rng.random_range(0..200));
        let places = PLACES[rng.random_range(0..PLACES.len())];
        let mut item = official(n, published, places, TOPICS[rng.random_range(0..2)]);
        item.source = "news-a".into();
        if let Some(IngestOutcome::Opened(id)) =
            ledger.ingest(&item, &random_terms(&mut rng), now).unwrap()
        {
            opened.push(id);
        }
    }
    for id in opened.iter().step_by(5) {
        ledger.dismiss(*id, "值班员", "误报", now).unwrap();
    }
    let mut matched = 0;
    for n in 0..150 {
        now += chrono::Duration::minutes(3);
        let published = t0 - chrono::Duration::hours(rng.random_range(0..200));
        let places = PLACES[rng.random_range(0..PLACES.len())];
        let item = official(1000 + n, published, places, TOPICS[rng.random_range(0..2)]);
        let terms = random_terms(&mut rng);
        let expected = full_scan_match(ledger.store(), &item, &terms, window);
        let got = ledger
            .respond(&item, Form::Statement, &terms, false, now)
            .unwrap()
            .map(|r| r.incident);
        assert_eq!(got, expected, "official item {n}");
        matched += usize::from(got.is_some());
    }
    assert!(matched > 30, "too few matches to compare: {matched}");
}
