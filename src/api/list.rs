//! `GET /v1/incidents`: the incidents a [`ListQuery`] selects, streamed as the export
//! is. The ids come from the list index first (eight bytes each; the match count, in
//! [`TOTAL_HEADER`], from its counts), then the incidents are read and encoded [`PAGE`]
//! at a time, each page one chunk of the JSON array, the next read only when the
//! connection has taken the last; so the daemon holds one page, not the answer, however
//! many incidents match; the largest id listed goes ahead in [`MAX_ID_HEADER`] (the
//! table's column width). The bytes are those of the whole array built at once. A
//! failure part-way aborts the response (no closing `]`, no chunked end), as the
//! export does, so the client sees an error, never a short but well-formed list.

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::export::{PAGE, read_off_thread};
use super::views::{IncidentView, ListQuery, MAX_ID_HEADER, TOTAL_HEADER};
use super::{ApiError, ApiState};
use crate::ledger::LedgerError;
use crate::model::{IncidentId, Timestamp};

/// The incidents a [`ListQuery`] selects, in list order; the match count before its
/// limit in [`TOTAL_HEADER`].
pub(super) async fn list(
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let filter = query.filter();
    let store = state.store.clone();
    let page = state
        .run(move |_| Ok(store.list_incidents(&filter)?))
        .await?;
    let max_id = page.ids.iter().max().copied();
    let pages = Pages {
        state,
        now: Utc::now(),
        ids: page.ids,
        sent: 0,
        opened: false,
        any: false,
    };
    let body = Body::from_stream(futures_util::stream::try_unfold(pages, Pages::next));
    let mut response = (
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::HeaderName::from_static(TOTAL_HEADER),
                page.total.to_string(),
            ),
        ],
        body,
    )
        .into_response();
    if let Some(max_id) = max_id {
        response.headers_mut().insert(
            header::HeaderName::from_static(MAX_ID_HEADER),
            header::HeaderValue::from(max_id),
        );
    }
    Ok(response)
}

/// The list's state between chunks.
struct Pages {
    state: ApiState,
    /// One instant for every view of the list.
    now: Timestamp,
    ids: Vec<IncidentId>,
    /// How many of `ids` have been read.
    sent: usize,
    /// Whether the `[` went out.
    opened: bool,
    /// Whether an element went out (the next one needs a comma).
    any: bool,
}

impl Pages {
    /// The next non-empty chunk: `[` with the first page, each page, `]`; `None` after.
    async fn next(mut self) -> Result<Option<(Bytes, Pages)>, std::io::Error> {
        let mut chunk = String::new();
        if !self.opened {
            self.opened = true;
            chunk.push('[');
        }
        while chunk.len() <= 1 {
            if self.sent > self.ids.len() {
                return Ok(None);
            }
            if self.sent == self.ids.len() {
                self.sent += 1;
                chunk.push(']');
                break;
            }
            let end = (self.sent + PAGE).min(self.ids.len());
            let page = self.ids[self.sent..end].to_vec();
            let now = self.now;
            let views = read_off_thread(&self.state, move |state| views(state, &page, now))
                .await
                .map_err(|err| {
                    tracing::error!(%err, sent = self.sent, of = self.ids.len(),
                        "list failed part-way; the response is cut off");
                    std::io::Error::other(err)
                })?;
            self.sent = end;
            if !views.is_empty() {
                if self.any {
                    chunk.push(',');
                }
                self.any = true;
                chunk.push_str(&views);
            }
        }
        Ok(Some((Bytes::from(chunk), self)))
    }
}

/// The views of `ids`, comma-separated; an id the index names but the ledger lacks is
/// skipped with a warning.
fn views(state: &ApiState, ids: &[IncidentId], now: Timestamp) -> Result<String, LedgerError> {
    let mut out = String::new();
    for &id in ids {
        let Some(incident) = state.store.incident(id)? else {
            tracing::warn!(incident = id, "the list index names a missing incident");
            continue;
        };
        if !out.is_empty() {
            out.push(',');
        }
        // Views are plain data with string keys: serializing cannot fail.
        out.push_str(
            &serde_json::to_string(&IncidentView::new(&incident, now)).unwrap_or_default(),
        );
    }
    Ok(out)
}
