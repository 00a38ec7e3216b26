//! The intake: one task per enabled source, each sleeping until its persisted
//! `next_poll_at`, then fetch → parse → store → hand on.
//!
//! # Output
//! New and edited items leave on the `mpsc::Sender<Item>` given to [`Intake::new`],
//! *after* they are stored (with their pending mark). By default a full channel makes
//! the intake wait (backpressure). With [`Intake::spill_to_store`] (the daemon) a full
//! channel does not hold up polling: the item is not sent, it stays pending in the
//! store, and the shared [`Spill`] flag tells the next stage to read its backlog from
//! the store's pending list. Either way nothing is dropped: an item that was stored
//! but not yet handed on keeps its pending mark, so the next stage finds it.
//!
//! # Cancellation
//! On shutdown a fetch in flight is abandoned (nothing has been written yet);
//! storing and handing on a fetched document always run to the end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use super::backoff::{failure_delay, first_poll_at, span, startup_spread, with_jitter};
use super::fetch::{Body, Fetched, Fetcher, Validators};
use super::{FailureKind, PollError, SourcesError};
use crate::config::{Config, IntakeConfig, SourceConfig};
use crate::model::{Item, Notice, NoticeKind, Timestamp};
use crate::parse::{self, Document};
use crate::store::{SourceState, Store, StoreError, UpsertOutcome};

/// When to poll again after a local resource error (out of file handles, buffers).
const LOCAL_RETRY: Duration = Duration::from_secs(30);

/// The polling scheduler. Cheap to clone.
#[derive(Clone)]
pub struct Intake {
    inner: Arc<Inner>,
}

struct Inner {
    settings: IntakeConfig,
    /// The daemon's configuration, shared: the source tasks read their source's
    /// settings from it ([`Source`]) instead of each holding a copy.
    config: Arc<Config>,
    store: Store,
    fetcher: Fetcher,
    /// Addresses that receive source-health notices.
    duty: Vec<String>,
    items: mpsc::Sender<Item>,
    /// Set by [`Intake::spill_to_store`]: a full channel leaves items pending in the
    /// store instead of waiting.
    spill: OnceLock<Spill>,
    /// The official calendar, loaded when some board tracks replies (`reply_status`).
    calendar: Option<Arc<crate::calendar::Calendar>>,
    /// `[policy]`: the reply clocks' reminders and overdue repeats.
    policy: crate::config::Policy,
    /// The document clocks (政策解读 …, `crate::policies::track`); `None` without any.
    documents: Option<Arc<crate::policies::track::DocumentTracking>>,
}

/// What one poll did.
#[derive(Debug)]
pub struct PollReport {
    pub source: String,
    /// When this source is due again (also persisted in its [`SourceState`]).
    pub next_poll_at: Timestamp,
    pub result: Result<Ingested, PollError>,
}

/// A successful poll.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    /// The HTTP status: 304 when nothing changed.
    pub status: u16,
    /// The character encoding the document was read in; `None` for a 304.
    pub encoding: Option<&'static str>,
    /// Items found in the document.
    pub parsed: usize,
    /// Items stored for the first time.
    pub new: usize,
    /// Known items whose text changed.
    pub updated: usize,
    /// Validators to send next time.
    pub validators: Validators,
}

impl Intake {
    /// Prepares the intake for every source of `config` (only enabled ones are
    /// polled by [`Intake::run`]). New and updated items go to `items`.
    pub fn new(
        config: &Config,
        store: Store,
        items: mpsc::Sender<Item>,
    ) -> Result<Intake, SourcesError> {
        let calendar = if config.sources.iter().any(|s| s.reply.is_some())
            || crate::policies::track::DocumentTracking::needed(config)
        {
            Some(Arc::new(crate::calendar::Calendar::load(
                &config.dictionaries,
            )?))
        } else {
            None
        };
        Intake::with_calendar(Arc::new(config.clone()), store, items, calendar)
    }

    /// [`Intake::new`] with the holiday table the caller already loaded (the daemon
    /// loads it once at start and shares it); `None` when no source tracks replies and
    /// no document clock is configured.
    pub fn with_calendar(
        config: Arc<Config>,
        store: Store,
        items: mpsc::Sender<Item>,
        calendar: Option<Arc<crate::calendar::Calendar>>,
    ) -> Result<Intake, SourcesError> {
        let fetcher = Fetcher::new(&config.intake).map_err(SourcesError::Client)?;
        let documents = calendar
            .clone()
            .and_then(|calendar| crate::policies::track::DocumentTracking::new(&config, calendar))
            .map(Arc::new);
        Ok(Intake {
            inner: Arc::new(Inner {
                settings: config.intake.clone(),
                store,
                fetcher,
                duty: crate::ledger::Routing::new(&config).duty(),
                items,
                spill: OnceLock::new(),
                calendar,
                policy: config.policy.clone(),
                documents,
                config,
            }),
        })
    }

    /// From now on a full item channel does not make polls wait: the items stay
    /// pending in the store (they already are) and `spill` is raised, so the next stage
    /// reads them from there. A burst then delays classification, not the next polls.
    pub fn spill_to_store(&self, spill: Spill) {
        let _ = self.inner.spill.set(spill);
    }

    /// Polls every enabled source on its schedule until `shutdown` turns true.
    /// Returns once shutdown was signalled and every source task has stopped (a
    /// dropped sender without a signal is not a stop request).
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let enabled: Vec<_> = self.sources().filter(|s| s.enabled).collect();
        info!(
            enabled = enabled.len(),
            disabled = self.inner.config.sources.len() - enabled.len(),
            "intake starting"
        );
        let mut tasks = JoinSet::new();
        let mut running = HashMap::new();
        for source in enabled {
            let handle = tasks.spawn(self.clone().source_loop(source.clone(), shutdown.clone()));
            running.insert(handle.id(), source);
        }
        while let Some(joined) = tasks.join_next_with_id().await {
            match joined {
                Ok((id, ())) => {
                    running.remove(&id);
                }
                Err(err) => {
                    let source = running.remove(&err.id());
                    if err.is_panic()
                        && !*shutdown.borrow()
                        && let Some(source) = source
                    {
                        // A bug, not a source problem: say so loudly and keep polling it.
                        error!(source = %source.id, "source task panicked; restarting it");
                        let handle =
                            tasks.spawn(self.clone().source_loop(source.clone(), shutdown.clone()));
                        running.insert(handle.id(), source);
                    }
                }
            }
        }
        // With no source left to poll (none enabled), stay up until asked to stop:
        // the daemon has other work.
        if !*shutdown.borrow() {
            let mut shutdown = shutdown;
            cancelled(&mut shutdown).await;
        }
        info!("intake stopped");
    }

    /// Polls one source now, whatever its schedule, and records the outcome
    /// (state, schedule, health) as the scheduler would. `now` is the poll time.
    pub async fn poll_source(&self, id: &str, now: Timestamp) -> Result<PollReport, SourcesError> {
        let source = self
            .sources()
            .find(|s| s.id == id)
            .ok_or_else(|| SourcesError::unknown(id, &self.inner.config.sources))?;
        Ok(self
            .poll(&source, now, None)
            .await
            .expect("a poll without a shutdown signal always completes"))
    }

    /// The store the intake writes to.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Every configured source, enabled or not.
    fn sources(&self) -> impl Iterator<Item = Source> + '_ {
        (0..self.inner.config.sources.len()).map(|index| Source {
            config: self.inner.config.clone(),
            index,
        })
    }

    async fn source_loop(self, source: Source, mut shutdown: watch::Receiver<bool>) {
        let now = chrono::Utc::now();
        let mut next = match self.inner.store.source_state(&source.id) {
            Ok(state) => self.first_poll_at(&source, &state, now),
            Err(err) => {
                error!(source = %source.id, error = %err, "cannot read source state; polling on the default schedule");
                now + span(random_within(startup_spread(
                    source.interval.as_duration(),
                    self.inner.config.sources.len(),
                )))
            }
        };
        debug!(source = %source.id, next = %next, "scheduled");
        loop {
            let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                () = cancelled(&mut shutdown) => return,
                () = tokio::time::sleep(wait) => {}
            }
            // Boxed: a poll's state (the HTTP exchange, the hand-over) is large and lives
            // only while polling, so a sleeping task keeps just this pointer's room
            // (10,000 sleeping tasks held 28 MiB of poll state otherwise).
            match Box::pin(self.poll(&source, chrono::Utc::now(), Some(&mut shutdown))).await {
                None => return,
                Some(PollReport {
                    result: Err(PollError::Closed),
                    ..
                }) => {
                    error!(source = %source.id, "the item channel is closed; stopping this source");
                    return;
                }
                Some(report) => next = report.next_poll_at,
            }
        }
    }

    fn first_poll_at(
        &self,
        source: &SourceConfig,
        state: &SourceState,
        now: Timestamp,
    ) -> Timestamp {
        first_poll_at(
            state.next_poll_at,
            state.consecutive_failures > 0,
            now,
            source.interval.as_duration(),
            self.inner.config.sources.len(),
            &self.inner.settings,
            rand::rng().random::<f64>(),
        )
    }

    /// One poll. `None` when shutdown interrupted the fetch (nothing was written).
    async fn poll(
        &self,
        source: &Source,
        now: Timestamp,
        shutdown: Option<&mut watch::Receiver<bool>>,
    ) -> Option<PollReport> {
        let mut state = match self.inner.store.source_state(&source.id) {
            Ok(state) => state,
            Err(err @ StoreError::Corrupt { .. }) => {
                // Only this source's bookkeeping is lost (validators, failure count);
                // starting afresh beats never polling it again.
                error!(source = %source.id, error = %err, "source state unreadable; starting it afresh");
                SourceState::default()
            }
            Err(err) => {
                error!(source = %source.id, error = %err, "cannot read source state");
                let next = now
                    + span(jittered(
                        source.interval.as_duration(),
                        self.inner.settings.jitter,
                    ));
                return Some(PollReport {
                    source: source.id.clone(),
                    next_poll_at: next,
                    result: Err(err.into()),
                });
            }
        };
        let validators = Validators {
            etag: state.etag.clone(),
            last_modified: state.last_modified.clone(),
        };
        let started = std::time::Instant::now();
        let fetch = self.inner.fetcher.fetch(source, Some(&validators));
        let fetched = match shutdown {
            Some(rx) => tokio::select! {
                () = cancelled(rx) => return None,
                fetched = fetch => fetched,
            },
            None => fetch.await,
        };
        let result = match fetched {
            Ok(Fetched::NotModified(fresh)) => Ok(Ingested {
                status: 304,
                encoding: None,
                parsed: 0,
                new: 0,
                updated: 0,
                validators: Validators {
                    etag: fresh.etag.or(validators.etag),
                    last_modified: fresh.last_modified.or(validators.last_modified),
                },
            }),
            Ok(Fetched::Body(body)) => self.ingest(source, body, now).await,
            Err(err) => Err(err.into()),
        };
        if let Err(PollError::Closed) = result {
            // Shutting down mid-hand-over: not the source's fault, so nothing is recorded
            // and the source is polled again (its stored items stay unclassified).
            return Some(PollReport {
                source: source.id.clone(),
                next_poll_at: now,
                result,
            });
        }
        let next_poll_at = self.record(source, &mut state, &result, now);
        crate::metrics::METRICS.polled(
            &source.id,
            started.elapsed(),
            result.as_ref().ok().map(|d| d.new),
        );
        Some(PollReport {
            source: source.id.clone(),
            next_poll_at,
            result,
        })
    }

    /// Parse, store, hand on. Parsing and sled writes run on a blocking thread.
    async fn ingest(
        &self,
        source: &Source,
        body: Body,
        now: Timestamp,
    ) -> Result<Ingested, PollError> {
        let store = self.inner.store.clone();
        let for_parse = source.clone();
        let status = body.status;
        let validators = body.validators.clone();
        let max_items = self.inner.settings.max_items_per_poll;
        let calendar = self.inner.calendar.clone();
        let policy = self.inner.policy.clone();
        let documents = self.inner.documents.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let doc = Document {
                bytes: &body.bytes,
                content_type: body.content_type.as_deref(),
                url: &body.url,
            };
            let mut parsed = parse::parse(&for_parse, doc, now)?;
            if let (Some(spec), Some(calendar)) = (&for_parse.reply, &calendar) {
                track_replies(&store, calendar, &policy, (&for_parse.id, spec), &parsed, now)?;
            }
            let found = parsed.items.len();
            if found > max_items {
                // Feeds and boards list the newest first: what is cut is the oldest, and
                // a source that keeps serving it is not worth re-reading every poll.
                parsed.items.truncate(max_items);
                warn!(
                    source = %for_parse.id,
                    found,
                    taken = max_items,
                    "document holds more items than [intake] max_items_per_poll; the rest were dropped"
                );
            }
            if let Some(documents) = &documents {
                documents.observe(&store, &for_parse, &parsed.items, now)?;
            }
            Ok::<_, PollError>(store_items(&store, &for_parse.id, parsed, found, now))
        })
        .await
        .map_err(|err| PollError::Internal(err.to_string()))??;

        for item in outcome.items {
            self.hand_on(item).await?;
        }
        if let Some(err) = outcome.error {
            return Err(err.into());
        }
        Ok(Ingested {
            status,
            encoding: Some(outcome.encoding),
            parsed: outcome.parsed,
            new: outcome.new,
            updated: outcome.updated,
            validators,
        })
    }

    /// Hands one stored item on: waits for room in the channel, or, spilling, leaves
    /// it pending in the store when the channel is full (never dropped either way).
    async fn hand_on(&self, item: Item) -> Result<(), PollError> {
        let Some(spill) = self.inner.spill.get() else {
            return self
                .inner
                .items
                .send(item)
                .await
                .map_err(|_| PollError::Closed);
        };
        match self.inner.items.try_send(item) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                spill.raise();
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(PollError::Closed),
        }
    }

    /// Updates and persists the source's state after a poll; returns the next poll time.
    fn record(
        &self,
        source: &SourceConfig,
        state: &mut SourceState,
        result: &Result<Ingested, PollError>,
        now: Timestamp,
    ) -> Timestamp {
        let settings = &self.inner.settings;
        let interval = source.interval.as_duration();
        state.last_poll_at = Some(now);
        let delay = match result {
            Ok(done) => {
                if let Some(since) = state.failing_since {
                    info!(source = %source.id, failing_since = %since, failures = state.consecutive_failures, "source recovered");
                }
                state.last_ok_at = Some(now);
                state.last_status = Some(done.status);
                state.last_error = None;
                state.consecutive_failures = 0;
                state.failing_since = None;
                state.reported = false;
                state.etag = done.validators.etag.clone();
                state.last_modified = done.validators.last_modified.clone();
                state.items_total += done.new as u64;
                if done.status == 304 {
                    debug!(source = %source.id, "not modified");
                } else if done.new == 0 && done.updated == 0 {
                    // Nothing new: a detail (at 10,000 sources, most polls).
                    debug!(source = %source.id, status = done.status, parsed = done.parsed, "polled, nothing new");
                } else {
                    info!(
                        source = %source.id,
                        status = done.status,
                        encoding = done.encoding.unwrap_or(""),
                        parsed = done.parsed,
                        new = done.new,
                        updated = done.updated,
                        "polled"
                    );
                }
                interval
            }
            Err(PollError::Fetch(err)) if err.is_local_resource_error() => {
                // This machine's fault (file handles, buffers): no back-off, no
                // health episode for the source; try again soon.
                warn!(source = %source.id, error = %err,
                    "poll failed for lack of a local resource; not counted against the source");
                LOCAL_RETRY
            }
            Err(err) => {
                let kind = err.kind();
                state.consecutive_failures = state.consecutive_failures.saturating_add(1);
                state.last_status = err.status();
                state.last_error = Some(err.to_string());
                let since = *state.failing_since.get_or_insert(now);
                let delay = failure_delay(
                    interval,
                    state.consecutive_failures,
                    kind,
                    err.retry_after(),
                    settings.max_backoff.as_duration(),
                );
                warn!(
                    source = %source.id,
                    kind = kind.as_str(),
                    status = err.status(),
                    failures = state.consecutive_failures,
                    retry_in = %crate::config::HumanDuration(Duration::from_secs(delay.as_secs())),
                    error = %err,
                    "poll failed"
                );
                if !state.reported && now - since >= settings.failing_after.as_chrono() {
                    self.raise_health_problem(source, state, since, now);
                }
                delay
            }
        };
        let next = now + span(jittered(delay, settings.jitter));
        state.next_poll_at = Some(next);
        if let Err(err) = self.inner.store.put_source_state(&source.id, state) {
            error!(source = %source.id, error = %err, "cannot save source state");
        }
        next
    }

    /// Queues the once-per-episode notice to duty. The key derives from the episode
    /// number stored before this call, so a crash between queuing and saving the
    /// state re-derives the same key and the outbox ignores the repeat.
    fn raise_health_problem(
        &self,
        source: &SourceConfig,
        state: &mut SourceState,
        since: Timestamp,
        now: Timestamp,
    ) {
        let episode = state.episodes + 1;
        let notice = Notice {
            key: crate::model::NoticeKey::SourceFailing {
                source: source.id.clone(),
                episode,
            }
            .into(),
            to: self.inner.duty.clone(),
            created_at: now,
            kind: NoticeKind::SourceFailing {
                source: source.id.clone(),
                name: source.name.clone(),
                since,
                error: state.last_error.clone().unwrap_or_default(),
                episode,
            },
        };
        match self.inner.store.enqueue_notice(&notice) {
            Ok(queued) => {
                error!(
                    source = %source.id,
                    failing_since = %since,
                    failures = state.consecutive_failures,
                    episode,
                    queued,
                    "source is failing: health problem recorded, duty notified"
                );
                state.episodes = episode;
                state.reported = true;
            }
            // Not marked reported: the next failure tries again.
            Err(err) => {
                error!(source = %source.id, error = %err, "cannot queue the source-failing notice")
            }
        }
    }
}

/// One configured source as the intake's tasks hold it: the shared configuration and
/// the source's place in it (a copy of every source's settings for its task was
/// 0.6 KB a source, 6 MiB at 10,000). Dereferences to the source's settings.
#[derive(Clone)]
struct Source {
    config: Arc<Config>,
    index: usize,
}

impl std::ops::Deref for Source {
    type Target = SourceConfig;

    fn deref(&self) -> &SourceConfig {
        &self.config.sources[self.index]
    }
}

/// What storing one document's items produced.
struct Stored {
    encoding: &'static str,
    parsed: usize,
    new: usize,
    updated: usize,
    /// New and updated items, in document order, already stored.
    items: Vec<Item>,
    /// A store failure: none of the document's items was stored (one transaction).
    error: Option<StoreError>,
}

/// Stores the items taken from a document, in one transaction; `found` is how many it
/// held.
fn store_items(
    store: &Store,
    source: &str,
    parsed: parse::Parsed,
    found: usize,
    now: Timestamp,
) -> Stored {
    let mut stored = Stored {
        encoding: parsed.encoding,
        parsed: found,
        new: 0,
        updated: 0,
        items: Vec::new(),
        error: None,
    };
    // One transaction for the poll's items: all of them stored, or none.
    let outcomes = match store.upsert_items(source, parsed.items, now) {
        Ok(outcomes) => outcomes,
        Err(err) => {
            stored.error = Some(err);
            return stored;
        }
    };
    for outcome in outcomes {
        match outcome {
            UpsertOutcome::New(item) => {
                stored.new += 1;
                stored.items.push(item);
            }
            UpsertOutcome::Updated(item) => {
                stored.updated += 1;
                stored.items.push(item);
            }
            UpsertOutcome::Unchanged => {}
        }
    }
    stored
}

/// Applies a board's page to its tracked posts (before the item cap: every listed post
/// is tracked); a store failure fails the poll.
fn track_replies(
    store: &Store,
    calendar: &crate::calendar::Calendar,
    policy: &crate::config::Policy,
    (source, spec): (&str, &crate::config::ReplySpec),
    parsed: &parse::Parsed,
    now: Timestamp,
) -> Result<(), StoreError> {
    let rule = crate::replies::ReplyRule::from(spec);
    let report =
        crate::replies::track::observe_board(store, calendar, source, &rule, policy, parsed, now)?;
    if report != crate::replies::track::BoardReport::default() {
        info!(
            source,
            started = report.started,
            replied = report.replied,
            removed = report.removed,
            uncovered = report.uncovered,
            "board replies tracked"
        );
    }
    Ok(())
}

/// Resolves when shutdown is signalled; never, if the signal's sender is gone
/// without signalling (a dropped sender is not a request to stop).
async fn cancelled(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn jittered(delay: Duration, jitter: f64) -> Duration {
    with_jitter(delay, jitter, rand::rng().random::<f64>())
}

/// A uniformly random point in `[0, span)`.
fn random_within(span: Duration) -> Duration {
    span.mul_f64(rand::rng().random::<f64>())
}

impl PollError {
    /// The kind of failure, for back-off and logs.
    pub fn kind(&self) -> FailureKind {
        match self {
            PollError::Fetch(err) => err.kind(),
            PollError::Parse(_) => FailureKind::Parse,
            PollError::Store(_) => FailureKind::Store,
            PollError::Closed | PollError::Internal(_) => FailureKind::Other,
        }
    }

    /// The HTTP status, when the server answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            PollError::Fetch(err) => err.status(),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            PollError::Fetch(err) => err.retry_after(),
            _ => None,
        }
    }
}

/// Raised when stored items were left pending in the store instead of being handed on
/// (the item channel was full); the next stage lowers it when it starts reading them
/// from the store. Cheap to clone: both sides share one flag.
#[derive(Debug, Clone, Default)]
pub struct Spill(Arc<AtomicBool>);

impl Spill {
    /// Items are waiting in the store.
    pub fn raise(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether items were left in the store since the last call (lowers the flag).
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every enabled source has a task for the daemon's life, mostly asleep: what it
    /// keeps between polls is its future, so the poll's own state must not be part of
    /// it (2,784 bytes a source before it was boxed, 28 MiB at 10,000 sources; 392 now).
    #[test]
    fn a_sleeping_source_task_is_small() {
        let dir = tempfile::tempdir().unwrap();
        let feeds = "[[source]]\nid = \"a\"\nname = \"测试源\"\nkind = \"feed\"\nurl = \"http://127.0.0.1:9/feed.xml\"\ninterval = \"1m\"\n";
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            sources: crate::config::load_sources_str(feeds, std::path::Path::new("feeds.toml"))
                .unwrap(),
            ..Config::default()
        };
        let store = Store::open(dir.path()).unwrap();
        let (items, _rx) = mpsc::channel(1);
        let intake = Intake::new(&config, store, items).unwrap();
        let (_stop, shutdown) = watch::channel(false);
        let source = intake.sources().next().unwrap();
        let task = intake.clone().source_loop(source, shutdown);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 512, "a source task's future is {size} bytes");
    }
}
