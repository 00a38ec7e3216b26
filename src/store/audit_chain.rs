//! The audit log's integrity chain: makes a lost, altered or rolled-back audit entry
//! detectable (the ledger is evidence in performance reviews).
//!
//! Tree `audit_chain`, written in the same transaction as each audit entry:
//! - `l ‖ id ‖ seq` → the entry's link: SHA-256(previous link of the incident ‖ key ‖
//!   stored entry bytes); the first entry of an incident chains from 32 zero bytes;
//! - `h ‖ id` → the incident's head: count of entries (u64 BE) ‖ last link.
//!
//! Stored apart from the database, `<data_dir>/audit.count` holds the total number of
//! audit entries that were durable at the last flush (written by the flusher after
//! each flush that changed it). A database that comes back with fewer entries — a
//! truncated or zeroed file that sled opens without complaint — is caught by it.
//!
//! Upgrade: a database written before the chain has no `audit_chain_version` in
//! `meta`; the first open by this version builds the chain over the existing entries
//! (logged with their number) and sets the key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use sled::transaction::TransactionalTree;

use super::{Result, Store};
use crate::atomic_file::{Access, AtomicFileError};

/// The meta key marking a database whose audit entries are chained.
pub(super) const CHAIN_VERSION_KEY: &[u8] = b"audit_chain_version";
/// The file (in the data directory) with the audit entry count at the last flush.
pub const COUNT_FILE: &str = "audit.count";

const LINK: u8 = b'l';
const HEAD: u8 = b'h';
type Link = [u8; 32];

fn link(prev: &Link, key: &[u8], value: &[u8]) -> Link {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(key);
    hasher.update(value);
    hasher.finalize().into()
}

fn head_key(id: &[u8]) -> Vec<u8> {
    [&[HEAD], id].concat()
}

fn link_key(audit_key: &[u8]) -> Vec<u8> {
    [&[LINK], audit_key].concat()
}

fn decode_head(bytes: &[u8]) -> Option<(u64, Link)> {
    let count = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    let last = bytes.get(8..40)?.try_into().ok()?;
    Some((count, last))
}

fn encode_head(count: u64, last: &Link) -> Vec<u8> {
    [&count.to_be_bytes()[..], last].concat()
}

/// Chains one audit entry (`key` = incident id ‖ seq, `value` = its stored bytes)
/// inside the transaction that writes it.
pub(super) fn append(
    chain: &TransactionalTree,
    key: &[u8],
    value: &[u8],
) -> std::result::Result<(), sled::transaction::UnabortableTransactionError> {
    let head = head_key(&key[..8]);
    let (count, prev) = chain
        .get(&head)?
        .and_then(|v| decode_head(&v))
        .unwrap_or((0, [0; 32]));
    let new = link(&prev, key, value);
    chain.insert(link_key(key), &new[..])?;
    chain.insert(head, encode_head(count + 1, &new))?;
    Ok(())
}

/// One thing found wrong by [`Store::verify_audit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// An entry's content does not match its link (altered or garbled).
    Altered { incident: u64, entry: u64 },
    /// An entry has no link (written outside the ledger, or its link was lost).
    Unlinked { incident: u64, entry: u64 },
    /// The incident's head counts more entries than are present.
    Missing {
        incident: u64,
        expected: u64,
        found: u64,
    },
    /// The last entry present is not the one the head names (the newest were lost).
    TailLost { incident: u64 },
    /// Audit entries of an incident that is not in the database.
    IncidentGone { incident: u64 },
    /// Fewer entries in total than were durable at the last flush.
    RolledBack { expected: u64, found: u64 },
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Altered { incident, entry } => {
                write!(
                    f,
                    "事件 {incident} 的第 {entry} 条操作记录内容与校验链不符（被改动或损坏）"
                )
            }
            Damage::Unlinked { incident, entry } => {
                write!(f, "事件 {incident} 的第 {entry} 条操作记录不在校验链中")
            }
            Damage::Missing {
                incident,
                expected,
                found,
            } => write!(
                f,
                "事件 {incident} 应有 {expected} 条操作记录，只找到 {found} 条（缺少 {} 条）",
                expected.saturating_sub(*found)
            ),
            Damage::TailLost { incident } => {
                write!(f, "事件 {incident} 的最新操作记录缺失（校验链末端不符）")
            }
            Damage::IncidentGone { incident } => {
                write!(f, "事件 {incident} 有操作记录，但事件本身缺失")
            }
            Damage::RolledBack { expected, found } => write!(
                f,
                "上次写入磁盘时共有 {expected} 条操作记录，现在只有 {found} 条（缺少 {} 条；数据库文件可能被截断或回退）",
                expected.saturating_sub(*found)
            ),
        }
    }
}

/// The outcome of a check of the whole audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainReport {
    pub incidents: usize,
    pub entries: u64,
    pub damage: Vec<Damage>,
}

impl ChainReport {
    pub fn intact(&self) -> bool {
        self.damage.is_empty()
    }
}

impl fmt::Display for ChainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.intact() {
            return write!(
                f,
                "台账完整：{} 个事件，{} 条操作记录，校验链无误",
                self.incidents, self.entries
            );
        }
        const SHOWN: usize = 10;
        let shown: Vec<String> = self
            .damage
            .iter()
            .take(SHOWN)
            .map(|d| d.to_string())
            .collect();
        write!(f, "台账已损坏：{}", shown.join("；"))?;
        if self.damage.len() > SHOWN {
            write!(f, "；另有 {} 处问题", self.damage.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// The count file of a data directory.
pub fn count_path(data_dir: &Path) -> PathBuf {
    data_dir.join(COUNT_FILE)
}

/// Reads the count file; `None` when absent or unreadable (nothing to compare).
pub(super) fn read_count(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Writes the count file whole (`crate::atomic_file`: temporary file, fsync, rename,
/// directory fsync), mode 0600.
pub(super) fn write_count(path: &Path, count: u64) -> std::io::Result<()> {
    crate::atomic_file::write(path, format!("{count}\n").as_bytes(), Access::Private)
        .map_err(AtomicFileError::into_io)
}

/// The number of chained audit entries (the sum of the heads of `chain`). Cheap: one
/// key per incident.
pub(super) fn chained_entries(chain: &sled::Tree) -> Result<u64> {
    let mut total = 0;
    for head in chain.scan_prefix([HEAD]) {
        let (_, v) = head?;
        total += decode_head(&v).map_or(0, |(count, _)| count);
    }
    Ok(total)
}

impl Store {
    /// Builds the chain over existing entries of a database written before it.
    /// Returns how many entries were chained.
    pub(super) fn build_audit_chain(&self) -> Result<u64> {
        let mut heads: BTreeMap<Vec<u8>, (u64, Link)> = BTreeMap::new();
        let mut batch = sled::Batch::default();
        let mut chained = 0;
        for entry in self.ledger.audit_tree().iter() {
            let (k, v) = entry?;
            let (count, prev) = heads.entry(k[..8].to_vec()).or_insert((0, [0; 32]));
            *prev = link(prev, &k, &v);
            *count += 1;
            batch.insert(link_key(&k), &prev[..]);
            chained += 1;
        }
        for (id, (count, last)) in heads {
            batch.insert(head_key(&id), encode_head(count, &last));
        }
        self.audit_chain.apply_batch(batch)?;
        self.audit_changed();
        Ok(chained)
    }

    /// Checks every audit entry against its chain, every head against the entries
    /// present, and the total against `<data_dir>/audit.count`.
    pub fn verify_audit(&self) -> Result<ChainReport> {
        let mut report = ChainReport::default();
        let mut heads: BTreeMap<u64, (u64, Link)> = BTreeMap::new();
        for head in self.audit_chain.scan_prefix([HEAD]) {
            let (k, v) = head?;
            if let (Some(id), Some(head)) = (id_of(&k[1..]), decode_head(&v)) {
                heads.insert(id, head);
            }
        }
        // Walk the entries incident by incident, in sequence order.
        let mut current: Option<(u64, u64, Link)> = None; // (id, found, last link)
        let mut finish = |report: &mut ChainReport, state: Option<(u64, u64, Link)>| {
            if let Some((id, found, last)) = state {
                check_head(report, id, found, &last, heads.remove(&id));
            }
        };
        for entry in self.ledger.audit_tree().iter() {
            let (k, v) = entry?;
            let Some(id) = id_of(&k) else { continue };
            report.entries += 1;
            if current.as_ref().is_none_or(|(cur, _, _)| *cur != id) {
                finish(&mut report, current.take());
                report.incidents += 1;
                if !self
                    .ledger
                    .incidents_tree()
                    .contains_key(id.to_be_bytes())?
                {
                    report.damage.push(Damage::IncidentGone { incident: id });
                }
                current = Some((id, 0, [0; 32]));
            }
            let (_, found, last) = current.as_mut().expect("set above");
            *found += 1;
            let expected = link(last, &k, &v);
            match self.audit_chain.get(link_key(&k))? {
                Some(stored) if stored.as_ref() == expected => *last = expected,
                Some(stored) => {
                    report.damage.push(Damage::Altered {
                        incident: id,
                        entry: *found,
                    });
                    *last = stored.as_ref().try_into().unwrap_or(expected);
                }
                None => {
                    report.damage.push(Damage::Unlinked {
                        incident: id,
                        entry: *found,
                    });
                    *last = expected;
                }
            }
        }
        finish(&mut report, current.take());
        // Heads whose incident has no entry left at all.
        for (id, (count, _)) in std::mem::take(&mut heads) {
            report.damage.push(Damage::Missing {
                incident: id,
                expected: count,
                found: 0,
            });
        }
        if let Some(expected) = self.data_dir().and_then(|d| read_count(&count_path(d)))
            && expected > report.entries
        {
            report.damage.push(Damage::RolledBack {
                expected,
                found: report.entries,
            });
        }
        Ok(report)
    }
}

fn id_of(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(..8)?.try_into().ok()?))
}

fn check_head(
    report: &mut ChainReport,
    id: u64,
    found: u64,
    last: &Link,
    head: Option<(u64, Link)>,
) {
    match head {
        None => {} // every entry was already reported as unlinked
        Some((expected, _)) if expected > found => report.damage.push(Damage::Missing {
            incident: id,
            expected,
            found,
        }),
        Some((_, head_last)) if &head_last != last => {
            report.damage.push(Damage::TailLost { incident: id })
        }
        Some(_) => {}
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model::AuditEntry;

    fn entry(incident: u64, action: &str) -> AuditEntry {
        AuditEntry {
            incident,
            at: chrono::Utc::now(),
            by: "system".into(),
            action: action.into(),
            detail: "测试说明".repeat(20),
            reason: None,
        }
    }

    /// A database with 3 incidents × `per` audit entries, flushed.
    pub(in crate::store) fn with_entries(per: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for id in 1..=3u64 {
            store
                .ledger
                .incidents_tree()
                .insert(id.to_be_bytes(), b"{}".to_vec())
                .unwrap();
            for n in 0..per {
                store
                    .ledger_tx(|tx| {
                        let entry = entry(id, &format!("note{n}"));
                        Ok::<_, super::super::Abort<super::super::StoreError>>(tx.audit(&entry)?)
                    })
                    .unwrap();
            }
        }
        store.flush_blocking().unwrap();
        (dir, store)
    }

    #[test]
    fn an_intact_ledger_verifies() {
        let (_dir, store) = with_entries(5);
        let report = store.verify_audit().unwrap();
        assert!(report.intact(), "{report}");
        assert_eq!((report.incidents, report.entries), (3, 15));
        assert!(report.to_string().contains("15 条操作记录"), "{report}");
    }

    #[test]
    fn a_removed_altered_or_lost_entry_is_named() {
        let (_dir, store) = with_entries(5);
        let audit = store.ledger.audit_tree();
        let keys: Vec<_> = audit.iter().keys().map(|k| k.unwrap()).collect();
        // Incident 1: its second entry removed. Incident 2: its third altered.
        // Incident 3: its last entry and link removed (the head still counts it).
        audit.remove(&keys[1]).unwrap();
        audit.insert(&keys[7], b"{}".to_vec()).unwrap();
        audit.remove(&keys[14]).unwrap();
        store.audit_chain.remove(link_key(&keys[14])).unwrap();
        let report = store.verify_audit().unwrap();
        assert!(!report.intact());
        assert!(
            report.damage.contains(&Damage::Missing {
                incident: 1,
                expected: 5,
                found: 4
            }),
            "{report:?}"
        );
        assert!(
            report.damage.contains(&Damage::Altered {
                incident: 2,
                entry: 3
            }),
            "{report:?}"
        );
        assert!(
            report.damage.contains(&Damage::Missing {
                incident: 3,
                expected: 5,
                found: 4
            }),
            "{report:?}"
        );
        let text = report.to_string();
        assert!(
            text.contains("事件 1 应有 5 条操作记录，只找到 4 条"),
            "{text}"
        );
        assert!(text.contains("事件 2 的第 3 条"), "{text}");
    }

    /// The count file follows the chain: up after entries are added, down to 0 after
    /// `import --force` clears the ledger (the flusher does not keep its last count).
    #[test]
    fn the_count_file_follows_appends_and_a_cleared_ledger() {
        let (dir, store) = with_entries(5);
        let path = count_path(dir.path());
        assert_eq!(read_count(&path), Some(15));
        store
            .ledger_tx(|tx| {
                Ok::<_, super::super::Abort<super::super::StoreError>>(tx.audit(&entry(1, "more"))?)
            })
            .unwrap();
        store.flush_blocking().unwrap();
        assert_eq!(read_count(&path), Some(16));
        store.clear_ledger().unwrap();
        store.flush_blocking().unwrap();
        assert_eq!(read_count(&path), Some(0));
        assert!(store.verify_audit().unwrap().intact());
    }

    #[test]
    fn fewer_entries_than_the_count_file_is_a_rollback() {
        let (dir, store) = with_entries(5);
        write_count(&count_path(dir.path()), 20).unwrap();
        let report = store.verify_audit().unwrap();
        assert_eq!(
            report.damage,
            vec![Damage::RolledBack {
                expected: 20,
                found: 15
            }]
        );
    }

    #[test]
    fn an_old_database_gets_its_chain_on_first_open() {
        let (dir, store) = with_entries(5);
        store.audit_chain.clear().unwrap();
        store.meta.remove(CHAIN_VERSION_KEY).unwrap();
        store.flush_blocking().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let report = store.verify_audit().unwrap();
        assert!(report.intact(), "{report}");
        assert_eq!(report.entries, 15);
        assert_eq!(chained_entries(&store.audit_chain).unwrap(), 15);
    }
}
