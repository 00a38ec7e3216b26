//! Intake: the only module that makes outbound HTTP requests.
//!
//! - [`Fetcher`]: one shared reqwest client (rustls) with the `[intake]` limits:
//!   User-Agent, connect and total timeouts, a redirect limit that also catches
//!   loops, gzip/brotli/deflate, a body cap that bounds the *decompressed* size,
//!   a global and a per-host concurrency limit, conditional GET, `Retry-After`.
//! - [`Intake`]: the daemon's scheduler. Each enabled source is polled on its own
//!   interval plus random jitter; the schedule lives in sled (`SourceState`), so a
//!   restart neither re-polls everything at once nor forgets back-offs. Failures
//!   back off exponentially, harder for answers that will not fix themselves
//!   ([`FailureKind::weight`]); a source failing longer than `failing_after`
//!   becomes a recorded source-health problem with one notice to duty per episode.
//!   Parsed items are upserted (deduplicated by source and key), and new or edited
//!   ones are sent on the intake's output channel.
//! - [`check`]: `yuqing feeds check`: fetch and parse once, store nothing.

mod backoff;
mod check;
mod fetch;
pub(crate) use fetch::error_chain;
mod intake;

pub use backoff::{FailureKind, failure_delay, startup_spread, with_jitter};
pub use check::{CheckReport, check};
pub use fetch::{Body, FetchError, Fetched, Fetcher, Validators, parse_retry_after};
pub use intake::{Ingested, Intake, PollReport, Spill};

use crate::config::SourceConfig;
use crate::parse::ParseError;
use crate::store::StoreError;

/// Why one poll failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The next stage stopped taking items (only during shutdown).
    #[error("后续处理环节已停止，条目已入库但未能交出；守护进程正在退出")]
    Closed,
    #[error("内部错误：{0}；请报告此问题")]
    Internal(String),
}

/// Errors setting up intake or choosing sources.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    #[error("无法建立 HTTP 客户端：{0}")]
    Client(FetchError),
    #[error("未知的信息源“{id}”；已配置的信息源：{known}")]
    UnknownSource { id: String, known: String },
    /// A board tracks replies or a document clock runs, and working-day deadlines need
    /// the official calendar.
    #[error("留言板答复时限和文件时限（政策解读等）需要官方节假日表：{0}")]
    Calendar(#[from] crate::calendar::CalendarError),
}

impl SourcesError {
    pub(crate) fn unknown<'a>(
        id: &str,
        sources: impl IntoIterator<Item = &'a SourceConfig>,
    ) -> SourcesError {
        let known: Vec<&str> = sources.into_iter().map(|s| s.id.as_str()).collect();
        SourcesError::UnknownSource {
            id: id.to_string(),
            known: if known.is_empty() {
                "（无；请在 feeds.toml 中添加 [[source]]）".to_string()
            } else {
                known.join("、")
            },
        }
    }
}
