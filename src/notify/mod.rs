//! Mail: the only module that touches SMTP.
//!
//! Three parts:
//! - [`render`] turns a queued [`Notice`](crate::model::Notice) into a MIME message
//!   (Chinese subject, plain-text and HTML parts, `X-Yuqing-*` headers, a Message-ID
//!   derived from the notice key and per-incident threading). Pure: no IO, no clock.
//! - [`transport`] delivers a message: SMTP (none / STARTTLS / TLS, optional auth),
//!   or `.eml` files under `<data_dir>/outbox` when `[smtp]` is absent, and says
//!   whether a failure is worth retrying.
//! - [`worker`] drains the store's outbox in queue order, retries with back-off,
//!   moves permanent failures to the dead letters with a report to duty, and
//!   exposes [`DeliveryStatus`] for `yuqing status`.

pub mod channel;
pub mod render;
pub mod transport;
pub mod worker;

use std::path::PathBuf;

pub use render::{Letterhead, subject};
pub use transport::{Failure, SendError, Transport};
pub use worker::{
    Backoff, DeliveryStatus, StuckNotice, delivery_status, run, run_channel, run_with,
};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(
        "发件人地址“{0}”无效；请检查 [smtp] from，例如 from = \"舆情值班室 <yuqing@example.gov.cn>\""
    )]
    BadFrom(String),
    #[error("收件人地址“{0}”无效；请检查 [recipients] 或 [units] 中的地址")]
    BadRecipient(String),
    #[error("通知 {0} 没有收件人；请检查 [recipients] 配置")]
    NoRecipients(String),
    #[error("无法生成邮件 {key}：{source}")]
    Build {
        key: String,
        #[source]
        source: lettre::error::Error,
    },
    #[error("SMTP 密码所在的环境变量 {0} 未设置；请在启动前设置它（见 [smtp] password_env）")]
    MissingPassword(String),
    #[error("[smtp] 设置无效：{0}；请检查 host、port 和 security")]
    Smtp(String),
    #[error("无法创建邮件目录 {path}：{source}；请检查数据目录的权限和磁盘空间")]
    OutboxDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "群机器人 {channel} 的签名密钥所在的环境变量 {var} 未设置；请在启动前设置它（见 [[channel]] secret_env）"
    )]
    MissingSecret { channel: String, var: String },
    #[error("群机器人 {channel} 无法初始化：{error}")]
    Channel { channel: String, error: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A notice key as a token safe for a Message-ID local part and a file name, and
/// one-to-one with the key: ASCII letters, digits, `-` and `_` stay, `/` becomes
/// `.`, every other byte becomes `=XX`; an empty segment becomes `=`. Over-long keys
/// are cut and suffixed with a hash of the whole key, so tokens stay distinct.
pub(crate) fn key_token(key: &str) -> String {
    const MAX: usize = 180;
    let segments: Vec<String> = key
        .split('/')
        .map(|segment| {
            if segment.is_empty() {
                return "=".to_string();
            }
            let mut out = String::with_capacity(segment.len());
            for byte in segment.bytes() {
                if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
                    out.push(char::from(byte));
                } else {
                    out.push_str(&format!("={byte:02X}"));
                }
            }
            out
        })
        .collect();
    let token = segments.join(".");
    if token.len() <= MAX {
        return token;
    }
    // Every character of the token is ASCII, so any byte index is a char boundary.
    let mut cut = token[..MAX - 17].to_string();
    while cut.ends_with('.') || cut.ends_with('=') {
        cut.pop();
    }
    format!("{cut}-{:016x}", fnv1a(key.as_bytes()))
}

/// FNV-1a, 64 bits: a hash that is the same in every build (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_tokens_are_safe_and_distinct() {
        let table = [
            ("42/opened", "42.opened"),
            ("42/statement/80", "42.statement.80"),
            ("digest/2026-11-24", "digest.2026-11-24"),
            (
                "source/anqiu-board/failing/3",
                "source.anqiu-board.failing.3",
            ),
            ("dead/42/opened", "dead.42.opened"),
            ("a.b", "a=2Eb"),
            ("a//b", "a.=.b"),
            ("/x", "=.x"),
            ("a=2E", "a=3D2E"),
            ("源", "=E6=BA=90"),
        ];
        for (key, token) in table {
            assert_eq!(key_token(key), token, "{key}");
        }
        let long_a = format!("{}/a", "x".repeat(300));
        let long_b = format!("{}/b", "x".repeat(300));
        let (a, b) = (key_token(&long_a), key_token(&long_b));
        assert!(a.len() <= 180 && b.len() <= 180);
        assert_ne!(a, b);
        assert_eq!(a, key_token(&long_a), "stable");
        for token in [a, key_token("../../etc/passwd"), key_token("a\r\nb: c")] {
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.=".contains(&b)),
                "{token}"
            );
            assert!(!token.starts_with('.') && !token.contains(".."), "{token}");
        }
    }
}
