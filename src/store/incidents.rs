//! The ledger's trees: incidents, their audit trail, the due index of running
//! clocks, the open-incident match index, item attachments and the id counter.
//!
//! Every ledger change runs in one [`LedgerTx`]: a sled transaction over these trees,
//! the outbox and the change index, so an incident change, its audit entry, its
//! schedule, the mails it causes and its stamp in the change index (every incident a
//! writer touched, once, when the body ends: [`super::changes`]) commit together or not
//! at all.
//!
//! Layouts (numbers big-endian, so byte order is numeric order):
//! - `incidents`: `id` → [`Incident`] with only its first item (the one that opened
//!   it, with the lead): the head, whose size does not grow as items join
//! - `incident_audit`: `id ‖ seq` → [`AuditEntry`] (append-only; `seq` grows)
//! - `incident_due`: `due_ms ‖ id ‖ milestone ‖ step` → empty: the next notice of each
//!   running clock, earliest first ([`DueEntry`])
//!   and `due_ms ‖ id ‖ 0xFF` → empty: the 效果评估 of an incident, due when its
//!   window ends ([`EffectDue`]; the shorter key tells the two apart)
//! - `incident_due_rev`: `id ‖ milestone` → the `incident_due` key of that clock;
//!   `id ‖ 0xFF` → the key of its effect evaluation
//! - `incident_open`: `primary topic \0 id` → [`OpenIndexRow`], for open incidents only
//! - `incident_items`: `source \0 key` → `id`: which incident an item is attached to;
//!   beside them (UTF-8 never has the bytes 0xFE and 0xFF, so no attachment key starts
//!   with them) an incident's later items: `0xFF ‖ id ‖ seq u32` → [`ItemRef`] for
//!   seq 1, 2, … in the order they joined, and `0xFE ‖ id` → u32, how many items it
//!   has in all (absent: one, the first, in the head). Opening an incident writes no
//!   such key; joining writes one and the count, however many items the incident has
//!   (data format 3; format 2 kept every item inside the incident record, moved out at
//!   open by [`Store::ensure_incident_item_keys`])
//! - `incident_meta`: `next_id` → u64; `ack \0 id` → (who, when) of the 签收;
//!   `overdue \0 id ‖ milestone` → u32, the overdue notices queued for a clock;
//!   `wexp \0 ms ‖ id` → empty and `wexr \0 id` → ms: when an open watch incident is
//!   filed unless a new item comes (`[policy] watch_expiry`)
//! - `incident_summary`, `incident_open_when`: the list, grouping and response-match
//!   indexes ([`super::ledger_index`])

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::TransactionalTree;

mod sources;

use sources::SourceKeys;
pub use sources::{SourceJoin, SourcePlacement};

use super::ledger_index::{self, IncidentSummary, MatchRow};
use super::tx::{self, Abort, TxResult};
use super::{OutboxTx, Result, Store, StoreError, decode, encode};
use crate::model::{
    AuditEntry, Deadline, Incident, IncidentId, ItemRef, Level, Milestone, Timestamp,
};

pub(super) const NEXT_ID: &[u8] = b"next_id";

/// The first byte of an incident's item keys and of its item count in
/// `incident_items` (see the module docs).
const ITEM_REF: u8 = 0xFF;
const ITEM_COUNT: u8 = 0xFE;

/// The `meta` key that records that incidents keep their items under keys of their own
/// (absent in a database written before: [`Store::ensure_incident_item_keys`]).
const ITEM_KEYS_VERSION_KEY: &[u8] = b"incident_item_keys";

/// The `meta` key that records that incidents keep their sources under keys of their
/// own (absent in a database written before: [`Store::ensure_incident_source_keys`]).
const SOURCE_KEYS_VERSION_KEY: &[u8] = b"incident_source_keys";

fn item_ref_prefix(id: IncidentId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = ITEM_REF;
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

fn item_ref_key(id: IncidentId, seq: u32) -> [u8; 13] {
    let mut k = [0u8; 13];
    k[..9].copy_from_slice(&item_ref_prefix(id));
    k[9..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn item_count_key(id: IncidentId) -> [u8; 9] {
    let mut k = item_ref_prefix(id);
    k[0] = ITEM_COUNT;
    k
}

/// Writes the item keys of `incident`'s items from `stored` on (those beyond the ones
/// already written) and its item count.
fn write_later_items(
    attached: &TransactionalTree,
    incident: &Incident,
    stored: usize,
) -> TxResult<()> {
    let id = incident.id;
    if incident.items.len() <= stored.max(1) {
        return Ok(());
    }
    for (seq, item) in (0u32..).zip(&incident.items).skip(stored.max(1)) {
        attached.insert(&item_ref_key(id, seq), encode(item))?;
    }
    let count = u32::try_from(incident.items.len()).unwrap_or(u32::MAX);
    attached.insert(&item_count_key(id), &count.to_be_bytes())?;
    Ok(())
}

/// The incident's record with its first item only and without its sources (the later
/// items and the sources have keys of their own).
fn head_bytes(incident: &Incident) -> Vec<u8> {
    if incident.items.len() <= 1 && incident.sources.is_empty() {
        encode(incident)
    } else {
        let mut head = Incident {
            items: Vec::new(),
            sources: Default::default(),
            ..incident.clone()
        };
        head.items.extend(incident.items.first().cloned());
        encode(&head)
    }
}

/// The ledger trees, opened by [`Store`].
#[derive(Clone)]
pub(super) struct LedgerTrees {
    pub(super) incidents: sled::Tree,
    pub(super) audit: sled::Tree,
    pub(super) due: sled::Tree,
    pub(super) due_rev: sled::Tree,
    pub(super) open: sled::Tree,
    pub(super) attached: sled::Tree,
    pub(super) meta: sled::Tree,
    pub(super) summary: sled::Tree,
    pub(super) when: sled::Tree,
}

impl LedgerTrees {
    pub(super) fn open(db: &sled::Db) -> Result<LedgerTrees> {
        Ok(LedgerTrees {
            incidents: db.open_tree("incidents")?,
            audit: db.open_tree("incident_audit")?,
            due: db.open_tree("incident_due")?,
            due_rev: db.open_tree("incident_due_rev")?,
            open: db.open_tree("incident_open")?,
            attached: db.open_tree("incident_items")?,
            meta: db.open_tree("incident_meta")?,
            summary: db.open_tree("incident_summary")?,
            when: db.open_tree("incident_open_when")?,
        })
    }

    /// Every ledger tree: what `import --force` clears. A tree added to the ledger is
    /// added here too (and to `ledger_tx`'s transaction).
    pub(super) fn all(&self) -> [&sled::Tree; 9] {
        [
            &self.incidents,
            &self.audit,
            &self.due,
            &self.due_rev,
            &self.open,
            &self.attached,
            &self.meta,
            &self.summary,
            &self.when,
        ]
    }

    pub(super) fn summary_tree(&self) -> &sled::Tree {
        &self.summary
    }

    pub(super) fn when_tree(&self) -> &sled::Tree {
        &self.when
    }

    pub(super) fn open_tree(&self) -> &sled::Tree {
        &self.open
    }

    /// For the audit chain's checks ([`super::audit_chain`]).
    pub(super) fn audit_tree(&self) -> &sled::Tree {
        &self.audit
    }

    pub(super) fn incidents_tree(&self) -> &sled::Tree {
        &self.incidents
    }
}

/// One entry of the due index: the next notice of one running clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DueEntry {
    /// Whole milliseconds (the key's resolution); [`DueEntry::new`] rounds up, so an
    /// entry never fires before its step's exact time.
    pub at: Timestamp,
    pub incident: IncidentId,
    pub milestone: Milestone,
    /// The step index (see `crate::clock`).
    pub step: u32,
}

const DUE_KEY_LEN: usize = 8 + 8 + 1 + 4;

impl DueEntry {
    pub fn new(at: Timestamp, incident: IncidentId, milestone: Milestone, step: u32) -> DueEntry {
        let sub_ms = i64::from(at.timestamp_subsec_nanos() % 1_000_000);
        let at = if sub_ms == 0 {
            at
        } else {
            at.checked_add_signed(chrono::Duration::nanoseconds(1_000_000 - sub_ms))
                .unwrap_or(at)
        };
        DueEntry {
            at,
            incident,
            milestone,
            step,
        }
    }

    fn key(&self) -> [u8; DUE_KEY_LEN] {
        let mut k = [0u8; DUE_KEY_LEN];
        let ms = u64::try_from(self.at.timestamp_millis()).unwrap_or(0);
        k[..8].copy_from_slice(&ms.to_be_bytes());
        k[8..16].copy_from_slice(&self.incident.to_be_bytes());
        k[16] = milestone_byte(self.milestone);
        k[17..].copy_from_slice(&self.step.to_be_bytes());
        k
    }

    fn from_key(k: &[u8]) -> Option<DueEntry> {
        if k.len() != DUE_KEY_LEN {
            return None;
        }
        let ms = i64::try_from(u64::from_be_bytes(k[..8].try_into().ok()?)).ok()?;
        Some(DueEntry {
            at: chrono::DateTime::from_timestamp_millis(ms)?,
            incident: u64::from_be_bytes(k[8..16].try_into().ok()?),
            milestone: milestone_from_byte(k[16])?,
            step: u32::from_be_bytes(k[17..].try_into().ok()?),
        })
    }
}

/// The byte after the incident id that marks an effect evaluation (no milestone has it).
const EFFECT_BYTE: u8 = 0xFF;
const EFFECT_KEY_LEN: usize = 8 + 8 + 1;

/// One effect evaluation (效果评估) waiting in the due index, due when its window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EffectDue {
    /// Whole milliseconds, rounded up like [`DueEntry::new`].
    pub at: Timestamp,
    pub incident: IncidentId,
}

impl EffectDue {
    pub fn new(at: Timestamp, incident: IncidentId) -> EffectDue {
        EffectDue {
            at: DueEntry::new(at, incident, Milestone::Ack, 0).at,
            incident,
        }
    }

    fn key(&self) -> [u8; EFFECT_KEY_LEN] {
        let mut k = [0u8; EFFECT_KEY_LEN];
        let ms = u64::try_from(self.at.timestamp_millis()).unwrap_or(0);
        k[..8].copy_from_slice(&ms.to_be_bytes());
        k[8..16].copy_from_slice(&self.incident.to_be_bytes());
        k[16] = EFFECT_BYTE;
        k
    }

    fn from_key(k: &[u8]) -> Option<EffectDue> {
        if k.len() != EFFECT_KEY_LEN || k[16] != EFFECT_BYTE {
            return None;
        }
        Some(EffectDue {
            at: key_time(k)?,
            incident: u64::from_be_bytes(k[8..16].try_into().ok()?),
        })
    }
}

/// The due time every due-index key starts with.
fn key_time(k: &[u8]) -> Option<Timestamp> {
    let ms = i64::try_from(u64::from_be_bytes(k.get(..8)?.try_into().ok()?)).ok()?;
    chrono::DateTime::from_timestamp_millis(ms)
}

fn effect_rev_key(id: IncidentId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[..8].copy_from_slice(&id.to_be_bytes());
    k[8] = EFFECT_BYTE;
    k
}

fn milestone_byte(m: Milestone) -> u8 {
    match m {
        Milestone::Ack => 0,
        Milestone::Statement => 1,
        Milestone::Press => 2,
        Milestone::Response => 3,
    }
}

fn milestone_from_byte(b: u8) -> Option<Milestone> {
    Some(match b {
        0 => Milestone::Ack,
        1 => Milestone::Statement,
        2 => Milestone::Press,
        3 => Milestone::Response,
        _ => return None,
    })
}

fn rev_key(id: IncidentId, m: Milestone) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[..8].copy_from_slice(&id.to_be_bytes());
    k[8] = milestone_byte(m);
    k
}

pub(super) fn open_key(topic: &str, id: IncidentId) -> Vec<u8> {
    let mut k = open_prefix(topic);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn open_prefix(topic: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(topic.len() + 9);
    k.extend_from_slice(topic.as_bytes());
    k.push(0);
    k
}

pub(super) fn ack_key(id: IncidentId) -> Vec<u8> {
    let mut k = b"ack\0".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The watch-expiry index lives in `incident_meta` too: `wexp \0 ms id` (ordered by
/// time) and its reverse `wexr \0 id` → ms.
const WATCH_EXPIRY: &[u8] = b"wexp\0";
const WATCH_EXPIRY_REV: &[u8] = b"wexr\0";

fn watch_expiry_key(ms: u64, id: IncidentId) -> Vec<u8> {
    let mut k = WATCH_EXPIRY.to_vec();
    k.extend_from_slice(&ms.to_be_bytes());
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn watch_expiry_rev_key(id: IncidentId) -> Vec<u8> {
    let mut k = WATCH_EXPIRY_REV.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// (time, incident) of a forward watch-expiry key.
fn watch_expiry_from_key(k: &[u8]) -> Option<(Timestamp, IncidentId)> {
    let rest = k.strip_prefix(WATCH_EXPIRY)?;
    if rest.len() != 16 {
        return None;
    }
    let ms = i64::try_from(u64::from_be_bytes(rest[..8].try_into().ok()?)).ok()?;
    Some((
        chrono::DateTime::from_timestamp_millis(ms)?,
        u64::from_be_bytes(rest[8..].try_into().ok()?),
    ))
}

/// The meta key counting the overdue notices queued for one clock.
fn overdue_count_key(id: IncidentId, m: Milestone) -> Vec<u8> {
    let mut k = b"overdue\0".to_vec();
    k.extend_from_slice(&rev_key(id, m));
    k
}

fn attach_key(source: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.len() + 1 + key.len());
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

/// What grouping needs to know about an open incident, kept small so that matching
/// a new item reads only the open incidents of its topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenIndexRow {
    pub id: IncidentId,
    pub places: Vec<String>,
    pub terms: Vec<String>,
    /// The time of its latest item (credible publication, else detection).
    pub last_item_at: Timestamp,
    /// Distinct sources and the time each first carried the story, in the order they
    /// came: only in an export's record (`LedgerRecord::open_row`); the ledger keeps
    /// them as keys of their own (data format 7, `incidents/sources.rs`), the stored
    /// row has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_times: Vec<(String, Timestamp)>,
    /// The highest item severity, before the jurisdiction and spread adjustments.
    pub severity: Level,
}

/// The response-match row an incident's record gives ([`MatchRow::of_record`]).
fn record_row(incident: &Incident) -> Option<MatchRow> {
    incident.status.is_open().then(|| MatchRow::of(incident))
}

fn corrupt<T>(what: String, source: serde_json::Error) -> TxResult<T> {
    Err(StoreError::Corrupt {
        what,
        source: source.into(),
    }
    .into())
}

/// The ledger trees and the outbox inside one transaction.
pub struct LedgerTx<'a> {
    incidents: &'a TransactionalTree,
    audit: &'a TransactionalTree,
    due: &'a TransactionalTree,
    due_rev: &'a TransactionalTree,
    open: &'a TransactionalTree,
    attached: &'a TransactionalTree,
    meta: &'a TransactionalTree,
    summary: &'a TransactionalTree,
    when: &'a TransactionalTree,
    /// The audit entries' integrity chain ([`super::audit_chain`]).
    chain: &'a TransactionalTree,
    outbox: OutboxTx<'a>,
    /// The response-match row each incident's record as this transaction sees it
    /// gives (`None`: finished), noted when the record is decoded or written, so that
    /// [`LedgerTx::put_incident`] does not decode it again.
    record_rows: RefCell<HashMap<IncidentId, Option<MatchRow>>>,
    /// The incidents whose exported records this transaction changed, stamped in the
    /// change index when the body ends ([`super::changes`]).
    touched: RefCell<BTreeSet<IncidentId>>,
}

impl LedgerTx<'_> {
    /// Notes that incident `id`'s exported record changes in this transaction.
    fn changed(&self, id: IncidentId) {
        self.touched.borrow_mut().insert(id);
    }

    /// Stamps the incidents this transaction changed, once each.
    fn stamp_changed(&self) -> TxResult<()> {
        for id in self.touched.take() {
            super::changes::touch_incident(self.outbox.changes, id)?;
        }
        Ok(())
    }

    /// Allocates the next incident id (1, 2, 3, …).
    pub fn next_id(&self) -> TxResult<IncidentId> {
        let id = self
            .meta
            .get(NEXT_ID)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(1);
        self.meta.insert(NEXT_ID, &(id + 1).to_be_bytes())?;
        Ok(id)
    }

    /// An incident with all its items.
    pub fn incident(&self, id: IncidentId) -> TxResult<Option<Incident>> {
        let Some(mut incident) = self.incident_head(id)? else {
            return Ok(None);
        };
        let count = self.item_count(id)?;
        incident.items.reserve(count as usize);
        for seq in 1..count {
            let key = item_ref_key(id, seq);
            let Some(v) = self.attached.get(key)? else {
                return Err(
                    StoreError::Missing(format!("事件 {id} 的第 {} 条信息", seq + 1)).into(),
                );
            };
            match serde_json::from_slice(&v) {
                Ok(item) => incident.items.push(item),
                Err(e) => return corrupt(format!("item {seq} of incident {id}"), e),
            }
        }
        incident.sources = self.sources().names(id)?.into_iter().collect();
        Ok(Some(incident))
    }

    fn sources(&self) -> SourceKeys<'_> {
        SourceKeys(self.attached)
    }

    /// The first source of an incident opened in this transaction, at time `at`.
    /// Returns whether the spread rule (`n` sources within `window`) holds.
    pub fn open_sources(
        &self,
        id: IncidentId,
        source: &str,
        at: Timestamp,
        n: u32,
        window: chrono::Duration,
    ) -> TxResult<bool> {
        self.changed(id);
        self.sources().open(id, source, at, n, window)
    }

    /// A joining item's source at time `at`: a new source, or an earlier first time
    /// for a known one. `placement` is what [`Store::place_source`] read for it.
    pub fn join_source(
        &self,
        id: IncidentId,
        source: &str,
        at: Timestamp,
        placement: Option<&SourcePlacement>,
        n: u32,
        window: chrono::Duration,
    ) -> TxResult<SourceJoin> {
        self.changed(id);
        self.sources().join(id, source, at, placement, n, window)
    }

    /// An incident's sources with the time each first carried the story, in the
    /// order they came.
    pub fn source_times(&self, id: IncidentId) -> TxResult<Vec<(String, Timestamp)>> {
        let all = self.sources().all(id)?.into_iter();
        Ok(all.map(|(s, t)| (s, sources::timestamp(t))).collect())
    }

    /// Adds sources with their first times to incident `id` (each keeps the earlier
    /// of its times): a merge.
    pub fn add_sources(
        &self,
        id: IncidentId,
        sources: impl IntoIterator<Item = (String, Timestamp)>,
    ) -> TxResult<()> {
        self.changed(id);
        self.sources().add(id, sources)
    }

    /// An incident with its first item only and no sources: what a join reads (its
    /// item added by [`LedgerTx::push_item`], its source by [`LedgerTx::join_source`]),
    /// in time that does not grow with the incident.
    pub fn incident_head(&self, id: IncidentId) -> TxResult<Option<Incident>> {
        match self.incidents.get(id.to_be_bytes())? {
            None => Ok(None),
            Some(v) => match serde_json::from_slice::<Incident>(&v) {
                Ok(incident) => {
                    self.record_rows
                        .borrow_mut()
                        .insert(id, record_row(&incident));
                    Ok(Some(incident))
                }
                Err(e) => corrupt(format!("incident {id}"), e),
            },
        }
    }

    /// How many items an incident has (one, its first, when no later item joined).
    pub fn item_count(&self, id: IncidentId) -> TxResult<u32> {
        Ok(self
            .attached
            .get(item_count_key(id))?
            .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes))
            .unwrap_or(1))
    }

    /// Adds an item after the incident's last. Returns how many it has now. For an
    /// incident read with [`LedgerTx::incident_head`]; one read in full takes a new
    /// item in its `items` instead (see [`LedgerTx::put_incident`]).
    pub fn push_item(&self, id: IncidentId, item: &ItemRef) -> TxResult<u32> {
        self.changed(id);
        let count = self.item_count(id)?;
        self.attached
            .insert(&item_ref_key(id, count), encode(item))?;
        self.attached
            .insert(&item_count_key(id), &(count + 1).to_be_bytes())?;
        Ok(count + 1)
    }

    /// Writes an incident with its list summary. `open_row` is its match-index row
    /// while it is open; `None` removes it from the index (closed, dismissed,
    /// merged). The primary topic (the index key) never changes once an incident is
    /// open. The grouping index's keys follow the row (its places and latest time);
    /// the response-match index and its term counts follow the incident while it is
    /// open and has a row ([`ledger_index::put_match`]).
    ///
    /// An incident's items only ever grow: `items` is either every item (an incident
    /// read with [`LedgerTx::incident`], or a new one), of which those beyond the
    /// stored ones are added, or the first only (read with
    /// [`LedgerTx::incident_head`]), which leaves the later ones as they are.
    pub fn put_incident(
        &self,
        incident: &Incident,
        open_row: Option<&OpenIndexRow>,
    ) -> TxResult<()> {
        self.changed(incident.id);
        // A new incident has its one item in the head: nothing to read or add.
        if incident.items.len() > 1 {
            let stored = self.item_count(incident.id)? as usize;
            write_later_items(self.attached, incident, stored)?;
        }
        // Sources have keys of their own: an incident read whole has them all (each
        // looked up; none is missing unless added without `add_sources`), one read by
        // its head none.
        self.sources().ensure(incident)?;
        let old_record = self
            .incidents
            .insert(&incident.id.to_be_bytes(), head_bytes(incident))?;
        ledger_index::put_summary(self.summary, &IncidentSummary::of(incident))?;
        let topic = primary_topic(incident);
        let key = open_key(topic, incident.id);
        let mut old = match open_row {
            Some(row) => self.open.insert(key, encode(row))?,
            None => self.open.remove(key)?,
        };
        // The grouping row is kept under the first topic, which changes only when an
        // incident without topics takes the first of an item or an incident merged into
        // it: then its row is under the old topic, and it (with its time and match keys)
        // is what this change replaces. Only read when no row was under the new topic.
        let mut moved_from = None;
        if let (None, Some(record)) = (&old, &old_record) {
            let old_topic = match MatchRow::first_topic_of_record(record) {
                Ok(t) => t,
                Err(e) => return corrupt(format!("incident {}", incident.id), e),
            };
            if old_topic != topic {
                old = self.open.remove(open_key(&old_topic, incident.id))?;
                moved_from = Some(old_topic);
            }
        }
        let old_key_topic = moved_from.as_deref().unwrap_or(topic);
        // The response-match row it had: written from its record when it had a
        // grouping row and was open (a new incident had none: nothing to decode).
        let noted = self
            .record_rows
            .borrow_mut()
            .insert(incident.id, record_row(incident));
        let old_match = match (&old, &old_record, noted) {
            (Some(_), Some(_), Some(row)) => row,
            (Some(_), Some(record), None) => match MatchRow::of_record(record) {
                Ok(row) => row,
                Err(e) => return corrupt(format!("incident {}", incident.id), e),
            },
            _ => None,
        };
        let matched = open_row
            .filter(|_| incident.status.is_open())
            .map(|_| MatchRow::of(incident));
        ledger_index::put_match(self.summary, old_match.as_ref(), matched.as_ref())?;
        if let Some(old) = old {
            match serde_json::from_slice::<OpenIndexRow>(&old) {
                Ok(old) => {
                    for k in ledger_index::when_keys(old_key_topic, &old) {
                        self.when.remove(k)?;
                    }
                }
                Err(e) => return corrupt(format!("open index of incident {}", incident.id), e),
            }
        }
        if let Some(row) = open_row {
            let value = ledger_index::when_value(row);
            for k in ledger_index::when_keys(topic, row) {
                self.when.insert(k, value.as_slice())?;
            }
        }
        Ok(())
    }

    /// Rewrites incident `id`'s response-match row under `key`, whose value does not
    /// decode, from the incident's record ([`ledger_index::repair_match`]): the row
    /// is in the index while the incident is open and has a grouping row.
    pub(super) fn repair_match_row(
        &self,
        id: IncidentId,
        key: &[u8],
    ) -> TxResult<Option<MatchRow>> {
        let row = match self.incidents.get(id.to_be_bytes())? {
            None => None,
            Some(record) => match MatchRow::of_record(&record) {
                Ok(row) => row,
                Err(e) => return corrupt(format!("incident {id}"), e),
            },
        };
        let row = match row {
            Some(row) => {
                let topic = row.topics.first().map_or("", String::as_str);
                self.open.get(open_key(topic, id))?.is_some().then_some(row)
            }
            None => None,
        };
        ledger_index::repair_match(self.summary, id, key, row)
    }

    /// The match-index row of an open incident.
    pub fn open_row(&self, incident: &Incident) -> TxResult<Option<OpenIndexRow>> {
        match self
            .open
            .get(open_key(primary_topic(incident), incident.id))?
        {
            None => Ok(None),
            Some(v) => match serde_json::from_slice(&v) {
                Ok(row) => Ok(Some(row)),
                Err(e) => corrupt(format!("open index of incident {}", incident.id), e),
            },
        }
    }

    /// Appends an audit entry.
    pub fn audit(&self, entry: &AuditEntry) -> TxResult<()> {
        self.changed(entry.incident);
        let seq = self.audit.generate_id()?;
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&entry.incident.to_be_bytes());
        k[8..].copy_from_slice(&seq.to_be_bytes());
        let value = encode(entry);
        super::audit_chain::append(self.chain, &k, &value)?;
        self.audit.insert(&k, value)?;
        Ok(())
    }

    /// Makes `entry` the next notice of its clock, replacing any earlier one.
    pub fn schedule(&self, entry: DueEntry) -> TxResult<()> {
        self.unschedule(entry.incident, entry.milestone)?;
        self.schedule_first(entry)
    }

    /// The first notice of a clock that has none scheduled (an incident opened in this
    /// transaction): [`LedgerTx::schedule`] without looking for an earlier one.
    pub fn schedule_first(&self, entry: DueEntry) -> TxResult<()> {
        self.changed(entry.incident);
        let key = entry.key();
        self.due.insert(&key, &[])?;
        self.due_rev
            .insert(&rev_key(entry.incident, entry.milestone), &key)?;
        Ok(())
    }

    /// Stops a clock's notices. Returns whether one was scheduled.
    pub fn unschedule(&self, id: IncidentId, milestone: Milestone) -> TxResult<bool> {
        match self.due_rev.remove(&rev_key(id, milestone))? {
            Some(key) => {
                self.changed(id);
                self.due.remove(key)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The scheduled entry of a clock, if it runs.
    pub fn scheduled(&self, id: IncidentId, milestone: Milestone) -> TxResult<Option<DueEntry>> {
        Ok(self
            .due_rev
            .get(rev_key(id, milestone))?
            .and_then(|k| DueEntry::from_key(&k)))
    }

    /// Makes `entry` the effect evaluation of its incident, replacing any earlier one.
    pub fn schedule_effect(&self, entry: EffectDue) -> TxResult<()> {
        self.unschedule_effect(entry.incident)?;
        self.changed(entry.incident);
        let key = entry.key();
        self.due.insert(&key, &[])?;
        self.due_rev.insert(&effect_rev_key(entry.incident), &key)?;
        Ok(())
    }

    /// Drops an incident's effect evaluation. Returns whether one was scheduled.
    pub fn unschedule_effect(&self, id: IncidentId) -> TxResult<bool> {
        match self.due_rev.remove(&effect_rev_key(id))? {
            Some(key) => {
                self.changed(id);
                self.due.remove(key)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The scheduled effect evaluation of an incident.
    pub fn effect_scheduled(&self, id: IncidentId) -> TxResult<Option<EffectDue>> {
        Ok(self
            .due_rev
            .get(effect_rev_key(id))?
            .and_then(|k| EffectDue::from_key(&k)))
    }

    /// Who acknowledged an incident, and when.
    pub fn ack_record(&self, id: IncidentId) -> TxResult<Option<(String, Timestamp)>> {
        match self.meta.get(ack_key(id))? {
            None => Ok(None),
            Some(v) => match serde_json::from_slice(&v) {
                Ok(record) => Ok(Some(record)),
                Err(e) => corrupt(format!("ack record of incident {id}"), e),
            },
        }
    }

    pub fn set_ack_record(&self, id: IncidentId, by: &str, at: Timestamp) -> TxResult<()> {
        self.changed(id);
        self.meta.insert(ack_key(id), encode(&(by, at)))?;
        Ok(())
    }

    /// How many overdue notices of a clock were queued (what `（第N次提醒）` counts).
    pub fn overdue_count(&self, id: IncidentId, milestone: Milestone) -> TxResult<u32> {
        Ok(self
            .meta
            .get(overdue_count_key(id, milestone))?
            .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes))
            .unwrap_or(0))
    }

    pub fn set_overdue_count(&self, id: IncidentId, milestone: Milestone, n: u32) -> TxResult<()> {
        self.meta
            .insert(overdue_count_key(id, milestone), &n.to_be_bytes())?;
        Ok(())
    }

    /// Makes `at` the time a watch incident is filed unless a new item comes
    /// (replacing an earlier time), or with `None` takes it off the watch-expiry index.
    pub fn set_watch_expiry(&self, id: IncidentId, at: Option<Timestamp>) -> TxResult<()> {
        if let Some(old) = self.meta.remove(watch_expiry_rev_key(id))? {
            if let Ok(ms) = old.as_ref().try_into().map(u64::from_be_bytes) {
                self.meta.remove(watch_expiry_key(ms, id))?;
            }
        }
        if let Some(at) = at {
            let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
            self.meta.insert(watch_expiry_key(ms, id), &[])?;
            self.meta
                .insert(watch_expiry_rev_key(id), &ms.to_be_bytes())?;
        }
        Ok(())
    }

    /// When a watch incident is to be filed, if it is on the watch-expiry index.
    pub fn watch_expiry(&self, id: IncidentId) -> TxResult<Option<Timestamp>> {
        Ok(self
            .meta
            .get(watch_expiry_rev_key(id))?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .and_then(|ms| i64::try_from(ms).ok())
            .and_then(chrono::DateTime::from_timestamp_millis))
    }

    /// Whether this exact due entry is still scheduled.
    pub fn is_scheduled(&self, entry: &DueEntry) -> TxResult<bool> {
        Ok(self.due.get(entry.key())?.is_some())
    }

    /// The incident an item is attached to.
    pub fn attached(&self, source: &str, key: &str) -> TxResult<Option<IncidentId>> {
        Ok(self
            .attached
            .get(attach_key(source, key))?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)))
    }

    pub fn attach(&self, source: &str, key: &str, id: IncidentId) -> TxResult<()> {
        self.changed(id);
        self.attached
            .insert(attach_key(source, key), &id.to_be_bytes())?;
        Ok(())
    }

    /// The outbox, to queue the mails a change causes.
    pub fn outbox(&self) -> &OutboxTx<'_> {
        &self.outbox
    }
}

/// The primary topic of an incident: the key of its match-index rows.
pub(super) fn primary_topic(incident: &Incident) -> &str {
    incident.topics.first().map_or("", String::as_str)
}

impl Store {
    /// Runs `f` over the ledger trees and the outbox in one transaction (retried by
    /// sled on conflict, so `f` must not have side effects outside the transaction).
    /// `f` may refuse the change with `Abort::Refused(e)`: nothing is written and
    /// `e` is returned; a storage failure comes back as `E::from(StoreError)`.
    pub fn ledger_tx<T, E: From<StoreError>>(
        &self,
        f: impl Fn(&LedgerTx<'_>) -> std::result::Result<T, Abort<E>>,
    ) -> std::result::Result<T, E> {
        let l = &self.ledger;
        let value = (
            &l.incidents,
            &l.audit,
            &l.due,
            &l.due_rev,
            &l.open,
            &l.attached,
            &l.meta,
            &l.summary,
            &l.when,
            &self.audit_chain,
            &self.outbox,
            &self.notice_keys,
            &self.tracked_changes,
        )
            .transaction(
                |(
                    incidents,
                    audit,
                    due,
                    due_rev,
                    open,
                    attached,
                    meta,
                    summary,
                    when,
                    chain,
                    outbox,
                    keys,
                    changes,
                )| {
                    let tx = LedgerTx {
                        incidents,
                        audit,
                        due,
                        due_rev,
                        open,
                        attached,
                        meta,
                        summary,
                        when,
                        chain,
                        outbox: self.outbox_tx(outbox, keys, changes),
                        record_rows: RefCell::default(),
                        touched: RefCell::default(),
                    };
                    tx::to_sled(f(&tx).and_then(|value| {
                        tx.stamp_changed()?;
                        Ok(value)
                    }))
                },
            );
        let value = tx::flatten(value)?;
        // Any ledger change may have appended audit entries and queued mail.
        self.audit_changed();
        self.outbox_signal.notify_one();
        Ok(value)
    }

    /// Overwrites incident `id`'s record with bytes that do not decode: for tests of
    /// what callers do with a damaged record.
    #[cfg(test)]
    pub(crate) fn damage_incident(&self, id: IncidentId) {
        self.ledger
            .incidents
            .insert(id.to_be_bytes(), b"{damaged".as_slice())
            .unwrap();
    }

    /// An incident with all its items.
    pub fn incident(&self, id: IncidentId) -> Result<Option<Incident>> {
        self.ledger
            .incidents
            .get(id.to_be_bytes())?
            .map(|v| self.with_items(decode(&v, || format!("incident {id}"))?))
            .transpose()
    }

    /// An incident's deadlines alone, read from its record without its items, sources
    /// or the rest of its fields (the `/metrics` overdue count reads thousands).
    pub fn incident_deadlines(&self, id: IncidentId) -> Result<Option<Vec<Deadline>>> {
        #[derive(Deserialize)]
        struct Deadlines {
            deadlines: Vec<Deadline>,
        }
        self.ledger
            .incidents
            .get(id.to_be_bytes())?
            .map(|v| decode::<Deadlines>(&v, || format!("deadlines of incident {id}")))
            .transpose()
            .map(|d| d.map(|d| d.deadlines))
    }

    /// Every incident, by id, with its items.
    pub fn incidents(&self) -> impl Iterator<Item = Result<Incident>> + '_ {
        self.ledger.incidents.iter().map(|entry| {
            let (k, v) = entry?;
            self.with_items(decode(&v, || {
                format!("incident {}", String::from_utf8_lossy(&k))
            })?)
        })
    }

    /// An incident's record with its items read from their keys, in order, and its
    /// sources from theirs.
    fn with_items(&self, mut incident: Incident) -> Result<Incident> {
        let id = incident.id;
        incident.sources = self.source_names(id)?.into_iter().collect();
        for entry in self.ledger.attached.scan_prefix(item_ref_prefix(id)) {
            let (_, v) = entry?;
            incident
                .items
                .push(decode(&v, || format!("item of incident {id}"))?);
        }
        Ok(incident)
    }

    /// Moves the items of incidents written before they had keys of their own (data
    /// format 2 and earlier: inside the incident record) to their keys, one incident
    /// per transaction (a crash in between leaves each incident whole, in one layout
    /// or the other; the next open finishes). A no-op once done. Returns how many
    /// incidents were moved.
    pub(super) fn ensure_incident_item_keys(&self) -> Result<usize> {
        if self.meta.get(ITEM_KEYS_VERSION_KEY)?.is_some() {
            return Ok(0);
        }
        let mut moved = 0;
        for entry in self.ledger.incidents.iter() {
            let (k, v) = entry?;
            // A record that does not decode is left as it is: reading it reports it.
            let Ok(incident) = serde_json::from_slice::<Incident>(&v) else {
                tracing::warn!(key = ?k, "an incident record that does not decode was not upgraded");
                continue;
            };
            if incident.items.len() <= 1 {
                continue;
            }
            (&self.ledger.incidents, &self.ledger.attached)
                .transaction(|(incidents, attached)| {
                    write_later_items(attached, &incident, 1)?;
                    // Its sources stay for their own step (format 7).
                    let head = Incident {
                        items: incident.items[..1].to_vec(),
                        ..incident.clone()
                    };
                    incidents.insert(&k, encode(&head))?;
                    Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(())
                })
                .map_err(super::tx::plain_error)?;
            moved += 1;
        }
        self.meta
            .insert(ITEM_KEYS_VERSION_KEY, &1u32.to_be_bytes())?;
        Ok(moved)
    }

    /// Data format 7's upgrade step (the ledger's sources): moves each incident's
    /// sources out of its record (`sources`) and their first times out of its grouping
    /// row (`source_times`) to their keys (`incidents/sources.rs`), one incident per
    /// transaction: a crash in between leaves each incident whole in one layout or the
    /// other, and the next open finishes (a record with no `sources` is done). The
    /// sources keep the row's order and times; one the row lacks (a closed incident has
    /// no row) takes the event time, as a row rebuilt from the record gave it. A no-op
    /// once done. Returns how many incidents were moved.
    pub(super) fn ensure_incident_source_keys(&self) -> Result<usize> {
        if self.meta.get(SOURCE_KEYS_VERSION_KEY)?.is_some() {
            return Ok(0);
        }
        let l = &self.ledger;
        let mut moved = 0;
        for entry in l.incidents.iter() {
            let (k, v) = entry?;
            // A record that does not decode is left as it is: reading it reports it.
            let Ok(incident) = serde_json::from_slice::<Incident>(&v) else {
                tracing::warn!(key = ?k, "an incident record that does not decode was not upgraded");
                continue;
            };
            if incident.sources.is_empty() {
                continue;
            }
            let row_key = open_key(primary_topic(&incident), incident.id);
            (&l.incidents, &l.attached, &l.open)
                .transaction(|(incidents, attached, open)| {
                    let row = match open.get(&row_key)? {
                        Some(v) => serde_json::from_slice::<OpenIndexRow>(&v).ok(),
                        None => None,
                    };
                    let keys = SourceKeys(attached);
                    if let Some(row) = &row {
                        let known = row
                            .source_times
                            .iter()
                            .filter(|(s, _)| incident.sources.contains(s));
                        keys.add(incident.id, known.cloned())?;
                        let stored = OpenIndexRow {
                            source_times: Vec::new(),
                            ..row.clone()
                        };
                        open.insert(row_key.as_slice(), encode(&stored))?;
                    }
                    keys.ensure(&incident)?;
                    // Only the sources leave the record (its items are the
                    // item step's).
                    let record = Incident {
                        sources: Default::default(),
                        ..incident.clone()
                    };
                    incidents.insert(&k, encode(&record))?;
                    Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(())
                })
                .map_err(super::tx::plain_error)?;
            moved += 1;
        }
        self.meta
            .insert(SOURCE_KEYS_VERSION_KEY, &1u32.to_be_bytes())?;
        Ok(moved)
    }

    pub fn incident_count(&self) -> usize {
        self.ledger.incidents.len()
    }

    /// An incident's audit trail, oldest first.
    pub fn incident_audit(&self, id: IncidentId) -> Result<Vec<AuditEntry>> {
        self.ledger
            .audit
            .scan_prefix(id.to_be_bytes())
            .map(|entry| {
                let (_, v) = entry?;
                decode(&v, || format!("audit entry of incident {id}"))
            })
            .collect()
    }

    /// The ids of all open incidents (from the match index, without reading closed ones).
    pub fn open_incident_ids(&self) -> Result<Vec<IncidentId>> {
        let mut ids = Vec::new();
        for entry in self.ledger.open.iter().keys() {
            let k = entry?;
            let tail = k.len().checked_sub(8).map(|start| &k[start..]);
            if let Some(id) = tail.and_then(|t| t.try_into().ok()).map(u64::from_be_bytes) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// The earliest entry of the due index.
    pub fn due_first(&self) -> Result<Option<DueEntry>> {
        Ok(self
            .ledger
            .due
            .iter()
            .keys()
            .find_map(|k| k.ok().and_then(|k| DueEntry::from_key(&k))))
    }

    /// Watch incidents to be filed at or before `until`, earliest first, at most
    /// `limit`, as (time, incident).
    pub fn watch_expiries(
        &self,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Timestamp, IncidentId)>> {
        let mut out = Vec::new();
        for k in self.ledger.meta.scan_prefix(WATCH_EXPIRY).keys() {
            let Some((at, id)) = watch_expiry_from_key(&k?) else {
                continue;
            };
            if at > until || out.len() >= limit {
                break;
            }
            out.push((at, id));
        }
        Ok(out)
    }

    /// The earliest time a watch incident is to be filed.
    pub fn watch_expiry_first(&self) -> Result<Option<Timestamp>> {
        Ok(self
            .watch_expiries(Timestamp::MAX_UTC, 1)?
            .first()
            .map(|(at, _)| *at))
    }

    /// Due entries at or before `now`, earliest first, at most `limit`.
    pub fn due_until(&self, now: Timestamp, limit: usize) -> Result<Vec<DueEntry>> {
        self.due_keys_until(now, limit, DueEntry::from_key)
    }

    /// Effect evaluations due at or before `now`, earliest first, at most `limit`.
    pub fn effect_due_until(&self, now: Timestamp, limit: usize) -> Result<Vec<EffectDue>> {
        self.due_keys_until(now, limit, EffectDue::from_key)
    }

    /// The time of the earliest entry of the due index, clock or effect evaluation.
    pub fn due_first_at(&self) -> Result<Option<Timestamp>> {
        for k in self.ledger.due.iter().keys() {
            if let Some(at) = key_time(&k?) {
                return Ok(Some(at));
            }
        }
        Ok(None)
    }

    /// The entries of one kind (`read` takes its keys, refuses the other kind's) at or
    /// before `now`, earliest first, at most `limit`.
    fn due_keys_until<T>(
        &self,
        now: Timestamp,
        limit: usize,
        read: impl Fn(&[u8]) -> Option<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for k in self.ledger.due.iter().keys() {
            let k = k?;
            let Some(at) = key_time(&k) else {
                tracing::warn!(key = ?k, "skipping an unreadable due-index key");
                continue;
            };
            if at > now || out.len() >= limit {
                break;
            }
            if let Some(entry) = read(&k) {
                out.push(entry);
            } else if DueEntry::from_key(&k).is_none() && EffectDue::from_key(&k).is_none() {
                tracing::warn!(key = ?k, "skipping an unreadable due-index key");
            }
        }
        Ok(out)
    }

    /// Every due entry of one incident (for `show` and tests).
    pub fn due_of(&self, id: IncidentId) -> Result<Vec<DueEntry>> {
        let mut out = Vec::new();
        for entry in self.ledger.due_rev.scan_prefix(id.to_be_bytes()) {
            let (_, key) = entry?;
            out.extend(DueEntry::from_key(&key));
        }
        out.sort();
        Ok(out)
    }

    /// Whether a clock has its entry in the due index.
    pub fn is_clock_scheduled(&self, id: IncidentId, milestone: Milestone) -> Result<bool> {
        Ok(self.ledger.due_rev.contains_key(rev_key(id, milestone))?)
    }

    pub fn due_len(&self) -> usize {
        self.ledger.due.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` in one ledger transaction that cannot refuse.
    fn run<T>(store: &Store, f: impl Fn(&LedgerTx<'_>) -> TxResult<T>) -> T {
        store
            .ledger_tx(|tx| Ok::<_, Abort<StoreError>>(f(tx)?))
            .unwrap()
    }

    #[test]
    fn due_keys_sort_by_time_and_round_trip() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let a = DueEntry {
            at: t("2026-11-24T03:00:00Z"),
            incident: 900,
            milestone: Milestone::Press,
            step: 7,
        };
        let b = DueEntry {
            at: t("2026-11-24T03:00:00.001Z"),
            incident: 1,
            milestone: Milestone::Ack,
            step: 0,
        };
        assert!(a.key() < b.key());
        assert_eq!(DueEntry::from_key(&a.key()), Some(a));
        assert_eq!(DueEntry::from_key(&b.key()), Some(b));
        assert_eq!(DueEntry::from_key(b"short"), None);
        // Sub-millisecond times round up to the key's resolution.
        let c = DueEntry::new(t("2026-11-24T03:00:00.0001Z"), 1, Milestone::Ack, 0);
        assert_eq!(c.at, t("2026-11-24T03:00:00.001Z"));
        assert_eq!(DueEntry::from_key(&c.key()), Some(c));
        // The end of time does not panic.
        let end = DueEntry::new(
            chrono::DateTime::<chrono::Utc>::MAX_UTC,
            1,
            Milestone::Ack,
            9,
        );
        assert_eq!(end.key().len(), DUE_KEY_LEN);
    }

    #[test]
    fn schedule_replaces_the_clock_entry_and_unschedule_stops_it() {
        let store = Store::temporary().unwrap();
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let first = DueEntry {
            at: t("2026-11-24T03:00:00Z"),
            incident: 5,
            milestone: Milestone::Statement,
            step: 0,
        };
        let second = DueEntry {
            at: t("2026-11-24T04:00:00Z"),
            step: 1,
            ..first
        };
        let other = DueEntry {
            at: t("2026-11-24T01:00:00Z"),
            milestone: Milestone::Ack,
            ..first
        };
        run(&store, |tx| {
            tx.schedule(first)?;
            tx.schedule(other)?;
            tx.schedule(second)
        });
        assert_eq!(store.due_of(5).unwrap(), [other, second]);
        assert_eq!(store.due_first().unwrap(), Some(other));
        assert_eq!(
            store.due_until(t("2026-11-24T03:30:00Z"), 10).unwrap(),
            [other]
        );
        let stopped = run(&store, |tx| tx.unschedule(5, Milestone::Ack));
        assert!(stopped);
        assert_eq!(store.due_first().unwrap(), Some(second));
        assert_eq!(store.due_len(), 1);
    }

    #[test]
    fn effect_entries_share_the_due_index_but_not_the_clock_readers() {
        let store = Store::temporary().unwrap();
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let clock = DueEntry::new(t("2026-11-24T03:00:00Z"), 5, Milestone::Response, 0);
        let effect = EffectDue::new(t("2026-11-24T02:00:00.0001Z"), 5);
        assert_eq!(
            effect.at,
            t("2026-11-24T02:00:00.001Z"),
            "rounded up to the key"
        );
        assert_eq!(EffectDue::from_key(&effect.key()), Some(effect));
        assert_eq!(DueEntry::from_key(&effect.key()), None);
        assert_eq!(EffectDue::from_key(&clock.key()), None);
        run(&store, |tx| {
            tx.schedule(clock)?;
            tx.schedule_effect(effect)
        });
        assert_eq!(store.due_first_at().unwrap(), Some(effect.at));
        assert_eq!(store.due_first().unwrap(), Some(clock));
        let late = t("2026-11-25T00:00:00Z");
        assert_eq!(store.due_until(late, 10).unwrap(), [clock]);
        assert_eq!(store.effect_due_until(late, 10).unwrap(), [effect]);
        assert!(
            store
                .effect_due_until(t("2026-11-24T01:00:00Z"), 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.due_of(5).unwrap(), [clock], "clocks only");
        // Rescheduling replaces; unscheduling leaves the clock alone.
        let moved = EffectDue::new(t("2026-11-24T04:00:00Z"), 5);
        run(&store, |tx| tx.schedule_effect(moved));
        assert_eq!(store.effect_due_until(late, 10).unwrap(), [moved]);
        assert_eq!(run(&store, |tx| tx.effect_scheduled(5)), Some(moved));
        assert!(run(&store, |tx| tx.unschedule_effect(5)));
        assert!(!run(&store, |tx| tx.unschedule_effect(5)));
        assert_eq!(store.due_len(), 1);
        assert_eq!(store.due_first_at().unwrap(), Some(clock.at));
    }

    fn item(source: &str, key: &str) -> ItemRef {
        ItemRef {
            source: source.into(),
            key: key.into(),
            source_name: None,
            link: Some(format!("https://{source}.example.cn/{key}")),
            lead: None,
        }
    }

    /// The item refs of incident `id` as stored (source, key and link: `ItemRef`'s
    /// equality compares only source and key).
    fn stored_items(incident: &Incident) -> Vec<(String, String, Option<String>)> {
        let items = incident.items.iter();
        items
            .map(|r| (r.source.clone(), r.key.clone(), r.link.clone()))
            .collect()
    }

    #[test]
    fn items_have_keys_of_their_own_and_older_records_are_moved_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut incident = crate::api::views::tests::incident(7, "景芝镇一化工厂发生爆炸");
        incident.items.push(item("c", "3"));
        incident.items[0].lead = Some(Box::new(crate::model::Lead {
            excerpt: "化工厂发生爆炸".into(),
            ..Default::default()
        }));
        {
            // Format 2: the items inside the incident's record, no item keys.
            let store = Store::open(dir.path()).unwrap();
            let key = 7u64.to_be_bytes();
            store
                .ledger
                .incidents
                .insert(key, encode(&incident))
                .unwrap();
            store.meta.remove(ITEM_KEYS_VERSION_KEY).unwrap();
            store.meta.remove(SOURCE_KEYS_VERSION_KEY).unwrap();
            let format = super::super::FORMAT_KEY;
            store.meta.insert(format, &2u32.to_be_bytes()).unwrap();
            store.flush_blocking().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let read = store.incident(7).unwrap().unwrap();
        assert_eq!(read, incident);
        assert_eq!(stored_items(&read), stored_items(&incident));
        assert_eq!(
            read.lead(),
            incident.lead(),
            "the first item keeps its lead"
        );
        let head = store.ledger.incidents.get(7u64.to_be_bytes()).unwrap();
        let head: Incident = decode(&head.unwrap(), String::new).unwrap();
        assert_eq!(head.items.len(), 1, "the record holds the first item only");
        assert_eq!(run(&store, |tx| tx.item_count(7)), 3);

        // A join adds one key; the head comes back without items and, written
        // again, leaves them as they are.
        let joined = item("d", "4");
        assert_eq!(run(&store, |tx| tx.push_item(7, &joined)), 4);
        incident.items.push(joined);
        run(&store, |tx| {
            let head = tx.incident_head(7)?.unwrap();
            assert_eq!(head.items.len(), 1);
            tx.put_incident(&head, None)
        });
        // A full incident with one more item (a merge) adds that one.
        let merged = item("e", "5");
        run(&store, |tx| {
            let mut full = tx.incident(7)?.unwrap();
            full.items.push(merged.clone());
            tx.put_incident(&full, None)
        });
        incident.items.push(merged);
        let in_tx = run(&store, |tx| tx.incident(7)).unwrap();
        assert_eq!(stored_items(&in_tx), stored_items(&incident));
        let read = store.incident(7).unwrap().unwrap();
        assert_eq!(stored_items(&read), stored_items(&incident));
        assert_eq!(store.incidents().count(), 1, "item keys are not incidents");

        // Upgraded once: the next open changes nothing.
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.ensure_incident_item_keys().unwrap(), 0);
        let read = store.incidents().next().unwrap().unwrap();
        assert_eq!(stored_items(&read), stored_items(&incident));
    }

    #[test]
    fn ids_count_up_and_audit_keeps_order() {
        let store = Store::temporary().unwrap();
        let ids: Vec<_> = (0..3).map(|_| run(&store, |tx| tx.next_id())).collect();
        assert_eq!(ids, [1, 2, 3]);
        for action in ["opened", "ack", "close"] {
            let entry = AuditEntry {
                incident: 2,
                at: chrono::Utc::now(),
                by: "system".into(),
                action: action.into(),
                detail: "测试".into(),
                reason: None,
            };
            run(&store, |tx| tx.audit(&entry));
        }
        let actions: Vec<_> = store
            .incident_audit(2)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, ["opened", "ack", "close"]);
        assert!(store.incident_audit(1).unwrap().is_empty());
    }
}
