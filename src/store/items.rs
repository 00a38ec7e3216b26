//! Items and the seen set. An item's key is `source \0 item-key`; the same key
//! never creates a second item: new text updates it in place.
//!
//! Every new or changed item is also put on the `items_pending` list in the same
//! transaction, and leaves it only when the pipeline has classified it and handed it
//! to the ledger ([`Store::item_done`]). So an item stored just before a crash is
//! still classified after the restart.

use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::{Result, Store, StoreError, decode, encode};
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

/// The `meta` key of the number of stored items.
const ITEMS_COUNT: &[u8] = b"items_count";

fn read_count(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
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
        let key = item_key(source, &up.key);
        let existing: Option<Item> = self
            .items
            .get(&key)?
            .map(|bytes| decode(&bytes, || format!("item {source}/{}", up.key)))
            .transpose()?;
        match existing {
            Some(old) if old.title == up.title && old.body == up.body => {
                Ok(UpsertOutcome::Unchanged)
            }
            Some(old) => {
                let item = Item {
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
                };
                self.write_pending(&key, &item)?;
                Ok(UpsertOutcome::Updated(item))
            }
            None => {
                let item = Item {
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
                };
                self.write_pending(&key, &item)?;
                Ok(UpsertOutcome::New(item))
            }
        }
    }

    /// Stores an item and marks it pending; a new key also counts in `items_count`
    /// (so `status` needs no scan of the items).
    fn write_pending(&self, key: &[u8], item: &Item) -> Result<()> {
        let value = encode(item);
        (&self.items, &self.items_pending, &self.meta)
            .transaction(|(items, pending, meta)| {
                if items.insert(key, value.as_slice())?.is_none() {
                    let count = meta.get(ITEMS_COUNT)?.map_or(0, |v| read_count(&v));
                    meta.insert(ITEMS_COUNT, &(count + 1).to_be_bytes())?;
                }
                pending.insert(key, &[])?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(super::tx::plain_error)
    }

    /// Items stored but not yet through classification and the ledger, in key order.
    pub fn pending_items(&self) -> Result<Vec<Item>> {
        self.items_pending
            .iter()
            .keys()
            .filter_map(|key| match key {
                Ok(key) => self.items.get(&key).transpose(),
                Err(err) => Some(Err(err)),
            })
            .map(|bytes| decode(&bytes?, || "pending item".to_string()))
            .collect()
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
        keys.keys()
            .filter_map(|key| match key {
                Ok(key) => self.items.get(&key).transpose(),
                Err(err) => Some(Err(err)),
            })
            .take(limit)
            .map(|bytes| decode(&bytes?, || "pending item".to_string()))
            .collect()
    }

    /// The pipeline is finished with this item: take it off the pending list.
    pub fn item_done(&self, source: &str, key: &str) -> Result<()> {
        self.items_pending.remove(item_key(source, key))?;
        Ok(())
    }

    pub fn pending_count(&self) -> usize {
        self.items_pending.len()
    }

    pub fn item(&self, source: &str, key: &str) -> Result<Option<Item>> {
        self.items
            .get(item_key(source, key))?
            .map(|bytes| decode(&bytes, || format!("item {source}/{key}")))
            .transpose()
    }

    /// Records the classifier's verdict on a stored item.
    pub fn set_classification(
        &self,
        source: &str,
        key: &str,
        classification: Classification,
    ) -> Result<()> {
        self.update_item(source, key, |item| {
            item.classification = Some(classification.clone())
        })
    }

    /// Records the incident an item belongs to.
    pub fn set_item_incident(&self, source: &str, key: &str, incident: IncidentId) -> Result<()> {
        self.update_item(source, key, |item| item.incident = Some(incident))
    }

    fn update_item(
        &self,
        source: &str,
        key: &str,
        mut change: impl FnMut(&mut Item),
    ) -> Result<()> {
        let k = item_key(source, key);
        // A record that fails to decode is written back unchanged (returning `None`
        // from the closure would delete it) and the decode error is reported.
        let mut failed = None;
        self.items.fetch_and_update(&k, |old| {
            let old = old?;
            failed = None;
            match decode::<Item>(old, || format!("item {source}/{key}")) {
                Ok(mut item) => {
                    change(&mut item);
                    Some(encode(&item))
                }
                Err(err) => {
                    failed = Some(err);
                    Some(old.to_vec())
                }
            }
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// Every stored item, in key order (source, then key). For export and the digest.
    pub fn items(&self) -> impl Iterator<Item = Result<Item>> + '_ {
        self.items.iter().map(|entry| {
            let (k, v) = entry?;
            decode(&v, || format!("item {}", String::from_utf8_lossy(&k)))
        })
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
        store.set_item_incident("s", "k", 7).unwrap();
        let item = store.item("s", "k").unwrap().unwrap();
        assert_eq!(item.classification, Some(c));
        assert_eq!(item.incident, Some(7));
    }

    #[test]
    fn a_corrupt_item_is_left_in_place_and_reported() {
        let store = Store::temporary().unwrap();
        let garbage = b"{not json".to_vec();
        store
            .items
            .insert(item_key("s", "k"), garbage.clone())
            .unwrap();
        let err = store.set_item_incident("s", "k", 7).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("item s/k"), "{err}");
        assert_eq!(
            store.items.get(item_key("s", "k")).unwrap().as_deref(),
            Some(garbage.as_slice()),
            "the record is still there, unchanged"
        );
    }
}
