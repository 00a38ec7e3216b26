//! Response clocks: deadline computation and the schedule of notices each clock
//! produces, as pure functions of an incident's [`PolicySnapshot`] and its times.
//! [`task`] runs them: one tokio task that sleeps until the earliest due notice.
//!
//! ## Windows
//! Every level with a clock has the 签收 (ack) clock, which runs from detection
//! (`opened_at`: nobody can acknowledge what the daemon has not seen yet). The public
//! clocks run from the event (`event_at`, see `Incident::event_at`): statement and press
//! for levels I–II, response for III–IV. Watch has no clock.
//!
//! ## Steps
//! A running clock with window `W` and due time `due` sends, in order (step index in
//! brackets, `k` = number of `remind_at` fractions):
//! - `[i < k]` at `due − (1 − remind_at[i])·W`: the first is a reminder, later ones are
//!   escalations (key `<id>/<milestone>/<percent>`);
//! - `[k + n − 1]` at `due + (n − 1)·overdue_repeat`: the n-th overdue notice
//!   (key `<id>/<milestone>/overdue/<n>`), repeated until the milestone is met.
//!
//! ## Catch-up rule
//! When a clock is (re)scheduled or fires late (after downtime, or after a regrade
//! or an earlier event time moved its deadline), only the *latest* step whose time
//! has come is sent; the steps it supersedes are skipped. So a window found already
//! overdue sends `overdue/n` for the current `n`, not its 60 % reminder, and a
//! daemon that was down for three repeat periods sends one overdue notice, not three.
//! Notice keys are queued at most once ever (the outbox), so re-firing a step that
//! was already sent is a no-op.

pub mod effect;
mod evaluate;
pub mod fire;
pub mod policies;
pub mod replies;
pub mod task;

use chrono::Duration;

pub use fire::{Deadlines, FireReport};

use crate::model::{
    Deadline, Incident, IncidentId, Level, Milestone, NoticeKey, PolicySnapshot, Timestamp,
};
use crate::store::DueEntry;

/// What one step of a clock sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// `percent` of the window elapsed; the first fraction is a reminder, later ones escalate.
    Fraction { percent: u8, escalation: bool },
    /// The window closed unmet; `repeat` counts from 1.
    Overdue { repeat: u32 },
}

/// The kind of step `index` under `policy` (see the module docs for the numbering).
pub fn step_kind(policy: &PolicySnapshot, index: u32) -> StepKind {
    let k = fraction_count(policy);
    if index < k {
        let fraction = policy.remind_at[index as usize];
        StepKind::Fraction {
            percent: (fraction * 100.0).round().clamp(0.0, 100.0) as u8,
            escalation: index > 0,
        }
    } else {
        StepKind::Overdue {
            repeat: index - k + 1,
        }
    }
}

/// When step `index` of `deadline` is due.
pub fn step_at(policy: &PolicySnapshot, deadline: &Deadline, index: u32) -> Timestamp {
    let k = fraction_count(policy);
    if index < k {
        let window_ms = window(policy, deadline.milestone).num_milliseconds() as f64;
        let before = (1.0 - policy.remind_at[index as usize]) * window_ms;
        deadline
            .due_at
            .checked_sub_signed(Duration::milliseconds(before.round() as i64))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
    } else {
        let n = i64::from(index - k);
        let after = repeat(policy).num_milliseconds().saturating_mul(n);
        // Past the representable range (never in practice): as late as time goes.
        deadline
            .due_at
            .checked_add_signed(Duration::milliseconds(after))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
    }
}

/// The latest step whose time has come at `now`, if any (the catch-up rule).
pub fn current_step(policy: &PolicySnapshot, deadline: &Deadline, now: Timestamp) -> Option<u32> {
    let k = fraction_count(policy);
    if now >= deadline.due_at {
        let late = (now - deadline.due_at).num_milliseconds();
        let n = late / repeat(policy).num_milliseconds().max(1);
        return Some(k.saturating_add(u32::try_from(n).unwrap_or(u32::MAX - k)));
    }
    (0..k).rev().find(|&i| step_at(policy, deadline, i) <= now)
}

/// The step to schedule for an unmet clock at `now`: the current one if a step's time
/// has come (it fires at once), else the first.
pub fn step_to_schedule(policy: &PolicySnapshot, deadline: &Deadline, now: Timestamp) -> u32 {
    current_step(policy, deadline, now).unwrap_or(0)
}

/// The due entry for an unmet deadline at `now` (catch-up rule: the latest step whose
/// time has come, else the first).
pub fn due_entry(incident: &Incident, deadline: &Deadline, now: Timestamp) -> DueEntry {
    step_entry(
        incident,
        deadline,
        step_to_schedule(&incident.policy, deadline, now),
    )
}

/// The due entry of step `step` of an incident's deadline.
pub fn step_entry(incident: &Incident, deadline: &Deadline, step: u32) -> DueEntry {
    DueEntry::new(
        step_at(&incident.policy, deadline, step),
        incident.id,
        deadline.milestone,
        step,
    )
}

impl StepKind {
    /// The `X-Yuqing-Notice` key of this step of a clock.
    pub fn notice_key(self, incident: IncidentId, milestone: Milestone) -> NoticeKey {
        match self {
            StepKind::Fraction { percent, .. } => NoticeKey::Reminder {
                incident,
                milestone,
                percent,
            },
            StepKind::Overdue { repeat } => NoticeKey::Overdue {
                incident,
                milestone,
                repeat,
            },
        }
    }
}

/// A milestone's window under `policy`.
pub fn window(policy: &PolicySnapshot, milestone: Milestone) -> Duration {
    Duration::seconds(i64::try_from(policy.window_secs(milestone)).unwrap_or(i64::MAX / 1000))
}

/// The deadlines of an incident at `level`: one per milestone the level has, due a
/// window after its start (detection for ack, the event for the others). Met deadlines
/// in `existing` are kept as they are (also those of milestones the level no longer
/// has: they are history); unmet ones are recomputed.
pub fn deadlines_for(
    level: Level,
    policy: &PolicySnapshot,
    event_at: Timestamp,
    opened_at: Timestamp,
    existing: &[Deadline],
) -> Vec<Deadline> {
    let met = |m: Milestone| {
        existing
            .iter()
            .find(|d| d.milestone == m && d.met_at.is_some())
    };
    let mut deadlines: Vec<Deadline> = level
        .milestones()
        .iter()
        .map(|&milestone| {
            met(milestone).cloned().unwrap_or_else(|| {
                let start = if milestone == Milestone::Ack {
                    opened_at
                } else {
                    event_at
                };
                Deadline {
                    milestone,
                    due_at: start
                        .checked_add_signed(window(policy, milestone))
                        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
                    met_at: None,
                }
            })
        })
        .collect();
    for d in existing {
        if d.met_at.is_some() && !deadlines.iter().any(|n| n.milestone == d.milestone) {
            deadlines.push(d.clone());
        }
    }
    deadlines.sort_by_key(|d| d.milestone);
    deadlines
}

fn fraction_count(policy: &PolicySnapshot) -> u32 {
    u32::try_from(policy.remind_at.len()).unwrap_or(u32::MAX)
}

fn repeat(policy: &PolicySnapshot) -> Duration {
    Duration::seconds(i64::try_from(policy.overdue_repeat_secs.max(1)).unwrap_or(i64::MAX / 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PolicySnapshot {
        PolicySnapshot::from(&crate::config::Policy::default())
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn statement(due: &str) -> Deadline {
        Deadline {
            milestone: Milestone::Statement,
            due_at: ts(due),
            met_at: None,
        }
    }

    #[test]
    fn steps_of_a_statement_window() {
        // 5 h window due at 05:00: 60 % at 03:00, 80 % at 04:00, overdue at 05:00, 06:00, …
        let p = policy();
        let d = statement("2026-11-24T05:00:00Z");
        let table = [
            (0, "2026-11-24T03:00:00Z", "42/statement/60"),
            (1, "2026-11-24T04:00:00Z", "42/statement/80"),
            (2, "2026-11-24T05:00:00Z", "42/statement/overdue/1"),
            (3, "2026-11-24T06:00:00Z", "42/statement/overdue/2"),
            (9, "2026-11-24T12:00:00Z", "42/statement/overdue/8"),
        ];
        assert_eq!(
            step_at(&p, &d, u32::MAX),
            chrono::DateTime::<chrono::Utc>::MAX_UTC
        );
        for (index, at, key) in table {
            assert_eq!(step_at(&p, &d, index), ts(at), "step {index}");
            assert_eq!(
                step_kind(&p, index)
                    .notice_key(42, Milestone::Statement)
                    .to_string(),
                key
            );
        }
        assert_eq!(
            step_kind(&p, 0),
            StepKind::Fraction {
                percent: 60,
                escalation: false
            }
        );
        assert_eq!(
            step_kind(&p, 1),
            StepKind::Fraction {
                percent: 80,
                escalation: true
            }
        );
    }

    #[test]
    fn current_step_collapses_stale_steps() {
        let p = policy();
        let d = statement("2026-11-24T05:00:00Z");
        let table = [
            ("2026-11-24T01:00:00Z", None, 0),
            ("2026-11-24T02:59:59Z", None, 0),
            ("2026-11-24T03:00:00Z", Some(0), 0),
            ("2026-11-24T04:30:00Z", Some(1), 1),
            // Found overdue: the reminders are skipped.
            ("2026-11-24T05:00:00Z", Some(2), 2),
            // Three and a half repeat periods late: one notice, overdue/4.
            ("2026-11-24T08:30:00Z", Some(5), 5),
        ];
        for (now, current, schedule) in table {
            assert_eq!(current_step(&p, &d, ts(now)), current, "at {now}");
            assert_eq!(step_to_schedule(&p, &d, ts(now)), schedule, "at {now}");
        }
    }

    #[test]
    fn deadlines_per_level_keep_met_ones() {
        let p = policy();
        let event = ts("2026-11-24T00:00:00Z");
        let opened = ts("2026-11-24T01:00:00Z");
        let two = deadlines_for(Level::II, &p, event, opened, &[]);
        let got: Vec<_> = two.iter().map(|d| (d.milestone, d.due_at)).collect();
        assert_eq!(
            got,
            [
                (Milestone::Ack, ts("2026-11-24T01:30:00Z")),
                (Milestone::Statement, ts("2026-11-24T05:00:00Z")),
                (Milestone::Press, ts("2026-11-25T00:00:00Z")),
            ]
        );
        assert!(deadlines_for(Level::Watch, &p, event, opened, &[]).is_empty());

        // Ack met, then regraded to IV: ack kept as met, response added.
        let mut acked = two.clone();
        acked[0].met_at = Some(ts("2026-11-24T01:10:00Z"));
        let four = deadlines_for(Level::IV, &p, event, opened, &acked);
        assert_eq!(four.len(), 2);
        assert_eq!(four[0], acked[0]);
        assert_eq!(four[1].milestone, Milestone::Response);
        assert_eq!(four[1].due_at, ts("2026-11-26T00:00:00Z"));

        // A met statement survives a regrade to III as history.
        let mut stated = two;
        stated[1].met_at = Some(ts("2026-11-24T03:00:00Z"));
        let three = deadlines_for(Level::III, &p, event, opened, &stated);
        let milestones: Vec<_> = three.iter().map(|d| d.milestone).collect();
        assert_eq!(
            milestones,
            [Milestone::Ack, Milestone::Statement, Milestone::Response]
        );
    }
}
