//! `[[channel]]` (chat groups that receive notices besides mail) and `[metrics]`
//! (the Prometheus listener).
//!
//! A channel receives every notice whose mail goes to one of its `roles` (an
//! address of that role is among the mail's recipients), optionally only for
//! incidents of some `levels`; the rule itself is [`crate::notify::channel::routes`].

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Problem, Recipients, Role};
use crate::model::Level;

/// The platform a channel posts to; it decides the body and the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// 企业微信群机器人: markdown message, the key is part of the URL.
    Wecom,
    /// 钉钉自定义机器人: markdown message, optional 加签 (timestamp + sign in the URL).
    Dingtalk,
    /// 飞书自定义机器人: text message, optional 签名校验 (timestamp + sign in the body).
    Feishu,
    /// Any HTTP endpoint: a documented JSON body, optionally signed (docs/channels.md).
    Webhook,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Wecom => "wecom",
            ChannelKind::Dingtalk => "dingtalk",
            ChannelKind::Feishu => "feishu",
            ChannelKind::Webhook => "webhook",
        }
    }
}

/// One `[[channel]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// Names the channel in `status`, logs and metrics; default: the kind. Letters,
    /// digits, `-` and `_`; unique.
    #[serde(default)]
    pub name: Option<String>,
    pub kind: ChannelKind,
    pub url: url::Url,
    /// The environment variable holding the signing secret (dingtalk, feishu, webhook);
    /// none: requests are not signed.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// The roles whose notices also go here.
    pub roles: Vec<Role>,
    /// Only incident notices of these levels (notices about no incident always go);
    /// empty (the default): every level.
    #[serde(default)]
    pub levels: Vec<Level>,
}

impl ChannelConfig {
    /// The channel's name: `name`, else its kind.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(self.kind.as_str())
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Where `/metrics` is served.
    pub bind: SocketAddr,
    /// Must be true to bind to anything but a loopback address.
    pub allow_remote: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 9390)),
            allow_remote: false,
        }
    }
}

/// Every problem of the `[[channel]]` entries.
pub(super) fn check_channels(
    problems: &mut Vec<Problem>,
    file: &Path,
    channels: &[ChannelConfig],
    recipients: &Recipients,
) {
    let mut say = |message: String| {
        problems.push(Problem {
            file: file.to_path_buf(),
            source: None,
            message,
        })
    };
    let mut names = HashSet::new();
    for channel in channels {
        let name = channel.name();
        let what = format!("[[channel]] {name}");
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            say(format!(
                "{what}：name 只能由字母、数字、“-”和“_”组成，例如 name = \"duty-wecom\""
            ));
        }
        if !names.insert(name.to_string()) {
            say(format!(
                "{what}：名称重复；同一种群机器人配置多个时，请给每个加上不同的 name"
            ));
        }
        if !matches!(channel.url.scheme(), "http" | "https") {
            say(format!(
                "{what}：url “{}” 不是 http(s) 地址；请填写机器人的 Webhook 地址",
                channel.url
            ));
        }
        if channel.roles.is_empty() {
            say(format!(
                "{what}：roles 为空，不会收到任何通知；例如 roles = [\"duty\"]"
            ));
        }
        for role in &channel.roles {
            if recipients.of(*role).is_empty() {
                say(format!(
                    "{what}：角色 {} 在 [recipients] 中没有邮件地址；群通知跟随发给该角色的邮件，请先为它配置至少一个地址",
                    role_name(*role)
                ));
            }
        }
        match &channel.secret_env {
            Some(_) if channel.kind == ChannelKind::Wecom => say(format!(
                "{what}：企业微信群机器人不签名（密钥在 url 的 key 参数里）；请删除 secret_env"
            )),
            Some(var) if std::env::var_os(var).is_none() => say(format!(
                "{what}：secret_env 指向的环境变量 {var} 未设置；请在启动前设置它"
            )),
            _ => {}
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Duty => "duty",
        Role::Propaganda => "propaganda",
        Role::Office => "office",
        Role::Leaders => "leaders",
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Config, ConfigError, Sources};

    fn problems(text: &str) -> Vec<String> {
        match Config::parse(text, None, Path::new("."), Sources::Skip) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid(problems)) => {
                problems.into_iter().map(|p| p.message).collect()
            }
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn channels_are_checked_and_metrics_are_off_by_default() {
        let ok = "[[channel]]\nkind = \"wecom\"\nurl = \"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K\"\nroles = [\"duty\"]\nlevels = [\"I\", \"II\"]\n";
        assert_eq!(problems(ok), Vec::<String>::new());
        let config = Config::parse(ok, None, Path::new("."), Sources::Skip).unwrap();
        assert_eq!(config.channels[0].name(), "wecom");
        assert!(config.metrics.is_none());

        let table = [
            (
                "[[channel]]\nkind = \"wecom\"\nurl = \"http://a/\"\nroles = [\"duty\"]\n\
                 [[channel]]\nkind = \"wecom\"\nurl = \"http://b/\"\nroles = [\"duty\"]\n",
                "名称重复",
            ),
            (
                "[[channel]]\nkind = \"dingtalk\"\nurl = \"http://a/\"\nroles = [\"duty\"]\nsecret_env = \"YQ_UNSET_SECRET_VAR\"\n",
                "环境变量 YQ_UNSET_SECRET_VAR 未设置",
            ),
            (
                "[[channel]]\nkind = \"feishu\"\nurl = \"http://a/\"\nroles = [\"leaders\"]\n",
                "角色 leaders 在 [recipients] 中没有邮件地址",
            ),
            (
                "[[channel]]\nname = \"群 1\"\nkind = \"webhook\"\nurl = \"ftp://a/\"\nroles = []\n",
                "name 只能由字母",
            ),
            (
                "[[channel]]\nkind = \"webhook\"\nurl = \"ftp://a/\"\nroles = [\"duty\"]\n",
                "不是 http(s) 地址",
            ),
            (
                "[[channel]]\nkind = \"slack\"\nurl = \"http://a/\"\nroles = [\"duty\"]\n",
                "slack",
            ),
            ("[metrics]\nbind = \"0.0.0.0:9390\"\n", "allow_remote"),
        ];
        for (text, want) in table {
            let found = problems(text);
            assert!(
                found.iter().any(|p| p.contains(want)),
                "{want} not in {found:?}"
            );
        }
        let config = Config::parse("[metrics]\n", None, Path::new("."), Sources::Skip).unwrap();
        assert_eq!(
            config.metrics.unwrap().bind,
            "127.0.0.1:9390".parse().unwrap()
        );
    }
}
