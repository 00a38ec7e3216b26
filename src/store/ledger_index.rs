//! The ledger's read indexes, written in the same transaction as the incident (see
//! [`super::LedgerTx::put_incident`]) and rebuilt when a database written before them
//! (or before their current layout) is opened ([`Store::ensure_ledger_indexes`]).
//!
//! `incident_summary` holds the list index, one record kind per first byte (numbers
//! big-endian; a time is its milliseconds with the sign bit flipped, so byte order is
//! time order; `unit` is `0` for none or `1 ‖ len u32 ‖ UTF-8`):
//! - `r ‖ id` → [`IncidentSummary`]: the few fields `list` filters, counts and orders by.
//! - `o ‖ status ‖ class ‖ order`: every incident in list order within its status
//!   (below); a page of `list` is a merge of the ranges of the statuses it shows.
//! - `f ‖ level ‖ unit ‖ status ‖ class ‖ order`: the same, per level and unit, for
//!   `--level` and `--unit`.
//! - `u ‖ updated ‖ id` → [`IncidentSummary`]: by last change, for `--since` (`export
//!   --since`): the range from `since` holds the rows it selects.
//! - `c ‖ status ‖ level ‖ unit` → u64: how many incidents have that status, level and
//!   unit; gives `list`'s match count and the open count without reading a row, and
//!   the (level, unit) ranges a filter merges.
//! - `l ‖ place \0 ‖ latest ‖ id` → [`MatchRow`] (event time, latest time, places,
//!   topics, key terms), one key per place of an open incident (that has a grouping
//!   row; the empty place when it names none): the response-match index, where
//!   `latest` is the later of its last change and its event time. Response matching
//!   reads, for each place of the candidate (grouping's place rule), the range from
//!   its rule's time bound (`latest ≥ candidate time − window`) instead of every open
//!   incident. The row is written from the incident's record, so the row a change
//!   replaces is read from the record it replaces ([`MatchRow::of_record`], index
//!   version 5; version 4 kept a second copy under `m ‖ id`): a write reads no index
//!   row, and a row that does not decode is rebuilt from the record when a candidate
//!   reads it ([`Store::response_candidates`], logged as an ERROR).
//! - `t ‖ term` → u64: how many of those incidents have the term among their key terms
//!   (its document frequency for `crate::respond::TermWeights`), and `n` → u64: how
//!   many incidents the index holds. Kept in the incident's transaction by
//!   [`put_match`] from the difference between its old and new row, so they are exact
//!   after every change and after a crash (a transaction commits whole or not at all).
//!
//! `class ‖ order` is `0 ‖ next_due ‖ id` for an open incident with an unmet deadline,
//! else `1 ‖ !opened ‖ !id` (bitwise not: newest first), so the byte order of the keys
//! is the list order below, and the first page is read from the front of a few ranges.
//!
//! `incident_open_when`: `topic \0 place \0 last_item_ms ‖ id` → `last_item_at ‖ terms`
//! ([`Candidate`]), one key per place of an open incident (the empty place when it
//! names none). Grouping reads the candidates of an item by a range over its topic,
//! each of its places and its time window, and gets what its rule needs (time and key
//! terms) from the range itself: no other read, no decoding of open incidents, so the
//! cost of matching is flat in the number of open incidents.
//!
//! ## The list rule (pure, [`ListFilter::matches`] and [`list_order`])
//! An incident is listed when all given filters hold: `status` equal (without
//! `status`, only open incidents unless `all`), `level` equal, `unit` equal,
//! `updated_at` at or after `since`. Order: open incidents with an unmet deadline
//! first, soonest first (then by id); then the rest, newest opened first (then by id,
//! larger first). `limit` keeps the first N of that order. [`page`] applies the rule
//! to rows in memory (the `--since` path and the tests' reference); the ordered keys
//! give the same answer by range reads.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use chrono::Timelike;
use sled::transaction::TransactionalTree;

use super::incidents::OpenIndexRow;
use super::tx::TxResult;
use super::{Result, Store, StoreError, decode};
use crate::model::{Incident, IncidentId, Level, Status, Timestamp};

/// The meta key of the index layout version; absent in databases written before it.
const INDEX_VERSION_KEY: &[u8] = b"ledger_index_version";
/// 1: summary rows as JSON; 2: summary rows fixed-width ([`IncidentSummary::to_bytes`]);
/// 3: ordered list keys and counts, grouping values with time and terms; 4: the
/// response-match index and the key terms' document frequencies; 5: the same without
/// the row under the incident's id (`m ‖ id`): the row a change replaces comes from
/// the incident's stored record.
const INDEX_VERSION: u32 = 5;

/// The first byte of each record kind in `incident_summary` (see the module docs).
const ROW: u8 = b'r';
const ORDER: u8 = b'o';
const FILTERED: u8 = b'f';
const UPDATED: u8 = b'u';
const COUNT: u8 = b'c';
/// The class byte: open with an unmet deadline (listed first), and the rest.
const DUE: u8 = 0;
const UNDUE: u8 = 1;

/// The `incident_summary` row of an incident, stored fixed-width
/// ([`IncidentSummary::to_bytes`]): reading a row parses no text.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentSummary {
    pub id: IncidentId,
    pub status: Status,
    pub level: Level,
    pub unit: Option<String>,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    /// The earliest unmet deadline, while the incident is open.
    pub next_due: Option<Timestamp>,
}

/// The byte of each status and level in a summary row (their index here). Append
/// only: a stored row keeps its meaning.
const STATUSES: [Status; 6] = Status::ALL;
const LEVELS: [Level; 5] = Level::ALL;

/// Length of a summary row without its unit: id 8, status 1, level 1, three times
/// of 8 (milliseconds, `i64::MIN` for no deadline), unit flag 1.
const FIXED: usize = 35;

fn byte_of<T: PartialEq>(table: &[T], value: &T) -> u8 {
    table
        .iter()
        .position(|v| v == value)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(u8::MAX)
}

fn read_i64(bytes: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// A time as 8 bytes whose byte order is time order (milliseconds, big-endian, sign bit
/// flipped); the ledger index and the tracked records' change index (`changes`) key by it.
pub(super) fn ordered_ms(at: Timestamp) -> [u8; 8] {
    let mut k = at.timestamp_millis().to_be_bytes();
    k[0] ^= 0x80;
    k
}

/// `0` for no unit, `1 ‖ len ‖ UTF-8`: no encoding is a prefix of another.
fn unit_bytes(unit: Option<&str>) -> Vec<u8> {
    match unit {
        None => vec![0],
        Some(unit) => {
            let len = u32::try_from(unit.len()).unwrap_or(u32::MAX);
            [&[1][..], &len.to_be_bytes(), unit.as_bytes()].concat()
        }
    }
}

impl IncidentSummary {
    /// The stored row: `id ‖ status ‖ level ‖ opened ‖ updated ‖ next_due ‖ has_unit ‖ unit`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let unit = self.unit.as_deref().unwrap_or("");
        let mut out = Vec::with_capacity(FIXED + unit.len());
        out.extend_from_slice(&self.id.to_be_bytes());
        out.push(byte_of(&STATUSES, &self.status));
        out.push(byte_of(&LEVELS, &self.level));
        out.extend_from_slice(&self.opened_at.timestamp_millis().to_be_bytes());
        out.extend_from_slice(&self.updated_at.timestamp_millis().to_be_bytes());
        let due = self.next_due.map_or(i64::MIN, |d| d.timestamp_millis());
        out.extend_from_slice(&due.to_be_bytes());
        out.push(u8::from(self.unit.is_some()));
        out.extend_from_slice(unit.as_bytes());
        out
    }

    /// Reads a stored row; `None` when it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<IncidentSummary> {
        let time = |at| chrono::DateTime::from_timestamp_millis(read_i64(bytes, at)?);
        let due = read_i64(bytes, 26)?;
        let unit = match bytes.get(34)? {
            0 => None,
            _ => Some(std::str::from_utf8(bytes.get(FIXED..)?).ok()?.to_string()),
        };
        Some(IncidentSummary {
            id: read_u64(bytes, 0)?,
            status: *STATUSES.get(usize::from(*bytes.get(8)?))?,
            level: *LEVELS.get(usize::from(*bytes.get(9)?))?,
            opened_at: time(10)?,
            updated_at: time(18)?,
            next_due: if due == i64::MIN {
                None
            } else {
                Some(chrono::DateTime::from_timestamp_millis(due)?)
            },
            unit,
        })
    }

    pub fn of(incident: &Incident) -> IncidentSummary {
        IncidentSummary {
            id: incident.id,
            status: incident.status,
            level: incident.level,
            unit: incident.unit.clone(),
            opened_at: incident.opened_at,
            updated_at: incident.updated_at,
            next_due: incident
                .status
                .is_open()
                .then(|| incident.next_due().map(|d| d.due_at))
                .flatten(),
        }
    }

    /// `class ‖ order`: the tail of its ordered keys (see the module docs).
    fn order(&self) -> [u8; 17] {
        let mut k = [0u8; 17];
        match self.next_due {
            Some(due) => {
                k[0] = DUE;
                k[1..9].copy_from_slice(&ordered_ms(due));
                k[9..].copy_from_slice(&self.id.to_be_bytes());
            }
            None => {
                k[0] = UNDUE;
                k[1..9].copy_from_slice(&ordered_ms(self.opened_at).map(|b| !b));
                k[9..].copy_from_slice(&(!self.id).to_be_bytes());
            }
        }
        k
    }

    /// `status ‖ level ‖ unit`: the key of its count, without the kind byte.
    fn group(&self) -> Vec<u8> {
        [
            &[
                byte_of(&STATUSES, &self.status),
                byte_of(&LEVELS, &self.level),
            ][..],
            &unit_bytes(self.unit.as_deref()),
        ]
        .concat()
    }

    /// Its ordered keys in the list index: by status, and by level, unit and status.
    fn index_keys(&self) -> [Vec<u8>; 2] {
        let status = byte_of(&STATUSES, &self.status);
        let level = byte_of(&LEVELS, &self.level);
        let order = self.order();
        [
            [&[ORDER, status][..], &order].concat(),
            [
                &[FILTERED, level][..],
                &unit_bytes(self.unit.as_deref()),
                &[status],
                &order,
            ]
            .concat(),
        ]
    }

    /// Its key in the by-last-change range (the value is its row).
    fn updated_key(&self) -> Vec<u8> {
        [
            &[UPDATED][..],
            &ordered_ms(self.updated_at),
            &self.id.to_be_bytes(),
        ]
        .concat()
    }

    fn count_key(&self) -> Vec<u8> {
        [&[COUNT][..], &self.group()].concat()
    }
}

fn row_key(id: IncidentId) -> [u8; 9] {
    let mut k = [ROW; 9];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// The incident id at the end of an ordered key (`class ‖ order` is its last 17 bytes).
fn ordered_id(key: &[u8]) -> Option<IncidentId> {
    let tail = key.len().checked_sub(17).map(|at| &key[at..])?;
    let id = read_u64(tail, 9)?;
    Some(if tail[0] == UNDUE { !id } else { id })
}

/// Writes an incident's summary row and keeps its list keys and counts in step with
/// it, inside the incident's transaction.
pub(super) fn put_summary(tree: &TransactionalTree, new: &IncidentSummary) -> TxResult<()> {
    let row = new.to_bytes();
    let old = tree
        .insert(&row_key(new.id), row.as_slice())?
        .and_then(|v| IncidentSummary::from_bytes(&v));
    if old.as_ref() == Some(new) {
        return Ok(());
    }
    let updated = new.updated_key();
    if let Some(old) = old.as_ref().map(IncidentSummary::updated_key) {
        if old != updated {
            tree.remove(old)?;
        }
    }
    tree.insert(updated, row)?;
    let keys = new.index_keys();
    let old_keys = old.as_ref().map(IncidentSummary::index_keys);
    for k in old_keys.iter().flatten().filter(|k| !keys.contains(k)) {
        tree.remove(k.as_slice())?;
    }
    for k in keys
        .iter()
        .filter(|k| !old_keys.as_ref().is_some_and(|old| old.contains(k)))
    {
        tree.insert(k.as_slice(), &[])?;
    }
    let count = new.count_key();
    let old_count = old.as_ref().map(IncidentSummary::count_key);
    if old_count.as_ref() != Some(&count) {
        if let Some(old_count) = old_count {
            add_count(tree, &old_count, false)?;
        }
        add_count(tree, &count, true)?;
    }
    Ok(())
}

/// One more (or one fewer) incident in a count; a count of 0 is removed.
fn add_count(tree: &TransactionalTree, key: &[u8], more: bool) -> TxResult<()> {
    let n = tree.get(key)?.and_then(|v| read_u64(&v, 0)).unwrap_or(0);
    let n = if more { n + 1 } else { n.saturating_sub(1) };
    if n == 0 {
        tree.remove(key)?;
    } else {
        tree.insert(key, &n.to_be_bytes())?;
    }
    Ok(())
}

/// Which incidents `list` (and `export --since`) returns; see the module docs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    /// Include finished incidents (closed, dismissed, merged).
    pub all: bool,
    pub status: Option<Status>,
    pub level: Option<Level>,
    pub unit: Option<String>,
    /// Changed (`updated_at`) at or after this time, to the millisecond.
    pub since: Option<Timestamp>,
    /// At most this many, in list order.
    pub limit: Option<usize>,
}

impl ListFilter {
    pub fn matches(&self, row: &IncidentSummary) -> bool {
        self.status_ok(row.status)
            && self.level.is_none_or(|level| row.level == level)
            && self
                .unit
                .as_deref()
                .is_none_or(|unit| row.unit.as_deref() == Some(unit))
            && self.since.is_none_or(|since| row.updated_at >= since)
    }

    fn status_ok(&self, status: Status) -> bool {
        match self.status {
            Some(wanted) => status == wanted,
            None => self.all || status.is_open(),
        }
    }

    /// Whether a count's `status ‖ level ‖ unit` is one this filter lists (all but
    /// `since`).
    fn group_matches(&self, group: &[u8]) -> bool {
        let (Some(status), Some(level)) = (
            group.first().and_then(|b| STATUSES.get(usize::from(*b))),
            group.get(1).and_then(|b| LEVELS.get(usize::from(*b))),
        ) else {
            return false;
        };
        self.status_ok(*status)
            && self.level.is_none_or(|wanted| wanted == *level)
            && self
                .unit
                .as_deref()
                .is_none_or(|unit| group[2..] == unit_bytes(Some(unit)))
    }
}

/// The list order; see the module docs.
pub fn list_order(a: &IncidentSummary, b: &IncidentSummary) -> Ordering {
    match (a.next_due, b.next_due) {
        (Some(x), Some(y)) => x.cmp(&y).then(a.id.cmp(&b.id)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => b.opened_at.cmp(&a.opened_at).then(b.id.cmp(&a.id)),
    }
}

/// One page of a list: the ids in list order, and how many matched in all.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    pub ids: Vec<IncidentId>,
    pub total: usize,
}

/// Applies `filter` to summary rows: the page's ids in order, and the match count.
pub fn page(rows: impl IntoIterator<Item = IncidentSummary>, filter: &ListFilter) -> ListPage {
    let mut matched: Vec<IncidentSummary> =
        rows.into_iter().filter(|r| filter.matches(r)).collect();
    let total = matched.len();
    let limit = filter.limit.unwrap_or(usize::MAX);
    if limit < total {
        matched.select_nth_unstable_by(limit, list_order);
        matched.truncate(limit);
    }
    matched.sort_by(list_order);
    ListPage {
        ids: matched.into_iter().map(|r| r.id).collect(),
        total,
    }
}

/// An open incident grouping may join an item to: what its rule needs, read from the
/// grouping index's range alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: IncidentId,
    /// The time of its latest item.
    pub last_item_at: Timestamp,
    /// Its key terms.
    pub terms: Vec<String>,
}

/// `topic \0 place \0` (the empty place for an incident that names none).
fn when_prefix(topic: &str, place: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(topic.len() + place.len() + 18);
    k.extend_from_slice(topic.as_bytes());
    k.push(0);
    k.extend_from_slice(place.as_bytes());
    k.push(0);
    k
}

fn millis(at: Timestamp) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap_or(0)
}

fn when_key(topic: &str, place: &str, at: Timestamp, id: IncidentId) -> Vec<u8> {
    let mut k = when_prefix(topic, place);
    k.extend_from_slice(&millis(at).to_be_bytes());
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The places an index row is filed under: its places, or the empty place.
fn places_of(places: &[String]) -> impl Iterator<Item = &str> {
    let none: &[&str] = if places.is_empty() { &[""] } else { &[] };
    places
        .iter()
        .map(String::as_str)
        .chain(none.iter().copied())
}

/// The `incident_open_when` keys of an open incident's row.
pub(super) fn when_keys(topic: &str, row: &OpenIndexRow) -> Vec<Vec<u8>> {
    places_of(&row.places)
        .map(|place| when_key(topic, place, row.last_item_at, row.id))
        .collect()
}

/// The value of each of those keys: `seconds i64 ‖ nanoseconds u32` of the latest
/// item, then each key term as `len u32 ‖ UTF-8`.
pub(super) fn when_value(row: &OpenIndexRow) -> Vec<u8> {
    let mut v = Vec::with_capacity(12 + row.terms.iter().map(|t| 4 + t.len()).sum::<usize>());
    v.extend_from_slice(&row.last_item_at.timestamp().to_be_bytes());
    v.extend_from_slice(&row.last_item_at.timestamp_subsec_nanos().to_be_bytes());
    for term in &row.terms {
        let len = u32::try_from(term.len()).unwrap_or(u32::MAX);
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(term.as_bytes());
    }
    v
}

impl Candidate {
    /// Reads a grouping index entry; `None` when it is not one.
    fn read(key: &[u8], value: &[u8]) -> Option<Candidate> {
        let id = read_u64(key, key.len().checked_sub(8)?)?;
        let secs = read_i64(value, 0)?;
        let nanos = u32::from_be_bytes(value.get(8..12)?.try_into().ok()?);
        let mut terms = Vec::new();
        let mut rest = value.get(12..)?;
        while !rest.is_empty() {
            let len = usize::try_from(u32::from_be_bytes(rest.get(..4)?.try_into().ok()?)).ok()?;
            let term = rest.get(4..4 + len)?;
            terms.push(std::str::from_utf8(term).ok()?.to_string());
            rest = &rest[4 + len..];
        }
        Some(Candidate {
            id,
            last_item_at: chrono::DateTime::from_timestamp(secs, nanos)?,
            terms,
        })
    }
}

/// The first byte of the response-match records in `incident_summary` (module docs).
const MATCH: u8 = b'l';
const TERM_COUNT: u8 = b't';
/// The key of how many incidents the response-match index holds.
const MATCH_COUNT: &[u8] = b"n";

/// What response matching (`crate::respond::same_event` and its term weights) needs
/// to know about an open incident, read from the response-match index.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchRow {
    pub id: IncidentId,
    pub event_at: Timestamp,
    /// The later of its last change and its event time.
    pub latest: Timestamp,
    pub places: Vec<String>,
    pub topics: Vec<String>,
    pub terms: Vec<String>,
}

fn put_time(v: &mut Vec<u8>, at: Timestamp) {
    v.extend_from_slice(&at.timestamp().to_be_bytes());
    v.extend_from_slice(&at.timestamp_subsec_nanos().to_be_bytes());
}

fn put_strings(v: &mut Vec<u8>, list: &[String]) {
    v.extend_from_slice(&u32::try_from(list.len()).unwrap_or(u32::MAX).to_be_bytes());
    for s in list {
        v.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
        v.extend_from_slice(s.as_bytes());
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn read_time(bytes: &[u8], at: &mut usize) -> Option<Timestamp> {
    let secs = read_i64(bytes, *at)?;
    let nanos = read_u32(bytes, *at + 8)?;
    *at += 12;
    chrono::DateTime::from_timestamp(secs, nanos)
}

fn read_strings(bytes: &[u8], at: &mut usize) -> Option<Vec<String>> {
    let n = usize::try_from(read_u32(bytes, *at)?).ok()?;
    *at += 4;
    let mut list = Vec::with_capacity(n.min(256));
    for _ in 0..n {
        let len = usize::try_from(read_u32(bytes, *at)?).ok()?;
        let s = bytes.get(*at + 4..*at + 4 + len)?;
        list.push(std::str::from_utf8(s).ok()?.to_string());
        *at += 4 + len;
    }
    Some(list)
}

impl MatchRow {
    /// The row of an open incident.
    pub fn of(incident: &Incident) -> MatchRow {
        MatchRow {
            id: incident.id,
            event_at: incident.event_at,
            latest: incident.updated_at.max(incident.event_at),
            places: incident.places.clone(),
            topics: incident.topics.clone(),
            terms: incident.terms.clone(),
        }
    }

    /// Its keys, `l ‖ place \0 ‖ ordered latest ms ‖ id`, one for each place it is
    /// filed under: within a place, byte order is the order of `latest`.
    fn keys(&self) -> Vec<Vec<u8>> {
        let latest = ordered_ms(self.latest);
        places_of(&self.places)
            .map(|place| match_key(place, &latest, self.id))
            .collect()
    }

    /// `event_at ‖ latest` (seconds i64 ‖ nanoseconds u32 each), then places, topics
    /// and terms, each a count u32 and every string as `len u32 ‖ UTF-8`.
    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(64);
        put_time(&mut v, self.event_at);
        put_time(&mut v, self.latest);
        put_strings(&mut v, &self.places);
        put_strings(&mut v, &self.topics);
        put_strings(&mut v, &self.terms);
        v
    }

    fn from_bytes(id: IncidentId, bytes: &[u8]) -> Option<MatchRow> {
        let mut at = 0;
        let event_at = read_time(bytes, &mut at)?;
        let latest = read_time(bytes, &mut at)?;
        let places = read_strings(bytes, &mut at)?;
        let topics = read_strings(bytes, &mut at)?;
        let terms = read_strings(bytes, &mut at)?;
        (at == bytes.len()).then_some(MatchRow {
            id,
            event_at,
            latest,
            places,
            topics,
            terms,
        })
    }

    /// Its distinct terms: what the document frequencies count.
    fn distinct_terms(&self) -> BTreeSet<&str> {
        self.terms.iter().map(String::as_str).collect()
    }
}

/// `l ‖ place \0`: the start of a place's range of the response-match index.
fn match_prefix(place: &str) -> Vec<u8> {
    [&[MATCH][..], place.as_bytes(), &[0]].concat()
}

fn match_key(place: &str, ordered_latest: &[u8; 8], id: IncidentId) -> Vec<u8> {
    [&match_prefix(place), &ordered_latest[..], &id.to_be_bytes()].concat()
}

fn term_count_key(term: &str) -> Vec<u8> {
    [&[TERM_COUNT][..], term.as_bytes()].concat()
}

/// Writes an incident's response-match row (`new`; `None`: it is not open, or not in
/// the grouping index) in place of `old`, the row it had (from its stored record,
/// [`MatchRow::of_record`]), and keeps the document frequencies and the count exact:
/// one more for each term it gains, one fewer for each it loses. No index row is read,
/// so a damaged one never stops a write (the write replaces it).
pub(super) fn put_match(
    tree: &TransactionalTree,
    old: Option<&MatchRow>,
    new: Option<&MatchRow>,
) -> TxResult<()> {
    if old == new {
        return Ok(());
    }
    let new_keys = new.map(MatchRow::keys).unwrap_or_default();
    for key in old.iter().flat_map(|row| row.keys()) {
        if !new_keys.contains(&key) {
            tree.remove(key)?;
        }
    }
    if let Some(row) = new {
        let value = row.to_bytes();
        for key in new_keys {
            tree.insert(key, value.as_slice())?;
        }
    }
    let old_terms = old.map(MatchRow::distinct_terms).unwrap_or_default();
    let new_terms = new.map(MatchRow::distinct_terms).unwrap_or_default();
    for term in old_terms.difference(&new_terms) {
        add_count(tree, &term_count_key(term), false)?;
    }
    for term in new_terms.difference(&old_terms) {
        add_count(tree, &term_count_key(term), true)?;
    }
    if old.is_some() != new.is_some() {
        add_count(tree, MATCH_COUNT, new.is_some())?;
    }
    Ok(())
}

/// Puts `row` (incident `id`'s response-match row from its record, `None` when it is
/// not in the index) under `key`, a key of that incident whose value did not decode,
/// if `key` is one of the row's; else removes `key` (stale). The counts are left as
/// they are: they follow the incident's record, which this does not change. A value
/// that decodes by now (repaired meanwhile) is returned as it is.
pub(super) fn repair_match(
    tree: &TransactionalTree,
    id: IncidentId,
    key: &[u8],
    row: Option<MatchRow>,
) -> TxResult<Option<MatchRow>> {
    let current = tree.get(key)?;
    if let Some(stored) = current.and_then(|v| MatchRow::from_bytes(id, &v)) {
        return Ok(Some(stored));
    }
    match row.filter(|row| row.keys().iter().any(|k| k == key)) {
        Some(row) => {
            tree.insert(key, row.to_bytes())?;
            Ok(Some(row))
        }
        None => {
            tree.remove(key)?;
            Ok(None)
        }
    }
}

/// The part of an incident's stored record its response-match row is made of; the
/// rest of the record is skipped, not decoded.
#[derive(serde::Deserialize)]
struct MatchFields {
    id: IncidentId,
    status: Status,
    topics: Vec<String>,
    places: Vec<String>,
    event_at: Timestamp,
    updated_at: Timestamp,
    terms: Vec<String>,
}

impl MatchRow {
    /// The row of an incident as its stored record (JSON) gives it: what was written to
    /// the index with that record when it had a grouping row; `None` when the record
    /// is of a finished incident.
    /// The first topic of a stored record (the topic its grouping row is kept under).
    pub(super) fn first_topic_of_record(record: &[u8]) -> serde_json::Result<String> {
        let f: MatchFields = serde_json::from_slice(record)?;
        Ok(f.topics.into_iter().next().unwrap_or_default())
    }

    pub(super) fn of_record(record: &[u8]) -> serde_json::Result<Option<MatchRow>> {
        let f: MatchFields = serde_json::from_slice(record)?;
        Ok(f.status.is_open().then(|| MatchRow {
            id: f.id,
            event_at: f.event_at,
            latest: f.updated_at.max(f.event_at),
            places: f.places,
            topics: f.topics,
            terms: f.terms,
        }))
    }
}

impl Store {
    fn unreadable(&self, what: String) -> StoreError {
        StoreError::Unreadable {
            path: self.path.clone(),
            what,
        }
    }

    /// The counts `filter` lists (all but `since`): their total and their groups
    /// (`status ‖ level ‖ unit`).
    fn counted_groups(&self, filter: &ListFilter) -> Result<(usize, Vec<Vec<u8>>)> {
        let mut total = 0usize;
        let mut groups = Vec::new();
        for entry in self.ledger.summary_tree().scan_prefix([COUNT]) {
            let (key, value) = entry?;
            let group = &key[1..];
            if filter.group_matches(group) {
                let n = read_u64(&value, 0)
                    .ok_or_else(|| self.unreadable("事件计数索引的一行无法解析".into()))?;
                total = total.saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
                groups.push(group.to_vec());
            }
        }
        Ok((total, groups))
    }

    /// The ids of the incidents `filter` lists, in list order, and how many matched.
    /// Without `since`: the match count from the counts, the page by merging the
    /// ordered ranges of the matching groups, reading no more keys than the page
    /// holds (plus one per range). With `since`: the rows changed since then, read
    /// by the `u` range, filtered and ordered in memory.
    pub fn list_incidents(&self, filter: &ListFilter) -> Result<ListPage> {
        if let Some(since) = filter.since {
            // Rows keep whole milliseconds: `since` is compared at that resolution.
            let since = since
                .with_nanosecond(since.timestamp_subsec_millis() * 1_000_000)
                .unwrap_or(since);
            let start = [&[UPDATED][..], &ordered_ms(since)].concat();
            let mut rows = Vec::new();
            for value in self
                .ledger
                .summary_tree()
                .range(start..[UPDATED + 1].to_vec())
                .values()
            {
                let value = value?;
                rows.push(
                    IncidentSummary::from_bytes(&value)
                        .ok_or_else(|| self.unreadable("事件变更时间索引的一行无法解析".into()))?,
                );
            }
            let filter = ListFilter {
                since: Some(since),
                ..filter.clone()
            };
            return Ok(page(rows, &filter));
        }
        let (total, groups) = self.counted_groups(filter)?;
        // Without a level or unit filter the per-status ranges suffice.
        let prefixes: BTreeSet<Vec<u8>> = groups
            .iter()
            .map(|g| {
                if filter.level.is_none() && filter.unit.is_none() {
                    vec![ORDER, g[0]]
                } else {
                    [&[FILTERED], &g[1..], &g[..1]].concat()
                }
            })
            .collect();
        let limit = filter.limit.unwrap_or(usize::MAX).min(total);
        let mut ids = Vec::with_capacity(limit.min(10_000));
        for class in [DUE, UNDUE] {
            let ranges = prefixes.iter().map(|p| [p.as_slice(), &[class]].concat());
            self.merge_ranges(ranges, limit, &mut ids)?;
        }
        Ok(ListPage { ids, total })
    }

    /// Appends to `ids`, until it holds `limit`, the ids of the keys under `prefixes`
    /// in the byte order of their `class ‖ order` tails (a k-way merge).
    fn merge_ranges(
        &self,
        prefixes: impl Iterator<Item = Vec<u8>>,
        limit: usize,
        ids: &mut Vec<IncidentId>,
    ) -> Result<()> {
        if ids.len() >= limit {
            return Ok(());
        }
        let tree = self.ledger.summary_tree();
        let mut ranges: Vec<sled::Iter> = prefixes.map(|p| tree.scan_prefix(p)).collect();
        let mut heads = BinaryHeap::new();
        let advance = |ranges: &mut [sled::Iter], heads: &mut BinaryHeap<_>, i: usize| {
            if let Some(entry) = ranges[i].next() {
                let key = entry?.0;
                let tail = key.len().checked_sub(17).map(|at| key[at..].to_vec());
                let tail =
                    tail.ok_or_else(|| self.unreadable("事件列表索引的一行无法解析".into()))?;
                heads.push(Reverse((tail, i)));
            }
            Ok::<_, StoreError>(())
        };
        for i in 0..ranges.len() {
            advance(&mut ranges, &mut heads, i)?;
        }
        while ids.len() < limit {
            let Some(Reverse((tail, i))) = heads.pop() else {
                break;
            };
            ids.extend(ordered_id(&tail));
            advance(&mut ranges, &mut heads, i)?;
        }
        Ok(())
    }

    /// The open incidents response matching may admit for a candidate at `at` with
    /// `places`: those filed under one of its places (or, with none, under no place:
    /// grouping's place rule) whose latest time (last change or event time, the later)
    /// is at or after `at - window`, the rule's own bound (`crate::respond::same_event`),
    /// read by key ranges and ordered by id. The rest of the rule is the caller's.
    pub fn response_candidates(
        &self,
        places: &[String],
        at: Timestamp,
        window: chrono::Duration,
    ) -> Result<Vec<MatchRow>> {
        let from = at.checked_sub_signed(window).map_or([0; 8], ordered_ms);
        let mut found = BTreeMap::new();
        let mut damaged = Vec::new();
        for place in places_of(places) {
            let prefix = match_prefix(place);
            let start = [prefix.as_slice(), &from].concat();
            let mut end = prefix;
            // The prefix ends in `\0`: with `\x01` instead, it bounds the place's range.
            end.pop();
            end.push(1);
            for entry in self.ledger.summary_tree().range(start..end) {
                let (key, value) = entry?;
                let id = read_u64(&key, key.len().saturating_sub(8))
                    .ok_or_else(|| self.unreadable("回应匹配索引的一行无法解析".into()))?;
                match MatchRow::from_bytes(id, &value) {
                    Some(row) => {
                        found.entry(row.id).or_insert(row);
                    }
                    None => damaged.push((id, key)),
                }
            }
        }
        for (id, key) in damaged {
            if let Some(row) = self.repair_match_row(id, &key)? {
                found.entry(row.id).or_insert(row);
            }
        }
        Ok(found.into_values().collect())
    }

    /// Rebuilds a response-match row that does not decode from its incident's record
    /// (in a transaction of its own, [`LedgerTx::repair_match_row`]) and logs it: the
    /// row the key should hold, or the key removed when it is not one of the
    /// incident's. Returns the row. Only when the record itself does not decode is
    /// this an error.
    ///
    /// [`LedgerTx::repair_match_row`]: super::LedgerTx::repair_match_row
    fn repair_match_row(&self, id: IncidentId, key: &[u8]) -> Result<Option<MatchRow>> {
        let repaired = self.ledger_tx(|tx| {
            tx.repair_match_row(id, key)
                .map_err(super::Abort::<StoreError>::from)
        });
        match &repaired {
            Ok(row) => tracing::error!(
                incident = id,
                rebuilt = row.is_some(),
                "a response-match index row did not decode: rebuilt from the incident's record (removed if the incident is not in the index); nothing else was changed"
            ),
            Err(e) => tracing::error!(
                incident = id,
                error = %e,
                "a response-match index row did not decode and the incident's record does not either: responses in its places cannot be matched until the record is restored (docs/operations.md, \"Backup and restore\")"
            ),
        }
        repaired
    }

    /// How many incidents the response-match index holds (the open ones), and for each
    /// of `terms` how many of them have it among their key terms: the document
    /// frequencies of `crate::respond::TermWeights`, without reading an incident.
    pub fn open_term_counts<'t>(
        &self,
        terms: impl IntoIterator<Item = &'t str>,
    ) -> Result<(usize, Vec<(&'t str, usize)>)> {
        let tree = self.ledger.summary_tree();
        let count = |key: &[u8]| -> Result<usize> {
            Ok(tree
                .get(key)?
                .and_then(|v| read_u64(&v, 0))
                .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)))
        };
        let incidents = count(MATCH_COUNT)?;
        let mut counts = Vec::new();
        for term in terms {
            counts.push((term, count(&term_count_key(term))?));
        }
        Ok((incidents, counts))
    }

    /// How many incidents are open (from the counts; no row is read).
    pub fn open_incident_count(&self) -> Result<usize> {
        Ok(self.counted_groups(&ListFilter::default())?.0)
    }

    /// The open incidents of `topic` filed under one of `places` (or, with none, under
    /// no place) whose latest item is within `window` of `at`: a superset of those
    /// grouping's rule can match (see `crate::ledger`), read by key range. The places
    /// are grouping's place rule: the same candidates as a place shared, or neither
    /// naming one.
    pub fn open_candidates(
        &self,
        topic: &str,
        places: &[String],
        at: Timestamp,
        window: chrono::Duration,
    ) -> Result<Vec<Candidate>> {
        let from = at
            .checked_sub_signed(window)
            .map_or(0, millis)
            .to_be_bytes();
        let to = at
            .checked_add_signed(window)
            .map_or(u64::MAX, millis)
            .to_be_bytes();
        let mut found = BTreeMap::new();
        for place in places_of(places) {
            let prefix = when_prefix(topic, place);
            let start = [prefix.as_slice(), &from].concat();
            let end = [prefix.as_slice(), &to, &[0xff; 8]].concat();
            for entry in self.ledger.when_tree().range(start..=end) {
                let (key, value) = entry?;
                let candidate = Candidate::read(&key, &value)
                    .ok_or_else(|| self.unreadable("事件归并索引的一行无法解析".into()))?;
                found.entry(candidate.id).or_insert(candidate);
            }
        }
        Ok(found.into_values().collect())
    }

    /// Builds the indexes of a database written before them, or before their current
    /// layout (a no-op once built). Returns how many incidents were indexed.
    pub(super) fn ensure_ledger_indexes(&self) -> Result<usize> {
        let built = self
            .meta
            .get(INDEX_VERSION_KEY)?
            .is_some_and(|v| v.as_ref() >= INDEX_VERSION.to_be_bytes().as_slice());
        if built {
            return Ok(0);
        }
        let summary = self.ledger.summary_tree();
        let when = self.ledger.when_tree();
        summary.clear()?;
        when.clear()?;
        let mut counts: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut count = 0;
        for incident in self.incidents() {
            let row = IncidentSummary::of(&incident?);
            summary.insert(row_key(row.id), row.to_bytes())?;
            summary.insert(row.updated_key(), row.to_bytes())?;
            for k in row.index_keys() {
                summary.insert(k, &[])?;
            }
            *counts.entry(row.count_key()).or_default() += 1;
            count += 1;
        }
        for (k, n) in counts {
            summary.insert(k, &n.to_be_bytes())?;
        }
        let mut terms: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut matched_count = 0u64;
        for entry in self.ledger.open_tree().iter() {
            let (key, value) = entry?;
            let row: OpenIndexRow = decode(&value, || "open index row".to_string())?;
            let topic_end = key.iter().position(|b| *b == 0).unwrap_or(0);
            let topic = String::from_utf8_lossy(&key[..topic_end]);
            let value = when_value(&row);
            for k in when_keys(&topic, &row) {
                when.insert(k, value.as_slice())?;
            }
            if let Some(incident) = self.incident(row.id)?.filter(|i| i.status.is_open()) {
                let matched = MatchRow::of(&incident);
                let value = matched.to_bytes();
                for k in matched.keys() {
                    summary.insert(k, value.as_slice())?;
                }
                for term in matched.distinct_terms() {
                    *terms.entry(term_count_key(term)).or_default() += 1;
                }
                matched_count += 1;
            }
        }
        for (k, n) in terms {
            summary.insert(k, &n.to_be_bytes())?;
        }
        if matched_count > 0 {
            summary.insert(MATCH_COUNT, &matched_count.to_be_bytes())?;
        }
        self.meta
            .insert(INDEX_VERSION_KEY, &INDEX_VERSION.to_be_bytes())?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn row(id: IncidentId, status: Status, due: Option<&str>, opened: &str) -> IncidentSummary {
        IncidentSummary {
            id,
            status,
            level: Level::IV,
            unit: None,
            opened_at: t(opened),
            updated_at: t(opened),
            next_due: due.map(t),
        }
    }

    /// Every status and level, with and without unit and deadline, reads back as
    /// written; a row that is not one is refused, not misread.
    #[test]
    fn summary_rows_round_trip() {
        for (status, level) in STATUSES.iter().zip(LEVELS.iter().cycle()) {
            for unit in [None, Some("县应急管理局".to_string()), Some(String::new())] {
                for due in [None, Some(t("2026-11-25T01:02:03.456Z"))] {
                    let row = IncidentSummary {
                        id: u64::MAX - 3,
                        status: *status,
                        level: *level,
                        unit: unit.clone(),
                        opened_at: t("2026-11-23T00:00:00.001Z"),
                        updated_at: t("2026-11-24T08:00:00Z"),
                        next_due: due,
                    };
                    let bytes = row.to_bytes();
                    assert_eq!(IncidentSummary::from_bytes(&bytes), Some(row));
                    assert_eq!(IncidentSummary::from_bytes(&bytes[..FIXED - 1]), None);
                }
            }
        }
        for level in LEVELS {
            let row = IncidentSummary {
                level,
                ..row(1, Status::New, None, "2026-11-23T00:00:00Z")
            };
            assert_eq!(IncidentSummary::from_bytes(&row.to_bytes()), Some(row));
        }
        let mut bad = row(1, Status::New, None, "2026-11-23T00:00:00Z").to_bytes();
        bad[8] = 99;
        assert_eq!(IncidentSummary::from_bytes(&bad), None, "unknown status");
    }

    #[test]
    fn filters_follow_the_rule() {
        let base = IncidentSummary {
            level: Level::II,
            unit: Some("县应急管理局".into()),
            updated_at: t("2026-11-24T08:00:00Z"),
            ..row(1, Status::Acknowledged, None, "2026-11-23T00:00:00Z")
        };
        let closed = IncidentSummary {
            status: Status::Closed,
            ..base.clone()
        };
        let unit = |u: &str| Some(u.to_string());
        // (filter, open row listed, closed row listed)
        let table = [
            (ListFilter::default(), true, false),
            (
                ListFilter {
                    all: true,
                    ..Default::default()
                },
                true,
                true,
            ),
            (
                ListFilter {
                    status: Some(Status::Closed),
                    ..Default::default()
                },
                false,
                true,
            ),
            (
                ListFilter {
                    status: Some(Status::Acknowledged),
                    all: true,
                    ..Default::default()
                },
                true,
                false,
            ),
            (
                ListFilter {
                    level: Some(Level::II),
                    ..Default::default()
                },
                true,
                false,
            ),
            (
                ListFilter {
                    level: Some(Level::I),
                    all: true,
                    ..Default::default()
                },
                false,
                false,
            ),
            (
                ListFilter {
                    unit: unit("县应急管理局"),
                    ..Default::default()
                },
                true,
                false,
            ),
            (
                ListFilter {
                    unit: unit("县公安局"),
                    all: true,
                    ..Default::default()
                },
                false,
                false,
            ),
            (
                ListFilter {
                    since: Some(t("2026-11-24T08:00:00Z")),
                    ..Default::default()
                },
                true,
                false,
            ),
            (
                ListFilter {
                    since: Some(t("2026-11-24T08:00:01Z")),
                    all: true,
                    ..Default::default()
                },
                false,
                false,
            ),
        ];
        for (filter, open, finished) in table {
            assert_eq!(filter.matches(&base), open, "{filter:?} on the open row");
            assert_eq!(
                filter.matches(&closed),
                finished,
                "{filter:?} on the closed row"
            );
        }
    }

    #[test]
    fn pages_keep_the_list_order_and_count_every_match() {
        let rows = vec![
            row(1, Status::New, None, "2026-11-20T00:00:00Z"),
            row(
                2,
                Status::New,
                Some("2026-11-25T00:00:00Z"),
                "2026-11-21T00:00:00Z",
            ),
            row(3, Status::New, None, "2026-11-22T00:00:00Z"),
            row(
                4,
                Status::New,
                Some("2026-11-24T00:00:00Z"),
                "2026-11-19T00:00:00Z",
            ),
            row(5, Status::Closed, None, "2026-11-23T00:00:00Z"),
            row(
                6,
                Status::New,
                Some("2026-11-24T00:00:00Z"),
                "2026-11-19T00:00:00Z",
            ),
        ];
        let all = page(rows.clone(), &ListFilter::default());
        assert_eq!(
            all,
            ListPage {
                ids: vec![4, 6, 2, 3, 1],
                total: 5
            }
        );
        for limit in 0..=6 {
            let filter = ListFilter {
                limit: Some(limit),
                ..Default::default()
            };
            let got = page(rows.clone(), &filter);
            assert_eq!(got.total, 5);
            assert_eq!(got.ids, all.ids[..limit.min(5)], "limit {limit}");
        }
        let finished = ListFilter {
            all: true,
            ..Default::default()
        };
        assert_eq!(page(rows, &finished).ids, [4, 6, 2, 5, 3, 1]);
    }

    #[test]
    fn window_keys_sort_by_time_within_topic_and_place() {
        let open = |id, places: &[&str], at| OpenIndexRow {
            id,
            places: places.iter().map(|p| p.to_string()).collect(),
            terms: Vec::new(),
            last_item_at: t(at),
            source_times: Vec::new(),
            severity: Level::IV,
        };
        let a = when_keys(
            "安全生产",
            &open(9, &["景芝镇", "安丘市"], "2026-11-24T00:00:00Z"),
        );
        assert_eq!(a.len(), 2, "one key per place");
        assert!(a[0].starts_with("安全生产\0景芝镇\0".as_bytes()));
        let none = when_keys("安全生产", &open(2, &[], "2026-11-24T00:00:00Z"));
        assert_eq!(
            none,
            [when_key("安全生产", "", t("2026-11-24T00:00:00Z"), 2)]
        );
        let earlier = when_key("安全生产", "景芝镇", t("2026-11-23T23:59:59.999Z"), 99);
        assert!(earlier < a[0], "time orders before id");
    }

    /// `since` is compared to the millisecond the rows keep: an incident changed at
    /// exactly `since` is listed, one changed a millisecond before is not.
    #[test]
    fn since_selects_at_millisecond_resolution() {
        let store = Store::temporary().unwrap();
        let mut incident = crate::api::views::tests::incident(3, "化工厂爆炸");
        incident.updated_at = t("2026-11-24T08:00:00.123456789Z");
        store
            .ledger_tx(|tx| {
                Ok::<_, super::super::Abort<StoreError>>(tx.put_incident(&incident, None)?)
            })
            .unwrap();
        let since = |at: &str| {
            let filter = ListFilter {
                since: Some(t(at)),
                ..Default::default()
            };
            store.list_incidents(&filter).unwrap().ids
        };
        assert_eq!(since("2026-11-24T08:00:00.123456789Z"), [3]);
        assert_eq!(since("2026-11-24T08:00:00.123999Z"), [3]);
        assert!(since("2026-11-24T08:00:00.124Z").is_empty());
    }

    /// A grouping index entry gives back the time (to the nanosecond) and the terms it
    /// was written with; a damaged one is refused, not misread.
    #[test]
    fn candidates_read_back_from_the_grouping_index() {
        let row = OpenIndexRow {
            id: 42,
            places: vec!["景芝镇".into()],
            terms: vec!["化工厂".into(), String::new(), "爆炸".into()],
            last_item_at: t("2026-11-24T00:00:00.123456789Z"),
            source_times: Vec::new(),
            severity: Level::III,
        };
        let key = &when_keys("安全生产", &row)[0];
        let value = when_value(&row);
        let expected = Candidate {
            id: 42,
            last_item_at: row.last_item_at,
            terms: row.terms.clone(),
        };
        assert_eq!(Candidate::read(key, &value), Some(expected));
        assert_eq!(Candidate::read(key, &value[..value.len() - 1]), None);
        assert_eq!(Candidate::read(key, &value[..11]), None);
    }

    /// A random incident: status, level, unit, opening time (ties on purpose), last
    /// change and next deadline (or none) drawn from small sets.
    fn random_incident(rng: &mut rand::rngs::StdRng, id: IncidentId) -> Incident {
        use rand::Rng;
        let minutes = |n: i64| chrono::Duration::minutes(n);
        let base = t("2026-11-01T00:00:00Z");
        let mut incident = crate::api::views::tests::incident(id, "随机事件");
        incident.status = STATUSES[rng.random_range(0..STATUSES.len())];
        incident.level = LEVELS[rng.random_range(0..LEVELS.len())];
        incident.unit = UNITS[rng.random_range(0..UNITS.len())].map(str::to_string);
        incident.opened_at = base + minutes(rng.random_range(0..30));
        incident.updated_at = incident.opened_at + minutes(rng.random_range(0..300));
        incident.merged_into = (incident.status == Status::Merged).then_some(1);
        let due = base + minutes(rng.random_range(0..40));
        for deadline in &mut incident.deadlines {
            deadline.due_at = due;
            if rng.random_bool(0.3) {
                deadline.met_at = Some(due);
            }
        }
        incident
    }

    const UNITS: [Option<&str>; 5] = [
        None,
        Some("县应急管理局"),
        Some("县公安局"),
        Some(""),
        Some("县卫健委"),
    ];

    fn random_filter(rng: &mut rand::rngs::StdRng) -> ListFilter {
        use rand::Rng;
        let units = [UNITS[1], UNITS[2], UNITS[3], Some("县教育局")];
        ListFilter {
            all: rng.random_bool(0.5),
            status: rng
                .random_bool(0.3)
                .then(|| STATUSES[rng.random_range(0..STATUSES.len())]),
            level: rng
                .random_bool(0.3)
                .then(|| LEVELS[rng.random_range(0..LEVELS.len())]),
            unit: rng
                .random_bool(0.3)
                .then(|| units[rng.random_range(0..units.len())].map(str::to_string))
                .flatten(),
            since: rng.random_bool(0.25).then(|| {
                t("2026-11-01T00:00:00Z") + chrono::Duration::minutes(rng.random_range(0..330))
            }),
            limit: [None, Some(0), Some(1), Some(7), Some(100), Some(10_000)]
                [rng.random_range(0..6)],
        }
    }

    /// The list index (ordered keys merged, counts) answers every filter exactly as
    /// the full-scan reference (`page` over every incident's row) does: on a random
    /// ledger, after random changes (closing, merging, reopening, new levels, units
    /// and deadlines), and after the index is rebuilt at open.
    #[test]
    fn list_index_agrees_with_a_full_scan() {
        use rand::{Rng, SeedableRng};
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(16);
        let mut ledger: BTreeMap<IncidentId, Incident> = BTreeMap::new();
        let check = |store: &Store, ledger: &BTreeMap<IncidentId, Incident>, rng: &mut _| {
            let rows: Vec<IncidentSummary> = ledger.values().map(IncidentSummary::of).collect();
            for _ in 0..80 {
                let filter = random_filter(rng);
                let got = store.list_incidents(&filter).unwrap();
                assert_eq!(got, page(rows.clone(), &filter), "{filter:?}");
            }
            let open = rows.iter().filter(|r| r.status.is_open()).count();
            assert_eq!(store.open_incident_count().unwrap(), open);
        };
        let put = |store: &Store, incident: &Incident| {
            store
                .ledger_tx(|tx| {
                    Ok::<_, super::super::Abort<StoreError>>(tx.put_incident(incident, None)?)
                })
                .unwrap();
        };
        {
            let store = Store::open(dir.path()).unwrap();
            for id in 1..=300 {
                let incident = random_incident(&mut rng, id);
                put(&store, &incident);
                ledger.insert(id, incident);
            }
            check(&store, &ledger, &mut rng);
            for _ in 0..400 {
                let id = rng.random_range(1..=300);
                let changed = random_incident(&mut rng, id);
                let incident = ledger.get_mut(&id).unwrap();
                incident.updated_at = changed.updated_at;
                match rng.random_range(0..4) {
                    0 => incident.status = changed.status,
                    1 => incident.level = changed.level,
                    2 => incident.unit = changed.unit,
                    _ => *incident = changed,
                }
                put(&store, incident);
            }
            check(&store, &ledger, &mut rng);
            store.meta.remove(INDEX_VERSION_KEY).unwrap();
            store.flush_blocking().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        check(&store, &ledger, &mut rng);
    }

    /// A database written before the indexes (or with them lost) gets them at open.
    #[test]
    fn indexes_are_rebuilt_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let incident = crate::api::views::tests::incident(7, "景芝镇化工厂爆炸");
        let row = OpenIndexRow {
            id: 7,
            places: incident.places.clone(),
            terms: Vec::new(),
            last_item_at: t("2026-11-24T02:00:00Z"),
            source_times: Vec::new(),
            severity: Level::II,
        };
        let topic = incident.topics.first().cloned().unwrap_or_default();
        let find = |store: &Store| {
            let page = store.list_incidents(&ListFilter::default()).unwrap();
            let near = store
                .open_candidates(
                    &topic,
                    &row.places,
                    t("2026-11-25T00:00:00Z"),
                    chrono::Duration::hours(72),
                )
                .unwrap();
            (page.ids, near.iter().map(|r| r.id).collect::<Vec<_>>())
        };
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .ledger_tx(|tx| {
                    Ok::<_, super::super::Abort<super::super::StoreError>>(
                        tx.put_incident(&incident, Some(&row))?,
                    )
                })
                .unwrap();
            assert_eq!(find(&store), (vec![7], vec![7]));
            let far = store
                .open_candidates(
                    &topic,
                    &row.places,
                    t("2026-12-24T00:00:00Z"),
                    chrono::Duration::hours(72),
                )
                .unwrap();
            assert!(far.is_empty(), "outside the window");
            store.ledger.summary_tree().clear().unwrap();
            store.ledger.when_tree().clear().unwrap();
            assert_eq!(store.open_incident_count().unwrap(), 0);
            store.meta.remove(INDEX_VERSION_KEY).unwrap();
            assert_eq!(find(&store), (vec![], vec![]));
            store.flush_blocking().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(find(&store), (vec![7], vec![7]));
    }

    /// An incident for the response-match test: its primary topic fixed by its id (it
    /// never changes while the incident is open), the rest random; with `true` when
    /// it is written with a grouping row.
    fn random_matched(rng: &mut rand::rngs::StdRng, id: IncidentId) -> (Incident, bool) {
        use rand::Rng;
        const PLACES: [&str; 3] = ["景芝镇", "石埠子镇", "安丘市"];
        let mut incident = random_incident(rng, id);
        incident.topics = vec![["accident", "health", "safety"][id as usize % 3].to_string()];
        if rng.random_bool(0.5) {
            incident.topics.push("work_safety".into());
        }
        incident.places = PLACES
            .iter()
            .filter(|_| rng.random_bool(0.4))
            .map(|p| p.to_string())
            .collect();
        // A term may repeat: it counts once per incident.
        incident.terms = (0..rng.random_range(0..6))
            .map(|_| MATCH_VOCABULARY[rng.random_range(0..7)].to_string())
            .collect();
        incident.event_at =
            incident.opened_at - chrono::Duration::minutes(rng.random_range(0..600));
        (incident, rng.random_bool(0.85))
    }

    /// The last term is never given to an incident.
    const MATCH_VOCABULARY: [&str; 8] = [
        "化工厂",
        "爆炸",
        "景芝镇",
        "救援",
        "学生",
        "",
        "起火",
        "无人有",
    ];

    /// Response matching before the index: every open incident (a grouping row and an
    /// open status), the rows from the rule's time bound on, and the term weights of
    /// `TermWeights::new` over all of them; the index and its counts must give the same.
    fn check_match_index(store: &Store, ledger: &BTreeMap<IncidentId, (Incident, bool)>) {
        use crate::respond::TermWeights;
        let open: Vec<&Incident> = ledger
            .values()
            .filter(|(i, row)| *row && i.status.is_open())
            .map(|(i, _)| i)
            .collect();
        let window = chrono::Duration::hours(3);
        let places: [&[&str]; 4] = [&[], &["景芝镇"], &["石埠子镇", "安丘市"], &["别处"]];
        for hours in [-1000, 0, 2, 5, 9, 1000] {
            let at = t("2026-11-01T00:00:00Z") + chrono::Duration::hours(hours);
            for places in places {
                let places: Vec<String> = places.iter().map(|p| p.to_string()).collect();
                let expected: Vec<MatchRow> = open
                    .iter()
                    .filter(|i| i.updated_at.max(i.event_at) >= at - window)
                    .filter(|i| crate::ledger::places_match(&places, &i.places))
                    .map(|i| MatchRow::of(i))
                    .collect();
                let got = store.response_candidates(&places, at, window).unwrap();
                assert_eq!(got, expected, "{places:?} at {at}");
            }
        }
        let scanned = TermWeights::new(open.iter().map(|i| i.terms.as_slice()));
        let (incidents, counts) = store.open_term_counts(MATCH_VOCABULARY).unwrap();
        assert_eq!(incidents, open.len());
        let kept = TermWeights::from_counts(incidents, counts);
        for term in MATCH_VOCABULARY {
            assert_eq!(kept.weight(term), scanned.weight(term), "{term}");
        }
    }

    fn put_matched(store: &Store, (incident, row): &(Incident, bool)) {
        let row = row.then(|| OpenIndexRow {
            id: incident.id,
            places: incident.places.clone(),
            terms: incident.terms.clone(),
            last_item_at: incident.updated_at,
            source_times: Vec::new(),
            severity: Level::IV,
        });
        store
            .ledger_tx(|tx| {
                Ok::<_, super::super::Abort<StoreError>>(tx.put_incident(incident, row.as_ref())?)
            })
            .unwrap();
    }

    /// The response-match index and its counts agree with the full scan (above) on a
    /// random ledger after each of 300 random changes (status, terms, places, times,
    /// the grouping row removed or added, a transaction that fails after writing),
    /// across a restart half-way, and after the index is rebuilt at open.
    #[test]
    fn response_match_index_agrees_with_a_full_scan() {
        use rand::{Rng, SeedableRng};
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1616);
        let mut ledger: BTreeMap<IncidentId, (Incident, bool)> = BTreeMap::new();
        let mut store = Store::open(dir.path()).unwrap();
        for id in 1..=120 {
            let incident = random_matched(&mut rng, id);
            put_matched(&store, &incident);
            ledger.insert(id, incident);
        }
        check_match_index(&store, &ledger);
        for step in 0..300 {
            let id = rng.random_range(1..=120);
            if step % 25 == 0 {
                let mut lost = ledger[&id].0.clone();
                lost.terms = vec!["无人有".into()];
                lost.status = Status::Closed;
                let failed = store.ledger_tx(|tx| {
                    tx.put_incident(&lost, None)?;
                    Err::<(), _>(super::super::Abort::Refused(StoreError::Missing(
                        "aborted on purpose".into(),
                    )))
                });
                assert!(failed.is_err());
                check_match_index(&store, &ledger);
            }
            let (changed, changed_row) = random_matched(&mut rng, id);
            let (incident, row) = ledger.get_mut(&id).unwrap();
            incident.updated_at = changed.updated_at;
            match rng.random_range(0..6) {
                0 => incident.status = changed.status,
                1 => incident.terms = changed.terms,
                2 => incident.places = changed.places,
                3 => incident.event_at = changed.event_at,
                4 => *row = changed_row,
                _ => (*incident, *row) = (changed, changed_row),
            }
            put_matched(&store, &ledger[&id]);
            check_match_index(&store, &ledger);
            if step == 150 {
                store.flush_blocking().unwrap();
                drop(store);
                store = Store::open(dir.path()).unwrap();
                check_match_index(&store, &ledger);
            }
        }
        store.meta.remove(INDEX_VERSION_KEY).unwrap();
        store.ledger.summary_tree().clear().unwrap();
        store.flush_blocking().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        check_match_index(&store, &ledger);
    }

    /// An incident without topics that takes a first topic (an item that joins it, an
    /// incident merged into it) has its grouping row, time keys and match rows replaced,
    /// not left under the old topic with its terms counted twice.
    #[test]
    fn an_incident_taking_its_first_topic_leaves_no_rows_behind() {
        use rand::SeedableRng;
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let store = Store::open(dir.path()).unwrap();
        let mut ledger: BTreeMap<IncidentId, (Incident, bool)> = BTreeMap::new();
        let (mut incident, _) = random_matched(&mut rng, 1);
        incident.topics.clear();
        incident.terms = vec!["化工厂".into(), "爆炸".into()];
        incident.places = vec!["景芝镇".into()];
        ledger.insert(1, (incident.clone(), true));
        put_matched(&store, &ledger[&1]);
        check_match_index(&store, &ledger);
        let rows = |store: &Store| {
            (
                store.ledger.open_tree().len(),
                store.ledger.when_tree().len(),
            )
        };
        let before = rows(&store);
        incident.topics = vec!["accident".into()];
        incident.updated_at += chrono::Duration::hours(1);
        ledger.insert(1, (incident, true));
        put_matched(&store, &ledger[&1]);
        check_match_index(&store, &ledger);
        assert_eq!(rows(&store), before, "the rows moved to the new topic");
    }

    /// The incident keys of the response-match index (`l ‖ place \0 ‖ latest ‖ id`)
    /// of incident `id`, as stored.
    fn match_keys_of(store: &Store, id: IncidentId) -> Vec<sled::IVec> {
        store
            .ledger
            .summary_tree()
            .scan_prefix([MATCH])
            .keys()
            .map(Result::unwrap)
            .filter(|k| k.ends_with(&id.to_be_bytes()))
            .collect()
    }

    /// A response-match row that does not decode (the store's bytes overwritten) is
    /// rebuilt from the incident's record when a candidate reads it, a stale key of
    /// that kind is removed, a write to the incident is not stopped by it, and the
    /// candidates, weights and counts stay those of the full scan; the incidents'
    /// records are untouched.
    #[test]
    fn damaged_response_match_rows_are_rebuilt_and_stop_no_write() {
        use rand::{Rng, SeedableRng};
        let store = Store::temporary().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1617);
        let mut ledger: BTreeMap<IncidentId, (Incident, bool)> = BTreeMap::new();
        for id in 1..=60 {
            let mut incident = random_matched(&mut rng, id);
            incident.0.status = Status::New;
            incident.1 = true;
            put_matched(&store, &incident);
            ledger.insert(id, incident);
        }
        let records = |store: &Store| -> Vec<Incident> {
            store.incidents().map(Result::unwrap).collect::<Vec<_>>()
        };
        let before = records(&store);
        let summary = store.ledger.summary_tree();
        let damaged: Vec<IncidentId> = (1..=60).filter(|id| id % 7 == 0).collect();
        for id in &damaged {
            let keys = match_keys_of(&store, *id);
            assert!(!keys.is_empty());
            for key in keys {
                summary.insert(key, b"\xff garbage".as_slice()).unwrap();
            }
        }
        // A stale key of incident 3 (a place it does not name), damaged too.
        let stale = match_key("别处镇", &ordered_ms(t("2026-11-01T00:00:00Z")), 3);
        summary.insert(&stale, b"\x00".as_slice()).unwrap();
        check_match_index(&store, &ledger);
        for id in &damaged {
            for key in match_keys_of(&store, *id) {
                let value = summary.get(&key).unwrap().unwrap();
                assert!(MatchRow::from_bytes(*id, &value).is_some(), "{id} rebuilt");
            }
        }
        let places = ["别处镇".to_string()];
        let far_back = t("2026-11-01T00:00:00Z");
        let window = chrono::Duration::days(30);
        assert!(
            store
                .response_candidates(&places, far_back, window)
                .unwrap()
                .is_empty()
        );
        assert_eq!(summary.get(&stale).unwrap(), None, "stale key removed");
        assert_eq!(records(&store), before, "no record changed");
        // Damaged again, then written: the write replaces the rows and keeps the counts.
        for id in &damaged {
            for key in match_keys_of(&store, *id) {
                summary.insert(key, b"\xff".as_slice()).unwrap();
            }
            let (changed, _) = random_matched(&mut rng, *id);
            let (incident, _) = ledger.get_mut(id).unwrap();
            incident.terms = changed.terms;
            incident.updated_at = changed.updated_at;
            if rng.random_bool(0.5) {
                incident.status = Status::Closed;
            }
            put_matched(&store, &ledger[id]);
        }
        check_match_index(&store, &ledger);
    }

    /// A format 5 database (index version 4: every row also under `m ‖ id`) opened by
    /// this build: the index is rebuilt without those rows, the format recorded as 6,
    /// and the candidates and counts are those of the full scan; an open that stopped
    /// half-way through the rebuild (the index version not yet written) is finished at
    /// the next one.
    #[test]
    fn format_5_match_index_is_upgraded_at_open() {
        use rand::SeedableRng;
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1618);
        let mut ledger: BTreeMap<IncidentId, (Incident, bool)> = BTreeMap::new();
        let rev_keys = |store: &Store| store.ledger.summary_tree().scan_prefix(b"m").count();
        {
            let store = Store::open(dir.path()).unwrap();
            for id in 1..=80 {
                let incident = random_matched(&mut rng, id);
                put_matched(&store, &incident);
                if incident.1 && incident.0.status.is_open() {
                    // Format 5 kept each row under `m ‖ id` as well.
                    let row = MatchRow::of(&incident.0);
                    let mut key = vec![b'm'];
                    key.extend_from_slice(&id.to_be_bytes());
                    store
                        .ledger
                        .summary_tree()
                        .insert(key, row.to_bytes())
                        .unwrap();
                }
                ledger.insert(id, incident);
            }
            assert!(rev_keys(&store) > 0);
            store
                .meta
                .insert(INDEX_VERSION_KEY, &4u32.to_be_bytes())
                .unwrap();
            store
                .meta
                .insert(super::super::FORMAT_KEY, &5u32.to_be_bytes())
                .unwrap();
            store.flush_blocking().unwrap();
        }
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.upgraded_from(), Some(5));
            assert_eq!(rev_keys(&store), 0, "no row under the id is left");
            check_match_index(&store, &ledger);
            // As if the open had stopped in the rebuild: version not written, the
            // summary tree half cleared.
            store.meta.remove(INDEX_VERSION_KEY).unwrap();
            let summary = store.ledger.summary_tree();
            let keys: Vec<sled::IVec> = summary.iter().keys().map(Result::unwrap).collect();
            for key in keys.iter().step_by(2) {
                summary.remove(key).unwrap();
            }
            store.flush_blocking().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.upgraded_from(), None);
        check_match_index(&store, &ledger);
        let format = store.meta.get(super::super::FORMAT_KEY).unwrap().unwrap();
        assert_eq!(format.as_ref(), super::super::FORMAT_VERSION.to_be_bytes());
    }
}
