//! The lifecycle of an incident: 签收, milestones, regrade, assign, 办结, 误报 and
//! merge. Each is one transaction that changes the incident, appends its audit
//! entry, brings its clocks in line and queues the mails it causes.

use super::audit::{SYSTEM, entry};
use super::grouping::{MAX_INCIDENT_TERMS, fallback_row, union_into};
use super::{Ledger, LedgerError, move_event_time, recompute_deadlines};
use crate::format::{self, LevelStyle};
use crate::model::{
    Deadline, Incident, IncidentId, Level, Milestone, Notice, NoticeKey, NoticeKind, Status,
    Timestamp,
};
use crate::store::{Abort, LedgerTx, TxResult};
use std::fmt::Write as _;

/// What `ack` did: the first acknowledgement wins; a repeat is harmless and says so.
#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    Acknowledged(Incident),
    AlreadyAcknowledged {
        incident: Incident,
        by: String,
        at: Timestamp,
    },
}

impl Ledger {
    /// 签收. Repeating it succeeds with `AlreadyAcknowledged` (also once the incident is
    /// closed); both are audited. An incident closed, dismissed or merged without a
    /// 签收 cannot be acknowledged any more.
    pub fn ack(
        &self,
        id: IncidentId,
        by: &str,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<AckOutcome, LedgerError> {
        let by = required(by, "请用 --by 写明签收人")?;
        self.commit(|tx| {
            // A repeat is harmless whatever became of the incident since.
            if let Some((first_by, first_at)) = tx.ack_record(id)? {
                let Some(incident) = tx.incident(id)? else {
                    return Err(LedgerError::NotFound(id).into());
                };
                let detail = format!(
                    "重复签收（已由 {first_by} 于 {} 签收）{}",
                    crate::time::local(first_at),
                    note_suffix(note)
                );
                tx.audit(&entry(id, now, by, "ack_repeat", detail, None))?;
                return Ok(AckOutcome::AlreadyAcknowledged {
                    incident,
                    by: first_by,
                    at: first_at,
                });
            }
            let mut incident = load_open(tx, id, "签收")?;
            record_ack(tx, &mut incident, by, now, now, note, "签收")?;
            self.save(tx, &mut incident, now)?;
            Ok(AckOutcome::Acknowledged(incident))
        })
    }

    /// Records a milestone met at `at` (≤ now). Not allowed on closed, dismissed or
    /// merged incidents, nor for a milestone the incident's level does not have.
    /// Recording a milestone of a new incident also records its 签收 (audited).
    #[allow(clippy::too_many_arguments)]
    pub fn milestone(
        &self,
        id: IncidentId,
        milestone: Milestone,
        by: &str,
        url: Option<&str>,
        note: Option<&str>,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let by = required(by, "请用 --by 写明记录人")?;
        if milestone == Milestone::Ack {
            return Err(LedgerError::NotAllowed(format!(
                "签收请用 yuqing ack {id} --by 姓名"
            )));
        }
        if at > now {
            return Err(LedgerError::NotAllowed(format!(
                "时间 {} 晚于现在（{}）；--at 只能记录已经发生的节点",
                crate::time::local(at),
                crate::time::local(now)
            )));
        }
        self.commit(|tx| {
            let mut incident = load_open(tx, id, "记录节点")?;
            let index = meetable(&incident, milestone, at)?;
            if tx.ack_record(id)?.is_none() {
                record_ack(tx, &mut incident, by, at, now, None, "记录节点时一并签收")?;
            }
            let mut detail = String::new();
            if let Some(url) = url.filter(|u| !u.trim().is_empty()) {
                let _ = write!(detail, "，链接 {url}");
            }
            detail.push_str(&note_suffix(note));
            meet(tx, &mut incident, index, by, at, &detail, now)?;
            self.save(tx, &mut incident, now)?;
            Ok(incident)
        })
    }

    /// Regrade; clocks are recomputed from the incident's policy snapshot. Audited with the reason.
    pub fn regrade(
        &self,
        id: IncidentId,
        level: Level,
        by: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let by = required(by, "请用 --by 写明调整人")?;
        let reason = required(reason, "请用 --reason 写明调整等级的理由")?;
        self.commit(|tx| {
            let mut incident = load_open(tx, id, "调整等级")?;
            if incident.level == level {
                return Err(LedgerError::NotAllowed(format!(
                    "事件 {id} 已是{}，无需调整",
                    format::level(level, LevelStyle::Named)
                ))
                .into());
            }
            self.set_level(tx, &mut incident, level, by, Some(reason), now)?;
            self.save(tx, &mut incident, now)?;
            Ok(incident)
        })
    }

    /// Change the responsible unit.
    pub fn assign(
        &self,
        id: IncidentId,
        unit: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let by = required(by, "请用 --by 写明调整人")?;
        let unit = required(unit, "请写明牵头单位名称")?;
        self.commit(|tx| {
            let mut incident = load_open(tx, id, "调整牵头单位")?;
            if incident.unit.as_deref() == Some(unit) {
                return Err(LedgerError::NotAllowed(format!(
                    "事件 {id} 已由 {unit} 牵头，无需调整"
                ))
                .into());
            }
            let detail = format!(
                "牵头单位由 {} 改为 {unit}",
                incident.unit.as_deref().unwrap_or("（未定）")
            );
            incident.unit = Some(unit.to_string());
            tx.audit(&entry(id, now, by, "assign", detail, None))?;
            self.save(tx, &mut incident, now)?;
            Ok(incident)
        })
    }

    /// 办结: stops every notice. Closing with a milestone of the current level unmet
    /// needs a `reason` (audited with it); those milestones count as missed from then
    /// on (`DeadlineState::Missed`). A watch (关注) incident has no milestone: closing
    /// it files it (归档), no reason needed.
    pub fn close(
        &self,
        id: IncidentId,
        by: &str,
        note: Option<&str>,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let by = required(by, "请用 --by 写明办结人")?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        self.finish(id, Status::Closed, by, now, |incident| {
            close_entry(incident, note, reason)
        })
    }

    /// Files a watch incident whose `[policy] watch_expiry` has passed without a new
    /// item, as the system: the same 办结 (归档) as [`Ledger::close`]. Returns whether
    /// it was filed; an incident no longer due (a new item came, it was regraded or
    /// closed) is only taken off the watch-expiry index.
    pub fn file_expired_watch(&self, id: IncidentId, now: Timestamp) -> Result<bool, LedgerError> {
        let after = crate::time::span(
            chrono::Duration::from_std(self.config.policy.watch_expiry.0)
                .unwrap_or(chrono::Duration::MAX),
        );
        let note = format!("{after}无新信息，系统自动归档");
        self.commit(|tx| {
            if tx.watch_expiry(id)?.is_none_or(|at| at > now) {
                return Ok(false);
            }
            let Some(mut incident) = tx
                .incident(id)?
                .filter(|i| i.status.is_open() && i.level == Level::Watch)
            else {
                tx.set_watch_expiry(id, None)?;
                return Ok(false);
            };
            let (action, detail, reason) = close_entry(&incident, Some(&note), None)?;
            incident.status = Status::Closed;
            tx.audit(&entry(id, now, SYSTEM, action, detail, reason))?;
            self.save(tx, &mut incident, now)?;
            Ok(true)
        })
    }

    /// 误报: stops every notice.
    pub fn dismiss(
        &self,
        id: IncidentId,
        by: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let by = required(by, "请用 --by 写明操作人")?;
        let reason = required(reason, "请用 --reason 写明判为误报的理由")?;
        self.finish(id, Status::Dismissed, by, now, |_| {
            Ok(("dismiss", "判为误报".to_string(), Some(reason)))
        })
    }

    /// Folds `id` into `into` (items, sources, heat); `id` becomes merged. Returns the target.
    pub fn merge(
        &self,
        id: IncidentId,
        into: IncidentId,
        by: &str,
        now: Timestamp,
    ) -> Result<Incident, LedgerError> {
        let by = required(by, "请用 --by 写明操作人")?;
        if id == into {
            return Err(LedgerError::NotAllowed(format!(
                "不能把事件 {id} 合并到它自己；请给出另一个事件编号"
            )));
        }
        let target = self.commit(|tx| {
            let mut source = load_open(tx, id, "合并")?;
            let Some(mut target) = tx.incident(into)? else {
                return Err(LedgerError::NotFound(into).into());
            };
            if !target.status.is_open() {
                return Err(LedgerError::NotAllowed(format!(
                    "目标事件 {into} {}，不能并入；请选择一个未办结的事件",
                    target.status.chinese()
                ))
                .into());
            }
            let source_row = tx.open_row(&source)?;
            let target_row = tx.open_row(&target)?;
            let mut row = target_row.unwrap_or_else(|| fallback_row(&target));
            for r in &source.items {
                if !target.items.contains(r) {
                    target.items.push(r.clone());
                }
                tx.attach(&r.source, &r.key, into)?;
            }
            // The source's sources with their first times (the target keeps the
            // earlier of two); the spread rule is counted again at its next join.
            tx.add_sources(into, tx.source_times(id)?)?;
            target.sources.extend(source.sources.iter().cloned());
            union_into(&mut target.topics, &source.topics, usize::MAX);
            union_into(&mut target.places, &source.places, usize::MAX);
            union_into(&mut target.terms, &source.terms, MAX_INCIDENT_TERMS);
            target.local |= source.local;
            if target.unit.is_none() {
                target.unit.clone_from(&source.unit);
            }
            let source_row = source_row.unwrap_or_else(|| fallback_row(&source));
            row.last_item_at = row.last_item_at.max(source_row.last_item_at);
            row.severity = row.severity.max(source_row.severity);
            union_into(&mut row.places, &source_row.places, usize::MAX);
            union_into(&mut row.terms, &source_row.terms, MAX_INCIDENT_TERMS);
            target.detected_level = target.detected_level.max(source.detected_level);
            tx.audit(&entry(
                into,
                now,
                by,
                "merge_in",
                format!("并入事件 {id}（{} 条信息）", source.items.len()),
                None,
            ))?;
            let earlier_event = source.event_at < target.event_at;
            if earlier_event {
                move_event_time(tx, &mut target, source.event_at, by, now)?;
            }
            if source.level.rank() > target.level.rank() {
                let reason = format!("并入等级更高的事件 {id}");
                self.set_level(tx, &mut target, source.level, by, Some(&reason), now)?;
            } else if earlier_event {
                recompute_deadlines(&mut target);
            }
            source.status = Status::Merged;
            source.merged_into = Some(into);
            tx.audit(&entry(
                id,
                now,
                by,
                "merge",
                format!("并入事件 {into}"),
                None,
            ))?;
            self.save(tx, &mut source, now)?;
            self.save_with_row(tx, &mut target, Some(&row), now)?;
            Ok(target)
        })?;
        Ok(target)
    }

    /// Changes the level, recomputes the clocks and audits it. An incident leaving
    /// watch is announced now (watch incidents are recorded without mail).
    pub(super) fn set_level(
        &self,
        tx: &LedgerTx<'_>,
        incident: &mut Incident,
        level: Level,
        by: &str,
        reason: Option<&str>,
        now: Timestamp,
    ) -> TxResult<()> {
        let detail = format!(
            "等级由 {} 调整为 {}",
            format::level(incident.level, LevelStyle::Code),
            format::level(level, LevelStyle::Code)
        );
        let was_watch = incident.level == Level::Watch;
        incident.level = level;
        recompute_deadlines(incident);
        // A watch incident acknowledged before it got an ack clock is acknowledged.
        if let Some((_, acked_at)) = tx.ack_record(incident.id)? {
            for d in &mut incident.deadlines {
                if d.milestone == Milestone::Ack && d.met_at.is_none() {
                    d.met_at = Some(acked_at);
                }
            }
        }
        tx.audit(&entry(incident.id, now, by, "level", detail, reason))?;
        if was_watch && level != Level::Watch {
            self.queue_opened(tx, incident, now)?;
        }
        Ok(())
    }

    /// Queues the `<id>/opened` notice (once ever: the outbox ignores a known key).
    pub(super) fn queue_opened(
        &self,
        tx: &LedgerTx<'_>,
        incident: &Incident,
        now: Timestamp,
    ) -> TxResult<()> {
        tx.outbox().enqueue(&Notice {
            key: NoticeKey::Opened {
                incident: incident.id,
            }
            .into(),
            to: self.routing().opened(incident),
            created_at: now,
            kind: NoticeKind::Opened {
                incident: Box::new(incident.clone()),
            },
        })?;
        Ok(())
    }

    /// Closes or dismisses an incident: stops its clocks, takes it off the match index.
    fn finish<'r>(
        &self,
        id: IncidentId,
        status: Status,
        by: &str,
        now: Timestamp,
        describe: impl Fn(&Incident) -> Result<(&'static str, String, Option<&'r str>), LedgerError>,
    ) -> Result<Incident, LedgerError> {
        self.commit(|tx| {
            let mut incident = load_open(tx, id, status_verb(status))?;
            let (action, detail, reason) = describe(&incident)?;
            incident.status = status;
            tx.audit(&entry(id, now, by, action, detail, reason))?;
            self.save(tx, &mut incident, now)?;
            Ok(incident)
        })
    }
}

/// The audit line of 办结 (归档 for a watch incident): refused without a reason while
/// a milestone of the incident's level is unmet.
fn close_entry<'r>(
    incident: &Incident,
    note: Option<&str>,
    reason: Option<&'r str>,
) -> Result<(&'static str, String, Option<&'r str>), LedgerError> {
    let unmet: Vec<_> = incident.unmet().map(|d| d.milestone.chinese()).collect();
    let mut detail = if incident.level == Level::Watch {
        "归档（关注级，无处置时限）".to_string()
    } else {
        "办结".to_string()
    };
    if !unmet.is_empty() {
        if reason.is_none() {
            return Err(LedgerError::NotAllowed(format!(
                "事件 {} 尚未完成：{}；办结须用 --reason 写明理由（这些节点将计为未完成）",
                incident.id,
                unmet.join("、")
            )));
        }
        let _ = write!(detail, "（未完成：{}，计为未完成）", unmet.join("、"));
    }
    detail.push_str(&note_suffix(note));
    Ok(("close", detail, reason))
}

pub(super) fn record_ack(
    tx: &LedgerTx<'_>,
    incident: &mut Incident,
    by: &str,
    at: Timestamp,
    now: Timestamp,
    note: Option<&str>,
    what: &str,
) -> TxResult<()> {
    tx.set_ack_record(incident.id, by, at)?;
    let mut detail = what.to_string();
    if let Some(d) = incident
        .deadlines
        .iter_mut()
        .find(|d| d.milestone == Milestone::Ack)
    {
        d.met_at = Some(at);
        let _ = write!(detail, "（{}）", timing(d));
    }
    detail.push_str(&note_suffix(note));
    tx.audit(&entry(incident.id, now, by, "ack", detail, None))
}

/// The index of the deadline `milestone` of an open incident, if it may be met at `at`,
/// or why not: the level has no such milestone, `at` is before the event, or it was
/// met already.
pub(super) fn meetable(
    incident: &Incident,
    milestone: Milestone,
    at: Timestamp,
) -> Result<usize, Abort<LedgerError>> {
    let id = incident.id;
    if !incident.level.milestones().contains(&milestone) {
        return Err(LedgerError::NotAllowed(format!(
            "事件 {id} 为{}，没有“{}”节点；I、II 级有 statement、press，III、IV 级有 response，关注级没有时限",
            format::level(incident.level, LevelStyle::Named),
            milestone.chinese()
        )).into());
    }
    if at < incident.event_at {
        return Err(LedgerError::NotAllowed(format!(
            "时间 {} 早于事发时间 {}；请检查 --at",
            crate::time::local(at),
            crate::time::local(incident.event_at)
        ))
        .into());
    }
    let Some(index) = incident
        .deadlines
        .iter()
        .position(|d| d.milestone == milestone)
    else {
        return Err(LedgerError::NotAllowed(format!(
            "事件 {id} 没有“{}”时限",
            milestone.chinese()
        ))
        .into());
    };
    if let Some(met) = incident.deadlines[index].met_at {
        return Err(LedgerError::NotAllowed(format!(
            "事件 {id} 的“{}”已于 {} 记录，不能重复记录",
            milestone.chinese(),
            crate::time::local(met)
        ))
        .into());
    }
    Ok(index)
}

/// Meets the deadline at `index` (from [`meetable`]) at `at`, audited by `by` with
/// `detail` (link, note …) after the standard wording.
pub(super) fn meet(
    tx: &LedgerTx<'_>,
    incident: &mut Incident,
    index: usize,
    by: &str,
    at: Timestamp,
    detail: &str,
    now: Timestamp,
) -> TxResult<()> {
    let deadline = &mut incident.deadlines[index];
    deadline.met_at = Some(at);
    let milestone = deadline.milestone;
    let timing = timing(deadline);
    let detail = format!(
        "记录“{}”：{}（{timing}）{detail}",
        milestone.chinese(),
        crate::time::local(at)
    );
    tx.audit(&entry(incident.id, now, by, "milestone", detail, None))
}

/// Loads an incident that must be open for `what`, or says why not.
pub(super) fn load_open(
    tx: &LedgerTx<'_>,
    id: IncidentId,
    what: &str,
) -> Result<Incident, Abort<LedgerError>> {
    let Some(incident) = tx.incident(id)? else {
        return Err(LedgerError::NotFound(id).into());
    };
    if incident.status.is_open() {
        return Ok(incident);
    }
    let why = match (incident.status, incident.merged_into) {
        (Status::Merged, Some(into)) => format!("已并入事件 {into}，请对事件 {into} 操作"),
        // Repeating the same final step is not a mistake worth a "cannot".
        (status, _) if status_verb(status) == what => {
            return Err(
                LedgerError::NotAllowed(format!("事件 {id} 已{what}，无需重复{what}")).into(),
            );
        }
        (status, _) => status.chinese().to_string(),
    };
    Err(LedgerError::NotAllowed(format!("事件 {id} {why}，不能{what}")).into())
}

fn status_verb(status: Status) -> &'static str {
    match status {
        Status::Dismissed => "判为误报",
        _ => "办结",
    }
}

pub(super) fn required<'a>(value: &'a str, what: &str) -> Result<&'a str, LedgerError> {
    let value = value.trim();
    if value.is_empty() {
        Err(LedgerError::NotAllowed(format!("{what}，不能为空")))
    } else {
        Ok(value)
    }
}

fn note_suffix(note: Option<&str>) -> String {
    note.map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| format!("；备注：{n}"))
        .unwrap_or_default()
}

fn timing(d: &Deadline) -> String {
    match (d.met_at, d.on_time()) {
        (Some(met), Some(false)) => format!("超时 {}", crate::time::span(met - d.due_at)),
        _ => "按时".to_string(),
    }
}
