//! The delivery worker: drains the outbox.
//!
//! Order. The outbox is read in queue order. Mails of one incident form a thread and
//! always go out in the order they were queued: while the earliest waiting mail of
//! incident 42 is backing off, no later mail of incident 42 is sent, but mails of
//! other incidents (and digests, source and dead-letter notices, each on their own)
//! are. When the server itself is unreachable (refused, timed out, TLS or login
//! failing) the whole queue waits and only its head is retried, so a restored server
//! receives everything in queue order. On start every queued mail is due at once.
//!
//! Guarantees (at least once, never lost). A row leaves the outbox only after the
//! server accepted the mail ([`Store::outbox_mark_sent`], then a flush) or after a
//! permanent failure ([`Store::outbox_dead`], which queues the report to duty in the
//! same transaction). A crash
//! - before or during the SMTP exchange: the row is still queued; it is sent on restart;
//! - after the server's `250` but before the mark is flushed: the mail is sent once
//!   more on restart, with the same Message-ID (at most one duplicate per crash);
//! - after a retry or dead-letter write but before its flush: the attempt is repeated.
//!
//! Before each round the store is flushed, so a mail never announces a change that a
//! crash could still take back.
//!
//! Chat channels. Each `[[channel]]` has a worker of its own ([`run_channel`]) over
//! the same outbox, taking only that channel's rows (the mail worker takes the rows
//! with no channel); everything above holds for it, with "the server" being the
//! channel's robot, so a channel that is down holds only its own queue.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::FutureExt;
use rand::Rng;
use serde::Serialize;
use tokio::sync::Notify;

use super::NotifyError;
use super::channel::Channel;
use super::render::{Letterhead, subject};
use super::transport::{Failure, SendError, Transport};
use crate::config::Config;
use crate::model::{Notice, NoticeKind, Timestamp};
use crate::store::{DeadRow, OutboxRow, Store, StoreError};

/// Rows read from the store at a time.
const PAGE: usize = 64;
/// Longest sleep; a wake-up or a scheduled retry normally comes first.
const IDLE: Duration = Duration::from_secs(3600);

/// Retry timing after a failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Wait after the first failure; doubled after each further one…
    pub base: Duration,
    /// …up to this.
    pub cap: Duration,
    /// Up to this fraction is added at random, so retries do not arrive in lockstep.
    pub jitter: f64,
    /// A mail the server keeps refusing temporarily (`4xx`) is given up, as a dead
    /// letter, once it is this old. Unreachable servers never make a mail give up.
    pub give_up_after: Duration,
}

impl Default for Backoff {
    /// 30 s, 1 min, 2 min, … capped at 15 min, +0–20 %; give up on a `4xx` after 2 days.
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(15 * 60),
            jitter: 0.2,
            give_up_after: Duration::from_secs(2 * 86_400),
        }
    }
}

impl Backoff {
    /// The wait after the `attempts`-th failed attempt (1 = the first).
    pub fn delay(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        let raw = self.base.saturating_mul(1u32 << doublings).min(self.cap);
        let spread = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let jitter = if spread > 0.0 {
            rand::rng().random_range(0.0..=spread)
        } else {
            0.0
        };
        raw.mul_f64(1.0 + jitter)
    }
}

/// Runs the worker with the default [`Backoff`] until `shutdown` completes.
///
/// `wake` is notified by whoever queues a notice; without it a new notice would wait
/// for the next scheduled retry or an hour. On shutdown a send in progress is finished
/// and recorded first. Returns an error for an unusable configuration (From address,
/// password variable, outbox folder) or a failing store.
pub async fn run(
    store: Store,
    config: Arc<Config>,
    wake: Arc<Notify>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NotifyError> {
    run_with(store, config, Backoff::default(), wake, shutdown).await
}

/// [`run`] with explicit retry timing.
pub async fn run_with(
    store: Store,
    config: Arc<Config>,
    backoff: Backoff,
    wake: Arc<Notify>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NotifyError> {
    let worker = Worker {
        destination: Destination::Mail {
            letterhead: Letterhead::new(&config.mail_from())?,
            transport: Transport::from_config(&config)?,
        },
        duty: crate::ledger::Routing::new(&config).duty(),
        store,
        backoff,
    };
    worker.drive(wake, shutdown).await
}

/// Delivers the outbox rows of one chat channel until `shutdown` completes; see
/// [`run`]. `duty` receives the report of a card given up.
pub async fn run_channel(
    store: Store,
    channel: Channel,
    duty: Vec<String>,
    backoff: Backoff,
    wake: Arc<Notify>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NotifyError> {
    let worker = Worker {
        destination: Destination::Channel(channel),
        duty,
        store,
        backoff,
    };
    worker.drive(wake, shutdown).await
}

impl Worker {
    async fn drive(
        self,
        wake: Arc<Notify>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), NotifyError> {
        let worker = self;
        let destination = worker.destination.describe();
        tracing::info!(%destination, "delivery started");
        let shutdown = shutdown.fuse();
        tokio::pin!(shutdown);
        // On start every queued mail is due at once: an operator who fixed [smtp] and
        // restarted need not wait out the back-off, and the queue head goes first.
        let mut due_by = Some(Timestamp::MAX_UTC);
        loop {
            // Registered before the round, so a notice queued during it is not missed.
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let (next, paused) = match worker.round(&mut shutdown, due_by.take()).await? {
                Round::Shutdown => break,
                Round::Done(next) => (next, false),
                Round::Paused(at) => (Some(at), true),
            };
            let sleep = next
                .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(IDLE)
                .min(IDLE);
            if paused {
                // The server is unreachable: new notices wait too, so that the first
                // mail through once it is back is the head of the queue.
                due_by = next;
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(sleep) => {}
                }
            } else {
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = notified => {}
                    () = tokio::time::sleep(sleep) => {}
                }
            }
        }
        worker.store.flush().await?;
        tracing::info!(%destination, "delivery stopped");
        Ok(())
    }
}

enum Round {
    Shutdown,
    /// Everything due was tried; the next attempt is due then (`None`: nothing waits).
    Done(Option<Timestamp>),
    /// The server is unreachable; the whole queue waits until then.
    Paused(Timestamp),
}

/// What became of one attempt.
enum Outcome {
    Sent,
    Dead,
    /// Retry this mail then; its thread waits.
    Retry(Timestamp),
    /// The server is unreachable: the whole queue waits until then.
    Pause(Timestamp),
}

struct Worker {
    store: Store,
    destination: Destination,
    duty: Vec<String>,
    backoff: Backoff,
}

/// Where a worker delivers: mail, or one chat channel.
enum Destination {
    Mail {
        letterhead: Letterhead,
        transport: Transport,
    },
    Channel(Channel),
}

impl Destination {
    fn describe(&self) -> String {
        match self {
            Destination::Mail { transport, .. } => format!("mail via {}", transport.describe()),
            Destination::Channel(channel) => channel.describe(),
        }
    }

    /// The channel name of the rows this destination takes (`None`: mail).
    fn channel(&self) -> Option<&str> {
        match self {
            Destination::Mail { .. } => None,
            Destination::Channel(channel) => Some(channel.name()),
        }
    }
}

impl Worker {
    /// One pass over the outbox: every due mail whose thread is not waiting is tried
    /// once. Mails due by `due_by` count as due now: after a pause it is when the pause
    /// ended (the mail that caused it is due even if the timer's and the system's
    /// clocks disagree slightly); on start it is the end of time.
    async fn round<F: Future<Output = ()> + Unpin>(
        &self,
        shutdown: &mut F,
        due_by: Option<Timestamp>,
    ) -> Result<Round, NotifyError> {
        let now = || due_by.map_or_else(Utc::now, |at| at.max(Utc::now()));
        self.store.flush().await?;
        self.store.outbox_supersede(Utc::now())?;
        let mut waiting: HashSet<String> = HashSet::new();
        let mut next: Option<Timestamp> = None;
        let mut after = None;
        loop {
            let page = self.store.outbox_page(after, PAGE)?;
            if page.is_empty() {
                return Ok(Round::Done(next));
            }
            for (seq, row) in page {
                after = Some(seq);
                if shutdown.now_or_never().is_some() {
                    return Ok(Round::Shutdown);
                }
                if row.channel.as_deref() != self.destination.channel() {
                    continue;
                }
                let thread = thread_of(&row.notice);
                if waiting.contains(&thread) {
                    continue;
                }
                if row.next_attempt_at > now() {
                    next = earliest(next, row.next_attempt_at);
                    waiting.insert(thread);
                    continue;
                }
                match self.deliver(seq, row).await? {
                    Outcome::Sent | Outcome::Dead => {}
                    Outcome::Retry(at) => {
                        next = earliest(next, at);
                        waiting.insert(thread);
                    }
                    Outcome::Pause(at) => return Ok(Round::Paused(at)),
                }
            }
        }
    }

    async fn deliver(&self, seq: u64, row: OutboxRow) -> Result<Outcome, StoreError> {
        let key = row.notice.key.clone();
        let sent = match &self.destination {
            Destination::Mail {
                letterhead,
                transport,
            } => match letterhead.render(&row.notice) {
                Ok(message) => transport.send(&key, &message).await,
                Err(err) => return self.bury(seq, row, err.to_string()).await,
            },
            Destination::Channel(channel) => channel.send(&row.notice).await,
        };
        crate::metrics::METRICS.delivered(row.channel.as_deref(), sent.is_ok());
        match sent {
            Ok(()) => {
                self.store
                    .outbox_mark_sent(seq, &row.record_key(), Utc::now())?;
                self.store.flush().await?;
                match &row.channel {
                    None => {
                        tracing::info!(key, to = ?row.notice.to, attempts = row.attempts + 1, "mail sent")
                    }
                    Some(channel) => {
                        tracing::info!(key, channel, attempts = row.attempts + 1, "card posted")
                    }
                }
                Ok(Outcome::Sent)
            }
            Err(SendError {
                failure: Failure::Permanent,
                message,
            }) => self.bury(seq, row, message).await,
            Err(SendError { failure, message }) => {
                let age = (Utc::now() - row.notice.created_at)
                    .to_std()
                    .unwrap_or(Duration::ZERO);
                if failure == Failure::Transient && age >= self.backoff.give_up_after {
                    let message = format!(
                        "{}内多次重试仍失败：{message}",
                        crate::time::span(
                            chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX),
                        )
                    );
                    return self.bury(seq, row, message).await;
                }
                let at = self.retry(seq, row, message)?;
                Ok(if failure == Failure::Unreachable {
                    Outcome::Pause(at)
                } else {
                    Outcome::Retry(at)
                })
            }
        }
    }

    /// Records a failed attempt; returns when to try again.
    fn retry(&self, seq: u64, mut row: OutboxRow, error: String) -> Result<Timestamp, StoreError> {
        row.attempts += 1;
        let delay = self.backoff.delay(row.attempts);
        let at = chrono::Duration::from_std(delay)
            .ok()
            .and_then(|d| Utc::now().checked_add_signed(d))
            .unwrap_or(Timestamp::MAX_UTC);
        tracing::warn!(
            key = row.notice.key,
            attempts = row.attempts,
            retry_in_secs = delay.as_secs(),
            error,
            "mail not delivered; will retry"
        );
        row.next_attempt_at = at;
        row.last_error = Some(error);
        self.store.outbox_retry(seq, &row)?;
        Ok(at)
    }

    /// Moves a mail to the dead letters and queues a report to duty, unless the mail
    /// was itself such a report (then it is only logged: reports never loop).
    async fn bury(&self, seq: u64, row: OutboxRow, error: String) -> Result<Outcome, StoreError> {
        let now = Utc::now();
        let notice = row.notice;
        // A channel's card is reported under its own record key, naming the channel.
        let (original, original_to) = match &row.channel {
            None => (notice.key.clone(), notice.to.clone()),
            Some(channel) => (
                crate::store::record_key(&notice.key, Some(channel)),
                vec![format!("群机器人 {channel}")],
            ),
        };
        let report = match &notice.kind {
            NoticeKind::DeadLetter { .. } => None,
            _ if self.duty.is_empty() => None,
            _ => Some(Notice {
                key: crate::model::NoticeKey::DeadLetter {
                    original: original.clone(),
                }
                .into(),
                to: self.duty.clone(),
                created_at: now,
                kind: NoticeKind::DeadLetter {
                    original_key: original,
                    original_to,
                    error: error.clone(),
                    original_subject: subject(&notice),
                },
            }),
        };
        if report.is_none() {
            tracing::error!(
                key = notice.key,
                to = ?notice.to,
                error,
                "UNDELIVERABLE and not reported by mail: kept in the dead letters; see `yuqing status`"
            );
        } else {
            tracing::error!(key = notice.key, to = ?notice.to, error, "mail undeliverable; reported to duty");
        }
        let dead = DeadRow {
            attempts: row.attempts + 1,
            error,
            at: now,
            notice,
            channel: row.channel,
        };
        self.store.outbox_dead(seq, &dead, report.as_ref())?;
        self.store.flush().await?;
        Ok(Outcome::Dead)
    }
}

/// Mails of one incident keep their order; every other mail stands alone.
fn thread_of(notice: &Notice) -> String {
    match notice.incident() {
        Some(incident) => format!("incident/{}", incident.id),
        None => format!("notice/{}", notice.key),
    }
}

fn earliest(a: Option<Timestamp>, b: Timestamp) -> Option<Timestamp> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// The outbox at a glance, for `yuqing status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryStatus {
    /// Mails waiting to be delivered.
    pub pending: usize,
    /// Of those, mails that failed at least once.
    pub retrying: usize,
    /// Mails given up (permanent failure).
    pub dead: usize,
    /// When the oldest waiting mail was queued.
    pub oldest_queued_at: Option<Timestamp>,
    /// The waiting mail that has failed most often, with its last error.
    pub stuck: Option<StuckNotice>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StuckNotice {
    pub key: String,
    pub attempts: u32,
    pub error: String,
    pub next_attempt_at: Timestamp,
}

/// Reads the delivery state from the store (works whether or not the worker runs).
pub fn delivery_status(store: &Store) -> Result<DeliveryStatus, StoreError> {
    let mut status = DeliveryStatus {
        pending: 0,
        retrying: 0,
        dead: store.dead_letter_count(),
        oldest_queued_at: None,
        stuck: None,
    };
    let mut after = None;
    loop {
        let page = store.outbox_page(after, PAGE * 16)?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = Some(*last);
        for (_, row) in page.into_iter().filter(|(_, row)| row.channel.is_none()) {
            status.pending += 1;
            status.oldest_queued_at = Some(
                status
                    .oldest_queued_at
                    .map_or(row.notice.created_at, |t| t.min(row.notice.created_at)),
            );
            let Some(error) = row.last_error else {
                continue;
            };
            status.retrying += 1;
            if status
                .stuck
                .as_ref()
                .is_none_or(|s| row.attempts > s.attempts)
            {
                status.stuck = Some(StuckNotice {
                    key: row.notice.key,
                    attempts: row.attempts,
                    error,
                    next_attempt_at: row.next_attempt_at,
                });
            }
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let backoff = Backoff {
            jitter: 0.0,
            ..Backoff::default()
        };
        let secs: Vec<u64> = (1..=8).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(backoff.delay(u32::MAX).as_secs(), 900);
        let jittered = Backoff::default();
        for n in 1..=8 {
            let d = jittered.delay(n).as_secs_f64();
            let plain = backoff.delay(n).as_secs_f64();
            assert!(d >= plain && d <= plain * 1.2 + 1e-9, "{n}: {d} vs {plain}");
        }
    }
}
