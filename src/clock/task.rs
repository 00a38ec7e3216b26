//! The deadline task: one tokio task that sleeps until the earliest entry of the due
//! index, fires what is due, and sleeps again.
//!
//! - The due index lives in sled (`incident_due`, key = due time ‖ incident ‖ milestone
//!   ‖ step) and holds the next notice of each running clock, so the task keeps no
//!   state of its own: at start it reads the earliest entry, fires everything already
//!   due (after downtime, with the catch-up rule of [`crate::clock`]), and goes on.
//! - It also wakes for the earliest watch (关注) incident to be filed after
//!   `[policy] watch_expiry` (an index the ledger keeps in the same store), so filing
//!   survives restarts and needs no scan.
//! - Any ledger change that may move the earliest entry wakes it through the ledger's
//!   `Notify`, and a newly scheduled reply or document clock step (the intake
//!   schedules them, see [`SideClocks`]) through the store's (`Store::reply_signal`); otherwise it sleeps (`sleep_until`), at most
//!   [`MAX_SLEEP`] at a time so that a stepped system clock or a suspend is noticed. There is no loop over
//!   incidents: an idle daemon costs nothing.
//! - Each due entry fires in one transaction that queues its notice, removes the entry
//!   and schedules the next step; after each pass the outbox worker is woken.
//!
//! Time is read through [`TaskClock`], which derives wall time from tokio's clock, so
//! tests run the task under a paused clock and move "now" with `tokio::time::advance`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Deadlines, FireReport};
use crate::ledger::Ledger;
use crate::model::Timestamp;
use crate::store::{Store, StoreError};

/// Clocks kept outside the ledger, scheduled by the intake and fired by the deadline
/// task's loop: board posts' reply clocks (`clock::replies`) and document clocks
/// (`clock::policies`). Scheduling one notifies `Store::reply_signal`.
pub trait SideClocks: Send + Sync {
    /// What the log calls them.
    fn name(&self) -> &'static str;
    /// The earliest scheduled step.
    fn first_due(&self) -> Result<Option<Timestamp>, StoreError>;
    /// Fires at most `limit` entries due at `now`; returns how many notices were queued
    /// and whether more entries may be due.
    fn fire_due(&self, now: Timestamp, limit: usize) -> Result<(usize, bool), StoreError>;
}

/// The longest single sleep: the task re-reads the wall clock at least this often.
pub const MAX_SLEEP: Duration = Duration::from_secs(600);
/// Wait before retrying entries that failed to fire (a storage problem).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// Entries fired per transaction batch before the task yields to the runtime.
pub const BATCH: usize = 256;

/// Wall time derived from tokio's clock: `now = base_wall + (Instant::now() − base_instant)`.
#[derive(Debug, Clone, Copy)]
pub struct TaskClock {
    base_wall: Timestamp,
    base_instant: Instant,
    /// Re-read the system clock on every pass (the daemon); fixed for tests.
    follows_system: bool,
}

impl TaskClock {
    /// The system clock (the daemon).
    pub fn system() -> TaskClock {
        TaskClock {
            base_wall: Utc::now(),
            base_instant: Instant::now(),
            follows_system: true,
        }
    }

    /// A clock that reads `wall` now and advances only with tokio's clock (tests,
    /// benchmarks: `tokio::time::pause` / `advance` move it).
    pub fn starting_at(wall: Timestamp) -> TaskClock {
        TaskClock {
            base_wall: wall,
            base_instant: Instant::now(),
            follows_system: false,
        }
    }

    pub fn now(&self) -> Timestamp {
        let elapsed = Instant::now().saturating_duration_since(self.base_instant);
        self.base_wall + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
    }

    /// The tokio instant at which the wall time will be `at` (now, if it has passed;
    /// [`MAX_SLEEP`] ahead, if it is beyond what an `Instant` can hold).
    pub fn instant_at(&self, at: Timestamp) -> Instant {
        let now = Instant::now();
        match (at - self.now()).to_std() {
            Ok(ahead) => now.checked_add(ahead).unwrap_or(now + MAX_SLEEP),
            Err(_) => now,
        }
    }

    /// Re-bases on the system clock, when this clock follows it.
    fn resync(&mut self) {
        if self.follows_system {
            self.base_wall = Utc::now();
            self.base_instant = Instant::now();
        }
    }
}

/// The deadline task. Build it with the store and the ledger over it, then `run` it
/// until shutdown.
pub struct DeadlineTask {
    deadlines: Deadlines,
    /// Board posts' reply clocks and document clocks, fired by the same loop.
    side: Vec<Box<dyn SideClocks>>,
    /// Notified when the intake schedules a step of a [`SideClocks`].
    side_wake: Arc<Notify>,
    wake: Arc<Notify>,
    clock: TaskClock,
}

impl DeadlineTask {
    pub fn new(store: Store, ledger: Ledger, clock: TaskClock) -> DeadlineTask {
        let side_wake = store.reply_signal();
        let deadlines = Deadlines::new(store, ledger);
        DeadlineTask {
            wake: deadlines.wake(),
            deadlines,
            side: Vec::new(),
            side_wake,
            clock,
        }
    }

    /// Also fires the reply clocks of board posts.
    pub fn with_replies(self, replies: super::replies::ReplyClocks) -> DeadlineTask {
        self.with_side_clocks(replies)
    }

    /// Also fires `clocks` (reply clocks, document clocks).
    pub fn with_side_clocks(mut self, clocks: impl SideClocks + 'static) -> DeadlineTask {
        self.side.push(Box::new(clocks));
        self
    }

    /// Runs until `shutdown` completes.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        self.clock.resync();
        match self.deadlines.repair_schedule(self.clock.now()) {
            Ok(0) => {}
            Ok(n) => tracing::warn!(clocks = n, "due index repaired at start"),
            Err(err) => tracing::error!(error = %err, "could not check the due index at start"),
        }
        tracing::info!(entries = self.deadlines.len(), "deadline task started");
        // Reply and document clocks are scheduled by the intake, which does not hold
        // the ledger's `Notify`: it wakes the task through the store's signal.
        let side_wake = self.side_wake.clone();
        loop {
            self.clock.resync();
            let failed = self.fire_all().await | self.fire_side();
            let now = self.clock.now();
            let wake_at = match self.deadlines.next_at() {
                Ok(Some(first)) if failed && first <= now => Instant::now() + RETRY_AFTER_FAILURE,
                Ok(Some(first)) => self.clock.instant_at(first),
                Ok(None) => Instant::now() + MAX_SLEEP,
                Err(err) => {
                    tracing::error!(error = %err, "could not read the due index; retrying");
                    Instant::now() + RETRY_AFTER_FAILURE
                }
            };
            let wake_at = self
                .side
                .iter()
                .filter_map(|clocks| match clocks.first_due() {
                    // After a failure, an entry already due waits for the retry too.
                    Ok(Some(first)) if !(failed && first <= now) => {
                        Some(self.clock.instant_at(first))
                    }
                    _ => None,
                })
                .fold(wake_at, Instant::min);
            let wake_at = wake_at.min(Instant::now() + MAX_SLEEP);
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                () = side_wake.notified() => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
        tracing::info!("deadline task stopped");
    }

    /// Fires the reply and document clocks that are due, a batch at a time. Returns
    /// whether some failed (then the next pass retries).
    fn fire_side(&self) -> bool {
        let mut failed = false;
        for clocks in &self.side {
            loop {
                match blocking(|| clocks.fire_due(self.clock.now(), BATCH)) {
                    Ok((queued, more)) => {
                        if queued > 0 {
                            tracing::debug!(queued, clocks = clocks.name(), "notices queued");
                        }
                        if !more {
                            break;
                        }
                    }
                    Err(err) => {
                        tracing::error!(error = %err, clocks = clocks.name(), "could not fire due notices");
                        failed = true;
                        break;
                    }
                }
            }
        }
        failed
    }

    /// Fires everything due, a batch at a time. Returns whether some entry failed.
    async fn fire_all(&mut self) -> bool {
        let mut failed = false;
        loop {
            let now = self.clock.now();
            let deadlines = &self.deadlines;
            let report = blocking(|| deadlines.fire_due(now, BATCH));
            match report {
                Ok(FireReport {
                    queued,
                    filed,
                    failed: f,
                    more,
                }) => {
                    if queued > 0 {
                        tracing::debug!(queued, "deadline notices queued");
                    }
                    if filed > 0 {
                        tracing::info!(filed, "expired watch incidents filed");
                    }
                    failed |= f > 0;
                    if !more {
                        return failed;
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, "could not fire due notices");
                    return true;
                }
            }
            tokio::task::yield_now().await;
            self.clock.resync();
        }
    }
}

/// Runs store work in place, telling a multi-threaded runtime that this worker blocks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn task_clock_follows_tokio_time() {
        let t0: Timestamp = "2026-11-24T00:00:00Z".parse().unwrap();
        let clock = TaskClock::starting_at(t0);
        assert_eq!(clock.now(), t0);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), t0 + chrono::Duration::seconds(90));
        let at = t0 + chrono::Duration::seconds(100);
        assert_eq!(
            clock.instant_at(at),
            Instant::now() + Duration::from_secs(10)
        );
        assert_eq!(clock.instant_at(t0), Instant::now(), "the past is now");
        let far = clock.instant_at(chrono::DateTime::<Utc>::MAX_UTC);
        assert!(far > Instant::now());
    }
}
