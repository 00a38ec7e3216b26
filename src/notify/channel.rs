//! Chat channels (`[[channel]]`): 企业微信, 钉钉 and 飞书 group robots, and a generic
//! JSON webhook. With [`transport`](super::transport) the only code that delivers
//! notices; it speaks HTTP (reqwest) to the configured robot URLs only.
//!
//! Which notices go where ([`routes`], pure): a channel receives every notice whose
//! mail goes to one of its `roles` (an address of the role is among the mail's
//! recipients), restricted to incidents of its `levels` when it has some (notices
//! about no incident always go). Dead-letter reports never go to channels: a channel
//! that refuses cards must not feed itself reports about them.
//!
//! Delivery goes through the outbox like mail (see `store/outbox.rs`): one row per
//! channel, queued in the transaction that queues the mail, sent by a delivery
//! worker of its own ([`super::worker::run_channel`]) with the same back-off, order
//! and at-least-once guarantees, and shown per channel in `status`.
//!
//! What is posted ([`request`], pure; platform rules with sources in docs/channels.md):
//! - `wecom`: `{"msgtype":"markdown","markdown":{"content":…}}`; the robot key is in the URL.
//! - `dingtalk`: `{"msgtype":"markdown","markdown":{"title":…,"text":…}}`; with a secret,
//!   `timestamp` (ms) and `sign` = Base64(HMAC-SHA256(key = secret, `"{timestamp}\n{secret}"`))
//!   are added to the URL's query (URL-encoded).
//! - `feishu`: `{"msg_type":"text","content":{"text":…}}`; with a secret, `"timestamp"`
//!   (seconds, a string) and `"sign"` = Base64(HMAC-SHA256(key = `"{timestamp}\n{secret}"`,
//!   empty message)) in the body.
//! - `webhook`: [`WebhookBody`]; with a secret, headers `X-Yuqing-Timestamp` (seconds) and
//!   `X-Yuqing-Signature: sha256=` hex HMAC-SHA256(key = secret, `"{timestamp}\n{body}"`).
//!
//! Failures ([`Failure`]): no connection, a timeout, `5xx`, any other refusal (`4xx`,
//! or a robot's non-zero `errcode`/`code`, e.g. a wrong signature or key) make the
//! channel unreachable: its queue waits and the head is retried, so a fixed channel
//! gets every card in order; a rate limit (`429`, WeCom 45009, DingTalk 130101,
//! Feishu 9499 / 11232) retries that card later; `413` (too large) is permanent.

use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::NotifyError;
use super::render::channel_card::{Card, card};
use super::transport::{Failure, SendError};
use crate::config::{ChannelConfig, ChannelKind, Config};
use crate::model::{IncidentId, Level, Notice, NoticeKind, Timestamp};

/// Whole request, connection included.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The names of the channels `notice` also goes to, in configuration order.
pub fn routes(config: &Config, notice: &Notice) -> Vec<String> {
    if matches!(notice.kind, NoticeKind::DeadLetter { .. }) {
        return Vec::new();
    }
    config
        .channels
        .iter()
        .filter(|channel| match notice.incident() {
            Some(incident) => channel.levels.is_empty() || channel.levels.contains(&incident.level),
            None => true,
        })
        .filter(|channel| {
            channel.roles.iter().any(|role| {
                config
                    .recipients
                    .of(*role)
                    .iter()
                    .any(|address| notice.to.contains(address))
            })
        })
        .map(|channel| channel.name().to_string())
        .collect()
}

/// The router the store consults when a notice is queued ([`Store::route_to_channels`](crate::store::Store::route_to_channels)).
pub fn router(config: std::sync::Arc<Config>) -> Box<crate::store::ChannelRouter> {
    Box::new(move |notice| routes(&config, notice))
}

/// Passes each wake-up of `signal` (the store's outbox signal, which wakes one
/// waiter) on to `n` delivery workers: returns their signals and the future that
/// relays, which runs until dropped.
pub fn relay(
    signal: std::sync::Arc<tokio::sync::Notify>,
    n: usize,
) -> (
    Vec<std::sync::Arc<tokio::sync::Notify>>,
    impl std::future::Future<Output = ()> + Send + 'static,
) {
    let targets: Vec<std::sync::Arc<tokio::sync::Notify>> =
        (0..n).map(|_| Default::default()).collect();
    let relayed = targets.clone();
    let relaying = async move {
        loop {
            signal.notified().await;
            for target in &relayed {
                target.notify_one();
            }
        }
    };
    (targets, relaying)
}

/// The JSON a `webhook` channel receives (docs/channels.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookBody {
    /// The notice key (`X-Yuqing-Notice`): the same on a re-send, so receivers can
    /// drop duplicates.
    pub key: String,
    /// `opened`, `reminder`, `overdue`, `source_failing`, `bulletin`, `digest`.
    pub kind: String,
    pub incident: Option<IncidentId>,
    pub level: Option<Level>,
    pub subject: String,
    /// The whole text of the mail.
    pub text: String,
    /// The incident's source pages (http/https).
    pub links: Vec<String>,
    /// When the notice was queued, RFC 3339.
    pub created_at: Timestamp,
}

/// One HTTP POST to a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub url: url::Url,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// What to post for `notice` to a channel of `kind` at `url`, signed with `secret`
/// at `now`.
pub fn request(
    kind: ChannelKind,
    url: &url::Url,
    secret: Option<&str>,
    notice: &Notice,
    now: Timestamp,
) -> Post {
    let card: Card = card(notice);
    let mut url = url.clone();
    let mut headers = Vec::new();
    let json = match kind {
        ChannelKind::Wecom => serde_json::json!({
            "msgtype": "markdown",
            "markdown": { "content": card.markdown },
        }),
        ChannelKind::Dingtalk => {
            if let Some(secret) = secret {
                let timestamp = now.timestamp_millis();
                url.query_pairs_mut()
                    .append_pair("timestamp", &timestamp.to_string())
                    .append_pair("sign", &dingtalk_sign(secret, timestamp));
            }
            serde_json::json!({
                "msgtype": "markdown",
                "markdown": { "title": card.title, "text": card.markdown },
            })
        }
        ChannelKind::Feishu => {
            let mut json = serde_json::json!({
                "msg_type": "text",
                "content": { "text": card.text },
            });
            if let Some(secret) = secret {
                let timestamp = now.timestamp();
                json["timestamp"] = timestamp.to_string().into();
                json["sign"] = feishu_sign(secret, timestamp).into();
            }
            json
        }
        ChannelKind::Webhook => {
            let body = WebhookBody {
                key: notice.key.clone(),
                kind: serde_json::to_value(&notice.kind)
                    .ok()
                    .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(String::from))
                    .unwrap_or_default(),
                incident: notice.incident().map(|i| i.id),
                level: notice.incident().map(|i| i.level),
                subject: card.title,
                text: card.full_text,
                links: card.links,
                created_at: notice.created_at,
            };
            let body = serde_json::to_vec(&body).unwrap_or_default();
            if let Some(secret) = secret {
                let timestamp = now.timestamp();
                headers.push(("X-Yuqing-Timestamp", timestamp.to_string()));
                headers.push((
                    "X-Yuqing-Signature",
                    format!("sha256={}", webhook_signature(secret, timestamp, &body)),
                ));
            }
            return Post { url, headers, body };
        }
    };
    Post {
        url,
        headers,
        body: serde_json::to_vec(&json).unwrap_or_default(),
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// DingTalk 加签: Base64(HMAC-SHA256(key = secret, message = "{timestamp_ms}\n{secret}")).
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let message = format!("{timestamp_ms}\n{secret}");
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha256(secret.as_bytes(), message.as_bytes()))
}

/// Feishu 签名校验: Base64(HMAC-SHA256(key = "{timestamp_s}\n{secret}", message = "")).
pub fn feishu_sign(secret: &str, timestamp_s: i64) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(key.as_bytes(), b""))
}

/// The generic webhook's signature: hex HMAC-SHA256(key = secret, "{timestamp}\n{body}").
pub fn webhook_signature(secret: &str, timestamp_s: i64, body: &[u8]) -> String {
    let mut message = format!("{timestamp_s}\n").into_bytes();
    message.extend_from_slice(body);
    hmac_sha256(secret.as_bytes(), &message)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A configured channel, ready to post.
#[derive(Debug, Clone)]
pub struct Channel {
    name: String,
    kind: ChannelKind,
    url: url::Url,
    secret: Option<String>,
    client: reqwest::Client,
}

impl Channel {
    /// The channel `config` describes; its secret is read now from `secret_env`.
    pub fn from_config(config: &ChannelConfig) -> Result<Channel, NotifyError> {
        let secret = match &config.secret_env {
            Some(var) => Some(std::env::var(var).map_err(|_| NotifyError::MissingSecret {
                channel: config.name().to_string(),
                var: var.clone(),
            })?),
            None => None,
        };
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("yuqing/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| NotifyError::Channel {
                channel: config.name().to_string(),
                error: err.to_string(),
            })?;
        Ok(Channel {
            name: config.name().to_string(),
            kind: config.kind,
            url: config.url.clone(),
            secret,
            client,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `kind channel NAME at host`, for logs (the URL's path and query may hold a key).
    pub fn describe(&self) -> String {
        format!(
            "{} channel {} at {}",
            self.kind.as_str(),
            self.name,
            self.url.host_str().unwrap_or("?")
        )
    }

    /// Posts the card of `notice`.
    pub async fn send(&self, notice: &Notice) -> Result<(), SendError> {
        let post = request(
            self.kind,
            &self.url,
            self.secret.as_deref(),
            notice,
            Utc::now(),
        );
        let mut builder = self
            .client
            .post(post.url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(post.body);
        for (name, value) in post.headers {
            builder = builder.header(name, value);
        }
        // Without the URL: its query holds the robot's key or access token, and this
        // message goes to the log, `status` and dead-letter reports.
        let response = builder.send().await.map_err(|err| SendError {
            failure: Failure::Unreachable,
            message: format!(
                "无法连接群机器人 {}：{}",
                self.name,
                crate::sources::error_chain(&err.without_url())
            ),
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        judge(status.as_u16(), &text).map_err(|(failure, why)| SendError {
            failure,
            message: format!("群机器人 {} 未接收：{why}", self.name),
        })
    }
}

/// Whether a robot accepted a post, from its HTTP status and body.
fn judge(status: u16, body: &str) -> Result<(), (Failure, String)> {
    let excerpt = crate::format::truncate(&crate::format::clean_line(body), 200);
    match status {
        200..=299 => {}
        429 => {
            return Err((
                Failure::Transient,
                format!("HTTP 429 发送过于频繁 {excerpt}"),
            ));
        }
        413 => return Err((Failure::Permanent, format!("HTTP 413 消息过大 {excerpt}"))),
        _ => return Err((Failure::Unreachable, format!("HTTP {status} {excerpt}"))),
    }
    // WeCom and DingTalk answer {"errcode":0,…}, Feishu {"code":0,…}; a webhook may
    // answer anything (or nothing) with a 2xx.
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return Ok(());
    };
    let code = ["errcode", "code", "StatusCode"]
        .iter()
        .find_map(|k| json.get(*k).and_then(serde_json::Value::as_i64))
        .unwrap_or(0);
    match code {
        0 => Ok(()),
        45009 | 130101 | 9499 | 11232 => Err((
            Failure::Transient,
            format!("发送过于频繁（错误码 {code}）{excerpt}"),
        )),
        _ => Err((Failure::Unreachable, format!("错误码 {code} {excerpt}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;

    #[test]
    fn signatures_follow_the_platforms_rules() {
        // HMAC-SHA256 itself: RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // The platforms' rules, computed independently with Python's hmac module:
        // base64(hmac(secret, f"{ts}\n{secret}")), base64(hmac(f"{ts}\n{secret}", b"")),
        // hmac(secret, f"{ts}\n{body}").hexdigest().
        assert_eq!(
            dingtalk_sign("SECtest", 1_700_000_000_000),
            "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g="
        );
        assert_eq!(
            feishu_sign("test", 1_700_000_000),
            "eSJQnOl8XqPTMPHWz9e5IzeHS/tqoc68g2967ekIPmg="
        );
        assert_eq!(
            webhook_signature("s", 1, b"{}"),
            "f08c22251d95ee1d22950073f8763a29f74d621134873865bb9b8bfbe7691b82"
        );
    }

    #[tokio::test]
    async fn a_robot_that_cannot_be_reached_is_unreachable_and_its_key_stays_secret() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let channel = Channel::from_config(&ChannelConfig {
            name: None,
            kind: ChannelKind::Wecom,
            url: format!("http://127.0.0.1:{port}/send?key=SECRETKEY")
                .parse()
                .unwrap(),
            secret_env: None,
            roles: vec![Role::Duty],
            levels: vec![],
        })
        .unwrap();
        let notice = Notice {
            key: "k".into(),
            to: vec![],
            created_at: Utc::now(),
            kind: NoticeKind::Bulletin {
                subject: "s".into(),
                paragraphs: vec![],
                commands: vec![],
            },
        };
        let err = channel.send(&notice).await.unwrap_err();
        assert_eq!(err.failure, Failure::Unreachable);
        assert!(
            err.message.contains("无法连接群机器人 wecom"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("SECRETKEY"), "{}", err.message);
        assert!(!channel.describe().contains("SECRETKEY"));
    }

    #[test]
    fn robot_answers_are_judged() {
        let table = [
            (200, r#"{"errcode":0,"errmsg":"ok"}"#, None),
            (200, r#"{"code":0,"msg":"success"}"#, None),
            (204, "", None),
            (200, "ok", None),
            (
                200,
                r#"{"errcode":310000,"errmsg":"sign not match"}"#,
                Some(Failure::Unreachable),
            ),
            (
                200,
                r#"{"code":19021,"msg":"sign match fail"}"#,
                Some(Failure::Unreachable),
            ),
            (
                200,
                r#"{"errcode":130101,"errmsg":"send too fast"}"#,
                Some(Failure::Transient),
            ),
            (429, "", Some(Failure::Transient)),
            (413, "", Some(Failure::Permanent)),
            (404, "", Some(Failure::Unreachable)),
            (503, "", Some(Failure::Unreachable)),
        ];
        for (status, body, want) in table {
            assert_eq!(
                judge(status, body).err().map(|e| e.0),
                want,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn channels_follow_the_roles_and_levels_of_the_mail() {
        let mut config = Config::default();
        config.recipients.duty = vec!["duty@x.cn".into()];
        config.recipients.leaders = vec!["boss@x.cn".into()];
        let channel = |name: &str, roles: Vec<Role>, levels: Vec<Level>| ChannelConfig {
            name: Some(name.into()),
            kind: ChannelKind::Wecom,
            url: "http://127.0.0.1/".parse().unwrap(),
            secret_env: None,
            roles,
            levels,
        };
        config.channels = vec![
            channel("duty", vec![Role::Duty], vec![]),
            channel(
                "leaders-major",
                vec![Role::Leaders],
                vec![Level::I, Level::II],
            ),
        ];
        let mut incident = crate::api::views::tests::incident(1, "t");
        let notice = |to: &[&str], kind: NoticeKind| Notice {
            key: "k".into(),
            to: to.iter().map(|s| s.to_string()).collect(),
            created_at: Utc::now(),
            kind,
        };
        let opened = |incident: &crate::model::Incident| NoticeKind::Opened {
            incident: Box::new(incident.clone()),
        };
        let bulletin = NoticeKind::Bulletin {
            subject: "s".into(),
            paragraphs: vec![],
            commands: vec![],
        };
        let dead = NoticeKind::DeadLetter {
            original_key: "k".into(),
            original_to: vec![],
            error: "e".into(),
            original_subject: String::new(),
        };
        let table: Vec<(Notice, Vec<&str>)> = vec![
            (notice(&["duty@x.cn"], opened(&incident)), vec!["duty"]),
            (
                notice(&["duty@x.cn", "boss@x.cn"], opened(&incident)),
                vec!["duty", "leaders-major"],
            ),
            (notice(&["unit@x.cn"], opened(&incident)), vec![]),
            (notice(&["boss@x.cn"], bulletin), vec!["leaders-major"]),
            (notice(&["duty@x.cn"], dead), vec![]),
        ];
        for (notice, want) in table {
            assert_eq!(routes(&config, &notice), want, "{:?}", notice.to);
        }
        incident.level = Level::III;
        assert_eq!(
            routes(
                &config,
                &notice(&["duty@x.cn", "boss@x.cn"], opened(&incident))
            ),
            ["duty"],
            "level III is not for leaders-major"
        );
    }

    #[test]
    fn requests_have_each_platforms_shape() {
        let mut incident = crate::api::views::tests::incident(42, "化工厂爆炸");
        incident.items[0].key = "https://news.example.cn/1.html".into();
        let notice = Notice {
            key: "42/opened".into(),
            to: vec!["duty@x.cn".into()],
            created_at: "2026-11-24T02:05:00Z".parse().unwrap(),
            kind: NoticeKind::Opened {
                incident: Box::new(incident),
            },
        };
        let now: Timestamp = "2026-11-24T02:06:00Z".parse().unwrap();
        let url: url::Url = "https://robot.example.cn/send?access_token=T"
            .parse()
            .unwrap();
        let json = |post: &Post| serde_json::from_slice::<serde_json::Value>(&post.body).unwrap();

        let wecom = request(ChannelKind::Wecom, &url, None, &notice, now);
        assert_eq!(wecom.url, url);
        assert_eq!(json(&wecom)["msgtype"], "markdown");
        assert!(
            json(&wecom)["markdown"]["content"]
                .as_str()
                .unwrap()
                .contains("化工厂爆炸")
        );

        let ding = request(ChannelKind::Dingtalk, &url, Some("SEC1"), &notice, now);
        let query: Vec<(String, String)> = ding.url.query_pairs().into_owned().collect();
        let ts = now.timestamp_millis();
        assert_eq!(
            query,
            [
                ("access_token".into(), "T".into()),
                ("timestamp".into(), ts.to_string()),
                ("sign".into(), dingtalk_sign("SEC1", ts)),
            ]
        );
        assert!(
            json(&ding)["markdown"]["title"]
                .as_str()
                .unwrap()
                .contains("化工厂爆炸")
        );

        let feishu = json(&request(ChannelKind::Feishu, &url, Some("F"), &notice, now));
        assert_eq!(feishu["msg_type"], "text");
        assert_eq!(feishu["timestamp"], now.timestamp().to_string());
        assert_eq!(feishu["sign"], feishu_sign("F", now.timestamp()));

        let hook = request(ChannelKind::Webhook, &url, Some("W"), &notice, now);
        let body = json(&hook);
        assert_eq!(body["key"], "42/opened");
        assert_eq!(body["kind"], "opened");
        assert_eq!(body["incident"], 42);
        assert_eq!(body["level"], "II");
        assert_eq!(body["links"][0], "https://news.example.cn/1.html");
        assert!(body["text"].as_str().unwrap().contains("操作命令"));
        assert_eq!(
            hook.headers[1].1,
            format!(
                "sha256={}",
                webhook_signature("W", now.timestamp(), &hook.body)
            )
        );
    }
}
