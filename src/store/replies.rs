//! Board reply tracking: one record per tracked post (`crate::replies::TrackedPost`).
//!
//! Layout: tree `replies`, `source \0 key` → [`TrackedPost`] (JSON); the reply clocks'
//! due index `reply_due`, `due_ms ‖ source \0 key` → step (u32), earliest first, and its
//! reverse `reply_due_rev`, `source \0 key` → the `reply_due` key. Only the intake loop of
//! the post's own source writes a board's records, so a read-modify-write needs no
//! transaction; a write that changes a post or its clock stamps it in the change index
//! ([`super::changes`]) in the same transaction. A due entry is removed only after its notice is queued, and a notice key
//! is queued at most once, so firing an entry twice is harmless. Scheduling a step
//! notifies [`Store::reply_signal`], so the deadline task wakes for it.

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::changes::{Tracked, touch};
use super::{NoticeRecord, Result, Store, StoreError, decode, encode, tx};
use crate::model::{NoticeKey, Timestamp};
use crate::replies::TrackedPost;

pub(super) const TREE: &str = "replies";

/// A post's identity in its trees: `source \0 key`.
pub(super) fn post_key(source: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.len() + 1 + key.len());
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

/// One entry of the reply due index: the next step of one post's reply clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyDue {
    pub at: Timestamp,
    pub source: String,
    pub key: String,
    pub step: u32,
}

fn due_key(at: Timestamp, source: &str, key: &str) -> Vec<u8> {
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let mut k = ms.to_be_bytes().to_vec();
    k.extend_from_slice(&post_key(source, key));
    k
}

fn read_due(k: &[u8], v: &[u8]) -> Option<ReplyDue> {
    let ms = i64::try_from(u64::from_be_bytes(k.get(..8)?.try_into().ok()?)).ok()?;
    let rest = std::str::from_utf8(&k[8..]).ok()?;
    let (source, key) = rest.split_once('\0')?;
    Some(ReplyDue {
        at: chrono::DateTime::from_timestamp_millis(ms)?,
        source: source.to_string(),
        key: key.to_string(),
        step: u32::from_be_bytes(v.try_into().ok()?),
    })
}

/// The entries of a due index (`due_ms ‖ …` keys) due at or before `now`, earliest
/// first, at most `limit`; unreadable ones are logged and skipped.
pub(super) fn due_entries<T>(
    tree: &sled::Tree,
    now: Timestamp,
    limit: usize,
    read: impl Fn(&[u8], &[u8]) -> Option<T>,
) -> Result<Vec<T>> {
    let end = u64::try_from(now.timestamp_millis())
        .unwrap_or(0)
        .saturating_add(1);
    let mut out = Vec::new();
    for row in tree.range(..end.to_be_bytes().to_vec()).take(limit) {
        let (k, v) = row?;
        match read(&k, &v) {
            Some(entry) => out.push(entry),
            None => {
                tracing::warn!(tree = %String::from_utf8_lossy(&tree.name()), "unreadable due entry skipped")
            }
        }
    }
    Ok(out)
}

/// The time of the earliest entry of a due index.
pub(super) fn first_due<T>(
    tree: &sled::Tree,
    read: impl Fn(&[u8], &[u8]) -> Option<T>,
    at: impl Fn(T) -> Timestamp,
) -> Result<Option<Timestamp>> {
    Ok(tree.first()?.and_then(|(k, v)| read(&k, &v)).map(at))
}

/// Replaces record `id`'s scheduled step in a due index (`due`: due key → step,
/// `rev`: id → due key) inside a transaction, for the reply ledger's posts and the
/// policy ledger's documents. `new` is the due key and step, `None` to stop the clock.
/// Returns whether anything changed: an unchanged step writes nothing, so the caller
/// stamps the change index only for a real change.
pub(super) fn reschedule(
    due: &TransactionalTree,
    rev: &TransactionalTree,
    id: &[u8],
    new: Option<(&[u8], u32)>,
) -> std::result::Result<bool, ConflictableTransactionError<StoreError>> {
    let old = rev.get(id)?;
    let old_step = old.as_ref().map(|k| due.get(k)).transpose()?.flatten();
    let new = new.map(|(k, step)| (k, step.to_be_bytes()));
    match (&old, &new) {
        (None, None) => return Ok(false),
        (Some(old), Some((k, step)))
            if old.as_ref() == *k && old_step.as_deref() == Some(&step[..]) =>
        {
            return Ok(false);
        }
        _ => {}
    }
    if let Some(old) = old {
        rev.remove(id)?;
        due.remove(old)?;
    }
    if let Some((k, step)) = new {
        due.insert(k, &step[..])?;
        rev.insert(id, k)?;
    }
    Ok(true)
}

impl Store {
    /// Sets the next step of a post's reply clock (`None`: the clock stopped), replacing
    /// the one scheduled before.
    pub fn schedule_reply(
        &self,
        source: &str,
        key: &str,
        next: Option<(Timestamp, u32)>,
    ) -> Result<()> {
        let due = self.db.open_tree("reply_due")?;
        let rev = self.db.open_tree("reply_due_rev")?;
        let post = post_key(source, key);
        let new = next.map(|(at, step)| (due_key(at, source, key), step));
        (&due, &rev, &self.tracked_changes)
            .transaction(|(due, rev, changes)| {
                let new = new.as_ref().map(|(k, step)| (k.as_slice(), *step));
                if reschedule(due, rev, &post, new)? {
                    touch(changes, Tracked::Post, &post)?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(tx::plain_error)?;
        if next.is_some() {
            // The intake schedules without the ledger: wake the deadline task, which
            // may be asleep until a later entry.
            self.reply_signal.notify_one();
        }
        Ok(())
    }

    /// Withdraws the queued notices of a post that no longer waits for a reply (answered
    /// or removed at `at`, said by `why`): their rows leave the outbox unsent and their
    /// keys are recorded `Superseded`, so a reminder queued before the answer, during a
    /// mail outage or in the same minute, is never sent. Returns how many rows went.
    pub fn withdraw_reply_notices(
        &self,
        source: &str,
        key: &str,
        at: Timestamp,
        why: &str,
    ) -> Result<usize> {
        self.withdraw_notices(
            |notice| {
                matches!(notice, NoticeKey::Reply { source: s, key: k, .. } if s == source && k == key)
            },
            at,
            why,
        )
    }

    /// Withdraws the queued notices whose keys `ours` selects (a clock that stopped at
    /// `at`, said by `why`): their rows leave the outbox unsent and their keys are
    /// recorded `Superseded`. Returns how many rows went.
    pub(super) fn withdraw_notices(
        &self,
        ours: impl Fn(&NoticeKey) -> bool,
        at: Timestamp,
        why: &str,
    ) -> Result<usize> {
        let mut withdrawn = 0;
        for (seq, row) in self.outbox_page(None, usize::MAX)? {
            if !row
                .notice
                .key
                .parse::<NoticeKey>()
                .is_ok_and(|key| ours(&key))
            {
                continue;
            }
            let record = row.record_key();
            self.with_outbox(|tx| {
                tx.remove_row(seq)?;
                tx.record(
                    &record,
                    &NoticeRecord::Superseded {
                        at,
                        by: why.to_string(),
                    },
                )?;
                Ok::<_, super::Abort<super::StoreError>>(())
            })?;
            tracing::info!(key = %record, why, "queued notice withdrawn: its clock stopped");
            withdrawn += 1;
        }
        Ok(withdrawn)
    }

    /// The signal the deadline task waits on besides the ledger's: notified whenever a
    /// reply clock step is scheduled.
    pub fn reply_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.reply_signal.clone()
    }

    /// Reply clock entries due at or before `now`, earliest first, at most `limit`.
    pub fn replies_due(&self, now: Timestamp, limit: usize) -> Result<Vec<ReplyDue>> {
        due_entries(&self.db.open_tree("reply_due")?, now, limit, read_due)
    }

    /// The earliest reply clock entry.
    pub fn reply_due_first(&self) -> Result<Option<Timestamp>> {
        first_due(&self.db.open_tree("reply_due")?, read_due, |entry| entry.at)
    }

    /// The next step of a post's reply clock, if it runs.
    pub fn reply_clock(&self, source: &str, key: &str) -> Result<Option<(Timestamp, u32)>> {
        let Some(due_key) = self
            .db
            .open_tree("reply_due_rev")?
            .get(post_key(source, key))?
        else {
            return Ok(None);
        };
        Ok(self
            .db
            .open_tree("reply_due")?
            .get(&due_key)?
            .and_then(|v| read_due(&due_key, &v))
            .map(|entry| (entry.at, entry.step)))
    }

    /// How many board posts are tracked.
    pub fn tracked_post_count(&self) -> Result<usize> {
        Ok(self.replies_tree()?.len())
    }

    /// The tracked posts of `ids` (`source \0 key`, from the change index) that are
    /// still tracked, in the order given: a page of an incremental export.
    pub(super) fn tracked_posts_of(
        &self,
        ids: &[super::changes::RecordKey],
    ) -> Result<Vec<TrackedPost>> {
        super::changes::read_ids(&self.replies_tree()?, ids, decode_post)
    }

    /// Forgets every tracked post and reply clock (`import --force`).
    pub(super) fn clear_replies(&self) -> Result<()> {
        for tree in [TREE, "reply_due", "reply_due_rev"] {
            self.db.open_tree(tree)?.clear()?;
        }
        Ok(())
    }

    fn replies_tree(&self) -> Result<sled::Tree> {
        Ok(self.db.open_tree(TREE)?)
    }

    /// The tracked post `key` of board `source`, if tracked.
    pub fn tracked_post(&self, source: &str, key: &str) -> Result<Option<TrackedPost>> {
        self.replies_tree()?
            .get(post_key(source, key))?
            .map(|v| decode(&v, || format!("tracked post {source}/{key}")))
            .transpose()
    }

    /// Saves a tracked post (new or changed; stamped in the change index unless it is
    /// stored as it was).
    pub fn put_tracked_post(&self, post: &TrackedPost) -> Result<()> {
        let k = post_key(&post.source, &post.key);
        let value = encode(post);
        (&self.replies_tree()?, &self.tracked_changes)
            .transaction(|(posts, changes)| {
                if posts.insert(k.as_slice(), value.as_slice())?.as_deref() != Some(&value[..]) {
                    touch(changes, Tracked::Post, &k)?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(tx::plain_error)
    }

    /// Every tracked post of `source` (all boards with `None`), by source then key.
    pub fn tracked_posts(&self, source: Option<&str>) -> Result<Vec<TrackedPost>> {
        let tree = self.replies_tree()?;
        let rows = match source {
            Some(source) => tree.scan_prefix(post_key(source, "")),
            None => tree.iter(),
        };
        rows.map(decode_post).collect()
    }

    /// At most `limit` tracked posts after post `after` (`(source, key)`; from the first
    /// with `None`), by source then key: a page of the export.
    pub(super) fn tracked_posts_after(
        &self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<TrackedPost>> {
        let tree = self.replies_tree()?;
        let start = match after {
            Some((source, key)) => std::ops::Bound::Excluded(post_key(source, key)),
            None => std::ops::Bound::Unbounded,
        };
        tree.range::<Vec<u8>, _>((start, std::ops::Bound::Unbounded))
            .take(limit)
            .map(decode_post)
            .collect()
    }
}

fn decode_post(row: sled::Result<(sled::IVec, sled::IVec)>) -> Result<TrackedPost> {
    let (k, v) = row?;
    decode(&v, || {
        format!(
            "tracked post {}",
            String::from_utf8_lossy(&k).replace('\0', "/")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(source: &str, key: &str) -> TrackedPost {
        let at: crate::model::Timestamp = "2026-06-12T02:00:00Z".parse().unwrap();
        TrackedPost {
            source: source.into(),
            key: key.into(),
            title: "路灯不亮".into(),
            url: None,
            unit: None,
            posted_at: at,
            due_at: at,
            replied_at: None,
            removed_at: None,
        }
    }

    #[test]
    fn posts_round_trip_per_board() {
        let store = Store::temporary().unwrap();
        store.put_tracked_post(&post("board", "1")).unwrap();
        store.put_tracked_post(&post("board", "2")).unwrap();
        // A board whose id extends another's is not part of its prefix scan.
        store.put_tracked_post(&post("board2", "1")).unwrap();
        assert_eq!(
            store.tracked_post("board", "2").unwrap(),
            Some(post("board", "2"))
        );
        assert_eq!(store.tracked_post("board", "3").unwrap(), None);
        assert_eq!(store.tracked_posts(Some("board")).unwrap().len(), 2);
        assert_eq!(store.tracked_posts(None).unwrap().len(), 3);
    }

    #[test]
    fn the_due_index_keeps_one_entry_per_post() {
        let store = Store::temporary().unwrap();
        let at = |s: &str| -> Timestamp { s.parse().unwrap() };
        store
            .schedule_reply("board", "a/1", Some((at("2026-06-12T02:00:00Z"), 0)))
            .unwrap();
        store
            .schedule_reply("board", "a/1", Some((at("2026-06-11T02:00:00Z"), 1)))
            .unwrap();
        store
            .schedule_reply("board", "b", Some((at("2026-06-13T02:00:00Z"), 0)))
            .unwrap();
        assert_eq!(
            store.reply_due_first().unwrap(),
            Some(at("2026-06-11T02:00:00Z"))
        );
        let due = store.replies_due(at("2026-06-12T02:00:00Z"), 10).unwrap();
        assert_eq!(
            due,
            [ReplyDue {
                at: at("2026-06-11T02:00:00Z"),
                source: "board".into(),
                key: "a/1".into(),
                step: 1
            }]
        );
        store.schedule_reply("board", "a/1", None).unwrap();
        store.schedule_reply("board", "b", None).unwrap();
        assert_eq!(store.reply_due_first().unwrap(), None);
    }
}
