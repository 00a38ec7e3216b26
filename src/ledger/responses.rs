//! The government's own responses in the ledger (issue 12): a recognised candidate
//! (`crate::respond`) is recorded as a response of the open incident about the same
//! event, meets the milestone it fulfils and tells duty and propaganda; an officer
//! confirms a suggestion (`auto_milestones = false`) or rejects a wrong match.
//!
//! - **Recorded** in one transaction with the item's attachment: response `N` (from 1,
//!   never reused), audited by `自动识别` with the link, notice `ID/responses/N`
//!   (duty, propaganda; none for a watch incident, which is recorded without mail).
//!   It never opens a second incident and queues no alarm.
//! - **Milestone**: the one `respond::milestone_for` names, met at the response's
//!   publication time (not before the event time); none for a 续报. With
//!   `[policy] auto_milestones = false` it is only suggested (`suggested`), met when
//!   an officer confirms it ([`Ledger::confirm_response`]).
//! - **Government first**: a statement about an event no open incident holds, when the
//!   item is flagged, opens an incident already answered: at its detected level,
//!   without the `opened` alarm, 签收 recorded by `自动识别`, its milestone met.
//! - **Unlink** ([`Ledger::unlink_response`]): the response is marked rejected (kept
//!   for the record), the milestone it met reopens and its clock runs again from where
//!   it stands now (a window already past sends its overdue notice), audited with the reason.

use std::collections::BTreeSet;

use super::audit::entry;
use super::grouping::distinct;
use super::lifecycle::{load_open, meet, meetable, record_ack, required};
use super::{Ledger, LedgerError};
use crate::model::{
    Incident, IncidentId, Item, ItemRef, Level, Milestone, Notice, NoticeKey, NoticeKind,
    RECOGNISED_BY, Response, Timestamp,
};
use crate::respond::{self, EventFacts, Form, TermWeights};
use crate::store::{Abort, LedgerTx, TxResult};

/// What `respond` did with a candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Responded {
    pub incident: IncidentId,
    /// The response's number in the incident.
    pub n: u32,
    /// The milestone it met, if any.
    pub milestone: Option<Milestone>,
    /// True when the government spoke first: the response opened the incident.
    pub opened: bool,
}

impl Ledger {
    /// Records a response candidate of `form` (see the module docs). `terms` are the
    /// item's key terms; `may_open`: it may open an answered incident (the item is
    /// flagged and within the incident window). `Ok(None)`: it is about no open
    /// incident and opens none; the caller treats it as an ordinary item.
    pub fn respond(
        &self,
        item: &Item,
        form: Form,
        terms: &[String],
        may_open: bool,
        now: Timestamp,
    ) -> Result<Option<Responded>, LedgerError> {
        let _one_at_a_time = self
            .ingest_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let class = item.classification.clone().unwrap_or_default();
        let time = item
            .credible_published()
            .filter(|t| *t <= now)
            .unwrap_or(now);
        let terms = respond::event_terms(&distinct(terms));
        let candidate = EventFacts {
            time,
            latest: time,
            places: &class.places,
            topics: &class.topics,
            terms: &terms,
        };
        let best = self.best_response_match(&candidate)?;
        let opens = may_open && form.answers_alone() && class.flag;
        if best.is_none() && !opens {
            return Ok(None);
        }
        let outcome = self.commit(|tx| {
            let item_ref = ItemRef {
                source: item.source.clone(),
                key: item.key.clone(),
                source_name: None,
                link: item.link.clone(),
                lead: None,
            };
            if let Some(id) = tx.attached(&item.source, &item.key)? {
                let incident = tx.incident(id)?;
                let known = incident
                    .iter()
                    .flat_map(|i| i.responses.iter())
                    .find(|r| r.item == item_ref);
                return Ok(known.map(|r| Responded {
                    incident: id,
                    n: r.n,
                    milestone: r.milestone,
                    opened: false,
                }));
            }
            let target = match best {
                Some(id) => tx.incident(id)?.filter(|i| i.status.is_open()),
                None => None,
            };
            let (mut incident, opened) = match target {
                Some(incident) => (incident, false),
                None if opens => {
                    let facts = self.facts(item, &class, &terms, now);
                    let id = self.open(tx, &facts, false, now)?;
                    let mut incident = tx
                        .incident(id)?
                        .ok_or(Abort::Refused(LedgerError::NotFound(id)))?;
                    if incident.level.milestones().contains(&Milestone::Ack) {
                        record_ack(
                            tx,
                            &mut incident,
                            RECOGNISED_BY,
                            now,
                            now,
                            None,
                            "政府已先行发布，自动签收",
                        )?;
                    }
                    (incident, true)
                }
                None => return Ok(None),
            };
            tx.attach(&item.source, &item.key, incident.id)?;
            let response =
                self.record_response(tx, &mut incident, item, item_ref, form, time, now)?;
            self.save(tx, &mut incident, now)?;
            Ok(Some(Responded {
                incident: incident.id,
                n: response.n,
                milestone: response.milestone,
                opened,
            }))
        })?;
        Ok(outcome)
    }

    /// The open incident a candidate is about, if any: among those
    /// `respond::same_event` admits, the one `TermWeights::rank` puts first, then the
    /// most recently active, then the smallest id. Reads the response-match index
    /// under the candidate's places from the rule's time bound on
    /// (`Store::response_candidates`) and the document
    /// frequencies of the candidate's terms (`Store::open_term_counts`): no open
    /// incident is decoded, and the cost follows the incidents of those places active
    /// within the window, not all the open ones.
    fn best_response_match(
        &self,
        candidate: &EventFacts<'_>,
    ) -> Result<Option<IncidentId>, LedgerError> {
        let window = self.config.policy.incident_window.as_chrono();
        let rows = self
            .store
            .response_candidates(candidate.places, candidate.time, window)?;
        let admitted: Vec<_> = rows
            .iter()
            .filter(|row| {
                let facts = EventFacts {
                    time: row.event_at,
                    latest: row.latest,
                    places: &row.places,
                    topics: &row.topics,
                    terms: &row.terms,
                };
                respond::same_event(candidate, &facts, window).is_some()
            })
            .collect();
        if admitted.is_empty() {
            return Ok(None);
        }
        let terms: BTreeSet<&str> = candidate.terms.iter().map(String::as_str).collect();
        let (incidents, counts) = self.store.open_term_counts(terms)?;
        let weights = TermWeights::from_counts(incidents, counts);
        let mut best: Option<(f64, Timestamp, IncidentId)> = None;
        for row in admitted {
            let rank = weights.rank(candidate.terms, &row.terms);
            if best.is_none_or(|(r, last, _)| rank > r || (rank == r && row.latest > last)) {
                best = Some((rank, row.latest, row.id));
            }
        }
        Ok(best.map(|(_, _, id)| id))
    }

    /// Adds the response to the incident, meets its milestone (or suggests it),
    /// audits it and queues its notice.
    #[allow(clippy::too_many_arguments)]
    fn record_response(
        &self,
        tx: &LedgerTx<'_>,
        incident: &mut Incident,
        item: &Item,
        item_ref: ItemRef,
        form: Form,
        published_at: Timestamp,
        now: Timestamp,
    ) -> TxResult<Response> {
        let n = u32::try_from(incident.responses.len()).unwrap_or(u32::MAX - 1) + 1;
        let fulfils = respond::milestone_for(form, incident.level, &incident.deadlines);
        let auto = self.config.policy.auto_milestones;
        let url = item.link.clone().filter(|u| !u.trim().is_empty());
        let mut detail = format!(
            "识别到官方回应 {n}：《{}》（来源 {}，发布于 {}）",
            item.title,
            item.source,
            crate::time::local(published_at)
        );
        if let Some(url) = &url {
            detail.push_str(&format!("，链接 {url}"));
        }
        detail.push_str(&match (fulfils, auto) {
            (Some(m), true) => format!("；据此登记“{}”", m.chinese()),
            (Some(m), false) => format!("；建议登记“{}”，待确认", m.chinese()),
            (None, _) if incident.level == Level::Watch => "；关注级事件没有时限".to_string(),
            (None, _) => "；相应节点已完成，记为续报".to_string(),
        });
        tx.audit(&entry(
            incident.id,
            now,
            RECOGNISED_BY,
            "response",
            detail,
            None,
        ))?;
        let at = published_at.max(incident.event_at).min(now);
        let mut met = None;
        if let (Some(milestone), true) = (fulfils, auto) {
            // `milestone_for` named an unmet milestone of this level, so this holds.
            if let Ok(index) = meetable(incident, milestone, at) {
                let link = format!("（官方回应 {n}）");
                meet(tx, incident, index, RECOGNISED_BY, at, &link, now)?;
                met = Some(milestone);
            }
        }
        let response = Response {
            n,
            title: item.title.clone(),
            url,
            source: item.source.clone(),
            published_at,
            milestone: met,
            suggested: fulfils.filter(|_| !auto),
            by: RECOGNISED_BY.to_string(),
            item: item_ref,
            unlinked: false,
        };
        incident.responses.push(response.clone());
        // A watch incident is recorded without mail (see the ledger's module docs).
        if incident.level != Level::Watch {
            self.queue_response(tx, incident, n, now)?;
        }
        Ok(response)
    }

    fn queue_response(
        &self,
        tx: &LedgerTx<'_>,
        incident: &Incident,
        n: u32,
        now: Timestamp,
    ) -> TxResult<()> {
        tx.outbox().enqueue(&Notice {
            key: NoticeKey::Response {
                incident: incident.id,
                n,
            }
            .into(),
            to: self.routing().response(),
            created_at: now,
            kind: NoticeKind::Response {
                incident: Box::new(incident.clone()),
                n,
            },
        })?;
        Ok(())
    }

    /// An officer confirms suggested response `n` as `milestone`
    /// (`yuqing milestone ID KIND --from-response N`): met at its publication time
    /// (not before the event time), recorded like any milestone (with the 签收 when
    /// there was none), the response credited to `by`.
    pub fn confirm_response(
        &self,
        id: IncidentId,
        milestone: Milestone,
        n: u32,
        by: &str,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let by = required(by, "请用 --by 写明记录人")?;
        self.commit(|tx| {
            let mut incident = load_open(tx, id, "记录节点")?;
            let index = linked(&incident, n)?;
            if let Some(met) = incident.responses[index].milestone {
                return Err(LedgerError::NotAllowed(format!(
                    "事件 {id} 的第 {n} 条回应已登记为“{}”，无需确认",
                    met.chinese()
                ))
                .into());
            }
            let response = incident.responses[index].clone();
            let at = response.published_at.max(incident.event_at).min(now);
            let deadline = meetable(&incident, milestone, at)?;
            if tx.ack_record(id)?.is_none() {
                record_ack(tx, &mut incident, by, at, now, None, "记录节点时一并签收")?;
            }
            let mut detail = format!("，确认官方回应 {n}《{}》", response.title);
            if let Some(url) = &response.url {
                detail.push_str(&format!("，链接 {url}"));
            }
            meet(tx, &mut incident, deadline, by, at, &detail, now)?;
            let confirmed = &mut incident.responses[index];
            confirmed.milestone = Some(milestone);
            confirmed.suggested = None;
            confirmed.by = by.to_string();
            self.save(tx, &mut incident, now)?;
            Ok(incident)
        })
    }

    /// An officer rejects response `n` as not about this incident: it is marked
    /// unlinked, the milestone it met reopens (its clock runs again), audited with
    /// the reason.
    pub fn unlink_response(
        &self,
        id: IncidentId,
        n: u32,
        by: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let by = required(by, "请用 --by 写明操作人")?;
        let reason = required(reason, "请用 --reason 写明撤销的理由")?;
        self.commit(|tx| {
            let mut incident = load_open(tx, id, "撤销回应")?;
            let index = linked(&incident, n)?;
            let response = &mut incident.responses[index];
            response.unlinked = true;
            let title = response.title.clone();
            let reopened = response.milestone.take();
            response.suggested = None;
            let mut detail = format!("撤销官方回应 {n}《{title}》：与本事件无关");
            if let Some(milestone) = reopened {
                if let Some(d) = incident
                    .deadlines
                    .iter_mut()
                    .find(|d| d.milestone == milestone)
                {
                    d.met_at = None;
                }
                detail.push_str(&format!(
                    "；“{}”恢复为未完成，时限继续计算",
                    milestone.chinese()
                ));
            }
            tx.audit(&entry(id, now, by, "unlink", detail, Some(reason)))?;
            self.save(tx, &mut incident, now)?;
            Ok(incident)
        })
    }
}

/// The index of linked response `n`, or why there is none.
fn linked(incident: &Incident, n: u32) -> Result<usize, Abort<LedgerError>> {
    incident
        .responses
        .iter()
        .position(|r| r.n == n && !r.unlinked)
        .ok_or_else(|| {
            let known: Vec<String> = incident
                .linked_responses()
                .map(|r| r.n.to_string())
                .collect();
            let hint = if known.is_empty() {
                "该事件没有已识别的官方回应".to_string()
            } else {
                format!("现有回应编号：{}", known.join("、"))
            };
            LedgerError::NotAllowed(format!(
                "事件 {} 没有第 {n} 条回应；{hint}（yuqing show {} 查看）",
                incident.id, incident.id
            ))
            .into()
        })
}
