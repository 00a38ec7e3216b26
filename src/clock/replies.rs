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

/// A one-milestone clock from `start` to `due` whose overdue notices stop after `cap`
/// (a board post's reply clock, a document clock: `clock::policies`).
#[derive(Debug, Clone, Copy)]
pub(super) struct WindowClock {
    pub start: Timestamp,
    pub due: Timestamp,
    pub cap: u32,
}

impl WindowClock {
    /// The clock in the incident clocks' terms.
    fn steps(&self, policy: &Policy) -> (PolicySnapshot, Deadline) {
        let window = u64::try_from((self.due - self.start).num_seconds()).unwrap_or(0);
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
            due_at: self.due,
            met_at: None,
        };
        (snapshot, deadline)
    }

    /// Step `index` with its time, `None` past the overdue cap (every reminder is sent,
    /// overdue notices up to `cap`).
    fn scheduled(
        &self,
        snapshot: &PolicySnapshot,
        deadline: &Deadline,
        index: u32,
    ) -> Option<(Timestamp, u32)> {
        let within = match step_kind(snapshot, index) {
            StepKind::Fraction { .. } => true,
            StepKind::Overdue { repeat } => repeat <= self.cap,
        };
        within.then(|| (step_at(snapshot, deadline, index), index))
    }

    /// The next step at `now` (catch-up rule), `None` past the cap.
    pub fn next_step(&self, policy: &Policy, now: Timestamp) -> Option<(Timestamp, u32)> {
        let (snapshot, deadline) = self.steps(policy);
        self.scheduled(
            &snapshot,
            &deadline,
            step_to_schedule(&snapshot, &deadline, now),
        )
    }

    /// The step to send for a due entry scheduled as `entry_step` (the latest whose time
    /// has come, catch-up rule) and the step to schedule after it; `None` past the cap.
    pub fn fire(
        &self,
        policy: &Policy,
        entry_step: u32,
        now: Timestamp,
    ) -> Option<(StepKind, Option<(Timestamp, u32)>)> {
        let (snapshot, deadline) = self.steps(policy);
        let step = current_step(&snapshot, &deadline, now)
            .unwrap_or(entry_step)
            .max(entry_step);
        self.scheduled(&snapshot, &deadline, step)?;
        let next = self.scheduled(&snapshot, &deadline, step.saturating_add(1));
        Some((step_kind(&snapshot, step), next))
    }
}

/// A post's reply clock.
fn clock_of(post: &TrackedPost, policy: &Policy) -> WindowClock {
    WindowClock {
        start: post.posted_at,
        due: post.due_at,
        cap: policy.reply_overdue_max,
    }
}

/// The next step of a post's clock at `now` (catch-up rule), `None` once it is answered
/// or removed, or once its overdue notices reached `[policy] reply_overdue_max`.
pub fn next_step(post: &TrackedPost, policy: &Policy, now: Timestamp) -> Option<(Timestamp, u32)> {
    if matches!(post.state(now), ReplyState::Replied | ReplyState::Removed) {
        return None;
    }
    clock_of(post, policy).next_step(policy, now)
}

impl super::task::SideClocks for ReplyClocks {
    fn name(&self) -> &'static str {
        "reply"
    }

    fn first_due(&self) -> Result<Option<Timestamp>, StoreError> {
        ReplyClocks::first_due(self)
    }

    fn fire_due(&self, now: Timestamp, limit: usize) -> Result<(usize, bool), StoreError> {
        ReplyClocks::fire_due(self, now, limit)
    }
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
            let policy = &self.config.policy;
            let Some((kind, next)) = clock_of(&post, policy).fire(policy, entry.step, now) else {
                self.store.schedule_reply(&entry.source, &entry.key, None)?;
                continue;
            };
            let notice = self.notice(&post, kind, now)?;
            if self.store.enqueue_notice(&notice)? {
                queued += 1;
            }
            self.store.schedule_reply(&entry.source, &entry.key, next)?;
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
