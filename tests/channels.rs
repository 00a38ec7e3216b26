//! Chat channels against a real local HTTP server standing in for the 企业微信, 钉钉
//! and 飞书 robots: the daemon posts the alert of a test incident to each, signed as
//! the platforms specify (checked here independently of the daemon's code); a
//! channel that is down is retried, shows in the status, and gets its card once it
//! is back.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use base64::Engine as _;
use chrono::Utc;
use common::daemon::{Api, Daemon, Site, feed_server, incident_ids, tail};
use common::incident::incident;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::{Notify, oneshot};
use yuqing::config::{ChannelConfig, ChannelKind, Config, Role};
use yuqing::model::{Notice, NoticeKind};
use yuqing::notify::{self, Backoff};
use yuqing::store::{NoticeRecord, Store};

const BIN: &str = env!("CARGO_BIN_EXE_yuqing");
const DING_SECRET: &str = "SECtest-ding-secret";
const FEISHU_SECRET: &str = "feishu-secret";

/// One post the robot server received, and whether it accepted it.
#[derive(Debug, Clone)]
struct Post {
    path: String,
    body: Value,
    accepted: bool,
    /// Why the signature or body was refused, if it was.
    refused: Option<String>,
}

#[derive(Default)]
struct Robots {
    posts: Mutex<Vec<Post>>,
    down: AtomicBool,
}

impl Robots {
    fn accepted(&self, path: &str) -> Vec<Value> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.path == path && p.accepted)
            .map(|p| p.body.clone())
            .collect()
    }

    fn refused(&self) -> Vec<String> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter_map(|p| p.refused.clone())
            .collect()
    }

    fn attempts(&self, path: &str) -> usize {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.path == path)
            .count()
    }
}

fn hmac_base64(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks a post as the platform would; `Err` says why it would be refused.
fn check(path: &str, query: &str, body: &Value) -> Result<(), String> {
    let now = Utc::now();
    match path {
        "/wecom" => {
            let content = body["markdown"]["content"].as_str().unwrap_or("");
            if body["msgtype"] != "markdown" || content.is_empty() || content.len() > 4096 {
                return Err(format!("wecom body: {body}"));
            }
        }
        "/ding" => {
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let get = |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
            };
            let timestamp = get("timestamp").ok_or("dingtalk: no timestamp")?;
            let sign = get("sign").ok_or("dingtalk: no sign")?;
            let ms: i64 = timestamp.parse().map_err(|_| "dingtalk: bad timestamp")?;
            if (now.timestamp_millis() - ms).abs() > 3_600_000 {
                return Err("dingtalk: timestamp more than an hour off".into());
            }
            let want = hmac_base64(
                DING_SECRET.as_bytes(),
                format!("{timestamp}\n{DING_SECRET}").as_bytes(),
            );
            if sign != want {
                return Err(format!("dingtalk: sign {sign} != {want}"));
            }
            if get("access_token").as_deref() != Some("T0KEN") {
                return Err("dingtalk: access_token lost".into());
            }
            if body["msgtype"] != "markdown" || !body["markdown"]["title"].is_string() {
                return Err(format!("dingtalk body: {body}"));
            }
        }
        "/feishu" => {
            let timestamp = body["timestamp"].as_str().ok_or("feishu: no timestamp")?;
            let secs: i64 = timestamp.parse().map_err(|_| "feishu: bad timestamp")?;
            if (now.timestamp() - secs).abs() > 3600 {
                return Err("feishu: timestamp more than an hour off".into());
            }
            let want = hmac_base64(format!("{timestamp}\n{FEISHU_SECRET}").as_bytes(), b"");
            if body["sign"] != want.as_str() {
                return Err(format!("feishu: sign {} != {want}", body["sign"]));
            }
            if body["msg_type"] != "text" || !body["content"]["text"].is_string() {
                return Err(format!("feishu body: {body}"));
            }
        }
        other => return Err(format!("unexpected path {other}")),
    }
    Ok(())
}

async fn robot(
    State(robots): State<Arc<Robots>>,
    uri: Uri,
    RawQuery(query): RawQuery,
    _headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let path = uri.path().to_string();
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if robots.down.load(Ordering::SeqCst) {
        robots.posts.lock().unwrap().push(Post {
            path,
            body,
            accepted: false,
            refused: None,
        });
        return (StatusCode::SERVICE_UNAVAILABLE, "down".into());
    }
    let verdict = check(&path, query.as_deref().unwrap_or(""), &body);
    let accepted = verdict.is_ok();
    let answer = match (&verdict, path.as_str()) {
        (Ok(()), "/feishu") => r#"{"code":0,"msg":"success"}"#.to_string(),
        (Ok(()), _) => r#"{"errcode":0,"errmsg":"ok"}"#.to_string(),
        (Err(why), "/feishu") => format!(r#"{{"code":19021,"msg":{why:?}}}"#),
        (Err(why), _) => format!(r#"{{"errcode":310000,"errmsg":{why:?}}}"#),
    };
    robots.posts.lock().unwrap().push(Post {
        path,
        body,
        accepted,
        refused: verdict.err(),
    });
    (StatusCode::OK, answer)
}

/// The robot server on 127.0.0.1:0; returns its base URL.
async fn robots() -> (String, Arc<Robots>) {
    let robots = Arc::new(Robots::default());
    let app = axum::Router::new()
        .route("/{*path}", post(robot))
        .with_state(robots.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, robots)
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool, log: impl Fn() -> String) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_posts_a_signed_alert_to_wecom_dingtalk_and_feishu() {
    let (base, robots) = robots().await;
    let feed = feed_server(&[("a1", "安丘市景芝镇一化工厂发生爆炸 造成3人死亡")]).await;
    let channels = format!(
        "[[channel]]\nkind = \"wecom\"\nurl = \"{base}/wecom?key=K\"\nroles = [\"duty\"]\n\n\
         [[channel]]\nkind = \"dingtalk\"\nurl = \"{base}/ding?access_token=T0KEN\"\n\
         secret_env = \"YQ_TEST_DING\"\nroles = [\"duty\"]\n\n\
         [[channel]]\nname = \"feishu-leaders\"\nkind = \"feishu\"\nurl = \"{base}/feishu\"\n\
         secret_env = \"YQ_TEST_FEISHU\"\nroles = [\"duty\"]\nlevels = [\"I\", \"II\", \"III\"]\n"
    );
    let site = Site::new(
        Path::new(BIN),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
        &format!("{}/feed.xml", feed.uri()),
        &channels,
    );
    let mut daemon = Daemon::start(
        &site,
        &[
            ("YQ_TEST_DING", DING_SECRET),
            ("YQ_TEST_FEISHU", FEISHU_SECRET),
        ],
    );
    let api = Api::connect(&site, &mut daemon).await;
    let ids = incident_ids(&api, &mut daemon, 1).await;
    let key = format!("{}/opened", ids[0]);
    let log = || tail(&daemon.log());
    for path in ["/wecom", "/ding", "/feishu"] {
        wait_until(
            &format!("the alert at {path}"),
            || !robots.accepted(path).is_empty() || !robots.refused().is_empty(),
            log,
        )
        .await;
    }
    assert_eq!(robots.refused(), Vec::<String>::new(), "{}", log());

    let wecom = robots.accepted("/wecom")[0]["markdown"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let ding = robots.accepted("/ding")[0]["markdown"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let feishu = robots.accepted("/feishu")[0]["content"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    for card in [&wecom, &ding, &feishu] {
        for want in [
            "化工厂".to_string(),
            "截止".to_string(),
            format!("yuqing ack {} --by 姓名", ids[0]),
            format!("通知编号：{key}"),
            "等级：".to_string(),
        ] {
            assert!(card.contains(&want), "{want} missing in:\n{card}");
        }
    }

    let status = api.get("/v1/status").await.unwrap();
    let channels = status["channels"].as_array().unwrap();
    let names: Vec<&str> = channels.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["wecom", "dingtalk", "feishu-leaders"]);
    for channel in channels {
        assert_eq!(channel["failing"], 0, "{status}");
    }
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_that_is_down_is_retried_shown_in_status_and_served_once_back() {
    let (base, robots) = robots().await;
    robots.down.store(true, Ordering::SeqCst);
    let mut config = Config::default();
    config.recipients.duty = vec!["duty@localhost".into()];
    config.channels = vec![ChannelConfig {
        name: Some("duty-wecom".into()),
        kind: ChannelKind::Wecom,
        url: format!("{base}/wecom?key=K").parse().unwrap(),
        secret_env: None,
        roles: vec![Role::Duty],
        levels: vec![],
    }];
    let config = Arc::new(config);
    let store = Store::temporary().unwrap();
    store.route_to_channels(notify::channel::router(config.clone()));
    // No mail worker runs: the mail row stays queued while the channel row is served.
    for id in [1, 2] {
        let queued = store
            .enqueue_notice(&Notice {
                key: format!("{id}/opened"),
                to: vec!["duty@localhost".into()],
                created_at: Utc::now(),
                kind: NoticeKind::Opened {
                    incident: Box::new(incident(id)),
                },
            })
            .unwrap();
        assert!(queued);
    }
    assert_eq!(store.outbox_depth(), 4, "a mail row and a channel row each");

    let wake = Arc::new(Notify::new());
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = tokio::spawn(notify::run_channel(
        store.clone(),
        notify::channel::Channel::from_config(&config.channels[0]).unwrap(),
        config.recipients.duty.clone(),
        Backoff {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(200),
            jitter: 0.1,
            give_up_after: Duration::from_secs(3600),
        },
        wake.clone(),
        async move {
            let _ = stopped.await;
        },
    ));

    let failing = || {
        store
            .outbox_failures_by_destination()
            .unwrap()
            .remove(&Some("duty-wecom".to_string()))
            .unwrap_or_default()
    };
    wait_until(
        "three failed attempts",
        || robots.attempts("/wecom") >= 3,
        String::new,
    )
    .await;
    let down = failing();
    assert_eq!(down.pending, 2);
    assert!(down.failing >= 1, "{down:?}");
    assert!(
        down.last_error
            .as_deref()
            .unwrap_or("")
            .contains("HTTP 503"),
        "{down:?}"
    );
    assert!(down.next_retry_at.is_some());
    assert_eq!(
        robots
            .posts
            .lock()
            .unwrap()
            .iter()
            .filter_map(|p| p.body["markdown"]["content"].as_str())
            .filter(|c| c.contains("通知编号：2/opened"))
            .count(),
        0,
        "while the head of the queue waits, the second card is not tried"
    );
    let mail = store.outbox_failures().unwrap();
    assert_eq!((mail.pending, mail.failing), (2, 0), "mail is not affected");

    robots.down.store(false, Ordering::SeqCst);
    wait_until(
        "both cards",
        || robots.accepted("/wecom").len() >= 2,
        String::new,
    )
    .await;
    let order: Vec<bool> = robots
        .accepted("/wecom")
        .iter()
        .map(|b| {
            b["markdown"]["content"]
                .as_str()
                .unwrap()
                .contains("通知编号：1/opened")
        })
        .collect();
    assert_eq!(order, [true, false], "queue order kept");
    wait_until(
        "the channel queue empty",
        || failing().pending == 0,
        String::new,
    )
    .await;
    for id in [1, 2] {
        assert!(matches!(
            store
                .notice_record(&format!("channel/duty-wecom/{id}/opened"))
                .unwrap(),
            Some(NoticeRecord::Sent { .. })
        ));
        assert!(matches!(
            store.notice_record(&format!("{id}/opened")).unwrap(),
            Some(NoticeRecord::Queued { .. })
        ));
    }
    let _ = stop.send(());
    worker.await.unwrap().unwrap();
    assert_eq!(robots.accepted("/wecom").len(), 2, "each card once");
}
