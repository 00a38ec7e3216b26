//! Deadline firing: turns due entries of the due index into queued notices. Each
//! entry fires in one ledger transaction that queues its notice, removes the entry
//! and schedules the clock's next step (see the catch-up rule in [`crate::clock`]).
//! The same pass files the watch (关注) incidents whose `[policy] watch_expiry` has
//! passed without a new item (the store's watch-expiry index, kept by the ledger).
//! The dependency runs one way: the clock reads and writes through the ledger and
//! the store; the ledger never calls back into this module or the task.

use super::{StepKind, due_entry, step_entry};
use crate::ledger::{Ledger, LedgerError};
use crate::model::{Incident, Level, Milestone, Notice, NoticeKind, Timestamp};
use crate::store::{DueEntry, LedgerTx, Store, TxResult};

/// What one pass of [`Deadlines::fire_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FireReport {
    /// Notices queued (a step whose key was queued before is not counted), and effect
    /// evaluations recorded.
    pub queued: usize,
    /// Watch incidents filed after `[policy] watch_expiry` without a new item.
    pub filed: usize,
    /// Entries that could not be fired (left in place, logged).
    pub failed: usize,
    /// The limit was reached: more entries may be due.
    pub more: bool,
}

/// The running clocks of the ledger: the due index in the store, fired through the ledger.
#[derive(Clone)]
pub struct Deadlines {
    store: Store,
    ledger: Ledger,
}

impl Deadlines {
    /// `store` must be the store `ledger` was built on.
    pub fn new(store: Store, ledger: Ledger) -> Deadlines {
        Deadlines { store, ledger }
    }

    /// When the next thing is due: the earliest entry of the due index (a clock's next
    /// notice or an effect evaluation), or the earliest watch incident to be filed.
    pub fn next_at(&self) -> Result<Option<Timestamp>, LedgerError> {
        let due = self.store.due_first_at()?;
        let watch = self.store.watch_expiry_first()?;
        Ok(due.into_iter().chain(watch).min())
    }

    /// How many clocks are scheduled.
    pub fn len(&self) -> usize {
        self.store.due_len()
    }

    /// Whether no clock is scheduled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `Notify` the deadline task waits on: the ledger wakes it after each change.
    pub fn wake(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.ledger.deadline_wake()
    }

    /// Fires the due notices at or before `now`, at most `limit` of them, earliest first
    /// (see `crate::clock` for the catch-up rule). For each entry the notice is queued,
    /// the entry removed and the clock's next step scheduled together. The whole batch
    /// is one transaction: after downtime thousands of entries are due at once, and a
    /// transaction per entry costs more than the work in it. When the batch fails, each
    /// entry fires in its own transaction, so a broken entry is logged and left in place
    /// and the others still fire.
    pub fn fire_due(&self, now: Timestamp, limit: usize) -> Result<FireReport, LedgerError> {
        let mut report = FireReport::default();
        let entries = self.store.due_until(now, limit)?;
        // No empty transaction: a committed one wakes the deadline task again.
        let batch = if entries.is_empty() {
            Ok(0)
        } else {
            self.ledger.commit(|tx| {
                let mut queued = 0;
                for &entry in &entries {
                    queued += usize::from(self.fire_in(tx, entry, now)?);
                }
                Ok(queued)
            })
        };
        match batch {
            Ok(queued) => report.queued += queued,
            Err(err) => {
                tracing::warn!(entries = entries.len(), error = %err,
                    "a batch of due notices failed; firing them one at a time");
                for &entry in &entries {
                    match self.ledger.commit(|tx| Ok(self.fire_in(tx, entry, now)?)) {
                        Ok(true) => report.queued += 1,
                        Ok(false) => {}
                        Err(err) => {
                            tracing::error!(incident = entry.incident, milestone = %entry.milestone,
                                error = %err, "could not fire a due notice; will retry");
                            report.failed += 1;
                        }
                    }
                }
            }
        }
        report.more = entries.len() == limit && report.failed < entries.len();
        // Watch incidents due to be filed, in the same pass.
        let expired = self.store.watch_expiries(now, limit)?;
        let mut not_filed = 0;
        for &(_, id) in &expired {
            match self.ledger.file_expired_watch(id, now) {
                Ok(true) => report.filed += 1,
                Ok(false) => {}
                Err(err) => {
                    tracing::error!(incident = id, error = %err,
                        "could not file an expired watch incident; will retry");
                    not_filed += 1;
                }
            }
        }
        report.failed += not_filed;
        report.more |= expired.len() == limit && not_filed < expired.len();
        let effects = super::evaluate::fire_due(&self.store, &self.ledger, now, limit)?;
        report.queued += effects.queued;
        report.failed += effects.failed;
        report.more |= effects.more;
        Ok(report)
    }

    /// Makes sure every running clock and the effect evaluation of every open answered
    /// incident have their entry in the due index, and every open watch incident its
    /// filing time (run at start: the indexes are persisted, this only repairs what an
    /// older build or a damaged index may lack). Returns how many were scheduled anew.
    pub fn repair_schedule(&self, now: Timestamp) -> Result<usize, LedgerError> {
        let mut repaired = 0;
        for incident in self.ledger.open_incidents()? {
            let incident = incident?;
            if incident.level == Level::Watch && self.ledger.repair_watch_expiry(incident.id)? {
                tracing::warn!(
                    incident = incident.id,
                    "a watch incident had no filing time; scheduled it"
                );
                repaired += 1;
            }
            if super::effect::evaluation_at(&incident).is_some()
                && self.ledger.repair_effect_schedule(incident.id)?
            {
                tracing::warn!(
                    incident = incident.id,
                    "an answered incident had no effect evaluation; scheduled it"
                );
                repaired += 1;
            }
            for d in incident.deadlines.iter().filter(|d| d.met_at.is_none()) {
                if self.store.is_clock_scheduled(incident.id, d.milestone)? {
                    continue;
                }
                let added = self.ledger.commit(|tx| {
                    if tx.scheduled(incident.id, d.milestone)?.is_some() {
                        return Ok(false);
                    }
                    tx.schedule(due_entry(&incident, d, now))?;
                    Ok(true)
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

    /// Fires one due entry inside `tx`: whether a notice was queued.
    fn fire_in(&self, tx: &LedgerTx<'_>, entry: DueEntry, now: Timestamp) -> TxResult<bool> {
        if !tx.is_scheduled(&entry)? {
            return Ok(false);
        }
        let incident = match tx.incident(entry.incident)? {
            Some(i) if i.status.is_open() => i,
            _ => {
                tx.unschedule(entry.incident, entry.milestone)?;
                return Ok(false);
            }
        };
        let Some(deadline) = incident
            .deadline(entry.milestone)
            .filter(|d| d.met_at.is_none())
        else {
            tx.unschedule(entry.incident, entry.milestone)?;
            return Ok(false);
        };
        let policy = &incident.policy;
        let Some(current) = super::current_step(policy, deadline, now) else {
            // The deadline moved later since this entry was written.
            tx.schedule(due_entry(&incident, deadline, now))?;
            return Ok(false);
        };
        let step = current.max(entry.step);
        // An overdue notice says how many its recipients have had for this clock,
        // counting those queued, not the repeat periods elapsed (the key's number).
        let overdue = match super::step_kind(policy, step) {
            StepKind::Overdue { .. } => Some(tx.overdue_count(incident.id, entry.milestone)? + 1),
            StepKind::Fraction { .. } => None,
        };
        let notice = self.step_notice(&incident, entry.milestone, step, overdue, now);
        let queued = tx.outbox().enqueue(&notice)?;
        if let (true, Some(n)) = (queued, overdue) {
            tx.set_overdue_count(incident.id, entry.milestone, n)?;
        }
        let next = step.saturating_add(1);
        tx.schedule(step_entry(&incident, deadline, next))?;
        Ok(queued)
    }

    fn step_notice(
        &self,
        incident: &Incident,
        milestone: Milestone,
        step: u32,
        overdue_number: Option<u32>,
        now: Timestamp,
    ) -> Notice {
        let kind = super::step_kind(&incident.policy, step);
        let boxed = Box::new(incident.clone());
        let kind_value = match kind {
            StepKind::Fraction {
                percent,
                escalation,
            } => NoticeKind::Reminder {
                incident: boxed,
                milestone,
                percent,
                escalation,
            },
            StepKind::Overdue { repeat } => NoticeKind::Overdue {
                incident: boxed,
                milestone,
                repeat: overdue_number.unwrap_or(repeat),
            },
        };
        Notice {
            key: kind.notice_key(incident.id, milestone).into(),
            to: self.ledger.routing().step(incident, kind),
            created_at: now,
            kind: kind_value,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;
    use crate::model::{Classification, Item};

    fn item(i: usize, now: Timestamp) -> Item {
        Item {
            title: format!("事件{i}"),
            classification: Some(Classification {
                flag: true,
                // One topic per item: one incident each.
                topics: vec![format!("topic{i}")],
                severity: Some(Level::IV),
                local: true,
                ..Default::default()
            }),
            ..Item::bare("test", &format!("k{i}"), now)
        }
    }

    #[test]
    fn a_damaged_incident_does_not_hold_back_the_rest_of_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("feeds.toml"), "").unwrap();
        let text = "[policy]\nack = \"30m\"\nspread_sources = 0\n";
        let config = Arc::new(Config::from_str(text, None, dir.path()).unwrap());
        let store = Store::open(dir.path()).unwrap();
        let ledger = Ledger::new(store.clone(), config, Arc::default());
        let start = chrono::Utc::now();
        let terms = vec!["事故".to_string()];
        for i in 0..3 {
            ledger.ingest(&item(i, start), &terms, start).unwrap();
        }
        let deadlines = Deadlines::new(store.clone(), ledger);
        let later = start + chrono::Duration::hours(3);
        let due = |at| store.due_until(at, 100).unwrap();
        let damaged = due(later)[1].incident;
        store.damage_incident(damaged);

        let report = deadlines.fire_due(later, 256).unwrap();
        // The batch failed on the damaged record; the other two fired one at a time.
        assert_eq!((report.queued, report.failed, report.more), (2, 1, false));
        // The damaged incident's entry stays due, to be retried; the others moved on.
        let left = due(later);
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].incident, damaged);
    }
}
