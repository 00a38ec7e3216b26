//! `yuqing feeds check`: fetch each source once, now, and report what would be
//! ingested. No conditional GET, no store, no schedule: safe while the daemon runs.

use serde::Serialize;

use super::fetch::{Fetched, Fetcher};
use super::{PollError, SourcesError};
use crate::config::{IntakeConfig, SourceConfig};
use crate::model::Timestamp;
use crate::parse::{self, Document};

/// How many titles a report shows.
const TITLES: usize = 5;

/// One source's result; serialized as the `feeds check --json` line of interface.md.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    pub source: String,
    /// Display name (an addition to the documented shape).
    pub name: String,
    pub ok: bool,
    /// The HTTP status, or `null` when no answer came.
    pub status: Option<u16>,
    /// Items the document yielded.
    pub items: usize,
    /// The character encoding the document was read in.
    pub encoding: Option<String>,
    pub error: Option<String>,
    /// The first few titles.
    pub titles: Vec<String>,
}

/// Checks `sources` concurrently within the `[intake]` limits; reports come back
/// in the order of `sources`.
pub async fn check(
    settings: &IntakeConfig,
    sources: &[SourceConfig],
    now: Timestamp,
) -> Result<Vec<CheckReport>, SourcesError> {
    let fetcher = Fetcher::new(settings).map_err(SourcesError::Client)?;
    let checks = sources
        .iter()
        .map(|source| check_one(&fetcher, source, now));
    Ok(futures_util::future::join_all(checks).await)
}

async fn check_one(fetcher: &Fetcher, source: &SourceConfig, now: Timestamp) -> CheckReport {
    let mut report = CheckReport {
        source: source.id.clone(),
        name: source.name.clone(),
        ok: false,
        status: None,
        items: 0,
        encoding: None,
        error: None,
        titles: Vec::new(),
    };
    let body = match fetcher.fetch(source, None).await {
        Ok(Fetched::Body(body)) => body,
        Ok(Fetched::NotModified(_)) => {
            // Only possible if a server answers 304 to an unconditional request.
            report.status = Some(304);
            report.error = Some("服务器对无条件请求返回了 304，无法读取内容".into());
            return report;
        }
        Err(err) => {
            report.status = err.status();
            report.error = Some(PollError::from(err).to_string());
            return report;
        }
    };
    report.status = Some(body.status);
    let doc = Document {
        bytes: &body.bytes,
        content_type: body.content_type.as_deref(),
        url: &body.url,
    };
    match parse::parse(source, doc, now) {
        Ok(parsed) => {
            report.ok = true;
            report.items = parsed.items.len();
            report.encoding = Some(parsed.encoding.to_string());
            report.titles = parsed
                .items
                .into_iter()
                .take(TITLES)
                .map(|item| item.title)
                .collect();
        }
        Err(err) => report.error = Some(err.to_string()),
    }
    report
}
