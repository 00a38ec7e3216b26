//! `yuqing digest [--date YYYY-MM-DD] [--format text|html|json] [--send]`.
//!
//! The daemon builds the report (`GET /v1/digest`) and this command renders it, so
//! the preview is exactly what the mail would say; `--send` asks the daemon to queue
//! the mail now (`POST /v1/digest/send`). The date is checked here first, so a bad
//! or future date is reported (exit 2) even when the daemon is down.

use chrono::Utc;

use super::incidents::{block_on, connect, emit};
use super::{CliError, DigestArgs, DigestFormat};
use crate::config::Config;
use crate::digest::{DigestReport, Period, SendOutcome, parse_date, render_html, render_text};

pub fn digest(config: &Config, args: &DigestArgs) -> Result<(), CliError> {
    let query = query(args.date.as_deref(), Utc::now())?;
    let client = connect(config)?;
    if args.send {
        let outcome: SendOutcome = block_on(
            client.post_json(&format!("/v1/digest/send{query}"), &serde_json::json!({})),
        )??;
        return emit(&match args.format {
            DigestFormat::Json => json(&outcome),
            DigestFormat::Text | DigestFormat::Html => sent(&outcome),
        });
    }
    let report: DigestReport = block_on(client.get_json(&format!("/v1/digest{query}")))??;
    emit(&render(&report, args.format))
}

/// The query string for `--date`, checked: `?date=2026-11-24`, or empty without one.
fn query(date: Option<&str>, now: crate::model::Timestamp) -> Result<String, CliError> {
    let Some(text) = date else {
        return Ok(String::new());
    };
    let date = parse_date(text).map_err(|err| CliError::usage(err.to_string()))?;
    Period::day(date, now).map_err(|err| CliError::usage(err.to_string()))?;
    Ok(format!("?date={}", date.format("%Y-%m-%d")))
}

/// The report in the chosen format.
pub fn render(report: &DigestReport, format: DigestFormat) -> String {
    match format {
        DigestFormat::Text => render_text(report),
        DigestFormat::Html => render_html(report),
        DigestFormat::Json => json(report),
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn sent(outcome: &SendOutcome) -> String {
    format!(
        "日报已加入发送队列：{}\n收件人：{}\n通知编号（X-Yuqing-Notice）：{}\n发送情况可用 yuqing status 查看。\n",
        outcome.subject,
        outcome.to.join("，"),
        outcome.key
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_checked_before_the_daemon_is_asked() {
        let now: crate::model::Timestamp = "2026-11-24T06:05:00Z".parse().unwrap();
        assert_eq!(query(None, now).unwrap(), "");
        assert_eq!(query(Some("2026-11-24"), now).unwrap(), "?date=2026-11-24");
        assert_eq!(
            query(Some(" 2026-11-01 "), now).unwrap(),
            "?date=2026-11-01"
        );
        for bad in ["2026-11-31", "11/24", "2026-11-25"] {
            let err = query(Some(bad), now).unwrap_err();
            assert_eq!(err.code, 2, "{bad}: {err}");
        }
    }
}
