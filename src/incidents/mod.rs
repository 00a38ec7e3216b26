//! The ledger (台账): incidents opened from flagged items, their lifecycle and
//! their audit trail. Every operation is one store transaction that changes the
//! incident, appends its audit entry, updates the due index and queues the mails
//! the change causes, together or not at all.
//!
//! ## Grouping (which incident an item joins)
//! A flagged item joins an open incident when all of these hold, else it opens one:
//! - the same primary topic;
//! - the same place: the two share a place name, or neither names one;
//! - its time (credible publication, else detection) is within `policy.incident_window`
//!   of the incident's latest item;
//! - its key terms overlap the incident's: at least [`JOIN_MIN_CONTAINMENT`] of the
//!   item's distinct terms are among the incident's, and at least [`JOIN_MIN_SHARED`]
//!   terms are shared (or all of them, for an item with fewer terms).
//!
//! Among several matches the best overlap wins (then the most recent). An item already
//! attached (same source and key, e.g. an edited post) never counts twice.
//!
//! ## Level
//! The highest item severity (a flagged item without casualties is IV); watch when no
//! item is local (classified local, or from a `local` source) and
//! `jurisdiction.outside_as_watch` is on; then one level higher when `spread_sources`
//! distinct sources carried it within `spread_window` (watch is never raised: an event
//! outside the jurisdiction gets no clock however far it spreads). When a joining item
//! makes this detected level higher than the current one, the system regrades
//! (audited, clocks recomputed); a person's regrade is otherwise left alone.
//!
//! ## Mail
//! An incident is announced (`<id>/opened`, to duty, propaganda and the lead unit) in
//! the transaction that opens it. A watch incident (关注) is recorded without mail, as
//! it has no clock: it is announced when it first gets a graded level (a local item
//! joins, or a person regrades it). Reminders, escalations and overdue notices come
//! from the due index (see `crate::clock`).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::clock::{self, StepKind};
use crate::config::{Config, Role};
use crate::model::{
    AuditEntry, Deadline, Incident, IncidentId, Item, ItemRef, Level, Milestone, Notice,
    NoticeKind, PolicySnapshot, Status, Timestamp,
};
use crate::store::{DueEntry, LedgerTx, OpenIndexRow, Store, StoreError};

/// At least this share of an item's distinct key terms must be among the incident's.
pub const JOIN_MIN_CONTAINMENT: f64 = 0.5;
/// At least this many key terms must be shared (all of them for an item with fewer).
pub const JOIN_MIN_SHARED: usize = 2;
/// An incident keeps at most this many key terms (those of its first items).
pub const MAX_INCIDENT_TERMS: usize = 64;

/// The name system changes are audited under.
pub const SYSTEM: &str = "system";

const ALL_MILESTONES: [Milestone; 4] = [
    Milestone::Ack,
    Milestone::Statement,
    Milestone::Press,
    Milestone::Response,
];

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("事件 {0} 不存在；请用 yuqing list --all 查看事件编号")]
    NotFound(IncidentId),
    /// The transition is not allowed; the message says why, in Chinese.
    #[error("{0}")]
    NotAllowed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `ingest` did with a flagged item.
#[derive(Debug, Clone, PartialEq)]
pub enum IngestOutcome {
    Opened(IncidentId),
    Joined(IncidentId),
}

/// What `ack` did: the first acknowledgement wins; a repeat is harmless and says so.
#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    Acknowledged(Incident),
    AlreadyAcknowledged {
        incident: Incident,
        by: String,
        at: Timestamp,
    },
}

/// The ledger over the store. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    store: Store,
    config: Arc<Config>,
    /// Woken whenever a change may have moved the earliest due notice.
    wake: Arc<tokio::sync::Notify>,
    /// Grouping reads candidates before its transaction: one ingest at a time.
    ingest_lock: Arc<Mutex<()>>,
}

/// A transaction body's answer: a refusal is not a storage error.
type Outcome<T> = Result<T, LedgerError>;
type TxResult<T> = Result<Outcome<T>, sled::transaction::ConflictableTransactionError<StoreError>>;

impl Ledger {
    pub fn new(store: Store, config: Arc<Config>, wake: Arc<tokio::sync::Notify>) -> Ledger {
        Ledger {
            store,
            config,
            wake,
            ingest_lock: Arc::new(Mutex::new(())),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A classified, flagged item opens an incident or joins one about the same event.
    /// Unflagged items are ignored (`Ok(None)`). `terms` are the item's segmented key
    /// terms (the classifier's `key_terms`).
    pub fn ingest(
        &self,
        item: &Item,
        terms: &[String],
        now: Timestamp,
    ) -> Result<Option<IngestOutcome>, LedgerError> {
        let Some(class) = item.classification.as_ref().filter(|c| c.flag) else {
            return Ok(None);
        };
        // Grouping reads the candidates, then commits: no other ingest in between.
        let _one_at_a_time = self
            .ingest_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let facts = ItemFacts {
            item_ref: ItemRef {
                source: item.source.clone(),
                key: item.key.clone(),
            },
            title: item.title.clone(),
            time: item
                .credible_published()
                .filter(|t| *t <= now)
                .unwrap_or(now),
            severity: class
                .severity
                .filter(|l| *l != Level::Watch)
                .unwrap_or(Level::IV),
            local: class.local || self.source_is_local(&item.source),
            topics: class.topics.clone(),
            places: class.places.clone(),
            unit: class.unit.clone(),
            terms: distinct(terms),
        };
        let candidate = self.best_candidate(&facts)?;
        let outcome = self.commit(|tx| match tx.attached(&item.source, &item.key)? {
            Some(id) => Ok(Ok(IngestOutcome::Joined(id))),
            None => {
                let joined = match candidate {
                    Some(id) => self.join(tx, id, &facts, now)?,
                    None => false,
                };
                match (joined, candidate) {
                    (true, Some(id)) => Ok(Ok(IngestOutcome::Joined(id))),
                    _ => Ok(Ok(IngestOutcome::Opened(self.open(tx, &facts, now)?))),
                }
            }
        })?;
        let id = match outcome {
            IngestOutcome::Opened(id) | IngestOutcome::Joined(id) => id,
        };
        if item.incident != Some(id) {
            self.store.set_item_incident(&item.source, &item.key, id)?;
        }
        Ok(Some(outcome))
    }

    /// Open incidents (all with `all`), soonest unmet deadline first; incidents without
    /// a running clock after them, newest first.
    pub fn list(&self, all: bool) -> Result<Vec<Incident>, LedgerError> {
        let mut list = if all {
            self.store.incidents().collect::<Result<Vec<_>, _>>()?
        } else {
            self.open_incidents()?
        };
        list.sort_by(|a, b| {
            let due = |i: &Incident| {
                i.status
                    .is_open()
                    .then(|| i.next_due().map(|d| d.due_at))
                    .flatten()
            };
            match (due(a), due(b)) {
                (Some(x), Some(y)) => x.cmp(&y).then(a.id.cmp(&b.id)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => b.opened_at.cmp(&a.opened_at).then(b.id.cmp(&a.id)),
            }
        });
        Ok(list)
    }

    pub fn get(&self, id: IncidentId) -> Result<Incident, LedgerError> {
        self.store.incident(id)?.ok_or(LedgerError::NotFound(id))
    }

    /// The incident's audit trail, oldest first.
    pub fn audit(&self, id: IncidentId) -> Result<Vec<AuditEntry>, LedgerError> {
        self.get(id)?;
        Ok(self.store.incident_audit(id)?)
    }

    /// The incident's items, oldest first.
    pub fn items_of(&self, id: IncidentId) -> Result<Vec<Item>, LedgerError> {
        let incident = self.get(id)?;
        let mut items = Vec::with_capacity(incident.items.len());
        for r in &incident.items {
            match self.store.item(&r.source, &r.key)? {
                Some(item) => items.push(item),
                None => tracing::warn!(incident = id, source = %r.source, key = %r.key,
                    "an item of the incident is missing from the store"),
            }
        }
        items.sort_by_key(|i| i.first_seen);
        Ok(items)
    }

    /// 签收. Repeating it succeeds with `AlreadyAcknowledged` (also once the incident is
    /// closed); both are audited. An incident closed, dismissed or merged without a
    /// 签收 cannot be acknowledged any more.
    pub fn ack(
        &self,
        id: IncidentId,
        by: &str,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<AckOutcome, LedgerError> {
        let by = required(by, "请用 --by 写明签收人")?;
        self.commit(|tx| {
            // A repeat is harmless whatever became of the incident since.
            if let Some((first_by, first_at)) = tx.ack_record(id)? {
                let Some(incident) = tx.incident(id)? else {
                    return Ok(Err(LedgerError::NotFound(id)));
                };
                let detail = format!(
                    "重复签收（已由 {first_by} 于 {} 签收）{}",
                    crate::time::local(first_at),
                    note_suffix(note)
                );
                tx.audit(&entry(id, now, by, "ack_repeat", detail, None))?;
                return Ok(Ok(AckOutcome::AlreadyAcknowledged {
                    incident,
                    by: first_by,
                    at: first_at,
                }));
            }
            let mut incident = match load_open(tx, id, "签收")? {
                Ok(incident) => incident,
                Err(e) => return Ok(Err(e)),
            };
            record_ack(tx, &mut incident, by, now, now, note, "签收")?;
            self.save(tx, &mut incident, now)?;
            Ok(Ok(AckOutcome::Acknowledged(incident)))
        })
    }

    /// Records a milestone met at `at` (≤ now). Not allowed on closed, dismissed or
    /// merged incidents, nor for a milestone the incident's level does not have.
    /// Recording a milestone of a new incident also records its 签收 (audited).
    #[allow(clippy::too_many_arguments)]
    pub fn milestone(
        &self,
        id: IncidentId,
        milestone: Milestone,
        by: &str,
        url: Option<&str>,
        note: Option<&str>,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let by = required(by, "请用 --by 写明记录人")?;
        if milestone == Milestone::Ack {
            return Err(LedgerError::NotAllowed(format!(
                "签收请用 yuqing ack {id} --by 姓名"
            )));
        }
        if at > now {
            return Err(LedgerError::NotAllowed(format!(
                "时间 {} 晚于现在（{}）；--at 只能记录已经发生的节点",
                crate::time::local(at),
                crate::time::local(now)
            )));
        }
        self.commit(|tx| {
            let mut incident = match load_open(tx, id, "记录节点")? {
                Ok(incident) => incident,
                Err(e) => return Ok(Err(e)),
            };
            if !incident.level.milestones().contains(&milestone) {
                return Ok(Err(LedgerError::NotAllowed(format!(
                    "事件 {id} 为{}（{}级），没有“{}”节点；I、II 级有 statement、press，III、IV 级有 response，关注级没有时限",
                    incident.level.chinese(),
                    incident.level,
                    milestone.chinese()
                ))));
            }
            if at < incident.event_at {
                return Ok(Err(LedgerError::NotAllowed(format!(
                    "时间 {} 早于事发时间 {}；请检查 --at",
                    crate::time::local(at),
                    crate::time::local(incident.event_at)
                ))));
            }
            let Some(index) = incident
                .deadlines
                .iter()
                .position(|d| d.milestone == milestone)
            else {
                return Ok(Err(LedgerError::NotAllowed(format!(
                    "事件 {id} 没有“{}”时限",
                    milestone.chinese()
                ))));
            };
            if let Some(met) = incident.deadlines[index].met_at {
                return Ok(Err(LedgerError::NotAllowed(format!(
                    "事件 {id} 的“{}”已于 {} 记录，不能重复记录",
                    milestone.chinese(),
                    crate::time::local(met)
                ))));
            }
            if tx.ack_record(id)?.is_none() {
                record_ack(tx, &mut incident, by, at, now, None, "记录节点时一并签收")?;
            }
            let deadline = &mut incident.deadlines[index];
            deadline.met_at = Some(at);
            let timing = timing(deadline);
            if matches!(milestone, Milestone::Statement | Milestone::Response) {
                incident.status = Status::Responded;
            }
            let mut detail = format!(
                "记录“{}”：{}（{timing}）",
                milestone.chinese(),
                crate::time::local(at)
            );
            if let Some(url) = url.filter(|u| !u.trim().is_empty()) {
                detail.push_str(&format!("，链接 {url}"));
            }
            detail.push_str(&note_suffix(note));
            tx.audit(&entry(id, now, by, "milestone", detail, None))?;
            self.save(tx, &mut incident, now)?;
            Ok(Ok(incident))
        })
    }

    /// Regrade; clocks are recomputed from the incident's policy snapshot. Audited with the reason.
    pub fn regrade(
        &self,
        id: IncidentId,
        level: Level,
        by: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let by = required(by, "请用 --by 写明调整人")?;
        let reason = required(reason, "请用 --reason 写明调整等级的理由")?;
        self.commit(|tx| {
            let mut incident = match load_open(tx, id, "调整等级")? {
                Ok(incident) => incident,
                Err(e) => return Ok(Err(e)),
            };
            if incident.level == level {
                return Ok(Err(LedgerError::NotAllowed(format!(
                    "事件 {id} 已是{}（{}级），无需调整",
                    level.chinese(),
                    level
                ))));
            }
            self.set_level(tx, &mut incident, level, by, Some(reason), now)?;
            self.save(tx, &mut incident, now)?;
            Ok(Ok(incident))
        })
    }

    /// Change the responsible unit.
    pub fn assign(
        &self,
        id: IncidentId,
        unit: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let by = required(by, "请用 --by 写明调整人")?;
        let unit = required(unit, "请写明牵头单位名称")?;
        self.commit(|tx| {
            let mut incident = match load_open(tx, id, "调整牵头单位")? {
                Ok(incident) => incident,
                Err(e) => return Ok(Err(e)),
            };
            if incident.unit.as_deref() == Some(unit) {
                return Ok(Err(LedgerError::NotAllowed(format!(
                    "事件 {id} 已由 {unit} 牵头，无需调整"
                ))));
            }
            let detail = format!(
                "牵头单位由 {} 改为 {unit}",
                incident.unit.as_deref().unwrap_or("（未定）")
            );
            incident.unit = Some(unit.to_string());
            tx.audit(&entry(id, now, by, "assign", detail, None))?;
            self.save(tx, &mut incident, now)?;
            Ok(Ok(incident))
        })
    }

    /// 办结: stops every notice.
    pub fn close(
        &self,
        id: IncidentId,
        by: &str,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let by = required(by, "请用 --by 写明办结人")?;
        self.finish(id, Status::Closed, by, now, |incident| {
            let unmet: Vec<_> = incident
                .deadlines
                .iter()
                .filter(|d| d.met_at.is_none())
                .map(|d| d.milestone.chinese())
                .collect();
            let mut detail = "办结".to_string();
            if !unmet.is_empty() {
                detail.push_str(&format!("（未记录：{}）", unmet.join("、")));
            }
            detail.push_str(&note_suffix(note));
            ("close", detail, None)
        })
    }

    /// 误报: stops every notice.
    pub fn dismiss(
        &self,
        id: IncidentId,
        by: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let by = required(by, "请用 --by 写明操作人")?;
        let reason = required(reason, "请用 --reason 写明判为误报的理由")?;
        self.finish(id, Status::Dismissed, by, now, |_| {
            ("dismiss", "判为误报".to_string(), Some(reason))
        })
    }

    /// Folds `id` into `into` (items, sources, heat); `id` becomes merged. Returns the target.
    pub fn merge(
        &self,
        id: IncidentId,
        into: IncidentId,
        by: &str,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let by = required(by, "请用 --by 写明操作人")?;
        if id == into {
            return Err(LedgerError::NotAllowed(format!(
                "不能把事件 {id} 合并到它自己；请给出另一个事件编号"
            )));
        }
        let (target, moved) = self.commit(|tx| {
            let mut source = match load_open(tx, id, "合并")? {
                Ok(incident) => incident,
                Err(e) => return Ok(Err(e)),
            };
            let Some(mut target) = tx.incident(into)? else {
                return Ok(Err(LedgerError::NotFound(into)));
            };
            if !target.status.is_open() {
                return Ok(Err(LedgerError::NotAllowed(format!(
                    "目标事件 {into} {}，不能并入；请选择一个未办结的事件",
                    target.status.chinese()
                ))));
            }
            let source_row = tx.open_row(&source)?;
            let target_row = tx.open_row(&target)?;
            let mut row = target_row.unwrap_or_else(|| fallback_row(&target));
            let mut moved = Vec::new();
            for r in &source.items {
                if !target.items.contains(r) {
                    target.items.push(r.clone());
                }
                tx.attach(&r.source, &r.key, into)?;
                moved.push(r.clone());
            }
            target.sources.extend(source.sources.iter().cloned());
            union_into(&mut target.topics, &source.topics, usize::MAX);
            union_into(&mut target.places, &source.places, usize::MAX);
            union_into(&mut target.terms, &source.terms, MAX_INCIDENT_TERMS);
            target.local |= source.local;
            if target.unit.is_none() {
                target.unit.clone_from(&source.unit);
            }
            let source_row = source_row.unwrap_or_else(|| fallback_row(&source));
            for (s, t) in source_row.source_times {
                add_source_time(&mut row.source_times, &s, t);
            }
            row.last_item_at = row.last_item_at.max(source_row.last_item_at);
            row.severity = row.severity.max(source_row.severity);
            union_into(&mut row.places, &source_row.places, usize::MAX);
            union_into(&mut row.terms, &source_row.terms, MAX_INCIDENT_TERMS);
            target.detected_level = target.detected_level.max(source.detected_level);
            tx.audit(&entry(
                into,
                now,
                by,
                "merge_in",
                format!("并入事件 {id}（{} 条信息）", source.items.len()),
                None,
            ))?;
            let earlier_event = source.event_at < target.event_at;
            if earlier_event {
                move_event_time(tx, &mut target, source.event_at, by, now)?;
            }
            if source.level.rank() > target.level.rank() {
                let reason = format!("并入等级更高的事件 {id}");
                self.set_level(tx, &mut target, source.level, by, Some(&reason), now)?;
            } else if earlier_event {
                recompute_deadlines(&mut target);
            }
            source.status = Status::Merged;
            source.merged_into = Some(into);
            tx.audit(&entry(
                id,
                now,
                by,
                "merge",
                format!("并入事件 {into}"),
                None,
            ))?;
            self.save(tx, &mut source, now)?;
            self.save_with_row(tx, &mut target, Some(&row), now)?;
            Ok(Ok((target, moved)))
        })?;
        for r in &moved {
            self.store.set_item_incident(&r.source, &r.key, into)?;
        }
        Ok(target)
    }

    /// Fires the due notices at or before `now`, at most `limit` of them, earliest first
    /// (see `crate::clock` for the catch-up rule). Each fires in its own transaction:
    /// the notice is queued, the entry removed and the clock's next step scheduled
    /// together. An entry that fails is logged and left in place; the others still fire.
    pub fn fire_due(&self, now: Timestamp, limit: usize) -> Result<FireReport, LedgerError> {
        let mut report = FireReport::default();
        let entries = self.store.due_until(now, limit)?;
        for &entry in &entries {
            match self.fire(entry, now) {
                Ok(true) => report.queued += 1,
                Ok(false) => {}
                Err(err) => {
                    tracing::error!(incident = entry.incident, milestone = %entry.milestone,
                        error = %err, "could not fire a due notice; will retry");
                    report.failed += 1;
                }
            }
        }
        report.more = entries.len() == limit && report.failed < entries.len();
        Ok(report)
    }

    /// The `Notify` the deadline task waits on (the one given to [`Ledger::new`]).
    pub fn deadline_wake(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// Makes sure every running clock has its entry in the due index (run at start:
    /// the index is persisted, this only repairs what an older build or a damaged
    /// index may lack). Returns how many clocks were scheduled anew.
    pub fn repair_schedule(&self, now: Timestamp) -> Result<usize, LedgerError> {
        let mut repaired = 0;
        for incident in self.open_incidents()? {
            for d in incident.deadlines.iter().filter(|d| d.met_at.is_none()) {
                if self.store.is_clock_scheduled(incident.id, d.milestone)? {
                    continue;
                }
                let added = self.commit(|tx| {
                    if tx.scheduled(incident.id, d.milestone)?.is_some() {
                        return Ok(Ok(false));
                    }
                    tx.schedule(due_entry(&incident, d, now))?;
                    Ok(Ok(true))
                })?;
                if added {
                    tracing::warn!(incident = incident.id, milestone = %d.milestone,
                        "a running clock had no due entry; scheduled it");
                    repaired += 1;
                }
            }
        }
        Ok(repaired)
    }

    /// The open incidents, read through the match index.
    fn open_incidents(&self) -> Result<Vec<Incident>, LedgerError> {
        let mut list = Vec::new();
        for id in self.store.open_incident_ids()? {
            match self.store.incident(id)? {
                Some(incident) if incident.status.is_open() => list.push(incident),
                _ => tracing::warn!(
                    incident = id,
                    "the open index names a missing or finished incident"
                ),
            }
        }
        Ok(list)
    }

    /// Runs a ledger transaction and wakes the deadline task (the store wakes the outbox worker).
    fn commit<T>(&self, f: impl Fn(&LedgerTx<'_>) -> TxResult<T>) -> Result<T, LedgerError> {
        let outcome = self.store.ledger_tx(f)?;
        if outcome.is_ok() {
            self.wake.notify_one();
        }
        outcome
    }

    fn fire(&self, entry: DueEntry, now: Timestamp) -> Result<bool, LedgerError> {
        self.commit(|tx| {
            if !tx.is_scheduled(&entry)? {
                return Ok(Ok(false));
            }
            let incident = match tx.incident(entry.incident)? {
                Some(i) if i.status.is_open() => i,
                _ => {
                    tx.unschedule(entry.incident, entry.milestone)?;
                    return Ok(Ok(false));
                }
            };
            let Some(deadline) = incident
                .deadline(entry.milestone)
                .filter(|d| d.met_at.is_none())
            else {
                tx.unschedule(entry.incident, entry.milestone)?;
                return Ok(Ok(false));
            };
            let policy = &incident.policy;
            let Some(current) = clock::current_step(policy, deadline, now) else {
                // The deadline moved later since this entry was written.
                tx.schedule(due_entry(&incident, deadline, now))?;
                return Ok(Ok(false));
            };
            let step = current.max(entry.step);
            let notice = self.step_notice(&incident, entry.milestone, step, now);
            let queued = tx.outbox().enqueue(&notice)?;
            let next = step.saturating_add(1);
            tx.schedule(step_entry(&incident, deadline, next))?;
            Ok(Ok(queued))
        })
    }

    fn step_notice(
        &self,
        incident: &Incident,
        milestone: Milestone,
        step: u32,
        now: Timestamp,
    ) -> Notice {
        let kind = clock::step_kind(&incident.policy, step);
        let boxed = Box::new(incident.clone());
        let (roles, with_unit, kind_value): (&[Role], bool, NoticeKind) = match kind {
            StepKind::Fraction {
                percent,
                escalation,
            } => (
                if escalation {
                    &[Role::Office, Role::Duty]
                } else {
                    &[Role::Duty]
                },
                true,
                NoticeKind::Reminder {
                    incident: boxed,
                    milestone,
                    percent,
                    escalation,
                },
            ),
            StepKind::Overdue { repeat } => (
                &[Role::Leaders, Role::Office, Role::Duty],
                false,
                NoticeKind::Overdue {
                    incident: boxed,
                    milestone,
                    repeat,
                },
            ),
        };
        Notice {
            key: clock::notice_key(incident.id, milestone, kind),
            to: self.recipients(roles, with_unit.then_some(incident.unit.as_deref())),
            created_at: now,
            kind: kind_value,
        }
    }

    /// Addresses of `roles`, then of the unit (`Some(unit)`), without duplicates.
    fn recipients(&self, roles: &[Role], unit: Option<Option<&str>>) -> Vec<String> {
        let mut to: Vec<String> = Vec::new();
        let unit_list = unit.map(|u| self.config.unit_addresses(u));
        for address in roles
            .iter()
            .flat_map(|r| self.config.recipients.of(*r))
            .chain(unit_list.into_iter().flatten())
        {
            if !to.contains(address) {
                to.push(address.clone());
            }
        }
        to
    }

    fn source_is_local(&self, source: &str) -> bool {
        self.config
            .sources
            .iter()
            .any(|s| s.id == source && s.local)
    }

    /// The level the items alone give.
    fn detected_level(&self, row: &OpenIndexRow, local: bool) -> Level {
        if !local && self.config.jurisdiction.outside_as_watch {
            return Level::Watch;
        }
        let policy = &self.config.policy;
        if spread(
            &row.source_times,
            policy.spread_sources,
            policy.spread_window.as_chrono(),
        ) {
            row.severity.raised()
        } else {
            row.severity
        }
    }

    /// The best open incident for an item, if any matches (see the module docs).
    fn best_candidate(&self, facts: &ItemFacts) -> Result<Option<IncidentId>, LedgerError> {
        let window = self.config.policy.incident_window.as_chrono();
        let topic = facts.topics.first().map_or("", String::as_str);
        let mut best: Option<(f64, Timestamp, IncidentId)> = None;
        for row in self.store.open_incidents_of_topic(topic)? {
            if !places_match(&facts.places, &row.places)
                || (facts.time - row.last_item_at).abs() > window
            {
                continue;
            }
            let Some(score) = term_overlap(&facts.terms, &row.terms) else {
                continue;
            };
            let better = best
                .is_none_or(|(s, last, _)| score > s || (score == s && row.last_item_at > last));
            if better {
                best = Some((score, row.last_item_at, row.id));
            }
        }
        Ok(best.map(|(_, _, id)| id))
    }

    /// Opens an incident from one item. Returns its id.
    fn open(
        &self,
        tx: &LedgerTx<'_>,
        facts: &ItemFacts,
        now: Timestamp,
    ) -> Result<IncidentId, sled::transaction::ConflictableTransactionError<StoreError>> {
        let id = tx.next_id()?;
        let row = OpenIndexRow {
            id,
            places: facts.places.clone(),
            terms: facts
                .terms
                .iter()
                .take(MAX_INCIDENT_TERMS)
                .cloned()
                .collect(),
            last_item_at: facts.time,
            source_times: vec![(facts.item_ref.source.clone(), facts.time)],
            severity: facts.severity,
        };
        let level = self.detected_level(&row, facts.local);
        let policy = PolicySnapshot::from(&self.config.policy);
        let deadlines = clock::deadlines_for(level, &policy, facts.time, now, &[]);
        let mut incident = Incident {
            id,
            title: facts.title.clone(),
            level,
            detected_level: level,
            status: Status::New,
            topics: facts.topics.clone(),
            unit: facts.unit.clone(),
            places: facts.places.clone(),
            local: facts.local,
            event_at: facts.time,
            opened_at: now,
            updated_at: now,
            items: vec![facts.item_ref.clone()],
            sources: BTreeSet::from([facts.item_ref.source.clone()]),
            terms: row.terms.clone(),
            deadlines,
            policy,
            merged_into: None,
        };
        tx.attach(&facts.item_ref.source, &facts.item_ref.key, id)?;
        tx.audit(&entry(
            id,
            now,
            SYSTEM,
            "opened",
            format!(
                "由 {} 的信息《{}》立案，等级 {}（{}），事发时间 {}",
                facts.item_ref.source,
                facts.title,
                level,
                level.chinese(),
                crate::time::local(facts.time)
            ),
            None,
        ))?;
        self.save_with_row(tx, &mut incident, Some(&row), now)?;
        if level != Level::Watch {
            self.queue_opened(tx, &incident, now)?;
        }
        Ok(id)
    }

    /// Adds an item to an open incident. Returns false when the incident is no longer
    /// open (the caller opens a new one instead).
    fn join(
        &self,
        tx: &LedgerTx<'_>,
        id: IncidentId,
        facts: &ItemFacts,
        now: Timestamp,
    ) -> Result<bool, sled::transaction::ConflictableTransactionError<StoreError>> {
        let Some(mut incident) = tx.incident(id)?.filter(|i| i.status.is_open()) else {
            return Ok(false);
        };
        let mut row = tx
            .open_row(&incident)?
            .unwrap_or_else(|| fallback_row(&incident));
        tx.attach(&facts.item_ref.source, &facts.item_ref.key, id)?;
        if incident.items.contains(&facts.item_ref) {
            return Ok(true);
        }
        let new_source = incident.sources.insert(facts.item_ref.source.clone());
        incident.items.push(facts.item_ref.clone());
        add_source_time(&mut row.source_times, &facts.item_ref.source, facts.time);
        row.last_item_at = row.last_item_at.max(facts.time);
        let old_severity = row.severity;
        row.severity = row.severity.max(facts.severity);
        union_into(&mut row.terms, &facts.terms, MAX_INCIDENT_TERMS);
        union_into(&mut row.places, &facts.places, usize::MAX);
        incident.terms.clone_from(&row.terms);
        union_into(&mut incident.topics, &facts.topics, usize::MAX);
        union_into(&mut incident.places, &facts.places, usize::MAX);
        incident.local |= facts.local;
        if incident.unit.is_none() {
            incident.unit.clone_from(&facts.unit);
        }
        tx.audit(&entry(
            id,
            now,
            SYSTEM,
            "item_added",
            format!(
                "新增{}信息《{}》（来源 {}，共 {} 条、{} 个来源）",
                if new_source { "来源的" } else { "" },
                facts.title,
                facts.item_ref.source,
                incident.items.len(),
                incident.sources.len()
            ),
            None,
        ))?;
        let earlier_event = facts.time < incident.event_at;
        if earlier_event {
            move_event_time(tx, &mut incident, facts.time, SYSTEM, now)?;
        }
        let detected = self.detected_level(&row, incident.local);
        let previous_detected = incident.detected_level;
        incident.detected_level = detected.max(previous_detected);
        if detected.rank() > previous_detected.rank() && detected.rank() > incident.level.rank() {
            let reason = if previous_detected == Level::Watch {
                "出现本辖区的信息".to_string()
            } else if row.severity.rank() > old_severity.rank() {
                "新增信息的等级更高".to_string()
            } else {
                format!(
                    "{} 个来源在 {} 内转载",
                    row.source_times.len(),
                    self.config.policy.spread_window
                )
            };
            self.set_level(tx, &mut incident, detected, SYSTEM, Some(&reason), now)?;
        } else if earlier_event {
            recompute_deadlines(&mut incident);
        }
        self.save_with_row(tx, &mut incident, Some(&row), now)?;
        Ok(true)
    }

    /// Changes the level, recomputes the clocks and audits it. An incident leaving
    /// watch is announced now (watch incidents are recorded without mail).
    fn set_level(
        &self,
        tx: &LedgerTx<'_>,
        incident: &mut Incident,
        level: Level,
        by: &str,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<(), sled::transaction::ConflictableTransactionError<StoreError>> {
        let detail = format!(
            "等级由 {}（{}）调整为 {}（{}）",
            incident.level,
            incident.level.chinese(),
            level,
            level.chinese()
        );
        let was_watch = incident.level == Level::Watch;
        incident.level = level;
        recompute_deadlines(incident);
        tx.audit(&entry(incident.id, now, by, "level", detail, reason))?;
        if was_watch && level != Level::Watch {
            self.queue_opened(tx, incident, now)?;
        }
        Ok(())
    }

    /// Queues the `<id>/opened` notice (once ever: the outbox ignores a known key).
    fn queue_opened(
        &self,
        tx: &LedgerTx<'_>,
        incident: &Incident,
        now: Timestamp,
    ) -> Result<(), sled::transaction::ConflictableTransactionError<StoreError>> {
        tx.outbox().enqueue(&Notice {
            key: format!("{}/opened", incident.id),
            to: self.recipients(
                &[Role::Duty, Role::Propaganda],
                Some(incident.unit.as_deref()),
            ),
            created_at: now,
            kind: NoticeKind::Opened {
                incident: Box::new(incident.clone()),
            },
        })?;
        Ok(())
    }

    /// Closes or dismisses an incident: stops its clocks, takes it off the match index.
    fn finish<'r>(
        &self,
        id: IncidentId,
        status: Status,
        by: &str,
        now: Timestamp,
        describe: impl Fn(&Incident) -> (&'static str, String, Option<&'r str>),
    ) -> Result<Incident, LedgerError> {
        self.commit(|tx| {
            let mut incident = match load_open(tx, id, status_verb(status))? {
                Ok(incident) => incident,
                Err(e) => return Ok(Err(e)),
            };
            let (action, detail, reason) = describe(&incident);
            incident.status = status;
            tx.audit(&entry(id, now, by, action, detail, reason))?;
            self.save(tx, &mut incident, now)?;
            Ok(Ok(incident))
        })
    }

    /// Writes an incident with its current match-index row, and brings its due entries
    /// in line with its deadlines and status.
    fn save(
        &self,
        tx: &LedgerTx<'_>,
        incident: &mut Incident,
        now: Timestamp,
    ) -> Result<(), sled::transaction::ConflictableTransactionError<StoreError>> {
        let row = if incident.status.is_open() {
            Some(
                tx.open_row(incident)?
                    .unwrap_or_else(|| fallback_row(incident)),
            )
        } else {
            None
        };
        self.save_with_row(tx, incident, row.as_ref(), now)
    }

    fn save_with_row(
        &self,
        tx: &LedgerTx<'_>,
        incident: &mut Incident,
        row: Option<&OpenIndexRow>,
        now: Timestamp,
    ) -> Result<(), sled::transaction::ConflictableTransactionError<StoreError>> {
        incident.updated_at = now;
        let open = incident.status.is_open();
        tx.put_incident(incident, row.filter(|_| open))?;
        for milestone in ALL_MILESTONES {
            let running = incident
                .deadline(milestone)
                .filter(|d| open && d.met_at.is_none());
            match running {
                Some(d) => {
                    let wanted = due_entry(incident, d, now);
                    // Keep an entry that already points at the right step: rescheduling
                    // an unchanged clock would re-fire a step that was just sent.
                    let current = tx.scheduled(incident.id, milestone)?;
                    let unchanged = current.is_some_and(|c| {
                        c.step >= wanted.step && c == step_entry(incident, d, c.step)
                    });
                    if !unchanged {
                        tx.schedule(wanted)?;
                    }
                }
                None => {
                    tx.unschedule(incident.id, milestone)?;
                }
            }
        }
        Ok(())
    }
}

/// What one pass of [`Ledger::fire_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FireReport {
    /// Notices queued (a step whose key was queued before is not counted).
    pub queued: usize,
    /// Entries that could not be fired (left in place, logged).
    pub failed: usize,
    /// The limit was reached: more entries may be due.
    pub more: bool,
}

/// What grouping and grading need from one item.
struct ItemFacts {
    item_ref: ItemRef,
    title: String,
    /// Credible publication (not in the future), else detection.
    time: Timestamp,
    severity: Level,
    local: bool,
    topics: Vec<String>,
    places: Vec<String>,
    unit: Option<String>,
    terms: Vec<String>,
}

/// The share of the item's terms found among the incident's, if the two overlap
/// enough to be the same event (see the module docs).
pub fn term_overlap(item_terms: &[String], incident_terms: &[String]) -> Option<f64> {
    let item: BTreeSet<&str> = item_terms.iter().map(String::as_str).collect();
    if item.is_empty() {
        return None;
    }
    let incident: BTreeSet<&str> = incident_terms.iter().map(String::as_str).collect();
    let shared = item.intersection(&incident).count();
    let containment = shared as f64 / item.len() as f64;
    (shared >= JOIN_MIN_SHARED.min(item.len()) && containment >= JOIN_MIN_CONTAINMENT)
        .then_some(containment)
}

/// Same place: a shared place name, or neither names one.
pub fn places_match(a: &[String], b: &[String]) -> bool {
    if a.is_empty() || b.is_empty() {
        return a.is_empty() && b.is_empty();
    }
    a.iter().any(|p| b.contains(p))
}

/// Whether `n` distinct sources first carried the story within `window` of each other.
pub fn spread(source_times: &[(String, Timestamp)], n: u32, window: chrono::Duration) -> bool {
    let n = n as usize;
    if n == 0 || source_times.len() < n {
        return false;
    }
    let mut times: Vec<Timestamp> = source_times.iter().map(|(_, t)| *t).collect();
    times.sort();
    times.windows(n).any(|w| w[n - 1] - w[0] <= window)
}

fn distinct(terms: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(terms.len());
    for t in terms.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    out
}

fn union_into(into: &mut Vec<String>, more: &[String], cap: usize) {
    for m in more {
        if into.len() >= cap {
            break;
        }
        if !into.contains(m) {
            into.push(m.clone());
        }
    }
}

fn add_source_time(times: &mut Vec<(String, Timestamp)>, source: &str, at: Timestamp) {
    match times.iter_mut().find(|(s, _)| s == source) {
        Some((_, t)) => *t = (*t).min(at),
        None => times.push((source.to_string(), at)),
    }
}

/// A match-index row rebuilt from the incident alone (for an index row that is missing).
fn fallback_row(incident: &Incident) -> OpenIndexRow {
    OpenIndexRow {
        id: incident.id,
        places: incident.places.clone(),
        terms: incident.terms.clone(),
        last_item_at: incident.updated_at,
        source_times: incident
            .sources
            .iter()
            .map(|s| (s.clone(), incident.event_at))
            .collect(),
        severity: incident.detected_level.max(Level::IV),
    }
}

/// The due entry for an unmet deadline at `now` (catch-up rule: the latest step whose
/// time has come, else the first).
fn due_entry(incident: &Incident, deadline: &Deadline, now: Timestamp) -> DueEntry {
    step_entry(
        incident,
        deadline,
        clock::step_to_schedule(&incident.policy, deadline, now),
    )
}

fn step_entry(incident: &Incident, deadline: &Deadline, step: u32) -> DueEntry {
    DueEntry::new(
        clock::step_at(&incident.policy, deadline, step),
        incident.id,
        deadline.milestone,
        step,
    )
}

fn recompute_deadlines(incident: &mut Incident) {
    incident.deadlines = clock::deadlines_for(
        incident.level,
        &incident.policy,
        incident.event_at,
        incident.opened_at,
        &incident.deadlines,
    );
}

fn move_event_time(
    tx: &LedgerTx<'_>,
    incident: &mut Incident,
    event_at: Timestamp,
    by: &str,
    now: Timestamp,
) -> Result<(), sled::transaction::ConflictableTransactionError<StoreError>> {
    let detail = format!(
        "事发时间由 {} 提前为 {}（更早的可信发布时间），时限随之重算",
        crate::time::local(incident.event_at),
        crate::time::local(event_at)
    );
    incident.event_at = event_at;
    tx.audit(&entry(incident.id, now, by, "event_time", detail, None))
}

fn record_ack(
    tx: &LedgerTx<'_>,
    incident: &mut Incident,
    by: &str,
    at: Timestamp,
    now: Timestamp,
    note: Option<&str>,
    what: &str,
) -> Result<(), sled::transaction::ConflictableTransactionError<StoreError>> {
    tx.set_ack_record(incident.id, by, at)?;
    let mut detail = what.to_string();
    if let Some(d) = incident
        .deadlines
        .iter_mut()
        .find(|d| d.milestone == Milestone::Ack)
    {
        d.met_at = Some(at);
        detail.push_str(&format!("（{}）", timing(d)));
    }
    if incident.status == Status::New {
        incident.status = Status::Acknowledged;
    }
    detail.push_str(&note_suffix(note));
    tx.audit(&entry(incident.id, now, by, "ack", detail, None))
}

/// Loads an incident that must be open for `what`, or says why not.
fn load_open(
    tx: &LedgerTx<'_>,
    id: IncidentId,
    what: &str,
) -> Result<Outcome<Incident>, sled::transaction::ConflictableTransactionError<StoreError>> {
    let Some(incident) = tx.incident(id)? else {
        return Ok(Err(LedgerError::NotFound(id)));
    };
    if incident.status.is_open() {
        return Ok(Ok(incident));
    }
    let why = match (incident.status, incident.merged_into) {
        (Status::Merged, Some(into)) => format!("已并入事件 {into}，请对事件 {into} 操作"),
        // Repeating the same final step is not a mistake worth a "cannot".
        (status, _) if status_verb(status) == what => {
            return Ok(Err(LedgerError::NotAllowed(format!(
                "事件 {id} 已{what}，无需重复{what}"
            ))));
        }
        (status, _) => status.chinese().to_string(),
    };
    Ok(Err(LedgerError::NotAllowed(format!(
        "事件 {id} {why}，不能{what}"
    ))))
}

fn status_verb(status: Status) -> &'static str {
    match status {
        Status::Dismissed => "判为误报",
        _ => "办结",
    }
}

fn required<'a>(value: &'a str, what: &str) -> Result<&'a str, LedgerError> {
    let value = value.trim();
    if value.is_empty() {
        Err(LedgerError::NotAllowed(format!("{what}，不能为空")))
    } else {
        Ok(value)
    }
}

fn note_suffix(note: Option<&str>) -> String {
    note.map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| format!("；备注：{n}"))
        .unwrap_or_default()
}

fn timing(d: &Deadline) -> String {
    match (d.met_at, d.on_time()) {
        (Some(met), Some(false)) => format!("超时 {}", crate::time::span(met - d.due_at)),
        _ => "按时".to_string(),
    }
}

fn entry(
    incident: IncidentId,
    at: Timestamp,
    by: &str,
    action: &str,
    detail: String,
    reason: Option<&str>,
) -> AuditEntry {
    AuditEntry {
        incident,
        at,
        by: by.to_string(),
        action: action.to_string(),
        detail,
        reason: reason.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn term_overlap_threshold() {
        let incident = terms(&["化工厂", "爆炸", "景芝镇", "起火", "消防", "伤亡"]);
        // (item terms, expected containment or None when it does not join)
        let table: [(&[&str], Option<f64>); 7] = [
            (&["化工厂", "爆炸", "景芝镇", "起火"], Some(1.0)),
            (&["化工厂", "爆炸", "救援", "医院"], Some(0.5)),
            (&["化工厂", "爆炸", "救援", "医院", "道路"], None), // 2/5 < 0.5
            (&["化工厂", "招聘", "工资"], None),                 // 1 shared < 2
            (&["爆炸"], Some(1.0)),                              // one term, shared
            (&["地震"], None),
            (&[], None),
        ];
        for (item, expected) in table {
            assert_eq!(term_overlap(&terms(item), &incident), expected, "{item:?}");
        }
        // Repeated terms count once.
        assert_eq!(
            term_overlap(&terms(&["爆炸", "爆炸", "化工厂"]), &incident),
            Some(1.0)
        );
    }

    #[test]
    fn places_match_rule() {
        let table: [(&[&str], &[&str], bool); 5] = [
            (&[], &[], true),
            (&["景芝镇"], &["景芝镇"], true),
            (&["景芝镇", "安丘市"], &["安丘市"], true),
            (&["景芝镇"], &["兴安街道"], false),
            (&["景芝镇"], &[], false),
        ];
        for (a, b, expected) in table {
            assert_eq!(places_match(&terms(a), &terms(b)), expected, "{a:?} {b:?}");
            assert_eq!(places_match(&terms(b), &terms(a)), expected, "{b:?} {a:?}");
        }
    }

    #[test]
    fn spread_needs_n_sources_within_the_window() {
        let t0: Timestamp = "2026-11-24T00:00:00Z".parse().unwrap();
        let h = chrono::Duration::hours;
        let at = |hours: &[i64]| -> Vec<(String, Timestamp)> {
            hours
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("s{i}"), t0 + h(*x)))
                .collect()
        };
        let table: [(&[i64], u32, bool); 6] = [
            (&[0, 1, 2], 3, true),
            (&[0, 4, 8], 3, false),
            (&[0, 4, 8, 9], 3, true), // 4, 8, 9 fit in 6 h
            (&[0, 1], 3, false),
            (&[0, 1, 2], 0, false), // 0: never
            (&[5, 0, 1], 3, true),  // order does not matter
        ];
        for (hours, n, expected) in table {
            assert_eq!(spread(&at(hours), n, h(6)), expected, "{hours:?} n={n}");
        }
    }
}
