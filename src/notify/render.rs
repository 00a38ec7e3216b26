//! Notice → mail. Pure: the same notice always renders the same headers and text
//! (the Date header is the notice's `created_at`, times left are counted from it
//! too; only the MIME boundary is random), so a retry after a crash sends the mail
//! the first attempt would have.
//!
//! Headers (interface.md): `X-Yuqing-Notice: KEY` on every mail; `X-Yuqing-Incident`
//! and `X-Yuqing-Level` on incident mails; `Message-ID` derived from the key
//! (`<yuqing.42.statement.80@domain>`, domain from the From address); every mail of
//! incident 42 other than its `42/opened` notice carries `In-Reply-To` and
//! `References` pointing at `<yuqing.42.opened@domain>`, so one incident is one thread.
//!
//! Untrusted text (titles, error messages, source names) is cleaned of control
//! characters before it goes into a header, and HTML-escaped in the HTML part.

use askama::Template as _;
use chrono::Duration;
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use std::fmt::Write as _;

use super::{NotifyError, key_token};
use crate::format::{self, LevelStyle, clean_line, truncate};
use crate::model::{
    Deadline, DeadlineState, Incident, IncidentId, Level, Milestone, Notice, NoticeKey, NoticeKind,
    Status, Timestamp, topic_name,
};
use crate::time;

/// Longest incident title shown in a subject, in characters.
const TITLE_MAX: usize = 60;
/// Longest subject, in characters.
const SUBJECT_MAX: usize = 150;

/// What every mail is sent as: the From mailbox and the domain Message-IDs use.
#[derive(Debug, Clone)]
pub struct Letterhead {
    from: Mailbox,
    domain: String,
}

impl Letterhead {
    /// From a `From` value such as `舆情值班室 <yuqing@example.gov.cn>` (see
    /// [`Config::mail_from`](crate::config::Config::mail_from)). Message-IDs use its domain.
    pub fn new(from: &str) -> Result<Letterhead, NotifyError> {
        let from: Mailbox = from
            .parse()
            .map_err(|_| NotifyError::BadFrom(from.to_string()))?;
        let domain = from.email.domain().to_string();
        Ok(Letterhead { from, domain })
    }

    /// The Message-ID of the notice with this key: stable, so a re-send is recognisably the same mail.
    pub fn message_id(&self, key: &str) -> String {
        format!("<yuqing.{}@{}>", key_token(key), self.domain)
    }

    /// The id every mail of an incident replies to: that of its `ID/opened` notice.
    pub fn thread_root(&self, incident: IncidentId) -> String {
        self.message_id(&NoticeKey::Opened { incident }.to_string())
    }

    /// Renders a notice. Fails only for addresses that do not parse (or none at all).
    pub fn render(&self, notice: &Notice) -> Result<Message, NotifyError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject(notice))
            .date(notice.created_at.into())
            .message_id(Some(self.message_id(&notice.key)))
            .raw_header(header("Auto-Submitted", "auto-generated"))
            .raw_header(header("X-Yuqing-Notice", &clean_line(&notice.key)));
        if notice.to.is_empty() {
            return Err(NotifyError::NoRecipients(notice.key.clone()));
        }
        for to in &notice.to {
            let mailbox: Mailbox = to
                .parse()
                .map_err(|_| NotifyError::BadRecipient(to.clone()))?;
            builder = builder.to(mailbox);
        }
        if let Some(incident) = notice.incident() {
            builder = builder
                .raw_header(header("X-Yuqing-Incident", &incident.id.to_string()))
                .raw_header(header("X-Yuqing-Level", incident.level.as_str()));
            let root = self.thread_root(incident.id);
            if self.message_id(&notice.key) != root {
                builder = builder.in_reply_to(root.clone()).references(root);
            }
        }
        let (text, html) = match &notice.kind {
            NoticeKind::Digest { text, html, .. } => (text.clone(), html.clone()),
            _ => {
                let body = body(notice);
                (body.text(), body.html())
            }
        };
        builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|source| NotifyError::Build {
                key: notice.key.clone(),
                source,
            })
    }
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

/// The subject of a notice, as sent: one line, at most 150 characters.
pub fn subject(notice: &Notice) -> String {
    let at = notice.created_at;
    let line = match &notice.kind {
        NoticeKind::Opened { incident } => {
            let clock = headline_deadline(incident)
                .map(|d| format!(" {}", clock_phrase(d, at)))
                .unwrap_or_default();
            format!("【{}】{}{clock}", grade(incident), short_title(incident))
        }
        NoticeKind::Reminder {
            incident,
            milestone,
            escalation,
            ..
        } => {
            let tag = if *escalation { "紧急" } else { "提醒" };
            let clock = incident
                .deadline(*milestone)
                .map(|d| format!(" {}", clock_phrase(d, at)))
                .unwrap_or_default();
            format!(
                "【{tag}·{}】{}{clock}",
                grade(incident),
                short_title(incident)
            )
        }
        NoticeKind::Overdue {
            incident,
            milestone,
            repeat,
        } => {
            let clock = incident
                .deadline(*milestone)
                .map(|d| format!(" {}", clock_phrase(d, at)))
                .unwrap_or_default();
            format!(
                "【逾期·{}】{}{clock}（第{repeat}次提醒）",
                grade(incident),
                short_title(incident)
            )
        }
        NoticeKind::SourceFailing { name, since, .. } => format!(
            "【信息源异常】{} 自 {} 起无法获取",
            truncate(&clean_line(name), TITLE_MAX),
            time::local(*since)
        ),
        NoticeKind::DeadLetter {
            original_key,
            original_subject,
            ..
        } => {
            let what = if original_subject.is_empty() {
                format!("通知 {original_key}")
            } else {
                original_subject.clone()
            };
            format!("【邮件投递失败】{}", clean_line(&what))
        }
        NoticeKind::Bulletin { subject, .. } | NoticeKind::Digest { subject, .. } => {
            subject.clone()
        }
    };
    truncate(&clean_line(&line), SUBJECT_MAX)
}

/// `重大·安全生产`: the grade and the primary topic.
fn grade(incident: &Incident) -> String {
    match incident.topics.first() {
        Some(topic) => format!(
            "{}·{}",
            incident.level.chinese(),
            clean_line(topic_name(topic))
        ),
        None => incident.level.chinese().to_string(),
    }
}

fn short_title(incident: &Incident) -> String {
    truncate(&clean_line(&incident.title), TITLE_MAX)
}

/// The deadline a new-incident subject counts down to: the soonest unmet public
/// milestone (statement, press, response); the acknowledgement only when no other is left.
fn headline_deadline(incident: &Incident) -> Option<&Deadline> {
    let unmet = || incident.deadlines.iter().filter(|d| d.met_at.is_none());
    unmet()
        .filter(|d| d.milestone != Milestone::Ack)
        .min_by_key(|d| d.due_at)
        .or_else(|| unmet().min_by_key(|d| d.due_at))
}

/// `距发布权威信息时限 1时12分`, `已超过发布权威信息时限 35分`, or `已到发布权威信息时限`
/// in the first minute (never "超过 0分"), as of `at`.
fn clock_phrase(deadline: &Deadline, at: Timestamp) -> String {
    let name = deadline.milestone.chinese();
    if let Some(met) = deadline.met_at {
        return format!("已于 {} 完成{name}", time::local(met));
    }
    let late = at - deadline.due_at;
    if late >= Duration::minutes(1) {
        format!("已超过{name}时限 {}", time::span(late))
    } else if late >= Duration::zero() {
        format!("已到{name}时限")
    } else {
        format!("距{name}时限 {}", time::span(deadline.due_at - at))
    }
}

/// The content of a mail, rendered twice: as plain text and as HTML.
struct MailContent {
    heading: String,
    paragraphs: Vec<String>,
    facts: Vec<(&'static str, String)>,
    deadlines: Vec<DeadlineRow>,
    sources: Vec<SourceRow>,
    commands: Vec<(String, String)>,
    key: String,
}

struct DeadlineRow {
    milestone: &'static str,
    due: String,
    state: String,
    overdue: bool,
}

struct SourceRow {
    source: String,
    key: String,
    /// An http(s) address to link to, when the item key is one.
    link: Option<String>,
}

fn body(notice: &Notice) -> MailContent {
    let at = notice.created_at;
    let mut body = MailContent {
        heading: subject(notice),
        paragraphs: Vec::new(),
        facts: Vec::new(),
        deadlines: Vec::new(),
        sources: Vec::new(),
        commands: Vec::new(),
        key: notice.key.clone(),
    };
    match &notice.kind {
        NoticeKind::Opened { incident } => {
            // 等级为 II 级（重大） / 等级为关注（不计时限）
            let space = if incident.level == Level::Watch {
                ""
            } else {
                " "
            };
            body.paragraphs.push(format!(
                "发现新的舆情事件，已登记为事件 {}，等级为{space}{}。请值班人员立即签收，并通知牵头单位按时限办理。",
                incident.id,
                format::level(incident.level, LevelStyle::Grade)
            ));
            incident_details(&mut body, incident, at);
        }
        NoticeKind::Reminder {
            incident,
            milestone,
            percent,
            escalation,
        } => {
            let due = incident
                .deadline(*milestone)
                .map(|d| {
                    format!(
                        "将于 {} 到期（剩余 {}）",
                        time::local(d.due_at),
                        time::time_left(d.due_at, at)
                    )
                })
                .unwrap_or_default();
            let ask = if *escalation {
                "仍未完成，请领导督办。"
            } else {
                "请抓紧办理，完成后登记。"
            };
            body.paragraphs.push(format!(
                "事件 {}「{}」的{}时限已过去 {percent}%，{due}，{ask}",
                incident.id,
                format::title(&incident.title),
                milestone.chinese()
            ));
            incident_details(&mut body, incident, at);
        }
        NoticeKind::Overdue {
            incident,
            milestone,
            repeat,
        } => {
            let late = incident
                .deadline(*milestone)
                .map(|d| {
                    let due = format!("已于 {} 到期", time::local(d.due_at));
                    if at - d.due_at < Duration::minutes(1) {
                        due
                    } else {
                        format!("{due}，至本通知发出时已超时 {}", time::span(at - d.due_at))
                    }
                })
                .unwrap_or_default();
            let every = Duration::try_seconds(
                i64::try_from(incident.policy.overdue_repeat_secs).unwrap_or(i64::MAX),
            )
            .unwrap_or(Duration::MAX);
            body.paragraphs.push(format!(
                "事件 {}「{}」的{}时限{late}。这是第 {repeat} 次逾期提醒；在登记完成前每 {} 提醒一次。请立即办理并登记。",
                incident.id,
                format::title(&incident.title),
                milestone.chinese(),
                time::span(every)
            ));
            incident_details(&mut body, incident, at);
        }
        NoticeKind::SourceFailing {
            source,
            name,
            since,
            error,
            episode,
        } => {
            body.paragraphs.push(format!(
                "信息源「{}」自 {} 起一直无法获取，期间的舆情可能被漏掉。请检查该网站是否改版或无法访问，必要时修改 feeds.toml 中的设置。",
                clean_line(name),
                time::local(*since)
            ));
            body.facts.push(("信息源编号", source.clone()));
            body.facts.push(("信息源名称", name.clone()));
            body.facts.push(("开始失败", time::local(*since)));
            body.facts.push(("最近错误", format::excerpt(error)));
            body.facts.push(("异常次数", format!("第 {episode} 次")));
            body.commands.push((
                "检查该信息源".into(),
                format!("yuqing feeds check --source {}", clean_line(source)),
            ));
            body.commands
                .push(("查看系统状态".into(), "yuqing status".into()));
        }
        NoticeKind::DeadLetter {
            original_key,
            original_to,
            error,
            original_subject,
        } => {
            body.paragraphs.push(
                "下面这封通知邮件被邮件服务器拒收（永久性错误），收件人没有收到。请核对收件地址，并用其他方式把内容转告收件人。"
                    .into(),
            );
            body.facts.push(("通知编号", original_key.clone()));
            if !original_subject.is_empty() {
                body.facts.push(("邮件主题", original_subject.clone()));
            }
            body.facts.push(("收件人", original_to.join("，")));
            body.facts.push(("错误", format::excerpt(error)));
            body.commands
                .push(("查看投递状态".into(), "yuqing status".into()));
        }
        NoticeKind::Bulletin {
            paragraphs,
            commands,
            ..
        } => {
            body.paragraphs.extend(paragraphs.iter().cloned());
            body.commands.extend(commands.iter().cloned());
        }
        NoticeKind::Digest { .. } => {}
    }
    body
}

/// Facts, deadlines, sources and commands of an incident, as of `at`.
fn incident_details(body: &mut MailContent, incident: &Incident, at: Timestamp) {
    body.facts.push(("事件编号", incident.id.to_string()));
    body.facts.push(("标题", format::title(&incident.title)));
    body.facts
        .push(("等级", format::level(incident.level, LevelStyle::Grade)));
    body.facts.push(("状态", incident.status.chinese().into()));
    if !incident.topics.is_empty() {
        let topics: Vec<&str> = incident.topics.iter().map(|t| topic_name(t)).collect();
        body.facts.push(("类别", topics.join("、")));
    }
    body.facts.push((
        "牵头单位",
        incident.unit.clone().unwrap_or_else(|| "未确定".into()),
    ));
    if !incident.places.is_empty() {
        body.facts.push(("涉及地点", incident.places.join("、")));
    }
    body.facts.push((
        "事发时间",
        format!("{}（北京时间）", time::local(incident.event_at)),
    ));
    body.facts.push((
        "发现时间",
        format!("{}（北京时间）", time::local(incident.opened_at)),
    ));

    for deadline in &incident.deadlines {
        let state = deadline.state(at);
        let text = match state {
            DeadlineState::Met => {
                let met = deadline.met_at.unwrap_or(deadline.due_at);
                match deadline.on_time() {
                    Some(false) => format!(
                        "已完成（{}，超时 {}）",
                        time::local(met),
                        time::span(met - deadline.due_at)
                    ),
                    _ => format!("已完成（{}，按时）", time::local(met)),
                }
            }
            DeadlineState::Overdue => format!("已逾期 {}", time::span(at - deadline.due_at)),
            DeadlineState::Pending => format!("剩余 {}", time::span(deadline.due_at - at)),
            DeadlineState::Missed => "未完成".to_string(),
        };
        body.deadlines.push(DeadlineRow {
            milestone: deadline.milestone.chinese(),
            due: time::local(deadline.due_at),
            state: text,
            overdue: state == DeadlineState::Overdue,
        });
    }

    for item in &incident.items {
        let link = url::Url::parse(&item.key)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .map(String::from);
        body.sources.push(SourceRow {
            source: item.source.clone(),
            key: item.key.clone(),
            link,
        });
    }

    if incident.status.is_open() {
        let id = incident.id;
        if incident.status == Status::New {
            body.commands
                .push(("签收".into(), format!("yuqing ack {id} --by 姓名")));
        }
        for deadline in incident.deadlines.iter().filter(|d| d.met_at.is_none()) {
            if deadline.milestone == Milestone::Ack {
                continue;
            }
            body.commands.push((
                format!("登记{}", deadline.milestone.chinese()),
                format!(
                    "yuqing milestone {id} {} --by 姓名 --url 发布链接",
                    deadline.milestone.as_str()
                ),
            ));
        }
        body.commands
            .push(("查看详情".into(), format!("yuqing show {id}")));
    }
}

const FOOTER: &str = "本邮件由 yuqing 舆情监测系统自动发送，请勿直接回复。";

impl MailContent {
    fn text(&self) -> String {
        let mut out = format!("{}\n\n", self.heading);
        for p in &self.paragraphs {
            let _ = write!(out, "{}\n\n", clean_line(p));
        }
        for (label, value) in &self.facts {
            let _ = writeln!(out, "{label}：{}", clean_line(value));
        }
        if !self.deadlines.is_empty() {
            out.push_str("\n时限：\n");
            for d in &self.deadlines {
                let _ = writeln!(out, "  {}：{} 截止，{}", d.milestone, d.due, d.state);
            }
        }
        if !self.sources.is_empty() {
            let _ = writeln!(out, "\n信息来源（共 {} 条）：", self.sources.len());
            for (n, s) in self.sources.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "  {}. [{}] {}",
                    n + 1,
                    clean_line(&s.source),
                    clean_line(s.link.as_deref().unwrap_or(&s.key))
                );
            }
        }
        if !self.commands.is_empty() {
            out.push_str("\n操作命令（在值班电脑上执行，“姓名”换成您的名字）：\n");
            for (label, command) in &self.commands {
                let _ = writeln!(out, "  {label}：{command}");
            }
        }
        let _ = writeln!(out, "\n——\n{FOOTER}通知编号：{}", clean_line(&self.key));
        out
    }

    /// The HTML part, through `templates/mail.html` (every value auto-escaped).
    fn html(&self) -> String {
        MailHtml {
            body: self,
            footer: FOOTER,
        }
        .render()
        .unwrap_or_else(|err| {
            // A template renders plain data into a String; it cannot fail in practice.
            tracing::error!(error = %err, "mail template failed");
            String::new()
        })
    }
}

#[derive(askama::Template)]
#[template(path = "mail.html")]
struct MailHtml<'a> {
    body: &'a MailContent,
    footer: &'a str,
}

impl std::ops::Deref for MailHtml<'_> {
    type Target = MailContent;

    fn deref(&self) -> &MailContent {
        self.body
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use mail_parser::MessageParser;

    use super::*;
    use crate::config::Policy;
    use crate::model::{ItemRef, PolicySnapshot};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Level II, event at 10:00 Beijing, opened at 13:48: statement due 15:00.
    fn incident() -> Incident {
        let event = ts("2026-11-24T02:00:00Z");
        let opened = ts("2026-11-24T05:48:00Z");
        let m = chrono::Duration::minutes;
        Incident {
            id: 42,
            title: "某化工厂爆炸致3人死亡".into(),
            level: Level::II,
            detected_level: Level::II,
            status: Status::New,
            topics: vec!["work_safety".into(), "accident".into()],
            unit: Some("市应急管理局".into()),
            places: vec!["安丘市".into()],
            local: true,
            event_at: event,
            opened_at: opened,
            updated_at: opened,
            items: vec![
                ItemRef {
                    source: "anqiu-news".into(),
                    key: "https://news.example.cn/a?id=1&x=2".into(),
                },
                ItemRef {
                    source: "anqiu-board".into(),
                    key: "tid-8812".into(),
                },
            ],
            sources: BTreeSet::from(["anqiu-news".to_string(), "anqiu-board".to_string()]),
            terms: vec![],
            deadlines: vec![
                Deadline {
                    milestone: Milestone::Ack,
                    due_at: opened + m(30),
                    met_at: None,
                },
                Deadline {
                    milestone: Milestone::Statement,
                    due_at: event + m(300),
                    met_at: None,
                },
                Deadline {
                    milestone: Milestone::Press,
                    due_at: event + m(1440),
                    met_at: None,
                },
            ],
            policy: PolicySnapshot::from(&Policy::default()),
            merged_into: None,
        }
    }

    fn notice(key: &str, created_at: &str, kind: NoticeKind) -> Notice {
        Notice {
            key: key.into(),
            to: vec![
                "duty@example.gov.cn".into(),
                "宣传部 <xcb@example.gov.cn>".into(),
            ],
            created_at: ts(created_at),
            kind,
        }
    }

    fn opened(incident: Incident) -> Notice {
        notice(
            "42/opened",
            "2026-11-24T05:48:00Z",
            NoticeKind::Opened {
                incident: Box::new(incident),
            },
        )
    }

    /// A statement reminder (escalation past the first fraction) of incident 42.
    fn reminder(percent: u8, escalation: bool, created_at: &str) -> Notice {
        notice(
            &format!("42/statement/{percent}"),
            created_at,
            NoticeKind::Reminder {
                incident: Box::new(incident()),
                milestone: Milestone::Statement,
                percent,
                escalation,
            },
        )
    }

    /// The `repeat`-th statement overdue notice of `incident`.
    fn overdue(incident: Box<Incident>, repeat: u32, created_at: &str) -> Notice {
        notice(
            &format!("42/statement/overdue/{repeat}"),
            created_at,
            NoticeKind::Overdue {
                incident,
                milestone: Milestone::Statement,
                repeat,
            },
        )
    }

    fn source_failing() -> Notice {
        notice(
            "source/anqiu-board/failing/3",
            "2026-11-24T02:00:00Z",
            NoticeKind::SourceFailing {
                source: "anqiu-board".into(),
                name: "安丘市政府网站留言板".into(),
                since: ts("2026-11-24T01:00:00Z"),
                error: "连接超时".into(),
                episode: 3,
            },
        )
    }

    fn dead_letter() -> Notice {
        notice(
            "dead/42/opened",
            "2026-11-24T06:00:00Z",
            NoticeKind::DeadLetter {
                original_key: "42/opened".into(),
                original_to: vec!["nobody@example.gov.cn".into()],
                error: "550 Mailbox unavailable".into(),
                original_subject: "【重大·安全生产】某化工厂爆炸".into(),
            },
        )
    }

    fn letterhead() -> Letterhead {
        Letterhead::new("舆情值班室 <yuqing@example.gov.cn>").unwrap()
    }

    fn raw(notice: &Notice) -> Vec<u8> {
        letterhead().render(notice).unwrap().formatted()
    }

    #[test]
    fn subjects_read_as_specified() {
        let inc = || Box::new(incident());
        let mut watch = incident();
        watch.level = Level::Watch;
        watch.deadlines.clear();
        let mut response = incident();
        response.level = Level::IV;
        response.topics.clear();
        response.deadlines = vec![Deadline {
            milestone: Milestone::Response,
            due_at: ts("2026-11-26T02:00:00Z"),
            met_at: None,
        }];
        let mut late = incident();
        late.deadlines[1].due_at = ts("2026-11-24T05:00:00Z");
        let table: Vec<(Notice, &str)> = vec![
            (
                opened(incident()),
                "【重大·安全生产】某化工厂爆炸致3人死亡 距发布权威信息时限 1时12分",
            ),
            (
                opened(late),
                "【重大·安全生产】某化工厂爆炸致3人死亡 已超过发布权威信息时限 48分",
            ),
            (opened(watch), "【关注·安全生产】某化工厂爆炸致3人死亡"),
            (
                opened(response),
                "【一般】某化工厂爆炸致3人死亡 距回应时限 1天20时",
            ),
            (
                reminder(60, false, "2026-11-24T05:00:00Z"),
                "【提醒·重大·安全生产】某化工厂爆炸致3人死亡 距发布权威信息时限 2时0分",
            ),
            (
                reminder(80, true, "2026-11-24T06:00:00Z"),
                "【紧急·重大·安全生产】某化工厂爆炸致3人死亡 距发布权威信息时限 1时0分",
            ),
            (
                overdue(inc(), 2, "2026-11-24T07:35:00Z"),
                "【逾期·重大·安全生产】某化工厂爆炸致3人死亡 已超过发布权威信息时限 35分（第2次提醒）",
            ),
            (
                source_failing(),
                "【信息源异常】安丘市政府网站留言板 自 2026-11-24 09:00 起无法获取",
            ),
            (
                dead_letter(),
                "【邮件投递失败】【重大·安全生产】某化工厂爆炸",
            ),
            (
                notice(
                    "digest/2026-11-24",
                    "2026-11-24T00:00:00Z",
                    NoticeKind::Digest {
                        date: "2026-11-24".parse().unwrap(),
                        late: false,
                        subject: "安丘市舆情日报（2026年11月24日）\r\nBcc: x@y".into(),
                        text: "正文".into(),
                        html: "<p>正文</p>".into(),
                    },
                ),
                "安丘市舆情日报（2026年11月24日） Bcc: x@y",
            ),
        ];
        for (notice, expected) in table {
            assert_eq!(subject(&notice), expected, "{}", notice.key);
            let parsed = raw(&notice);
            let parsed = MessageParser::default().parse(&parsed).unwrap();
            assert_eq!(parsed.subject(), Some(expected), "RFC 2047 round trip");
        }
    }

    #[test]
    fn long_titles_are_cut() {
        let mut inc = incident();
        inc.title = "很".repeat(500);
        let s = subject(&opened(inc));
        assert!(s.chars().count() <= SUBJECT_MAX, "{s}");
        assert!(
            s.contains(&format!("{}…", "很".repeat(TITLE_MAX - 1))),
            "{s}"
        );
        assert!(s.ends_with("距发布权威信息时限 1时12分"), "{s}");
    }

    #[test]
    fn huge_titles_and_errors_stay_small() {
        // A 6 MB title (seen in the wild) and a 1 MB error message.
        let mut inc = incident();
        inc.title = "很".repeat(2_000_000);
        let bytes = raw(&opened(inc));
        assert!(bytes.len() < 64 * 1024, "{} bytes", bytes.len());
        let text = MessageParser::default()
            .parse(&bytes)
            .unwrap()
            .body_text(0)
            .unwrap()
            .into_owned();
        let cut = format!("{}…", "很".repeat(format::TITLE_CHARS - 1));
        assert!(text.contains(&format!("标题：{cut}")), "{text}");
        assert!(!text.contains(&"很".repeat(format::TITLE_CHARS)));
        let failing = notice(
            "source/s/failing/1",
            "2026-11-24T02:00:00Z",
            NoticeKind::SourceFailing {
                source: "s".into(),
                name: "源".into(),
                since: ts("2026-11-24T01:00:00Z"),
                error: "x".repeat(1_000_000),
                episode: 1,
            },
        );
        assert!(raw(&failing).len() < 64 * 1024);
    }

    #[test]
    fn headers_identify_and_thread() {
        let first = raw(&opened(incident()));
        let again = raw(&opened(incident()));
        let first = MessageParser::default().parse(&first).unwrap();
        let again = MessageParser::default().parse(&again).unwrap();
        assert_eq!(first.message_id(), Some("yuqing.42.opened@example.gov.cn"));
        assert_eq!(
            first.message_id(),
            again.message_id(),
            "stable across renders"
        );
        assert_eq!(
            first.header_raw("X-Yuqing-Incident").map(str::trim),
            Some("42")
        );
        assert_eq!(
            first.header_raw("X-Yuqing-Level").map(str::trim),
            Some("II")
        );
        assert_eq!(
            first.header_raw("X-Yuqing-Notice").map(str::trim),
            Some("42/opened")
        );
        assert!(
            first.header_raw("In-Reply-To").is_none(),
            "the root starts the thread"
        );
        assert_eq!(
            first.date().map(|d| d.to_rfc3339()),
            Some("2026-11-24T05:48:00Z".into())
        );

        let reminder = notice(
            "42/statement/80",
            "2026-11-24T06:00:00Z",
            NoticeKind::Reminder {
                incident: Box::new(incident()),
                milestone: Milestone::Statement,
                percent: 80,
                escalation: true,
            },
        );
        let bytes = raw(&reminder);
        let parsed = MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(
            parsed.message_id(),
            Some("yuqing.42.statement.80@example.gov.cn")
        );
        assert_eq!(
            parsed.in_reply_to().as_text(),
            Some("yuqing.42.opened@example.gov.cn")
        );
        assert_eq!(
            parsed.references().as_text(),
            Some("yuqing.42.opened@example.gov.cn")
        );
        let to: Vec<_> = parsed
            .to()
            .unwrap()
            .iter()
            .filter_map(|a| a.address())
            .collect();
        assert_eq!(to, ["duty@example.gov.cn", "xcb@example.gov.cn"]);

        let source = notice(
            "source/anqiu-board/failing/1",
            "2026-11-24T02:00:00Z",
            NoticeKind::SourceFailing {
                source: "anqiu-board".into(),
                name: "留言板".into(),
                since: ts("2026-11-24T01:00:00Z"),
                error: "超时".into(),
                episode: 1,
            },
        );
        let bytes = raw(&source);
        let parsed = MessageParser::default().parse(&bytes).unwrap();
        assert!(parsed.header_raw("X-Yuqing-Incident").is_none());
        assert!(parsed.header_raw("X-Yuqing-Level").is_none());
        assert!(parsed.header_raw("In-Reply-To").is_none());
        assert_eq!(
            parsed.header_raw("X-Yuqing-Notice").map(str::trim),
            Some("source/anqiu-board/failing/1")
        );
    }

    #[test]
    fn both_parts_carry_the_facts_and_commands() {
        let bytes = raw(&opened(incident()));
        let parsed = MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(parsed.text_body_count(), 1);
        assert_eq!(parsed.html_body_count(), 1);
        let text = parsed.body_text(0).unwrap();
        let html = parsed.body_html(0).unwrap();
        for part in [&text, &html] {
            for needle in [
                "某化工厂爆炸致3人死亡",
                "II 级（重大）",
                "待签收",
                "市应急管理局",
                "2026-11-24 10:00",
                "发布权威信息",
                "2026-11-24 15:00",
                "剩余 1时12分",
                "yuqing ack 42 --by 姓名",
                "yuqing milestone 42 statement --by 姓名 --url 发布链接",
                "yuqing milestone 42 press --by 姓名 --url 发布链接",
                "anqiu-board",
                "tid-8812",
            ] {
                assert!(part.contains(needle), "{needle} missing in:\n{part}");
            }
        }
        assert!(
            text.contains("https://news.example.cn/a?id=1&x=2"),
            "{text}"
        );
        assert!(
            html.contains("<a href=\"https://news.example.cn/a?id=1&amp;x=2\""),
            "{html}"
        );
        assert!(!html.contains("src=\"http"), "no external resources");
    }

    #[test]
    fn source_text_is_escaped_and_cannot_inject_headers() {
        let mut inc = incident();
        inc.title =
            "<script>alert('x')</script>标题\r\nBcc: victim@evil.example\r\nX-Evil: 1".into();
        inc.unit = Some("<b onmouseover=\"x\">单位</b>".into());
        inc.items.push(ItemRef {
            source: "s".into(),
            key: "https://evil.example/\"><script>x</script>".into(),
        });
        let notice = opened(inc);
        let bytes = raw(&notice);
        let text = String::from_utf8_lossy(&bytes);
        let header_end = text.find("\r\n\r\n").unwrap();
        let headers = &text[..header_end];
        for line in headers.split("\r\n") {
            assert!(
                !line.starts_with("Bcc") && !line.starts_with("X-Evil"),
                "injected header: {line}"
            );
        }
        let parsed = MessageParser::default().parse(&bytes).unwrap();
        assert!(parsed.header_raw("Bcc").is_none());
        assert!(parsed.header_raw("X-Evil").is_none());
        let subject = parsed.subject().unwrap();
        assert!(
            !subject.contains('\r') && !subject.contains('\n'),
            "{subject}"
        );
        assert!(
            subject.contains("Bcc: victim@evil.example"),
            "kept as text: {subject}"
        );

        let html = parsed.body_html(0).unwrap();
        assert!(!html.contains("<script"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<b onmouseover"), "{html}");
        assert!(
            html.contains("&lt;b onmouseover=&quot;x&quot;&gt;"),
            "{html}"
        );
        assert!(
            html.contains("https://evil.example/%22%3E%3Cscript%3Ex%3C/script%3E"),
            "links are normalised by the URL parser: {html}"
        );

        let letter = letterhead().render(&notice).unwrap();
        let to: Vec<String> = letter
            .envelope()
            .to()
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(to, ["duty@example.gov.cn", "xcb@example.gov.cn"]);
    }

    /// HTML with one tag a line (white space between tags is not part of the layout).
    fn one_tag_a_line(html: &str) -> String {
        regex::Regex::new(r">[\r\n]*<")
            .unwrap()
            .replace_all(html, ">\n<")
            .into_owned()
    }

    /// Every kind of mail, as sent: subject, text part and HTML part. A change of
    /// wording or layout shows up as a reviewed snapshot diff (`cargo insta review`).
    #[test]
    fn every_mail_kind_snapshot() {
        let mut acked = incident();
        acked.status = Status::Acknowledged;
        acked.deadlines[0].met_at = Some(ts("2026-11-24T06:20:00Z"));
        let kinds: Vec<(&str, Notice)> = vec![
            ("opened", opened(incident())),
            ("reminder", reminder(60, false, "2026-11-24T05:00:00Z")),
            ("escalation", reminder(80, true, "2026-11-24T06:00:00Z")),
            (
                "overdue",
                overdue(Box::new(acked), 2, "2026-11-24T08:00:00Z"),
            ),
            ("source_failing", source_failing()),
            ("dead_letter", dead_letter()),
        ];
        for (name, notice) in kinds {
            let bytes = raw(&notice);
            let parsed = MessageParser::default().parse(&bytes).unwrap();
            let shown = format!(
                "Subject: {}\n\n--- text ---\n{}\n--- html ---\n{}\n",
                parsed.subject().unwrap_or_default(),
                parsed.body_text(0).unwrap_or_default(),
                one_tag_a_line(&parsed.body_html(0).unwrap_or_default()),
            );
            insta::assert_snapshot!(format!("mail_{name}"), shown);
        }
    }

    #[test]
    fn bad_addresses_are_reported() {
        assert!(matches!(
            Letterhead::new("not an address"),
            Err(NotifyError::BadFrom(_))
        ));
        let mut n = opened(incident());
        n.to = vec!["duty@example.gov.cn".into(), "nobody".into()];
        assert!(matches!(
            letterhead().render(&n),
            Err(NotifyError::BadRecipient(a)) if a == "nobody"
        ));
        n.to.clear();
        assert!(matches!(
            letterhead().render(&n),
            Err(NotifyError::NoRecipients(_))
        ));
    }
}
