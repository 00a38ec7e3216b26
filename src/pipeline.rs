//! The stage between intake and the ledger: every stored item is classified, its
//! classification stored with it, and a flagged item handed to the ledger, which
//! opens or joins an incident. An item leaves the store's pending list only after
//! all of that succeeded, so a crash or an error means it is tried again at the
//! next start, never skipped.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info};

use crate::classify::Classifier;
use crate::config::Config;
use crate::ledger::{IngestOutcome, Ledger, LedgerError};
use crate::model::{Item, Timestamp};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// What happened to one item.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// Not flagged: classified and stored, nothing more.
    Routine,
    /// Flagged, but published longer ago than the incident window: recorded, no incident.
    /// (A source's first poll backfills old posts; their deadlines passed long ago.)
    Stale,
    Incident(IngestOutcome),
}

/// Classifies and routes items. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    classifier: Arc<Classifier>,
    store: Store,
    ledger: Ledger,
    /// A flagged item published longer ago than this opens no incident.
    incident_window: chrono::Duration,
    /// Sources whose every item concerns the jurisdiction (`local = true`).
    local_sources: Arc<HashSet<String>>,
}

impl Pipeline {
    /// `ledger` must be built on `store`.
    pub fn new(
        classifier: Arc<Classifier>,
        store: Store,
        ledger: Ledger,
        config: &Config,
    ) -> Pipeline {
        let local_sources = config
            .sources
            .iter()
            .filter(|s| s.local)
            .map(|s| s.id.clone())
            .collect();
        Pipeline {
            classifier,
            store,
            ledger,
            incident_window: config.policy.incident_window.as_chrono(),
            local_sources: Arc::new(local_sources),
        }
    }

    /// Classifies one stored item, records the result and hands it on. Blocking (CPU
    /// and sled): call it from a blocking thread.
    pub fn handle(&self, mut item: Item, now: Timestamp) -> Result<Handled, PipelineError> {
        let store = &self.store;
        let local = self.local_sources.contains(&item.source);
        let classification = self.classifier.classify(&item.title, &item.body, local);
        store.set_classification(&item.source, &item.key, classification.clone())?;
        let flagged = classification.flag;
        item.classification = Some(classification);
        let handled = if !flagged {
            Handled::Routine
        } else if self.is_stale(&item, now) {
            Handled::Stale
        } else {
            let terms = self.classifier.key_terms(&item.title, &item.body);
            match self.ledger.ingest(&item, &terms, now)? {
                Some(outcome) => Handled::Incident(outcome),
                None => Handled::Routine,
            }
        };
        store.item_done(&item.source, &item.key)?;
        Ok(handled)
    }

    fn is_stale(&self, item: &Item, now: Timestamp) -> bool {
        item.credible_published()
            .is_some_and(|published| published < now - self.incident_window)
    }

    /// Runs until the intake's channel closes (the intake stopped) or `stopping`
    /// is set: first the items an earlier run left pending, then new ones as they come.
    pub async fn run(self, mut items: mpsc::Receiver<Item>, stopping: watch::Receiver<bool>) {
        match self.store.pending_items() {
            Ok(pending) if !pending.is_empty() => {
                info!(
                    items = pending.len(),
                    "classifying items left pending by an earlier run"
                );
                for item in pending {
                    if *stopping.borrow() {
                        return;
                    }
                    self.handle_logged(item).await;
                }
            }
            Ok(_) => {}
            Err(err) => {
                error!(error = %err, "could not read pending items; they wait for the next start")
            }
        }
        while let Some(item) = items.recv().await {
            self.handle_logged(item).await;
        }
    }

    async fn handle_logged(&self, item: Item) {
        let (source, key) = (item.source.clone(), item.key.clone());
        let pipeline = self.clone();
        let result =
            tokio::task::spawn_blocking(move || pipeline.handle(item, chrono::Utc::now())).await;
        match result {
            Ok(Ok(Handled::Incident(IngestOutcome::Opened(id)))) => {
                info!(%source, %key, incident = id, "incident opened")
            }
            Ok(Ok(Handled::Incident(IngestOutcome::Joined(id)))) => {
                info!(%source, %key, incident = id, "item joined incident")
            }
            Ok(Ok(Handled::Stale)) => {
                info!(%source, %key, "flagged item is older than the incident window; recorded without an incident")
            }
            Ok(Ok(Handled::Routine)) => debug!(%source, %key, "item classified"),
            Ok(Err(err)) => {
                error!(%source, %key, error = %err, "item could not be processed; it stays pending for the next start")
            }
            Err(err) => error!(%source, %key, error = %err, "classification task failed"),
        }
    }
}
