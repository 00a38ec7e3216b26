//! Grouping: which incident a flagged item joins, or the incident it opens, and the
//! level its items give (see the module docs of `crate::ledger`).

use std::collections::BTreeSet;

use super::audit::{SYSTEM, entry};
use super::{Ledger, LedgerError, move_event_time, recompute_deadlines};
use crate::clock;
use crate::format::{self, LevelStyle};
use crate::model::{
    Classification, Incident, IncidentId, Item, ItemRef, Lead, Level, PolicySnapshot, Status,
    Timestamp,
};
use crate::store::{LedgerTx, OpenIndexRow, SourcePlacement, TxResult};

/// At least this share of an item's distinct key terms must be among the incident's.
pub const JOIN_MIN_CONTAINMENT: f64 = 0.5;
/// At least this many key terms must be shared (all of them for an item with fewer).
pub const JOIN_MIN_SHARED: usize = 2;
/// An incident keeps at most this many key terms (those of its first items).
pub const MAX_INCIDENT_TERMS: usize = 64;

/// What `ingest` did with a flagged item.
#[derive(Debug, Clone, PartialEq)]
pub enum IngestOutcome {
    Opened(IncidentId),
    Joined(IncidentId),
}

impl Ledger {
    /// A classified, flagged item opens an incident or joins one about the same event.
    /// Unflagged items are ignored (`Ok(None)`). `terms` are the item's segmented key
    /// terms (the classifier's `key_terms`).
    pub fn ingest(
        &self,
        item: &Item,
        terms: &[String],
        now: Timestamp,
    ) -> Result<Option<IngestOutcome>, LedgerError> {
        let Some(class) = item.classification.as_ref().filter(|c| c.flag) else {
            return Ok(None);
        };
        // Grouping reads the candidates, then commits: no other ingest in between.
        let _one_at_a_time = self
            .ingest_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let facts = self.facts(item, class, terms, now);
        let candidate = self.best_candidate(&facts)?;
        // Where the item's source and time fall among the candidate's sources (read
        // here under the lock, like the candidates; checked in the transaction).
        let (n, window) = self.spread_rule();
        let placement = candidate
            .map(|id| {
                let source = &facts.item_ref.source;
                self.store.place_source(id, source, facts.time, n, window)
            })
            .transpose()?;
        let outcome = self.commit(|tx| match tx.attached(&item.source, &item.key)? {
            Some(id) => Ok(IngestOutcome::Joined(id)),
            None => {
                let joined = match candidate {
                    Some(id) => self.join(tx, id, &facts, placement.as_ref(), now)?,
                    None => false,
                };
                match (joined, candidate) {
                    (true, Some(id)) => Ok(IngestOutcome::Joined(id)),
                    _ => Ok(IngestOutcome::Opened(self.open(tx, &facts, true, now)?)),
                }
            }
        })?;
        // The attachment written in the transaction is the item's link to its
        // incident (the store reads `Item::incident` from it): nothing more to write.
        Ok(Some(outcome))
    }

    /// What grouping needs from a classified item.
    pub(super) fn facts(
        &self,
        item: &Item,
        class: &Classification,
        terms: &[String],
        now: Timestamp,
    ) -> ItemFacts {
        ItemFacts {
            item_ref: ItemRef {
                source: item.source.clone(),
                key: item.key.clone(),
                source_name: self.source_name(&item.source),
                link: item.link.clone(),
                lead: Some(Box::new(Lead {
                    excerpt: format::lead(&item.body),
                    deaths: class.deaths,
                    injured: class.injured,
                    seriously_injured: class.seriously_injured,
                    government: class.government.clone(),
                })),
            },
            title: item.title.clone(),
            time: item
                .credible_published()
                .filter(|t| *t <= now)
                .unwrap_or(now),
            severity: class
                .severity
                .filter(|l| *l != Level::Watch)
                .unwrap_or(Level::IV),
            local: class.local || self.source_is_local(&item.source),
            topics: class.topics.clone(),
            places: class.places.clone(),
            unit: class.unit.clone(),
            terms: distinct(terms),
        }
    }

    /// The display name of a configured source (`None` for one no longer configured).
    fn source_name(&self, source: &str) -> Option<String> {
        self.config
            .sources
            .iter()
            .find(|s| s.id == source)
            .map(|s| s.name.clone())
    }

    fn source_is_local(&self, source: &str) -> bool {
        self.config
            .sources
            .iter()
            .any(|s| s.id == source && s.local)
    }

    /// The level the items alone give: their highest `severity`, one higher when the
    /// spread rule holds (`spread`, kept by the store with the incident's sources).
    fn detected_level(&self, severity: Level, spread: bool, local: bool) -> Level {
        if !local && self.config.jurisdiction.outside_as_watch {
            return Level::Watch;
        }
        if spread { severity.raised() } else { severity }
    }

    /// The spread rule's `n` and window (`[policy] spread_sources`, `spread_window`).
    fn spread_rule(&self) -> (u32, chrono::Duration) {
        let policy = &self.config.policy;
        (policy.spread_sources, policy.spread_window.as_chrono())
    }

    /// The best open incident for an item, if any matches (see the module docs).
    /// Candidates come from the grouping index (same topic, a shared place or none,
    /// latest item within the window), so the cost does not grow with the number of
    /// open incidents; the rule below decides as before.
    fn best_candidate(&self, facts: &ItemFacts) -> Result<Option<IncidentId>, LedgerError> {
        let window = self.config.policy.incident_window.as_chrono();
        let topic = facts.topics.first().map_or("", String::as_str);
        let mut best: Option<(f64, Timestamp, IncidentId)> = None;
        let candidates = self
            .store
            .open_candidates(topic, &facts.places, facts.time, window)?;
        // The index gives only incidents of the item's places (or of none, for an
        // item naming none): grouping's place rule (`places_match`) holds for each.
        for row in candidates {
            if (facts.time - row.last_item_at).abs() > window {
                continue;
            }
            let Some(score) = term_overlap(&facts.terms, &row.terms) else {
                continue;
            };
            let better = best
                .is_none_or(|(s, last, _)| score > s || (score == s && row.last_item_at > last));
            if better {
                best = Some((score, row.last_item_at, row.id));
            }
        }
        Ok(best.map(|(_, _, id)| id))
    }

    /// Opens an incident from one item. Returns its id. `announce`: queue its `opened`
    /// notice (not for an incident the government's own statement opens).
    pub(super) fn open(
        &self,
        tx: &LedgerTx<'_>,
        facts: &ItemFacts,
        announce: bool,
        now: Timestamp,
    ) -> TxResult<IncidentId> {
        let id = tx.next_id()?;
        let row = OpenIndexRow {
            id,
            places: facts.places.clone(),
            terms: facts
                .terms
                .iter()
                .take(MAX_INCIDENT_TERMS)
                .cloned()
                .collect(),
            last_item_at: facts.time,
            source_times: Vec::new(),
            severity: facts.severity,
        };
        let (n, window) = self.spread_rule();
        let spread = tx.open_sources(id, &facts.item_ref.source, facts.time, n, window)?;
        let level = self.detected_level(row.severity, spread, facts.local);
        let policy = PolicySnapshot::from(&self.config.policy);
        let deadlines = clock::deadlines_for(level, &policy, facts.time, now, &[]);
        let mut incident = Incident {
            id,
            title: facts.title.clone(),
            level,
            detected_level: level,
            status: Status::New,
            topics: facts.topics.clone(),
            unit: facts.unit.clone(),
            places: facts.places.clone(),
            local: facts.local,
            event_at: facts.time,
            opened_at: now,
            updated_at: now,
            items: vec![facts.item_ref.clone()],
            sources: BTreeSet::from([facts.item_ref.source.clone()]),
            terms: row.terms.clone(),
            deadlines,
            policy,
            merged_into: None,
            responses: Vec::new(),
            effect: None,
        };
        tx.attach(&facts.item_ref.source, &facts.item_ref.key, id)?;
        tx.audit(&entry(
            id,
            now,
            SYSTEM,
            "opened",
            format!(
                "由 {} 的信息《{}》立案，等级 {}，事发时间 {}",
                facts.item_ref.source,
                facts.title,
                format::level(level, LevelStyle::Code),
                crate::time::local(facts.time)
            ),
            None,
        ))?;
        self.save_new(tx, &mut incident, &row, now)?;
        if announce && level != Level::Watch {
            self.queue_opened(tx, &incident, now)?;
        }
        Ok(id)
    }

    /// Adds an item that is attached to no incident (the caller checked) to an open
    /// incident. Returns false when the incident is no longer open (the caller opens a
    /// new one instead). The incident is read with its first item only and no sources,
    /// the item added by one key ([`LedgerTx::push_item`]) and its source by a few
    /// ([`LedgerTx::join_source`], with the spread rule's answer), so a join costs the
    /// same however many items and sources the incident has; its items and sources are
    /// read only for a regrade's mail. `placement`: what the store read outside the
    /// transaction about the item's source among the incident's.
    fn join(
        &self,
        tx: &LedgerTx<'_>,
        id: IncidentId,
        facts: &ItemFacts,
        placement: Option<&SourcePlacement>,
        now: Timestamp,
    ) -> TxResult<bool> {
        let Some(mut incident) = tx.incident_head(id)?.filter(|i| i.status.is_open()) else {
            return Ok(false);
        };
        let mut row = tx
            .open_row(&incident)?
            .unwrap_or_else(|| fallback_row(&incident));
        tx.attach(&facts.item_ref.source, &facts.item_ref.key, id)?;
        let (n, window) = self.spread_rule();
        let source = &facts.item_ref.source;
        let sources = tx.join_source(id, source, facts.time, placement, n, window)?;
        // Only the item that opened the incident keeps its lead.
        let items = tx.push_item(
            id,
            &ItemRef {
                lead: None,
                ..facts.item_ref.clone()
            },
        )?;
        row.last_item_at = row.last_item_at.max(facts.time);
        let old_severity = row.severity;
        row.severity = row.severity.max(facts.severity);
        union_into(&mut row.terms, &facts.terms, MAX_INCIDENT_TERMS);
        union_into(&mut row.places, &facts.places, usize::MAX);
        incident.terms.clone_from(&row.terms);
        union_into(&mut incident.topics, &facts.topics, usize::MAX);
        union_into(&mut incident.places, &facts.places, usize::MAX);
        incident.local |= facts.local;
        if incident.unit.is_none() {
            incident.unit.clone_from(&facts.unit);
        }
        tx.audit(&entry(
            id,
            now,
            SYSTEM,
            "item_added",
            format!(
                "新增{}信息《{}》（来源 {}，共 {} 条、{} 个来源）",
                if sources.new { "来源的" } else { "" },
                facts.title,
                facts.item_ref.source,
                items,
                sources.count
            ),
            None,
        ))?;
        let earlier_event = facts.time < incident.event_at;
        if earlier_event {
            move_event_time(tx, &mut incident, facts.time, SYSTEM, now)?;
        }
        let detected = self.detected_level(row.severity, sources.spread, incident.local);
        let previous_detected = incident.detected_level;
        incident.detected_level = detected.max(previous_detected);
        if detected.rank() > previous_detected.rank() && detected.rank() > incident.level.rank() {
            let reason = if previous_detected == Level::Watch {
                "出现本辖区的信息".to_string()
            } else if row.severity.rank() > old_severity.rank() {
                "新增信息的等级更高".to_string()
            } else {
                format!(
                    "{} 个来源在 {} 内转载",
                    sources.count, self.config.policy.spread_window
                )
            };
            // A regrade may announce the incident: its mail lists the items and sources.
            if let Some(full) = tx.incident(id)? {
                incident.items = full.items;
                incident.sources = full.sources;
            }
            self.set_level(tx, &mut incident, detected, SYSTEM, Some(&reason), now)?;
        } else if earlier_event {
            recompute_deadlines(&mut incident);
        }
        self.save_with_row(tx, &mut incident, Some(&row), now)?;
        Ok(true)
    }
}

/// What grouping and grading need from one item.
pub(super) struct ItemFacts {
    item_ref: ItemRef,
    title: String,
    /// Credible publication (not in the future), else detection.
    time: Timestamp,
    severity: Level,
    local: bool,
    topics: Vec<String>,
    places: Vec<String>,
    unit: Option<String>,
    terms: Vec<String>,
}

/// The share of the item's terms found among the incident's, if the two overlap
/// enough to be the same event (see the module docs).
pub fn term_overlap(item_terms: &[String], incident_terms: &[String]) -> Option<f64> {
    let distinct = item_terms.iter().collect::<BTreeSet<_>>().len();
    if distinct == 0 {
        return None;
    }
    let (shared, containment) = shared_terms(item_terms, incident_terms);
    (shared >= JOIN_MIN_SHARED.min(distinct) && containment >= JOIN_MIN_CONTAINMENT)
        .then_some(containment)
}

/// How many of the item's distinct terms the incident has, and their share of the
/// item's distinct terms (0 for an item without terms). Grouping and response
/// matching (`crate::respond`) both judge "same event" by it.
pub fn shared_terms(item_terms: &[String], incident_terms: &[String]) -> (usize, f64) {
    let item: BTreeSet<&str> = item_terms.iter().map(String::as_str).collect();
    if item.is_empty() {
        return (0, 0.0);
    }
    let incident: BTreeSet<&str> = incident_terms.iter().map(String::as_str).collect();
    let shared = item.intersection(&incident).count();
    (shared, shared as f64 / item.len() as f64)
}

/// Same place: a shared place name, or neither names one.
pub fn places_match(a: &[String], b: &[String]) -> bool {
    if a.is_empty() || b.is_empty() {
        return a.is_empty() && b.is_empty();
    }
    a.iter().any(|p| b.contains(p))
}

/// Whether `n` distinct sources first carried the story within `window` of each other.
pub fn spread(source_times: &[(String, Timestamp)], n: u32, window: chrono::Duration) -> bool {
    let n = n as usize;
    if n == 0 || source_times.len() < n {
        return false;
    }
    let mut times: Vec<Timestamp> = source_times.iter().map(|(_, t)| *t).collect();
    times.sort();
    times.windows(n).any(|w| w[n - 1] - w[0] <= window)
}

pub(super) fn distinct(terms: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(terms.len());
    for t in terms.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    out
}

pub(super) fn union_into(into: &mut Vec<String>, more: &[String], cap: usize) {
    for m in more {
        if into.len() >= cap {
            break;
        }
        if !into.contains(m) {
            into.push(m.clone());
        }
    }
}

/// A match-index row rebuilt from the incident alone (for an index row that is missing).
pub(super) fn fallback_row(incident: &Incident) -> OpenIndexRow {
    OpenIndexRow {
        id: incident.id,
        places: incident.places.clone(),
        terms: incident.terms.clone(),
        last_item_at: incident.updated_at,
        source_times: Vec::new(),
        severity: incident.detected_level.max(Level::IV),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn term_overlap_threshold() {
        let incident = terms(&["化工厂", "爆炸", "景芝镇", "起火", "消防", "伤亡"]);
        // (item terms, expected containment or None when it does not join)
        let table: [(&[&str], Option<f64>); 7] = [
            (&["化工厂", "爆炸", "景芝镇", "起火"], Some(1.0)),
            (&["化工厂", "爆炸", "救援", "医院"], Some(0.5)),
            (&["化工厂", "爆炸", "救援", "医院", "道路"], None), // 2/5 < 0.5
            (&["化工厂", "招聘", "工资"], None),                 // 1 shared < 2
            (&["爆炸"], Some(1.0)),                              // one term, shared
            (&["地震"], None),
            (&[], None),
        ];
        for (item, expected) in table {
            assert_eq!(term_overlap(&terms(item), &incident), expected, "{item:?}");
        }
        // Repeated terms count once.
        assert_eq!(
            term_overlap(&terms(&["爆炸", "爆炸", "化工厂"]), &incident),
            Some(1.0)
        );
    }

    #[test]
    fn places_match_rule() {
        let table: [(&[&str], &[&str], bool); 5] = [
            (&[], &[], true),
            (&["景芝镇"], &["景芝镇"], true),
            (&["景芝镇", "安丘市"], &["安丘市"], true),
            (&["景芝镇"], &["兴安街道"], false),
            (&["景芝镇"], &[], false),
        ];
        for (a, b, expected) in table {
            assert_eq!(places_match(&terms(a), &terms(b)), expected, "{a:?} {b:?}");
            assert_eq!(places_match(&terms(b), &terms(a)), expected, "{b:?} {a:?}");
        }
    }

    #[test]
    fn spread_needs_n_sources_within_the_window() {
        let t0: Timestamp = "2026-11-24T00:00:00Z".parse().unwrap();
        let h = chrono::Duration::hours;
        let at = |hours: &[i64]| -> Vec<(String, Timestamp)> {
            hours
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("s{i}"), t0 + h(*x)))
                .collect()
        };
        let table: [(&[i64], u32, bool); 6] = [
            (&[0, 1, 2], 3, true),
            (&[0, 4, 8], 3, false),
            (&[0, 4, 8, 9], 3, true), // 4, 8, 9 fit in 6 h
            (&[0, 1], 3, false),
            (&[0, 1, 2], 0, false), // 0: never
            (&[5, 0, 1], 3, true),  // order does not matter
        ];
        for (hours, n, expected) in table {
            assert_eq!(spread(&at(hours), n, h(6)), expected, "{hours:?} n={n}");
        }
    }
}
