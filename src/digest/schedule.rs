//! Gathering the digest's input from the ledger, queueing it as mail, and the
//! daemon task that does so every morning.
//!
//! Once per date, across restarts: the scheduled digest of date D is the notice
//! `digest/D`, and the outbox queues a key at most once, ever. At start the task
//! checks whether the most recent digest time's notice was ever queued; if not
//! (the daemon was down at that time), it sends it at once, marked late (补发).
//! Only the most recent one is caught up: after days of downtime leaders get one
//! digest, not a pile; and never one whose digest time is before the database's
//! first start (a new installation does not mail an empty 补发 for a day it did not
//! watch). Then it sleeps until the next digest time.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime, Timelike};
use serde::{Deserialize, Serialize};

use super::render::{render_html, render_text, subject};
use super::{DigestError, DigestInput, DigestReport, Period, SourceInfo, compute};
use crate::config::{Config, DigestConfig};
use crate::ledger::Routing;
use crate::model::{Item, Notice, NoticeKey, NoticeKind, Status, Timestamp};
use crate::store::{Store, StoreError};
use crate::time::local_date;

/// Keyword extraction over a text, best first (the classifier's `keywords`).
pub type ExtractKeywords<'a> = dyn Fn(&str, usize) -> Vec<(String, f64)> + Send + Sync + 'a;
/// [`ExtractKeywords`] as the daemon shares it (`Arc<Keywords>`).
pub type Keywords = ExtractKeywords<'static>;

/// Terms extracted for the digest.
const TOP_TERMS: usize = 20;
/// Body text of one item fed to keyword extraction (titles are always whole).
const BODY_CHARS: usize = 500;
/// A scheduled digest queued later than this after its time is marked late (补发).
const LATE_AFTER: chrono::Duration = chrono::Duration::minutes(10);
/// Wait before trying again after a failed scheduled digest.
const RETRY_AFTER: chrono::Duration = chrono::Duration::minutes(10);

/// The daily digest time, `[digest] at` in Asia/Shanghai.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestSchedule {
    at: NaiveTime,
}

impl DigestSchedule {
    pub fn new(at: NaiveTime) -> DigestSchedule {
        DigestSchedule { at }
    }

    pub fn from_config(config: &DigestConfig) -> DigestSchedule {
        DigestSchedule::new(config.time_of_day())
    }

    /// The digest time on a Beijing calendar date.
    pub fn on(&self, date: NaiveDate) -> Timestamp {
        crate::time::day_start(date)
            + chrono::Duration::seconds(i64::from(self.at.num_seconds_from_midnight()))
    }

    /// The most recent digest time at or before `now`.
    pub fn last_at_or_before(&self, now: Timestamp) -> Timestamp {
        let today = local_date(now);
        let t = self.on(today);
        if t <= now {
            t
        } else {
            self.on(today.pred_opt().unwrap_or(today))
        }
    }

    /// The first digest time after `now`.
    pub fn next_after(&self, now: Timestamp) -> Timestamp {
        let today = local_date(now);
        let t = self.on(today);
        if t > now {
            t
        } else {
            self.on(today.succ_opt().unwrap_or(today))
        }
    }
}

/// The notice key of the scheduled digest of `date`: `digest/2026-11-24`.
pub fn digest_key(date: NaiveDate) -> String {
    NoticeKey::Digest { date, manual: None }.to_string()
}

/// Collects a digest's input from the ledger and the store. Blocking (sled, jieba):
/// call it from `spawn_blocking` in async code.
pub fn gather(
    store: &Store,
    config: &Config,
    period: &Period,
    now: Timestamp,
    keywords: &ExtractKeywords<'_>,
) -> Result<DigestInput, DigestError> {
    let incidents = store.incidents().collect::<Result<Vec<_>, _>>()?;
    // Closing times come from the audit trail; only incidents closed or dismissed
    // since the period began can matter.
    let mut audits = BTreeMap::new();
    for incident in &incidents {
        if matches!(incident.status, Status::Closed | Status::Dismissed)
            && incident.updated_at >= period.start
        {
            audits.insert(incident.id, store.incident_audit(incident.id)?);
        }
    }
    let items = items_in(store, period)?;
    let mut sources = Vec::new();
    for source in config.sources.iter().filter(|s| s.enabled) {
        sources.push(SourceInfo {
            id: source.id.clone(),
            name: source.name.clone(),
            state: store.source_state(&source.id)?,
        });
    }
    let top_terms = if items.is_empty() {
        Vec::new()
    } else {
        keywords(&keyword_text(&items), TOP_TERMS)
    };
    Ok(DigestInput {
        jurisdiction: config.jurisdiction.name.clone(),
        period: period.clone(),
        now,
        incidents,
        audits,
        items,
        sources,
        top_terms,
    })
}

/// Items first seen in the period, read through the store's time index (only the
/// period's items are decoded). A record that no longer decodes is skipped with a
/// warning (the digest must still go out); storage errors fail.
fn items_in(store: &Store, period: &Period) -> Result<Vec<Item>, DigestError> {
    let mut items = Vec::new();
    for item in store.items_first_seen_in(period.start, period.end)? {
        match item {
            Ok(item) => items.push(item),
            Err(err @ StoreError::Corrupt { .. }) => {
                tracing::warn!(error = %err, "digest skips an unreadable item");
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(items)
}

/// The text keywords are drawn from: every title, and the start of every body.
fn keyword_text(items: &[Item]) -> String {
    let mut text = String::new();
    for item in items {
        text.push_str(&item.title);
        text.push('\n');
        text.extend(item.body.chars().take(BODY_CHARS));
        text.push('\n');
    }
    text
}

/// Gathers and computes a digest. Blocking; see [`gather`].
pub fn build(
    store: &Store,
    config: &Config,
    period: &Period,
    now: Timestamp,
    keywords: &ExtractKeywords<'_>,
) -> Result<DigestReport, DigestError> {
    let mut report = compute(&gather(store, config, period, now, keywords)?);
    let board_name = |id: &str| {
        config
            .sources
            .iter()
            .find(|s| s.id == id)
            .map_or_else(|| id.to_string(), |s| s.name.clone())
    };
    report.replies = super::replies::summarize(&store.tracked_posts(None)?, board_name, now);
    let clocks: Vec<(String, String)> = config
        .document_clocks
        .iter()
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    report.document_clocks =
        super::policies::summarize(&store.tracked_documents(None)?, &clocks, board_name, now);
    Ok(report)
}

/// Queues a digest mail under `key` and flushes. Returns false when the key was
/// queued before (then nothing is queued: a key goes out at most once, ever).
pub async fn queue(
    store: &Store,
    config: &Config,
    report: &DigestReport,
    key: &str,
    late: bool,
    now: Timestamp,
) -> Result<bool, DigestError> {
    let to = Routing::new(config).digest();
    if to.is_empty() {
        return Err(DigestError::NoRecipients);
    }
    let notice = Notice {
        key: key.to_string(),
        to,
        created_at: now,
        kind: NoticeKind::Digest {
            date: report.period.date,
            late,
            subject: subject(report, late),
            text: render_text(report),
            html: render_html(report),
        },
    };
    let queued = store.enqueue_notice(&notice)?;
    store.flush().await?;
    Ok(queued)
}

/// What `digest --send` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendOutcome {
    /// The `X-Yuqing-Notice` key.
    pub key: String,
    pub to: Vec<String>,
    pub subject: String,
    pub queued: bool,
}

/// `digest --send`: builds the digest of `date` (or of the last digest time) and
/// queues it now. A manual send has its own key,
/// `digest/<date>/manual/<YYYYMMDDTHHMMSS>` (Beijing time), so it never stands in
/// for, nor is swallowed by, the scheduled `digest/<date>`.
pub async fn send_now(
    store: Store,
    config: Arc<Config>,
    keywords: Arc<Keywords>,
    date: Option<String>,
    now: Timestamp,
) -> Result<SendOutcome, DigestError> {
    let schedule = DigestSchedule::from_config(&config.digest);
    let period = Period::resolve(date.as_deref(), &schedule, now)?;
    if Routing::new(&config).digest().is_empty() {
        return Err(DigestError::NoRecipients);
    }
    let report = build_blocking(store.clone(), config.clone(), keywords, period, now).await?;
    let key = NoticeKey::Digest {
        date: report.period.date,
        manual: Some(now.with_timezone(&crate::time::ZONE).naive_local()),
    }
    .to_string();
    let queued = queue(&store, &config, &report, &key, false, now).await?;
    Ok(SendOutcome {
        key,
        to: Routing::new(&config).digest(),
        subject: subject(&report, false),
        queued,
    })
}

/// [`build`] on the blocking pool.
pub async fn build_blocking(
    store: Store,
    config: Arc<Config>,
    keywords: Arc<Keywords>,
    period: Period,
    now: Timestamp,
) -> Result<DigestReport, DigestError> {
    tokio::task::spawn_blocking(move || build(&store, &config, &period, now, &*keywords))
        .await
        .map_err(DigestError::Interrupted)?
}

/// The daemon task: queues the digest at `[digest] at` every day, once per date
/// across restarts, late (补发) when the daemon was down at that time. Queueing
/// wakes mail delivery through the store's outbox signal. Returns when `shutdown`
/// completes.
pub async fn run_scheduler(
    store: Store,
    config: Arc<Config>,
    keywords: Arc<Keywords>,
    shutdown: impl Future<Output = ()>,
) {
    scheduler_loop(store, config, keywords, shutdown, chrono::Utc::now).await
}

async fn scheduler_loop(
    store: Store,
    config: Arc<Config>,
    keywords: Arc<Keywords>,
    shutdown: impl Future<Output = ()>,
    clock: impl Fn() -> Timestamp,
) {
    let schedule = DigestSchedule::from_config(&config.digest);
    let first_start = match store.first_start(clock()) {
        Ok(at) => at,
        Err(err) => {
            // Without the record, catching up could mail a digest for a day before the
            // ledger existed; skipping one catch-up is the lesser harm.
            tracing::error!(error = %err, "cannot read the first start time; no catch-up digest");
            clock()
        }
    };
    if Routing::new(&config).digest().is_empty() {
        tracing::warn!("no digest recipients configured ([digest] to); the daily digest is off");
        shutdown.await;
        return;
    }
    tokio::pin!(shutdown);
    loop {
        let now = clock();
        let due = schedule.last_at_or_before(now);
        let handled = if due < first_start {
            tracing::info!(
                due = %crate::time::local(due),
                "no catch-up digest for a time before this ledger's first start"
            );
            Ok(false)
        } else {
            scheduled_once(&store, &config, &keywords, due, now).await
        };
        let wake_at = match handled {
            Ok(_) => {
                // The digest time after the one just handled, even if building took
                // so long that it has passed already: then the loop handles it at once.
                schedule.next_after(due)
            }
            Err(err) => {
                tracing::error!(error = %err, "daily digest failed; retrying");
                clock() + RETRY_AFTER
            }
        };
        let wait = (wake_at - clock()).to_std().unwrap_or_default();
        tracing::debug!(next = %crate::time::local(wake_at), "digest scheduler sleeping");
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Queues the scheduled digest of digest time `due` unless it was ever queued.
/// Returns whether it queued one.
async fn scheduled_once(
    store: &Store,
    config: &Arc<Config>,
    keywords: &Arc<Keywords>,
    due: Timestamp,
    now: Timestamp,
) -> Result<bool, DigestError> {
    let key = digest_key(local_date(due));
    if store.notice_record(&key)?.is_some() {
        return Ok(false);
    }
    let late = now - due > LATE_AFTER;
    let report = build_blocking(
        store.clone(),
        config.clone(),
        keywords.clone(),
        Period::scheduled(due),
        now,
    )
    .await?;
    let queued = queue(store, config, &report, &key, late, now).await?;
    tracing::info!(
        key,
        late,
        queued,
        new = report.counts.new_incidents,
        "daily digest queued"
    );
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Notify;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn digest_times_follow_beijing_time() {
        let s = DigestSchedule::new(NaiveTime::from_hms_opt(8, 0, 0).unwrap());
        // 07:59 Beijing on the 24th: the last digest was the 23rd at 08:00.
        let now = ts("2026-11-23T23:59:00Z");
        assert_eq!(s.last_at_or_before(now), ts("2026-11-23T00:00:00Z"));
        assert_eq!(s.next_after(now), ts("2026-11-24T00:00:00Z"));
        // Exactly 08:00: that digest is due now, the next is tomorrow.
        let now = ts("2026-11-24T00:00:00Z");
        assert_eq!(s.last_at_or_before(now), now);
        assert_eq!(s.next_after(now), ts("2026-11-25T00:00:00Z"));
        assert_eq!(digest_key(local_date(now)), "digest/2026-11-24");
    }

    #[test]
    fn periods_per_interface() {
        let s = DigestSchedule::new(NaiveTime::from_hms_opt(8, 0, 0).unwrap());
        let now = ts("2026-11-24T06:05:00Z"); // 14:05 Beijing
        let p = Period::resolve(None, &s, now).unwrap();
        assert_eq!(
            (p.start, p.end, p.date.to_string()),
            (
                ts("2026-11-23T00:00:00Z"),
                ts("2026-11-24T00:00:00Z"),
                "2026-11-24".into()
            )
        );
        let p = Period::resolve(Some("2026-11-24"), &s, now).unwrap();
        assert_eq!((p.start, p.end), (ts("2026-11-23T16:00:00Z"), now));
        let p = Period::resolve(Some("2026-11-20"), &s, now).unwrap();
        assert_eq!(
            (p.start, p.end),
            (ts("2026-11-19T16:00:00Z"), ts("2026-11-20T16:00:00Z"))
        );
        for bad in ["2026-13-01", "yesterday", "2026/11/24", ""] {
            assert!(
                matches!(
                    Period::resolve(Some(bad), &s, now),
                    Err(DigestError::BadDate(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Period::resolve(Some("2026-11-25"), &s, now),
            Err(DigestError::FutureDate(_))
        ));
    }

    /// Waits until the scheduler queues a digest (the store signals every queued
    /// notice). Under the paused clock the
    /// test holds no timer meanwhile, so simulated time stands still while the
    /// scheduler does real IO; a real-time guard only keeps a broken test from hanging.
    async fn next_digest(wake: &Notify) {
        let (guard, expired) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(300));
            let _ = guard.send(());
        });
        tokio::select! {
            () = wake.notified() => {}
            _ = expired => panic!("the scheduler queued no digest"),
        }
    }

    /// The scheduler against the outbox, on a paused clock: no catch-up before the
    /// ledger's first start, a late catch-up after downtime, the next morning's digest
    /// on time, nothing twice after a restart.
    #[tokio::test(start_paused = true)]
    async fn scheduler_sends_once_per_date_late_after_downtime_never_before_first_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.recipients.leaders = vec!["leader@localhost".into()];
        let config = Arc::new(config);
        let keywords: Arc<Keywords> = Arc::new(|_: &str, _: usize| Vec::new());

        let start = |wall: Timestamp| {
            let store = Store::open(dir.path()).unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let clock = crate::clock::task::TaskClock::starting_at(wall);
            let task = tokio::spawn(scheduler_loop(
                store.clone(),
                config.clone(),
                keywords.clone(),
                async move {
                    let _ = stopped.await;
                },
                move || clock.now(),
            ));
            (store, stop, task)
        };
        let digests = |store: &Store| -> Vec<(String, bool, String)> {
            store
                .outbox_pending(100)
                .unwrap()
                .into_iter()
                .filter_map(|(_, row)| match row.notice.kind {
                    NoticeKind::Digest { late, subject, .. } => {
                        Some((row.notice.key, late, subject))
                    }
                    _ => None,
                })
                .collect()
        };
        let digest = |date: &str, late: bool| {
            let day: NaiveDate = date.parse().unwrap();
            (
                format!("digest/{date}"),
                late,
                format!(
                    "【舆情日报】安丘市 {} 无新增舆情事件{}",
                    day.format("%Y年%m月%d日"),
                    if late { "（补发）" } else { "" }
                ),
            )
        };

        // A new installation started at 10:00 on the 24th: no 补发 for the 24th's
        // 08:00 digest (the ledger did not exist then); the 25th's goes out on time.
        let (store, stop, task) = start(ts("2026-11-24T02:00:00Z"));
        next_digest(&store.outbox_signal()).await;
        assert_eq!(digests(&store), [digest("2026-11-25", false)]);
        stop.send(()).unwrap();
        task.await.unwrap();
        drop(store);

        // Down over the 26th and 27th, restarted at 10:00 on the 27th: only the most
        // recent digest is caught up, marked late; the 28th goes out on time.
        let (store, stop, task) = start(ts("2026-11-27T02:00:00Z"));
        next_digest(&store.outbox_signal()).await;
        next_digest(&store.outbox_signal()).await;
        assert_eq!(
            digests(&store),
            [
                digest("2026-11-25", false),
                digest("2026-11-27", true),
                digest("2026-11-28", false)
            ]
        );
        stop.send(()).unwrap();
        task.await.unwrap();
        drop(store);

        // Restarted at 09:00 on the 28th: that digest went out already. Run until just
        // before the next digest time: nothing new is queued.
        let (store, stop, task) = start(ts("2026-11-28T01:00:00Z"));
        tokio::time::sleep(std::time::Duration::from_secs(22 * 3600)).await;
        assert_eq!(digests(&store).len(), 3);
        // And the 29th goes out on time from the restarted scheduler.
        next_digest(&store.outbox_signal()).await;
        stop.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(digests(&store).len(), 4);
        assert_eq!(digests(&store)[3], digest("2026-11-29", false));
    }
}
