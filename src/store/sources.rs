//! Per-source polling state: schedule, validators for conditional GET, failures.
//! Persisted so a restart neither re-polls everything at once nor forgets a failure.

use serde::{Deserialize, Serialize};

use super::{Result, Store, decode, encode};
use crate::model::Timestamp;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceState {
    /// When the next poll is due.
    pub next_poll_at: Option<Timestamp>,
    pub last_poll_at: Option<Timestamp>,
    pub last_ok_at: Option<Timestamp>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Start of the current failure episode.
    pub failing_since: Option<Timestamp>,
    pub last_error: Option<String>,
    pub last_status: Option<u16>,
    /// Failure episodes that became source-health problems (for notice keys).
    pub episodes: u32,
    /// Whether the current episode has already been reported.
    pub reported: bool,
    /// Items ingested over the source's lifetime.
    pub items_total: u64,
}

impl Store {
    pub fn source_state(&self, id: &str) -> Result<SourceState> {
        match self.sources.get(id.as_bytes())? {
            Some(bytes) => decode(&bytes, || format!("source state {id}")),
            None => Ok(SourceState::default()),
        }
    }

    pub fn put_source_state(&self, id: &str, state: &SourceState) -> Result<()> {
        self.sources.insert(id.as_bytes(), encode(state))?;
        Ok(())
    }

    /// Every source with stored state, by id.
    pub fn source_states(&self) -> Result<Vec<(String, SourceState)>> {
        self.sources
            .iter()
            .map(|entry| {
                let (k, v) = entry?;
                let id = String::from_utf8_lossy(&k).into_owned();
                let state = decode(&v, || format!("source state {id}"))?;
                Ok((id, state))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let state = SourceState {
            etag: Some("\"abc\"".into()),
            consecutive_failures: 2,
            ..Default::default()
        };
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.source_state("x").unwrap(), SourceState::default());
            store.put_source_state("x", &state).unwrap();
            store.flush_blocking().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.source_state("x").unwrap(), state);
        assert_eq!(store.source_states().unwrap().len(), 1);
    }
}
