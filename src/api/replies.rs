//! The board replies' route of the control API; mount it with
//! `Server::merge(api::replies::routes())`:
//!
//! - `GET /v1/replies` → the tracked posts still waiting (pending, overdue) as
//!   [`ReplyView`]s, overdue first, then by due time; `?all=true` adds the replied and
//!   removed ones after them.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState};
use crate::model::Timestamp;
use crate::replies::{ReplyState, TrackedPost};

/// One tracked post, as `yuqing replies --json` prints it (interface.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyView {
    pub source: String,
    pub key: String,
    pub title: String,
    pub url: Option<String>,
    pub posted_at: Timestamp,
    pub due_at: Timestamp,
    pub state: ReplyState,
    pub replied_at: Option<Timestamp>,
}

impl ReplyView {
    /// A tracked post as it stands at `now`.
    pub fn new(post: &TrackedPost, now: Timestamp) -> ReplyView {
        ReplyView {
            state: post.state(now),
            source: post.source.clone(),
            key: post.key.clone(),
            title: post.title.clone(),
            url: post.url.clone(),
            posted_at: post.posted_at,
            due_at: post.due_at,
            replied_at: post.replied_at,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RepliesQuery {
    #[serde(default)]
    pub all: bool,
}

pub fn routes() -> Router<ApiState> {
    Router::new().route(
        "/v1/replies",
        get(
            |State(state): State<ApiState>,
             query: Result<Query<RepliesQuery>, QueryRejection>| async move {
                let Query(query) = query?;
                let store = state.store().clone();
                let posts = tokio::task::spawn_blocking(move || store.tracked_posts(None))
                    .await
                    .map_err(|err| ApiError::Internal(format!("内部错误：{err}")))??;
                Ok::<_, ApiError>(Json(views(posts, query.all, chrono::Utc::now())))
            },
        ),
    )
}

/// The listing order: overdue, pending, then (with `all`) replied and removed; by due
/// time within each state.
pub fn views(posts: Vec<TrackedPost>, all: bool, now: Timestamp) -> Vec<ReplyView> {
    let rank = |view: &ReplyView| match view.state {
        ReplyState::Overdue => 0,
        ReplyState::Pending => 1,
        ReplyState::Replied => 2,
        ReplyState::Removed => 3,
    };
    listing(
        posts.iter().map(|post| ReplyView::new(post, now)),
        all,
        rank,
        |view| view.due_at,
    )
}

/// A listing of clocks: by `rank` (0 overdue, 1 pending: waiting; higher: done, shown
/// only with `all`), then by due time.
pub(super) fn listing<V>(
    views: impl Iterator<Item = V>,
    all: bool,
    rank: impl Fn(&V) -> u8,
    due: impl Fn(&V) -> Timestamp,
) -> Vec<V> {
    let mut views: Vec<V> = views.filter(|view| all || rank(view) < 2).collect();
    views.sort_by_key(|view| (rank(view), due(view)));
    views
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_posts_first_and_only_with_all_the_rest() {
        let at = |s: &str| -> Timestamp { s.parse().unwrap() };
        let post = |key: &str, due: &str, replied: bool, removed: bool| TrackedPost {
            source: "board".into(),
            key: key.into(),
            title: key.into(),
            url: None,
            unit: None,
            posted_at: at("2026-06-01T00:00:00Z"),
            due_at: at(due),
            replied_at: replied.then(|| at("2026-06-02T00:00:00Z")),
            removed_at: removed.then(|| at("2026-06-02T00:00:00Z")),
        };
        let now = at("2026-06-10T00:00:00Z");
        let posts = vec![
            post("later", "2026-06-12T00:00:00Z", false, false),
            post("soon", "2026-06-11T00:00:00Z", false, false),
            post("answered", "2026-06-05T00:00:00Z", true, false),
            post("gone", "2026-06-05T00:00:00Z", false, true),
            post("late", "2026-06-09T00:00:00Z", false, false),
        ];
        let keys = |all| {
            views(posts.clone(), all, now)
                .into_iter()
                .map(|v| v.key)
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(false), ["late", "soon", "later"]);
        assert_eq!(keys(true), ["late", "soon", "later", "answered", "gone"]);
        let json = serde_json::to_value(&views(posts.clone(), false, now)[0]).unwrap();
        assert_eq!(json["state"], "overdue");
        assert_eq!(json["replied_at"], serde_json::Value::Null);
    }
}
