//! Response recognition (issue 12): is an item the government's own answer to an
//! event, and to which open incident? Pure functions of the item's text and the
//! incidents' facts; no IO. The ledger (`ledger/responses.rs`) applies them.
//!
//! ## Candidate
//! An item is a response candidate when
//! - it comes from an official source (`role = "official"` in feeds.toml), unless its
//!   title reads as routine business (a meeting, a notice, a policy: [`ROUTINE`]) and
//!   has no response form; or
//! - its title has a response form ([`PRESS_FORMS`], [`FOLLOW_UP_FORMS`],
//!   [`STATEMENT_FORMS`]) AND an official speaker ([`SPEAKERS`]) is named in the title
//!   or in the first [`SPEAKER_BODY_CHARS`] characters of the body (where a 通报
//!   reposted by a news site names who issued it).
//!
//! The form decides what the response is: a press conference ([`Form::Press`]), a
//! 续报 ([`Form::FollowUp`]), a statement ([`Form::Statement`]), or, for an official
//! item without a form word, [`Form::Release`] (the jurisdiction's own channel
//! publishing about the event).
//!
//! ## Same event (matching a candidate to an open incident)
//! All of these must hold ([`same_event`]); among several incidents the one sharing
//! the most telling terms wins ([`TermWeights::rank`]: terms weighted by how few open
//! incidents have them), then the most recent:
//! - time: the candidate's time (credible publication, else detection) lies between
//!   the incident's event time minus the incident window and its latest change plus
//!   the window (its `updated_at`, or its event time if later: a new item, and also a
//!   duty officer's action such as 签收 or 定级, keeps an incident answerable, since
//!   the officers are still working on it);
//! - place: the grouping rule (`ledger::places_match`: a shared place name, or
//!   neither names one);
//! - topic: when both have topics, they share one;
//! - key terms, once the response and report vocabulary ([`FORM_TERMS`]: 通报, 关于,
//!   造成, 死亡, 调查 … which every statement or report has) is set aside: at least
//!   [`MIN_SHARED`] shared with the incident's, and at least [`MIN_CONTAINMENT`] of
//!   the candidate's distinct terms among the incident's; when neither names a place,
//!   [`MIN_SHARED_PLACELESS`] shared terms (the terms carry the whole match).
//!
//! The thresholds are conservative on purpose: a wrong match meets a milestone that
//! was not met, hiding a deadline. They were tuned on the tuning half of
//! `tests/eval/responses.jsonl` and are checked on its test half
//! (`tests/eval_responses.rs`).
//!
//! ## Milestone ([`milestone_for`])
//! A press conference meets `press` when the level has it and it is unmet; any other
//! response meets `statement` (levels I–II) or `response` (III–IV) when unmet; a
//! response that finds its milestone already met is a 续报 (持续发布) and meets none.
//! A watch incident has no clocks, so nothing is met.

use std::collections::{BTreeSet, HashMap};

use chrono::Duration;

use crate::ledger::{places_match, shared_terms};
use crate::model::{Deadline, Level, Milestone, Timestamp};

/// Press conference forms: meet `press`.
pub const PRESS_FORMS: [&str; 5] = ["新闻发布会", "发布会", "记者会", "新闻通气会", "吹风会"];
/// Follow-up forms: a later report on the same event.
pub const FOLLOW_UP_FORMS: [&str; 4] = ["续报", "最新进展", "进展情况", "后续情况"];
/// Statement forms (情况通报 and its kin).
pub const STATEMENT_FORMS: [&str; 14] = [
    "情况通报",
    "警情通报",
    "通报",
    "回应",
    "声明",
    "情况说明",
    "说明",
    "答记者问",
    "辟谣",
    "处置情况",
    "权威发布",
    "官方发布",
    "有关情况",
    "澄清",
];
/// Official speakers: a government body or its officers.
pub const SPEAKERS: [&str; 34] = [
    "人民政府",
    "政府",
    "县委",
    "市委",
    "区委",
    "党委",
    "宣传部",
    "网信办",
    "警方",
    "公安",
    "派出所",
    "交警",
    "应急管理局",
    "应急局",
    "消防",
    "卫健委",
    "卫生健康",
    "市场监管",
    "生态环境局",
    "环保局",
    "教育局",
    "住建局",
    "自然资源",
    "水利局",
    "交通运输局",
    "管委会",
    "指挥部",
    "调查组",
    "街道办",
    "办事处",
    "官方",
    "疾控",
    "法院",
    "检察院",
];
/// Titles of routine official business: not a response unless a form word says so.
pub const ROUTINE: [&str; 14] = [
    "会议", "召开", "部署", "学习", "通知", "公示", "公告", "招聘", "招标", "采购", "解读", "政策",
    "规划", "意见",
];
/// Words set aside before terms are compared: the response vocabulary every statement
/// has, and the words of any incident report (what happened to whom, when, found by
/// whom), which say nothing about which event it is.
pub const FORM_TERMS: &[&str] = &[
    "情况通报",
    "通报",
    "情况",
    "回应",
    "声明",
    "说明",
    "关于",
    "有关",
    "发布",
    "发布会",
    "新闻",
    "续报",
    "进展",
    "处置",
    "警情",
    "记者",
    "造成",
    "发生",
    "死亡",
    "受伤",
    "事故",
    "事件",
    "原因",
    "调查",
    "目前",
    "现场",
    "人员",
    "部门",
    "组织",
    "附近",
    "左右",
    "工作",
    "相关",
    "进行",
    "正在",
    "已经",
    "全力",
    "救治",
    "医院",
    "伤者",
    "获悉",
    "了解",
    "据悉",
    "介绍",
    "截至",
    "上午",
    "下午",
    "凌晨",
    "晚上",
    "当日",
    "昨日",
    "今日",
    "群众",
    "已有",
    "出现",
    "领导",
    "赶赴",
    "赶赴现场",
    "扑灭",
    "消防",
    "迅速",
    "人员伤亡",
    "症状",
    "观察",
    "疑似",
    "一所",
    "治疗",
    "送医",
    "轻微",
    "恢复",
    "尚无",
    "暂无",
    "报告",
    "地区",
    "当地",
    "控制",
    "余名",
    "重伤",
    "轻伤",
];

/// How far into the body an official speaker is looked for.
pub const SPEAKER_BODY_CHARS: usize = 200;
/// Shared key terms needed when a place is shared.
pub const MIN_SHARED: usize = 3;
/// Shared key terms needed when neither names a place.
pub const MIN_SHARED_PLACELESS: usize = 4;
/// Share of the candidate's distinct terms that must be among the incident's.
pub const MIN_CONTAINMENT: f64 = 0.3;

/// What kind of response an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// 新闻发布会 and its kin.
    Press,
    /// 续报: a later report.
    FollowUp,
    /// 情况通报, 回应, 声明 …
    Statement,
    /// An official source's item about the event without a form word.
    Release,
}

impl Form {
    /// Whether an item of this form, about an event no incident holds, records the
    /// event as answered (the government spoke first). A bare release does not: it
    /// may be routine news of the government's work.
    pub fn answers_alone(self) -> bool {
        matches!(self, Form::Press | Form::Statement | Form::FollowUp)
    }
}

/// The response form a title has, if any (press first, then 续报, then statements).
pub fn form_of(title: &str) -> Option<Form> {
    let has = |words: &[&str]| words.iter().any(|w| title.contains(w));
    if has(&PRESS_FORMS) {
        Some(Form::Press)
    } else if has(&FOLLOW_UP_FORMS) {
        Some(Form::FollowUp)
    } else if has(&STATEMENT_FORMS) {
        Some(Form::Statement)
    } else {
        None
    }
}

/// Whether an official speaker is named in the title or at the start of the body.
pub fn has_speaker(title: &str, body: &str) -> bool {
    let start: String = body.chars().take(SPEAKER_BODY_CHARS).collect();
    SPEAKERS
        .iter()
        .any(|s| title.contains(s) || start.contains(s))
}

/// Whether an item is a response candidate, and of which form (see the module docs).
pub fn candidate(title: &str, body: &str, official_source: bool) -> Option<Form> {
    let form = form_of(title);
    if official_source {
        return match form {
            Some(form) => Some(form),
            None if ROUTINE.iter().any(|w| title.contains(w)) => None,
            None => Some(Form::Release),
        };
    }
    form.filter(|_| has_speaker(title, body))
}

/// A candidate's terms without the response vocabulary.
pub fn event_terms(terms: &[String]) -> Vec<String> {
    terms
        .iter()
        .filter(|t| !FORM_TERMS.contains(&t.as_str()))
        .cloned()
        .collect()
}

/// What matching needs to know about a candidate or an incident.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    /// Candidate: its time. Incident: its event time.
    pub time: Timestamp,
    /// Incident: its latest change (`updated_at`, or `time` if later: an officer's
    /// action moves it as a new item does); a candidate: the same as `time`.
    pub latest: Timestamp,
    pub places: &'a [String],
    pub topics: &'a [String],
    /// A candidate's terms after [`event_terms`]; an incident's key terms.
    pub terms: &'a [String],
}

/// How well a candidate matches an incident (the share of its terms the incident
/// has), or `None` when they are not the same event (see the module docs).
pub fn same_event(
    candidate: &EventFacts<'_>,
    incident: &EventFacts<'_>,
    window: Duration,
) -> Option<f64> {
    if candidate.time < incident.time - window || candidate.time > incident.latest + window {
        return None;
    }
    if !places_match(candidate.places, incident.places) {
        return None;
    }
    let topics_disagree = !candidate.topics.is_empty()
        && !incident.topics.is_empty()
        && !candidate.topics.iter().any(|t| incident.topics.contains(t));
    if topics_disagree {
        return None;
    }
    let (shared, containment) = shared_terms(candidate.terms, incident.terms);
    let min_shared = if candidate.places.is_empty() {
        MIN_SHARED_PLACELESS
    } else {
        MIN_SHARED
    };
    (shared >= min_shared && containment >= MIN_CONTAINMENT).then_some(containment)
}

/// How telling each term is among the open incidents: a term many of them share (学生,
/// 高速) says less about which event a statement answers than a term only one has
/// (石埠子镇). Inverse document frequency over the incidents' key terms.
#[derive(Debug, Clone, Default)]
pub struct TermWeights {
    counts: HashMap<String, usize>,
    incidents: usize,
}

impl TermWeights {
    /// From the key terms of every open incident.
    pub fn new<'a>(incidents: impl IntoIterator<Item = &'a [String]>) -> TermWeights {
        let mut weights = TermWeights::default();
        for terms in incidents {
            weights.incidents += 1;
            let distinct: BTreeSet<&String> = terms.iter().collect();
            for term in distinct {
                *weights.counts.entry(term.clone()).or_default() += 1;
            }
        }
        weights
    }

    /// From counts kept by the store (`Store::open_term_counts`): `incidents` open
    /// incidents and, for each term given, how many of them have it (a term not given
    /// counts as none): the same weights as [`TermWeights::new`] over those incidents
    /// for every term given.
    pub fn from_counts<'a>(
        incidents: usize,
        counts: impl IntoIterator<Item = (&'a str, usize)>,
    ) -> TermWeights {
        TermWeights {
            counts: counts
                .into_iter()
                .map(|(term, n)| (term.to_string(), n))
                .collect(),
            incidents,
        }
    }

    /// `ln((1 + incidents) / (1 + incidents with the term)) + 1`.
    pub fn weight(&self, term: &str) -> f64 {
        let with = self.counts.get(term).copied().unwrap_or(0);
        ((1 + self.incidents) as f64 / (1 + with) as f64).ln() + 1.0
    }

    /// How strongly the candidate's terms point at this incident: the summed squared
    /// weights of the terms they share (squared, so one term only this incident has
    /// outweighs several that many have). Ranks the incidents [`same_event`] admits.
    pub fn rank(&self, candidate: &[String], incident: &[String]) -> f64 {
        let theirs: BTreeSet<&str> = incident.iter().map(String::as_str).collect();
        let ours: BTreeSet<&str> = candidate.iter().map(String::as_str).collect();
        ours.intersection(&theirs)
            .map(|t| self.weight(t).powi(2))
            .sum()
    }
}

/// The milestone a response of `form` meets on an incident of `level` with these
/// deadlines, if any (see the module docs).
pub fn milestone_for(form: Form, level: Level, deadlines: &[Deadline]) -> Option<Milestone> {
    let unmet = |m: Milestone| {
        level.milestones().contains(&m)
            && deadlines
                .iter()
                .any(|d| d.milestone == m && d.met_at.is_none())
    };
    let wanted = match (form, level) {
        (Form::Press, _) if unmet(Milestone::Press) => Milestone::Press,
        (_, Level::I | Level::II) => Milestone::Statement,
        _ => Milestone::Response,
    };
    unmet(wanted).then_some(wanted)
}

#[cfg(test)]
mod tests;
