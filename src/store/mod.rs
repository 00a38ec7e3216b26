//! The only module that touches sled.
//!
//! One database under `<data_dir>/db`, one tree per kind of record, values as JSON
//! (readable with any tool after an export, and tolerant of added fields). Keys are
//! built so that sled's byte order is the order we need (big-endian numbers, `\0`
//! separators). A `meta` tree carries the schema version; opening a database written
//! by a newer schema is refused rather than misread.
//!
//! Durability: one flusher thread ([`flusher`]) writes changes to disk every 500 ms
//! and on request; anything we are about to tell the world about (a mail about to be
//! sent, an answer to a CLI command) is flushed first with [`Store::flush`]. sled's own
//! periodic flush is off and nothing else calls sled's flush, so exactly one flush is
//! in flight at any time (several racing flushes deadlock sled 0.34.7).

mod delivery;
mod flusher;
mod incidents;
mod items;
mod outbox;
mod sources;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use incidents::{DueEntry, LedgerTx, OpenIndexRow};
pub use items::UpsertOutcome;
pub use outbox::{DeadRow, NoticeRecord, OutboxRow, OutboxTx};
pub use sources::SourceState;

/// The schema this build writes. Bump it with a migration when a layout changes.
pub const SCHEMA_VERSION: u32 = 1;

const SCHEMA_KEY: &[u8] = b"schema_version";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "数据库 {path} 已被另一个进程占用（守护进程是否已在运行？）；同一数据目录只能由一个守护进程打开"
    )]
    Locked { path: PathBuf },
    #[error("无法打开数据库 {path}：{source}；请检查数据目录的权限和磁盘空间")]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("数据库 {path} 的版本为 {found}，本程序只支持到 {supported}；请升级 yuqing")]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("数据库读写失败：{0}；数据目录可能已损坏，请用 export 备份后检查磁盘")]
    Sled(#[from] sled::Error),
    #[error("数据库写入磁盘失败：{0}；请检查磁盘空间和数据目录")]
    Flush(String),
    #[error("数据库事务失败：{0}")]
    Transaction(String),
    #[error("数据库中的记录无法解析（{what}）：{source}；请用 export 备份后报告此问题")]
    Corrupt {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The open database. Cheap to clone (sled handles are reference-counted).
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    items: sled::Tree,
    items_pending: sled::Tree,
    sources: sled::Tree,
    outbox: sled::Tree,
    notice_keys: sled::Tree,
    dead: sled::Tree,
    ledger: incidents::LedgerTrees,
    /// Notified after every commit that may have queued mail; the delivery worker waits on it.
    outbox_signal: std::sync::Arc<tokio::sync::Notify>,
    /// The only code that flushes the database.
    flusher: std::sync::Arc<flusher::Flusher>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (or creates) the database under `<data_dir>/db`.
    pub fn open(data_dir: &Path) -> Result<Store> {
        let path = data_dir.join("db");
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Open {
            path: path.clone(),
            source: sled::Error::Io(e),
        })?;
        let db = open_db(&path)?;
        let meta = db.open_tree("meta")?;
        match meta.get(SCHEMA_KEY)? {
            None => {
                meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
            }
            Some(v) => {
                let found = u32::from_be_bytes(v.as_ref().try_into().unwrap_or([0xff; 4]));
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema {
                        path,
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
            }
        }
        Store::with_trees(db, path)
    }

    fn with_trees(db: sled::Db, path: PathBuf) -> Result<Store> {
        Ok(Store {
            items: db.open_tree("items")?,
            items_pending: db.open_tree("items_pending")?,
            sources: db.open_tree("source_state")?,
            outbox: db.open_tree("outbox")?,
            notice_keys: db.open_tree("notice_keys")?,
            dead: db.open_tree("dead_letters")?,
            ledger: incidents::LedgerTrees::open(&db)?,
            outbox_signal: Default::default(),
            flusher: std::sync::Arc::new(flusher::Flusher::start(db.clone())?),
            db,
            path,
        })
    }

    /// Opens a throw-away database (for `feeds check`, tests and benchmarks).
    pub fn temporary() -> Result<Store> {
        let db = sled::Config::new()
            .temporary(true)
            .flush_every_ms(None)
            .open()?;
        Store::with_trees(db, PathBuf::from("(temporary)"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes everything to disk. Call before telling anyone about a change.
    /// Concurrent callers share one flush (group commit).
    pub async fn flush(&self) -> Result<()> {
        self.flusher.flush().await
    }

    /// Blocking flush, for shutdown paths outside the runtime.
    pub fn flush_blocking(&self) -> Result<()> {
        self.flusher.flush_blocking()
    }

    /// The signal the mail delivery worker waits on: notified after every commit
    /// that may have queued mail, whichever module made it.
    pub fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.outbox_signal.clone()
    }

    /// Bytes on disk, for `status`.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

/// How long an open waits for a database lock held by a process that is exiting
/// (a restart under systemd, or a handle still being dropped in the same process).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens the sled database, waiting up to [`LOCK_WAIT`] for its file lock.
fn open_db(path: &Path) -> Result<sled::Db> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match sled::Config::new().path(path).flush_every_ms(None).open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(ref io))
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("lock") =>
            {
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::Locked {
                        path: path.to_path_buf(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(source) => {
                return Err(StoreError::Open {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
}

/// Maps a failed sled transaction to our error.
pub(crate) fn tx_error(err: sled::transaction::TransactionError<StoreError>) -> StoreError {
    match err {
        sled::transaction::TransactionError::Abort(e) => e,
        sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

/// Serializes a record.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our records are plain data (no maps with non-string keys), so this cannot fail.
    serde_json::to_vec(value).expect("records serialize to JSON")
}

/// Deserializes a record, naming it in the error.
pub(crate) fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    what: impl FnOnce() -> String,
) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        what: what(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_open_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .db
                .open_tree("meta")
                .unwrap()
                .insert(SCHEMA_KEY, &(SCHEMA_VERSION + 1).to_be_bytes())
                .unwrap();
            store.flush_blocking().unwrap();
        }
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::NewerSchema { .. }), "{err:?}");
    }

    /// Many writers flushing at once share one flusher: no deadlock, every write
    /// durable once its flush returns (sled 0.34.7 deadlocks on racing flushes).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_share_one_flusher() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut writers = tokio::task::JoinSet::new();
        for writer in 0..50u32 {
            let store = store.clone();
            writers.spawn(async move {
                for round in 0..40u32 {
                    let key = [writer.to_be_bytes(), round.to_be_bytes()].concat();
                    store.items_pending.insert(key, b"x".to_vec()).unwrap();
                    store.flush().await.unwrap();
                }
            });
        }
        let all = async { while writers.join_next().await.is_some() {} };
        tokio::time::timeout(std::time::Duration::from_secs(60), all)
            .await
            .expect("50 writers flushing at once finish (no deadlock)");
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.items_pending.len(), 50 * 40);
    }
}
