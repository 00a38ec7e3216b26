//! An incident's distinct sources, each with the time it first carried the story, as
//! keys of their own in `incident_items` (data format 7), so that a join reads and
//! writes a few small keys however many sources the incident has (format 6 kept them
//! in the incident's record, `sources`, and in its grouping row, `source_times`: a
//! join decoded and encoded both whole).
//!
//! Keys (UTF-8 never has the bytes 0xF5–0xFF, so none of them starts an attachment key):
//! - `0xFD ‖ id ‖ source` → the first time (8 bytes, [`time_bytes`]): which sources
//!   the incident has, and since when;
//! - `0xFC ‖ id ‖ seq u32` → source: the same sources in the order they came (seq 0,
//!   1, …), what a transaction reads them by (sled's transactions read single keys,
//!   no ranges) and the order of an export's `source_times`;
//! - `0xFB ‖ id ‖ time ‖ source` → empty: the first times in order, for the spread rule;
//! - `0xFA ‖ id` → [`SourceStats`]: how many sources, and how many windows of
//!   `spread_sources` consecutive first times fit in `spread_window` (the spread rule
//!   holds while one does), for the `(n, window)` it was counted for.
//!
//! The spread rule ([`crate::ledger::spread`]: some `n` first times within `window`) is
//! kept as that count of windows. A new first time (a new source, or a source's time
//! moved earlier) changes only the windows around it: those among the `n − 1` times on
//! either side of it ([`insert_delta`]), read outside the transaction by
//! [`Store::place_source`] under the ledger's ingest lock and checked in the
//! transaction against the stats' change counter; when it moved, or the policy's `n`
//! or window are not the ones counted for, every time is counted again (in the
//! transaction, by key: a merge, an import, a policy change).

use sled::transaction::TransactionalTree;

use super::{ITEM_COUNT, Store};
use crate::model::{IncidentId, Timestamp};
use crate::store::tx::TxResult;
use crate::store::{Result, StoreError};

const SOURCE_TIME: u8 = 0xFD;
const SOURCE_SEQ: u8 = 0xFC;
const SOURCE_ORDER: u8 = 0xFB;
const SOURCE_STATS: u8 = 0xFA;

// The item keys' first bytes are above these.
const _: () = assert!(SOURCE_TIME < ITEM_COUNT);

/// The `n` of stats whose window count is not known (added without it): counted again
/// by the next spread decision.
const UNCOUNTED: u32 = u32::MAX;

fn prefix(kind: u8, id: IncidentId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = kind;
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

fn time_key(id: IncidentId, source: &str) -> Vec<u8> {
    let mut k = prefix(SOURCE_TIME, id).to_vec();
    k.extend_from_slice(source.as_bytes());
    k
}

fn seq_key(id: IncidentId, seq: u32) -> [u8; 13] {
    let mut k = [0u8; 13];
    k[..9].copy_from_slice(&prefix(SOURCE_SEQ, id));
    k[9..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn order_key(id: IncidentId, at: i64, source: &str) -> Vec<u8> {
    let mut k = prefix(SOURCE_ORDER, id).to_vec();
    k.extend_from_slice(&time_bytes(at));
    k.extend_from_slice(source.as_bytes());
    k
}

/// A time as nanoseconds since the epoch (clamped to what an i64 holds: 1677–2262).
fn nanos(at: Timestamp) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// Nanoseconds in 8 bytes that sort as the times do.
fn time_bytes(ns: i64) -> [u8; 8] {
    ((ns as u64) ^ (1 << 63)).to_be_bytes()
}

fn time_from(bytes: &[u8]) -> Option<i64> {
    let raw = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    Some((raw ^ (1 << 63)) as i64)
}

/// The spread window in nanoseconds (a longer one than an i64 holds is "always").
pub(in crate::store) fn window_nanos(window: chrono::Duration) -> i64 {
    window.num_nanoseconds().unwrap_or(i64::MAX)
}

/// How many sources an incident has, and how many windows of `n` consecutive first
/// times fit within `window_ns` (for the `n` and window they were counted for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SourceStats {
    count: u32,
    n: u32,
    window_ns: i64,
    windows: u32,
    /// Moves with every change to the incident's first times: what
    /// [`Store::place_source`] read is checked against it.
    version: u64,
}

impl SourceStats {
    const EMPTY: SourceStats = SourceStats {
        count: 0,
        n: UNCOUNTED,
        window_ns: 0,
        windows: 0,
        version: 0,
    };

    fn bytes(&self) -> [u8; 28] {
        let mut b = [0u8; 28];
        b[..4].copy_from_slice(&self.count.to_be_bytes());
        b[4..8].copy_from_slice(&self.n.to_be_bytes());
        b[8..16].copy_from_slice(&self.window_ns.to_be_bytes());
        b[16..20].copy_from_slice(&self.windows.to_be_bytes());
        b[20..].copy_from_slice(&self.version.to_be_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Option<SourceStats> {
        let b: &[u8; 28] = b.try_into().ok()?;
        Some(SourceStats {
            count: u32::from_be_bytes(b[..4].try_into().ok()?),
            n: u32::from_be_bytes(b[4..8].try_into().ok()?),
            window_ns: i64::from_be_bytes(b[8..16].try_into().ok()?),
            windows: u32::from_be_bytes(b[16..20].try_into().ok()?),
            version: u64::from_be_bytes(b[20..].try_into().ok()?),
        })
    }

    fn counted_for(&self, n: u32, window_ns: i64) -> bool {
        self.n == n && self.window_ns == window_ns
    }
}

/// Whether the `n` consecutive times starting at `i` of `times` are within `window_ns`.
fn fits(times: &[i64], i: usize, n: usize, window_ns: i64) -> bool {
    times
        .get(i + n - 1)
        .is_some_and(|last| i128::from(*last) - i128::from(times[i]) <= i128::from(window_ns))
}

/// How many windows of `n` consecutive times of sorted `times` fit within `window_ns`
/// (none for `n` = 0).
fn windows_in(times: &[i64], n: u32, window_ns: i64) -> u32 {
    let n = n as usize;
    if n == 0 || times.len() < n {
        return 0;
    }
    let count = (0..=times.len() - n)
        .filter(|&i| fits(times, i, n, window_ns))
        .count();
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// How inserting time `t` between `left` (the up to `n − 1` times just before it,
/// ascending) and `right` (the up to `n − 1` just after) changes the count of fitting
/// windows: the windows that spanned the gap are gone, those holding `t` are new.
/// Removing `t` changes it by the opposite.
pub(in crate::store) fn insert_delta(
    left: &[i64],
    t: i64,
    right: &[i64],
    n: u32,
    window_ns: i64,
) -> i64 {
    let n = n as usize;
    if n == 0 {
        return 0;
    }
    let l = left.len();
    let mut seq: Vec<i64> = left.iter().chain(right).copied().collect();
    let old = (0..l)
        .filter(|&i| i + n > l && fits(&seq, i, n, window_ns))
        .count();
    seq.insert(l, t);
    let new = ((l + 1).saturating_sub(n)..=l)
        .filter(|&i| fits(&seq, i, n, window_ns))
        .count();
    new as i64 - old as i64
}

/// What [`Store::place_source`] read outside the transaction: the change a new first
/// time makes to the window count, valid while the stats' version is the one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePlacement {
    version: Option<u64>,
    /// The source's first time before (nanoseconds), if it had one.
    old: Option<i64>,
    delta: i64,
    n: u32,
    window_ns: i64,
}

/// What adding a source's item did: whether the source is new to the incident, how
/// many it has now, and whether the spread rule holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceJoin {
    pub new: bool,
    pub count: u32,
    pub spread: bool,
}

/// Reads and writes an incident's source keys inside a transaction.
pub(in crate::store) struct SourceKeys<'a>(pub(in crate::store) &'a TransactionalTree);

impl SourceKeys<'_> {
    fn stats(&self, id: IncidentId) -> TxResult<Option<SourceStats>> {
        match self.0.get(prefix(SOURCE_STATS, id))? {
            None => Ok(None),
            Some(v) => match SourceStats::from_bytes(&v) {
                Some(stats) => Ok(Some(stats)),
                None => Err(StoreError::Missing(format!("事件 {id} 的来源计数（已损坏）")).into()),
            },
        }
    }

    fn put_stats(&self, id: IncidentId, stats: &SourceStats) -> TxResult<()> {
        self.0.insert(&prefix(SOURCE_STATS, id), &stats.bytes())?;
        Ok(())
    }

    fn first_time(&self, id: IncidentId, source: &str) -> TxResult<Option<i64>> {
        Ok(self
            .0
            .get(time_key(id, source))?
            .and_then(|v| time_from(&v)))
    }

    /// Gives `source` the first time `at` unless it has an earlier one; counts a new
    /// source in `stats`. Returns (new source, first time changed).
    fn put(
        &self,
        id: IncidentId,
        source: &str,
        at: i64,
        old: Option<i64>,
        stats: &mut SourceStats,
    ) -> TxResult<(bool, bool)> {
        match old {
            Some(old) if old <= at => return Ok((false, false)),
            Some(old) => {
                self.0.remove(order_key(id, old, source))?;
            }
            None => {
                self.0
                    .insert(&seq_key(id, stats.count), source.as_bytes())?;
                stats.count += 1;
            }
        }
        self.0.insert(time_key(id, source), &time_bytes(at))?;
        self.0.insert(order_key(id, at, source), &[])?;
        stats.version += 1;
        Ok((old.is_none(), true))
    }

    /// The sources of incident `id` in the order they came, with their first times.
    pub(in crate::store) fn all(&self, id: IncidentId) -> TxResult<Vec<(String, i64)>> {
        let count = self.stats(id)?.map_or(0, |s| s.count);
        self.first(id, count)
    }

    /// The first `count` sources of incident `id`, with their first times.
    fn first(&self, id: IncidentId, count: u32) -> TxResult<Vec<(String, i64)>> {
        let mut out = Vec::with_capacity(count as usize);
        for source in self.names_of(id, count)? {
            let at = self
                .first_time(id, &source)?
                .ok_or_else(|| StoreError::Missing(format!("事件 {id} 的来源 {source} 的时间")))?;
            out.push((source, at));
        }
        Ok(out)
    }

    /// The sources of incident `id`, without their times (what its record held).
    pub(in crate::store) fn names(&self, id: IncidentId) -> TxResult<Vec<String>> {
        let count = self.stats(id)?.map_or(0, |s| s.count);
        self.names_of(id, count)
    }

    fn names_of(&self, id: IncidentId, count: u32) -> TxResult<Vec<String>> {
        let mut out = Vec::with_capacity(count as usize);
        for seq in 0..count {
            let missing = || StoreError::Missing(format!("事件 {id} 的第 {} 个来源", seq + 1));
            let source = self.0.get(seq_key(id, seq))?.ok_or_else(missing)?;
            out.push(String::from_utf8_lossy(&source).into_owned());
        }
        Ok(out)
    }

    /// The first source of a new incident (its id fresh: nothing to read). Returns
    /// whether the spread rule holds (one source: only for `n` = 1).
    pub(in crate::store) fn open(
        &self,
        id: IncidentId,
        source: &str,
        at: Timestamp,
        n: u32,
        window: chrono::Duration,
    ) -> TxResult<bool> {
        let window_ns = window_nanos(window);
        let at = nanos(at);
        let mut stats = SourceStats {
            n,
            window_ns,
            ..SourceStats::EMPTY
        };
        self.put(id, source, at, None, &mut stats)?;
        stats.windows = windows_in(&[at], n, window_ns);
        self.put_stats(id, &stats)?;
        Ok(stats.windows > 0)
    }

    /// A joining item's source at its time `at` (see the module docs). `placement`:
    /// what [`Store::place_source`] read for it, used when still valid.
    pub(in crate::store) fn join(
        &self,
        id: IncidentId,
        source: &str,
        at: Timestamp,
        placement: Option<&SourcePlacement>,
        n: u32,
        window: chrono::Duration,
    ) -> TxResult<SourceJoin> {
        let window_ns = window_nanos(window);
        let at = nanos(at);
        let Some(mut stats) = self.stats(id)? else {
            return Err(StoreError::Missing(format!("事件 {id} 的来源计数")).into());
        };
        let before = stats;
        let old = self.first_time(id, source)?;
        let (new, changed) = self.put(id, source, at, old, &mut stats)?;
        let valid = placement.filter(|p| {
            p.version == Some(before.version)
                && p.old == old
                && p.n == n
                && p.window_ns == window_ns
                && before.counted_for(n, window_ns)
        });
        match valid {
            Some(p) if changed => {
                let windows = i64::from(stats.windows) + p.delta;
                stats.windows = u32::try_from(windows.max(0)).unwrap_or(u32::MAX);
            }
            Some(_) => {}
            None if !changed && before.counted_for(n, window_ns) => {}
            None => self.recount(id, &mut stats, n, window_ns)?,
        }
        if stats != before {
            self.put_stats(id, &stats)?;
        }
        Ok(SourceJoin {
            new,
            count: stats.count,
            spread: n > 0 && stats.windows > 0,
        })
    }

    /// Counts the fitting windows again from every first time.
    fn recount(
        &self,
        id: IncidentId,
        stats: &mut SourceStats,
        n: u32,
        window_ns: i64,
    ) -> TxResult<()> {
        let mut times: Vec<i64> = self
            .first(id, stats.count)?
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        times.sort_unstable();
        stats.n = n;
        stats.window_ns = window_ns;
        stats.windows = windows_in(&times, n, window_ns);
        Ok(())
    }

    /// Adds sources with their first times (a merge, an import, the upgrade): each keeps
    /// the earlier of its times; the window count is left to the next spread decision.
    pub(in crate::store) fn add(
        &self,
        id: IncidentId,
        sources: impl IntoIterator<Item = (String, Timestamp)>,
    ) -> TxResult<()> {
        let mut stats = self.stats(id)?.unwrap_or(SourceStats::EMPTY);
        let before = stats;
        for (source, at) in sources {
            let old = self.first_time(id, &source)?;
            self.put(id, &source, nanos(at), old, &mut stats)?;
        }
        if stats != before {
            stats.n = UNCOUNTED;
            self.put_stats(id, &stats)?;
        }
        Ok(())
    }

    /// Sources of `incident.sources` without a key get one, at the incident's event
    /// time (what a grouping row rebuilt from the record gave them before).
    pub(in crate::store) fn ensure(&self, incident: &crate::model::Incident) -> TxResult<()> {
        let mut missing = Vec::new();
        for source in &incident.sources {
            if self.first_time(incident.id, source)?.is_none() {
                missing.push((source.clone(), incident.event_at));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        self.add(incident.id, missing)
    }
}

/// A time from its nanoseconds.
pub(in crate::store) fn timestamp(ns: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_nanos(ns)
}

impl Store {
    /// Reads, outside the transaction, what a join of `source`'s item at `at` to
    /// incident `id` changes in the count of spread windows: the source's first time,
    /// and the `n − 1` first times on either side of the old one (if it moves) and of
    /// the new one. [`crate::store::LedgerTx::join_source`] checks it is still valid.
    pub fn place_source(
        &self,
        id: IncidentId,
        source: &str,
        at: Timestamp,
        n: u32,
        window: chrono::Duration,
    ) -> Result<SourcePlacement> {
        let tree = &self.ledger.attached;
        let window_ns = window_nanos(window);
        let at = nanos(at);
        let version = tree
            .get(prefix(SOURCE_STATS, id))?
            .and_then(|v| SourceStats::from_bytes(&v))
            .map(|s| s.version);
        let old = tree.get(time_key(id, source))?.and_then(|v| time_from(&v));
        let mut placement = SourcePlacement {
            version,
            old,
            delta: 0,
            n,
            window_ns,
        };
        if n == 0 || old.is_some_and(|old| old <= at) {
            return Ok(placement);
        }
        let k = (n - 1) as usize;
        let skip = old.map(|old| order_key(id, old, source));
        let around = |key: &[u8]| -> Result<(Vec<i64>, Vec<i64>)> {
            let start = prefix(SOURCE_ORDER, id);
            let time = |k: &sled::IVec| time_from(&k[9..]);
            let mut left = Vec::with_capacity(k);
            for entry in tree.range(start.as_slice()..key).rev() {
                let (key, _) = entry?;
                if left.len() == k {
                    break;
                }
                if Some(key.as_ref()) != skip.as_deref() {
                    left.extend(time(&key));
                }
            }
            left.reverse();
            let mut right = Vec::with_capacity(k);
            let after = (std::ops::Bound::Excluded(key), std::ops::Bound::Unbounded);
            for entry in tree.range::<&[u8], _>(after) {
                let (key, _) = entry?;
                if right.len() == k || !key.starts_with(&start) {
                    break;
                }
                if Some(key.as_ref()) != skip.as_deref() {
                    right.extend(time(&key));
                }
            }
            Ok((left, right))
        };
        if let Some(old_key) = &skip {
            let (left, right) = around(old_key)?;
            placement.delta -= insert_delta(&left, old.unwrap_or(at), &right, n, window_ns);
        }
        let (left, right) = around(&order_key(id, at, source))?;
        placement.delta += insert_delta(&left, at, &right, n, window_ns);
        Ok(placement)
    }

    /// The sources of incident `id`, by name (what its record's `sources` held).
    pub(in crate::store) fn source_names(&self, id: IncidentId) -> Result<Vec<String>> {
        let p = prefix(SOURCE_TIME, id);
        let mut out = Vec::new();
        for key in self.ledger.attached.scan_prefix(p).keys() {
            out.push(String::from_utf8_lossy(&key?[9..]).into_owned());
        }
        Ok(out)
    }

    /// The sources of incident `id` in the order they came, with their first times (an
    /// export's `source_times`).
    pub(in crate::store) fn source_times(
        &self,
        id: IncidentId,
    ) -> Result<Vec<(String, Timestamp)>> {
        let tree = &self.ledger.attached;
        let mut out = Vec::new();
        for entry in tree.scan_prefix(prefix(SOURCE_SEQ, id)) {
            let (_, source) = entry?;
            let source = String::from_utf8_lossy(&source).into_owned();
            let at = tree
                .get(time_key(id, &source))?
                .and_then(|v| time_from(&v))
                .ok_or_else(|| StoreError::Missing(format!("事件 {id} 的来源 {source} 的时间")))?;
            out.push((source, timestamp(at)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The count of fitting windows kept by deltas is the count over all times, for
    /// random inserts and moves, every `n` from 0 to 4.
    #[test]
    fn deltas_keep_the_window_count_of_a_full_count() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for n in 0..5u32 {
            let window = 10;
            let mut times: Vec<i64> = Vec::new();
            let mut count = 0i64;
            for _ in 0..400 {
                let t = next(200) as i64;
                let k = n.saturating_sub(1) as usize;
                if !times.is_empty() && next(3) == 0 {
                    // Move one time earlier: remove it, then insert the new one.
                    let i = next(times.len() as u64) as usize;
                    let old = times.remove(i);
                    let left = &times[i.saturating_sub(k)..i];
                    let right = &times[i..(i + k).min(times.len())];
                    count -= insert_delta(left, old, right, n, window);
                }
                let i = times.partition_point(|x| *x < t);
                let left = &times[i.saturating_sub(k)..i];
                let right = &times[i..(i + k).min(times.len())];
                count += insert_delta(left, t, right, n, window);
                times.insert(i, t);
                assert_eq!(count, i64::from(windows_in(&times, n, window)), "n={n}");
            }
        }
    }

    fn tx<T>(store: &Store, f: impl Fn(&SourceKeys<'_>) -> TxResult<T>) -> T {
        use crate::store::tx::Abort;
        store
            .ledger_tx(|tx| Ok::<_, Abort<StoreError>>(f(&tx.sources())?))
            .unwrap()
    }

    /// Joins from random sources at random times (some earlier than a source's first
    /// time: it moves) into two incidents, with placements read before each, stale
    /// ones, none, a policy change and a merge's additions: after each, the source
    /// count and the spread rule are those of `ledger::spread` over every first time.
    #[test]
    fn joins_decide_the_spread_rule_as_the_rule_over_every_first_time() {
        use std::collections::BTreeMap;
        let store = Store::temporary().unwrap();
        let t0: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let at = |minutes: u64| t0 + chrono::Duration::minutes(minutes as i64);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let window = chrono::Duration::minutes(30);
        let mut firsts: [BTreeMap<String, Timestamp>; 2] = Default::default();
        for id in [1u64, 2] {
            let first = at(500);
            tx(&store, |k| k.open(id, "s0", first, 3, window));
            firsts[id as usize - 1].insert("s0".into(), first);
        }
        for step in 0..600 {
            let id = 1 + next(2);
            let n = if step < 300 { 3 } else { 4 };
            let source = format!("s{}", next(60));
            let time = at(next(1000));
            let placement = match next(10) {
                0 => None,
                _ => Some(store.place_source(id, &source, time, n, window).unwrap()),
            };
            if next(20) == 0 {
                // A merge adds sources between the read and the join: the placement
                // is stale and the count is taken again.
                let extra = (format!("m{step}"), at(next(1000)));
                tx(&store, |k| k.add(id, [extra.clone()]));
                let firsts = &mut firsts[id as usize - 1];
                firsts.entry(extra.0).or_insert(extra.1);
            }
            let joined = tx(&store, |k| {
                k.join(id, &source, time, placement.as_ref(), n, window)
            });
            let firsts = &mut firsts[id as usize - 1];
            let new = !firsts.contains_key(&source);
            let first = firsts.entry(source).or_insert(time);
            *first = (*first).min(time);
            let list: Vec<(String, Timestamp)> =
                firsts.iter().map(|(s, t)| (s.clone(), *t)).collect();
            let expected = SourceJoin {
                new,
                count: list.len() as u32,
                spread: crate::ledger::spread(&list, n, window),
            };
            assert_eq!(joined, expected, "step {step}");
        }
        for id in [1u64, 2] {
            let mut stored = store.source_times(id).unwrap();
            stored.sort();
            let expected: Vec<_> = firsts[id as usize - 1].clone().into_iter().collect();
            assert_eq!(stored, expected);
            let names = store.source_names(id).unwrap();
            assert_eq!(
                names,
                firsts[id as usize - 1].keys().cloned().collect::<Vec<_>>()
            );
        }
    }

    use super::super::{SOURCE_KEYS_VERSION_KEY, open_key, primary_topic};
    use crate::api::views::IncidentView;
    use crate::model::Incident;
    use crate::store::{LedgerRecord, OpenIndexRow, encode};

    /// Incident `id` with `sources` sources (`s000`, `s001`, …), each first seen a
    /// minute apart in an order that is not the names' (so the row's order shows).
    fn many_sources(id: IncidentId, sources: usize) -> (Incident, Vec<(String, Timestamp)>) {
        let mut incident = crate::api::views::tests::incident(id, "景芝镇一化工厂发生爆炸");
        let times: Vec<(String, Timestamp)> = (0..sources)
            .map(|i| {
                let name = format!("s{:03}", (i * 7) % sources);
                (
                    name,
                    incident.event_at + chrono::Duration::minutes(i as i64),
                )
            })
            .collect();
        incident.sources = times.iter().map(|(s, _)| s.clone()).collect();
        (incident, times)
    }

    fn row(incident: &Incident, times: &[(String, Timestamp)]) -> OpenIndexRow {
        OpenIndexRow {
            id: incident.id,
            places: incident.places.clone(),
            terms: incident.terms.clone(),
            last_item_at: incident.updated_at,
            source_times: times.to_vec(),
            severity: incident.detected_level,
        }
    }

    /// Rewrites incident `incident` as data format 6 kept it: the sources in its
    /// record, their first times in its grouping row (`times`, when open), no keys.
    fn to_format_6(store: &Store, incident: &Incident, times: Option<&[(String, Timestamp)]>) {
        let l = &store.ledger;
        let id = incident.id;
        let head = Incident {
            items: incident.items[..1].to_vec(),
            ..incident.clone()
        };
        l.incidents.insert(id.to_be_bytes(), encode(&head)).unwrap();
        if let Some(times) = times {
            let key = open_key(primary_topic(incident), id);
            l.open.insert(key, encode(&row(incident, times))).unwrap();
        }
        for kind in SOURCE_STATS..=SOURCE_TIME {
            for key in l.attached.scan_prefix(prefix(kind, id)).keys() {
                l.attached.remove(key.unwrap()).unwrap();
            }
        }
    }

    /// What every reader of an incident's sources shows: its JSON (the record of an
    /// export, the digest's and the notices' source), its `show --json` view, and
    /// its export record's grouping row.
    fn shown(store: &Store, id: IncidentId) -> (String, String, String) {
        let now: Timestamp = "2026-11-24T03:00:00Z".parse().unwrap();
        let incident = store.incident(id).unwrap().unwrap();
        let record: LedgerRecord = store.ledger_record(id).unwrap().unwrap();
        (
            serde_json::to_string(&incident).unwrap(),
            serde_json::to_string(&IncidentView::new(&incident, now)).unwrap(),
            serde_json::to_string(&record.open_row).unwrap(),
        )
    }

    /// A format 6 ledger (incident 1 open with 400 sources, 2 closed with 30, 3 open
    /// with one) is upgraded at open: every incident reads, shows and exports as its
    /// format 6 record and row said, byte for byte; the records and rows no longer
    /// hold the sources; an upgrade stopped after some incidents is finished at the
    /// next open; export and import give the same again; a join after it counts.
    #[test]
    fn format_6_sources_move_to_keys_at_open_and_read_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let (one, one_times) = many_sources(1, 400);
        let (mut two, _) = many_sources(2, 30);
        two.status = crate::model::Status::Closed;
        let (three, three_times) = many_sources(3, 1);
        let expected = |incident: &Incident, times: Option<&[(String, Timestamp)]>| {
            let now: Timestamp = "2026-11-24T03:00:00Z".parse().unwrap();
            (
                serde_json::to_string(incident).unwrap(),
                serde_json::to_string(&IncidentView::new(incident, now)).unwrap(),
                serde_json::to_string(&times.map(|t| row(incident, t))).unwrap(),
            )
        };
        let before = [
            expected(&one, Some(&one_times)),
            expected(&two, None),
            expected(&three, Some(&three_times)),
        ];
        let format_6 = |store: &Store| {
            to_format_6(store, &one, Some(&one_times));
            to_format_6(store, &two, None);
            to_format_6(store, &three, Some(&three_times));
            store.meta.remove(SOURCE_KEYS_VERSION_KEY).unwrap();
            let format = crate::store::FORMAT_KEY;
            store.meta.insert(format, &6u32.to_be_bytes()).unwrap();
            store.flush_blocking().unwrap();
        };
        {
            let store = Store::open(dir.path()).unwrap();
            tx(&store, |k| k.add(1, one_times.clone()));
            tx(&store, |k| k.add(3, three_times.clone()));
            store
                .ledger_tx(|tx| {
                    tx.put_incident(&one, Some(&row(&one, &[])))?;
                    tx.put_incident(&two, None)?;
                    tx.put_incident(&three, Some(&row(&three, &[])))?;
                    Ok::<_, crate::store::Abort<StoreError>>(())
                })
                .unwrap();
            format_6(&store);
        }
        let check = |store: &Store| {
            for (id, before) in (1..=3).zip(&before) {
                assert_eq!(&shown(store, id), before, "incident {id}");
                let record = store.ledger.incidents.get(id.to_be_bytes()).unwrap();
                let record: Incident = serde_json::from_slice(&record.unwrap()).unwrap();
                assert!(record.sources.is_empty(), "the record holds no source");
            }
            for row in store.ledger.open.iter().values() {
                let row: OpenIndexRow = serde_json::from_slice(&row.unwrap()).unwrap();
                assert!(row.source_times.is_empty(), "the row holds no time");
            }
        };
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.upgraded_from(), Some(6));
            check(&store);
            // As if the upgrade had stopped after incident 2: 1 and 2 moved, 3 not.
            to_format_6(&store, &three, Some(&three_times));
            store.meta.remove(SOURCE_KEYS_VERSION_KEY).unwrap();
            store.flush_blocking().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        check(&store);
        assert_eq!(store.ensure_incident_source_keys().unwrap(), 0, "done once");

        // Export and import: the same records again.
        let copy = Store::temporary().unwrap();
        for id in 1..=3 {
            let record = store.ledger_record(id).unwrap().unwrap();
            copy.restore_record(&record).unwrap();
        }
        // The same views, and neither records nor rows hold the sources.
        check(&copy);

        // A join after the upgrade: one source more, where the keys say.
        let (n, window) = (5, chrono::Duration::hours(6));
        let late = one.event_at + chrono::Duration::days(30);
        let joined = tx(&store, |k| k.join(1, "new", late, None, n, window));
        assert_eq!((joined.new, joined.count), (true, 401));
        let spread_before = crate::ledger::spread(&one_times, n, window);
        assert_eq!(joined.spread, spread_before);
        let record = store.ledger_record(1).unwrap().unwrap();
        let times = record.open_row.unwrap().source_times;
        assert_eq!(times[..400], one_times[..]);
        assert_eq!(times[400], ("new".to_string(), late));
        assert!(store.incident(1).unwrap().unwrap().sources.contains("new"));
    }

    #[test]
    fn times_sort_as_bytes() {
        let ts = [i64::MIN, -5, 0, 7, i64::MAX];
        for w in ts.windows(2) {
            assert!(time_bytes(w[0]) < time_bytes(w[1]));
        }
        for t in ts {
            assert_eq!(time_from(&time_bytes(t)), Some(t));
        }
    }
}
