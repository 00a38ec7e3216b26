//! Applying one poll's new documents to the document clocks: the glue between the
//! intake (which calls [`DocumentTracking::observe`] with a source's items before
//! storing them) and the pure rules of [`crate::policies`], persisted through the store
//! (`store::policies`) and scheduled for the deadline task (`clock::policies`).
//!
//! For each item the store has not seen yet, first every clock it starts
//! ([`DocumentClock::starts`]) tracks it, then every clock it answers
//! ([`DocumentClock::answers`]) is matched against that clock's unmet documents
//! ([`matching::match_answer`]); one match meets the document (its queued notices are
//! withdrawn), none or an ambiguous one changes nothing but is remembered
//! ([`super::RememberedAnswer`]): a document whose clock starts later (its source was
//! polled after the answer's) is matched against the remembered answers, and met when
//! one of them matches it. A document already tracked is never started again.

use std::sync::Arc;

use super::matching::{self, Answer, Candidate, DocNo, Match};
use super::{
    DocumentClock, MetBy, REMEMBER_ANSWERS, REMEMBERED_TEXT, RememberedAnswer, TrackedDocument,
    backfilled,
};
use crate::calendar::Calendar;
use crate::clock::policies::next_step;
use crate::config::{Config, Policy, SourceConfig};
use crate::model::{DateQuality, Timestamp};
use crate::parse::ParsedItem;
use crate::store::{DocumentId, Store, StoreError};

/// What one poll changed on the document clocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DocumentReport {
    /// Documents whose clock started (backfilled ones included).
    pub started: usize,
    /// Of those, found at the source's first poll already past their window.
    pub backfilled: usize,
    /// Documents an answer met.
    pub met: usize,
    /// Documents that could not be tracked: their due date falls in a year the
    /// calendar lacks.
    pub uncovered: usize,
}

/// What starting a clock for a document did.
enum Start {
    /// Already tracked.
    Known,
    /// Its due date falls in a year the calendar lacks.
    Uncovered,
    /// `met`: by a remembered answer.
    Started { backfilled: bool, met: bool },
}

/// The document clocks in force, with what they need: the intake's handle.
pub struct DocumentTracking {
    clocks: Vec<DocumentClock>,
    calendar: Arc<Calendar>,
    policy: Policy,
}

impl DocumentTracking {
    /// `None` when no configured source can start a document clock.
    pub fn new(config: &Config, calendar: Arc<Calendar>) -> Option<DocumentTracking> {
        DocumentTracking::needed(config).then(|| DocumentTracking {
            clocks: config.document_clocks.clone(),
            calendar,
            policy: config.policy.clone(),
        })
    }

    /// Whether some configured source's documents can start a clock.
    pub fn needed(config: &Config) -> bool {
        config.document_clocks.iter().any(|c| {
            config
                .sources
                .iter()
                .any(|s| c.starts_on.roles.is_empty() || c.starts_on.roles.contains(&s.role))
        })
    }

    /// Whether a source's documents can start or answer any clock.
    fn concerns(&self, source: &SourceConfig) -> bool {
        self.clocks.iter().any(|c| {
            c.met_on.contains(&source.role)
                || c.starts_on.roles.is_empty()
                || c.starts_on.roles.contains(&source.role)
        })
    }

    /// Applies the items of one successful poll of `source` at `now` (call it before
    /// they are stored: an item the store already holds is not new).
    pub fn observe(
        &self,
        store: &Store,
        source: &SourceConfig,
        items: &[ParsedItem],
        now: Timestamp,
    ) -> Result<DocumentReport, StoreError> {
        let mut report = DocumentReport::default();
        if !self.concerns(source) {
            return Ok(report);
        }
        let mut new = Vec::new();
        for item in items {
            if !store.knows_item(&source.id, &item.key)? {
                new.push(item);
            }
        }
        if new.is_empty() {
            return Ok(report);
        }
        let first_poll = store.source_state(&source.id)?.last_ok_at.is_none();
        for item in &new {
            for clock in self
                .clocks
                .iter()
                .filter(|c| c.starts(source.role, &item.title))
            {
                match self.start(store, clock, &source.id, item, first_poll, now)? {
                    Start::Known => {}
                    Start::Uncovered => report.uncovered += 1,
                    Start::Started { backfilled, met } => {
                        report.started += 1;
                        report.backfilled += usize::from(backfilled);
                        report.met += usize::from(met);
                    }
                }
            }
        }
        for item in &new {
            for clock in self
                .clocks
                .iter()
                .filter(|c| c.answers(source.role, &item.title))
            {
                report.met += usize::from(self.answer(store, clock, &source.id, item, now)?);
            }
        }
        if report != DocumentReport::default() {
            tracing::info!(
                source = %source.id,
                started = report.started,
                backfilled = report.backfilled,
                met = report.met,
                uncovered = report.uncovered,
                "document clocks updated"
            );
        }
        Ok(report)
    }

    /// Starts `clock` for a new document of `source`.
    fn start(
        &self,
        store: &Store,
        clock: &DocumentClock,
        source: &str,
        item: &ParsedItem,
        first_poll: bool,
        now: Timestamp,
    ) -> Result<Start, StoreError> {
        let id = DocumentId {
            clock: clock.id.clone(),
            source: source.to_string(),
            key: item.key.clone(),
        };
        if store.tracked_document(&id)?.is_some() {
            return Ok(Start::Known);
        }
        let published_at = published(item, now);
        let due_at = match self.calendar.due(published_at, clock.within) {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(source, key = %item.key, clock = %clock.id, error = %err,
                    "cannot start a document clock: its due date is outside the holiday table");
                return Ok(Start::Uncovered);
            }
        };
        let doc_no = matching::doc_numbers(&format!("{}\n{}", item.title, item.body))
            .first()
            .map(DocNo::display);
        let doc = TrackedDocument {
            clock: clock.id.clone(),
            source: source.to_string(),
            key: item.key.clone(),
            title: item.title.clone(),
            url: item.link.clone(),
            doc_no,
            published_at,
            due_at,
            backfilled: backfilled(first_poll, due_at, now),
            met_at: None,
            met_by: None,
        };
        store.put_tracked_document(&doc, next_step(&doc, &self.policy, now))?;
        let mut met = false;
        for answer in store.remembered_answers(&clock.id)? {
            if self
                .find(store, &answer)?
                .is_some_and(|found| DocumentId::of(&found) == id)
            {
                self.meet(store, &id, &answer, now)?;
                store.forget_answer(&answer)?;
                met = true;
                break;
            }
        }
        Ok(Start::Started {
            backfilled: doc.backfilled,
            met,
        })
    }

    /// Matches a new answer to one unmet document of `clock` and meets it; one that
    /// matches none is remembered. Returns whether it met one.
    fn answer(
        &self,
        store: &Store,
        clock: &DocumentClock,
        source: &str,
        item: &ParsedItem,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let answer = RememberedAnswer {
            clock: clock.id.clone(),
            source: source.to_string(),
            key: item.key.clone(),
            title: item.title.clone(),
            text: item.body.chars().take(REMEMBERED_TEXT).collect(),
            url: item.link.clone(),
            published_at: published(item, now),
        };
        match self.find(store, &answer)? {
            Some(doc) => {
                self.meet(store, &DocumentId::of(&doc), &answer, now)?;
                Ok(true)
            }
            None => {
                store.remember_answer(&answer, now - REMEMBER_ANSWERS)?;
                Ok(false)
            }
        }
    }

    /// The one unmet document of the answer's clock that the answer matches.
    fn find(
        &self,
        store: &Store,
        answer: &RememberedAnswer,
    ) -> Result<Option<TrackedDocument>, StoreError> {
        let mut open: Vec<TrackedDocument> = store
            .tracked_documents(Some(&answer.clock))?
            .into_iter()
            .filter(|d| d.met_at.is_none())
            .collect();
        let numbers: Vec<Option<DocNo>> = open
            .iter()
            .map(|d| {
                d.doc_no
                    .as_deref()
                    .and_then(|no| matching::doc_numbers(no).into_iter().next())
            })
            .collect();
        let candidates: Vec<Candidate<'_>> = open
            .iter()
            .zip(&numbers)
            .map(|(d, no)| Candidate {
                source: &d.source,
                key: &d.key,
                title: &d.title,
                doc_no: no.as_ref(),
            })
            .collect();
        let read = Answer {
            source: &answer.source,
            key: &answer.key,
            title: &answer.title,
            text: &answer.text,
        };
        match matching::match_answer(&read, &candidates) {
            Match::One(i, tier) => {
                tracing::info!(source = %answer.source, key = %answer.key, clock = %answer.clock,
                    ?tier, document = %open[i].title, "answer matched a document");
                Ok(Some(open.swap_remove(i)))
            }
            Match::Ambiguous(hits, tier) => {
                tracing::debug!(source = %answer.source, key = %answer.key, clock = %answer.clock,
                    ?tier, documents = hits.len(), "answer matches several documents: none is marked met");
                Ok(None)
            }
            Match::None => Ok(None),
        }
    }

    /// Marks document `id` met by `answer` and withdraws its queued notices.
    fn meet(
        &self,
        store: &Store,
        id: &DocumentId,
        answer: &RememberedAnswer,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let met_by = MetBy {
            title: answer.title.clone(),
            url: answer.url.clone(),
        };
        store.meet_document(id, |doc| {
            doc.met_at = Some(answer.published_at);
            doc.met_by = Some(met_by.clone());
        })?;
        store.withdraw_document_notices(id, now)?;
        Ok(())
    }
}

/// An item's publication time when credible, else when it was first seen.
fn published(item: &ParsedItem, now: Timestamp) -> Timestamp {
    match (item.published, item.date_quality) {
        (Some(at), Some(DateQuality::Credible)) => at.min(now),
        _ => now,
    }
}
