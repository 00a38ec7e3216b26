//! Board reply tracking: one record per tracked post (`crate::replies::TrackedPost`).
//!
//! Layout: tree `replies`, `source \0 key` → [`TrackedPost`] (JSON). Only the intake loop
//! of the post's own source writes a board's records, so a read-modify-write needs no
//! transaction.

use super::{Result, Store, decode, encode};
use crate::replies::TrackedPost;

const TREE: &str = "replies";

fn post_key(source: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.len() + 1 + key.len());
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

impl Store {
    fn replies_tree(&self) -> Result<sled::Tree> {
        Ok(self.db.open_tree(TREE)?)
    }

    /// The tracked post `key` of board `source`, if tracked.
    pub fn tracked_post(&self, source: &str, key: &str) -> Result<Option<TrackedPost>> {
        self.replies_tree()?
            .get(post_key(source, key))?
            .map(|v| decode(&v, || format!("tracked post {source}/{key}")))
            .transpose()
    }

    /// Saves a tracked post (new or changed).
    pub fn put_tracked_post(&self, post: &TrackedPost) -> Result<()> {
        self.replies_tree()?
            .insert(post_key(&post.source, &post.key), encode(post))?;
        Ok(())
    }

    /// Every tracked post of `source` (all boards with `None`), by source then key.
    pub fn tracked_posts(&self, source: Option<&str>) -> Result<Vec<TrackedPost>> {
        let tree = self.replies_tree()?;
        let rows = match source {
            Some(source) => tree.scan_prefix(post_key(source, "")),
            None => tree.iter(),
        };
        rows.map(|row| {
            let (k, v) = row?;
            decode(&v, || {
                format!(
                    "tracked post {}",
                    String::from_utf8_lossy(&k).replace('\0', "/")
                )
            })
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(source: &str, key: &str) -> TrackedPost {
        let at: crate::model::Timestamp = "2026-06-12T02:00:00Z".parse().unwrap();
        TrackedPost {
            source: source.into(),
            key: key.into(),
            title: "路灯不亮".into(),
            url: None,
            unit: None,
            posted_at: at,
            due_at: at,
            replied_at: None,
            removed_at: None,
        }
    }

    #[test]
    fn posts_round_trip_per_board() {
        let store = Store::temporary().unwrap();
        store.put_tracked_post(&post("board", "1")).unwrap();
        store.put_tracked_post(&post("board", "2")).unwrap();
        // A board whose id extends another's is not part of its prefix scan.
        store.put_tracked_post(&post("board2", "1")).unwrap();
        assert_eq!(
            store.tracked_post("board", "2").unwrap(),
            Some(post("board", "2"))
        );
        assert_eq!(store.tracked_post("board", "3").unwrap(), None);
        assert_eq!(store.tracked_posts(Some("board")).unwrap().len(), 2);
        assert_eq!(store.tracked_posts(None).unwrap().len(), 3);
    }
}
