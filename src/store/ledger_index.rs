//! The ledger's two read indexes, written in the same transaction as the incident
//! (see [`super::LedgerTx::put_incident`]) and rebuilt when a database written
//! before them is opened ([`Store::ensure_ledger_indexes`]).
//!
//! - `incident_summary`: `id` → [`IncidentSummary`], the few fields `list`, `export
//!   --since` and `status` filter, count and order by, so they decode one small row
//!   per incident and the full record only for the page they return.
//! - `incident_open_when`: `topic \0 place \0 last_item_ms ‖ id` → empty, one key per
//!   place of an open incident (the empty place when it names none). Grouping reads
//!   the candidates of an item by a range over its topic, each of its places and its
//!   time window, so the cost of matching is flat in the number of open incidents.
//!
//! ## The list rule (pure, [`ListFilter::matches`] and [`list_order`])
//! An incident is listed when all given filters hold: `status` equal (without
//! `status`, only open incidents unless `all`), `level` equal, `unit` equal,
//! `updated_at` at or after `since`. Order: open incidents with an unmet deadline
//! first, soonest first (then by id); then the rest, newest opened first (then by id,
//! larger first). `limit` keeps the first N of that order.

use std::cmp::Ordering;

use super::incidents::OpenIndexRow;
use super::{Result, Store, StoreError, decode};
use crate::model::{Incident, IncidentId, Level, Status, Timestamp};

/// The meta key of the index layout version; absent in databases written before it.
const INDEX_VERSION_KEY: &[u8] = b"ledger_index_version";
/// 1: summary rows as JSON; 2: summary rows fixed-width ([`IncidentSummary::to_bytes`]).
const INDEX_VERSION: u32 = 2;

/// The `incident_summary` row of an incident, stored fixed-width
/// ([`IncidentSummary::to_bytes`]): reading 50,000 rows parses no text.
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
const STATUSES: [Status; 6] = [
    Status::New,
    Status::Acknowledged,
    Status::Responded,
    Status::Closed,
    Status::Dismissed,
    Status::Merged,
];
const LEVELS: [Level; 5] = [Level::I, Level::II, Level::III, Level::IV, Level::Watch];

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
            id: u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?),
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
}

/// Which incidents `list` (and `export --since`) returns; see the module docs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    /// Include finished incidents (closed, dismissed, merged).
    pub all: bool,
    pub status: Option<Status>,
    pub level: Option<Level>,
    pub unit: Option<String>,
    /// Changed (`updated_at`) at or after this time.
    pub since: Option<Timestamp>,
    /// At most this many, in list order.
    pub limit: Option<usize>,
}

impl ListFilter {
    pub fn matches(&self, row: &IncidentSummary) -> bool {
        let status_ok = match self.status {
            Some(status) => row.status == status,
            None => self.all || row.status.is_open(),
        };
        status_ok
            && self.level.is_none_or(|level| row.level == level)
            && self
                .unit
                .as_deref()
                .is_none_or(|unit| row.unit.as_deref() == Some(unit))
            && self.since.is_none_or(|since| row.updated_at >= since)
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

pub(super) fn summary_key(id: IncidentId) -> [u8; 8] {
    id.to_be_bytes()
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

impl Store {
    /// Every incident's summary row, by id.
    pub fn incident_summaries(&self) -> Result<Vec<IncidentSummary>> {
        self.ledger
            .summary_tree()
            .iter()
            .values()
            .map(|v| {
                let v = v?;
                IncidentSummary::from_bytes(&v).ok_or_else(|| StoreError::Unreadable {
                    path: self.path.clone(),
                    what: format!("事件摘要索引的一行无法解析（{} 字节）", v.len()),
                })
            })
            .collect()
    }

    /// The ids of the incidents `filter` lists, in list order, and how many matched.
    pub fn list_incidents(&self, filter: &ListFilter) -> Result<ListPage> {
        Ok(page(self.incident_summaries()?, filter))
    }

    /// How many incidents are open (from the match index; no incident is decoded).
    pub fn open_incident_count(&self) -> usize {
        self.ledger.open_tree().iter().keys().count()
    }

    /// The open incidents of `topic` filed under one of `places` (or, with none, under
    /// no place) whose latest item is within `window` of `at`: a superset of those
    /// grouping's rule can match (see `crate::ledger`), read by key range.
    pub fn open_candidates(
        &self,
        topic: &str,
        places: &[String],
        at: Timestamp,
        window: chrono::Duration,
    ) -> Result<Vec<OpenIndexRow>> {
        let from = at
            .checked_sub_signed(window)
            .map_or(0, millis)
            .to_be_bytes();
        let to = at
            .checked_add_signed(window)
            .map_or(u64::MAX, millis)
            .to_be_bytes();
        let mut ids = std::collections::BTreeSet::new();
        for place in places_of(places) {
            let prefix = when_prefix(topic, place);
            let start = [prefix.as_slice(), &from].concat();
            let end = [prefix.as_slice(), &to, &[0xff; 8]].concat();
            for key in self.ledger.when_tree().range(start..=end).keys() {
                let key = key?;
                let tail = key.len().checked_sub(8).map(|start| &key[start..]);
                if let Some(id) = tail.and_then(|t| t.try_into().ok()).map(u64::from_be_bytes) {
                    ids.insert(id);
                }
            }
        }
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(row) = self.ledger.open_row_of(topic, id)? {
                rows.push(row);
            }
        }
        Ok(rows)
    }

    /// Builds the indexes of a database written before them (a no-op once built).
    /// Returns how many incidents were indexed.
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
        let mut count = 0;
        for incident in self.incidents() {
            let incident = incident?;
            summary.insert(
                summary_key(incident.id),
                IncidentSummary::of(&incident).to_bytes(),
            )?;
            count += 1;
        }
        for entry in self.ledger.open_tree().iter() {
            let (key, value) = entry?;
            let row: OpenIndexRow = decode(&value, || "open index row".to_string())?;
            let topic_end = key.iter().position(|b| *b == 0).unwrap_or(0);
            let topic = String::from_utf8_lossy(&key[..topic_end]);
            for k in when_keys(&topic, &row) {
                when.insert(k, &[])?;
            }
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
            store.meta.remove(INDEX_VERSION_KEY).unwrap();
            assert_eq!(find(&store), (vec![], vec![]));
            store.flush_blocking().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(find(&store), (vec![7], vec![7]));
    }
}
