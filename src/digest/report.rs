//! [`compute`]: the digest's figures from plain data. No IO, no clock: `input.now`
//! is the only "now".

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{
    Breach, Counts, DeadlineOutcome, DeadlineStats, DigestInput, DigestReport, FailingSource,
    IncidentLine, LevelCounts, NextDue, Period, PeriodKind, RateRow, ResponseLine, ResponseStats,
    SourceCount, SourceSummary, Term, TopicCount, TrendDay, VerdictLine,
};
use crate::model::{Deadline, Incident, Milestone, Status, Timestamp, topic_name};

/// Shown for incidents without a responsible unit.
pub(super) const NO_UNIT: &str = "未指定单位";

/// The milestones graded per unit and overall.
const PUBLIC: [Milestone; 3] = [Milestone::Statement, Milestone::Press, Milestone::Response];

/// Days in the trend, the period itself included.
const TREND_DAYS: i64 = 7;

/// Computes the digest. Pure: the same input always gives the same report.
pub fn compute(input: &DigestInput) -> DigestReport {
    let period = &input.period;
    let now = input.now;

    // Merged incidents live on in their target; they are never counted.
    let counted: Vec<&Incident> = input
        .incidents
        .iter()
        .filter(|i| i.status != Status::Merged)
        .collect();
    let mut opened: Vec<&Incident> = counted
        .iter()
        .copied()
        .filter(|i| period.contains(i.opened_at))
        .collect();
    opened.sort_by_key(|i| (i.opened_at, i.id));
    let new: Vec<&Incident> = opened
        .iter()
        .copied()
        .filter(|i| i.status != Status::Dismissed)
        .collect();

    let mut by_level = LevelCounts::default();
    let mut topics: BTreeMap<&str, u32> = BTreeMap::new();
    for incident in &new {
        by_level.add(incident.level);
        for topic in &incident.topics {
            *topics.entry(topic.as_str()).or_default() += 1;
        }
    }
    let mut by_topic: Vec<TopicCount> = topics
        .into_iter()
        .map(|(topic, count)| TopicCount {
            topic: topic.to_string(),
            name: topic_name(topic).to_string(),
            count,
        })
        .collect();
    by_topic.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.topic.cmp(&b.topic)));

    let closed = counted
        .iter()
        .filter(|i| i.status == Status::Closed)
        .filter(|i| period.contains(closed_at(input, i)))
        .count() as u32;

    let mut open: Vec<&Incident> = counted
        .iter()
        .copied()
        .filter(|i| i.status.is_open())
        .collect();
    // Most urgent first: soonest unmet deadline, then those without a clock by severity.
    open.sort_by_key(|i| {
        (
            i.next_due().map(|d| d.due_at).unwrap_or(Timestamp::MAX_UTC),
            std::cmp::Reverse(i.level.rank()),
            i.opened_at,
            i.id,
        )
    });

    let counts = Counts {
        items: input.items.len() as u32,
        flagged_items: input.items.iter().filter(|i| is_flagged(i)).count() as u32,
        new_incidents: new.len() as u32,
        dismissed: (opened.len() - new.len()) as u32,
        closed,
        open: open.len() as u32,
        by_level,
        by_topic,
        by_source: source_counts(input, &new),
    };
    let deadlines = deadline_stats(input, &counted);
    let sources = source_health(input);
    let trend = trend(period, &counted);
    let mut report = DigestReport {
        jurisdiction: input.jurisdiction.clone(),
        period: period.clone(),
        generated_at: now,
        quiet: new.is_empty(),
        summary: String::new(),
        new_incidents: opened.iter().map(|i| line(i, now)).collect(),
        open_incidents: open.iter().map(|i| line(i, now)).collect(),
        counts,
        deadlines,
        responses: responses(&counted, period),
        top_terms: input
            .top_terms
            .iter()
            .map(|(term, weight)| Term {
                term: term.clone(),
                weight: *weight,
            })
            .collect(),
        sources,
        trend,
        replies: Default::default(),
        document_clocks: Vec::new(),
    };
    report.summary = summary(&report);
    report
}

/// 回应与效果 of the period (see the module docs of `digest`).
fn responses(counted: &[&Incident], period: &Period) -> ResponseStats {
    let answered = counted.iter().filter(|i| i.status != Status::Dismissed);
    let mut responses: Vec<ResponseLine> = Vec::new();
    let mut verdicts: Vec<VerdictLine> = Vec::new();
    for incident in answered {
        let first = crate::clock::effect::first_response(incident);
        for d in incident
            .deadlines
            .iter()
            .filter(|d| PUBLIC.contains(&d.milestone))
        {
            let Some(met_at) = d.met_at.filter(|t| period.contains(*t)) else {
                continue;
            };
            responses.push(ResponseLine {
                incident: incident.id,
                title: incident.title.clone(),
                level: incident.level,
                milestone: d.milestone,
                met_at,
                first: first == Some(met_at),
                since_opened_secs: (met_at - incident.opened_at).num_seconds().max(0),
            });
        }
        if let Some(effect) = &incident.effect {
            let window = chrono::Duration::seconds(
                i64::try_from(effect.window_secs).unwrap_or(i64::MAX / 1000),
            );
            let ended = effect.first_response.checked_add_signed(window);
            if ended.is_some_and(|t| period.contains(t)) {
                verdicts.push(VerdictLine {
                    incident: incident.id,
                    title: incident.title.clone(),
                    verdict: effect.verdict,
                    before: effect.before,
                    after: effect.after,
                });
            }
        }
    }
    responses.sort_by_key(|r| (r.met_at, r.incident, r.milestone));
    verdicts.sort_by_key(|v| v.incident);
    let firsts: Vec<i64> = responses
        .iter()
        .filter(|r| r.first)
        .map(|r| r.since_opened_secs)
        .collect();
    ResponseStats {
        first_responses: firsts.len() as u32,
        mean_to_first_secs: (!firsts.is_empty())
            .then(|| firsts.iter().sum::<i64>() / firsts.len() as i64),
        responses,
        verdicts,
    }
}

fn is_flagged(item: &crate::model::Item) -> bool {
    item.classification.as_ref().is_some_and(|c| c.flag)
}

/// When an incident was closed: its `close` audit entry, else its last update
/// (a closed incident changes no more, so that is when it was closed at the latest).
fn closed_at(input: &DigestInput, incident: &Incident) -> Timestamp {
    input
        .audits
        .get(&incident.id)
        .and_then(|entries| {
            entries
                .iter()
                .rev()
                .find(|e| matches!(e.action.as_str(), "close" | "closed"))
        })
        .map_or(incident.updated_at, |e| e.at)
}

fn line(incident: &Incident, now: Timestamp) -> IncidentLine {
    IncidentLine {
        id: incident.id,
        title: crate::format::title(&incident.title),
        level: incident.level,
        status: incident.status,
        unit: incident.unit.clone(),
        topics: incident.topics.clone(),
        sources: incident.sources.iter().cloned().collect(),
        items: incident.items.len(),
        event_at: incident.event_at,
        opened_at: incident.opened_at,
        next_due: incident
            .status
            .is_open()
            .then(|| incident.next_due())
            .flatten()
            .map(|d| NextDue {
                milestone: d.milestone,
                due_at: d.due_at,
                left_secs: (d.due_at - now).num_seconds(),
            }),
    }
}

fn source_counts(input: &DigestInput, new: &[&Incident]) -> Vec<SourceCount> {
    fn empty(id: &str, name: &str) -> SourceCount {
        SourceCount {
            source: id.to_string(),
            name: name.to_string(),
            items: 0,
            flagged: 0,
            incidents: 0,
        }
    }
    let mut rows: BTreeMap<&str, SourceCount> = input
        .sources
        .iter()
        .map(|s| (s.id.as_str(), empty(&s.id, &s.name)))
        .collect();
    // Items and incidents may name a source no longer configured: show it by id.
    for item in &input.items {
        let row = rows
            .entry(item.source.as_str())
            .or_insert_with(|| empty(&item.source, &item.source));
        row.items += 1;
        row.flagged += u32::from(is_flagged(item));
    }
    for incident in new {
        for source in &incident.sources {
            rows.entry(source.as_str())
                .or_insert_with(|| empty(source, source))
                .incidents += 1;
        }
    }
    let mut rows: Vec<SourceCount> = rows.into_values().collect();
    rows.sort_by(|a, b| {
        (b.incidents, b.flagged, b.items)
            .cmp(&(a.incidents, a.flagged, a.items))
            .then_with(|| a.source.cmp(&b.source))
    });
    rows
}

/// How a deadline counted in the period turned out, and when the incident was closed
/// if it was closed with the deadline unmet; `None` when it does not count here.
fn outcome(
    input: &DigestInput,
    incident: &Incident,
    deadline: &Deadline,
) -> Option<(DeadlineOutcome, Option<Timestamp>)> {
    let closed_unmet = match incident.status {
        Status::Dismissed | Status::Merged => return None,
        Status::Closed if deadline.met_at.is_none() => Some(closed_at(input, incident)),
        _ => None,
    };
    // Missed at closing: counted when it fell due, or at the closing if that came first.
    let counted_at = closed_unmet.map_or(deadline.due_at, |at| at.min(deadline.due_at));
    if !input.period.contains(counted_at) {
        return None;
    }
    let outcome = match deadline.on_time() {
        Some(true) => DeadlineOutcome::OnTime,
        Some(false) => DeadlineOutcome::Late,
        None => DeadlineOutcome::Missed,
    };
    Some((outcome, closed_unmet))
}

impl RateRow {
    fn new(key: &str, name: &str) -> RateRow {
        RateRow {
            key: key.to_string(),
            name: name.to_string(),
            due: 0,
            on_time: 0,
            late: 0,
            missed: 0,
            rate: None,
        }
    }

    fn count(&mut self, outcome: DeadlineOutcome) {
        self.due += 1;
        match outcome {
            DeadlineOutcome::OnTime => self.on_time += 1,
            DeadlineOutcome::Late => self.late += 1,
            DeadlineOutcome::Missed => self.missed += 1,
        }
        self.rate = Some(f64::from(self.on_time) / f64::from(self.due));
    }
}

fn deadline_stats(input: &DigestInput, incidents: &[&Incident]) -> DeadlineStats {
    let milestones = [
        Milestone::Ack,
        Milestone::Statement,
        Milestone::Press,
        Milestone::Response,
    ];
    let mut by_milestone: Vec<RateRow> = milestones
        .iter()
        .map(|m| RateRow::new(m.as_str(), m.chinese()))
        .collect();
    let mut overall = RateRow::new("public", "对外发布与回应");
    let mut by_unit: BTreeMap<&str, RateRow> = BTreeMap::new();
    let mut breaches = Vec::new();
    for incident in incidents {
        let unit = incident.unit.as_deref().unwrap_or(NO_UNIT);
        for deadline in &incident.deadlines {
            let Some((outcome, closed_at)) = outcome(input, incident, deadline) else {
                continue;
            };
            if let Some(row) = by_milestone
                .iter_mut()
                .find(|r| r.key == deadline.milestone.as_str())
            {
                row.count(outcome);
            }
            if PUBLIC.contains(&deadline.milestone) {
                overall.count(outcome);
                by_unit
                    .entry(unit)
                    .or_insert_with(|| RateRow::new(unit, unit))
                    .count(outcome);
            }
            if outcome != DeadlineOutcome::OnTime {
                let until = deadline.met_at.or(closed_at).unwrap_or(input.now);
                breaches.push(Breach {
                    incident: incident.id,
                    title: crate::format::title(&incident.title),
                    level: incident.level,
                    unit: incident.unit.clone(),
                    milestone: deadline.milestone,
                    due_at: deadline.due_at,
                    met_at: deadline.met_at,
                    outcome,
                    overdue_secs: (until - deadline.due_at).num_seconds(),
                    closed_at,
                });
            }
        }
    }
    breaches.sort_by_key(|b| (b.due_at, b.incident, b.milestone));
    let mut by_unit: Vec<RateRow> = by_unit.into_values().collect();
    by_unit.sort_by(|a, b| {
        a.rate
            .unwrap_or(1.0)
            .total_cmp(&b.rate.unwrap_or(1.0))
            .then_with(|| b.due.cmp(&a.due))
            .then_with(|| a.key.cmp(&b.key))
    });
    DeadlineStats {
        overall,
        by_milestone,
        by_unit,
        breaches,
    }
}

fn source_health(input: &DigestInput) -> SourceSummary {
    let mut failing: Vec<FailingSource> = input
        .sources
        .iter()
        .filter(|s| s.state.consecutive_failures > 0)
        .map(|s| FailingSource {
            source: s.id.clone(),
            name: s.name.clone(),
            since: s.state.failing_since,
            failing_secs: s
                .state
                .failing_since
                .map(|since| (input.now - since).num_seconds().max(0)),
            failures: s.state.consecutive_failures,
            last_error: s.state.last_error.as_deref().map(crate::format::excerpt),
            last_ok_at: s.state.last_ok_at,
        })
        .collect();
    failing.sort_by(|a, b| {
        b.failing_secs
            .cmp(&a.failing_secs)
            .then_with(|| a.source.cmp(&b.source))
    });
    SourceSummary {
        total: input.sources.len() as u32,
        failing,
    }
}

fn trend(period: &Period, incidents: &[&Incident]) -> Vec<TrendDay> {
    (0..TREND_DAYS)
        .rev()
        .map(|back| {
            let (start, end) = period.back(back);
            let mut by_level = LevelCounts::default();
            for incident in incidents {
                if incident.status != Status::Dismissed
                    && start <= incident.opened_at
                    && incident.opened_at < end
                {
                    by_level.add(incident.level);
                }
            }
            TrendDay {
                label: crate::time::local_date(start).format("%m-%d").to_string(),
                start,
                end,
                total: by_level.total(),
                by_level,
            }
        })
        .collect()
}

/// The one-paragraph summary in plain Chinese.
fn summary(report: &DigestReport) -> String {
    let c = &report.counts;
    let mut s = String::new();
    s.push_str(match report.period.kind {
        PeriodKind::Scheduled => "本期",
        PeriodKind::Day => "当日",
    });
    let _ = write!(s, "共采集信息{}条", c.items);
    if c.new_incidents == 0 {
        s.push_str("，无新增舆情事件");
    } else {
        let _ = write!(s, "，监测到新增舆情事件{}起", c.new_incidents);
        let parts: Vec<String> = super::LEVELS
            .iter()
            .filter(|l| c.by_level.get(**l) > 0)
            .map(|l| format!("{}{}起", l.chinese(), c.by_level.get(*l)))
            .collect();
        let _ = write!(s, "，其中{}", parts.join("、"));
    }
    if c.dismissed > 0 {
        let _ = write!(s, "；另有{}起经研判为误报", c.dismissed);
    }
    s.push('。');

    let d = &report.deadlines;
    let due: u32 = d.by_milestone.iter().map(|r| r.due).sum();
    if due == 0 {
        s.push_str("期内无到期的处置时限。");
    } else {
        let on_time: u32 = d.by_milestone.iter().map(|r| r.on_time).sum();
        let _ = write!(s, "期内到期处置时限{due}个，按时完成{on_time}个");
        if let Some(rate) = d.overall.rate {
            let _ = write!(s, "，对外发布与回应按时率{}", super::render::percent(rate));
        }
        if d.breaches.is_empty() {
            s.push_str("，全部按时完成。");
        } else {
            // "2起事件未按时发布权威信息、1起事件未按时回应，涉及市应急管理局、…"
            let mut per_milestone: BTreeMap<Milestone, Vec<u64>> = BTreeMap::new();
            let mut units: Vec<&str> = Vec::new();
            for b in &d.breaches {
                let ids = per_milestone.entry(b.milestone).or_default();
                if !ids.contains(&b.incident) {
                    ids.push(b.incident);
                }
                let unit = b.unit.as_deref().unwrap_or(NO_UNIT);
                if !units.contains(&unit) {
                    units.push(unit);
                }
            }
            let parts: Vec<String> = per_milestone
                .iter()
                .map(|(m, ids)| format!("{}起事件未按时{}", ids.len(), m.chinese()))
                .collect();
            let _ = write!(s, "；{}，涉及{}。", parts.join("、"), units.join("、"));
        }
    }

    if c.closed > 0 {
        let _ = write!(s, "期内办结{}起。", c.closed);
    }
    if c.open == 0 {
        s.push_str("目前没有未办结的事件。");
    } else {
        let overdue = report
            .open_incidents
            .iter()
            .filter(|i| i.next_due.as_ref().is_some_and(|d| d.left_secs < 0))
            .count();
        let _ = write!(s, "目前仍有{}起事件未办结", c.open);
        if overdue > 0 {
            let _ = write!(s, "，其中{overdue}起已超时");
        }
        s.push('。');
    }

    let h = &report.sources;
    if h.failing.is_empty() {
        if h.total > 0 {
            let _ = write!(s, "{}个信息源运行正常。", h.total);
        }
    } else {
        let names: Vec<String> = h
            .failing
            .iter()
            .map(|f| match f.failing_secs {
                Some(secs) => format!(
                    "“{}”（已失败{}）",
                    f.name,
                    crate::time::span(chrono::Duration::seconds(secs))
                ),
                None => format!("“{}”", f.name),
            })
            .collect();
        let _ = write!(
            s,
            "{}个信息源中有{}个抓取失败：{}，期间监测可能不完整。",
            h.total,
            h.failing.len(),
            names.join("、")
        );
    }
    s
}
