//! The only module that touches sled.
//!
//! One database under `<data_dir>/db`, one tree per kind of record, values as JSON
//! (readable with any tool after an export, and tolerant of added fields), except the
//! most numerous: items and their classifications, in a compact binary layout with a
//! version byte ([`record`]; an export writes them as JSON). Keys are
//! built so that sled's byte order is the order we need (big-endian numbers, `\0`
//! separators). A `meta` tree carries the data format version ([`FORMAT_VERSION`]) and
//! the yuqing version that last opened the database: an older format is upgraded at
//! open (logged), a newer one is refused rather than misread, naming the yuqing
//! release needed ([`StoreError::NewerFormat`]).
//!
//! Durability: one flusher thread ([`flusher`]) writes changes to disk every 500 ms
//! and on request; anything we are about to tell the world about (a mail about to be
//! sent, an answer to a CLI command) is flushed first with [`Store::flush`]. sled's own
//! periodic flush is off and nothing else calls sled's flush, so exactly one flush is
//! in flight at any time (several racing flushes deadlock sled 0.34.7).

pub mod audit_chain;
mod changes;
mod delivery;
mod first_start;
mod flusher;
mod incidents;
mod items;
mod ledger_index;
mod outbox;
mod policies;
mod record;
mod replies;
mod restore;
mod retention;
mod sources;
mod tx;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use changes::RecordKey;
pub use incidents::{DueEntry, EffectDue, LedgerTx, OpenIndexRow, SourceJoin, SourcePlacement};
pub use items::{UpsertOutcome, Verdict};
pub use ledger_index::{Candidate, IncidentSummary, ListFilter, ListPage, MatchRow, list_order};
pub use outbox::{
    ChannelRouter, DeadRow, MailFailures, NoticeRecord, OutboxRow, OutboxTx, record_key,
};
pub use policies::{DocumentDue, DocumentId};
pub use replies::ReplyDue;
pub use restore::{ClockRecord, LedgerRecord, NoticeState, PolicyRecord, ReplyRecord};
pub use retention::{Holds, SweepReport, keeps, run_sweeper};
pub use sources::SourceState;
pub use tx::{Abort, TxError, TxResult};

/// The data format this build writes. Bump it, with a step in [`upgrade_format`],
/// when a layout changes.
/// - 0: a database written before the version was recorded (same layout as 1);
/// - 1: an item's classification inside the item record;
/// - 2: classifications in their own tree `items_class` (an item is written once, see
///   [`items`]); format 1's records are read as they are (a classification inside
///   the record counts when `items_class` has none), so the upgrade changes no record.
///   A release that knows only format 1 would miss the classifications: it refuses.
/// - 3: an incident's items under keys of their own beside its record (see
///   [`incidents`]), so that an item joins in time that does not grow with the
///   incident; the upgrade moves them out of each incident's record at open
///   (`ensure_incident_item_keys`). A format 2 release would see incidents without
///   items: it refuses.
/// - 4: item records and classifications in a compact binary layout (see [`record`]),
///   an item's incident read from the ledger's attachments instead of being written
///   into its record. Records of formats 0–3 are read as they are (the upgrade changes
///   no record); a format 3 release would take the binary records for damaged ones:
///   it refuses.
/// - 5: the outbox's counts (queued and failing rows per destination, the retry index,
///   dead letters) kept in `notice_keys` beside the rows they count, in the same
///   transactions (see [`outbox`]), so `status` reads no row; and the response-match
///   index with the key terms' document frequencies in `incident_summary` (see
///   [`ledger_index`]). Both are built at open for an older database
///   (`ensure_outbox_counts`; `ensure_ledger_indexes`, index version 4), idempotently:
///   an interrupted build is done again at the next open. No record changes; a format 4
///   release would change the outbox and incidents without them and leave them wrong: it
///   refuses.
/// - 6: the response-match index without a second copy of each row under the
///   incident's id: the row a change replaces is read from the incident's record
///   (see [`ledger_index`]), one key fewer per open incident and per change. Rebuilt
///   at open (`ensure_ledger_indexes`, index version 5), idempotently. No record
///   changes; a format 5 release would find no row under the id, add rows without
///   removing the old ones and count terms twice: it refuses.
///   And (the item records' zstd step): news items' records compressed with zstd instead
///   of deflate (see [`record`], first byte 4): a third of deflate's CPU per record,
///   10–30 % less for the intake's store stage. Records of formats 0–5
///   are read as they are (the upgrade changes no record); a format 5 release would
///   also take the zstd records for damaged ones.
/// - 7 (the ledger's sources step): an incident's distinct sources and the time each
///   first carried the story under keys of their own beside its items (see
///   [`incidents`], `incidents/sources.rs`), with the spread rule's count of fitting
///   windows, so that a join reads and writes a few small keys however many sources
///   the incident has; format 6 kept them in the incident's record (`sources`) and in
///   its grouping row (`source_times`). The upgrade moves them out of every record and
///   row at open (`ensure_incident_source_keys`, one incident per transaction,
///   idempotent: an interrupted upgrade is finished at the next open). A format 6
///   release would read incidents without sources: it refuses.
/// - 8: when each tracked board post and tracked document last changed (its record,
///   its clock or one of its notices), in tree `tracked_changes` by time (see
///   [`changes`]), written in the transaction of the change, so that `export --since`
///   reads only the posts and documents changed since then. The upgrade stamps every
///   post and document with the time of the upgrade (`ensure_tracked_changes`,
///   idempotent: an interrupted upgrade is done again at the next open), so an
///   incremental export from before it carries them all. No record changes; a format 7
///   release would change posts, documents and notices without their stamps and an
///   incremental export would miss them: it refuses.
/// - 9: incidents in the change index too (`tracked_changes`, kind `i`, by id), stamped
///   in the transaction of every change to what an incident's export carries (the
///   incident and its items, sources, audit entries, clocks, 签收, and its notice keys
///   queued, sent, dead or superseded), so that `export --since` carries an incident
///   whose only change was a clock step or a notice (its `updated_at` does not move
///   for those). The upgrade stamps every incident with the time of the upgrade
///   (`ensure_tracked_changes`, in batches, idempotent). No record changes; a format 8
///   release would change incidents without their stamps and an incremental export
///   would miss them: it refuses.
pub const FORMAT_VERSION: u32 = 9;

/// `meta` key: the data format version (u32, big-endian).
const FORMAT_KEY: &[u8] = b"schema_version";
/// `meta` key: the yuqing version (UTF-8) that last opened the database, named when a
/// newer format is refused.
const WRITER_KEY: &[u8] = b"written_by";

/// How to restore a damaged database, named in every refusal.
const RESTORE: &str = "恢复办法：停止守护进程，把数据目录整体移走保存（供核查），从最近一次的数据目录备份恢复后用 `yuqing verify` 确认；或用最近一次 `yuqing export --format jsonl` 的台账备份在空的数据目录上执行 `yuqing import 文件` 重建台账（详见 docs/operations.md“备份与恢复”）";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "数据库 {path} 已被另一个进程占用（守护进程是否已在运行？）；同一数据目录只能由一个守护进程打开"
    )]
    Locked { path: PathBuf },
    #[error("无法打开数据库 {path}：{source}；请检查数据目录的权限（运行 yuqing 的用户须能读写）")]
    Permission {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("无法打开数据库 {path}：{source}；数据库文件可能已损坏或被截断。{RESTORE}")]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("数据库 {path} 已损坏，读取时出错（{what}）。{RESTORE}")]
    Unreadable { path: PathBuf, what: String },
    #[error("数据库 {path} 的台账已损坏，守护进程拒绝在残缺的台账上继续运行。{report}。{RESTORE}")]
    Damaged {
        path: PathBuf,
        report: audit_chain::ChainReport,
    },
    #[error(
        "数据库 {path} 的数据格式为第 {found} 版（由 yuqing {writer} 写入），本程序 yuqing {ours} 只能读写第 {supported} 版及更早的数据格式，拒绝打开以免误读；请安装能读写第 {found} 版数据格式的 yuqing（版本号 0.{found}.x 或更新）后再启动，或换回升级前备份的数据目录（详见 docs/operations.md“升级”）",
        ours = env!("CARGO_PKG_VERSION")
    )]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
        /// The yuqing version recorded by the newer build ("未知" when absent).
        writer: String,
    },
    #[error("数据库读写失败：{0}；数据目录可能已损坏，请用 export 备份后检查磁盘")]
    Sled(#[from] sled::Error),
    #[error("数据库写入磁盘失败：{0}；请检查磁盘空间和数据目录")]
    Flush(String),
    #[error("数据库中的记录无法解析（{what}）：{source}；请用 export 备份后报告此问题")]
    Corrupt {
        what: String,
        /// Why it does not decode: JSON's error, or what a binary record lacks.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("数据库中缺少记录（{0}）；请用 yuqing verify 检查，用 export 备份后报告此问题")]
    Missing(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The open database. Cheap to clone (sled handles are reference-counted).
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    /// `None` for a temporary store.
    data_dir: Option<PathBuf>,
    meta: sled::Tree,
    audit_chain: sled::Tree,
    items: sled::Tree,
    items_pending: sled::Tree,
    /// `first_seen_ms ‖ item key` → empty (see [`items`]).
    items_by_time: sled::Tree,
    /// What retention removed: key hash → text hash (see [`items`], [`retention`]).
    items_swept: sled::Tree,
    /// item key → its classification (see [`items`]).
    items_class: sled::Tree,
    sources: sled::Tree,
    outbox: sled::Tree,
    notice_keys: sled::Tree,
    dead: sled::Tree,
    /// When each tracked post and document last changed (see [`changes`]).
    tracked_changes: sled::Tree,
    ledger: incidents::LedgerTrees,
    /// Notified after every commit that may have queued mail; the delivery worker waits on it.
    outbox_signal: std::sync::Arc<tokio::sync::Notify>,
    /// Notified when a board post's reply clock or a document clock is scheduled; the
    /// deadline task waits on it (see [`replies`], [`policies`]).
    reply_signal: std::sync::Arc<tokio::sync::Notify>,
    /// Which chat channels a queued notice also goes to (installed by the daemon).
    channel_router: std::sync::Arc<std::sync::OnceLock<Box<outbox::ChannelRouter>>>,
    /// The only code that flushes the database.
    flusher: std::sync::Arc<flusher::Flusher>,
    /// Bumped after every commit that may have appended audit entries: the flusher
    /// recounts the audit chain only when it moved (see `flusher::Checkpoint`).
    audit_changes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The data format this open upgraded from, if it did (see [`Store::upgraded_from`]).
    upgraded_from: Option<u32>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (or creates) the database under `<data_dir>/db` and checks the audit
    /// chain: a damaged ledger is refused ([`StoreError::Damaged`]) with what is
    /// damaged and how to restore it.
    pub fn open(data_dir: &Path) -> Result<Store> {
        Store::open_with_cache(data_dir, crate::config::DEFAULT_CACHE_BYTES)
    }

    /// [`Store::open`] with a page cache of `cache_bytes` (`[store] cache_bytes`).
    pub fn open_with_cache(data_dir: &Path, cache_bytes: u64) -> Result<Store> {
        let store = Store::open_unchecked_with_cache(data_dir, cache_bytes)?;
        let report = store.verify_audit_guarded()?;
        if !report.intact() {
            return Err(StoreError::Damaged {
                path: store.path.clone(),
                report,
            });
        }
        Ok(store)
    }

    /// Opens the database without refusing a damaged ledger (for `yuqing verify`,
    /// which reports the damage). A database written before the audit chain gets
    /// its chain here (see [`audit_chain`]).
    pub fn open_unchecked(data_dir: &Path) -> Result<Store> {
        Store::open_unchecked_with_cache(data_dir, crate::config::DEFAULT_CACHE_BYTES)
    }

    fn open_unchecked_with_cache(data_dir: &Path, cache_bytes: u64) -> Result<Store> {
        let path = data_dir.join("db");
        private_dir(data_dir).map_err(|source| StoreError::Permission {
            path: path.clone(),
            source,
        })?;
        let db = guarded(&path, "打开", || open_db(&path, cache_bytes))?;
        guarded(&path, "读取", || {
            let upgraded_from = upgrade_format(&db.open_tree("meta")?, &path)?;
            let store = Store {
                upgraded_from,
                ..Store::with_trees(db.clone(), path.clone(), Some(data_dir))?
            };
            if store.meta.get(audit_chain::CHAIN_VERSION_KEY)?.is_none() {
                let chained = store.build_audit_chain()?;
                if chained > 0 {
                    tracing::warn!(
                        entries = chained,
                        "audit log upgraded: integrity chain built over the existing entries"
                    );
                }
                store
                    .meta
                    .insert(audit_chain::CHAIN_VERSION_KEY, &1u32.to_be_bytes())?;
            }
            store.ensure_item_count()?;
            // A new database has nothing to count: no warning for it.
            if let Some(rows) = store.ensure_outbox_counts()?.filter(|&rows| rows > 0) {
                tracing::warn!(
                    rows,
                    "outbox upgraded: counts built over the queued notices and dead letters"
                );
            }
            let moved = store.ensure_incident_item_keys()?;
            if moved > 0 {
                tracing::warn!(
                    incidents = moved,
                    "ledger upgraded: incidents' items moved to keys of their own"
                );
            }
            let moved = store.ensure_incident_source_keys()?;
            if moved > 0 {
                tracing::warn!(
                    incidents = moved,
                    "ledger upgraded: incidents' sources and their first times moved to keys of their own"
                );
            }
            let timed = store.ensure_time_index()?;
            if timed > 0 {
                tracing::warn!(
                    items = timed,
                    "items upgraded: time index built over the existing items"
                );
            }
            let stamped = store.ensure_tracked_changes()?;
            if stamped > 0 {
                tracing::warn!(
                    records = stamped,
                    "ledger upgraded: change index built over the existing incidents, posts and documents"
                );
            }
            let indexed = store.ensure_ledger_indexes()?;
            if indexed > 0 {
                tracing::warn!(
                    incidents = indexed,
                    "ledger upgraded: list, grouping and response-match indexes built over the existing incidents"
                );
            }
            restrict_files(&path);
            Ok(store)
        })
    }

    /// The data format this open found and upgraded to [`FORMAT_VERSION`], if it was
    /// older: from then on an older release refuses the database, so the commands that
    /// open it offline say so (the daemon logs `data format upgraded`).
    pub fn upgraded_from(&self) -> Option<u32> {
        self.upgraded_from
    }

    /// [`Store::verify_audit`], with a sled panic on damaged pages turned into an error.
    pub fn verify_audit_guarded(&self) -> Result<audit_chain::ChainReport> {
        guarded(&self.path, "校验", || self.verify_audit())
    }

    /// Tells the flusher that the audit chain may have changed (after the commit): every
    /// write to the audit entries or their chain outside [`Store::ledger_tx`] calls it.
    fn audit_changed(&self) {
        self.audit_changes
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    fn with_trees(db: sled::Db, path: PathBuf, data_dir: Option<&Path>) -> Result<Store> {
        let audit_chain = db.open_tree("audit_chain")?;
        let audit_changes = std::sync::Arc::default();
        let checkpoint = data_dir.map(|dir| {
            let chain = audit_chain.clone();
            flusher::Checkpoint {
                path: audit_chain::count_path(dir),
                count: Box::new(move || audit_chain::chained_entries(&chain)),
                changes: std::sync::Arc::clone(&audit_changes),
            }
        });
        Ok(Store {
            items: db.open_tree("items")?,
            items_pending: db.open_tree("items_pending")?,
            items_by_time: db.open_tree("items_by_time")?,
            items_swept: db.open_tree("items_swept")?,
            items_class: db.open_tree("items_class")?,
            sources: db.open_tree("source_state")?,
            outbox: db.open_tree("outbox")?,
            notice_keys: db.open_tree("notice_keys")?,
            dead: db.open_tree("dead_letters")?,
            tracked_changes: db.open_tree(changes::TREE)?,
            ledger: incidents::LedgerTrees::open(&db)?,
            meta: db.open_tree("meta")?,
            outbox_signal: Default::default(),
            reply_signal: Default::default(),
            channel_router: Default::default(),
            flusher: std::sync::Arc::new(flusher::Flusher::start(db.clone(), checkpoint)?),
            upgraded_from: None,
            audit_changes,
            audit_chain,
            data_dir: data_dir.map(Path::to_path_buf),
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
        Store::with_trees(db, PathBuf::from("(temporary)"), None)
    }

    /// The data directory, `None` for a temporary store.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
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

    /// The live records of every tree: entries, key bytes and value bytes, read by a
    /// full scan (for the benchmarks' disk figures: what is live against what the
    /// file holds; docs/performance.md "Disk").
    pub fn tree_usage(&self) -> Result<Vec<TreeUsage>> {
        let mut out = Vec::new();
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name)?;
            let mut usage = TreeUsage {
                name: String::from_utf8_lossy(&name).into_owned(),
                ..TreeUsage::default()
            };
            for entry in tree.iter() {
                let (key, value) = entry?;
                usage.entries += 1;
                usage.key_bytes += key.len() as u64;
                usage.value_bytes += value.len() as u64;
            }
            out.push(usage);
        }
        Ok(out)
    }
}

/// One tree's live records ([`Store::tree_usage`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TreeUsage {
    pub name: String,
    pub entries: u64,
    pub key_bytes: u64,
    pub value_bytes: u64,
}

/// Checks the data format recorded in `meta`: a newer one is refused
/// ([`StoreError::NewerFormat`]); an older one is upgraded step by step (format 0 has
/// the layout of 1, and 2 reads 1's records as they are; the step to 3, moving
/// incidents' items to keys of their own, runs after this in `open`, recorded by a
/// `meta` key of its own so that an interrupted upgrade is finished at the next open)
/// and the new version written; a new database gets [`FORMAT_VERSION`]. Records this
/// yuqing's version. Returns the older format it upgraded from, if any.
fn upgrade_format(meta: &sled::Tree, path: &Path) -> Result<Option<u32>> {
    // `None`: a new database, or one from before the version was recorded; both
    // take the current format.
    let found = match meta.get(FORMAT_KEY)? {
        None => None,
        Some(v) => match <[u8; 4]>::try_from(v.as_ref()) {
            Ok(bytes) => Some(u32::from_be_bytes(bytes)),
            // Not a format number at all: damage, not a newer release.
            Err(_) => {
                return Err(StoreError::Unreadable {
                    path: path.to_path_buf(),
                    what: format!(
                        "记录数据格式版本的键 schema_version 应为 4 字节，实际为 {} 字节",
                        v.len()
                    ),
                });
            }
        },
    };
    if let Some(found) = found
        && found > FORMAT_VERSION
    {
        let writer = meta
            .get(WRITER_KEY)?
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_else(|| "未知".into());
        return Err(StoreError::NewerFormat {
            path: path.to_path_buf(),
            found,
            supported: FORMAT_VERSION,
            writer,
        });
    }
    let upgraded = found.filter(|&found| found < FORMAT_VERSION);
    if let Some(found) = upgraded {
        tracing::info!(from = found, to = FORMAT_VERSION, "data format upgraded");
    }
    meta.insert(FORMAT_KEY, &FORMAT_VERSION.to_be_bytes())?;
    meta.insert(WRITER_KEY, env!("CARGO_PKG_VERSION").as_bytes())?;
    Ok(upgraded)
}

/// How long an open waits for a database lock held by a process that is exiting
/// (a restart under systemd, or a handle still being dropped in the same process).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens the sled database, waiting up to [`LOCK_WAIT`] for its file lock.
fn open_db(path: &Path, cache_bytes: u64) -> Result<sled::Db> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .flush_every_ms(None);
        match config.open() {
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
            Err(sled::Error::Io(source))
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                return Err(StoreError::Permission {
                    path: path.to_path_buf(),
                    source,
                });
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

/// Runs `f`, turning a panic inside sled (it panics on some damaged pages instead
/// of returning an error) into [`StoreError::Unreadable`].
fn guarded<T>(path: &Path, doing: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("未知错误");
        tracing::error!(path = %path.display(), panic = what, "sled panicked while {doing} the database");
        Err(StoreError::Unreadable {
            path: path.to_path_buf(),
            what: format!("{doing}时数据库引擎崩溃：{what}"),
        })
    })
}

/// Creates a directory readable by its owner only (0700), whatever the umask;
/// an existing one is tightened.
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    builder.create(dir)
}

/// sled creates its files with the process umask: make the database directory 0700
/// and its files 0600. A failure is logged, not fatal (the data directory is 0700).
fn restrict_files(db_dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut paths = vec![(db_dir.to_path_buf(), 0o700)];
        for entry in walk(db_dir) {
            let mode = if entry.is_dir() { 0o700 } else { 0o600 };
            paths.push((entry, mode));
        }
        for (path, mode) in paths {
            if let Err(err) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            {
                tracing::warn!(path = %path.display(), error = %err, "cannot restrict file mode");
            }
        }
    }
}

/// Every path under `dir` (recursively).
#[cfg(unix)]
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path.clone());
            }
            found.push(path);
        }
    }
    found
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
        source: source.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each tree's live keys and values, as stored.
    #[test]
    fn tree_usage_counts_each_trees_keys_and_values() {
        let store = Store::temporary().unwrap();
        store
            .items_pending
            .insert(b"abc", b"12345".to_vec())
            .unwrap();
        store.items_pending.insert(b"de", b"".to_vec()).unwrap();
        let usage = store.tree_usage().unwrap();
        let pending = usage.iter().find(|t| t.name == "items_pending").unwrap();
        assert_eq!(
            (pending.entries, pending.key_bytes, pending.value_bytes),
            (2, 5, 5)
        );
        let items = usage.iter().find(|t| t.name == "items").unwrap();
        assert_eq!(items.entries, 0);
    }

    #[test]
    fn second_open_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    }

    /// Opens a database, sets `meta` keys, closes it.
    fn with_meta(dir: &Path, entries: &[(&[u8], &[u8])]) {
        let store = Store::open(dir).unwrap();
        for (k, v) in entries {
            store.meta.insert(k, *v).unwrap();
        }
        store.flush_blocking().unwrap();
    }

    fn format_of(store: &Store) -> u32 {
        let v = store.meta.get(FORMAT_KEY).unwrap().unwrap();
        u32::from_be_bytes(v.as_ref().try_into().unwrap())
    }

    /// A format key that is not 4 bytes is damage, named as such (not read as format
    /// 4294967295 and refused as a newer release).
    #[test]
    fn a_damaged_format_key_is_named_as_damage() {
        let dir = tempfile::tempdir().unwrap();
        with_meta(dir.path(), &[(FORMAT_KEY, b"\x00\x06")]);
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Unreadable { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("schema_version 应为 4 字节，实际为 2 字节"),
            "{text}"
        );
        assert!(text.contains("恢复办法"), "{text}");
    }

    #[test]
    fn newer_format_is_refused_naming_the_release_needed() {
        let dir = tempfile::tempdir().unwrap();
        let newer = (FORMAT_VERSION + 1).to_be_bytes();
        with_meta(dir.path(), &[(FORMAT_KEY, &newer), (WRITER_KEY, b"9.1.0")]);
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::NewerFormat { found, .. } if found == FORMAT_VERSION + 1),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("第 {} 版", FORMAT_VERSION + 1)),
            "{text}"
        );
        // The formats are named, so the message holds even when both builds carry
        // one version number (the writer's is only what it recorded).
        assert!(text.contains("由 yuqing 9.1.0 写入"), "{text}");
        assert!(
            text.contains(&format!(
                "本程序 yuqing {} 只能读写第 {FORMAT_VERSION} 版及更早的数据格式",
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
        let next = FORMAT_VERSION + 1;
        assert!(
            text.contains(&format!(
                "能读写第 {next} 版数据格式的 yuqing（版本号 0.{next}.x 或更新）"
            )),
            "{text}"
        );
        // Refused, not rewritten: the newer build still finds its own format.
        let err = Store::open_unchecked(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::NewerFormat { .. }), "{err:?}");
    }

    /// The versioning rule (docs/operations.md, "Upgrade"): yuqing 0.N reads and writes
    /// data format N, so the refusal above can name the version that reads a format.
    #[test]
    fn the_minor_version_is_the_data_format() {
        assert_eq!(
            (
                env!("CARGO_PKG_VERSION_MAJOR"),
                env!("CARGO_PKG_VERSION_MINOR").parse::<u32>().unwrap()
            ),
            ("0", FORMAT_VERSION),
            "data format {FORMAT_VERSION} is yuqing 0.{FORMAT_VERSION}.x: set `version = \"0.{FORMAT_VERSION}.0\"` in Cargo.toml"
        );
    }

    #[test]
    fn an_older_format_is_upgraded_at_open_and_keeps_its_records() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (chained, store) = audit_chain::tests::with_entries(2);
            drop(store);
            // Format 0: written before the version was recorded.
            let store = Store::open(chained.path()).unwrap();
            store.meta.remove(FORMAT_KEY).unwrap();
            store.meta.remove(WRITER_KEY).unwrap();
            store.flush_blocking().unwrap();
            drop(store);
            let store = Store::open(chained.path()).unwrap();
            assert_eq!(format_of(&store), FORMAT_VERSION);
            assert_eq!(store.verify_audit().unwrap().entries, 6);
        }
        with_meta(dir.path(), &[(FORMAT_KEY, &0u32.to_be_bytes())]);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(format_of(&store), FORMAT_VERSION);
        assert_eq!(store.upgraded_from(), Some(0));
        let writer = store.meta.get(WRITER_KEY).unwrap().unwrap();
        assert_eq!(&writer[..], env!("CARGO_PKG_VERSION").as_bytes());
        drop(store);
        // Said once: the next open finds the current format.
        assert_eq!(Store::open(dir.path()).unwrap().upgraded_from(), None);
        let fresh = tempfile::tempdir().unwrap();
        assert_eq!(Store::open(fresh.path()).unwrap().upgraded_from(), None);
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

    /// A database with 3 incidents × 150 audit entries, flushed and closed; returns
    /// its data directory.
    fn ledger_on_disk() -> tempfile::TempDir {
        audit_chain::tests::with_entries(150).0
    }

    /// Opens a damaged copy: it must be refused, or open with every entry present.
    fn refused_or_complete(dir: &Path) -> Option<StoreError> {
        match Store::open(dir) {
            Err(err) => Some(err),
            Ok(store) => {
                let report = store.verify_audit().unwrap();
                assert_eq!(report.entries, 450, "a silent start with fewer entries");
                None
            }
        }
    }

    fn db_file(dir: &Path) -> PathBuf {
        dir.join("db").join("db")
    }

    #[test]
    fn a_truncated_database_is_refused_not_blamed_on_permissions() {
        let dir = ledger_on_disk();
        let file = db_file(dir.path());
        let len = std::fs::metadata(&file).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(len.saturating_sub(12 * 1024)).unwrap();
        drop(f);
        let err = refused_or_complete(dir.path()).expect("a truncated database is refused");
        let text = err.to_string();
        assert!(!text.contains("权限"), "{text}");
        assert!(text.contains("恢复办法"), "names the restore path: {text}");
        assert!(
            text.contains("yuqing import"),
            "names the import path: {text}"
        );
    }

    #[test]
    fn a_zeroed_head_is_refused() {
        let dir = ledger_on_disk();
        let file = db_file(dir.path());
        let mut bytes = std::fs::read(&file).unwrap();
        let n = bytes.len().min(4096);
        bytes[..n].fill(0);
        std::fs::write(&file, bytes).unwrap();
        let err = refused_or_complete(dir.path()).expect("a zeroed database is refused");
        assert!(err.to_string().contains("恢复办法"), "{err}");
    }

    #[test]
    fn flipped_bytes_never_crash_or_start_with_fewer_entries() {
        use rand::{Rng, SeedableRng};
        let mut refused = 0;
        for seed in 0..6u64 {
            let dir = ledger_on_disk();
            let file = db_file(dir.path());
            let mut bytes = std::fs::read(&file).unwrap();
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            for _ in 0..16 {
                let at = rng.random_range(0..bytes.len().saturating_sub(8));
                for b in &mut bytes[at..at + 8] {
                    *b ^= rng.random_range(1..=255u8);
                }
            }
            std::fs::write(&file, bytes).unwrap();
            if let Some(err) = refused_or_complete(dir.path()) {
                assert!(err.to_string().contains("恢复办法"), "{err}");
                refused += 1;
            }
        }
        assert!(
            refused > 0,
            "16 flips of 8 bytes were noticed at least once"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_data_directory_and_database_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = Store::open(&data).unwrap();
        store.flush_blocking().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("db")), 0o700);
        for file in walk(&data.join("db")) {
            let expected = if file.is_dir() { 0o700 } else { 0o600 };
            assert_eq!(mode(&file), expected, "{}", file.display());
        }
        assert_eq!(mode(&audit_chain::count_path(&data)), 0o600);
    }
}
