//! The mail outbox: notices waiting to be delivered, in the order they were queued.
//!
//! A notice is queued in the same sled transaction as the state change that causes
//! it (see [`OutboxTx`]), so a crash can never keep the change and lose the mail.
//! Every notice has a key (the `X-Yuqing-Notice` header); a key is queued at most
//! once, ever: re-queuing a key that is queued, sent or dead is a no-op. Delivery
//! removes the row only after the SMTP server accepted it, so a crash mid-send
//! yields at most one duplicate, never a loss.
//!
//! Chat channels (`[[channel]]`) share the outbox: when the daemon has installed a
//! channel router ([`Store::route_to_channels`]), queuing a notice also queues one
//! row per channel the router names, in the same transaction. A channel row carries
//! the channel's name and is recorded under its own key (`channel/NAME/KEY`), so the
//! mail and each channel are delivered, retried and given up independently.
//!
//! `status` reads the outbox's counts, never its rows: every change to the outbox or
//! the dead letters goes through [`OutboxTx`], which keeps, in the same transaction,
//! per destination the number of queued rows and of failing ones (tried at least once),
//! an index of the failing rows by next attempt (the earliest retry and the last error
//! are its ends), and the number of dead letters. They live in `notice_keys` under the
//! prefix `\0`, which no notice key has. A database written before them gets them at
//! open, in one transaction ([`Store::ensure_outbox_counts`]).

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::tx::{self, Abort, TxResult};
use super::{Result, Store, StoreError, decode, encode};
use crate::model::{Notice, NoticeKey, Timestamp};

/// A queued notice and its delivery attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRow {
    pub notice: Notice,
    pub attempts: u32,
    /// Not before this time (back-off after a transient failure).
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    /// The chat channel this row goes to; `None`: by mail (rows stored before
    /// channels existed have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

impl OutboxRow {
    /// The key this row is recorded under in the notice records.
    pub fn record_key(&self) -> String {
        record_key(&self.notice.key, self.channel.as_deref())
    }
}

/// The record key of a notice's delivery: its own key for the mail,
/// `channel/NAME/KEY` for a chat channel.
pub fn record_key(key: &str, channel: Option<&str>) -> String {
    match channel {
        None => key.to_string(),
        Some(name) => format!("channel/{name}/{key}"),
    }
}

/// Chooses the chat channels a notice also goes to (by name); installed by the daemon.
pub type ChannelRouter = dyn Fn(&Notice) -> Vec<String> + Send + Sync;

/// Mails in the outbox that failed at least once: how many, the last error, the
/// next retry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MailFailures {
    /// Rows waiting (failed or not).
    pub pending: usize,
    pub failing: usize,
    pub last_error: Option<String>,
    pub next_retry_at: Option<Timestamp>,
}

/// A notice that could not be delivered (permanent failure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadRow {
    pub notice: Notice,
    pub attempts: u32,
    pub error: String,
    pub at: Timestamp,
    /// The chat channel it was for; `None`: a mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// What became of a notice key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum NoticeRecord {
    Queued {
        seq: u64,
        at: Timestamp,
    },
    Sent {
        at: Timestamp,
    },
    Dead {
        at: Timestamp,
    },
    /// Never sent: a newer notice of the same clock (`by`) was queued before it went out.
    Superseded {
        at: Timestamp,
        by: String,
    },
}

/// The outbox trees inside a transaction; lets other store modules queue notices
/// atomically with their own writes.
pub struct OutboxTx<'a> {
    pub(super) outbox: &'a TransactionalTree,
    pub(super) keys: &'a TransactionalTree,
    /// The ledger's change index: a notice key of an incident, a board post or a
    /// tracked document is part of its record (see [`super::changes`]).
    pub(super) changes: &'a TransactionalTree,
    pub(super) channels: Option<&'a ChannelRouter>,
}

impl OutboxTx<'_> {
    /// Queues a notice unless its key was ever queued before, and a row for each
    /// chat channel the router names. Returns whether the notice was queued.
    pub fn enqueue(&self, notice: &Notice) -> TxResult<bool> {
        if !self.enqueue_row(notice, None)? {
            return Ok(false);
        }
        for channel in self.channels.map(|route| route(notice)).unwrap_or_default() {
            self.enqueue_row(notice, Some(channel))?;
        }
        Ok(true)
    }

    fn enqueue_row(&self, notice: &Notice, channel: Option<String>) -> TxResult<bool> {
        let key = record_key(&notice.key, channel.as_deref());
        if self.keys.get(key.as_bytes())?.is_some() {
            return Ok(false);
        }
        let seq = self.outbox.generate_id()?;
        let row = OutboxRow {
            notice: notice.clone(),
            attempts: 0,
            next_attempt_at: notice.created_at,
            last_error: None,
            channel,
        };
        self.outbox.insert(&seq.to_be_bytes(), encode(&row))?;
        self.record(
            &key,
            &NoticeRecord::Queued {
                seq,
                at: notice.created_at,
            },
        )?;
        self.count(&row, 1)?;
        Ok(true)
    }

    /// Records what became of notice record key `key`; a key of an incident, a board
    /// post or a tracked document stamps that record as changed ([`super::changes`]).
    pub(super) fn record(&self, key: &str, record: &NoticeRecord) -> TxResult<()> {
        self.keys.insert(key.as_bytes(), encode(record))?;
        if let Some((kind, id)) = super::changes::owner(key) {
            super::changes::touch(self.changes, kind, &id)?;
        }
        Ok(())
    }

    /// Takes row `seq` out of the outbox (sent, dead, superseded or withdrawn) and out
    /// of the counts. Returns it, `None` when it was gone or cannot be read (a row that
    /// cannot be read was never counted).
    pub(super) fn remove_row(&self, seq: u64) -> TxResult<Option<OutboxRow>> {
        let Some(old) = self.outbox.remove(&seq.to_be_bytes())? else {
            return Ok(None);
        };
        let Ok(row) = decode::<OutboxRow>(&old, || format!("outbox row {seq}")) else {
            return Ok(None);
        };
        self.count(&row, -1)?;
        self.index_failing(seq, &row, false)?;
        Ok(Some(row))
    }

    /// Writes `row` over row `seq` (a transient failure: new attempt count and time),
    /// unless the row left the outbox meanwhile. Returns whether it was there.
    pub(super) fn replace_row(&self, seq: u64, row: &OutboxRow) -> TxResult<bool> {
        if self.outbox.get(seq.to_be_bytes())?.is_none() {
            return Ok(false);
        }
        self.remove_row(seq)?;
        self.outbox.insert(&seq.to_be_bytes(), encode(row))?;
        self.count(row, 1)?;
        self.index_failing(seq, row, true)?;
        Ok(true)
    }

    /// Adds `delta` (1 or -1) to the counts of `row`'s destination.
    fn count(&self, row: &OutboxRow, delta: i64) -> TxResult<()> {
        let dest = row.channel.as_deref();
        add(self.keys, &count_key(PENDING, dest), delta)?;
        if row.attempts > 0 {
            add(self.keys, &count_key(FAILING, dest), delta)?;
        }
        Ok(())
    }

    /// Puts a failing row into the retry index (`present`) or takes it out.
    fn index_failing(&self, seq: u64, row: &OutboxRow, present: bool) -> TxResult<()> {
        if row.attempts == 0 {
            return Ok(());
        }
        let key = retry_key(row, seq);
        if present {
            self.keys.insert(key, encode(&row.last_error))?;
        } else {
            self.keys.remove(key)?;
        }
        Ok(())
    }
}

/// The first byte of every count key in `notice_keys` (no notice key starts with it).
const COUNTS: u8 = 0;
/// Count kinds: queued rows, failing rows (per destination), the retry index, dead letters.
const PENDING: u8 = b'p';
const FAILING: u8 = b'f';
const RETRY: u8 = b'r';
const DEAD: &[u8] = &[COUNTS, b'd'];
/// `meta` key set once the counts cover the outbox (see [`Store::ensure_outbox_counts`]).
const COUNTS_VERSION_KEY: &[u8] = b"outbox_counts_version";

/// A destination in a count key: `ff ff` for the mail, else the channel name's length
/// (u16, big-endian) and the name, so no destination's keys are a prefix of another's.
fn destination(channel: Option<&str>) -> Vec<u8> {
    match channel {
        None => vec![0xff, 0xff],
        Some(name) => {
            let len = u16::try_from(name.len()).unwrap_or(u16::MAX - 1);
            [&len.to_be_bytes()[..], name.as_bytes()].concat()
        }
    }
}

/// The destination a count key names (after its kind byte), `None` for the mail.
fn destination_of(bytes: &[u8]) -> Option<Option<String>> {
    match bytes {
        [0xff, 0xff] => Some(None),
        [a, b, name @ ..] if usize::from(u16::from_be_bytes([*a, *b])) == name.len() => {
            Some(Some(String::from_utf8_lossy(name).into_owned()))
        }
        _ => None,
    }
}

fn count_key(kind: u8, channel: Option<&str>) -> Vec<u8> {
    [&[COUNTS, kind][..], &destination(channel)].concat()
}

/// The retry index key of a failing row: destination, next attempt (nanoseconds,
/// sign bit flipped, so byte order is time order), queue number.
fn retry_key(row: &OutboxRow, seq: u64) -> Vec<u8> {
    let nanos = row.next_attempt_at.timestamp_nanos_opt().unwrap_or(
        if row.next_attempt_at.timestamp() < 0 {
            i64::MIN
        } else {
            i64::MAX
        },
    );
    [
        &count_key(RETRY, row.channel.as_deref())[..],
        &((nanos as u64) ^ (1 << 63)).to_be_bytes(),
        &seq.to_be_bytes(),
    ]
    .concat()
}

/// The next attempt a retry index key holds.
fn retry_time(key: &[u8]) -> Option<Timestamp> {
    let at = key.len().checked_sub(16)?;
    let bits = u64::from_be_bytes(key[at..at + 8].try_into().ok()?);
    Some(chrono::DateTime::from_timestamp_nanos(
        (bits ^ (1 << 63)) as i64,
    ))
}

fn read_u64(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

/// Adds `delta` to the counter under `key`; a counter that reaches 0 is removed.
fn add(keys: &TransactionalTree, key: &[u8], delta: i64) -> TxResult<()> {
    let old = keys.get(key)?.map_or(0, |v| read_u64(&v));
    let new = old.saturating_add_signed(delta);
    if new == 0 {
        keys.remove(key)?;
    } else {
        keys.insert(key, &new.to_be_bytes())?;
    }
    Ok(())
}

impl Store {
    /// Installs the channel router: from now on every queued notice is also queued
    /// for the channels it names. Once per store; a second router is ignored.
    pub fn route_to_channels(&self, router: Box<ChannelRouter>) {
        if self.channel_router.set(router).is_err() {
            tracing::warn!("channel router already installed; the new one is ignored");
        }
    }

    /// The outbox trees of a transaction, with the channel router.
    pub(super) fn outbox_tx<'a>(
        &'a self,
        outbox: &'a TransactionalTree,
        keys: &'a TransactionalTree,
        changes: &'a TransactionalTree,
    ) -> OutboxTx<'a> {
        OutboxTx {
            outbox,
            keys,
            changes,
            channels: self.channel_router.get().map(|router| &**router),
        }
    }

    /// Runs `f` with the outbox inside one transaction (retried by sled on conflict);
    /// see [`Store::ledger_tx`] for `Abort`.
    pub fn with_outbox<T, E: From<StoreError>>(
        &self,
        f: impl Fn(&OutboxTx<'_>) -> std::result::Result<T, Abort<E>>,
    ) -> std::result::Result<T, E> {
        let value = tx::flatten(
            (&self.outbox, &self.notice_keys, &self.tracked_changes).transaction(
                |(outbox, keys, changes)| tx::to_sled(f(&self.outbox_tx(outbox, keys, changes))),
            ),
        )?;
        self.outbox_signal.notify_one();
        Ok(value)
    }

    /// Queues one notice on its own. Returns false when its key was already known.
    pub fn enqueue_notice(&self, notice: &Notice) -> Result<bool> {
        self.with_outbox(|tx| Ok::<_, Abort<StoreError>>(tx.enqueue(notice)?))
    }

    /// Queued notices in queue order, at most `limit` (unreadable rows skipped, see
    /// [`Store::outbox_page`]).
    pub fn outbox_pending(&self, limit: usize) -> Result<Vec<(u64, OutboxRow)>> {
        self.outbox_page(None, limit)
    }

    /// The server accepted it: remove the row and remember its record key
    /// ([`OutboxRow::record_key`]) as sent.
    pub fn outbox_mark_sent(&self, seq: u64, key: &str, at: Timestamp) -> Result<()> {
        (&self.outbox, &self.notice_keys, &self.tracked_changes)
            .transaction(|(outbox, keys, changes)| {
                let tx = self.outbox_tx(outbox, keys, changes);
                tx.remove_row(seq)?;
                tx.record(key, &NoticeRecord::Sent { at })?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(tx::plain_error)
    }

    /// A transient failure: keep the row with its new attempt count and time.
    /// A row that left the outbox meanwhile (superseded) stays gone.
    pub fn outbox_retry(&self, seq: u64, row: &OutboxRow) -> Result<()> {
        (&self.outbox, &self.notice_keys, &self.tracked_changes)
            .transaction(|(outbox, keys, changes)| {
                self.outbox_tx(outbox, keys, changes)
                    .replace_row(seq, row)?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(tx::plain_error)
    }

    /// A permanent failure: move the row to the dead letters, and queue `report`
    /// (the dead-letter notice to duty) in the same transaction.
    pub fn outbox_dead(&self, seq: u64, dead: &DeadRow, report: Option<&Notice>) -> Result<()> {
        (
            &self.outbox,
            &self.notice_keys,
            &self.dead,
            &self.tracked_changes,
        )
            .transaction(|(outbox, keys, deadtree, changes)| {
                let tx = self.outbox_tx(outbox, keys, changes);
                tx.remove_row(seq)?;
                tx.record(
                    &record_key(&dead.notice.key, dead.channel.as_deref()),
                    &NoticeRecord::Dead { at: dead.at },
                )?;
                if deadtree.insert(&seq.to_be_bytes(), encode(dead))?.is_none() {
                    add(keys, DEAD, 1)?;
                }
                if let Some(report) = report {
                    tx.enqueue(report)?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(tx::plain_error)?;
        if report.is_some() {
            self.outbox_signal.notify_one();
        }
        Ok(())
    }

    /// Keeps only the newest queued notice of each running clock (reminders,
    /// escalations and overdue notices of one incident milestone), per destination
    /// (the mail, each channel): after an outage the recipients get the current
    /// state once, not every superseded step.
    /// The older rows leave the outbox as `Superseded`. Returns how many.
    pub fn outbox_supersede(&self, at: Timestamp) -> Result<usize> {
        type Clock = (
            Option<String>,
            (crate::model::IncidentId, crate::model::Milestone),
        );
        let mut rows: Vec<(u64, String, Clock)> = Vec::new();
        let mut newest: std::collections::HashMap<Clock, String> = Default::default();
        for (seq, row) in self.outbox_page(None, usize::MAX)? {
            let Some(clock) = row
                .notice
                .key
                .parse::<NoticeKey>()
                .ok()
                .and_then(|k| k.clock())
            else {
                continue;
            };
            let clock = (row.channel.clone(), clock);
            newest.insert(clock.clone(), row.notice.key.clone());
            rows.push((seq, row.notice.key, clock));
        }
        let older: Vec<(u64, String, String)> = rows
            .into_iter()
            .filter_map(|(seq, key, clock)| {
                let by = &newest[&clock];
                let record = record_key(&key, clock.0.as_deref());
                (*by != key).then(|| (seq, record, by.clone()))
            })
            .collect();
        for (seq, key, by) in &older {
            (&self.outbox, &self.notice_keys, &self.tracked_changes)
                .transaction(|(outbox, keys, changes)| {
                    let tx = self.outbox_tx(outbox, keys, changes);
                    tx.remove_row(*seq)?;
                    tx.record(key, &NoticeRecord::Superseded { at, by: by.clone() })?;
                    Ok::<_, ConflictableTransactionError<StoreError>>(())
                })
                .map_err(tx::plain_error)?;
            tracing::info!(
                key,
                by,
                "queued notice superseded by a newer one of its clock"
            );
        }
        Ok(older.len())
    }

    /// What became of a notice key, if it was ever queued.
    pub fn notice_record(&self, key: &str) -> Result<Option<NoticeRecord>> {
        self.notice_keys
            .get(key.as_bytes())?
            .map(|v| decode(&v, || format!("notice record {key}")))
            .transpose()
    }

    /// Dead letters, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadRow>> {
        self.dead
            .iter()
            .map(|entry| {
                let (_, v) = entry?;
                decode(&v, || "dead letter".to_string())
            })
            .collect()
    }

    pub fn outbox_depth(&self) -> usize {
        self.outbox.len()
    }

    /// Queued mails that failed at least once (an SMTP outage), for `status`.
    pub fn outbox_failures(&self) -> Result<MailFailures> {
        Ok(self
            .outbox_failures_by_destination()?
            .remove(&None)
            .unwrap_or_default())
    }

    /// [`Store::outbox_failures`] for every destination that has queued rows: the
    /// mail (`None`) and each chat channel by name. Read from the counts: a few keys
    /// per destination, whatever the outbox holds.
    pub fn outbox_failures_by_destination(
        &self,
    ) -> Result<std::collections::BTreeMap<Option<String>, MailFailures>> {
        let mut by: std::collections::BTreeMap<Option<String>, MailFailures> = Default::default();
        for entry in self.notice_keys.scan_prefix([COUNTS, PENDING]) {
            let (key, value) = entry?;
            let Some(channel) = destination_of(&key[2..]) else {
                continue;
            };
            let dest = channel.as_deref();
            let failing = self.notice_keys.get(count_key(FAILING, dest))?;
            let mut retries = self.notice_keys.scan_prefix(count_key(RETRY, dest));
            let first = retries.next().transpose()?;
            let last = retries.next_back().transpose()?.or_else(|| first.clone());
            let failures = MailFailures {
                pending: usize::try_from(read_u64(&value)).unwrap_or(usize::MAX),
                failing: failing.map_or(0, |v| usize::try_from(read_u64(&v)).unwrap_or(0)),
                last_error: last
                    .map(|(_, error)| decode(&error, || "outbox retry index".to_string()))
                    .transpose()?
                    .flatten(),
                next_retry_at: first.and_then(|(key, _)| retry_time(&key)),
            };
            by.insert(channel, failures);
        }
        Ok(by)
    }

    /// Dead letters, from their count.
    pub fn dead_letter_count(&self) -> usize {
        let count = self.notice_keys.get(DEAD).ok().flatten();
        usize::try_from(count.map_or(0, |v| read_u64(&v))).unwrap_or(usize::MAX)
    }

    /// Builds the outbox's counts for a database written before them (one pass over
    /// the outbox and the dead letters, then one transaction that writes them with
    /// their version): a crash before the transaction leaves none, and the next open
    /// builds them again. Returns the queued rows counted, `None` when they were there.
    pub(super) fn ensure_outbox_counts(&self) -> Result<Option<usize>> {
        if self.meta.get(COUNTS_VERSION_KEY)?.is_some() {
            return Ok(None);
        }
        let mut counts: std::collections::BTreeMap<Vec<u8>, u64> = Default::default();
        let mut retries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut rows = 0;
        for entry in self.outbox.iter() {
            let (key, value) = entry?;
            let (Ok(seq), Ok(row)) = (
                <[u8; 8]>::try_from(key.as_ref()).map(u64::from_be_bytes),
                decode::<OutboxRow>(&value, || "outbox row".to_string()),
            ) else {
                continue; // never counted, as when it is removed
            };
            rows += 1;
            let dest = row.channel.as_deref();
            *counts.entry(count_key(PENDING, dest)).or_default() += 1;
            if row.attempts > 0 {
                *counts.entry(count_key(FAILING, dest)).or_default() += 1;
                retries.push((retry_key(&row, seq), encode(&row.last_error)));
            }
        }
        let dead = self.dead.len() as u64;
        if dead > 0 {
            counts.insert(DEAD.to_vec(), dead);
        }
        let stale: Vec<sled::IVec> = self
            .notice_keys
            .scan_prefix([COUNTS])
            .keys()
            .collect::<std::result::Result<_, _>>()?;
        (&self.notice_keys, &self.meta)
            .transaction(|(keys, meta)| {
                for key in &stale {
                    keys.remove(key)?;
                }
                for (key, count) in &counts {
                    keys.insert(key.as_slice(), &count.to_be_bytes())?;
                }
                for (key, error) in &retries {
                    keys.insert(key.as_slice(), error.as_slice())?;
                }
                meta.insert(COUNTS_VERSION_KEY, &1u32.to_be_bytes())?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(tx::plain_error)?;
        Ok(Some(rows))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model::NoticeKind;

    /// A source-failing notice under `key`, to duty.
    pub(in crate::store) fn notice(key: &str) -> Notice {
        Notice {
            key: key.into(),
            to: vec!["duty@localhost".into()],
            created_at: chrono::Utc::now(),
            kind: NoticeKind::SourceFailing {
                source: "s".into(),
                name: "源".into(),
                since: chrono::Utc::now(),
                error: "超时".into(),
                episode: 1,
            },
        }
    }

    /// The notice keys waiting in the outbox, in queue order (first 10).
    pub(in crate::store) fn pending_keys(store: &Store) -> Vec<String> {
        store
            .outbox_pending(10)
            .unwrap()
            .into_iter()
            .map(|(_, row)| row.notice.key)
            .collect()
    }

    /// What the counts must say, read the old way: every outbox row.
    fn scanned(store: &Store) -> std::collections::BTreeMap<Option<String>, MailFailures> {
        let mut by: std::collections::BTreeMap<Option<String>, MailFailures> = Default::default();
        let mut latest: std::collections::HashMap<Option<String>, Timestamp> = Default::default();
        for (_, row) in store.outbox_page(None, usize::MAX).unwrap() {
            let failures = by.entry(row.channel.clone()).or_default();
            failures.pending += 1;
            if row.attempts == 0 {
                continue;
            }
            failures.failing += 1;
            let last = latest
                .entry(row.channel.clone())
                .or_insert(Timestamp::MIN_UTC);
            if row.next_attempt_at >= *last {
                *last = row.next_attempt_at;
                failures.last_error = row.last_error.clone();
            }
            if failures
                .next_retry_at
                .is_none_or(|t| row.next_attempt_at < t)
            {
                failures.next_retry_at = Some(row.next_attempt_at);
            }
        }
        by
    }

    /// The counts equal a scan of the rows and the dead letters.
    #[track_caller]
    fn counts_exact(store: &Store, after: &str) {
        assert_eq!(
            store.outbox_failures_by_destination().unwrap(),
            scanned(store),
            "after {after}"
        );
        assert_eq!(store.dead_letter_count(), store.dead.len(), "after {after}");
    }

    /// A transient failure of the row queued for `key` (on `channel`), `minutes` from now.
    fn fail(store: &Store, key: &str, channel: Option<&str>, minutes: i64, error: &str) {
        let (seq, mut row) = store
            .outbox_page(None, usize::MAX)
            .unwrap()
            .into_iter()
            .find(|(_, r)| r.notice.key == key && r.channel.as_deref() == channel)
            .unwrap();
        row.attempts += 1;
        row.next_attempt_at = chrono::Utc::now() + chrono::Duration::minutes(minutes);
        row.last_error = Some(error.into());
        store.outbox_retry(seq, &row).unwrap();
    }

    fn seq_of(store: &Store, key: &str) -> u64 {
        let rows = store.outbox_page(None, usize::MAX).unwrap();
        rows.iter().find(|(_, r)| r.notice.key == key).unwrap().0
    }

    /// `status` reads counts, so every kind of change must keep them equal to what a
    /// scan of the rows says: enqueue (mail and channel rows), retry, deliver, dead
    /// letter with its report, supersede, withdraw, clear before an import.
    #[test]
    fn the_counts_stay_exact_through_every_kind_of_change() {
        let store = Store::temporary().unwrap();
        store.route_to_channels(Box::new(|n: &Notice| {
            if n.key.starts_with("reply/") || n.key.starts_with("dead/") {
                vec![]
            } else {
                vec!["ding".to_string()]
            }
        }));
        counts_exact(&store, "nothing");
        for key in [
            "42/ack/overdue/1",
            "42/ack/overdue/2",
            "7/opened",
            "source/s/1",
            "reply/board/a/1/80",
        ] {
            store.enqueue_notice(&notice(key)).unwrap();
        }
        store.enqueue_notice(&notice("7/opened")).unwrap();
        counts_exact(&store, "enqueue");
        fail(&store, "7/opened", None, 30, "421 busy");
        fail(&store, "source/s/1", None, 10, "421 later");
        fail(&store, "7/opened", Some("ding"), 5, "timeout");
        counts_exact(&store, "first failures");
        let mail = &store.outbox_failures_by_destination().unwrap()[&None];
        assert_eq!((mail.pending, mail.failing), (5, 2));
        assert_eq!(
            mail.last_error.as_deref(),
            Some("421 busy"),
            "retried latest"
        );
        fail(&store, "7/opened", None, 1, "421 again");
        counts_exact(&store, "a second failure of the same row");
        store
            .outbox_mark_sent(
                seq_of(&store, "source/s/1"),
                "source/s/1",
                chrono::Utc::now(),
            )
            .unwrap();
        counts_exact(&store, "a failing row delivered");
        store
            .outbox_mark_sent(
                seq_of(&store, "reply/board/a/1/80"),
                "x",
                chrono::Utc::now(),
            )
            .unwrap();
        counts_exact(&store, "a fresh row delivered");
        let seq = seq_of(&store, "7/opened");
        let (_, row) = store.outbox_page(Some(seq - 1), 1).unwrap().remove(0);
        let dead = DeadRow {
            notice: row.notice,
            attempts: 2,
            error: "550".into(),
            at: chrono::Utc::now(),
            channel: None,
        };
        store
            .outbox_dead(seq, &dead, Some(&notice("dead/1")))
            .unwrap();
        counts_exact(&store, "dead letter and its report");
        assert_eq!(store.dead_letter_count(), 1);
        assert_eq!(store.outbox_supersede(chrono::Utc::now()).unwrap(), 2);
        counts_exact(&store, "supersede");
        store
            .enqueue_notice(&notice("reply/board/a/1/overdue/1"))
            .unwrap();
        assert_eq!(
            store
                .withdraw_reply_notices("board", "a/1", chrono::Utc::now(), "replied")
                .unwrap(),
            1
        );
        counts_exact(&store, "withdraw");
        store.clear_ledger().unwrap();
        counts_exact(&store, "clearing the ledger for an import");
        let left = store.outbox_failures_by_destination().unwrap();
        let pending: Vec<_> = left
            .iter()
            .map(|(d, f)| (d.as_deref(), f.pending))
            .collect();
        assert_eq!(
            pending,
            [(None, 1), (Some("ding"), 1)],
            "the dead-letter report and the source notice's channel row stay"
        );
    }

    /// A database written before the counts (format 4) gets them at open, exact; a
    /// build cut short (stale counts, no version) is redone; a second open changes
    /// nothing.
    #[test]
    fn the_counts_are_built_once_for_an_older_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for key in ["1/opened", "2/opened", "3/opened"] {
            store.enqueue_notice(&notice(key)).unwrap();
        }
        fail(&store, "2/opened", None, 3, "421");
        let (seq, row) = store.outbox_pending(1).unwrap().remove(0);
        let dead = DeadRow {
            notice: row.notice,
            attempts: 1,
            error: "550".into(),
            at: chrono::Utc::now(),
            channel: None,
        };
        store.outbox_dead(seq, &dead, None).unwrap();
        let expected = store.outbox_failures_by_destination().unwrap();
        assert_eq!(expected, scanned(&store));
        // As format 4 left it: no counts, no version; and a crashed build's leftovers.
        for key in store.notice_keys.scan_prefix([COUNTS]).keys() {
            store.notice_keys.remove(key.unwrap()).unwrap();
        }
        store
            .notice_keys
            .insert(count_key(PENDING, Some("gone")), &7u64.to_be_bytes())
            .unwrap();
        store.meta.remove(COUNTS_VERSION_KEY).unwrap();
        store
            .meta
            .insert(super::super::FORMAT_KEY, &4u32.to_be_bytes())
            .unwrap();
        store.flush_blocking().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.upgraded_from(), Some(4));
        assert_eq!(store.outbox_failures_by_destination().unwrap(), expected);
        counts_exact(&store, "the upgrade");
        assert_eq!(store.dead_letter_count(), 1);
        assert_eq!(store.ensure_outbox_counts().unwrap(), None, "built once");
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.upgraded_from(), None);
        counts_exact(&store, "a second open");
    }

    #[test]
    fn a_key_is_queued_once_ever() {
        let store = Store::temporary().unwrap();
        assert!(store.enqueue_notice(&notice("a")).unwrap());
        assert!(!store.enqueue_notice(&notice("a")).unwrap());
        let pending = store.outbox_pending(10).unwrap();
        assert_eq!(pending.len(), 1);
        store
            .outbox_mark_sent(pending[0].0, "a", chrono::Utc::now())
            .unwrap();
        assert!(
            !store.enqueue_notice(&notice("a")).unwrap(),
            "sent keys are not re-queued"
        );
        assert!(matches!(
            store.notice_record("a").unwrap(),
            Some(NoticeRecord::Sent { .. })
        ));
        assert_eq!(store.outbox_depth(), 0);
    }

    #[test]
    fn channel_rows_are_queued_with_the_mail_and_superseded_per_destination() {
        let store = Store::temporary().unwrap();
        store.route_to_channels(Box::new(|n: &Notice| {
            if n.key.starts_with("quiet") {
                vec![]
            } else {
                vec!["ding".to_string()]
            }
        }));
        for key in ["42/ack/overdue/1", "42/ack/overdue/2", "quiet"] {
            assert!(store.enqueue_notice(&notice(key)).unwrap());
        }
        assert!(!store.enqueue_notice(&notice("42/ack/overdue/1")).unwrap());
        let rows = |store: &Store| -> Vec<String> {
            store
                .outbox_pending(10)
                .unwrap()
                .into_iter()
                .map(|(_, r)| r.record_key())
                .collect()
        };
        assert_eq!(
            rows(&store),
            [
                "42/ack/overdue/1",
                "channel/ding/42/ack/overdue/1",
                "42/ack/overdue/2",
                "channel/ding/42/ack/overdue/2",
                "quiet"
            ]
        );
        assert_eq!(store.outbox_supersede(chrono::Utc::now()).unwrap(), 2);
        assert_eq!(
            rows(&store),
            ["42/ack/overdue/2", "channel/ding/42/ack/overdue/2", "quiet"]
        );
        for key in ["42/ack/overdue/1", "channel/ding/42/ack/overdue/1"] {
            assert!(
                matches!(
                    store.notice_record(key).unwrap(),
                    Some(NoticeRecord::Superseded { ref by, .. }) if by == "42/ack/overdue/2"
                ),
                "{key}"
            );
        }
        let by = store.outbox_failures_by_destination().unwrap();
        assert_eq!(by[&None].pending, 2);
        assert_eq!(by[&Some("ding".to_string())].pending, 1);
    }

    #[test]
    fn pending_keeps_queue_order_and_dead_letters_report() {
        let store = Store::temporary().unwrap();
        for key in ["1", "2", "3"] {
            store.enqueue_notice(&notice(key)).unwrap();
        }
        let pending = store.outbox_pending(10).unwrap();
        let keys: Vec<_> = pending.iter().map(|(_, r)| r.notice.key.as_str()).collect();
        assert_eq!(keys, ["1", "2", "3"]);
        let (seq, row) = &pending[1];
        let dead = DeadRow {
            notice: row.notice.clone(),
            attempts: 1,
            error: "550".into(),
            at: chrono::Utc::now(),
            channel: None,
        };
        store
            .outbox_dead(*seq, &dead, Some(&notice("dead/2")))
            .unwrap();
        assert_eq!(store.dead_letter_count(), 1);
        assert_eq!(pending_keys(&store), ["1", "3", "dead/2"]);
    }
}
