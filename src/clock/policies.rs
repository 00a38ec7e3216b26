//! Document clocks (政策解读 …, docs/policies.md). A tracked document is a one-milestone
//! clock from its publication to its due time, with the reply clocks' steps
//! ([`super::replies::WindowClock`]: a reminder at each `[policy] remind_at` fraction,
//! then an overdue notice every `overdue_repeat`, catch-up rule), capped at
//! `[policy] document_overdue_max` overdue notices. The intake schedules them
//! (`policies::track`), the deadline task fires them ([`DocumentClocks`]). Notices go to
//! duty and propaganda (`ledger::Routing::document`), keys
//! `policy/CLOCK/SOURCE/KEY/PERCENT` and `policy/CLOCK/SOURCE/KEY/overdue/N`. A met or
//! backfilled document's clock does not run.

use std::sync::Arc;

use super::StepKind;
use super::replies::WindowClock;
use crate::config::{Config, Policy};
use crate::ledger::Routing;
use crate::model::{Notice, NoticeKey, NoticeKind, ReplyStep, Timestamp};
use crate::policies::{DocumentClock, TrackedDocument};
use crate::store::{Store, StoreError};
use crate::time;

fn clock_of(doc: &TrackedDocument, policy: &Policy) -> WindowClock {
    WindowClock {
        start: doc.published_at,
        due: doc.due_at,
        cap: policy.document_overdue_max,
    }
}

/// The next step of a document's clock at `now` (catch-up rule); `None` once met, for
/// a backfilled document, or past `[policy] document_overdue_max`.
pub fn next_step(
    doc: &TrackedDocument,
    policy: &Policy,
    now: Timestamp,
) -> Option<(Timestamp, u32)> {
    if !doc.notifies(now) {
        return None;
    }
    clock_of(doc, policy).next_step(policy, now)
}

/// Fires due document clock entries into the outbox.
#[derive(Clone)]
pub struct DocumentClocks {
    store: Store,
    config: Arc<Config>,
}

impl DocumentClocks {
    pub fn new(store: Store, config: Arc<Config>) -> DocumentClocks {
        DocumentClocks { store, config }
    }

    fn notice(&self, doc: &TrackedDocument, kind: StepKind, now: Timestamp) -> Notice {
        let name = self
            .config
            .document_clocks
            .iter()
            .find(|c| c.id == doc.clock)
            .map_or(doc.clock.as_str(), |c: &DocumentClock| c.name.as_str());
        let source = self
            .config
            .sources
            .iter()
            .find(|s| s.id == doc.source)
            .map_or(doc.source.as_str(), |s| s.name.as_str());
        let title = crate::format::title(&doc.title);
        let (step, subject, state) = match kind {
            StepKind::Fraction { percent, .. } => (
                ReplyStep::Reminder(percent),
                format!("【{name}待发布】{title}"),
                format!(
                    "时限已过 {percent}%，应于 {} 前发布（{}）。",
                    time::local(doc.due_at),
                    time::time_left(doc.due_at, now)
                ),
            ),
            StepKind::Overdue { repeat } => (
                ReplyStep::Overdue(repeat),
                format!("【{name}超期未发布】{title}"),
                format!(
                    "应于 {} 前发布，已超期（第 {repeat} 次提醒）。",
                    time::local(doc.due_at)
                ),
            ),
        };
        let mut paragraphs = vec![
            format!(
                "{source}于 {} 发布的文件“{}”{}尚无{name}。",
                time::local(doc.published_at),
                doc.title,
                doc.doc_no
                    .as_deref()
                    .map(|no| format!("（{no}）"))
                    .unwrap_or_default(),
            ),
            state,
            format!(
                "{name}发布在政府网站后，系统按文号或标题自动识别并停止提醒；如已发布但未被识别，请核对其标题是否引用了原文件的标题或文号。"
            ),
        ];
        if let Some(url) = &doc.url {
            paragraphs.push(format!("原文件：{url}"));
        }
        Notice {
            key: NoticeKey::Document {
                clock: doc.clock.clone(),
                source: doc.source.clone(),
                key: doc.key.clone(),
                step,
            }
            .into(),
            to: Routing::new(&self.config).document(),
            created_at: now,
            kind: NoticeKind::Bulletin {
                subject,
                paragraphs,
                commands: vec![("查看文件时限".into(), "yuqing policies".into())],
            },
        }
    }
}

impl super::task::SideClocks for DocumentClocks {
    fn name(&self) -> &'static str {
        "document"
    }

    fn first_due(&self) -> Result<Option<Timestamp>, StoreError> {
        self.store.document_due_first()
    }

    fn fire_due(&self, now: Timestamp, limit: usize) -> Result<(usize, bool), StoreError> {
        let entries = self.store.documents_due(now, limit)?;
        let policy = &self.config.policy;
        let mut queued = 0;
        for entry in &entries {
            let fired = match self.store.tracked_document(&entry.id)? {
                Some(doc) if doc.notifies(now) => clock_of(&doc, policy)
                    .fire(policy, entry.step, now)
                    .map(|(kind, next)| (self.notice(&doc, kind, now), next)),
                _ => None,
            };
            let Some((notice, next)) = fired else {
                self.store.schedule_document(&entry.id, None)?;
                continue;
            };
            if self.store.enqueue_notice(&notice)? {
                queued += 1;
            }
            self.store.schedule_document(&entry.id, next)?;
        }
        Ok((queued, entries.len() == limit))
    }
}
