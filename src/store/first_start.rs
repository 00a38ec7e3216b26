//! When this database was first used by a running daemon. The digest schedule uses
//! it so that no catch-up (补发) digest is sent for a date before the ledger existed.

use super::{Result, Store, StoreError};
use crate::model::Timestamp;

const FIRST_START_KEY: &[u8] = b"first_start";

impl Store {
    /// The first start recorded in this database; records `now` when there is none
    /// yet (the first call on a new database), so the answer never changes after.
    /// A database from before this record existed takes its first call as its start.
    pub fn first_start(&self, now: Timestamp) -> Result<Timestamp> {
        let meta = self.db.open_tree("meta")?;
        let value = serde_json::to_vec(&now).map_err(|source| StoreError::Corrupt {
            what: "first_start".into(),
            source: source.into(),
        })?;
        let stored = match meta.compare_and_swap(FIRST_START_KEY, None::<&[u8]>, Some(value))? {
            Ok(()) => {
                meta.flush()?;
                return Ok(now);
            }
            Err(existing) => existing.current.unwrap_or_default(),
        };
        serde_json::from_slice(&stored).map_err(|source| StoreError::Corrupt {
            what: "first_start".into(),
            source: source.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_start_is_recorded_once_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let first: Timestamp = "2026-11-20T00:00:00Z".parse().unwrap();
        let later: Timestamp = "2026-11-24T02:00:00Z".parse().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.first_start(first).unwrap(), first);
            assert_eq!(store.first_start(later).unwrap(), first);
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.first_start(later).unwrap(), first);
    }
}
