//! Reply clocks of board posts (docs/replies.md). A tracked post is a one-milestone clock
//! whose window runs from its posting to its due time; its steps are the incident clocks'
//! steps ([`crate::clock`]: a reminder at each `[policy] remind_at` fraction, then an
//! overdue notice every `overdue_repeat`, with the same catch-up rule), kept in the store's
//! reply due index and fired by the same deadline task. Notices go to duty and the unit
//! the post routes to (`ledger::Routing::reply`), keys `reply/SOURCE/KEY/PERCENT` and
//! `reply/SOURCE/KEY/overdue/N`. Unlike an incident's, a post's overdue notices stop after
//! `[policy] reply_overdue_max` (N ≤ max): a board that never answers is then reported
//! by the digest and `yuqing replies` only.

use std::sync::Arc;

use super::{StepKind, current_step, step_at, step_kind, step_to_schedule};
use crate::config::{Config, Policy};
use crate::ledger::Routing;
use crate::model::{
    Deadline, Milestone, Notice, NoticeKey, NoticeKind, PolicySnapshot, ReplyStep, Timestamp,
};
use crate::replies::{ReplyState, TrackedPost};
use crate::store::{Store, StoreError};
use crate::time;

/// A post's clock in the incident clocks' terms: the window is posting → due.
fn clock_of(post: &TrackedPost, policy: &Policy) -> (PolicySnapshot, Deadline) {
    let window = u64::try_from((post.due_at - post.posted_at).num_seconds()).unwrap_or(0);
    let snapshot = PolicySnapshot {
        ack_secs: 0,
        statement_secs: 0,
        press_secs: 0,
        response_secs: window,
        remind_at: policy.remind_at.clone(),
        overdue_repeat_secs: policy.overdue_repeat.0.as_secs(),
        effect_secs: policy.effect_window.0.as_secs(),
    };
    let deadline = Deadline {
        milestone: Milestone::Response,
        due_at: post.due_at,
        met_at: None,
    };
    (snapshot, deadline)
}

/// Whether step `index` of a post's clock is still sent: every reminder, and overdue
/// notices up to `policy.reply_overdue_max`.
fn within_cap(snapshot: &PolicySnapshot, policy: &Policy, index: u32) -> bool {
    match step_kind(snapshot, index) {
        StepKind::Fraction { .. } => true,
        StepKind::Overdue { repeat } => repeat <= policy.reply_overdue_max,
    }
}

/// Step `index` of a post's clock with its time, `None` past the overdue cap.
fn scheduled(
    snapshot: &PolicySnapshot,
    deadline: &Deadline,
    policy: &Policy,
    index: u32,
) -> Option<(Timestamp, u32)> {
    within_cap(snapshot, policy, index).then(|| (step_at(snapshot, deadline, index), index))
}

/// The next step of a post's clock at `now` (catch-up rule), `None` once it is answered
/// or removed, or once its overdue notices reached `[policy] reply_overdue_max`.
pub fn next_step(post: &TrackedPost, policy: &Policy, now: Timestamp) -> Option<(Timestamp, u32)> {
    if matches!(post.state(now), ReplyState::Replied | ReplyState::Removed) {
        return None;
    }
    let (snapshot, deadline) = clock_of(post, policy);
    scheduled(
        &snapshot,
        &deadline,
        policy,
        step_to_schedule(&snapshot, &deadline, now),
    )
}

/// Fires due reply clock entries into the outbox.
#[derive(Clone)]
pub struct ReplyClocks {
    store: Store,
    config: Arc<Config>,
}

impl ReplyClocks {
    pub fn new(store: Store, config: Arc<Config>) -> ReplyClocks {
        ReplyClocks { store, config }
    }

    /// Notified when a reply clock step is scheduled (the intake schedules them).
    pub fn wake(&self) -> Arc<tokio::sync::Notify> {
        self.store.reply_signal()
    }

    pub fn first_due(&self) -> Result<Option<Timestamp>, StoreError> {
        self.store.reply_due_first()
    }

    /// Fires at most `limit` entries due at `now`; returns how many notices were queued
    /// and whether more entries may be due.
    pub fn fire_due(&self, now: Timestamp, limit: usize) -> Result<(usize, bool), StoreError> {
        let entries = self.store.replies_due(now, limit)?;
        let mut queued = 0;
        for entry in &entries {
            let Some(post) = self.store.tracked_post(&entry.source, &entry.key)? else {
                self.store.schedule_reply(&entry.source, &entry.key, None)?;
                continue;
            };
            if next_step(&post, &self.config.policy, now).is_none() {
                self.store.schedule_reply(&entry.source, &entry.key, None)?;
                continue;
            }
            let (snapshot, deadline) = clock_of(&post, &self.config.policy);
            let step = current_step(&snapshot, &deadline, now)
                .unwrap_or(entry.step)
                .max(entry.step);
            if !within_cap(&snapshot, &self.config.policy, step) {
                self.store.schedule_reply(&entry.source, &entry.key, None)?;
                continue;
            }
            let notice = self.notice(&post, step_kind(&snapshot, step), now)?;
            if self.store.enqueue_notice(&notice)? {
                queued += 1;
            }
            self.store.schedule_reply(
                &entry.source,
                &entry.key,
                scheduled(
                    &snapshot,
                    &deadline,
                    &self.config.policy,
                    step.saturating_add(1),
                ),
            )?;
        }
        Ok((queued, entries.len() == limit))
    }

    fn notice(
        &self,
        post: &TrackedPost,
        kind: StepKind,
        now: Timestamp,
    ) -> Result<Notice, StoreError> {
        let unit = match &post.unit {
            Some(unit) => Some(unit.clone()),
            None => self
                .store
                .item(&post.source, &post.key)?
                .and_then(|item| item.classification)
                .and_then(|c| c.unit),
        };
        let board = self
            .config
            .sources
            .iter()
            .find(|s| s.id == post.source)
            .map_or(post.source.as_str(), |s| s.name.as_str());
        let (step, subject, state) = match kind {
            StepKind::Fraction { percent, .. } => (
                ReplyStep::Reminder(percent),
                format!(
                    "【留言待答复】{}：{}",
                    board,
                    crate::format::title(&post.title)
                ),
                format!(
                    "答复时限已过 {percent}%，应于 {} 前答复（{}）。",
                    time::local(post.due_at),
                    time::time_left(post.due_at, now)
                ),
            ),
            StepKind::Overdue { repeat } => (
                ReplyStep::Overdue(repeat),
                format!(
                    "【留言超期未答复】{}：{}",
                    board,
                    crate::format::title(&post.title)
                ),
                format!(
                    "应于 {} 前答复，已超期（第 {repeat} 次提醒）。",
                    time::local(post.due_at)
                ),
            ),
        };
        let mut paragraphs = vec![
            format!(
                "{board}的留言“{}”（{} 发布）尚未答复。",
                post.title,
                time::local(post.posted_at)
            ),
            state,
            format!(
                "责任单位：{}",
                unit.as_deref().unwrap_or("未分派（请值班人员转办）")
            ),
        ];
        if let Some(url) = &post.url {
            paragraphs.push(format!("原帖：{url}"));
        }
        Ok(Notice {
            key: NoticeKey::Reply {
                source: post.source.clone(),
                key: post.key.clone(),
                step,
            }
            .into(),
            to: Routing::new(&self.config).reply(unit.as_deref()),
            created_at: now,
            kind: NoticeKind::Bulletin {
                subject,
                paragraphs,
                commands: vec![("查看待答复的留言".into(), "yuqing replies".into())],
            },
        })
    }
}
