//! Applying one poll of a board to its tracked posts: the glue between the intake (which
//! calls [`observe_board`] after storing a document's items) and the pure rules of
//! [`crate::replies`], persisted through the store (`store::replies`).

use std::collections::HashSet;

use crate::calendar::Calendar;
use crate::clock::replies::next_step;
use crate::config::Policy;
use crate::model::{DateQuality, Timestamp};
use crate::parse::{Parsed, ParsedItem};
use crate::store::{Store, StoreError};

use super::{Change, Observation, Post, ReplyRule, TrackedPost, missing_means_removed};

/// What one poll changed on a board.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoardReport {
    /// Posts tracked for the first time.
    pub started: usize,
    pub replied: usize,
    pub removed: usize,
    /// Posts that could not be tracked: their due date falls in a year the calendar lacks.
    pub uncovered: usize,
}

/// Applies a successfully read page of board `source` at `now`: starts tracking every post
/// not yet tracked, records each listed post's reply state, and marks tracked posts that
/// are missing from the page as removed when the paging rule says so. Each change
/// (re)schedules the post's reply clock (`clock::replies`).
pub fn observe_board(
    store: &Store,
    calendar: &Calendar,
    source: &str,
    rule: &ReplyRule,
    policy: &Policy,
    page: &Parsed,
    now: Timestamp,
) -> Result<BoardReport, StoreError> {
    let items = &page.items;
    let mut report = BoardReport::default();
    let posted_at = |item: &ParsedItem| match (item.published, item.date_quality) {
        (Some(at), Some(DateQuality::Credible)) => at,
        _ => now,
    };
    for (item, reply) in items.iter().zip(&page.replies) {
        let (mut post, new) = match store.tracked_post(source, &item.key)? {
            Some(post) => (post, false),
            None => {
                let post = Post {
                    source,
                    key: &item.key,
                    title: &item.title,
                    url: item.link.as_deref(),
                    unit: None,
                    posted_at: posted_at(item),
                };
                match TrackedPost::start(post, rule, calendar) {
                    Ok(post) => {
                        report.started += 1;
                        (post, true)
                    }
                    Err(err) => {
                        tracing::warn!(source, key = %item.key, error = %err,
                            "cannot track a board post: its due date is outside the holiday table");
                        report.uncovered += 1;
                        continue;
                    }
                }
            }
        };
        let before = post.clone();
        if post.unit.is_none() {
            post.unit = store
                .item(source, &item.key)?
                .and_then(|stored| stored.classification)
                .and_then(|c| c.unit);
        }
        let seen = Observation::Listed {
            status: reply.status.clone(),
            reply_date: reply.reply_date,
        };
        if let Some(Change::Replied { .. }) = post.observe(&seen, rule, now) {
            report.replied += 1;
            store.withdraw_reply_notices(source, &post.key, now, "replied")?;
        }
        if new || post != before {
            store.put_tracked_post(&post)?;
            store.schedule_reply(source, &post.key, next_step(&post, policy, now))?;
        }
    }
    let listed: HashSet<&str> = items.iter().map(|i| i.key.as_str()).collect();
    let oldest_shown = items.iter().map(posted_at).min();
    for mut post in store.tracked_posts(Some(source))? {
        if listed.contains(post.key.as_str())
            || !missing_means_removed(post.posted_at, oldest_shown)
        {
            continue;
        }
        if post.observe(&Observation::Missing, rule, now) == Some(Change::Removed) {
            tracing::info!(source, key = %post.key, "board post no longer listed: 已撤下");
            report.removed += 1;
            store.withdraw_reply_notices(source, &post.key, now, "removed")?;
            store.put_tracked_post(&post)?;
            store.schedule_reply(source, &post.key, None)?;
        }
    }
    Ok(report)
}
