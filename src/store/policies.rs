//! Document clocks (政策解读 …, `crate::policies`): one record per tracked document.
//!
//! Layout: tree `policies`, `clock \0 source \0 key` → [`TrackedDocument`] (JSON); the
//! clocks' due index `policy_due`, `due_ms ‖ clock \0 source \0 key` → step (u32),
//! earliest first, and its reverse `policy_due_rev`, `clock \0 source \0 key` → the
//! `policy_due` key. A document and its next step are written in one transaction
//! ([`Store::put_tracked_document`]), so a document is never stored without its clock
//! or scheduled without its record. An answer on any source may meet a document of
//! another source, so that write is a transaction too. Every write that changes a
//! document or its clock stamps it in the change index ([`super::changes`]) in the same
//! transaction. A due entry is removed only
//! after its notice is queued, and a notice key is queued at most once, so firing an
//! entry twice is harmless. Scheduling a step notifies [`Store::reply_signal`] (the
//! deadline task's wake-up for the clocks the intake schedules). Tree `policy_answers`,
//! `clock \0 source \0 key` → [`RememberedAnswer`]: answers that matched nothing yet.

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::changes::{Tracked, touch};
use super::{Result, Store, StoreError, decode, encode, tx};
use crate::model::{NoticeKey, Timestamp};
use crate::policies::{RememberedAnswer, TrackedDocument};

pub(super) const TREE: &str = "policies";
const DUE: &str = "policy_due";
const DUE_REV: &str = "policy_due_rev";
/// Answers that matched no document yet: `clock \0 source \0 key` → [`RememberedAnswer`].
const ANSWERS: &str = "policy_answers";

/// Which document of which clock: the record's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentId {
    pub clock: String,
    pub source: String,
    pub key: String,
}

impl DocumentId {
    pub fn of(doc: &TrackedDocument) -> DocumentId {
        DocumentId {
            clock: doc.clock.clone(),
            source: doc.source.clone(),
            key: doc.key.clone(),
        }
    }

    pub(super) fn bytes(&self) -> Vec<u8> {
        [&self.clock, &self.source, &self.key]
            .map(String::as_str)
            .join("\0")
            .into_bytes()
    }

    fn read(bytes: &[u8]) -> Option<DocumentId> {
        let mut parts = std::str::from_utf8(bytes).ok()?.splitn(3, '\0');
        Some(DocumentId {
            clock: parts.next()?.to_string(),
            source: parts.next()?.to_string(),
            key: parts.next()?.to_string(),
        })
    }
}

/// One entry of the document clocks' due index: the next step of one document's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentDue {
    pub at: Timestamp,
    pub id: DocumentId,
    pub step: u32,
}

fn due_key(at: Timestamp, id: &DocumentId) -> Vec<u8> {
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let mut k = ms.to_be_bytes().to_vec();
    k.extend_from_slice(&id.bytes());
    k
}

fn read_due(k: &[u8], v: &[u8]) -> Option<DocumentDue> {
    let ms = i64::try_from(u64::from_be_bytes(k.get(..8)?.try_into().ok()?)).ok()?;
    Some(DocumentDue {
        at: chrono::DateTime::from_timestamp_millis(ms)?,
        id: DocumentId::read(&k[8..])?,
        step: u32::from_be_bytes(v.try_into().ok()?),
    })
}

/// Replaces a document's scheduled step inside a transaction ([`super::replies::reschedule`]
/// with the document's keys). Returns whether it changed.
fn reschedule(
    due: &TransactionalTree,
    rev: &TransactionalTree,
    id: &DocumentId,
    next: Option<(Timestamp, u32)>,
) -> std::result::Result<bool, ConflictableTransactionError<StoreError>> {
    let key = next.map(|(at, step)| (due_key(at, id), step));
    super::replies::reschedule(
        due,
        rev,
        &id.bytes(),
        key.as_ref().map(|(k, step)| (k.as_slice(), *step)),
    )
}

impl Store {
    /// Whether the store has seen item `key` of `source`: it is stored, or retention
    /// swept it (a feed that still lists a swept item does not make it new). Cheaper
    /// than [`Store::item`]: nothing is decoded.
    pub fn knows_item(&self, source: &str, key: &str) -> Result<bool> {
        let k = super::items::item_key(source, key);
        Ok(self.items.contains_key(&k)?
            || self.items_swept.contains_key(super::items::swept_key(&k))?)
    }

    fn policy_trees(&self) -> Result<[sled::Tree; 4]> {
        Ok([
            self.db.open_tree(TREE)?,
            self.db.open_tree(DUE)?,
            self.db.open_tree(DUE_REV)?,
            self.tracked_changes.clone(),
        ])
    }

    /// Saves a tracked document (new or changed) and sets the next step of its clock
    /// (`None`: the clock stopped), in one transaction.
    pub fn put_tracked_document(
        &self,
        doc: &TrackedDocument,
        next: Option<(Timestamp, u32)>,
    ) -> Result<()> {
        let [docs, due, rev, changes] = self.policy_trees()?;
        let id = DocumentId::of(doc);
        let value = encode(doc);
        (&docs, &due, &rev, &changes)
            .transaction(|(docs, due, rev, changes)| {
                let old = docs.insert(id.bytes(), value.as_slice())?;
                let moved = reschedule(due, rev, &id, next)?;
                if moved || old.as_deref() != Some(&value[..]) {
                    touch(changes, Tracked::Document, &id.bytes())?;
                }
                Ok(())
            })
            .map_err(tx::plain_error)?;
        if next.is_some() {
            // The intake schedules without the ledger: wake the deadline task.
            self.reply_signal.notify_one();
        }
        Ok(())
    }

    /// Sets the next step of a document's clock (`None`: stopped), replacing the one
    /// scheduled before.
    pub fn schedule_document(&self, id: &DocumentId, next: Option<(Timestamp, u32)>) -> Result<()> {
        let [_, due, rev, changes] = self.policy_trees()?;
        (&due, &rev, &changes)
            .transaction(|(due, rev, changes)| {
                if reschedule(due, rev, id, next)? {
                    touch(changes, Tracked::Document, &id.bytes())?;
                }
                Ok(())
            })
            .map_err(tx::plain_error)?;
        if next.is_some() {
            self.reply_signal.notify_one();
        }
        Ok(())
    }

    /// Marks a document met by `met` unless it already is, and stops its clock, in one
    /// transaction. Returns the document as stored afterwards; `None` when not tracked.
    pub fn meet_document(
        &self,
        id: &DocumentId,
        met: impl Fn(&mut TrackedDocument),
    ) -> Result<Option<TrackedDocument>> {
        let [docs, due, rev, changes] = self.policy_trees()?;
        (&docs, &due, &rev, &changes)
            .transaction(|(docs, due, rev, changes)| {
                let Some(bytes) = docs.get(id.bytes())? else {
                    return Ok(None);
                };
                let mut doc: TrackedDocument = decode(&bytes, || {
                    format!("tracked document {}/{}/{}", id.clock, id.source, id.key)
                })
                .map_err(ConflictableTransactionError::Abort)?;
                if doc.met_at.is_none() {
                    met(&mut doc);
                    docs.insert(id.bytes(), encode(&doc))?;
                    reschedule(due, rev, id, None)?;
                    touch(changes, Tracked::Document, &id.bytes())?;
                }
                Ok(Some(doc))
            })
            .map_err(tx::plain_error)
    }

    /// The next step of document `id`'s clock, if it runs.
    pub fn document_clock(&self, id: &DocumentId) -> Result<Option<(Timestamp, u32)>> {
        let [_, due, rev, _] = self.policy_trees()?;
        let Some(due_key) = rev.get(id.bytes())? else {
            return Ok(None);
        };
        Ok(due
            .get(&due_key)?
            .and_then(|v| read_due(&due_key, &v))
            .map(|entry| (entry.at, entry.step)))
    }

    /// Forgets every tracked document, document clock and remembered answer
    /// (`import --force`).
    pub(super) fn clear_policies(&self) -> Result<()> {
        for tree in [TREE, DUE, DUE_REV, ANSWERS] {
            self.db.open_tree(tree)?.clear()?;
        }
        Ok(())
    }

    /// The tracked document `id`, if tracked.
    pub fn tracked_document(&self, id: &DocumentId) -> Result<Option<TrackedDocument>> {
        self.db
            .open_tree(TREE)?
            .get(id.bytes())?
            .map(|v| {
                decode(&v, || {
                    format!("tracked document {}/{}/{}", id.clock, id.source, id.key)
                })
            })
            .transpose()
    }

    /// Every tracked document of clock `clock` (all clocks with `None`), by clock,
    /// source, key.
    pub fn tracked_documents(&self, clock: Option<&str>) -> Result<Vec<TrackedDocument>> {
        let tree = self.db.open_tree(TREE)?;
        let rows = match clock {
            Some(clock) => tree.scan_prefix(format!("{clock}\0")),
            None => tree.iter(),
        };
        rows.map(decode_document).collect()
    }

    /// At most `limit` tracked documents after `after` (from the first with `None`), by
    /// clock, source, key: a page of the export.
    pub(super) fn tracked_documents_after(
        &self,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> Result<Vec<TrackedDocument>> {
        let start = match after {
            Some(id) => std::ops::Bound::Excluded(id.bytes()),
            None => std::ops::Bound::Unbounded,
        };
        self.db
            .open_tree(TREE)?
            .range::<Vec<u8>, _>((start, std::ops::Bound::Unbounded))
            .take(limit)
            .map(decode_document)
            .collect()
    }

    /// How many documents are tracked (one read of the tree's length).
    pub fn tracked_document_count(&self) -> Result<usize> {
        Ok(self.db.open_tree(TREE)?.len())
    }

    /// The tracked documents of `ids` (from the change index) that are still tracked,
    /// in the order given: a page of an incremental export.
    pub(super) fn tracked_documents_of(
        &self,
        ids: &[super::changes::RecordKey],
    ) -> Result<Vec<TrackedDocument>> {
        super::changes::read_ids(&self.db.open_tree(TREE)?, ids, decode_document)
    }

    /// Document clock entries due at or before `now`, earliest first, at most `limit`.
    pub fn documents_due(&self, now: Timestamp, limit: usize) -> Result<Vec<DocumentDue>> {
        super::replies::due_entries(&self.db.open_tree(DUE)?, now, limit, read_due)
    }

    /// The earliest document clock entry.
    pub fn document_due_first(&self) -> Result<Option<Timestamp>> {
        super::replies::first_due(&self.db.open_tree(DUE)?, read_due, |entry| entry.at)
    }

    /// Keeps an answer that matched no document, and forgets those published before
    /// `cutoff`.
    pub fn remember_answer(&self, answer: &RememberedAnswer, cutoff: Timestamp) -> Result<()> {
        let tree = self.db.open_tree(ANSWERS)?;
        for old in self.remembered_answers(&answer.clock)? {
            if old.published_at < cutoff {
                self.forget_answer(&old)?;
            }
        }
        let id = DocumentId {
            clock: answer.clock.clone(),
            source: answer.source.clone(),
            key: answer.key.clone(),
        };
        tree.insert(id.bytes(), encode(answer))?;
        Ok(())
    }

    /// The remembered answers of clock `clock`.
    pub fn remembered_answers(&self, clock: &str) -> Result<Vec<RememberedAnswer>> {
        self.db
            .open_tree(ANSWERS)?
            .scan_prefix(format!("{clock}\0"))
            .map(|row| {
                let (k, v) = row?;
                decode(&v, || {
                    format!(
                        "remembered answer {}",
                        String::from_utf8_lossy(&k).replace('\0', "/")
                    )
                })
            })
            .collect()
    }

    /// Forgets a remembered answer (it met a document, or it is too old).
    pub fn forget_answer(&self, answer: &RememberedAnswer) -> Result<()> {
        let id = DocumentId {
            clock: answer.clock.clone(),
            source: answer.source.clone(),
            key: answer.key.clone(),
        };
        self.db.open_tree(ANSWERS)?.remove(id.bytes())?;
        Ok(())
    }

    /// Withdraws the queued notices of a document whose clock was met at `at`: their
    /// rows leave the outbox unsent and their keys are recorded `Superseded`.
    pub fn withdraw_document_notices(&self, id: &DocumentId, at: Timestamp) -> Result<usize> {
        self.withdraw_notices(
            |key| {
                matches!(key, NoticeKey::Document { clock, source, key, .. }
                    if *clock == id.clock && *source == id.source && *key == id.key)
            },
            at,
            "met",
        )
    }
}

fn decode_document(row: sled::Result<(sled::IVec, sled::IVec)>) -> Result<TrackedDocument> {
    let (k, v) = row?;
    decode(&v, || {
        format!(
            "tracked document {}",
            String::from_utf8_lossy(&k).replace('\0', "/")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Notice, NoticeKind, ReplyStep};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn doc(clock: &str, key: &str) -> TrackedDocument {
        TrackedDocument {
            clock: clock.into(),
            source: "policy".into(),
            key: key.into(),
            title: "关于印发某办法的通知".into(),
            url: None,
            doc_no: Some("某政发〔2026〕3号".into()),
            published_at: at("2026-06-12T02:00:00Z"),
            due_at: at("2026-06-17T16:00:00Z"),
            backfilled: false,
            met_at: None,
            met_by: None,
        }
    }

    #[test]
    fn a_document_and_its_clock_are_written_together_and_meeting_stops_it() {
        let store = Store::temporary().unwrap();
        let a = doc("interpretation", "a/1");
        store
            .put_tracked_document(&a, Some((at("2026-06-15T00:00:00Z"), 0)))
            .unwrap();
        store
            .put_tracked_document(
                &doc("consultation", "a/1"),
                Some((at("2026-06-14T00:00:00Z"), 1)),
            )
            .unwrap();
        assert_eq!(store.tracked_documents(None).unwrap().len(), 2);
        assert_eq!(
            store.tracked_documents(Some("interpretation")).unwrap(),
            std::slice::from_ref(&a)
        );
        assert_eq!(
            store.document_due_first().unwrap(),
            Some(at("2026-06-14T00:00:00Z"))
        );
        let due = store.documents_due(at("2026-06-16T00:00:00Z"), 10).unwrap();
        assert_eq!(due.len(), 2);
        assert_eq!(due[1].id, DocumentId::of(&a));

        let id = DocumentId::of(&a);
        let met = store
            .meet_document(&id, |d| d.met_at = Some(at("2026-06-13T00:00:00Z")))
            .unwrap()
            .unwrap();
        assert_eq!(met.met_at, Some(at("2026-06-13T00:00:00Z")));
        // A second answer changes nothing.
        let again = store
            .meet_document(&id, |d| d.met_at = Some(at("2026-06-14T00:00:00Z")))
            .unwrap()
            .unwrap();
        assert_eq!(again.met_at, met.met_at);
        let due = store.documents_due(at("2026-06-16T00:00:00Z"), 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].id.clock, "consultation");
        let missing = DocumentId {
            key: "none".into(),
            ..id
        };
        assert_eq!(store.meet_document(&missing, |_| {}).unwrap(), None);
    }

    #[test]
    fn an_item_is_known_once_stored() {
        let store = Store::temporary().unwrap();
        let item = crate::parse::ParsedItem {
            key: "k/1".into(),
            title: "关于印发某办法的通知".into(),
            link: None,
            body: String::new(),
            published: None,
            date_quality: None,
        };
        assert!(!store.knows_item("policy", "k/1").unwrap());
        store
            .upsert_item("policy", item, at("2026-06-12T02:00:00Z"))
            .unwrap();
        assert!(store.knows_item("policy", "k/1").unwrap());
        assert!(!store.knows_item("policy2", "k/1").unwrap());
        assert!(!store.knows_item("policy", "k").unwrap());
    }

    #[test]
    fn meeting_withdraws_only_that_documents_queued_notices() {
        let store = Store::temporary().unwrap();
        let notice = |key: &str| Notice {
            key: NoticeKey::Document {
                clock: "interpretation".into(),
                source: "policy".into(),
                key: key.into(),
                step: ReplyStep::Overdue(1),
            }
            .into(),
            to: vec!["duty@example.org".into()],
            created_at: at("2026-06-18T00:00:00Z"),
            kind: NoticeKind::Bulletin {
                subject: "s".into(),
                paragraphs: Vec::new(),
                commands: Vec::new(),
            },
        };
        store.enqueue_notice(&notice("a")).unwrap();
        store.enqueue_notice(&notice("b")).unwrap();
        let id = DocumentId::of(&doc("interpretation", "a"));
        assert_eq!(
            store
                .withdraw_document_notices(&id, at("2026-06-18T01:00:00Z"))
                .unwrap(),
            1
        );
        assert_eq!(store.outbox_pending(10).unwrap().len(), 1);
    }
}
