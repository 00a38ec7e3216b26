//! Retention of routine items (`[retention] routine_items`, default 90 days).
//!
//! ## The rule (pure: [`keeps`])
//! An item first seen before the cutoff (now − `routine_items`) is removed unless
//! - it belongs to an incident (its `incident` field, or the ledger's `incident_items`
//!   index): the ledger and its audit trail keep their items forever;
//! - it is still pending (not yet through classification and the ledger);
//! - it is a board post whose reply is still awaited (tracked, neither replied nor
//!   removed from the board; see docs/replies.md): the reply clock and its mails name it.
//!
//! Removing an item deletes it, its `items_by_time` key and its share of the item
//! counter, and records it in `items_swept` (16 + 8 bytes, see [`super::items`]) in the
//! same transaction, so a feed that still lists it does not bring it back as new.
//!
//! The sweep walks `items_by_time` from the oldest key up to the cutoff in batches of
//! [`BATCH`] items, one transaction per batch (a concurrent change to an item, such as
//! the ledger attaching it, conflicts and is re-checked), and the daemon's task yields
//! between batches. Each sweep is recorded in `meta` ([`Store::last_sweep`]) for
//! `status`, and logged once at INFO.

use std::ops::Bound;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::items::{ITEMS_COUNT, read_count, swept_key, text_print, time_key};
use super::record::decode_item;
use super::{Result, Store, StoreError, decode, encode};
use crate::model::Timestamp;

/// Items removed per transaction.
pub const BATCH: usize = 500;

/// The `meta` key of the last sweep's [`SweepReport`].
const LAST_SWEEP_KEY: &[u8] = b"retention_last_sweep";

/// What holds an old item back from removal (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holds {
    pub in_incident: bool,
    pub pending: bool,
    pub awaiting_reply: bool,
}

/// The rule: whether an item first seen at `first_seen` stays, for `cutoff`.
pub fn keeps(first_seen: Timestamp, cutoff: Timestamp, holds: Holds) -> bool {
    first_seen >= cutoff || holds.in_incident || holds.pending || holds.awaiting_reply
}

/// One sweep's outcome, kept for `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// When the sweep finished.
    pub at: Timestamp,
    /// Items first seen before this time were considered.
    pub cutoff: Timestamp,
    /// Items removed.
    pub removed: u64,
    /// Items older than the cutoff kept (incident, pending, awaiting a reply).
    pub kept: u64,
}

/// One batch: what it removed and kept, and where the next one starts.
struct Batch {
    removed: u64,
    kept: u64,
    /// The last `items_by_time` key looked at; `None` when the range is done.
    last: Option<Vec<u8>>,
}

impl Store {
    /// Removes the routine items first seen before `cutoff` (see the module docs),
    /// [`BATCH`] per transaction, calling `between` after each batch (the daemon
    /// yields there). Records and returns the report.
    pub fn sweep_routine_items(
        &self,
        cutoff: Timestamp,
        now: Timestamp,
        mut between: impl FnMut(),
    ) -> Result<SweepReport> {
        let mut report = SweepReport {
            at: now,
            cutoff,
            removed: 0,
            kept: 0,
        };
        let mut after = None;
        loop {
            let batch = self.sweep_batch(cutoff, after.as_deref())?;
            report.removed += batch.removed;
            report.kept += batch.kept;
            match batch.last {
                Some(last) => after = Some(last),
                None => break,
            }
            between();
        }
        self.meta.insert(LAST_SWEEP_KEY, encode(&report))?;
        Ok(report)
    }

    /// The last sweep's report, if any sweep ran.
    pub fn last_sweep(&self) -> Result<Option<SweepReport>> {
        self.meta
            .get(LAST_SWEEP_KEY)?
            .map(|v| decode(&v, || "last retention sweep".to_string()))
            .transpose()
    }

    /// One batch of up to [`BATCH`] `items_by_time` keys after `after`, before `cutoff`.
    fn sweep_batch(&self, cutoff: Timestamp, after: Option<&[u8]>) -> Result<Batch> {
        let end = time_key(cutoff, &[]);
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let end = Bound::Excluded(end.as_slice());
        let mut keys = Vec::with_capacity(BATCH);
        for key in self.items_by_time.range::<&[u8], _>((start, end)).keys() {
            keys.push(key?.to_vec());
            if keys.len() == BATCH {
                break;
            }
        }
        // A short batch is the range's last.
        let last = (keys.len() == BATCH)
            .then(|| keys.last().cloned())
            .flatten();
        // Awaited replies are read outside the transaction: the replies tree is not
        // transactional, and a post starts being tracked when it is new, not old.
        let mut awaiting = Vec::with_capacity(keys.len());
        for key in &keys {
            awaiting.push(self.awaiting_reply(key.get(8..).unwrap_or_default())?);
        }
        let (removed, kept) = (
            &self.items,
            &self.items_by_time,
            &self.items_swept,
            &self.items_pending,
            &self.ledger.attached,
            &self.meta,
            &self.items_class,
        )
            .transaction(|(items, times, swept, pending, attached, meta, classes)| {
                let (mut removed, mut kept) = (0u64, 0u64);
                for (time, awaiting_reply) in keys.iter().zip(&awaiting) {
                    let key = time.get(8..).unwrap_or_default();
                    let Some(bytes) = items.get(key)? else {
                        // The index outlived its item: drop the stale key.
                        times.remove(time.as_slice())?;
                        continue;
                    };
                    // A record that no longer decodes is kept for a person to look at.
                    let Ok(item) = decode_item(key, &bytes, String::new) else {
                        kept += 1;
                        continue;
                    };
                    let holds = Holds {
                        in_incident: item.incident.is_some() || attached.get(key)?.is_some(),
                        pending: pending.get(key)?.is_some(),
                        awaiting_reply: *awaiting_reply,
                    };
                    if keeps(item.first_seen, cutoff, holds) {
                        kept += 1;
                        continue;
                    }
                    items.remove(key)?;
                    classes.remove(key)?;
                    times.remove(time.as_slice())?;
                    swept.insert(
                        swept_key(key).as_slice(),
                        text_print(&item.title, &item.body).as_slice(),
                    )?;
                    removed += 1;
                }
                let count = meta.get(ITEMS_COUNT)?.map_or(0, |v| read_count(&v));
                meta.insert(ITEMS_COUNT, &count.saturating_sub(removed).to_be_bytes())?;
                Ok::<_, ConflictableTransactionError<StoreError>>((removed, kept))
            })
            .map_err(super::tx::plain_error)?;
        Ok(Batch {
            removed,
            kept,
            last,
        })
    }

    /// Whether the item under `key` (`source \0 key`) is a tracked board post whose
    /// reply is still awaited.
    fn awaiting_reply(&self, key: &[u8]) -> Result<bool> {
        let text = String::from_utf8_lossy(key);
        let Some((source, key)) = text.split_once('\0') else {
            return Ok(false);
        };
        Ok(self
            .tracked_post(source, key)?
            .is_some_and(|post| post.replied_at.is_none() && post.removed_at.is_none()))
    }
}

/// The daemon's retention task: sweeps shortly after start and then every `every`,
/// removing routine items older than `keep_for`, yielding between batches; logs one
/// INFO line per sweep. Returns when `stop` resolves.
pub async fn run_sweeper(
    store: Store,
    keep_for: Duration,
    every: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut next = tokio::time::Instant::now() + FIRST_SWEEP_AFTER;
    loop {
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep_until(next) => {}
        }
        let sweeping = store.clone();
        let swept = tokio::task::spawn_blocking(move || {
            let now = chrono::Utc::now();
            let cutoff =
                now - chrono::Duration::from_std(keep_for).unwrap_or(chrono::TimeDelta::MAX);
            sweeping.sweep_routine_items(cutoff, now, || std::thread::sleep(PAUSE))
        })
        .await;
        match swept {
            Ok(Ok(report)) => tracing::info!(
                removed = report.removed,
                kept_old = report.kept,
                cutoff = %report.cutoff,
                "retention sweep: routine items removed"
            ),
            Ok(Err(err)) => {
                tracing::error!(error = %err, "retention sweep failed; retried at the next sweep")
            }
            Err(err) => tracing::error!(error = %err, "retention sweep stopped"),
        }
        next = tokio::time::Instant::now() + every;
    }
}

/// The first sweep runs this long after start (the start's own work comes first).
const FIRST_SWEEP_AFTER: Duration = Duration::from_secs(60);
/// The pause between two batches of a sweep.
const PAUSE: Duration = Duration::from_millis(20);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::ParsedItem;
    use crate::replies::TrackedPost;
    use crate::store::UpsertOutcome;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn parsed(key: &str, body: &str) -> ParsedItem {
        ParsedItem {
            key: key.into(),
            title: format!("标题{key}"),
            link: None,
            body: body.into(),
            published: None,
            date_quality: None,
        }
    }

    /// Stores `key` of source `s` first seen at `at`, through the pipeline (not pending).
    fn stored(store: &Store, key: &str, at: &str) {
        store.upsert_item("s", parsed(key, "正文"), t(at)).unwrap();
        store.item_done("s", key).unwrap();
    }

    fn post(key: &str, replied: bool) -> TrackedPost {
        TrackedPost {
            source: "s".into(),
            key: key.into(),
            title: "留言".into(),
            url: None,
            unit: None,
            posted_at: t("2026-05-01T00:00:00Z"),
            due_at: t("2026-05-20T00:00:00Z"),
            replied_at: replied.then(|| t("2026-05-10T00:00:00Z")),
            removed_at: None,
        }
    }

    const OLD: &str = "2026-05-01T00:00:00Z";
    const NOW: &str = "2026-11-24T00:00:00Z";

    /// Old and young items of every kind; a sweep in batches removes exactly the old
    /// routine ones, keeps the count right, and a re-listed swept item stays out.
    #[test]
    fn a_sweep_removes_exactly_the_old_routine_items() {
        let store = Store::temporary().unwrap();
        // More old routine items than one batch.
        let routine: Vec<String> = (0..BATCH + 7).map(|n| format!("old{n}")).collect();
        for key in &routine {
            stored(&store, key, OLD);
        }
        stored(&store, "young", "2026-11-20T00:00:00Z");
        stored(&store, "in-incident", OLD);
        // Formats 1–3 kept an item's incident in its record.
        let mut item = store.item("s", "in-incident").unwrap().unwrap();
        item.incident = Some(7);
        store
            .items
            .insert(
                super::super::items::item_key("s", "in-incident"),
                super::super::encode(&item),
            )
            .unwrap();
        stored(&store, "attached", OLD);
        store
            .ledger_tx(|tx| {
                Ok::<_, super::super::Abort<StoreError>>(tx.attach("s", "attached", 8)?)
            })
            .unwrap();
        store
            .upsert_item("s", parsed("pending", "正文"), t(OLD))
            .unwrap();
        stored(&store, "awaited", OLD);
        store.put_tracked_post(&post("awaited", false)).unwrap();
        stored(&store, "answered", OLD);
        store.put_tracked_post(&post("answered", true)).unwrap();
        let before = store.item_count();

        let mut batches = 0;
        let now = t(NOW);
        let cutoff = now - chrono::Duration::days(90);
        let report = store
            .sweep_routine_items(cutoff, now, || batches += 1)
            .unwrap();
        assert_eq!(report.removed as usize, routine.len() + 1, "old + answered");
        assert_eq!(report.kept, 4, "incident, attached, pending, awaited");
        assert_eq!(batches, 1, "two batches, one pause between");
        assert_eq!(store.last_sweep().unwrap(), Some(report));
        assert_eq!(store.item_count(), before - routine.len() - 1);

        let remaining: Vec<String> = store
            .items_first_seen_in(t("2000-01-01T00:00:00Z"), now)
            .unwrap()
            .into_iter()
            .map(|item| item.unwrap().key)
            .collect();
        assert_eq!(
            remaining,
            ["attached", "awaited", "in-incident", "pending", "young"]
        );
        for key in ["old0", "answered"] {
            assert_eq!(store.item("s", key).unwrap(), None, "{key} removed");
        }

        // A feed still listing a swept item: not new again; with new text it is.
        assert_eq!(
            store.upsert_item("s", parsed("old0", "正文"), now).unwrap(),
            UpsertOutcome::Unchanged
        );
        assert!(matches!(
            store
                .upsert_item("s", parsed("old1", "改过的正文"), now)
                .unwrap(),
            UpsertOutcome::New(_)
        ));
        // Once stored again it is an ordinary item (its swept record is gone).
        store.item_done("s", "old1").unwrap();
        assert_eq!(
            store
                .upsert_item("s", parsed("old1", "改过的正文"), now)
                .unwrap(),
            UpsertOutcome::Unchanged
        );
        assert!(
            store
                .items_swept
                .get(swept_key(&super::super::items::item_key("s", "old1")))
                .unwrap()
                .is_none()
        );

        // A second sweep finds nothing more to remove.
        let again = store.sweep_routine_items(cutoff, now, || {}).unwrap();
        assert_eq!((again.removed, again.kept), (0, 4));
    }

    #[test]
    fn the_rule_keeps_young_incident_pending_and_awaited_items() {
        let cutoff = t("2026-09-01T00:00:00Z");
        let old = t("2026-08-31T23:59:59Z");
        let none = Holds::default();
        // (first seen, holds, kept)
        let table = [
            (cutoff, none, true),
            (old, none, false),
            (
                old,
                Holds {
                    in_incident: true,
                    ..none
                },
                true,
            ),
            (
                old,
                Holds {
                    pending: true,
                    ..none
                },
                true,
            ),
            (
                old,
                Holds {
                    awaiting_reply: true,
                    ..none
                },
                true,
            ),
        ];
        for (seen, holds, kept) in table {
            assert_eq!(keeps(seen, cutoff, holds), kept, "{seen} {holds:?}");
        }
    }
}
