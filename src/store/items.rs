//! Items and the seen set. An item's key is `source \0 item-key`; the same key
//! never creates a second item: new text updates it in place.

use super::{Result, Store, decode, encode};
use crate::model::{Classification, DateQuality, IncidentId, Item, Timestamp};

/// What intake learned about one item on one poll.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemUpsert {
    pub source: String,
    pub key: String,
    pub title: String,
    pub link: Option<String>,
    pub body: String,
    pub published: Option<Timestamp>,
    pub date_quality: Option<DateQuality>,
}

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

fn item_key(source: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.len() + 1 + key.len());
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

impl Store {
    /// Stores an item unless it is already known with the same text.
    pub fn upsert_item(&self, up: ItemUpsert, now: Timestamp) -> Result<UpsertOutcome> {
        let key = item_key(&up.source, &up.key);
        let existing: Option<Item> = self
            .items
            .get(&key)?
            .map(|bytes| decode(&bytes, || format!("item {}/{}", up.source, up.key)))
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
                self.items.insert(key, encode(&item))?;
                Ok(UpsertOutcome::Updated(item))
            }
            None => {
                let item = Item {
                    source: up.source,
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
                self.items.insert(key, encode(&item))?;
                Ok(UpsertOutcome::New(item))
            }
        }
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
        self.items.fetch_and_update(&k, |old| {
            let old = old?;
            // A record that fails to decode is left untouched; `item()` reports it.
            let mut item: Item = serde_json::from_slice(old).ok()?;
            change(&mut item);
            Some(encode(&item))
        })?;
        Ok(())
    }

    /// Every stored item, in key order (source, then key). For export and the digest.
    pub fn items(&self) -> impl Iterator<Item = Result<Item>> + '_ {
        self.items.iter().map(|entry| {
            let (k, v) = entry?;
            decode(&v, || format!("item {}", String::from_utf8_lossy(&k)))
        })
    }

    pub fn item_count(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(title: &str, body: &str) -> ItemUpsert {
        ItemUpsert {
            source: "s".into(),
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
            store.upsert_item(up("标题", "正文"), now).unwrap(),
            UpsertOutcome::New(_)
        ));
        assert_eq!(
            store.upsert_item(up("标题", "正文"), now).unwrap(),
            UpsertOutcome::Unchanged
        );
        let UpsertOutcome::Updated(item) =
            store.upsert_item(up("标题", "更正后的正文"), now).unwrap()
        else {
            panic!("expected an update")
        };
        assert_eq!(item.revisions, 1);
        assert_eq!(store.item_count(), 1);
        assert_eq!(store.item("s", "k").unwrap().unwrap().body, "更正后的正文");
    }

    #[test]
    fn classification_and_incident_are_recorded() {
        let store = Store::temporary().unwrap();
        store
            .upsert_item(up("标题", "正文"), chrono::Utc::now())
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
}
