//! Items and the seen set. An item's key is `source \0 item-key`; the same key
//! never creates a second item: new text updates it in place.
//!
//! Every new or changed item is also put on the `items_pending` list in the same
//! transaction, and leaves it only when the pipeline has classified it and handed it
//! to the ledger ([`Store::item_handled`]). So an item stored just before a crash is
//! still classified after the restart. The mark holds a print of the text it was set
//! for ([`text_print`]; empty in databases written before it): a verdict or a ledger
//! hand-off on an older text leaves the mark of a newer one in place, so a text that
//! changes while its predecessor is being classified is classified in its turn.
//!
//! An item is written once: a poll's new and changed items in one transaction
//! ([`Store::upsert_items`]), and the classification later lands in `items_class`
//! (item key → the classification, binary) rather than rewriting the whole item with
//! its text ([`Store::record_classifications`], one transaction per pipeline batch,
//! which also clears the pending marks of the items that need nothing more). Reading
//! an item takes its classification from `items_class`, else from the record itself
//! (format 1 kept it there; such records are read as they are, see `FORMAT_VERSION`).
//! A changed text removes the stored classification in the transaction that stores
//! the text. Nor does joining an incident rewrite the item: the ledger's attachment
//! (`incident_items`, written in the ledger's transaction) is what `Item::incident`
//! is read from (records of formats 1–3 may also carry it, read when no attachment
//! says otherwise).
//!
//! An item's record is binary, its text in GB18030 and compressed (zstd) where that
//! pays (see [`super::record`], which also reads the JSON and deflated records of
//! formats 0–5 as they are): fewer bytes live, and fewer for sled's log to rewrite
//! (the figures in docs/performance.md "Disk"). A poll's records are encoded before
//! its transaction with one compression context.
//!
//! Two more trees, written in the same transaction as a new item:
//! - `items_by_time`: `first_seen_ms ‖ source \0 key` → empty, the items by the time
//!   they were first seen, so the digest reads a period's items by key range instead
//!   of decoding every stored item ([`Store::items_first_seen_in`]); built at open for
//!   a database written before it;
//! - `items_swept`: what retention removed (see [`super::retention`]): the first 16
//!   bytes of SHA-256 of `source \0 key` → the first 8 bytes of SHA-256 of
//!   `title \0 body`. A feed that still lists a swept item with the same text does not
//!   bring it back (the upsert answers [`UpsertOutcome::Unchanged`]); with new text it is
//!   stored again as a new item (as any edit is classified again).

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::record::{ItemEncoder, decode_class, decode_item, encode_class, encode_item};
use super::{Result, Store, StoreError};
use crate::model::{Classification, IncidentId, Item, Timestamp};
use crate::parse::ParsedItem;

/// What an upsert did.
#[derive(Debug, Clone, PartialEq)]
pub enum UpsertOutcome {
    /// Never seen before: stored.
    New(Item),
    /// Seen, and its title or body changed: updated in place, `revisions` incremented.
    Updated(Item),
    /// Seen, same text: nothing written.
    Unchanged,
}

/// One item [`Store::upsert_items`] is to write.
struct Write {
    key: Vec<u8>,
    /// Where its outcome (which holds the item, new or updated) is in the list the
    /// upsert returns: the item is written from there, not copied.
    at: usize,
    /// Its text replaced an earlier one: the stored classification goes.
    replaced: bool,
    /// Retention's record of the key may exist (a swept item back with new text, or
    /// an edit, which retention may sweep meanwhile): removed if the key is new.
    swept: bool,
}

/// One item as [`Store::upsert_items`] writes it, encoded before its transaction
/// (the keys and record as sled's own buffers, made once: the transaction's writes
/// share them, and its closure may run again on a conflict).
struct Row {
    key: sled::IVec,
    value: sled::IVec,
    by_time: sled::IVec,
    /// The `items_swept` key to remove if the item is new, when there may be one.
    swept: Option<[u8; 16]>,
    /// Its text replaced an earlier one: the stored classification goes.
    replaced: bool,
    /// The pending mark: the print of this text.
    print: [u8; 8],
    /// The incident a replaced text belongs to: its export carries the item, so the
    /// change stamps it ([`super::changes`]).
    incident: Option<IncidentId>,
}

/// One classified item for [`Store::record_classifications`].
#[derive(Debug, Clone, Copy)]
pub struct Verdict<'a> {
    pub source: &'a str,
    pub key: &'a str,
    pub classification: &'a Classification,
    /// Nothing more to do for the item (no ledger step): clear its pending mark.
    pub done: bool,
    /// The title and body that were classified, when known: if the item's text has
    /// changed since (its pending mark is another text's), the verdict is dropped and
    /// the mark stays for the new text.
    pub text: Option<(&'a str, &'a str)>,
}

/// A verdict as [`Store::record_classifications`] writes it (key and record as
/// sled's own buffers, made once and shared by the transaction's writes).
struct ClassRow {
    key: sled::IVec,
    class: sled::IVec,
    done: bool,
    /// The print of the text classified, when the verdict names it.
    print: Option<[u8; 8]>,
}

/// The `meta` key of the number of stored items.
pub(super) const ITEMS_COUNT: &[u8] = b"items_count";

pub(super) fn read_count(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

/// The `meta` key set once `items_by_time` covers every stored item.
const TIME_INDEX_KEY: &[u8] = b"items_by_time_version";

/// The `items_by_time` key of an item.
pub(super) fn time_key(first_seen: Timestamp, item_key: &[u8]) -> Vec<u8> {
    let ms = u64::try_from(first_seen.timestamp_millis()).unwrap_or(0);
    [ms.to_be_bytes().as_slice(), item_key].concat()
}

/// The `items_swept` key of an item: a fixed 16 bytes, whatever the key's length.
pub(super) fn swept_key(item_key: &[u8]) -> [u8; 16] {
    let digest = Sha256::digest(item_key);
    let mut out = [0; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// The `items_swept` value: a fingerprint of the item's text.
pub(super) fn text_print(title: &str, body: &str) -> [u8; 8] {
    let mut hasher = Sha256::new();
    hasher.update(title.as_bytes());
    hasher.update([0]);
    hasher.update(body.as_bytes());
    let mut out = [0; 8];
    out.copy_from_slice(&hasher.finalize()[..8]);
    out
}

/// Whether a pending mark was set for the text of this print ([`text_print`]), or is
/// empty (marks written before they held one are taken as the stored text's).
fn mark_is_for(mark: &[u8], print: &[u8; 8]) -> bool {
    mark.is_empty() || mark == print
}

/// The item an upsert's outcome wrote (new or updated), if it wrote one.
fn written(outcomes: &[UpsertOutcome], at: usize) -> Option<&Item> {
    match outcomes.get(at)? {
        UpsertOutcome::New(item) | UpsertOutcome::Updated(item) => Some(item),
        UpsertOutcome::Unchanged => None,
    }
}

pub(super) fn item_key(source: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.len() + 1 + key.len());
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

impl Store {
    /// Stores an item unless it is already known with the same text.
    pub fn upsert_item(
        &self,
        source: &str,
        up: ParsedItem,
        now: Timestamp,
    ) -> Result<UpsertOutcome> {
        let mut outcomes = self.upsert_items(source, vec![up], now)?;
        Ok(outcomes.pop().unwrap_or(UpsertOutcome::Unchanged))
    }

    /// Stores a poll's items, each unless it is already known with the same text, all
    /// in one transaction (nothing of the poll is stored if it fails). One outcome per
    /// item, in order; a key listed twice is compared with its first copy.
    pub fn upsert_items(
        &self,
        source: &str,
        items: Vec<ParsedItem>,
        now: Timestamp,
    ) -> Result<Vec<UpsertOutcome>> {
        let mut outcomes = Vec::with_capacity(items.len());
        // What the transaction writes.
        let mut writes: Vec<Write> = Vec::new();
        let mut in_batch: HashMap<Vec<u8>, usize> = HashMap::new();
        for up in items {
            let key = item_key(source, &up.key);
            let mut swept = false;
            let existing = match in_batch.get(&key) {
                Some(&at) => written(&outcomes, writes[at].at).cloned(),
                None => self
                    .items
                    .get(&key)?
                    .map(|bytes| decode_item(&key, &bytes, || format!("item {source}/{}", up.key)))
                    .transpose()?,
            };
            let outcome = match existing {
                Some(old) if old.title == up.title && old.body == up.body => {
                    UpsertOutcome::Unchanged
                }
                Some(old) => UpsertOutcome::Updated(Item {
                    incident: self.attached_incident(&key)?.or(old.incident),
                    title: up.title,
                    body: up.body,
                    link: up.link.or(old.link),
                    published: up.published.or(old.published),
                    date_quality: up.date_quality.or(old.date_quality),
                    updated_at: now,
                    revisions: old.revisions + 1,
                    // The text changed: classify again.
                    classification: None,
                    ..old
                }),
                None => match self.swept_print(&key)? {
                    Some(print) if print.as_ref() == text_print(&up.title, &up.body) => {
                        UpsertOutcome::Unchanged
                    }
                    found => {
                        swept = found.is_some();
                        UpsertOutcome::New(Item {
                            source: source.to_string(),
                            key: up.key,
                            title: up.title,
                            link: up.link,
                            body: up.body,
                            published: up.published,
                            date_quality: up.date_quality,
                            first_seen: now,
                            updated_at: now,
                            revisions: 0,
                            classification: None,
                            incident: None,
                        })
                    }
                },
            };
            let replaced = match &outcome {
                UpsertOutcome::New(_) => false,
                UpsertOutcome::Updated(_) => true,
                UpsertOutcome::Unchanged => {
                    outcomes.push(outcome);
                    continue;
                }
            };
            let at = outcomes.len();
            match in_batch.get(&key) {
                Some(&earlier) => {
                    let earlier = &mut writes[earlier];
                    earlier.at = at;
                    earlier.replaced |= replaced;
                }
                None => {
                    in_batch.insert(key.clone(), writes.len());
                    writes.push(Write {
                        key,
                        at,
                        replaced,
                        swept: swept || replaced,
                    });
                }
            }
            outcomes.push(outcome);
        }
        if !writes.is_empty() {
            self.write_pending(&writes, &outcomes)?;
        }
        Ok(outcomes)
    }

    /// The print of the text retention swept this item with, if it did (see the
    /// module docs).
    fn swept_print(&self, key: &[u8]) -> Result<Option<sled::IVec>> {
        Ok(self.items_swept.get(swept_key(key))?)
    }

    /// Stores items and marks them pending, in one transaction; a new key also counts
    /// in `items_count`, goes into `items_by_time` and leaves `items_swept` where it
    /// may be there (so `status` needs no scan of the items, and the digest reads its
    /// period by key range); a replaced text loses its stored classification. The
    /// records are encoded first, with one compressor for all of them.
    fn write_pending(&self, writes: &[Write], outcomes: &[UpsertOutcome]) -> Result<()> {
        let mut encoder = ItemEncoder::new();
        let rows: Vec<Row> = writes
            .iter()
            .filter_map(|write| {
                let item = written(outcomes, write.at)?;
                Some(Row {
                    key: write.key.as_slice().into(),
                    value: encoder.encode(item).into(),
                    by_time: time_key(item.first_seen, &write.key).into(),
                    swept: write.swept.then(|| swept_key(&write.key)),
                    replaced: write.replaced,
                    print: text_print(&item.title, &item.body),
                    incident: item.incident.filter(|_| write.replaced),
                })
            })
            .collect();
        (
            &self.items,
            &self.items_pending,
            &self.meta,
            &self.items_by_time,
            &self.items_swept,
            &self.items_class,
            &self.tracked_changes,
        )
            .transaction(
                |(items, pending, meta, times, swept_tree, classes, changes)| {
                    let mut added = 0u64;
                    for row in &rows {
                        if items.insert(row.key.clone(), row.value.clone())?.is_none() {
                            added += 1;
                            times.insert(row.by_time.clone(), &[])?;
                            if let Some(swept) = &row.swept {
                                swept_tree.remove(swept)?;
                            }
                        }
                        if row.replaced {
                            classes.remove(row.key.clone())?;
                        }
                        if let Some(id) = row.incident {
                            super::changes::touch_incident(changes, id)?;
                        }
                        pending.insert(row.key.clone(), &row.print)?;
                    }
                    if added > 0 {
                        let count = meta.get(ITEMS_COUNT)?.map_or(0, |v| read_count(&v));
                        meta.insert(ITEMS_COUNT, &(count + added).to_be_bytes())?;
                    }
                    Ok::<_, ConflictableTransactionError<StoreError>>(())
                },
            )
            .map_err(super::tx::plain_error)
    }

    /// Writes an item as it was exported (for `import`): the item, its `items_by_time`
    /// key and, for a new key, the counter's share. Returns whether the key was new.
    pub(super) fn put_restored_item(&self, key: &[u8], item: &Item) -> Result<bool> {
        let new = self.items.insert(key, encode_item(item))?.is_none();
        // The exported item carries its classification: a stored one is older.
        match &item.classification {
            Some(class) => self.items_class.insert(key, encode_class(class))?,
            None => self.items_class.remove(key)?,
        };
        if new {
            self.items_by_time
                .insert(time_key(item.first_seen, key), &[])?;
        }
        Ok(new)
    }

    /// Items first seen in `[start, end)`, in key order (source, then key), read
    /// through `items_by_time`: only the period's items are decoded. A record that no
    /// longer decodes is returned as its error, in place.
    pub fn items_first_seen_in(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Result<Item>>> {
        if end <= start {
            return Ok(Vec::new());
        }
        let from = time_key(start, &[]);
        let to = time_key(end, &[]);
        let mut keys = Vec::new();
        for key in self.items_by_time.range(from..to).keys() {
            let key = key?;
            keys.push(key.get(8..).unwrap_or_default().to_vec());
        }
        keys.sort_unstable();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(bytes) = self.items.get(&key)? {
                out.push(self.read_item(&key, &bytes));
            }
        }
        Ok(out)
    }

    /// Builds `items_by_time` for a database written before it (one scan, once).
    /// Returns how many items were indexed.
    pub(super) fn ensure_time_index(&self) -> Result<usize> {
        if self.meta.get(TIME_INDEX_KEY)?.is_some() {
            return Ok(0);
        }
        let mut count = 0;
        for entry in self.items.iter() {
            let (key, value) = entry?;
            // Only the time is needed; a record that no longer decodes is left out
            // (the digest skipped it before too).
            if let Ok(seen) = decode_item(&key, &value, String::new) {
                self.items_by_time
                    .insert(time_key(seen.first_seen, &key), &[])?;
                count += 1;
            }
        }
        self.meta.insert(TIME_INDEX_KEY, &1u32.to_be_bytes())?;
        Ok(count)
    }

    /// Items stored but not yet through classification and the ledger, in key order.
    pub fn pending_items(&self) -> Result<Vec<Item>> {
        self.pending_items_after(None, usize::MAX)
    }

    /// Up to `limit` pending items after `after` (source, key), in key order: the
    /// pipeline reads its backlog from the store in bounded chunks (the items a full
    /// hand-over channel left behind, and those of an earlier run).
    pub fn pending_items_after(
        &self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<Item>> {
        let keys = match after {
            Some((source, key)) => {
                let from = item_key(source, key);
                self.items_pending
                    .range((std::ops::Bound::Excluded(from), std::ops::Bound::Unbounded))
            }
            None => self.items_pending.iter(),
        };
        let mut out = Vec::new();
        for key in keys.keys() {
            if out.len() >= limit {
                break;
            }
            let key = key?;
            if let Some(bytes) = self.items.get(&key)? {
                out.push(self.read_item(&key, &bytes)?);
            }
        }
        Ok(out)
    }

    /// Takes an item off the pending list, whatever text it was marked for.
    pub fn item_done(&self, source: &str, key: &str) -> Result<()> {
        self.items_pending.remove(item_key(source, key))?;
        Ok(())
    }

    /// The pipeline is finished with this item's text: its pending mark goes if it is
    /// still this text's (or an unprinted mark of an older database). A mark set for a
    /// newer text since stays, atomically (compare and swap), so that text is
    /// classified in its turn.
    pub fn item_handled(&self, item: &Item) -> Result<()> {
        let key = item_key(&item.source, &item.key);
        let Some(mark) = self.items_pending.get(&key)? else {
            return Ok(());
        };
        if mark_is_for(&mark, &text_print(&item.title, &item.body)) {
            // A failed swap means a newer text marked the item meanwhile: it stays.
            let _ = self
                .items_pending
                .compare_and_swap(&key, Some(mark), None::<&[u8]>)?;
        }
        Ok(())
    }

    pub fn pending_count(&self) -> usize {
        self.items_pending.len()
    }

    pub fn item(&self, source: &str, key: &str) -> Result<Option<Item>> {
        let key = item_key(source, key);
        self.items
            .get(&key)?
            .map(|bytes| self.read_item(&key, &bytes))
            .transpose()
    }

    /// Decodes a stored item with its classification from `items_class` and the
    /// incident it belongs to from the ledger's `incident_items` (a record of format 1
    /// may carry its own classification, one of formats 1–3 its incident).
    fn read_item(&self, key: &[u8], bytes: &[u8]) -> Result<Item> {
        let what = || format!("item {}", String::from_utf8_lossy(key).replace('\0', "/"));
        let mut item = decode_item(key, bytes, what)?;
        if let Some(class) = self.items_class.get(key)? {
            item.classification = Some(decode_class(&class, || {
                format!("classification of {}", what())
            })?);
        }
        if let Some(incident) = self.attached_incident(key)? {
            item.incident = Some(incident);
        }
        Ok(item)
    }

    /// The incident the ledger attached an item to, if any.
    fn attached_incident(&self, key: &[u8]) -> Result<Option<IncidentId>> {
        Ok(self
            .ledger
            .attached
            .get(key)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)))
    }

    /// Records the classifier's verdict on a stored item.
    pub fn set_classification(
        &self,
        source: &str,
        key: &str,
        classification: Classification,
    ) -> Result<()> {
        self.record_classifications(&[Verdict {
            source,
            key,
            classification: &classification,
            done: false,
            text: None,
        }])
    }

    /// Records a batch of the classifier's verdicts and clears the pending marks of
    /// the items that need nothing more (`done`), in one transaction: an item is
    /// either still pending or classified and off the list, never in between. A
    /// verdict on a text the item no longer has (see [`Verdict::text`]) is dropped.
    pub fn record_classifications(&self, verdicts: &[Verdict<'_>]) -> Result<()> {
        // Keys, records and prints are made once, outside the transaction (its closure
        // runs again on a conflict).
        let rows: Vec<ClassRow> = verdicts
            .iter()
            .map(|v| ClassRow {
                key: item_key(v.source, v.key).into(),
                class: encode_class(v.classification).into(),
                done: v.done,
                print: v.text.map(|(title, body)| text_print(title, body)),
            })
            .collect();
        (
            &self.items_class,
            &self.items_pending,
            &self.ledger.attached,
            &self.tracked_changes,
        )
            .transaction(|(classes, pending, attached, changes)| {
                for ClassRow {
                    key,
                    class,
                    done,
                    print,
                } in &rows
                {
                    if let Some(print) = print
                        && let Some(mark) = pending.get(key)?
                        && !mark_is_for(&mark, print)
                    {
                        continue;
                    }
                    classes.insert(key.clone(), class.clone())?;
                    // An attached item's classification is part of its incident's
                    // export ([`super::changes`]).
                    if let Some(id) = attached
                        .get(key)?
                        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok().map(u64::from_be_bytes))
                    {
                        super::changes::touch_incident(changes, id)?;
                    }
                    if *done {
                        pending.remove(key.clone())?;
                    }
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(super::tx::plain_error)
    }

    /// How many items are stored, from the counter (no scan).
    pub fn item_count(&self) -> usize {
        let count = self.meta.get(ITEMS_COUNT).ok().flatten();
        usize::try_from(count.map_or(0, |v| read_count(&v))).unwrap_or(usize::MAX)
    }

    /// Adds `n` newly written items to the counter (for writers outside
    /// `write_pending`, such as `import`).
    pub(super) fn count_new_items(&self, n: u64) -> Result<()> {
        self.meta.update_and_fetch(ITEMS_COUNT, |old| {
            Some((old.map_or(0, read_count) + n).to_be_bytes().to_vec())
        })?;
        Ok(())
    }

    /// Sets the item counter of a database written before it (one scan, once).
    pub(super) fn ensure_item_count(&self) -> Result<()> {
        if self.meta.get(ITEMS_COUNT)?.is_none() {
            let count = self.items.len() as u64;
            self.meta.insert(ITEMS_COUNT, &count.to_be_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(title: &str, body: &str) -> ParsedItem {
        ParsedItem {
            key: "k".into(),
            title: title.into(),
            link: Some("https://example.org/1".into()),
            body: body.into(),
            published: None,
            date_quality: None,
        }
    }

    #[test]
    fn same_key_never_duplicates_and_edits_update() {
        let store = Store::temporary().unwrap();
        let now = chrono::Utc::now();
        assert!(matches!(
            store.upsert_item("s", up("标题", "正文"), now).unwrap(),
            UpsertOutcome::New(_)
        ));
        assert_eq!(
            store.upsert_item("s", up("标题", "正文"), now).unwrap(),
            UpsertOutcome::Unchanged
        );
        let UpsertOutcome::Updated(item) = store
            .upsert_item("s", up("标题", "更正后的正文"), now)
            .unwrap()
        else {
            panic!("expected an update")
        };
        assert_eq!(item.revisions, 1);
        assert_eq!(store.item_count(), 1, "an edit is not a new item");
        store.upsert_item("t", up("标题", "正文"), now).unwrap();
        assert_eq!(store.item_count(), 2);
        assert_eq!(store.item("s", "k").unwrap().unwrap().body, "更正后的正文");
    }

    #[test]
    fn new_and_changed_items_stay_pending_until_done() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .upsert_item("s", up("标题", "正文"), chrono::Utc::now())
                .unwrap();
            store.flush_blocking().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let pending = store.pending_items().unwrap();
        assert_eq!(pending.len(), 1, "survives a restart");
        assert_eq!(store.item_count(), 1, "the counter survives too");
        store.item_done("s", "k").unwrap();
        assert_eq!(store.pending_count(), 0);
        store
            .upsert_item("s", up("标题", "正文"), chrono::Utc::now())
            .unwrap();
        assert_eq!(
            store.pending_count(),
            0,
            "unchanged text is not pending again"
        );
        store
            .upsert_item("s", up("标题", "新正文"), chrono::Utc::now())
            .unwrap();
        assert_eq!(store.pending_items().unwrap()[0].body, "新正文");
    }

    /// A text that changes while its predecessor is being classified keeps its
    /// pending mark: the verdict on the old text and its hand-off are dropped, and
    /// the new text is classified in its turn (a race the pipeline's overlapping
    /// stages widen: classified, then stored a batch later).
    #[test]
    fn a_verdict_on_an_older_text_leaves_the_newer_pending() {
        let store = Store::temporary().unwrap();
        let now = chrono::Utc::now();
        store.upsert_item("s", up("标题", "旧正文"), now).unwrap();
        let old = store.pending_items().unwrap().remove(0);
        store.upsert_item("s", up("标题", "新正文"), now).unwrap();
        let class = Classification::default();
        fn verdict<'a>(item: &'a Item, class: &'a Classification) -> Verdict<'a> {
            Verdict {
                source: "s",
                key: "k",
                classification: class,
                done: true,
                text: Some((&item.title, &item.body)),
            }
        }
        store
            .record_classifications(&[verdict(&old, &class)])
            .unwrap();
        assert_eq!(store.pending_count(), 1, "the new text is still pending");
        let new = store.pending_items().unwrap().remove(0);
        assert_eq!(new.body, "新正文");
        assert!(
            new.classification.is_none(),
            "the old verdict is not stored"
        );
        store.item_handled(&old).unwrap();
        assert_eq!(store.pending_count(), 1, "nor does its hand-off clear it");
        store
            .record_classifications(&[verdict(&new, &class)])
            .unwrap();
        assert_eq!(store.pending_count(), 0);
        assert!(
            store
                .item("s", "k")
                .unwrap()
                .unwrap()
                .classification
                .is_some()
        );
        // An unprinted mark (a database from before prints) is any text's.
        store.upsert_item("s", up("标题", "第三版"), now).unwrap();
        store.items_pending.insert(item_key("s", "k"), &[]).unwrap();
        store.item_handled(&old).unwrap();
        assert_eq!(store.pending_count(), 0);
    }

    #[test]
    fn an_old_database_gets_its_item_count_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            for key in ["a", "b", "c"] {
                let item = ParsedItem {
                    key: key.into(),
                    ..up("标题", "正文")
                };
                store.upsert_item("s", item, chrono::Utc::now()).unwrap();
            }
            store.meta.remove(ITEMS_COUNT).unwrap();
            assert_eq!(store.item_count(), 0);
            store.flush_blocking().unwrap();
        }
        assert_eq!(Store::open(dir.path()).unwrap().item_count(), 3);
    }

    /// The period's items come from the time index: only they are decoded (a broken
    /// record outside the period is never read), in key order; the index is built at
    /// open for a database written before it.
    #[test]
    fn a_period_reads_only_its_items_and_the_index_is_built_at_open() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let period = |store: &Store| -> Vec<std::result::Result<String, String>> {
            store
                .items_first_seen_in(t("2026-11-23T16:00:00Z"), t("2026-11-24T16:00:00Z"))
                .unwrap()
                .into_iter()
                .map(|r| r.map(|item| item.key).map_err(|e| e.to_string()))
                .collect()
        };
        {
            let store = Store::open(dir.path()).unwrap();
            for (key, at) in [
                ("b", "2026-11-24T01:00:00Z"),
                ("a", "2026-11-24T15:59:59Z"),
                ("before", "2026-11-23T15:59:59Z"),
                ("at-end", "2026-11-24T16:00:00Z"),
            ] {
                let item = ParsedItem {
                    key: key.into(),
                    ..up("标题", "正文")
                };
                store.upsert_item("s", item, t(at)).unwrap();
            }
            // Broken records: "before" lies outside the period, "b" inside.
            store
                .items
                .insert(item_key("s", "before"), b"{".to_vec())
                .unwrap();
            assert_eq!(period(&store), [Ok("a".to_string()), Ok("b".to_string())]);
            store
                .items
                .insert(item_key("s", "b"), b"{".to_vec())
                .unwrap();
            let got = period(&store);
            assert_eq!(got[0], Ok("a".to_string()));
            assert!(
                got[1].as_ref().is_err_and(|e| e.contains("item s")),
                "{got:?}"
            );
            // As written before the index existed.
            store.items_by_time.clear().unwrap();
            store.meta.remove(TIME_INDEX_KEY).unwrap();
            assert!(period(&store).is_empty());
            store.flush_blocking().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            period(&store),
            [Ok("a".to_string())],
            "rebuilt at open; records that no longer decode are left out of it"
        );
    }

    #[test]
    fn classification_and_incident_are_recorded() {
        let store = Store::temporary().unwrap();
        store
            .upsert_item("s", up("标题", "正文"), chrono::Utc::now())
            .unwrap();
        let c = Classification {
            flag: true,
            ..Default::default()
        };
        store.set_classification("s", "k", c.clone()).unwrap();
        let record = store.items.get(item_key("s", "k")).unwrap();
        store
            .ledger_tx(|tx| Ok::<_, super::super::Abort<StoreError>>(tx.attach("s", "k", 7)?))
            .unwrap();
        assert_eq!(
            store.items.get(item_key("s", "k")).unwrap(),
            record,
            "attaching does not rewrite the item"
        );
        let item = store.item("s", "k").unwrap().unwrap();
        assert_eq!(item.classification, Some(c));
        assert_eq!(item.incident, Some(7));
    }

    fn keyed(key: &str, body: &str) -> ParsedItem {
        ParsedItem {
            key: key.into(),
            ..up("标题", body)
        }
    }

    /// A poll's items go in together; a key listed twice is one item (its later text
    /// an update of the first); unchanged ones are not written again.
    #[test]
    fn a_polls_items_are_stored_in_one_go() {
        let store = Store::temporary().unwrap();
        let now = chrono::Utc::now();
        let outcomes = store
            .upsert_items(
                "s",
                vec![
                    keyed("a", "正文"),
                    keyed("b", "正文"),
                    keyed("a", "改过的正文"),
                ],
                now,
            )
            .unwrap();
        assert!(matches!(&outcomes[0], UpsertOutcome::New(i) if i.key == "a"));
        assert!(matches!(&outcomes[1], UpsertOutcome::New(i) if i.key == "b"));
        assert!(
            matches!(&outcomes[2], UpsertOutcome::Updated(i) if i.revisions == 1 && i.body == "改过的正文")
        );
        assert_eq!(store.item_count(), 2);
        assert_eq!(store.pending_count(), 2);
        assert_eq!(store.item("s", "a").unwrap().unwrap().body, "改过的正文");
        assert_eq!(
            store
                .items_first_seen_in(now, now + chrono::Duration::seconds(1))
                .unwrap()
                .len(),
            2
        );
        let again = store
            .upsert_items("s", vec![keyed("a", "改过的正文"), keyed("b", "正文")], now)
            .unwrap();
        assert_eq!(again, [UpsertOutcome::Unchanged, UpsertOutcome::Unchanged]);
        assert_eq!(store.item_count(), 2);
    }

    /// The classification lands beside the item: the item's record (its text) is not
    /// written again. A verdict `done` clears the pending mark in the same
    /// transaction; a new text drops the old classification.
    #[test]
    fn a_classification_does_not_rewrite_the_item() {
        let store = Store::temporary().unwrap();
        let now = chrono::Utc::now();
        store
            .upsert_items("s", vec![keyed("a", "正文"), keyed("b", "正文")], now)
            .unwrap();
        let record = |k: &str| store.items.get(item_key("s", k)).unwrap().unwrap();
        let before = record("a");
        let c = Classification {
            flag: true,
            score: 0.9,
            ..Default::default()
        };
        let verdict = |key, done| Verdict {
            source: "s",
            key,
            classification: &c,
            done,
            text: None,
        };
        store
            .record_classifications(&[verdict("a", true), verdict("b", false)])
            .unwrap();
        assert_eq!(record("a"), before, "the item's record is unchanged");
        assert_eq!(
            store.item("s", "a").unwrap().unwrap().classification,
            Some(c.clone())
        );
        assert_eq!(
            store.item("s", "b").unwrap().unwrap().classification,
            Some(c.clone())
        );
        let pending: Vec<String> = store
            .pending_items()
            .unwrap()
            .into_iter()
            .map(|i| i.key)
            .collect();
        assert_eq!(pending, ["b"], "only the item marked done left the list");
        store.upsert_item("s", keyed("a", "新正文"), now).unwrap();
        let a = store.item("s", "a").unwrap().unwrap();
        assert_eq!((a.body.as_str(), a.classification), ("新正文", None));
    }

    /// An item is stored binary (this short text in GB18030, not deflated: that would
    /// not pay), a quarter smaller than its deflated JSON (the layout of formats 2–3); records of the older layouts (plain JSON, deflated
    /// JSON) read as they are; a damaged record is an error naming the item.
    #[test]
    fn an_item_record_is_binary_and_older_layouts_still_read() {
        let store = Store::temporary().unwrap();
        let body = "县人社局开展就业援助月专项活动，为就业困难人员送政策、送岗位、送服务。\
                    镇卫生院联合县医院专家开展义诊进社区活动，为居民提供慢病咨询和用药指导。";
        let UpsertOutcome::New(item) = store
            .upsert_item("s", up("标题", body), chrono::Utc::now())
            .unwrap()
        else {
            panic!("new")
        };
        let record = store.items.get(item_key("s", "k")).unwrap().unwrap();
        assert_eq!(record[0], super::super::record::BINARY);
        let deflated_json = deflated_json(&item);
        assert!(
            record.len() * 4 < deflated_json.len() * 3,
            "{} bytes, deflated JSON {}",
            record.len(),
            deflated_json.len()
        );
        assert_eq!(store.item("s", "k").unwrap().unwrap(), item);
        for old in [super::super::encode(&item), deflated_json] {
            store.items.insert(item_key("s", "k"), old).unwrap();
            assert_eq!(store.item("s", "k").unwrap().unwrap(), item);
        }
        store
            .items
            .insert(
                item_key("s", "k"),
                vec![super::super::record::DEFLATED, 0xff, 0x00],
            )
            .unwrap();
        let err = store.item("s", "k").unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { .. }) && err.to_string().contains("item s/k"),
            "{err}"
        );
    }

    /// A stored news item of source `s`, titled 标题, first seen and published at `now`.
    fn news(key: &str, body: &str, now: Timestamp, incident: Option<IncidentId>) -> Item {
        Item {
            source: "s".into(),
            key: key.into(),
            title: "标题".into(),
            link: Some(format!("https://example.org/{key}")),
            body: body.into(),
            published: Some(now),
            date_quality: Some(crate::model::DateQuality::Credible),
            first_seen: now,
            updated_at: now,
            revisions: 0,
            classification: None,
            incident,
        }
    }

    /// A database in `dir` as data format `format` left it: `items` (of source `s`,
    /// first seen at their `first_seen`) stored as `record` writes them, with their
    /// time keys and count, then whatever `more` writes; flushed and closed.
    fn older_database(
        dir: &std::path::Path,
        format: u32,
        items: &[&Item],
        record: fn(&Item) -> Vec<u8>,
        more: impl FnOnce(&Store),
    ) {
        let store = Store::open(dir).unwrap();
        for it in items {
            let key = item_key("s", &it.key);
            store.items.insert(&key, record(it)).unwrap();
            store
                .items_by_time
                .insert(time_key(it.first_seen, &key), &[])
                .unwrap();
        }
        let count = items.len() as u64;
        store
            .meta
            .insert(ITEMS_COUNT, &count.to_be_bytes())
            .unwrap();
        more(&store);
        store
            .meta
            .insert(super::super::FORMAT_KEY, &format.to_be_bytes())
            .unwrap();
        store.flush_blocking().unwrap();
    }

    /// An item record as formats 2–3 wrote it: its JSON, deflated.
    fn deflated_json(item: &Item) -> Vec<u8> {
        let mut out = vec![super::super::record::DEFLATED];
        out.extend(miniz_oxide::deflate::compress_to_vec(
            &super::super::encode(item),
            1,
        ));
        out
    }

    /// A database of format 3, its records built by hand as that format wrote them
    /// (items as deflated JSON with their incident inside, classifications as JSON),
    /// opens as the current format with nothing rewritten: its items read as they
    /// were, an edit of one is stored in the binary layout and keeps its incident.
    #[test]
    fn a_format_3_database_reads_its_items_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let now: Timestamp = "2026-12-01T08:00:00.5Z".parse().unwrap();
        let class = Classification {
            flag: true,
            topics: vec!["safety.accident".into()],
            score: 0.9,
            ..Default::default()
        };
        let item = |key, incident| {
            news(
                key,
                "镇卫生院联合县医院专家开展义诊进社区活动。",
                now,
                incident,
            )
        };
        let (routine, flagged) = (item("a", None), item("b", Some(7)));
        older_database(
            dir.path(),
            3,
            &[&routine, &flagged],
            deflated_json,
            |store| {
                for key in ["a", "b"] {
                    store
                        .items_class
                        .insert(item_key("s", key), super::super::encode(&class))
                        .unwrap();
                }
            },
        );
        let store = Store::open(dir.path()).unwrap();
        let format = store.meta.get(super::super::FORMAT_KEY).unwrap().unwrap();
        assert_eq!(format.as_ref(), super::super::FORMAT_VERSION.to_be_bytes());
        let classified = |it: &Item| Item {
            classification: Some(class.clone()),
            ..it.clone()
        };
        assert_eq!(store.item("s", "a").unwrap().unwrap(), classified(&routine));
        assert_eq!(store.item("s", "b").unwrap().unwrap(), classified(&flagged));
        assert_eq!(
            store
                .items_first_seen_in(now, now + chrono::Duration::seconds(1))
                .unwrap()
                .into_iter()
                .map(|r| r.unwrap().key)
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(
            store
                .items
                .get(item_key("s", "a"))
                .unwrap()
                .unwrap()
                .as_ref(),
            deflated_json(&routine).as_slice(),
            "not rewritten"
        );
        let edit = ParsedItem {
            key: "b".into(),
            ..up("标题", "更正后的正文")
        };
        let UpsertOutcome::Updated(edited) = store.upsert_item("s", edit, now).unwrap() else {
            panic!("an update")
        };
        assert_eq!(edited.incident, Some(7));
        let record = store.items.get(item_key("s", "b")).unwrap().unwrap();
        assert!(
            [
                super::super::record::BINARY,
                super::super::record::BINARY_ZSTD
            ]
            .contains(&record[0])
        );
        let read = store.item("s", "b").unwrap().unwrap();
        assert_eq!(
            (read.body.as_str(), read.incident),
            ("更正后的正文", Some(7))
        );
    }

    /// A database of format 5 (news items' records deflated) opens as the current
    /// format with nothing rewritten: its records read as they were, pending and
    /// classified alike; an edit and a new item are stored in zstd; a second open
    /// changes nothing more.
    #[test]
    fn a_format_5_database_reads_its_deflated_items() {
        use super::super::record::{BINARY_DEFLATED, BINARY_ZSTD, deflated_record};
        let dir = tempfile::tempdir().unwrap();
        let now: Timestamp = "2026-12-07T03:00:00Z".parse().unwrap();
        // Long enough for its record to be compressed (news, not a short post).
        let body = &"县人社局开展就业援助月专项活动，为就业困难人员送政策、送岗位、送服务。\
                     镇卫生院联合县医院专家开展义诊进社区活动，为居民提供慢病咨询和用药指导。"
            .repeat(3);
        let item = |key| news(key, body, now, None);
        let (classified, pending) = (item("a"), item("b"));
        let class = Classification {
            score: 0.1,
            ..Default::default()
        };
        older_database(
            dir.path(),
            5,
            &[&classified, &pending],
            deflated_record,
            |store| {
                store
                    .items_class
                    .insert(item_key("s", "a"), encode_class(&class))
                    .unwrap();
                store
                    .items_pending
                    .insert(item_key("s", "b"), &text_print("标题", body))
                    .unwrap();
            },
        );
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.upgraded_from(), Some(5));
        let stored = |key: &str| store.items.get(item_key("s", key)).unwrap().unwrap();
        assert_eq!(stored("a")[0], BINARY_DEFLATED, "not rewritten");
        assert_eq!(
            store.item("s", "a").unwrap().unwrap(),
            Item {
                classification: Some(class),
                ..classified
            }
        );
        assert_eq!(store.pending_items().unwrap(), [pending]);
        let edit = ParsedItem {
            key: "a".into(),
            ..up("标题", &format!("{body}（更正）"))
        };
        assert!(matches!(
            store.upsert_item("s", edit, now).unwrap(),
            UpsertOutcome::Updated(_)
        ));
        let new = ParsedItem {
            key: "c".into(),
            ..up("标题", body)
        };
        assert!(matches!(
            store.upsert_item("s", new, now).unwrap(),
            UpsertOutcome::New(_)
        ));
        assert_eq!((stored("a")[0], stored("c")[0]), (BINARY_ZSTD, BINARY_ZSTD));
        assert!(
            store
                .item("s", "a")
                .unwrap()
                .unwrap()
                .body
                .ends_with("（更正）")
        );
        assert_eq!(store.item_count(), 3);
        store.flush_blocking().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.upgraded_from(), None);
        assert_eq!(
            store.items.get(item_key("s", "b")).unwrap().unwrap()[0],
            BINARY_DEFLATED
        );
    }

    /// A database of format 1 (items as plain JSON, classified in place) opens as
    /// format 2 and its items read with their classifications, nothing rewritten; a
    /// newer classification in `items_class` wins.
    #[test]
    fn a_format_1_database_opens_with_its_classified_items() {
        let dir = tempfile::tempdir().unwrap();
        let class = Classification {
            flag: true,
            ..Default::default()
        };
        let plain = {
            let store = Store::open(dir.path()).unwrap();
            let UpsertOutcome::New(mut item) = store
                .upsert_item("s", up("标题", "正文"), chrono::Utc::now())
                .unwrap()
            else {
                panic!("new")
            };
            item.classification = Some(class.clone());
            let plain = super::super::encode(&item);
            store
                .items
                .insert(item_key("s", "k"), plain.clone())
                .unwrap();
            store.item_done("s", "k").unwrap();
            store
                .meta
                .insert(super::super::FORMAT_KEY, &1u32.to_be_bytes())
                .unwrap();
            store.flush_blocking().unwrap();
            plain
        };
        let store = Store::open(dir.path()).unwrap();
        let format = store.meta.get(super::super::FORMAT_KEY).unwrap().unwrap();
        assert_eq!(format.as_ref(), super::super::FORMAT_VERSION.to_be_bytes());
        let item = store.item("s", "k").unwrap().unwrap();
        assert_eq!(item.classification, Some(class));
        let record = store.items.get(item_key("s", "k")).unwrap().unwrap();
        assert_eq!(record.as_ref(), plain.as_slice(), "not rewritten");
        let new = Classification::default();
        store.set_classification("s", "k", new.clone()).unwrap();
        assert_eq!(
            store.item("s", "k").unwrap().unwrap().classification,
            Some(new)
        );
    }
}
