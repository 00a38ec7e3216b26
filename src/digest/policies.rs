//! The digest's 文件时限 section: per document clock (政策解读 …, `crate::policies`), over
//! every document tracked so far: how many started, were met on time, met late, are
//! pending, and are overdue now, with the overdue documents listed. Documents found
//! already past their window at their source's first poll (backfilled) are left out.
//! Without any tracked document the section is left out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;
use crate::policies::{DocumentState, TrackedDocument};

/// One document clock's row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentClockRow {
    /// The clock's Chinese name (政策解读 …).
    pub name: String,
    pub started: u32,
    pub met_on_time: u32,
    pub met_late: u32,
    pub pending: u32,
    pub overdue: u32,
    /// The overdue documents, earliest due first.
    pub overdue_documents: Vec<OverdueDocument>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverdueDocument {
    /// The source's display name.
    pub source: String,
    pub title: String,
    pub doc_no: Option<String>,
    pub url: Option<String>,
    pub due_at: Timestamp,
}

/// The section over `docs` at `now`, one row per clock in `clocks` order (id, name)
/// that has documents.
pub fn summarize(
    docs: &[TrackedDocument],
    clocks: &[(String, String)],
    source_name: impl Fn(&str) -> String,
    now: Timestamp,
) -> Vec<DocumentClockRow> {
    let mut by_clock: BTreeMap<&str, Vec<&TrackedDocument>> = BTreeMap::new();
    for doc in docs {
        if doc.state(now) != DocumentState::Backfilled {
            by_clock.entry(doc.clock.as_str()).or_default().push(doc);
        }
    }
    let name = |id: &str| {
        clocks
            .iter()
            .find(|(clock, _)| clock == id)
            .map_or_else(|| id.to_string(), |(_, name)| name.clone())
    };
    let mut rows: Vec<(usize, DocumentClockRow)> = by_clock
        .into_iter()
        .map(|(id, docs)| {
            let mut row = DocumentClockRow {
                name: name(id),
                started: u32::try_from(docs.len()).unwrap_or(u32::MAX),
                ..DocumentClockRow::default()
            };
            for doc in docs {
                match doc.state(now) {
                    DocumentState::Met if doc.on_time() == Some(true) => row.met_on_time += 1,
                    DocumentState::Met => row.met_late += 1,
                    DocumentState::Pending => row.pending += 1,
                    DocumentState::Overdue => {
                        row.overdue += 1;
                        row.overdue_documents.push(OverdueDocument {
                            source: source_name(&doc.source),
                            title: doc.title.clone(),
                            doc_no: doc.doc_no.clone(),
                            url: doc.url.clone(),
                            due_at: doc.due_at,
                        });
                    }
                    DocumentState::Backfilled => {}
                }
            }
            row.overdue_documents.sort_by_key(|d| d.due_at);
            let order = clocks
                .iter()
                .position(|(clock, _)| clock == id)
                .unwrap_or(usize::MAX);
            (order, row)
        })
        .collect();
    rows.sort_by_key(|(order, _)| *order);
    rows.into_iter().map(|(_, row)| row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn doc(
        clock: &str,
        key: &str,
        due: &str,
        met: Option<&str>,
        backfilled: bool,
    ) -> TrackedDocument {
        TrackedDocument {
            clock: clock.into(),
            source: "policy".into(),
            key: key.into(),
            title: format!("文件{key}"),
            url: None,
            doc_no: None,
            published_at: at("2026-06-01T00:00:00Z"),
            due_at: at(due),
            backfilled,
            met_at: met.map(at),
            met_by: None,
        }
    }

    #[test]
    fn rows_per_clock_count_late_answers_as_late_and_leave_backfilled_out() {
        let now = at("2026-06-20T00:00:00Z");
        let docs = [
            doc(
                "interpretation",
                "1",
                "2026-06-04T00:00:00Z",
                Some("2026-06-03T00:00:00Z"),
                false,
            ),
            doc(
                "interpretation",
                "2",
                "2026-06-04T00:00:00Z",
                Some("2026-06-05T00:00:00Z"),
                false,
            ),
            doc("interpretation", "3", "2026-06-08T00:00:00Z", None, false),
            doc("interpretation", "4", "2026-06-06T00:00:00Z", None, false),
            doc("interpretation", "5", "2026-06-30T00:00:00Z", None, false),
            doc("interpretation", "6", "2026-05-01T00:00:00Z", None, true),
            doc("consultation", "7", "2026-06-30T00:00:00Z", None, false),
        ];
        let clocks = [
            ("interpretation".to_string(), "政策解读".to_string()),
            ("consultation".to_string(), "意见征集情况".to_string()),
        ];
        let rows = summarize(&docs, &clocks, |id| format!("源{id}"), now);
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!(r.name, "政策解读");
        assert_eq!(
            (r.started, r.met_on_time, r.met_late, r.pending, r.overdue),
            (5, 1, 1, 1, 2)
        );
        let titles: Vec<&str> = r
            .overdue_documents
            .iter()
            .map(|d| d.title.as_str())
            .collect();
        assert_eq!(titles, ["文件4", "文件3"]);
        assert_eq!(r.overdue_documents[0].source, "源policy");
        assert_eq!(
            (rows[1].name.as_str(), rows[1].pending),
            ("意见征集情况", 1)
        );
        assert!(summarize(&docs[5..6], &clocks, |id| id.to_string(), now).is_empty());
    }
}
