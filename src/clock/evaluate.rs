//! Firing the 效果评估 entries of the due index: each evaluation whose window has
//! ended is recorded through the ledger (`Ledger::record_effect`: audited, with the
//! `ID/effect/rising` mail in the same transaction). The entry is written by the
//! ledger whenever an incident's first response is recorded or moves, so an
//! evaluation due while the daemon was down is recorded at the next start.

use super::FireReport;
use crate::ledger::{Ledger, LedgerError};
use crate::model::Timestamp;
use crate::store::Store;

/// Records the evaluations due at or before `now`, at most `limit`, earliest first.
/// One that fails is logged and left in place; the others still fire.
pub(super) fn fire_due(
    store: &Store,
    ledger: &Ledger,
    now: Timestamp,
    limit: usize,
) -> Result<FireReport, LedgerError> {
    let mut report = FireReport::default();
    let entries = store.effect_due_until(now, limit)?;
    for &due in &entries {
        let recorded = ledger
            .item_times(due.incident)
            .and_then(|times| ledger.record_effect(due, &times, now));
        match recorded {
            Ok(Some(effect)) => {
                tracing::info!(incident = due.incident, verdict = %effect.verdict,
                    before = effect.before, after = effect.after, "effect evaluated");
                report.queued += 1;
            }
            Ok(None) => {}
            Err(LedgerError::NotFound(_)) => {
                // The incident is gone: drop its entry.
                ledger.record_effect(due, &[], now)?;
            }
            Err(err) => {
                tracing::error!(incident = due.incident, error = %err,
                    "could not record an effect evaluation; will retry");
                report.failed += 1;
            }
        }
    }
    report.more = entries.len() == limit && report.failed < entries.len();
    Ok(report)
}
