//! The ledger's own records, carried by `yuqing export` (JSONL, field `record`) and
//! written back by `yuqing import`: what a restore needs beyond the `show --json`
//! view, so that the rebuilt ledger is the same ledger.
//!
//! A [`LedgerRecord`] holds, for one incident: the stored incident (with its policy
//! snapshot and match terms), its items as stored (classification included, so they
//! are not classified or attached again), its audit entries (re-chained on import:
//! the chain, the heads and `audit.count` are rebuilt, so `verify` passes), the next
//! notice step of each running clock (due instant and step kept, so the clock
//! resumes where it was), the 签收 record, its match-index row while open, and every
//! notice key of the incident with what became of it (sent, dead, superseded, or
//! still queued with the notice itself), so nothing sent is sent again and nothing
//! queued is lost.
//!
//! Not carried (documented in docs/operations.md): items that belong to no incident
//! (the seen set: they are read again and classified again, opening nothing new for
//! an incident that already holds them), source state (polling restarts on schedule),
//! the dead letters' bodies, digest and source notice keys.

use serde::{Deserialize, Serialize};

use super::incidents::{ack_key, open_key, primary_topic};
use super::items::item_key;
use super::{NoticeRecord, OpenIndexRow, Result, Store, StoreError, decode, encode};
use crate::model::{AuditEntry, Incident, IncidentId, Item, Milestone, Notice, Timestamp};
use crate::store::incidents::{DueEntry, NEXT_ID};
use crate::store::tx::{Abort, TxError};

/// One incident and everything the ledger keeps about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerRecord {
    pub incident: Incident,
    /// Its items as stored, in the incident's order.
    pub items: Vec<Item>,
    /// Oldest first.
    pub audit: Vec<AuditEntry>,
    /// The next notice of each running clock.
    pub clocks: Vec<ClockRecord>,
    /// Who acknowledged it (签收), and when.
    pub ack: Option<(String, Timestamp)>,
    /// Its match-index row, while it is open.
    pub open_row: Option<OpenIndexRow>,
    /// Every notice key of the incident (`<id>/…`).
    pub notices: Vec<NoticeState>,
}

/// The next notice of one running clock: step `step` of `milestone`, due `at`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockRecord {
    pub milestone: Milestone,
    pub step: u32,
    pub at: Timestamp,
}

/// A notice key and what became of it; `queued` carries the notice while it waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeState {
    pub key: String,
    pub record: NoticeRecord,
    pub queued: Option<Notice>,
}

impl Store {
    /// The records of one incident, `None` if it does not exist.
    pub fn ledger_record(&self, id: IncidentId) -> Result<Option<LedgerRecord>> {
        let Some(incident) = self.incident(id)? else {
            return Ok(None);
        };
        let mut items = Vec::new();
        for r in &incident.items {
            items.extend(self.item(&r.source, &r.key)?);
        }
        let clocks = self
            .due_of(id)?
            .into_iter()
            .map(|d| ClockRecord {
                milestone: d.milestone,
                step: d.step,
                at: d.at,
            })
            .collect();
        let ack = self
            .ledger
            .meta
            .get(ack_key(id))?
            .map(|v| decode(&v, || format!("ack record of incident {id}")))
            .transpose()?;
        let open_row = self
            .ledger
            .open
            .get(open_key(primary_topic(&incident), id))?
            .map(|v| decode(&v, || format!("open index of incident {id}")))
            .transpose()?;
        let queued: std::collections::HashMap<u64, Notice> = self
            .outbox_page(None, usize::MAX)?
            .into_iter()
            .map(|(seq, row)| (seq, row.notice))
            .collect();
        let mut notices = Vec::new();
        for entry in self.notice_keys.scan_prefix(format!("{id}/")) {
            let (k, v) = entry?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let record: NoticeRecord = decode(&v, || format!("notice key {key}"))?;
            let queued = match record {
                NoticeRecord::Queued { seq, .. } => queued.get(&seq).cloned(),
                _ => None,
            };
            notices.push(NoticeState {
                key,
                record,
                queued,
            });
        }
        Ok(Some(LedgerRecord {
            audit: self.incident_audit(id)?,
            incident,
            items,
            clocks,
            ack,
            open_row,
            notices,
        }))
    }

    /// Whether the ledger holds no incident and no audit entry.
    pub fn ledger_is_empty(&self) -> bool {
        self.ledger.incidents.is_empty() && self.ledger.audit.is_empty()
    }

    /// Removes the whole ledger (incidents, audit entries and their chain, clocks,
    /// indexes, 签收 records, the id counter) and the incidents' notices (queued
    /// rows and keys), before `import --force`. Items, source state, digest and
    /// source notices stay.
    pub fn clear_ledger(&self) -> Result<()> {
        for tree in self.ledger.all().into_iter().chain([&self.audit_chain]) {
            tree.clear()?;
        }
        for (seq, row) in self.outbox_page(None, usize::MAX)? {
            if incident_scoped(&row.notice.key) {
                self.outbox.remove(seq.to_be_bytes())?;
            }
        }
        for key in self.notice_keys.iter().keys() {
            let key = key?;
            if incident_scoped(&String::from_utf8_lossy(&key)) {
                self.notice_keys.remove(key)?;
            }
        }
        Ok(())
    }

    /// Writes one incident's records into this ledger: its items, then in one
    /// transaction the incident, its attachments, audit entries (chained anew),
    /// clocks, 签收 record and notices; the id counter moves past its id.
    pub fn restore_record(&self, record: &LedgerRecord) -> Result<()> {
        let id = record.incident.id;
        let mut new_items = 0;
        for item in &record.items {
            let key = item_key(&item.source, &item.key);
            if self.put_restored_item(&key, item)? {
                new_items += 1;
            }
            // An item whose text changed after its last classification goes through
            // the pipeline again, as it would have.
            if item.classification.is_none() {
                self.items_pending.insert(&key, &[])?;
            }
        }
        self.count_new_items(new_items)?;
        self.ledger_tx(|tx| {
            tx.put_incident(&record.incident, record.open_row.as_ref())?;
            for item in &record.items {
                tx.attach(&item.source, &item.key, item.incident.unwrap_or(id))?;
            }
            for entry in &record.audit {
                tx.audit(entry)?;
            }
            for clock in &record.clocks {
                tx.schedule(DueEntry::new(clock.at, id, clock.milestone, clock.step))?;
            }
            if let Some((by, at)) = &record.ack {
                tx.set_ack_record(id, by, *at)?;
            }
            for notice in &record.notices {
                match &notice.queued {
                    Some(queued) => {
                        tx.outbox().enqueue(queued)?;
                    }
                    None => {
                        tx.outbox()
                            .keys
                            .insert(notice.key.as_bytes(), encode(&notice.record))
                            .map_err(TxError::from)?;
                    }
                }
            }
            Ok::<_, Abort<StoreError>>(())
        })?;
        let next = self
            .ledger
            .meta
            .get(NEXT_ID)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(1)
            .max(id + 1);
        self.ledger.meta.insert(NEXT_ID, &next.to_be_bytes())?;
        Ok(())
    }
}

/// Whether a notice key belongs to one incident (`<id>/…`).
fn incident_scoped(key: &str) -> bool {
    key.split('/')
        .next()
        .is_some_and(|head| !head.is_empty() && head.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::views::tests::{at, incident};
    use crate::store::outbox::tests::notice;

    /// Incident 7 with two items, three audit entries, a running clock, a 签收 record,
    /// one notice sent and one still queued; and a digest notice (not the incident's).
    fn ledger() -> Store {
        let store = Store::temporary().unwrap();
        let inc = incident(7, "安丘市景芝镇一化工厂发生爆炸");
        for r in &inc.items {
            let item = Item {
                source: r.source.clone(),
                key: r.key.clone(),
                title: inc.title.clone(),
                link: None,
                body: String::new(),
                published: None,
                date_quality: None,
                first_seen: inc.opened_at,
                updated_at: inc.opened_at,
                revisions: 0,
                classification: Some(Default::default()),
                incident: Some(7),
            };
            store
                .items
                .insert(item_key(&r.source, &r.key), encode(&item))
                .unwrap();
        }
        store
            .ledger_tx(|tx| {
                let row = OpenIndexRow {
                    id: 7,
                    places: inc.places.clone(),
                    terms: inc.terms.clone(),
                    last_item_at: inc.updated_at,
                    source_times: vec![("a".into(), inc.event_at)],
                    severity: inc.detected_level,
                };
                tx.put_incident(&inc, Some(&row))?;
                for action in ["opened", "item_added", "ack"] {
                    tx.audit(&AuditEntry {
                        incident: 7,
                        at: inc.opened_at,
                        by: "值班员".into(),
                        action: action.into(),
                        detail: "测试".into(),
                        reason: None,
                    })?;
                }
                tx.schedule(DueEntry::new(
                    at("2026-11-24T05:00:00Z"),
                    7,
                    Milestone::Statement,
                    2,
                ))?;
                tx.set_ack_record(7, "值班员", at("2026-11-24T02:10:00Z"))?;
                tx.outbox().enqueue(&notice("7/opened"))?;
                tx.outbox().enqueue(&notice("7/statement/50"))?;
                tx.outbox().enqueue(&notice("digest/2026-11-24"))?;
                Ok::<_, Abort<StoreError>>(())
            })
            .unwrap();
        let (seq, _) = store.outbox_pending(1).unwrap()[0].clone();
        store
            .outbox_mark_sent(seq, "7/opened", at("2026-11-24T02:01:00Z"))
            .unwrap();
        store
    }

    /// The record with queue numbers blanked (a restore queues anew).
    fn comparable(mut record: LedgerRecord) -> LedgerRecord {
        for n in &mut record.notices {
            if let NoticeRecord::Queued { seq, .. } = &mut n.record {
                *seq = 0;
            }
        }
        record
    }

    #[test]
    fn a_record_restores_into_an_empty_ledger_as_it_was() {
        let old = ledger();
        let record = old.ledger_record(7).unwrap().unwrap();
        assert_eq!(record.items.len(), 2);
        assert_eq!(record.audit.len(), 3);
        assert_eq!(record.clocks.len(), 1);
        assert_eq!(record.clocks[0].step, 2);
        assert!(record.open_row.is_some());
        let keys: Vec<_> = record.notices.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(
            keys,
            ["7/opened", "7/statement/50"],
            "the digest is not the incident's"
        );
        assert!(
            record.notices[1].queued.is_some(),
            "a queued notice travels with its mail"
        );

        // Through JSON, as the export carries it.
        let record: LedgerRecord =
            serde_json::from_str(&serde_json::to_string(&record).unwrap()).unwrap();
        let new = Store::temporary().unwrap();
        assert!(new.ledger_is_empty());
        new.restore_record(&record).unwrap();
        assert!(!new.ledger_is_empty());
        let restored = new.ledger_record(7).unwrap().unwrap();
        assert_eq!(comparable(restored), comparable(record));
        let report = new.verify_audit().unwrap();
        assert!(report.intact(), "{report}");
        assert_eq!(report.entries, 3);
        // The sent notice is known (never queued again), the queued one waits.
        assert!(!new.enqueue_notice(&notice("7/opened")).unwrap());
        let pending: Vec<_> = new
            .outbox_pending(10)
            .unwrap()
            .into_iter()
            .map(|(_, row)| row.notice.key)
            .collect();
        assert_eq!(pending, ["7/statement/50"]);
        assert_eq!(new.item("a", "1").unwrap().unwrap().incident, Some(7));
        assert_eq!(
            new.pending_count(),
            0,
            "classified items are not classified again"
        );
        // New incidents continue after the restored ids.
        let next = new
            .ledger_tx(|tx| Ok::<_, Abort<StoreError>>(tx.next_id()?))
            .unwrap();
        assert_eq!(next, 8);
    }

    #[test]
    fn clearing_removes_the_ledger_and_its_notices_only() {
        let store = ledger();
        store.clear_ledger().unwrap();
        assert!(store.ledger_is_empty());
        assert_eq!(store.due_len(), 0);
        assert!(store.notice_record("7/opened").unwrap().is_none());
        assert!(store.notice_record("digest/2026-11-24").unwrap().is_some());
        let pending: Vec<_> = store
            .outbox_pending(10)
            .unwrap()
            .into_iter()
            .map(|(_, row)| row.notice.key)
            .collect();
        assert_eq!(pending, ["digest/2026-11-24"]);
        assert!(store.item("a", "1").unwrap().is_some(), "items stay");
        assert!(store.verify_audit().unwrap().intact());
        assert!(incident_scoped("12/press/overdue/3"));
        assert!(!incident_scoped("source/a/failing/1"));
        assert!(!incident_scoped("dead/7/opened"));
    }
}
