//! Reading the outbox for the delivery worker: page by page, in queue order, and
//! never stopping at a row that cannot be read.

use std::ops::Bound;

use super::{OutboxRow, Result, Store, decode};

impl Store {
    /// Queued notices with a queue number above `after` (all when `None`), in queue
    /// order, at most `limit`. A row that cannot be decoded is logged and skipped (it
    /// stays in place for an export to recover), so one bad row cannot stop all mail.
    pub fn outbox_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, OutboxRow)>> {
        let start = match after {
            Some(seq) => Bound::Excluded(seq.to_be_bytes()),
            None => Bound::Unbounded,
        };
        let mut rows = Vec::new();
        for entry in self.outbox.range::<[u8; 8], _>((start, Bound::Unbounded)) {
            if rows.len() >= limit {
                break;
            }
            let (k, v) = entry?;
            let Ok(seq) = <[u8; 8]>::try_from(k.as_ref()).map(u64::from_be_bytes) else {
                tracing::error!(key = ?k, "outbox key is not a queue number; skipped");
                continue;
            };
            match decode::<OutboxRow>(&v, || format!("outbox row {seq}")) {
                Ok(row) => rows.push((seq, row)),
                Err(err) => tracing::error!(seq, %err, "outbox row cannot be read; skipped"),
            }
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::tests::notice;

    #[test]
    fn pages_follow_queue_order_and_skip_bad_rows() {
        let store = Store::temporary().unwrap();
        for key in ["a", "b", "c", "d"] {
            store.enqueue_notice(&notice(key)).unwrap();
        }
        let all = store.outbox_page(None, 10).unwrap();
        let keys = |rows: &[(u64, OutboxRow)]| {
            rows.iter()
                .map(|(_, r)| r.notice.key.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&all), ["a", "b", "c", "d"]);
        let first = store.outbox_page(None, 2).unwrap();
        assert_eq!(keys(&first), ["a", "b"]);
        let rest = store.outbox_page(Some(first[1].0), 2).unwrap();
        assert_eq!(keys(&rest), ["c", "d"]);

        store
            .outbox
            .insert(all[1].0.to_be_bytes(), b"not json".as_slice())
            .unwrap();
        assert_eq!(keys(&store.outbox_page(None, 10).unwrap()), ["a", "c", "d"]);
        assert_eq!(store.outbox_depth(), 4, "the bad row is kept");
    }
}
