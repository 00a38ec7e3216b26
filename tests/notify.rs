//! Mail delivery against a real SMTP server (mailin-embedded on 127.0.0.1) and the
//! file outbox: order, exactly-once on a healthy server, waiting out an outage,
//! dead letters, restarts.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use mail_parser::MessageParser;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use yuqing::config::{Config, HumanDuration, SmtpConfig, SmtpSecurity};
use yuqing::model::{Milestone, Notice, NoticeKind};
use yuqing::notify::{self, Backoff, NotifyError, Transport};
use yuqing::store::{NoticeRecord, Store};

mod common;
use common::incident::incident;
use common::smtp::{Collector, listener, serve, until};

fn config(data_dir: &Path, port: Option<u16>) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.recipients.duty = vec!["duty@localhost".into()];
    config.smtp = port.map(|port| SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        from: "舆情值班室 <yuqing@localhost>".into(),
        username: None,
        password_env: None,
        timeout: HumanDuration::from_secs(10),
    });
    config
}

fn fast() -> Backoff {
    Backoff {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        jitter: 0.1,
        give_up_after: Duration::from_secs(3600),
    }
}

struct Worker {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<Result<(), NotifyError>>,
}

impl Worker {
    fn start(store: &Store, config: Config, backoff: Backoff, wake: &Arc<Notify>) -> Worker {
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(notify::run_with(
            store.clone(),
            Arc::new(config),
            backoff,
            wake.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        Worker { stop, handle }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.handle
            .await
            .expect("worker task")
            .expect("worker stops cleanly");
    }
}

fn opened(id: u64, to: &str) -> Notice {
    Notice {
        key: format!("{id}/opened"),
        to: vec![to.into()],
        created_at: Utc::now(),
        kind: NoticeKind::Opened {
            incident: Box::new(incident(id)),
        },
    }
}

fn reminder(id: u64, to: &str) -> Notice {
    Notice {
        key: format!("{id}/response/60"),
        to: vec![to.into()],
        created_at: Utc::now(),
        kind: NoticeKind::Reminder {
            incident: Box::new(incident(id)),
            milestone: Milestone::Response,
            percent: 60,
            escalation: false,
        },
    }
}

fn source_failing(id: &str, to: &str) -> Notice {
    Notice {
        key: format!("source/{id}/failing/1"),
        to: vec![to.into()],
        created_at: Utc::now(),
        kind: NoticeKind::SourceFailing {
            source: id.into(),
            name: "安丘市政府网站留言板".into(),
            since: Utc::now(),
            error: "连接超时".into(),
            episode: 1,
        },
    }
}

/// A real SMTP server on 127.0.0.1 that accepts and keeps every mail: its port and its mails.
fn collecting_server() -> (u16, Collector) {
    let listener = listener();
    let port = listener.local_addr().unwrap().port();
    let server = Collector::default();
    serve(listener, server.clone());
    (port, server)
}

fn enqueue(store: &Store, wake: &Notify, notices: &[Notice]) {
    for notice in notices {
        assert!(store.enqueue_notice(notice).unwrap(), "{}", notice.key);
    }
    wake.notify_one();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_notices_arrive_in_order_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (port, server) = collecting_server();
    let store = Store::open(dir.path()).unwrap();
    let wake = Arc::new(Notify::new());
    let worker = Worker::start(&store, config(dir.path(), Some(port)), fast(), &wake);

    let notices = [
        opened(1, "duty@localhost"),
        opened(2, "office@localhost"),
        reminder(1, "duty@localhost"),
        source_failing("anqiu-board", "duty@localhost"),
        reminder(2, "office@localhost"),
    ];
    enqueue(&store, &wake, &notices);
    until("the outbox to drain", || store.outbox_depth() == 0).await;
    worker.stop().await;

    let expected: Vec<String> = notices.iter().map(|n| n.key.clone()).collect();
    assert_eq!(server.keys(), expected);
    for (got, notice) in server.received().iter().zip(&notices) {
        assert_eq!(got.to, notice.to, "{}", notice.key);
        let message = MessageParser::default().parse(&got.raw).unwrap();
        assert_eq!(message.subject(), Some(notify::subject(notice).as_str()));
        assert!(
            matches!(
                store.notice_record(&notice.key).unwrap(),
                Some(NoticeRecord::Sent { .. })
            ),
            "{}",
            notice.key
        );
    }
    let received = server.received();
    assert_eq!(
        received[2].header("In-Reply-To"),
        "<yuqing.1.opened@localhost>"
    );
    assert_eq!(received[2].header("X-Yuqing-Incident"), "1");
    assert_eq!(received[2].header("X-Yuqing-Level"), "III");
    let status = notify::delivery_status(&store).unwrap();
    assert_eq!((status.pending, status.retrying, status.dead), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_waits_out_an_outage_and_arrives_in_order() {
    let dir = tempfile::tempdir().unwrap();
    // A port with nothing listening: connections are refused until the server starts.
    let port = listener().local_addr().unwrap().port();
    let store = Store::open(dir.path()).unwrap();
    let wake = Arc::new(Notify::new());
    let worker = Worker::start(&store, config(dir.path(), Some(port)), fast(), &wake);

    let notices = [
        opened(5, "duty@localhost"),
        source_failing("anqiu-news", "duty@localhost"),
        reminder(5, "duty@localhost"),
    ];
    enqueue(&store, &wake, &notices);
    until("several failed attempts", || {
        notify::delivery_status(&store)
            .unwrap()
            .stuck
            .is_some_and(|s| s.attempts >= 3)
    })
    .await;
    let status = notify::delivery_status(&store).unwrap();
    assert_eq!(status.pending, 3);
    assert_eq!(
        status.retrying, 1,
        "an unreachable server pauses the whole queue"
    );
    let stuck = status.stuck.unwrap();
    assert_eq!(stuck.key, "5/opened");
    assert!(
        stuck.error.contains("邮件服务器暂时不可用"),
        "{}",
        stuck.error
    );

    let server = Collector::default();
    serve(
        TcpListener::bind(("127.0.0.1", port)).unwrap(),
        server.clone(),
    );
    until("the outbox to drain", || store.outbox_depth() == 0).await;
    worker.stop().await;

    let expected: Vec<String> = notices.iter().map(|n| n.key.clone()).collect();
    assert_eq!(server.keys(), expected, "every mail once, in queue order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_mail_waits_without_holding_up_other_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let listener = listener();
    let port = listener.local_addr().unwrap().port();
    let server = Collector::busy("busy@localhost", 3);
    serve(listener, server.clone());
    let store = Store::open(dir.path()).unwrap();
    let wake = Arc::new(Notify::new());
    let worker = Worker::start(&store, config(dir.path(), Some(port)), fast(), &wake);

    enqueue(
        &store,
        &wake,
        &[
            opened(7, "busy@localhost"),
            reminder(7, "duty@localhost"),
            opened(8, "duty@localhost"),
        ],
    );
    until("the outbox to drain", || store.outbox_depth() == 0).await;
    worker.stop().await;
    assert_eq!(
        server.keys(),
        ["8/opened", "7/opened", "7/response/60"],
        "incident 8 goes ahead; incident 7 keeps its own order"
    );
    assert_eq!(store.dead_letter_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_mail_becomes_a_dead_letter_reported_to_duty() {
    let dir = tempfile::tempdir().unwrap();
    let listener = listener();
    let port = listener.local_addr().unwrap().port();
    let server = Collector::rejecting("gone@localhost");
    serve(listener, server.clone());
    let store = Store::open(dir.path()).unwrap();
    let wake = Arc::new(Notify::new());
    let worker = Worker::start(&store, config(dir.path(), Some(port)), fast(), &wake);

    let lost = opened(9, "gone@localhost");
    enqueue(
        &store,
        &wake,
        &[
            opened(10, "duty@localhost"),
            lost.clone(),
            reminder(9, "duty@localhost"),
        ],
    );
    until("the outbox to drain", || store.outbox_depth() == 0).await;
    worker.stop().await;

    assert_eq!(
        server.keys(),
        ["10/opened", "9/response/60", "dead/9/opened"]
    );
    let report = &server.received()[2];
    assert_eq!(report.to, ["duty@localhost"]);
    let message = MessageParser::default().parse(&report.raw).unwrap();
    assert_eq!(
        message.subject(),
        Some(format!("【邮件投递失败】{}", notify::subject(&lost)).as_str())
    );
    let text = message.body_text(0).unwrap();
    assert!(text.contains("gone@localhost"), "{text}");
    assert!(text.contains("550"), "{text}");
    assert!(text.contains("9/opened"), "{text}");

    assert!(matches!(
        store.notice_record("9/opened").unwrap(),
        Some(NoticeRecord::Dead { .. })
    ));
    let dead = store.dead_letters().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].notice, lost);
    assert!(dead[0].error.contains("550"), "{}", dead[0].error);
    assert_eq!(notify::delivery_status(&store).unwrap().dead, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_cannot_be_delivered_is_kept_not_looped() {
    let dir = tempfile::tempdir().unwrap();
    let listener = listener();
    let port = listener.local_addr().unwrap().port();
    let server = Collector::rejecting("duty@localhost");
    serve(listener, server.clone());
    let store = Store::open(dir.path()).unwrap();
    let wake = Arc::new(Notify::new());
    let worker = Worker::start(&store, config(dir.path(), Some(port)), fast(), &wake);

    enqueue(&store, &wake, &[source_failing("s1", "duty@localhost")]);
    until("both to be dead letters", || store.dead_letter_count() == 2).await;
    until("the outbox to drain", || store.outbox_depth() == 0).await;
    worker.stop().await;
    assert!(server.keys().is_empty());
    let keys: Vec<String> = store
        .dead_letters()
        .unwrap()
        .into_iter()
        .map(|d| d.notice.key)
        .collect();
    assert_eq!(keys, ["source/s1/failing/1", "dead/source/s1/failing/1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_refused_for_too_long_is_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let listener = listener();
    let port = listener.local_addr().unwrap().port();
    let server = Collector::busy("busy@localhost", u32::MAX);
    serve(listener, server.clone());
    let store = Store::open(dir.path()).unwrap();
    let wake = Arc::new(Notify::new());
    let backoff = Backoff {
        give_up_after: Duration::ZERO,
        ..fast()
    };
    let worker = Worker::start(&store, config(dir.path(), Some(port)), backoff, &wake);
    enqueue(&store, &wake, &[opened(11, "busy@localhost")]);
    until("the outbox to drain", || store.outbox_depth() == 0).await;
    worker.stop().await;
    assert_eq!(server.keys(), ["dead/11/opened"]);
    let dead = store.dead_letters().unwrap();
    assert!(dead[0].error.contains("451"), "{}", dead[0].error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_does_not_resend_what_the_server_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let listener = listener();
    let port = listener.local_addr().unwrap().port();
    let server = Collector::default();
    serve(listener, server.clone());
    let wake = Arc::new(Notify::new());

    let store = Store::open(dir.path()).unwrap();
    let worker = Worker::start(&store, config(dir.path(), Some(port)), fast(), &wake);
    enqueue(
        &store,
        &wake,
        &[opened(20, "duty@localhost"), opened(21, "duty@localhost")],
    );
    until("the first two mails", || store.outbox_depth() == 0).await;
    worker.stop().await;
    // Queued while the worker is down: delivered after the restart.
    enqueue(&store, &wake, &[reminder(20, "duty@localhost")]);
    drop(store);

    let store = Store::open(dir.path()).unwrap();
    assert!(
        !store.enqueue_notice(&opened(20, "duty@localhost")).unwrap(),
        "a sent key is never queued again"
    );
    let worker = Worker::start(&store, config(dir.path(), Some(port)), fast(), &wake);
    enqueue(&store, &wake, &[reminder(21, "duty@localhost")]);
    until("the outbox to drain", || store.outbox_depth() == 0).await;
    worker.stop().await;
    assert_eq!(
        server.keys(),
        ["20/opened", "21/opened", "20/response/60", "21/response/60"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_mail_is_written_as_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let wake = Arc::new(Notify::new());
    let worker = Worker::start(&store, config(dir.path(), None), fast(), &wake);
    let notice = opened(30, "duty@localhost");
    enqueue(&store, &wake, std::slice::from_ref(&notice));
    until("the outbox to drain", || store.outbox_depth() == 0).await;
    worker.stop().await;

    let outbox = dir.path().join("outbox");
    let path = outbox.join("30.opened.eml");
    let first = std::fs::read(&path).expect("the .eml file");
    let message = MessageParser::default().parse(&first).unwrap();
    assert_eq!(message.subject(), Some(notify::subject(&notice).as_str()));
    assert_eq!(message.message_id(), Some("yuqing.30.opened@localhost"));

    // Sending the same notice again replaces the file instead of adding one.
    let transport = Transport::files(&outbox).unwrap();
    let letterhead = notify::Letterhead::new("舆情值班室 <yuqing@localhost>").unwrap();
    let mail = letterhead.render(&notice).unwrap();
    transport.send(&notice.key, &mail).await.unwrap();
    transport.send(&notice.key, &mail).await.unwrap();
    let files: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["30.opened.eml"], "one file, no temporary left");
    let again = std::fs::read(&path).unwrap();
    assert_eq!(again, mail.formatted());
    assert!(MessageParser::default().parse(&again).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_is_required_not_hoped_for() {
    let dir = tempfile::tempdir().unwrap();
    let listener = listener();
    let port = listener.local_addr().unwrap().port();
    // This server offers no STARTTLS: nothing may be sent in plain text.
    let server = Collector::default();
    serve(listener, server.clone());
    let store = Store::open(dir.path()).unwrap();
    let wake = Arc::new(Notify::new());
    let mut config = config(dir.path(), Some(port));
    if let Some(smtp) = config.smtp.as_mut() {
        smtp.security = SmtpSecurity::Starttls;
    }
    let worker = Worker::start(&store, config, fast(), &wake);
    enqueue(
        &store,
        &wake,
        &[opened(40, "duty@localhost"), opened(41, "duty@localhost")],
    );
    until("a few failed attempts", || {
        notify::delivery_status(&store)
            .unwrap()
            .stuck
            .is_some_and(|s| s.attempts >= 2)
    })
    .await;
    worker.stop().await;
    let status = notify::delivery_status(&store).unwrap();
    assert_eq!((status.pending, status.retrying, status.dead), (2, 1, 0));
    let stuck = status.stuck.unwrap();
    assert!(stuck.error.contains("STARTTLS"), "{}", stuck.error);
    assert!(server.keys().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_login_is_never_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let listener = listener();
    let port = listener.local_addr().unwrap().port();
    // This server offers no AUTH: mail must wait rather than go out unauthenticated.
    let server = Collector::default();
    serve(listener, server.clone());
    let store = Store::open(dir.path()).unwrap();
    let wake = Arc::new(Notify::new());
    let mut config = config(dir.path(), Some(port));
    if let Some(smtp) = config.smtp.as_mut() {
        smtp.username = Some("yuqing".into());
    }
    let worker = Worker::start(&store, config, fast(), &wake);
    enqueue(&store, &wake, &[opened(50, "duty@localhost")]);
    until("a few failed attempts", || {
        notify::delivery_status(&store)
            .unwrap()
            .stuck
            .is_some_and(|s| s.attempts >= 2)
    })
    .await;
    worker.stop().await;
    let status = notify::delivery_status(&store).unwrap();
    assert_eq!((status.pending, status.dead), (1, 0));
    assert!(
        status.stuck.unwrap().error.contains("authentication"),
        "lettre names the missing mechanism"
    );
    assert!(server.keys().is_empty());
}

/// After a mail outage the outbox holds every step a clock fired meanwhile; only the
/// newest of each clock is sent (issue 9 point 8: 22 overdue mails of one incident
/// after minutes down), the others are recorded as superseded. Other clocks and
/// other kinds of notice are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_outage_only_the_newest_notice_of_each_clock_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (port, server) = collecting_server();
    let store = Store::open(dir.path()).unwrap();
    let overdue = |id: u64, milestone: Milestone, repeat: u32| Notice {
        key: format!("{id}/{milestone}/overdue/{repeat}"),
        kind: NoticeKind::Overdue {
            incident: Box::new(incident(id)),
            milestone,
            repeat,
        },
        ..reminder(id, "duty@localhost")
    };
    // Queued while the server was down: the opened notice, the reminder, 22 overdue
    // notices of incident 9's response clock, and two of another incident's.
    let mut notices = vec![opened(9, "duty@localhost"), reminder(9, "duty@localhost")];
    notices.extend((1..=22).map(|n| overdue(9, Milestone::Response, n)));
    notices.extend((1..=2).map(|n| overdue(10, Milestone::Statement, n)));
    for notice in &notices {
        assert!(store.enqueue_notice(notice).unwrap(), "{}", notice.key);
    }
    let wake = Arc::new(Notify::new());
    let worker = Worker::start(&store, config(dir.path(), Some(port)), fast(), &wake);
    until("the outbox to drain", || store.outbox_depth() == 0).await;
    worker.stop().await;

    assert_eq!(
        server.keys(),
        [
            "9/opened",
            "9/response/overdue/22",
            "10/statement/overdue/2"
        ]
    );
    for key in [
        "9/response/60",
        "9/response/overdue/1",
        "9/response/overdue/21",
    ] {
        assert!(
            matches!(
                store.notice_record(key).unwrap(),
                Some(NoticeRecord::Superseded { ref by, .. }) if by == "9/response/overdue/22"
            ),
            "{key}"
        );
    }
    // A superseded key is still known: the clock never queues it again.
    assert!(
        !store
            .enqueue_notice(&overdue(9, Milestone::Response, 3))
            .unwrap()
    );
}
