//! When each incident, tracked board post and tracked document last changed (data
//! formats 8 and 9), so that `export --since` reads the records changed since then and
//! not the whole ledger.
//!
//! Layout: tree `tracked_changes`, two kinds of key per record, the record's kind
//! ([`Tracked`]) and identity (an incident's id, 8 bytes big-endian; a post's
//! `source \0 key`; a document's `clock \0 source \0 key`) at their end:
//! - `t ‖ kind ‖ ms ‖ id` → empty: by last change (milliseconds since the epoch,
//!   big-endian, sign bit flipped: byte order is time order), so the records changed
//!   since a time are one range;
//! - `l ‖ kind ‖ id` → ms: the record's entry in that range, replaced at each change.
//!
//! A record changes with its exported parts ([`super::LedgerRecord`],
//! [`super::ReplyRecord`], [`super::PolicyRecord`]): the incident (its record, items,
//! sources, audit entries, clocks, 签收 and the rest its [`super::LedgerTx`] writes:
//! every writer of the transaction notes the incident, stamped when the body ends)
//! and the text or classification of an item attached to it; the post or document
//! and its clock's next step; and the notice keys of each (queued, sent, dead,
//! superseded: written through [`super::OutboxTx::record`]). Each is stamped in the
//! transaction that writes it, with the time of the write, so a crash never keeps a
//! change without its stamp. An incident's `updated_at` still means "changed by a
//! person or an item" (`list --since`); its stamp moves with a clock step or a notice
//! too, which `updated_at` does not.
//!
//! A database from before format 8 gets a stamp, the time of the upgrade, for every
//! record it holds, one from format 8 for every incident (format 8 stamped posts and
//! documents only) ([`Store::ensure_tracked_changes`]): an incremental export from
//! before the upgrade carries them all.

use sled::transaction::TransactionalTree;

use super::ledger_index::ordered_ms;
use super::tx::TxResult;
use super::{Result, Store};
use crate::model::{IncidentId, NoticeKey, Timestamp};

pub(super) const TREE: &str = "tracked_changes";
const BY_TIME: u8 = b't';
const LATEST: u8 = b'l';
/// `meta` key: which records of an older database are stamped: absent, none; 1, the
/// posts and documents (format 8); [`VERSION`], the incidents too (format 9).
const VERSION_KEY: &[u8] = b"tracked_changes_version";
const VERSION: u32 = 2;
/// Records stamped per batch by the upgrade: a batch of all of them would hold the
/// whole index in memory (about 1 GiB for 100,000 records in sled).
const UPGRADE_BATCH: usize = 2_000;

/// Which ledger a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tracked {
    /// An incident (`incidents`), by id.
    Incident,
    /// A board post tracked for a reply (`replies`).
    Post,
    /// A tracked document of a document clock (`policies`).
    Document,
}

impl Tracked {
    fn byte(self) -> u8 {
        match self {
            Tracked::Incident => b'i',
            Tracked::Post => b'r',
            Tracked::Document => b'p',
        }
    }
}

fn latest_key(kind: Tracked, id: &[u8]) -> Vec<u8> {
    [&[LATEST, kind.byte()][..], id].concat()
}

fn time_key(kind: Tracked, ms: &[u8], id: &[u8]) -> Vec<u8> {
    [&[BY_TIME, kind.byte()][..], ms, id].concat()
}

/// Stamps record `id` of `kind` as changed now, inside the transaction that changes it.
pub(super) fn touch(tree: &TransactionalTree, kind: Tracked, id: &[u8]) -> TxResult<()> {
    let ms = ordered_ms(chrono::Utc::now());
    let latest = latest_key(kind, id);
    if let Some(old) = tree.insert(latest.as_slice(), &ms)? {
        if old.as_ref() == ms {
            return Ok(());
        }
        tree.remove(time_key(kind, &old, id))?;
    }
    tree.insert(time_key(kind, &ms, id), &[])?;
    Ok(())
}

/// The records of `ids` that `tree` still holds, in the order given, read by `decode`
/// (a page of an incremental export).
pub(super) fn read_ids<T>(
    tree: &sled::Tree,
    ids: &[RecordKey],
    decode: impl Fn(sled::Result<(sled::IVec, sled::IVec)>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut records = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(value) = tree.get(&id.0)? {
            records.push(decode(Ok((id.0.as_slice().into(), value)))?);
        }
    }
    Ok(records)
}

/// Stamps incident `id` as changed now, inside the transaction that changes it.
pub(super) fn touch_incident(tree: &TransactionalTree, id: IncidentId) -> TxResult<()> {
    touch(tree, Tracked::Incident, &id.to_be_bytes())
}

/// The incident a notice key belongs to: the one whose export carries it (`<id>/…`,
/// as [`Store::ledger_record`] reads them).
pub(super) fn incident_of(key: &str) -> Option<IncidentId> {
    let (head, _) = key.split_once('/')?;
    if head.is_empty() || !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    head.parse().ok()
}

/// The record a notice key belongs to: an incident's (`<id>/…`), a board post's
/// (`reply/SOURCE/KEY/…`) or a tracked document's (`policy/CLOCK/SOURCE/KEY/…`);
/// `None` for any other key.
pub(super) fn owner(key: &str) -> Option<(Tracked, Vec<u8>)> {
    if let Some(id) = incident_of(key) {
        return Some((Tracked::Incident, id.to_be_bytes().to_vec()));
    }
    if !key.starts_with("reply/") && !key.starts_with("policy/") {
        return None;
    }
    match key.parse().ok()? {
        NoticeKey::Reply { source, key, .. } => {
            Some((Tracked::Post, super::replies::post_key(&source, &key)))
        }
        NoticeKey::Document {
            clock, source, key, ..
        } => Some((
            Tracked::Document,
            super::DocumentId { clock, source, key }.bytes(),
        )),
        _ => None,
    }
}

/// A tracked post's or document's identity as its trees key it, from
/// [`Store::changed_posts`] or [`Store::changed_documents`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordKey(pub(super) Vec<u8>);

impl Store {
    /// The incidents changed at or after `since` (`export --since`: with those whose
    /// `updated_at` is), in id order.
    pub fn changed_incidents(&self, since: Timestamp) -> Result<Vec<IncidentId>> {
        Ok(self
            .changed_since(Tracked::Incident, since)?
            .into_iter()
            .filter_map(|key| key.0.try_into().ok().map(IncidentId::from_be_bytes))
            .collect())
    }

    /// The board posts changed at or after `since` (`export --since`), in key order.
    pub fn changed_posts(&self, since: Timestamp) -> Result<Vec<RecordKey>> {
        self.changed_since(Tracked::Post, since)
    }

    /// The tracked documents changed at or after `since`, in key order.
    pub fn changed_documents(&self, since: Timestamp) -> Result<Vec<RecordKey>> {
        self.changed_since(Tracked::Document, since)
    }

    /// The identities of the records of `kind` changed at or after `since` (compared at
    /// the millisecond the stamps keep, as `list --since` compares incidents), in key
    /// order: one range of the index, however many records are unchanged.
    fn changed_since(&self, kind: Tracked, since: Timestamp) -> Result<Vec<RecordKey>> {
        let start = time_key(kind, &ordered_ms(since), &[]);
        let end = [BY_TIME, kind.byte() + 1];
        let mut ids = Vec::new();
        for key in self.tracked_changes.range(start..end.to_vec()).keys() {
            let key = key?;
            match key.get(2 + 8..) {
                Some(id) => ids.push(RecordKey(id.to_vec())),
                None => tracing::warn!(key = ?key, "change index key too short; skipped"),
            }
        }
        // Each record has one time key; dedup keeps a damaged index (two keys for one
        // record) from exporting it twice, which `import` would refuse.
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Stamps the records of a database from before the index with the time of this
    /// open: every incident, tracked post and document of one older than format 8 (over
    /// an emptied index), every incident of one of format 8 (whose posts and documents
    /// have their stamps); in batches of [`UPGRADE_BATCH`] records (nothing else writes
    /// while the store opens), then records that it is done: an interrupted pass is
    /// run again at the next open. Returns how many records it stamped.
    pub(super) fn ensure_tracked_changes(&self) -> Result<usize> {
        let done = self
            .meta
            .get(VERSION_KEY)?
            .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes));
        let (posts, documents);
        let mut trees = vec![(Tracked::Incident, &self.ledger.incidents)];
        match done {
            Some(VERSION..) => return Ok(0),
            // An interrupted pass may have left stamps of another time.
            Some(_) => self.clear_kind(Tracked::Incident)?,
            None => {
                self.tracked_changes.clear()?;
                posts = self.db.open_tree(super::replies::TREE)?;
                documents = self.db.open_tree(super::policies::TREE)?;
                trees.extend([(Tracked::Post, &posts), (Tracked::Document, &documents)]);
            }
        }
        let ms = ordered_ms(chrono::Utc::now());
        let mut batch = sled::Batch::default();
        let mut stamped = 0;
        for (kind, tree) in trees {
            for id in tree.iter().keys() {
                let id = id?;
                batch.insert(latest_key(kind, &id), &ms);
                batch.insert(time_key(kind, &ms, &id), &[]);
                stamped += 1;
                if stamped % UPGRADE_BATCH == 0 {
                    self.tracked_changes
                        .apply_batch(std::mem::take(&mut batch))?;
                }
            }
        }
        self.tracked_changes.apply_batch(batch)?;
        self.meta.insert(VERSION_KEY, &VERSION.to_be_bytes())?;
        Ok(stamped)
    }

    /// Removes every key of the records of `kind` from the index.
    fn clear_kind(&self, kind: Tracked) -> Result<()> {
        for first in [BY_TIME, LATEST] {
            let mut batch = sled::Batch::default();
            for key in self
                .tracked_changes
                .scan_prefix([first, kind.byte()])
                .keys()
            {
                batch.remove(key?);
            }
            self.tracked_changes.apply_batch(batch)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Notice, NoticeKind};
    use crate::policies::TrackedDocument;
    use crate::replies::TrackedPost;
    use crate::store::DocumentId;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn post(key: &str) -> TrackedPost {
        TrackedPost::example(key)
    }

    fn document(key: &str) -> TrackedDocument {
        TrackedDocument::example(key)
    }

    fn notice(key: &str) -> Notice {
        Notice {
            key: key.into(),
            to: vec!["duty@localhost".into()],
            created_at: at("2026-11-23T04:00:00Z"),
            kind: NoticeKind::Bulletin {
                subject: "s".into(),
                paragraphs: vec![],
                commands: vec![],
            },
        }
    }

    /// A time after every stamp so far, before every later one.
    fn mark() -> Timestamp {
        std::thread::sleep(std::time::Duration::from_millis(2));
        let now = chrono::Utc::now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        now
    }

    fn posts(store: &Store, since: Timestamp) -> Vec<String> {
        let keys = store.changed_posts(since).unwrap();
        store
            .reply_records_of(&keys)
            .unwrap()
            .into_iter()
            .map(|r| r.post.key)
            .collect()
    }

    fn documents(store: &Store, since: Timestamp) -> Vec<String> {
        let keys = store.changed_documents(since).unwrap();
        store
            .policy_records_of(&keys)
            .unwrap()
            .into_iter()
            .map(|r| r.document.key)
            .collect()
    }

    /// A post or document is listed since a time when it, its clock or one of its
    /// notices changed at or after it: only those, in key order; writing it as it
    /// was is no change.
    #[test]
    fn a_record_is_stamped_by_every_change_to_what_it_exports() {
        let store = Store::temporary().unwrap();
        let start = mark();
        for key in ["c", "a", "b"] {
            store.put_tracked_post(&post(key)).unwrap();
            store
                .put_tracked_document(&document(key), Some((at("2026-06-17T16:00:00Z"), 0)))
                .unwrap();
        }
        assert_eq!(posts(&store, start), ["a", "b", "c"]);
        assert_eq!(documents(&store, start), ["a", "b", "c"]);
        let t = mark();
        assert!(posts(&store, t).is_empty() && documents(&store, t).is_empty());

        // Unchanged writes stamp nothing.
        store.put_tracked_post(&post("a")).unwrap();
        store.schedule_reply("board", "a", None).unwrap();
        store
            .put_tracked_document(&document("a"), Some((at("2026-06-17T16:00:00Z"), 0)))
            .unwrap();
        let id = |key: &str| DocumentId::of(&document(key));
        store
            .schedule_document(&id("a"), Some((at("2026-06-17T16:00:00Z"), 0)))
            .unwrap();
        assert!(posts(&store, t).is_empty() && documents(&store, t).is_empty());

        // The clock, the record, a notice queued: each a change.
        store
            .schedule_reply("board", "b", Some((at("2026-11-23T04:00:00Z"), 1)))
            .unwrap();
        assert_eq!(posts(&store, t), ["b"]);
        store
            .schedule_document(&id("c"), Some((at("2026-06-18T16:00:00Z"), 1)))
            .unwrap();
        assert_eq!(documents(&store, t), ["c"]);
        store.enqueue_notice(&notice("reply/board/c/80")).unwrap();
        store
            .enqueue_notice(&notice("policy/interpretation/policy/b/overdue/1"))
            .unwrap();
        assert_eq!(posts(&store, t), ["b", "c"]);
        assert_eq!(documents(&store, t), ["b", "c"]);

        // Sent, dead, withdrawn: changes of the notice's post or document only.
        let t = mark();
        store.enqueue_notice(&notice("7/opened")).unwrap();
        assert!(posts(&store, t).is_empty() && documents(&store, t).is_empty());
        let queued = store.outbox_pending(10).unwrap();
        let (seq, row) = queued
            .iter()
            .find(|(_, row)| row.notice.key == "reply/board/c/80")
            .unwrap();
        store
            .outbox_mark_sent(*seq, &row.notice.key, at("2026-11-23T04:01:00Z"))
            .unwrap();
        assert_eq!(posts(&store, t), ["c"]);
        assert!(documents(&store, t).is_empty());
        store
            .withdraw_document_notices(&id("b"), at("2026-06-18T02:00:00Z"))
            .unwrap();
        assert_eq!(documents(&store, t), ["b"]);
        let t = mark();
        store
            .meet_document(&id("a"), |doc| {
                doc.met_at = Some(at("2026-06-15T02:00:00Z"))
            })
            .unwrap();
        let mut replied = post("a");
        replied.replied_at = Some(at("2026-11-22T02:00:00Z"));
        store.put_tracked_post(&replied).unwrap();
        assert_eq!(posts(&store, t), ["a"]);
        assert_eq!(documents(&store, t), ["a"]);

        // Each record is listed once, however often it changed.
        assert_eq!(posts(&store, start), ["a", "b", "c"]);
        assert_eq!(
            store.tracked_changes.len(),
            2 * (6 + 1),
            "one time key and one latest key per record (and incident 7's, for its notice)"
        );
    }

    /// The incidents listed since `since` by `updated_at` and by their stamps.
    fn incidents(store: &Store, since: Timestamp) -> (Vec<IncidentId>, Vec<IncidentId>) {
        let filter = crate::store::ListFilter {
            all: true,
            since: Some(since),
            ..Default::default()
        };
        let mut updated = store.list_incidents(&filter).unwrap().ids;
        updated.sort_unstable();
        (updated, store.changed_incidents(since).unwrap())
    }

    /// An incident is stamped by every change to what its export carries, even the
    /// ones that leave its `updated_at` as it was (which `list --since` keeps meaning
    /// "changed by a person or an item"): a clock's step and the reminder it queues,
    /// the reminder sent, an audit entry, an item's new text and its classification.
    #[test]
    fn an_incident_is_stamped_by_its_clock_steps_notices_and_items() {
        use crate::model::Milestone;
        use crate::store::StoreError;
        use crate::store::incidents::DueEntry;
        use crate::store::tx::Abort;
        let store = Store::temporary().unwrap();
        let start = mark();
        crate::api::tests::fill(&store, 3);
        assert_eq!(store.changed_incidents(start).unwrap(), [1, 2, 3]);
        let t = mark();
        assert_eq!(incidents(&store, t), (vec![], vec![]));

        // A clock steps and queues its reminder: `updated_at` stays.
        store
            .ledger_tx(|tx| {
                let next = DueEntry::new(at("2026-11-24T05:00:00Z"), 2, Milestone::Statement, 1);
                tx.schedule(next)?;
                tx.outbox().enqueue(&notice("2/statement/50"))?;
                Ok::<_, Abort<StoreError>>(())
            })
            .unwrap();
        assert_eq!(incidents(&store, t), (vec![], vec![2]));

        // The reminder sent, alone.
        let t = mark();
        let queued = store.outbox_pending(10).unwrap();
        let (seq, _) = queued
            .iter()
            .find(|(_, row)| row.notice.key == "2/statement/50")
            .unwrap();
        store
            .outbox_mark_sent(*seq, "2/statement/50", at("2026-11-24T05:00:01Z"))
            .unwrap();
        assert_eq!(incidents(&store, t), (vec![], vec![2]));

        // An audit entry; a notice that is no incident's stamps none.
        let t = mark();
        store.enqueue_notice(&notice("digest/2026-11-24")).unwrap();
        store
            .ledger_tx(|tx| {
                tx.audit(&crate::model::AuditEntry {
                    incident: 3,
                    at: at("2026-11-24T05:00:00Z"),
                    by: "值班员".into(),
                    action: "note".into(),
                    detail: "备注".into(),
                    reason: None,
                })?;
                Ok::<_, Abort<StoreError>>(())
            })
            .unwrap();
        assert_eq!(incidents(&store, t), (vec![], vec![3]));

        // An item of incident 1 gets a new text, then its classification.
        let t = mark();
        let item = store.item("a", "1-0").unwrap().unwrap();
        let revised = crate::parse::ParsedItem {
            key: item.key.clone(),
            title: format!("{}（更新）", item.title),
            link: item.link.clone(),
            body: item.body.clone(),
            published: None,
            date_quality: None,
        };
        store.upsert_item("a", revised, chrono::Utc::now()).unwrap();
        assert_eq!(incidents(&store, t), (vec![], vec![1]));
        let t = mark();
        store
            .set_classification("a", "1-0", Default::default())
            .unwrap();
        assert_eq!(incidents(&store, t), (vec![], vec![1]));
        // An item of no incident stamps none.
        let t = mark();
        store
            .set_classification("a", "nobody", Default::default())
            .unwrap();
        assert_eq!(incidents(&store, t), (vec![], vec![]));

        // Each incident has one time key and one latest key.
        assert_eq!(store.changed_incidents(start).unwrap(), [1, 2, 3]);
        let keys = store.tracked_changes.scan_prefix([BY_TIME, b'i']).count();
        assert_eq!(keys, 3);
    }

    /// `since` is compared at the millisecond the stamps keep, as for incidents: a
    /// record stamped in the millisecond of `since` is listed, whatever `since`'s
    /// fraction of it.
    #[test]
    fn since_is_compared_at_millisecond_resolution() {
        let store = Store::temporary().unwrap();
        store.put_tracked_post(&post("a")).unwrap();
        let latest = store
            .tracked_changes
            .get(latest_key(Tracked::Post, b"board\0a"))
            .unwrap()
            .unwrap();
        let mut ms = <[u8; 8]>::try_from(latest.as_ref()).unwrap();
        ms[0] ^= 0x80;
        let stamped = chrono::DateTime::from_timestamp_millis(i64::from_be_bytes(ms)).unwrap();
        let within = stamped + chrono::Duration::microseconds(999);
        assert_eq!(posts(&store, within), ["a"]);
        assert!(posts(&store, stamped + chrono::Duration::milliseconds(1)).is_empty());
    }

    /// A database of data format 7 (posts, documents and notices, no change index) is
    /// upgraded at open: every record is stamped with the time of the upgrade, so an
    /// incremental export since before it carries them all and one since after it
    /// none; an upgrade interrupted before its end is done again at the next open.
    #[test]
    fn format_7_records_are_stamped_at_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let format_7 = |store: &Store| {
            store.tracked_changes.clear().unwrap();
            store.meta.remove(VERSION_KEY).unwrap();
            let format = crate::store::FORMAT_KEY;
            store.meta.insert(format, &7u32.to_be_bytes()).unwrap();
            store.flush_blocking().unwrap();
        };
        {
            let store = Store::open(dir.path()).unwrap();
            for key in ["a", "b"] {
                store.put_tracked_post(&post(key)).unwrap();
                store.put_tracked_document(&document(key), None).unwrap();
            }
            store.enqueue_notice(&notice("reply/board/a/80")).unwrap();
            format_7(&store);
        }
        let before = mark();
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.upgraded_from(), Some(7));
            assert_eq!(posts(&store, before), ["a", "b"]);
            assert_eq!(documents(&store, before), ["a", "b"]);
            let after = mark();
            assert!(posts(&store, after).is_empty() && documents(&store, after).is_empty());
            // Records read as they were written.
            assert_eq!(store.tracked_post("board", "a").unwrap(), Some(post("a")));
            let records = store.reply_records(None, 10).unwrap();
            assert_eq!(records[0].notices.len(), 1);
            // As if the upgrade had stopped before recording that it was done.
            store.tracked_changes.clear().unwrap();
            store.meta.remove(VERSION_KEY).unwrap();
            store.flush_blocking().unwrap();
        }
        let again = mark();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(posts(&store, again), ["a", "b"]);
        assert_eq!(documents(&store, again), ["a", "b"]);
        assert_eq!(store.ensure_tracked_changes().unwrap(), 0, "done once");
    }

    /// A database of data format 8 (posts and documents stamped, incidents not) is
    /// upgraded at open: every incident is stamped with the time of the upgrade, the
    /// posts' and documents' stamps stay; an interrupted pass (stamps of another time
    /// left behind) is done again, one time key per incident.
    #[test]
    fn format_8_incidents_are_stamped_at_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let format_8 = |store: &Store| {
            store.clear_kind(Tracked::Incident).unwrap();
            store.meta.insert(VERSION_KEY, &1u32.to_be_bytes()).unwrap();
            let format = crate::store::FORMAT_KEY;
            store.meta.insert(format, &8u32.to_be_bytes()).unwrap();
            store.flush_blocking().unwrap();
        };
        {
            let store = Store::open(dir.path()).unwrap();
            crate::api::tests::fill(&store, 3);
            store.put_tracked_post(&post("a")).unwrap();
            format_8(&store);
            assert!(
                store
                    .changed_incidents(at("2000-01-01T00:00:00Z"))
                    .unwrap()
                    .is_empty()
            );
        }
        let before = mark();
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.upgraded_from(), Some(8));
            assert_eq!(store.changed_incidents(before).unwrap(), [1, 2, 3]);
            assert!(posts(&store, before).is_empty(), "posts keep their stamps");
            let after = mark();
            assert!(store.changed_incidents(after).unwrap().is_empty());
            // As if the upgrade had stopped before recording that it was done.
            store.meta.insert(VERSION_KEY, &1u32.to_be_bytes()).unwrap();
            store.flush_blocking().unwrap();
        }
        let again = mark();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.changed_incidents(again).unwrap(), [1, 2, 3]);
        let keys = store.tracked_changes.scan_prefix([BY_TIME, b'i']).count();
        assert_eq!(keys, 3, "the interrupted pass's stamps are gone");
        assert_eq!(store.ensure_tracked_changes().unwrap(), 0, "done once");
    }
}
