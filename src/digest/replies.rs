//! The digest's 留言答复 section: per board and per unit, 答复率 and 按时答复率 over every
//! post tracked so far (the rules are `crate::replies::Rates`), and the posts overdue now.
//! Boards without tracked posts leave the section out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;
use crate::replies::{Rates, ReplyState, TrackedPost};

/// The unit label of a post that no unit was found for.
const NO_UNIT: &str = "未分派";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplySummary {
    /// One row per board (by display name), then one per unit.
    pub boards: Vec<ReplyRates>,
    pub units: Vec<ReplyRates>,
    /// Unanswered posts past their due time, earliest due first.
    pub overdue: Vec<OverduePost>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyRates {
    pub name: String,
    /// Posts counted (removed ones left out).
    pub posts: u32,
    pub replied: u32,
    pub on_time: u32,
    pub overdue: u32,
    /// 答复率, 0–1; `None` without posts.
    pub reply_rate: Option<f64>,
    /// 按时答复率, 0–1; `None` while no outcome is known.
    pub on_time_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverduePost {
    pub board: String,
    pub title: String,
    pub url: Option<String>,
    pub unit: Option<String>,
    pub due_at: Timestamp,
}

/// The section over `posts` at `now`; `board_name` gives a board's display name.
pub fn summarize(
    posts: &[TrackedPost],
    board_name: impl Fn(&str) -> String,
    now: Timestamp,
) -> ReplySummary {
    let mut boards: BTreeMap<String, Vec<&TrackedPost>> = BTreeMap::new();
    let mut units: BTreeMap<&str, Vec<&TrackedPost>> = BTreeMap::new();
    for post in posts {
        boards
            .entry(board_name(&post.source))
            .or_default()
            .push(post);
        units
            .entry(post.unit.as_deref().unwrap_or(NO_UNIT))
            .or_default()
            .push(post);
    }
    let row = |name: &str, posts: &[&TrackedPost]| {
        let rates = Rates::of(posts.iter().copied(), now);
        ReplyRates {
            name: name.to_string(),
            posts: rates.posts,
            replied: rates.replied,
            on_time: rates.on_time,
            overdue: rates.overdue,
            reply_rate: rates.reply_rate(),
            on_time_rate: rates.on_time_rate(),
        }
    };
    let mut overdue: Vec<OverduePost> = posts
        .iter()
        .filter(|p| p.state(now) == ReplyState::Overdue)
        .map(|p| OverduePost {
            board: board_name(&p.source),
            title: p.title.clone(),
            url: p.url.clone(),
            unit: p.unit.clone(),
            due_at: p.due_at,
        })
        .collect();
    overdue.sort_by_key(|p| p.due_at);
    ReplySummary {
        boards: boards.iter().map(|(n, p)| row(n, p)).collect(),
        units: units.iter().map(|(n, p)| row(n, p)).collect(),
        overdue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn post(source: &str, unit: Option<&str>, due: &str, replied: Option<&str>) -> TrackedPost {
        TrackedPost {
            source: source.into(),
            key: format!("{source}{due}{replied:?}"),
            title: "路灯不亮".into(),
            url: None,
            unit: unit.map(Into::into),
            posted_at: at("2026-06-01T00:00:00Z"),
            due_at: at(due),
            replied_at: replied.map(at),
            removed_at: None,
        }
    }

    #[test]
    fn rates_per_board_and_unit_count_a_late_reply_as_late() {
        let now = at("2026-06-20T00:00:00Z");
        let posts = [
            // On time, late, overdue, pending on board a; one on time on board b.
            post(
                "a",
                Some("市住建局"),
                "2026-06-08T00:00:00Z",
                Some("2026-06-07T00:00:00Z"),
            ),
            post(
                "a",
                Some("市住建局"),
                "2026-06-08T00:00:00Z",
                Some("2026-06-09T00:00:00Z"),
            ),
            post("a", None, "2026-06-10T00:00:00Z", None),
            post("a", None, "2026-06-30T00:00:00Z", None),
            post(
                "b",
                Some("市住建局"),
                "2026-06-08T00:00:00Z",
                Some("2026-06-08T00:00:00Z"),
            ),
        ];
        let name = |id: &str| format!("留言板{id}");
        let summary = summarize(&posts, name, now);
        let figures = |r: &ReplyRates| {
            (
                r.name.clone(),
                r.posts,
                r.replied,
                r.on_time,
                r.overdue,
                r.reply_rate,
                r.on_time_rate,
            )
        };
        assert_eq!(
            summary.boards.iter().map(figures).collect::<Vec<_>>(),
            [
                (
                    "留言板a".to_string(),
                    4,
                    2,
                    1,
                    1,
                    Some(0.5),
                    Some(1.0 / 3.0)
                ),
                ("留言板b".to_string(), 1, 1, 1, 0, Some(1.0), Some(1.0)),
            ]
        );
        assert_eq!(
            summary.units.iter().map(figures).collect::<Vec<_>>(),
            [
                (
                    "市住建局".to_string(),
                    3,
                    3,
                    2,
                    0,
                    Some(1.0),
                    Some(2.0 / 3.0)
                ),
                ("未分派".to_string(), 2, 0, 0, 1, Some(0.0), Some(0.0)),
            ]
        );
        assert_eq!(summary.overdue.len(), 1);
        assert_eq!(summary.overdue[0].due_at, at("2026-06-10T00:00:00Z"));
        assert_eq!(
            summarize(&[], |s: &str| s.to_string(), now),
            ReplySummary::default()
        );
    }
}
