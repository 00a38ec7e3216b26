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
//! A [`ReplyRecord`] holds one tracked board post (docs/replies.md): the post as
//! stored, the next step of its reply clock, and its notice keys (`reply/SOURCE/KEY/…`)
//! with what became of them, so a restored reply clock resumes and sends nothing twice.
//! A [`PolicyRecord`] does the same for one tracked document of a document clock
//! (docs/policies.md, keys `policy/CLOCK/SOURCE/KEY/…`).
//!
//! Not carried (documented in docs/operations.md): items that belong to no incident
//! (the seen set: they are read again and classified again, opening nothing new for
//! an incident that already holds them), source state (polling restarts on schedule),
//! the dead letters' bodies, digest and source notice keys.

use serde::{Deserialize, Serialize};

use super::changes::RecordKey;
use super::incidents::{ack_key, open_key, primary_topic};
use super::items::item_key;
use super::outbox::OutboxTx;
use super::{NoticeRecord, OpenIndexRow, OutboxRow, Result, Store, StoreError, decode};
use crate::model::NoticeKey;
use crate::model::{AuditEntry, Incident, IncidentId, Item, Milestone, Notice, Timestamp};
use crate::policies::TrackedDocument;
use crate::replies::TrackedPost;
use crate::store::incidents::{DueEntry, NEXT_ID};
use crate::store::tx::{Abort, TxResult};

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

/// One tracked board post, its reply clock and its notices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyRecord {
    pub post: TrackedPost,
    /// The next step of its reply clock while it runs: due instant and step.
    pub clock: Option<(Timestamp, u32)>,
    /// Every notice key of the post (`reply/SOURCE/KEY/…`).
    pub notices: Vec<NoticeState>,
}

/// One tracked document of a document clock, its clock and its notices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub document: TrackedDocument,
    /// The next step of its clock while it runs: due instant and step.
    pub clock: Option<(Timestamp, u32)>,
    /// Every notice key of the document (`policy/CLOCK/SOURCE/KEY/…`).
    pub notices: Vec<NoticeState>,
}

/// Writes notice keys with what became of them; a queued one is queued again with its
/// notice (a new queue number), the others are recorded so they are never queued again.
fn restore_notices(outbox: &OutboxTx<'_>, notices: &[NoticeState]) -> TxResult<()> {
    for notice in notices {
        match &notice.queued {
            Some(queued) => {
                outbox.enqueue(queued)?;
            }
            None => outbox.record(&notice.key, &notice.record)?,
        }
    }
    Ok(())
}

impl Store {
    /// The notice waiting in the outbox under queue number `seq`: one key read, so an
    /// export of many incidents does not read the whole outbox for each of them. An
    /// unreadable row is logged and treated as absent, as [`Store::outbox_page`] does.
    fn queued_notice(&self, seq: u64) -> Result<Option<Notice>> {
        let Some(value) = self.outbox.get(seq.to_be_bytes())? else {
            return Ok(None);
        };
        match decode::<OutboxRow>(&value, || format!("outbox row {seq}")) {
            Ok(row) => Ok(Some(row.notice)),
            Err(err) => {
                tracing::error!(seq, %err, "outbox row cannot be read; skipped");
                Ok(None)
            }
        }
    }

    /// A notice key's state, with its notice while it is queued.
    fn notice_state(&self, key: String, value: &[u8]) -> Result<NoticeState> {
        let record: NoticeRecord = decode(value, || format!("notice key {key}"))?;
        let queued = match record {
            NoticeRecord::Queued { seq, .. } => self.queued_notice(seq)?,
            _ => None,
        };
        Ok(NoticeState {
            key,
            record,
            queued,
        })
    }

    /// The notice keys under `prefix` that `ours` says belong to the record, in key order.
    fn notices_of(
        &self,
        prefix: &str,
        ours: impl Fn(&NoticeKey) -> bool,
    ) -> Result<Vec<NoticeState>> {
        let mut notices = Vec::new();
        for entry in self.notice_keys.scan_prefix(prefix) {
            let (k, v) = entry?;
            let key = String::from_utf8_lossy(&k).into_owned();
            if key.parse().is_ok_and(|parsed| ours(&parsed)) {
                notices.push(self.notice_state(key, &v)?);
            }
        }
        Ok(notices)
    }

    /// The records of at most `limit` tracked board posts after post `after`
    /// (`(source, key)`; from the first with `None`), by source then key: a page of the
    /// export, each post with its clock and notices.
    pub fn reply_records(
        &self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<ReplyRecord>> {
        self.tracked_posts_after(after, limit)?
            .into_iter()
            .map(|post| self.reply_record(post))
            .collect()
    }

    /// The records of the tracked board posts `ids` ([`Store::changed_posts`]) that are
    /// still tracked: a page of an incremental export.
    pub fn reply_records_of(&self, ids: &[RecordKey]) -> Result<Vec<ReplyRecord>> {
        self.tracked_posts_of(ids)?
            .into_iter()
            .map(|post| self.reply_record(post))
            .collect()
    }

    /// A tracked post with its clock and notices.
    fn reply_record(&self, post: TrackedPost) -> Result<ReplyRecord> {
        let prefix = format!("reply/{}/{}/", post.source, post.key);
        let notices = self.notices_of(&prefix, |key| {
            matches!(key, NoticeKey::Reply { source, key, .. }
                if *source == post.source && *key == post.key)
        })?;
        Ok(ReplyRecord {
            clock: self.reply_clock(&post.source, &post.key)?,
            notices,
            post,
        })
    }

    /// The records of at most `limit` tracked documents after `after` (from the first
    /// with `None`), by clock, source, key: a page of the export.
    pub fn policy_records(
        &self,
        after: Option<&super::DocumentId>,
        limit: usize,
    ) -> Result<Vec<PolicyRecord>> {
        self.tracked_documents_after(after, limit)?
            .into_iter()
            .map(|document| self.policy_record(document))
            .collect()
    }

    /// The records of the tracked documents `ids` ([`Store::changed_documents`]) that
    /// are still tracked: a page of an incremental export.
    pub fn policy_records_of(&self, ids: &[RecordKey]) -> Result<Vec<PolicyRecord>> {
        self.tracked_documents_of(ids)?
            .into_iter()
            .map(|document| self.policy_record(document))
            .collect()
    }

    /// A tracked document with its clock and notices.
    fn policy_record(&self, document: TrackedDocument) -> Result<PolicyRecord> {
        let id = super::DocumentId::of(&document);
        let prefix = format!("policy/{}/{}/{}/", id.clock, id.source, id.key);
        let notices = self.notices_of(&prefix, |key| {
            matches!(key, NoticeKey::Document { clock, source, key, .. }
                if *clock == id.clock && *source == id.source && *key == id.key)
        })?;
        Ok(PolicyRecord {
            clock: self.document_clock(&id)?,
            notices,
            document,
        })
    }

    /// Writes one tracked document back: the document with its clock, then its notices
    /// in one transaction.
    pub fn restore_policy(&self, record: &PolicyRecord) -> Result<()> {
        self.put_tracked_document(&record.document, record.clock)?;
        self.with_outbox(|outbox| {
            restore_notices(outbox, &record.notices)?;
            Ok::<_, Abort<StoreError>>(())
        })
    }

    /// Writes one tracked post back: the post, its reply clock, then its notices in one
    /// transaction.
    pub fn restore_reply(&self, record: &ReplyRecord) -> Result<()> {
        let post = &record.post;
        self.put_tracked_post(post)?;
        self.schedule_reply(&post.source, &post.key, record.clock)?;
        self.with_outbox(|outbox| {
            restore_notices(outbox, &record.notices)?;
            Ok::<_, Abort<StoreError>>(())
        })
    }

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
            .map(|v| decode::<OpenIndexRow>(&v, || format!("open index of incident {id}")))
            .transpose()?
            .map(|row| -> Result<OpenIndexRow> {
                Ok(OpenIndexRow {
                    source_times: self.source_times(id)?,
                    ..row
                })
            })
            .transpose()?;
        let mut notices = Vec::new();
        for entry in self.notice_keys.scan_prefix(format!("{id}/")) {
            let (k, v) = entry?;
            let key = String::from_utf8_lossy(&k).into_owned();
            notices.push(self.notice_state(key, &v)?);
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

    /// Whether the ledger holds no incident, no audit entry, no tracked board post and
    /// no tracked document.
    pub fn ledger_is_empty(&self) -> Result<bool> {
        Ok(self.ledger.incidents.is_empty()
            && self.ledger.audit.is_empty()
            && self.tracked_post_count()? == 0
            && self.tracked_document_count()? == 0)
    }

    /// Removes the whole ledger (incidents, audit entries and their chain, clocks,
    /// indexes, 签收 records, the id counter; the tracked board posts and their reply
    /// clocks; the tracked documents and their clocks; their change index) and their notices (queued rows and keys), before `import --force`.
    /// Items, source state, digest and source notices stay.
    pub fn clear_ledger(&self) -> Result<()> {
        for tree in self.ledger.all().into_iter().chain([&self.audit_chain]) {
            tree.clear()?;
        }
        // The chain is empty now: the flusher must count it again, not keep its last count.
        self.audit_changed();
        self.clear_replies()?;
        self.clear_policies()?;
        self.tracked_changes.clear()?;
        for (seq, row) in self.outbox_page(None, usize::MAX)? {
            if ledger_scoped(&row.notice.key) {
                self.with_outbox(|tx| Ok::<_, Abort<StoreError>>(tx.remove_row(seq)?))?;
            }
        }
        for key in self.notice_keys.iter().keys() {
            let key = key?;
            if ledger_scoped(&String::from_utf8_lossy(&key)) {
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
            // The sources' first times (of the record's sources only, as the format 7
            // upgrade keeps them), then (at the event time) any the row lacks. The row
            // is stored without them: they are keys of their own (data format 7).
            if let Some(row) = &record.open_row {
                let known = row
                    .source_times
                    .iter()
                    .filter(|(s, _)| record.incident.sources.contains(s));
                tx.add_sources(id, known.cloned())?;
            }
            let stored = record.open_row.as_ref().map(|row| OpenIndexRow {
                source_times: Vec::new(),
                ..row.clone()
            });
            tx.put_incident(&record.incident, stored.as_ref())?;
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
            restore_notices(tx.outbox(), &record.notices)?;
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

/// Whether a notice key belongs to one incident (`<id>/…`), one board post (`reply/…`)
/// or one tracked document (`policy/…`).
fn ledger_scoped(key: &str) -> bool {
    key.starts_with("reply/")
        || key.starts_with("policy/")
        || key
            .split('/')
            .next()
            .is_some_and(|head| !head.is_empty() && head.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::views::tests::{at, incident};
    use crate::store::encode;
    use crate::store::outbox::tests::{notice, pending_keys};

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
        assert!(new.ledger_is_empty().unwrap());
        new.restore_record(&record).unwrap();
        assert!(!new.ledger_is_empty().unwrap());
        let restored = new.ledger_record(7).unwrap().unwrap();
        assert_eq!(comparable(restored), comparable(record));
        let report = new.verify_audit().unwrap();
        assert!(report.intact(), "{report}");
        assert_eq!(report.entries, 3);
        // The sent notice is known (never queued again), the queued one waits.
        assert!(!new.enqueue_notice(&notice("7/opened")).unwrap());
        assert_eq!(pending_keys(&new), ["7/statement/50"]);
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
        assert!(store.ledger_is_empty().unwrap());
        assert_eq!(store.due_len(), 0);
        assert!(store.notice_record("7/opened").unwrap().is_none());
        assert!(store.notice_record("digest/2026-11-24").unwrap().is_some());
        assert_eq!(pending_keys(&store), ["digest/2026-11-24"]);
        assert!(store.item("a", "1").unwrap().is_some(), "items stay");
        assert!(store.verify_audit().unwrap().intact());
        assert!(ledger_scoped("12/press/overdue/3"));
        assert!(!ledger_scoped("source/a/failing/1"));
        assert!(!ledger_scoped("dead/7/opened"));
    }

    /// Two tracked posts: one waiting with its 80 % reminder sent and its overdue notice
    /// queued, its clock at step 2; one answered, its clock stopped.
    fn replies() -> Store {
        let store = Store::temporary().unwrap();
        for (key, replied_at) in [("a/1", None), ("b", Some(at("2026-11-24T03:00:00Z")))] {
            store
                .put_tracked_post(&TrackedPost {
                    source: "board".into(),
                    key: key.into(),
                    title: "路灯不亮".into(),
                    url: None,
                    unit: Some("县住建局".into()),
                    posted_at: at("2026-11-20T02:00:00Z"),
                    due_at: at("2026-11-23T16:00:00Z"),
                    replied_at,
                    removed_at: None,
                })
                .unwrap();
        }
        store
            .schedule_reply("board", "a/1", Some((at("2026-11-24T17:00:00Z"), 2)))
            .unwrap();
        store.enqueue_notice(&notice("reply/board/a/1/80")).unwrap();
        let (seq, _) = store.outbox_pending(1).unwrap()[0].clone();
        store
            .outbox_mark_sent(seq, "reply/board/a/1/80", at("2026-11-23T04:00:00Z"))
            .unwrap();
        store
            .enqueue_notice(&notice("reply/board/a/1/overdue/1"))
            .unwrap();
        store.enqueue_notice(&notice("7/opened")).unwrap();
        store
    }

    #[test]
    fn reply_records_restore_posts_clocks_and_notices() {
        let old = replies();
        let records = old.reply_records(None, usize::MAX).unwrap();
        assert_eq!(records.len(), 2);
        let keys: Vec<_> = records[0].notices.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(
            keys,
            ["reply/board/a/1/80", "reply/board/a/1/overdue/1"],
            "a post's own notices, not an incident's"
        );
        assert_eq!(records[0].clock, Some((at("2026-11-24T17:00:00Z"), 2)));
        assert_eq!(records[1].clock, None);
        assert!(records[1].notices.is_empty());

        let text = serde_json::to_string(&records).unwrap();
        let records: Vec<ReplyRecord> = serde_json::from_str(&text).unwrap();
        let new = Store::temporary().unwrap();
        for record in &records {
            new.restore_reply(record).unwrap();
        }
        assert!(!new.ledger_is_empty().unwrap(), "tracked posts are ledger");
        let blank = |records: Vec<ReplyRecord>| {
            records
                .into_iter()
                .map(|mut r| {
                    for n in &mut r.notices {
                        if let NoticeRecord::Queued { seq, .. } = &mut n.record {
                            *seq = 0;
                        }
                    }
                    r
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            blank(new.reply_records(None, usize::MAX).unwrap()),
            blank(records)
        );
        assert_eq!(
            new.reply_due_first().unwrap(),
            Some(at("2026-11-24T17:00:00Z"))
        );
        assert!(
            !new.enqueue_notice(&notice("reply/board/a/1/80")).unwrap(),
            "a sent reminder is never queued again"
        );
        assert_eq!(pending_keys(&new), ["reply/board/a/1/overdue/1"]);

        // `import --force` clears the reply ledger with the incidents' one.
        new.clear_ledger().unwrap();
        assert!(new.ledger_is_empty().unwrap());
        assert_eq!(new.reply_due_first().unwrap(), None);
        assert!(new.notice_record("reply/board/a/1/80").unwrap().is_none());
        assert!(new.outbox_pending(10).unwrap().is_empty());
    }
}
