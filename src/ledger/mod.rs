//! The ledger (台账): incidents opened from flagged items, their lifecycle and
//! their audit trail. Every operation is one store transaction that changes the
//! incident, appends its audit entry, updates the due index and queues the mails
//! the change causes, together or not at all.
//!
//! The work is split by job: [`grouping`] (which incident an item joins, and its
//! level), [`lifecycle`] (签收 … 合并, each audited), [`routing`] (who gets which
//! mail), [`audit`] (audit entries). Deadline firing lives in `crate::clock`.
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

use std::sync::{Arc, Mutex};

use crate::clock::{self, due_entry, step_entry};
use crate::config::Config;
use crate::model::{AuditEntry, Incident, IncidentId, Item, Level, Milestone, Timestamp};
use crate::store::{
    Abort, EffectDue, LedgerTx, ListFilter, OpenIndexRow, Store, StoreError, TxResult,
};
use audit::entry;

pub mod audit;
pub mod effect;
pub mod grouping;
pub mod lifecycle;
pub mod responses;
pub mod routing;

pub use audit::SYSTEM;
pub use grouping::{
    IngestOutcome, JOIN_MIN_CONTAINMENT, JOIN_MIN_SHARED, MAX_INCIDENT_TERMS, places_match,
    shared_terms, spread, term_overlap,
};
pub use lifecycle::AckOutcome;
pub use responses::Responded;
pub use routing::Routing;

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

impl From<LedgerError> for Abort<LedgerError> {
    fn from(e: LedgerError) -> Abort<LedgerError> {
        Abort::Refused(e)
    }
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

impl Ledger {
    pub fn new(store: Store, config: Arc<Config>, wake: Arc<tokio::sync::Notify>) -> Ledger {
        Ledger {
            store,
            config,
            wake,
            ingest_lock: Arc::new(Mutex::new(())),
        }
    }

    /// Who gets which mail, under this ledger's configuration.
    pub fn routing(&self) -> Routing<'_> {
        Routing::new(&self.config)
    }

    /// Writes every change so far to disk. Call before telling anyone about a change.
    pub async fn flush(&self) -> Result<(), LedgerError> {
        Ok(self.store.flush().await?)
    }

    /// Open incidents (all with `all`), soonest unmet deadline first; incidents without
    /// a running clock after them, newest first.
    pub fn list(&self, all: bool) -> Result<Vec<Incident>, LedgerError> {
        Ok(self
            .list_page(&ListFilter {
                all,
                ..ListFilter::default()
            })?
            .0)
    }

    /// The incidents `filter` selects, in list order (see [`ListFilter`]), and how many
    /// matched before its limit. Filters and order come from the list index; only the
    /// returned incidents are read in full.
    pub fn list_page(&self, filter: &ListFilter) -> Result<(Vec<Incident>, usize), LedgerError> {
        let page = self.store.list_incidents(filter)?;
        let mut list = Vec::with_capacity(page.ids.len());
        for id in page.ids {
            match self.store.incident(id)? {
                Some(incident) => list.push(incident),
                None => tracing::warn!(incident = id, "the list index names a missing incident"),
            }
        }
        Ok((list, page.total))
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

    /// The `Notify` the deadline task waits on (the one given to [`Ledger::new`]).
    pub fn deadline_wake(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// The open incidents, read through the match index one at a time (a caller
    /// that walks them holds one in memory, not the whole open ledger).
    pub(crate) fn open_incidents(
        &self,
    ) -> Result<impl Iterator<Item = Result<Incident, LedgerError>> + '_, LedgerError> {
        let ids = self.store.open_incident_ids()?;
        Ok(ids
            .into_iter()
            .filter_map(move |id| match self.store.incident(id) {
                Ok(Some(incident)) if incident.status.is_open() => Some(Ok(incident)),
                Ok(_) => {
                    tracing::warn!(
                        incident = id,
                        "the open index names a missing or finished incident"
                    );
                    None
                }
                Err(e) => Some(Err(e.into())),
            }))
    }

    /// Runs a ledger transaction and wakes the deadline task (the store wakes the outbox worker).
    pub(crate) fn commit<T>(
        &self,
        f: impl Fn(&LedgerTx<'_>) -> Result<T, Abort<LedgerError>>,
    ) -> Result<T, LedgerError> {
        let result = self.store.ledger_tx(f);
        if result.is_ok() {
            self.wake.notify_one();
        }
        result
    }

    /// Writes an incident with its current match-index row, and brings its due entries
    /// in line with its deadlines and status.
    fn save(&self, tx: &LedgerTx<'_>, incident: &mut Incident, now: Timestamp) -> TxResult<()> {
        let row = if incident.status.is_open() {
            Some(
                tx.open_row(incident)?
                    .unwrap_or_else(|| grouping::fallback_row(incident)),
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
    ) -> TxResult<()> {
        self.write_incident(tx, incident, row, now, false)
    }

    /// [`Ledger::save_with_row`] for an incident opened in this transaction (its id
    /// fresh from `next_id`): it has no 签收, no clock, effect evaluation or
    /// watch-expiry entry yet, so none is read or removed (each such read is a tree
    /// lookup, each removal a write at commit).
    fn save_new(
        &self,
        tx: &LedgerTx<'_>,
        incident: &mut Incident,
        row: &OpenIndexRow,
        now: Timestamp,
    ) -> TxResult<()> {
        self.write_incident(tx, incident, Some(row), now, true)
    }

    fn write_incident(
        &self,
        tx: &LedgerTx<'_>,
        incident: &mut Incident,
        row: Option<&OpenIndexRow>,
        now: Timestamp,
        new: bool,
    ) -> TxResult<()> {
        incident.updated_at = now;
        let acknowledged = !new && tx.ack_record(incident.id)?.is_some();
        incident.settle_status(acknowledged);
        let open = incident.status.is_open();
        tx.put_incident(incident, row.filter(|_| open))?;
        let expiry = self.watch_expiry_at(incident, row);
        let current = if new {
            None
        } else {
            tx.watch_expiry(incident.id)?
        };
        if current != expiry {
            tx.set_watch_expiry(incident.id, expiry)?;
        }
        for milestone in ALL_MILESTONES {
            let running = incident
                .deadline(milestone)
                .filter(|d| open && d.met_at.is_none());
            match running {
                Some(d) if new => tx.schedule_first(due_entry(incident, d, now))?,
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
                None if new => {}
                None => {
                    tx.unschedule(incident.id, milestone)?;
                }
            }
        }
        if new && clock::effect::evaluation_at(incident).is_none() {
            return Ok(());
        }
        sync_effect(tx, incident)
    }
}

impl Ledger {
    /// When an open watch incident is filed: `[policy] watch_expiry` after its latest
    /// item (whole milliseconds, the index's resolution); `None` for any other incident.
    fn watch_expiry_at(
        &self,
        incident: &Incident,
        row: Option<&OpenIndexRow>,
    ) -> Option<Timestamp> {
        (incident.status.is_open() && incident.level == Level::Watch).then(|| {
            let last = row.map_or(incident.opened_at, |r| r.last_item_at);
            chrono::Duration::from_std(self.config.policy.watch_expiry.0)
                .ok()
                .and_then(|d| last.checked_add_signed(d))
                .and_then(|at| Timestamp::from_timestamp_millis(at.timestamp_millis()))
                .unwrap_or(Timestamp::MAX_UTC)
        })
    }

    /// Puts an open watch incident that has no filing time (one opened by an older
    /// build) on the watch-expiry index. Returns whether it was added.
    pub(crate) fn repair_watch_expiry(&self, id: IncidentId) -> Result<bool, LedgerError> {
        self.commit(|tx| {
            if tx.watch_expiry(id)?.is_some() {
                return Ok(false);
            }
            let Some(incident) = tx.incident(id)? else {
                return Ok(false);
            };
            let row = tx.open_row(&incident)?;
            let Some(at) = self.watch_expiry_at(&incident, row.as_ref()) else {
                return Ok(false);
            };
            tx.set_watch_expiry(id, Some(at))?;
            Ok(true)
        })
    }
}

/// Brings an incident's 效果评估 entry of the due index in line with its first
/// response (scheduled at its end, or dropped: see `clock::effect::evaluation_at`).
fn sync_effect(tx: &LedgerTx<'_>, incident: &Incident) -> TxResult<()> {
    match clock::effect::evaluation_at(incident) {
        Some(at) => {
            let wanted = EffectDue::new(at, incident.id);
            if tx.effect_scheduled(incident.id)? != Some(wanted) {
                tx.schedule_effect(wanted)?;
            }
        }
        None => {
            tx.unschedule_effect(incident.id)?;
        }
    }
    Ok(())
}

/// Recomputes the unmet deadlines after a change of level or event time.
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
) -> TxResult<()> {
    let detail = format!(
        "事发时间由 {} 提前为 {}（更早的可信发布时间），时限随之重算",
        crate::time::local(incident.event_at),
        crate::time::local(event_at)
    );
    incident.event_at = event_at;
    tx.audit(&entry(incident.id, now, by, "event_time", detail, None))
}
