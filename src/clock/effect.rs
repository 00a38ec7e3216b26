//! 效果评估 (effect evaluation, issue 12.4; seeds/001 (十六), seeds/004 (九)): did the
//! first response calm the talk about an incident? Pure rules; `clock::evaluate`
//! records the verdict when the window ends.
//!
//! ## Rule
//! - The **first response** `r` of an incident is the earliest met response milestone:
//!   `statement` (发布权威信息), `press` (新闻发布会) or `response` (回应). An incident
//!   with none has no evaluation. Dismissed (误报) and merged incidents are not evaluated.
//! - With the window `W` (`[policy] effect_window`, default 24 h, snapshotted onto the
//!   incident when it opens), an item of the incident counts **before** when its time
//!   is in `[r − W, r)` and **after** when it is in `[r, r + W)`: half-open windows, so
//!   every instant belongs to at most one, and an item at the very instant of the
//!   response counts after. Items outside both windows are not counted.
//! - An item's time is its credible publication time, else the time it was first seen
//!   (no date, or an implausible one).
//! - The items counted are all the items grouped into the incident, whatever their
//!   source (reposts included: each repost is an item), and those merged into it.
//! - The verdict, once `now ≥ r + W` (the after window is complete):
//!   `insufficient` when before + after < 3; else `calming` when after ≤ before / 2
//!   (i.e. 2·after ≤ before); else `rising` when after > before; else `steady`.
//!   Before the window ends: `pending` (with the counts so far).
//! - The verdict is recorded once, at `r + W` (the due index), and not recomputed
//!   later: an item found after that instant does not change it.

use chrono::Duration;

use crate::model::{Effect, Incident, Item, Milestone, Status, Timestamp, Verdict};

/// The milestones that are responses: the earliest met one starts the evaluation.
pub const RESPONSE_MILESTONES: [Milestone; 3] =
    [Milestone::Statement, Milestone::Press, Milestone::Response];

/// Fewer items than this in both windows together: `insufficient`.
pub const MIN_ITEMS: u32 = 3;

/// The first response of an incident: its earliest met response milestone.
pub fn first_response(incident: &Incident) -> Option<Timestamp> {
    incident
        .deadlines
        .iter()
        .filter(|d| RESPONSE_MILESTONES.contains(&d.milestone))
        .filter_map(|d| d.met_at)
        .min()
}

/// The evaluation window of an incident (its policy snapshot).
pub fn window(incident: &Incident) -> Duration {
    Duration::seconds(i64::try_from(incident.policy.effect_secs).unwrap_or(i64::MAX / 1000))
}

/// When the verdict of an incident is due: `r + W`, if it is to be evaluated (it has a
/// response, no recorded verdict, and is neither dismissed nor merged).
pub fn evaluation_at(incident: &Incident) -> Option<Timestamp> {
    if incident.effect.is_some() || matches!(incident.status, Status::Dismissed | Status::Merged) {
        return None;
    }
    first_response(incident).map(|r| end_of(r, window(incident)))
}

/// The time an item counts at: credible publication, else first seen.
pub fn item_time(item: &Item) -> Timestamp {
    item.credible_published().unwrap_or(item.first_seen)
}

/// Items before and after the first response `r`, in windows of `w` (see the rule).
pub fn count(times: impl IntoIterator<Item = Timestamp>, r: Timestamp, w: Duration) -> (u32, u32) {
    let start = r
        .checked_sub_signed(w)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    let end = end_of(r, w);
    let (mut before, mut after) = (0u32, 0u32);
    for t in times {
        if start <= t && t < r {
            before = before.saturating_add(1);
        } else if r <= t && t < end {
            after = after.saturating_add(1);
        }
    }
    (before, after)
}

/// The verdict for the counts, once the window has ended (`ended`), else `pending`.
pub fn verdict(before: u32, after: u32, ended: bool) -> Verdict {
    if !ended {
        Verdict::Pending
    } else if before.saturating_add(after) < MIN_ITEMS {
        Verdict::Insufficient
    } else if u64::from(after) * 2 <= u64::from(before) {
        Verdict::Calming
    } else if after > before {
        Verdict::Rising
    } else {
        Verdict::Steady
    }
}

/// The evaluation of an incident at `now` from its items' times: the recorded one if
/// there is one, else the current counts (`pending` until the window ends). `None`
/// for an incident without a response.
pub fn assess(
    incident: &Incident,
    times: impl IntoIterator<Item = Timestamp>,
    now: Timestamp,
) -> Option<Effect> {
    if let Some(recorded) = &incident.effect {
        return Some(recorded.clone());
    }
    let r = first_response(incident)?;
    let w = window(incident);
    let (before, after) = count(times, r, w);
    Some(Effect {
        verdict: verdict(before, after, now >= end_of(r, w)),
        before,
        after,
        first_response: r,
        window_secs: incident.policy.effect_secs,
    })
}

/// The window as the configuration writes it, in its largest whole unit: `24h`,
/// `90m`, `45s` (`show --json`'s `"window"`).
pub fn window_code(secs: u64) -> String {
    match secs {
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The window in Chinese, in its largest whole unit: `24 小时`, `90 分钟`, `45 秒`.
pub fn window_chinese(secs: u64) -> String {
    match secs {
        s if s > 0 && s % 3600 == 0 => format!("{} 小时", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{} 分钟", s / 60),
        s => format!("{s} 秒"),
    }
}

fn end_of(r: Timestamp, w: Duration) -> Timestamp {
    r.checked_add_signed(w)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DateQuality, Deadline};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn verdicts() {
        // (before, after, ended) → verdict
        let table = [
            (10, 20, false, Verdict::Pending),
            (0, 0, true, Verdict::Insufficient),
            (1, 1, true, Verdict::Insufficient),
            (0, 2, true, Verdict::Insufficient),
            (2, 1, true, Verdict::Calming), // 3 items, after = half of before
            (10, 5, true, Verdict::Calming),
            (10, 0, true, Verdict::Calming),
            (3, 0, true, Verdict::Calming),
            (10, 6, true, Verdict::Steady), // more than half, not more than before
            (10, 10, true, Verdict::Steady),
            (2, 2, true, Verdict::Steady),
            (10, 11, true, Verdict::Rising),
            (0, 3, true, Verdict::Rising),
            (1, 2, true, Verdict::Rising),
            (u32::MAX, u32::MAX, true, Verdict::Steady),
        ];
        for (before, after, ended, want) in table {
            assert_eq!(
                verdict(before, after, ended),
                want,
                "{before}/{after}/{ended}"
            );
        }
    }

    #[test]
    fn windows_are_half_open_around_the_first_response() {
        let r = ts("2026-11-24T10:00:00Z");
        let w = Duration::hours(24);
        // (item time, counted before, counted after)
        let table = [
            ("2026-11-23T09:59:59Z", 0, 0), // older than the window
            ("2026-11-23T10:00:00Z", 1, 0), // r − W: inside
            ("2026-11-24T09:59:59Z", 1, 0),
            ("2026-11-24T10:00:00Z", 0, 1), // at r: after
            ("2026-11-25T09:59:59Z", 0, 1),
            ("2026-11-25T10:00:00Z", 0, 0), // r + W: outside
        ];
        for (at, before, after) in table {
            assert_eq!(count([ts(at)], r, w), (before, after), "{at}");
        }
        let all = table.iter().map(|(at, ..)| ts(at));
        assert_eq!(count(all, r, w), (2, 2));
    }

    #[test]
    fn windows_read_in_their_largest_whole_unit() {
        let table = [
            (24 * 3600, "24h", "24 小时"),
            (3600, "1h", "1 小时"),
            (90 * 60, "90m", "90 分钟"),
            (60, "1m", "1 分钟"),
            (45, "45s", "45 秒"),
            (0, "0s", "0 秒"),
        ];
        for (secs, code, chinese) in table {
            assert_eq!(window_code(secs), code);
            assert_eq!(window_chinese(secs), chinese);
        }
    }

    fn item(published: Option<&str>, quality: Option<DateQuality>, seen: &str) -> Item {
        Item {
            title: "t".into(),
            published: published.map(ts),
            date_quality: quality,
            ..Item::bare("s", "k", ts(seen))
        }
    }

    #[test]
    fn an_item_counts_at_its_credible_publication_else_when_first_seen() {
        let seen = "2026-11-24T12:00:00Z";
        let table = [
            (
                Some("2026-11-24T08:00:00Z"),
                Some(DateQuality::Credible),
                "2026-11-24T08:00:00Z",
            ),
            (
                Some("2031-01-01T00:00:00Z"),
                Some(DateQuality::Implausible),
                seen,
            ),
            (None, None, seen),
        ];
        for (published, quality, want) in table {
            assert_eq!(item_time(&item(published, quality, seen)), ts(want));
        }
    }

    fn responded(met: &[(Milestone, &str)]) -> Incident {
        let mut incident = crate::api::views::tests::incident(7, "化工厂爆炸");
        incident.policy.effect_secs = 3600;
        for &(milestone, at) in met {
            let met_at = Some(ts(at));
            match incident
                .deadlines
                .iter_mut()
                .find(|d| d.milestone == milestone)
            {
                Some(d) => d.met_at = met_at,
                None => incident.deadlines.push(Deadline {
                    milestone,
                    due_at: ts(at),
                    met_at,
                }),
            }
        }
        incident
    }

    #[test]
    fn the_first_response_is_the_earliest_met_response_milestone() {
        // The fixture's ack is met at 02:10: a 签收 is not a response.
        assert_eq!(first_response(&responded(&[])), None);
        assert_eq!(evaluation_at(&responded(&[])), None);
        let both = responded(&[
            (Milestone::Press, "2026-11-24T05:00:00Z"),
            (Milestone::Statement, "2026-11-24T06:00:00Z"),
        ]);
        assert_eq!(first_response(&both), Some(ts("2026-11-24T05:00:00Z")));
        assert_eq!(evaluation_at(&both), Some(ts("2026-11-24T06:00:00Z")));
        let answered = responded(&[(Milestone::Response, "2026-11-24T04:00:00Z")]);
        assert_eq!(first_response(&answered), Some(ts("2026-11-24T04:00:00Z")));
        for status in [Status::Dismissed, Status::Merged] {
            let mut gone = both.clone();
            gone.status = status;
            assert_eq!(evaluation_at(&gone), None, "{status}");
        }
        let mut closed = both.clone();
        closed.status = Status::Closed;
        assert!(
            evaluation_at(&closed).is_some(),
            "办结 before the window ends"
        );
    }

    #[test]
    fn assess_is_pending_until_the_window_ends_then_keeps_the_record() {
        let incident = responded(&[(Milestone::Statement, "2026-11-24T05:00:00Z")]);
        let times = [
            "2026-11-24T04:10:00Z",
            "2026-11-24T05:10:00Z",
            "2026-11-24T05:20:00Z",
        ]
        .map(ts);
        assert_eq!(
            assess(&responded(&[]), times, ts("2026-11-25T00:00:00Z")),
            None
        );
        let during = assess(&incident, times, ts("2026-11-24T05:59:59Z")).unwrap();
        assert_eq!(
            (during.verdict, during.before, during.after),
            (Verdict::Pending, 1, 2)
        );
        let ended = assess(&incident, times, ts("2026-11-24T06:00:00Z")).unwrap();
        assert_eq!(ended.verdict, Verdict::Rising);
        assert_eq!(ended.window_secs, 3600);
        assert_eq!(ended.first_response, ts("2026-11-24T05:00:00Z"));
        let mut recorded = incident.clone();
        recorded.effect = Some(Effect {
            verdict: Verdict::Calming,
            ..ended
        });
        let later = assess(&recorded, times, ts("2026-11-30T00:00:00Z")).unwrap();
        assert_eq!(
            later.verdict,
            Verdict::Calming,
            "recorded once, never recomputed"
        );
        assert_eq!(evaluation_at(&recorded), None);
    }
}
