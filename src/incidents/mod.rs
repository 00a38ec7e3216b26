//! The ledger (台账): incidents opened from flagged items, their lifecycle and
//! their audit trail. Every operation is one store transaction that changes the
//! incident, appends its audit entry, updates the due index and queues the mails
//! the change causes, together or not at all.
//!
//! INTERFACE DRAFT — the signatures below are the contract the control API, the
//! CLI and the digest are written against. Bodies are being implemented.

use std::sync::Arc;

use crate::config::Config;
use crate::model::{AuditEntry, Incident, IncidentId, Item, Level, Milestone, Timestamp};
use crate::store::{Store, StoreError};

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
}

impl Ledger {
    pub fn new(store: Store, config: Arc<Config>, wake: Arc<tokio::sync::Notify>) -> Ledger {
        Ledger {
            store,
            config,
            wake,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A classified, flagged item opens an incident or joins one about the same event.
    /// Unflagged items are ignored (`Ok(None)`).
    pub fn ingest(
        &self,
        item: &Item,
        now: Timestamp,
    ) -> Result<Option<IngestOutcome>, LedgerError> {
        let _ = (item, now, &self.config, &self.wake);
        todo!("ledger helper")
    }

    /// Open incidents (all with `all`), soonest unmet deadline first.
    pub fn list(&self, all: bool) -> Result<Vec<Incident>, LedgerError> {
        let _ = all;
        todo!("ledger helper")
    }

    pub fn get(&self, id: IncidentId) -> Result<Incident, LedgerError> {
        let _ = id;
        todo!("ledger helper")
    }

    /// The incident's audit trail, oldest first.
    pub fn audit(&self, id: IncidentId) -> Result<Vec<AuditEntry>, LedgerError> {
        let _ = id;
        todo!("ledger helper")
    }

    /// The incident's items, oldest first.
    pub fn items_of(&self, id: IncidentId) -> Result<Vec<Item>, LedgerError> {
        let _ = id;
        todo!("ledger helper")
    }

    /// 签收. Repeating it succeeds with `AlreadyAcknowledged`; both are audited.
    pub fn ack(
        &self,
        id: IncidentId,
        by: &str,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<AckOutcome, LedgerError> {
        let _ = (id, by, note, now);
        todo!("ledger helper")
    }

    /// Records a milestone met at `at` (≤ now). Not allowed on closed, dismissed or
    /// merged incidents, nor for a milestone the incident's level does not have.
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
        let _ = (id, milestone, by, url, note, at, now);
        todo!("ledger helper")
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
        let _ = (id, level, by, reason, now);
        todo!("ledger helper")
    }

    /// Change the responsible unit.
    pub fn assign(
        &self,
        id: IncidentId,
        unit: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let _ = (id, unit, by, now);
        todo!("ledger helper")
    }

    /// 办结: stops every notice.
    pub fn close(
        &self,
        id: IncidentId,
        by: &str,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let _ = (id, by, note, now);
        todo!("ledger helper")
    }

    /// 误报: stops every notice.
    pub fn dismiss(
        &self,
        id: IncidentId,
        by: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let _ = (id, by, reason, now);
        todo!("ledger helper")
    }

    /// Folds `id` into `into` (items, sources, heat); `id` becomes merged. Returns the target.
    pub fn merge(
        &self,
        id: IncidentId,
        into: IncidentId,
        by: &str,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let _ = (id, into, by, now);
        todo!("ledger helper")
    }
}
