//! Delivery of one rendered message: SMTP, or `.eml` files when `[smtp]` is absent.
//!
//! Failures are classified for the worker:
//! - [`Failure::Unreachable`]: the server (or the outbox folder) is not usable right
//!   now: connection refused or reset, timeout, TLS failure, `421`, authentication
//!   refused (`530`, `534`, `535`, `538`), STARTTLS required but not offered (never a
//!   fall-back to plain text), no usable authentication mechanism: a problem with
//!   the server or the configuration, not with this mail.
//!   Every mail would fail the same way, so the worker pauses the whole queue.
//! - [`Failure::Transient`]: this mail got a `4xx` (mailbox busy, greylisting) or the
//!   exchange broke in a way specific to it; retried later with back-off.
//! - [`Failure::Permanent`]: this mail got a `5xx`; it goes to the dead letters.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::Message;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{NotifyError, key_token};
use crate::atomic_file::Access;
use crate::config::{Config, SmtpConfig, SmtpSecurity};

/// How a delivery attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nothing can be delivered right now; pause the queue and retry.
    Unreachable,
    /// This mail could not be delivered now; retry it later.
    Transient,
    /// This mail will never be accepted.
    Permanent,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub failure: Failure,
    /// What went wrong, for the log, the outbox row and the dead-letter report.
    pub message: String,
}

/// Where mail goes.
#[derive(Clone)]
pub enum Transport {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// `host:port (security)`, for logs.
        server: String,
    },
    /// `[smtp]` is absent: each mail becomes `<dir>/<key>.eml`.
    Files { dir: PathBuf },
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Transport {
    /// The transport the configuration asks for: SMTP when `[smtp]` is present,
    /// else files under `<data_dir>/outbox` (created here). Inside a Tokio runtime only.
    pub fn from_config(config: &Config) -> Result<Transport, NotifyError> {
        match &config.smtp {
            Some(smtp) => Transport::smtp(smtp),
            None => Transport::files(&config.data_dir.join("outbox")),
        }
    }

    /// An SMTP transport. The password is read now from the variable `password_env` names.
    /// Call it inside a Tokio runtime: its connection pool spawns a task (and panics without one).
    pub fn smtp(smtp: &SmtpConfig) -> Result<Transport, NotifyError> {
        let tls = |host: &str| {
            TlsParameters::new(host.to_string()).map_err(|err| NotifyError::Smtp(err.to_string()))
        };
        let (security, tls) = match smtp.security {
            SmtpSecurity::None => ("none", Tls::None),
            SmtpSecurity::Starttls => ("starttls", Tls::Required(tls(&smtp.host)?)),
            SmtpSecurity::Tls => ("tls", Tls::Wrapper(tls(&smtp.host)?)),
        };
        let timeout: Duration = smtp.timeout.0;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .tls(tls)
            .timeout(Some(timeout));
        if let Some(username) = &smtp.username {
            let password = match &smtp.password_env {
                Some(var) => {
                    std::env::var(var).map_err(|_| NotifyError::MissingPassword(var.clone()))?
                }
                None => String::new(),
            };
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        Ok(Transport::Smtp {
            transport: builder.build(),
            server: format!("{}:{} ({security})", smtp.host, smtp.port),
        })
    }

    /// A transport writing `.eml` files into `dir` (created if missing, mode 0700;
    /// the files are 0600: mails name officers and incidents).
    pub fn files(dir: &Path) -> Result<Transport, NotifyError> {
        crate::store::private_dir(dir).map_err(|source| NotifyError::OutboxDir {
            path: dir.to_path_buf(),
            source,
        })?;
        crate::atomic_file::sweep(dir);
        Ok(Transport::Files {
            dir: dir.to_path_buf(),
        })
    }

    /// Where mail goes, for logs and `status`.
    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp { server, .. } => format!("smtp://{server}"),
            Transport::Files { dir } => format!("files in {}", dir.display()),
        }
    }

    /// Delivers one message. `key` names the notice (file name, logs).
    pub async fn send(&self, key: &str, message: &Message) -> Result<(), SendError> {
        match self {
            Transport::Smtp { transport, server } => match transport.send(message.clone()).await {
                Ok(response) => {
                    tracing::debug!(key, server, code = %response.code(), "mail accepted");
                    Ok(())
                }
                Err(err) => Err(classify(&err)),
            },
            Transport::Files { dir } => {
                let path = eml_path(dir, key);
                let bytes = message.formatted();
                let target = path.clone();
                tokio::task::spawn_blocking(move || {
                    // A reader never sees half a mail.
                    crate::atomic_file::write(&target, &bytes, Access::Private)
                })
                .await
                .map_err(|err| SendError {
                    failure: Failure::Unreachable,
                    message: format!("写入邮件文件的任务失败：{err}"),
                })?
                .map_err(|err| SendError {
                    failure: Failure::Unreachable,
                    message: format!("无法写入邮件文件：{err}"),
                })?;
                tracing::info!(key, path = %path.display(), "no [smtp] configured: mail written as a file");
                Ok(())
            }
        }
    }
}

/// The file a notice is written to: one per key, so a re-send overwrites it.
pub fn eml_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{}.eml", key_token(key)))
}

/// Authentication replies: the configuration is wrong, not the mail.
const AUTH_CODES: [&str; 4] = ["530", "534", "535", "538"];

/// lettre's own refusals ("client errors") only say what they are in their text.
fn client_failure(text: &str) -> Failure {
    let text = text.to_ascii_lowercase();
    if ["starttls", "authentication mechanism", "not encrypted"]
        .iter()
        .any(|s| text.contains(s))
    {
        // The server's set-up does not match [smtp]: no mail can go until it does.
        Failure::Unreachable
    } else if text.contains("non-ascii") {
        // An address this server can never accept.
        Failure::Permanent
    } else {
        Failure::Transient
    }
}

fn classify(err: &lettre::transport::smtp::Error) -> SendError {
    let code = err.status().map(|c| c.to_string());
    let failure = if err.is_permanent() {
        if code.as_deref().is_some_and(|c| AUTH_CODES.contains(&c)) {
            Failure::Unreachable
        } else {
            Failure::Permanent
        }
    } else if err.is_transient() {
        if code.as_deref() == Some("421") {
            Failure::Unreachable
        } else {
            Failure::Transient
        }
    } else if err.is_client() {
        client_failure(&err.to_string())
    } else if err.is_response() {
        Failure::Transient
    } else {
        // Connection, network, timeout, TLS, transport shut down.
        Failure::Unreachable
    };
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push('：');
            message.push_str(&text);
        }
        source = inner.source();
    }
    let hint = match failure {
        Failure::Unreachable if err.is_timeout() => "连接邮件服务器超时，稍后自动重试",
        Failure::Unreachable => "邮件服务器暂时不可用，稍后自动重试",
        Failure::Transient => "邮件服务器暂时拒收，稍后自动重试",
        Failure::Permanent => "邮件服务器拒收，不再重试",
    };
    SendError {
        failure,
        message: format!("{hint}（{message}）"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_has_one_file_name() {
        let dir = Path::new("/var/lib/yuqing/outbox");
        assert_eq!(
            eml_path(dir, "42/statement/80"),
            dir.join("42.statement.80.eml")
        );
        assert_eq!(
            eml_path(dir, "../../etc/passwd").parent(),
            Some(dir),
            "a key cannot leave the folder"
        );
    }

    #[test]
    fn lettre_refusals_are_classified() {
        let table = [
            (
                "internal client error: STARTTLS is not supported on this server",
                Failure::Unreachable,
            ),
            (
                "internal client error: No compatible authentication mechanism was found",
                Failure::Unreachable,
            ),
            (
                "internal client error: Connection is not encrypted",
                Failure::Unreachable,
            ),
            (
                "internal client error: Envelope contains non-ascii chars but server does not support SMTPUTF8",
                Failure::Permanent,
            ),
            (
                "internal client error: Unrecognized challenge",
                Failure::Transient,
            ),
        ];
        for (text, failure) in table {
            assert_eq!(client_failure(text), failure, "{text}");
        }
    }

    #[tokio::test]
    async fn a_missing_password_is_a_clear_error() {
        let smtp = SmtpConfig {
            username: Some("yuqing".into()),
            password_env: Some("YUQING_TEST_PASSWORD_THAT_IS_NOT_SET".into()),
            ..SmtpConfig::default()
        };
        let err = Transport::smtp(&smtp).unwrap_err();
        assert!(
            err.to_string()
                .contains("YUQING_TEST_PASSWORD_THAT_IS_NOT_SET"),
            "{err}"
        );
        let smtp = SmtpConfig {
            security: SmtpSecurity::Tls,
            port: 465,
            ..SmtpConfig::default()
        };
        assert_eq!(
            Transport::smtp(&smtp).unwrap().describe(),
            "smtp://127.0.0.1:465 (tls)"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn eml_files_and_their_folder_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox");
        let transport = Transport::files(&outbox).unwrap();
        let message = Message::builder()
            .from("yuqing@localhost".parse().unwrap())
            .to("duty@localhost".parse().unwrap())
            .subject("测试")
            .body(String::from("正文"))
            .unwrap();
        transport.send("1/opened", &message).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&outbox), 0o700);
        assert_eq!(mode(&eml_path(&outbox, "1/opened")), 0o600);
    }
}
