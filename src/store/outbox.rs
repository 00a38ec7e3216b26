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
        self.keys.insert(
            key.as_bytes(),
            encode(&NoticeRecord::Queued {
                seq,
                at: notice.created_at,
            }),
        )?;
        Ok(true)
    }
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
    ) -> OutboxTx<'a> {
        OutboxTx {
            outbox,
            keys,
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
            (&self.outbox, &self.notice_keys)
                .transaction(|(outbox, keys)| tx::to_sled(f(&self.outbox_tx(outbox, keys)))),
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
        (&self.outbox, &self.notice_keys)
            .transaction(|(outbox, keys)| {
                outbox.remove(&seq.to_be_bytes())?;
                keys.insert(key.as_bytes(), encode(&NoticeRecord::Sent { at }))?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(tx::plain_error)
    }

    /// A transient failure: keep the row with its new attempt count and time.
    /// A row that left the outbox meanwhile (superseded) stays gone.
    pub fn outbox_retry(&self, seq: u64, row: &OutboxRow) -> Result<()> {
        let key = seq.to_be_bytes();
        let value = encode(row);
        self.outbox
            .fetch_and_update(key, |old| old.map(|_| value.clone()))?;
        Ok(())
    }

    /// A permanent failure: move the row to the dead letters, and queue `report`
    /// (the dead-letter notice to duty) in the same transaction.
    pub fn outbox_dead(&self, seq: u64, dead: &DeadRow, report: Option<&Notice>) -> Result<()> {
        (&self.outbox, &self.notice_keys, &self.dead)
            .transaction(|(outbox, keys, deadtree)| {
                outbox.remove(&seq.to_be_bytes())?;
                keys.insert(
                    record_key(&dead.notice.key, dead.channel.as_deref()).as_bytes(),
                    encode(&NoticeRecord::Dead { at: dead.at }),
                )?;
                deadtree.insert(&seq.to_be_bytes(), encode(dead))?;
                if let Some(report) = report {
                    self.outbox_tx(outbox, keys).enqueue(report)?;
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
            (&self.outbox, &self.notice_keys)
                .transaction(|(outbox, keys)| {
                    outbox.remove(&seq.to_be_bytes())?;
                    keys.insert(
                        key.as_bytes(),
                        encode(&NoticeRecord::Superseded { at, by: by.clone() }),
                    )?;
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
    /// mail (`None`) and each chat channel by name.
    pub fn outbox_failures_by_destination(
        &self,
    ) -> Result<std::collections::BTreeMap<Option<String>, MailFailures>> {
        let mut by: std::collections::BTreeMap<Option<String>, MailFailures> = Default::default();
        let mut latest: std::collections::HashMap<Option<String>, Timestamp> = Default::default();
        for row in self.outbox.iter().values() {
            let row = row?;
            let Ok(row) = serde_json::from_slice::<OutboxRow>(&row) else {
                continue; // reported by the delivery worker, which reads every row
            };
            let failures = by.entry(row.channel.clone()).or_default();
            failures.pending += 1;
            if row.attempts == 0 {
                continue;
            }
            failures.failing += 1;
            // The row retried last is the one whose retry is scheduled latest.
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
        Ok(by)
    }

    pub fn dead_letter_count(&self) -> usize {
        self.dead.len()
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
