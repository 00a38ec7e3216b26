//! A whole incident timeline, end to end against a real SMTP server on 127.0.0.1:
//! an item is classified and opens a level II incident, the deadline task and the
//! delivery worker run for real (policy windows in seconds), the duty officer acts
//! at fixed points, and the test asserts exactly which mails arrived, in which
//! order, to whom, and threaded as one conversation.

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::watch;
use yuqing::classify::Classifier;
use yuqing::clock::task::{DeadlineTask, TaskClock};
use yuqing::config::{Config, HumanDuration, Policy, SmtpConfig, SmtpSecurity};
use yuqing::ledger::{IngestOutcome, Ledger};
use yuqing::model::Milestone;
use yuqing::notify;
use yuqing::parse::ParsedItem;
use yuqing::pipeline::{Handled, Pipeline};
use yuqing::store::{Store, UpsertOutcome};

mod common;
use common::smtp::{Collector, listener, serve, until};

fn config(data_dir: &Path, smtp_port: u16) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        dictionaries: Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
        ..Config::default()
    };
    config.smtp = Some(SmtpConfig {
        port: smtp_port,
        security: SmtpSecurity::None,
        ..SmtpConfig::default()
    });
    config.recipients.duty = vec!["duty@localhost".into()];
    config.recipients.propaganda = vec!["xcb@localhost".into()];
    config.recipients.office = vec!["office@localhost".into()];
    config.recipients.leaders = vec!["leader@localhost".into()];
    config
        .units
        .insert("市应急管理局".into(), vec!["yjj@localhost".into()]);
    config.policy = Policy {
        ack: HumanDuration::from_secs(6),
        statement: HumanDuration::from_secs(12),
        press: HumanDuration::from_secs(18),
        remind_at: vec![0.6, 0.8],
        overdue_repeat: HumanDuration::from_secs(3600),
        ..Policy::default()
    };
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_timeline_sends_exactly_these_mails() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = listener();
    let port = smtp.local_addr().unwrap().port();
    let server = Collector::default();
    serve(smtp, server.clone());

    let config = Arc::new(config(dir.path(), port));
    let store = Store::open(dir.path()).unwrap();
    let classifier = Classifier::load(&config.dictionaries, &config.jurisdiction).unwrap();
    let ledger = Ledger::new(store.clone(), config.clone(), Arc::default());
    let pipeline = Pipeline::new(Arc::new(classifier), store.clone(), ledger.clone(), &config);
    let (stop, stopping) = watch::channel(false);
    let stopped = |rx: &watch::Receiver<bool>| {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let deadlines = tokio::spawn(
        DeadlineTask::new(store.clone(), ledger.clone(), TaskClock::system())
            .run(stopped(&stopping)),
    );
    let mail = tokio::spawn(notify::run(
        store.clone(),
        config.clone(),
        store.outbox_signal(),
        stopped(&stopping),
    ));

    // An item as intake would store it: published now, in the jurisdiction.
    let now = Utc::now();
    let UpsertOutcome::New(item) = store
        .upsert_item(
            "news",
            ParsedItem {
                key: "https://news.example.org/1.html".into(),
                title: "安丘市景芝镇一化工厂发生爆炸 造成12人死亡".into(),
                link: Some("https://news.example.org/1.html".into()),
                body: "11月24日上午，安丘市景芝镇一化工企业车间发生爆炸，造成12人死亡、5人受伤。"
                    .into(),
                published: Some(now),
                date_quality: Some(yuqing::model::DateQuality::Credible),
            },
            now,
        )
        .unwrap()
    else {
        panic!("a new item")
    };
    let handled = tokio::task::spawn_blocking({
        let pipeline = pipeline.clone();
        move || pipeline.handle(item, now)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(handled, Handled::Incident(IngestOutcome::Opened(1)));
    assert_eq!(store.pending_count(), 0, "the item is done");

    // The ack window (6 s) runs out unanswered; then the officer acknowledges.
    until("the first ack overdue notice", || {
        server.keys().contains(&"1/ack/overdue/1".to_string())
    })
    .await;
    ledger.ack(1, "值班员张三", None, Utc::now()).unwrap();
    // The statement is published between the escalation (80 %) and the deadline.
    until("the statement escalation", || {
        server.keys().contains(&"1/statement/80".to_string())
    })
    .await;
    ledger
        .milestone(
            1,
            Milestone::Statement,
            "值班员张三",
            Some("https://gov.example.org/1"),
            None,
            Utc::now(),
            Utc::now(),
        )
        .unwrap();
    // The press conference is late; once it is recorded every clock is met.
    until("the press overdue notice", || {
        server.keys().contains(&"1/press/overdue/1".to_string())
    })
    .await;
    ledger
        .milestone(
            1,
            Milestone::Press,
            "值班员张三",
            None,
            None,
            Utc::now(),
            Utc::now(),
        )
        .unwrap();
    assert!(store.due_of(1).unwrap().is_empty(), "no clock left running");

    stop.send(true).unwrap();
    deadlines.await.unwrap();
    mail.await.unwrap().unwrap();

    let expected: &[(&str, &[&str])] = &[
        (
            "1/opened",
            &["duty@localhost", "xcb@localhost", "yjj@localhost"],
        ),
        ("1/ack/60", &["duty@localhost", "yjj@localhost"]),
        (
            "1/ack/80",
            &["office@localhost", "duty@localhost", "yjj@localhost"],
        ),
        (
            "1/ack/overdue/1",
            &["leader@localhost", "office@localhost", "duty@localhost"],
        ),
        ("1/statement/60", &["duty@localhost", "yjj@localhost"]),
        (
            "1/statement/80",
            &["office@localhost", "duty@localhost", "yjj@localhost"],
        ),
        ("1/press/60", &["duty@localhost", "yjj@localhost"]),
        (
            "1/press/80",
            &["office@localhost", "duty@localhost", "yjj@localhost"],
        ),
        (
            "1/press/overdue/1",
            &["leader@localhost", "office@localhost", "duty@localhost"],
        ),
    ];
    let received = server.received();
    let keys: Vec<String> = received.iter().map(|m| m.key()).collect();
    let want: Vec<&str> = expected.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, want, "exactly these mails, in this order");

    let root = received[0].header("Message-ID");
    for (mail, (key, to)) in received.iter().zip(expected) {
        let mut got = mail.to.clone();
        let mut want: Vec<String> = to.iter().map(|s| s.to_string()).collect();
        got.sort();
        want.sort();
        want.dedup();
        assert_eq!(got, want, "recipients of {key}");
        assert_eq!(mail.header("X-Yuqing-Incident"), "1", "{key}");
        assert_eq!(mail.header("X-Yuqing-Level"), "II", "{key}");
        if *key != "1/opened" {
            assert_eq!(
                mail.header("In-Reply-To"),
                root,
                "{key} threads under the opened mail"
            );
        }
    }
    let subject = |i: usize| {
        mail_parser::MessageParser::default()
            .parse(&received[i].raw)
            .unwrap()
            .subject()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        subject(0).starts_with("【重大·安全生产】安丘市景芝镇一化工厂发生爆炸"),
        "{}",
        subject(0)
    );
    assert!(subject(8).contains("新闻发布会"), "{}", subject(8));
}
