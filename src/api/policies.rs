//! The document clocks' route of the control API; mount it with
//! `Server::merge(api::policies::routes())`:
//!
//! - `GET /v1/policies` → the tracked documents still waiting (pending, overdue) as
//!   [`DocumentView`]s, overdue first, then by due time; `?all=true` adds the met and
//!   backfilled ones after them.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::replies::RepliesQuery;
use super::{ApiError, ApiState};
use crate::model::Timestamp;
use crate::policies::{DocumentState, TrackedDocument};

/// One tracked document, as `yuqing policies --json` prints it (interface.md): the
/// stored document's fields, its clock's name and its state now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentView {
    /// The clock's Chinese name (政策解读 …).
    pub clock_name: String,
    pub state: DocumentState,
    #[serde(flatten)]
    pub document: TrackedDocument,
}

impl DocumentView {
    /// A tracked document as it stands at `now`; `clock_name` is its clock's name.
    pub fn new(doc: &TrackedDocument, clock_name: &str, now: Timestamp) -> DocumentView {
        DocumentView {
            clock_name: clock_name.to_string(),
            state: doc.state(now),
            document: doc.clone(),
        }
    }
}

pub fn routes() -> Router<ApiState> {
    Router::new().route(
        "/v1/policies",
        get(
            |State(state): State<ApiState>,
             query: Result<Query<RepliesQuery>, QueryRejection>| async move {
                let Query(query) = query?;
                let store = state.store().clone();
                let docs = tokio::task::spawn_blocking(move || store.tracked_documents(None))
                    .await
                    .map_err(|err| ApiError::Internal(format!("内部错误：{err}")))??;
                let name = |id: &str| clock_name(state.config(), id);
                Ok::<_, ApiError>(Json(views(&docs, &name, query.all, chrono::Utc::now())))
            },
        ),
    )
}

/// The name of clock `id` (its id when no longer configured).
pub fn clock_name(config: &crate::config::Config, id: &str) -> String {
    config
        .document_clocks
        .iter()
        .find(|c| c.id == id)
        .map_or_else(|| id.to_string(), |c| c.name.clone())
}

/// The listing order: overdue, pending, then (with `all`) met and backfilled; by due
/// time within each state.
pub fn views(
    docs: &[TrackedDocument],
    clock_name: &dyn Fn(&str) -> String,
    all: bool,
    now: Timestamp,
) -> Vec<DocumentView> {
    let rank = |view: &DocumentView| match view.state {
        DocumentState::Overdue => 0,
        DocumentState::Pending => 1,
        DocumentState::Met => 2,
        DocumentState::Backfilled => 3,
    };
    super::replies::listing(
        docs.iter()
            .map(|doc| DocumentView::new(doc, &clock_name(&doc.clock), now)),
        all,
        rank,
        |view| view.document.due_at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policies::MetBy;

    #[test]
    fn waiting_documents_first_and_only_with_all_the_rest() {
        let at = |s: &str| -> Timestamp { s.parse().unwrap() };
        let doc = |key: &str, due: &str, met: bool, backfilled: bool| TrackedDocument {
            clock: "interpretation".into(),
            source: "policy".into(),
            key: key.into(),
            title: key.into(),
            url: None,
            doc_no: None,
            published_at: at("2026-06-01T00:00:00Z"),
            due_at: at(due),
            backfilled,
            met_at: met.then(|| at("2026-06-02T00:00:00Z")),
            met_by: met.then(|| MetBy {
                title: "解读".into(),
                url: None,
            }),
        };
        let now = at("2026-06-10T00:00:00Z");
        let docs = vec![
            doc("later", "2026-06-12T00:00:00Z", false, false),
            doc("soon", "2026-06-11T00:00:00Z", false, false),
            doc("met", "2026-06-05T00:00:00Z", true, false),
            doc("old", "2026-06-04T00:00:00Z", false, true),
            doc("late", "2026-06-09T00:00:00Z", false, false),
        ];
        let name = |id: &str| format!("name of {id}");
        let keys = |all| {
            views(&docs, &name, all, now)
                .into_iter()
                .map(|v| v.document.key)
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(false), ["late", "soon", "later"]);
        assert_eq!(keys(true), ["late", "soon", "later", "met", "old"]);
        let all = views(&docs, &name, true, now);
        let json = serde_json::to_value(&all[0]).unwrap();
        assert_eq!(json["state"], "overdue");
        assert_eq!(json["clock_name"], "name of interpretation");
        assert_eq!(json["met_by"], serde_json::Value::Null);
        let json = serde_json::to_value(&all[3]).unwrap();
        assert_eq!(json["state"], "met");
        assert_eq!(json["met_by"]["title"], "解读");
        assert_eq!(
            serde_json::to_value(&all[4]).unwrap()["state"],
            "backfilled"
        );
    }
}
