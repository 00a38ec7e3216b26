//! Recording the 效果评估 (the rule: `crate::clock::effect`): once, when its window
//! ends, audited, with the `ID/effect/rising` mail in the same transaction.

use super::audit::{SYSTEM, entry};
use super::{Ledger, LedgerError, sync_effect};
use crate::clock::effect;
use crate::model::{Effect, IncidentId, Notice, NoticeKey, NoticeKind, Timestamp, Verdict};
use crate::store::{EffectDue, LedgerTx, TxResult};

impl Ledger {
    /// Records the effect evaluation `due` of its incident at `now`, from the times of
    /// the incident's items (`effect::item_time`). Nothing happens (`Ok(None)`) when the
    /// entry is no longer scheduled, the incident no longer wants an evaluation, or its
    /// first response moved (the entry is then rescheduled). Returns the recorded
    /// evaluation; a `rising` one queues `ID/effect/rising` (once ever).
    pub fn record_effect(
        &self,
        due: EffectDue,
        times: &[Timestamp],
        now: Timestamp,
    ) -> Result<Option<Effect>, LedgerError> {
        self.commit(|tx| {
            if tx.effect_scheduled(due.incident)? != Some(due) {
                return Ok(None);
            }
            let Some(mut incident) = tx.incident(due.incident)? else {
                tx.unschedule_effect(due.incident)?;
                return Ok(None);
            };
            match effect::evaluation_at(&incident).map(|at| EffectDue::new(at, incident.id)) {
                Some(wanted) if wanted == due && due.at <= now => {}
                _ => {
                    // Moved, not yet due or no longer wanted: put the index in line.
                    sync_effect(tx, &incident)?;
                    return Ok(None);
                }
            }
            let Some(result) = effect::assess(&incident, times.iter().copied(), now) else {
                return Ok(None);
            };
            let window = effect::window_chinese(result.window_secs);
            let detail = format!(
                "效果评估：{}（首次回应 {}；回应前 {window}内 {} 条，回应后 {window}内 {} 条）",
                result.verdict.chinese(),
                crate::time::local(result.first_response),
                result.before,
                result.after
            );
            incident.effect = Some(result.clone());
            tx.audit(&entry(incident.id, now, SYSTEM, "effect", detail, None))?;
            self.save(tx, &mut incident, now)?;
            if result.verdict == Verdict::Rising {
                self.queue_effect_rising(tx, &incident, now)?;
            }
            Ok(Some(result))
        })
    }

    fn queue_effect_rising(
        &self,
        tx: &LedgerTx<'_>,
        incident: &crate::model::Incident,
        now: Timestamp,
    ) -> TxResult<()> {
        tx.outbox().enqueue(&Notice {
            key: NoticeKey::EffectRising {
                incident: incident.id,
            }
            .into(),
            to: self.routing().effect_rising(),
            created_at: now,
            kind: NoticeKind::EffectRising {
                incident: Box::new(incident.clone()),
            },
        })?;
        Ok(())
    }

    /// Schedules the evaluation of an incident that wants one and has no entry (an
    /// incident answered before evaluations existed). Returns whether it added one.
    pub fn repair_effect_schedule(&self, id: IncidentId) -> Result<bool, LedgerError> {
        self.commit(|tx| {
            let Some(incident) = tx.incident(id)? else {
                return Ok(false);
            };
            if effect::evaluation_at(&incident).is_none() || tx.effect_scheduled(id)?.is_some() {
                return Ok(false);
            }
            sync_effect(tx, &incident)?;
            Ok(true)
        })
    }

    /// The 效果评估 of an incident as of `now`: the recorded one, else the counts so
    /// far (`pending`), `None` without a response. Reads the items only when nothing
    /// is recorded yet.
    pub fn effect(
        &self,
        incident: &crate::model::Incident,
        now: Timestamp,
    ) -> Result<Option<Effect>, LedgerError> {
        if incident.effect.is_some() || effect::first_response(incident).is_none() {
            return Ok(effect::assess(incident, [], now));
        }
        let times = self.item_times(incident.id)?;
        Ok(effect::assess(incident, times, now))
    }

    /// The times the effect evaluation counts the incident's items at.
    pub fn item_times(&self, id: IncidentId) -> Result<Vec<Timestamp>, LedgerError> {
        Ok(self.items_of(id)?.iter().map(effect::item_time).collect())
    }
}
