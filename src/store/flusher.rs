//! The one place that makes writes durable: a single flusher thread (group commit).
//!
//! sled 0.34.7 can deadlock when several `flush`/`flush_async` calls race with writes,
//! and it also flushes from its own background thread every 500 ms. So the database
//! is opened with sled's periodic flush turned off, and every flush — whether a
//! caller waits for it ([`Flusher::flush`], [`Flusher::flush_blocking`]) or it is the
//! periodic one — is made by this thread, one at a time.
//!
//! A caller registers a request (generation `n`) and waits until a flush that
//! *started after* its request has finished (`done >= n`). Requests that arrive while
//! a flush is running are served together by the next one.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

use super::{Result, StoreError};

/// How often the flusher writes unrequested changes (sled's own default).
pub const PERIODIC_FLUSH: Duration = Duration::from_millis(500);

/// The state shared between callers and the flusher thread.
#[derive(Default)]
struct Requests {
    /// The last generation requested.
    requested: u64,
    /// Set when the store is dropped: the thread makes a last flush and ends.
    closing: bool,
}

/// The outcome of the last finished flush.
#[derive(Clone, Debug, Default)]
struct Done {
    /// Every request up to this generation is durable (or failed with `error`).
    generation: u64,
    error: Option<String>,
}

struct Shared {
    requests: Mutex<Requests>,
    wake: Condvar,
    done: watch::Sender<Done>,
    /// For blocking waiters (outside the runtime), paired with `done_lock`.
    done_lock: Mutex<()>,
    done_cv: Condvar,
}

/// Written after each flush that changed it: the number of audit entries that were
/// durable (counted before the flush started), in a file apart from the database.
///
/// Counting reads one chain head per incident, so it is done only when `changes` has
/// moved since the last count: the store bumps it after every commit that may have
/// appended audit entries. It is read before counting, so a commit that lands during
/// or after a count moves it again and the next flush counts anew: a count is never
/// kept past a change (an idle daemon with 50,000 incidents no longer reads 50,000
/// keys every 500 ms).
pub(super) struct Checkpoint {
    pub path: std::path::PathBuf,
    pub count: Box<dyn Fn() -> Result<u64> + Send>,
    pub changes: Arc<std::sync::atomic::AtomicU64>,
}

impl Checkpoint {
    /// The count for this flush: `last`'s when nothing changed since it was taken,
    /// else a new one (with the change counter it was taken at).
    fn count(&self, last: Option<(u64, u64)>) -> Result<(u64, u64)> {
        let changes = self.changes.load(std::sync::atomic::Ordering::Acquire);
        match last {
            Some((at, n)) if at == changes => Ok((at, n)),
            _ => Ok((changes, (self.count)()?)),
        }
    }
}

/// The handle kept by the store. Dropping the last one stops the thread after a final
/// flush and waits for it (so the database's file lock is released on return).
pub(super) struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave their plain counters invalid.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Flusher {
    /// Starts the flusher thread for `db`.
    pub(super) fn start(db: sled::Db, checkpoint: Option<Checkpoint>) -> Result<Flusher> {
        let (done, _) = watch::channel(Done::default());
        let shared = Arc::new(Shared {
            requests: Mutex::default(),
            wake: Condvar::new(),
            done,
            done_lock: Mutex::default(),
            done_cv: Condvar::new(),
        });
        let thread = std::thread::Builder::new()
            .name("yuqing-flusher".into())
            .spawn({
                let shared = shared.clone();
                move || flusher_loop(&db, &shared, checkpoint.as_ref())
            })
            .map_err(|e| StoreError::Sled(sled::Error::Io(e)))?;
        Ok(Flusher {
            shared,
            thread: Some(thread),
        })
    }

    fn request(&self) -> u64 {
        let mut requests = lock(&self.shared.requests);
        requests.requested += 1;
        self.shared.wake.notify_one();
        requests.requested
    }

    /// Waits until everything written before the call is on disk.
    pub(super) async fn flush(&self) -> Result<()> {
        let mut done = self.shared.done.subscribe();
        let generation = self.request();
        let outcome = done
            .wait_for(|d| d.generation >= generation)
            .await
            .map(|d| d.error.clone())
            .unwrap_or_else(|_| Some("flusher stopped".into()));
        outcome.map_or(Ok(()), |e| Err(StoreError::Flush(e)))
    }

    /// The same, for code outside the async runtime.
    pub(super) fn flush_blocking(&self) -> Result<()> {
        let generation = self.request();
        let mut guard = lock(&self.shared.done_lock);
        loop {
            let done = self.shared.done.borrow().clone();
            if done.generation >= generation {
                return done.error.map_or(Ok(()), |e| Err(StoreError::Flush(e)));
            }
            guard = self
                .shared
                .done_cv
                .wait(guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        lock(&self.shared.requests).closing = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn flusher_loop(db: &sled::Db, shared: &Shared, checkpoint: Option<&Checkpoint>) {
    let mut flushed = 0;
    let mut recorded = None;
    let mut counted = None;
    loop {
        let (target, closing) = {
            let mut requests = lock(&shared.requests);
            if requests.requested == flushed && !requests.closing {
                requests = shared
                    .wake
                    .wait_timeout(requests, PERIODIC_FLUSH)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0;
            }
            (requests.requested, requests.closing)
        };
        // Counted before the flush: all of it is durable once the flush returns.
        let count = checkpoint.and_then(|c| match c.count(counted) {
            Ok((at, n)) => {
                counted = Some((at, n));
                Some(n)
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot count audit entries for the checkpoint");
                None
            }
        });
        let error = db.flush().err().map(|e| {
            tracing::error!(error = %e, "flushing the database failed");
            e.to_string()
        });
        if let (Some(c), Some(n), None) = (checkpoint, count, &error)
            && recorded != Some(n)
        {
            match super::audit_chain::write_count(&c.path, n) {
                Ok(()) => recorded = Some(n),
                Err(err) => tracing::error!(error = %err, path = %c.path.display(),
                    "cannot write the audit count file"),
            }
        }
        flushed = target;
        {
            let _guard = lock(&shared.done_lock);
            shared.done.send_replace(Done {
                generation: target,
                error,
            });
            shared.done_cv.notify_all();
        }
        if closing {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The chain is counted again only after the change counter moved.
    #[test]
    fn the_audit_count_is_taken_again_only_after_a_change() {
        let calls = Arc::new(AtomicU64::new(0));
        let checkpoint = Checkpoint {
            path: std::path::PathBuf::new(),
            count: Box::new({
                let calls = Arc::clone(&calls);
                move || Ok(10 * (calls.fetch_add(1, Ordering::SeqCst) + 1))
            }),
            changes: Arc::default(),
        };
        let first = checkpoint.count(None).unwrap();
        assert_eq!(first, (0, 10));
        assert_eq!(checkpoint.count(Some(first)).unwrap(), (0, 10));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "no change, no count");
        checkpoint.changes.fetch_add(1, Ordering::Release);
        assert_eq!(checkpoint.count(Some(first)).unwrap(), (1, 20));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
