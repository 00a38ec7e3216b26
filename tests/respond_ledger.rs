//! Official responses through the pipeline and the ledger (issue 12), without the
//! daemon: real classifier, real store. Covers what the end-to-end test
//! (`tests/responses.rs`) does not: a repeated item, a 续报, a press conference,
//! a level III incident, a 警方通报 from a news source, and an unlink whose
//! reopened clock is already past its deadline (it is scheduled again, overdue).

use std::path::Path;
use std::sync::Arc;

use chrono::{Duration, Utc};
use yuqing::classify::Classifier;
use yuqing::config::{Config, HumanDuration, Policy, load_sources_str};
use yuqing::ledger::{IngestOutcome, Ledger, Responded};
use yuqing::model::{DateQuality, Level, Milestone, Status, Timestamp};
use yuqing::parse::ParsedItem;
use yuqing::pipeline::{Handled, Pipeline};
use yuqing::store::{Store, UpsertOutcome};

const ACCIDENT: &str = "安丘市石埠子镇一矿山发生透水事故 造成12人死亡";
const ACCIDENT_BODY: &str = "11月24日，安丘市石埠子镇一铁矿井下发生透水事故，当班井下作业矿工被困，经全力搜救，事故造成12人死亡。";
const STATEMENT: &str = "关于石埠子镇矿山透水事故的情况通报";
const STATEMENT_BODY: &str = "安丘市人民政府通报：11月24日，石埠子镇一铁矿井下发生透水事故，被困矿工经搜救确认12人死亡。事故原因正在调查，矿山已停产整顿。";

struct World {
    _dir: tempfile::TempDir,
    store: Store,
    ledger: Ledger,
    pipeline: Pipeline,
}

fn world(statement_window: u64) -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        dictionaries: Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
        ..Config::default()
    };
    config.sources = load_sources_str(
        "[[source]]\nid = \"news\"\nkind = \"feed\"\nurl = \"http://127.0.0.1/news\"\nlocal = true\n\
         [[source]]\nid = \"county-gov\"\nkind = \"feed\"\nurl = \"http://127.0.0.1/gov\"\n\
         local = true\nrole = \"official\"\n",
        Path::new("feeds.toml"),
    )
    .unwrap();
    config.policy = Policy {
        statement: HumanDuration::from_secs(statement_window),
        ..Policy::default()
    };
    let config = Arc::new(config);
    let store = Store::open(dir.path()).unwrap();
    let classifier = Classifier::load(&config.dictionaries, &config.jurisdiction).unwrap();
    let ledger = Ledger::new(store.clone(), config.clone(), Arc::default());
    let pipeline = Pipeline::new(Arc::new(classifier), store.clone(), ledger.clone(), &config);
    World {
        _dir: dir,
        store,
        ledger,
        pipeline,
    }
}

impl World {
    /// Stores an item as intake would and runs it through the pipeline.
    fn handle(
        &self,
        source: &str,
        key: &str,
        title: &str,
        body: &str,
        published: Timestamp,
    ) -> Handled {
        let now = Utc::now();
        let item = match self
            .store
            .upsert_item(
                source,
                ParsedItem {
                    key: key.into(),
                    title: title.into(),
                    link: Some(key.into()),
                    body: body.into(),
                    published: Some(published),
                    date_quality: Some(DateQuality::Credible),
                },
                now,
            )
            .unwrap()
        {
            UpsertOutcome::New(item) => item,
            other => panic!("a new item, got {other:?}"),
        };
        self.pipeline.handle(item, now).unwrap()
    }

    fn outbox_keys(&self) -> Vec<String> {
        self.store
            .outbox_pending(1000)
            .unwrap()
            .into_iter()
            .map(|(_, row)| row.notice.key)
            .collect()
    }
}

fn minutes_ago(m: i64) -> Timestamp {
    Utc::now() - Duration::minutes(m)
}

#[test]
fn later_statements_are_follow_ups_and_a_press_conference_meets_press() {
    let w = world(5 * 3600);
    let opened = w.handle(
        "news",
        "http://127.0.0.1/news/1",
        ACCIDENT,
        ACCIDENT_BODY,
        minutes_ago(60),
    );
    assert_eq!(opened, Handled::Incident(IngestOutcome::Opened(1)));
    assert_eq!(w.ledger.get(1).unwrap().level, Level::II);

    let first = w.handle(
        "county-gov",
        "http://127.0.0.1/gov/1",
        STATEMENT,
        STATEMENT_BODY,
        minutes_ago(30),
    );
    let want = |n, milestone| {
        Handled::Response(Responded {
            incident: 1,
            n,
            milestone,
            opened: false,
        })
    };
    assert_eq!(first, want(1, Some(Milestone::Statement)));
    // The same item again (a restart before its pending mark was cleared): nothing new.
    let item = w
        .store
        .item("county-gov", "http://127.0.0.1/gov/1")
        .unwrap()
        .unwrap();
    assert_eq!(
        w.pipeline.handle(item, Utc::now()).unwrap(),
        want(1, Some(Milestone::Statement))
    );

    let follow_up = w.handle(
        "county-gov",
        "http://127.0.0.1/gov/2",
        "石埠子镇矿山透水事故善后处置情况续报",
        "安丘市人民政府续报：石埠子镇铁矿透水事故12名遇难矿工善后工作基本完成，矿山停产整顿，事故调查组已进驻。",
        minutes_ago(20),
    );
    assert_eq!(follow_up, want(2, None));
    let press = w.handle(
        "county-gov",
        "http://127.0.0.1/gov/3",
        "安丘市召开石埠子镇矿山透水事故新闻发布会",
        "安丘市人民政府召开新闻发布会，通报石埠子镇铁矿透水事故12名矿工遇难及善后处置、事故调查和矿山停产整顿情况。",
        minutes_ago(10),
    );
    assert_eq!(press, want(3, Some(Milestone::Press)));

    let incident = w.ledger.get(1).unwrap();
    assert_eq!(incident.responses.len(), 3);
    assert_eq!(
        incident.items.len(),
        1,
        "responses are not items of the story"
    );
    assert_eq!(
        incident.deadline(Milestone::Press).unwrap().met_at,
        Some(incident.responses[2].published_at)
    );
    assert_eq!(incident.status, Status::Responded);
    assert_eq!(w.ledger.list(true).unwrap().len(), 1, "no second incident");
    let mut keys = w.outbox_keys();
    keys.sort();
    assert_eq!(
        keys,
        [
            "1/opened",
            "1/responses/1",
            "1/responses/2",
            "1/responses/3"
        ],
        "one recognition mail per response, the repeat none"
    );
    let audit = w.ledger.audit(1).unwrap();
    let responses: Vec<_> = audit.iter().filter(|a| a.action == "response").collect();
    assert_eq!(responses.len(), 3);
    assert!(responses.iter().all(|a| a.by == "自动识别"));
    assert!(
        responses[1].detail.contains("续报"),
        "{}",
        responses[1].detail
    );
}

#[test]
fn a_police_statement_on_a_news_site_answers_a_level_three_incident() {
    let w = world(5 * 3600);
    let opened = w.handle(
        "news",
        "http://127.0.0.1/news/7",
        "安丘市兴安街道一居民楼发生火灾 致2人受伤",
        "11月24日凌晨，安丘市兴安街道一居民楼三楼住户家中起火，2名住户受伤送医，火势已被扑灭。",
        minutes_ago(60),
    );
    assert_eq!(opened, Handled::Incident(IngestOutcome::Opened(1)));
    let level = w.ledger.get(1).unwrap().level;
    assert!(matches!(level, Level::III | Level::IV), "{level:?}");
    // Not an official source: the title's form and the speaker make it a candidate.
    let handled = w.handle(
        "news",
        "http://127.0.0.1/news/8",
        "安丘警方通报兴安街道居民楼火灾情况",
        "安丘市公安局通报：兴安街道一居民楼三楼住户家中起火，2名住户受伤送医，起火原因系电动车在室内充电。",
        minutes_ago(30),
    );
    assert_eq!(
        handled,
        Handled::Response(Responded {
            incident: 1,
            n: 1,
            milestone: Some(Milestone::Response),
            opened: false,
        })
    );
}

#[test]
fn unlink_reopens_a_clock_already_past_its_deadline() {
    // A one-minute statement window: by the time the response is rejected it is overdue.
    let w = world(60);
    w.handle(
        "news",
        "http://127.0.0.1/news/1",
        ACCIDENT,
        ACCIDENT_BODY,
        minutes_ago(30),
    );
    w.handle(
        "county-gov",
        "http://127.0.0.1/gov/1",
        STATEMENT,
        STATEMENT_BODY,
        minutes_ago(29),
    );
    let met = w.ledger.get(1).unwrap();
    assert!(met.deadline(Milestone::Statement).unwrap().met_at.is_some());
    let scheduled = |m| w.store.due_of(1).unwrap().iter().any(|e| e.milestone == m);
    assert!(
        !scheduled(Milestone::Statement),
        "a met clock is not scheduled"
    );

    let refused = w.ledger.unlink_response(1, 1, "张三", " ", Utc::now());
    assert!(refused.is_err(), "a reason is required");
    let incident = w
        .ledger
        .unlink_response(1, 1, "张三", "通报说的是另一处矿山", Utc::now())
        .unwrap();
    assert!(incident.linked_responses().next().is_none());
    assert_eq!(incident.responses.len(), 1, "kept for the record");
    assert_eq!(
        incident.deadline(Milestone::Statement).unwrap().met_at,
        None
    );
    assert_eq!(incident.status, Status::New);
    let entry = w
        .store
        .due_of(1)
        .unwrap()
        .into_iter()
        .find(|e| e.milestone == Milestone::Statement)
        .expect("the statement clock runs again");
    assert!(
        entry.at <= Utc::now(),
        "its overdue notice is due now: {entry:?}"
    );
    // Unlinking twice is refused and says which responses there are.
    let again = w
        .ledger
        .unlink_response(1, 1, "张三", "再次撤销", Utc::now())
        .unwrap_err()
        .to_string();
    assert!(again.contains("没有第 1 条回应"), "{again}");
    // The recognised item does not come back as a new response or incident.
    let item = w
        .store
        .item("county-gov", "http://127.0.0.1/gov/1")
        .unwrap()
        .unwrap();
    assert!(matches!(
        w.pipeline.handle(item, Utc::now()).unwrap(),
        Handled::Response(_) | Handled::Routine
    ));
    assert_eq!(w.ledger.list(true).unwrap().len(), 1);
}
