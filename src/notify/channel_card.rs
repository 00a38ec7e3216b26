//! The chat card of a notice: the content of its mail ([`MailContent`], rendered
//! once in `render.rs`), cut to what a group chat shows and kept within the
//! platforms' size limits. Pure: no IO, no clock.
//!
//! Order (most important first, so a cut loses the least): the heading (the mail's
//! subject: level, title, time left), the paragraphs, the deadlines, the commands
//! (`yuqing ack …`), the facts, up to three source links, the notice key. A card
//! longer than [`CARD_MAX_BYTES`] is cut at a character boundary and ends with
//! “…（全文见邮件）”.
//!
//! Untrusted text (titles, error messages) cannot inject markup: in the markdown form
//! `<`, `>`, `[`, `]`, `` ` ``, `*`, `_` and `#` in it become their full-width forms
//! (so a title `<@all>` does not ping a WeCom group), and parentheses in links are
//! percent-encoded.

use super::body;
use crate::format::{clean_line, truncate};
use crate::model::{Notice, NoticeKind};

/// Longest card, in UTF-8 bytes: under WeCom's 4096-byte markdown limit, the
/// smallest of the three platforms (docs/channels.md).
pub const CARD_MAX_BYTES: usize = 4000;
/// Longest paragraph on a card, in characters.
const PARAGRAPH_CHARS: usize = 300;
/// Longest fact value on a card, in characters.
const FACT_CHARS: usize = 80;
/// Source links shown on a card.
const LINKS: usize = 3;
const CUT: &str = "…（全文见邮件）";

/// A notice as a chat card, in the two forms the platforms take.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    /// One line: the mail's subject.
    pub title: String,
    /// WeCom and DingTalk markdown, at most [`CARD_MAX_BYTES`].
    pub markdown: String,
    /// Plain text (Feishu), at most [`CARD_MAX_BYTES`].
    pub text: String,
    /// The whole mail text (the generic webhook's `text`).
    pub full_text: String,
    /// The http(s) links of the incident's sources, all of them.
    pub links: Vec<String>,
}

/// The card of a notice.
pub fn card(notice: &Notice) -> Card {
    let content = body(notice);
    let mut blocks: Vec<(Style, String)> = Vec::new();
    if let NoticeKind::Digest { text, .. } = &notice.kind {
        blocks.push((
            Style::Paragraph,
            truncate(&clean_line(text), PARAGRAPH_CHARS),
        ));
    }
    for paragraph in &content.paragraphs {
        blocks.push((
            Style::Paragraph,
            truncate(&clean_line(paragraph), PARAGRAPH_CHARS),
        ));
    }
    for d in &content.deadlines {
        blocks.push((
            Style::Item,
            format!("{}：{} 截止，{}", d.milestone, d.due, d.state),
        ));
    }
    for (label, command) in &content.commands {
        blocks.push((Style::Command(label.clone()), command.clone()));
    }
    for (label, value) in &content.facts {
        if *label == "标题" {
            continue; // the heading carries it
        }
        blocks.push((
            Style::Item,
            format!("{label}：{}", truncate(&clean_line(value), FACT_CHARS)),
        ));
    }
    let links: Vec<(String, String)> = content
        .sources
        .iter()
        .filter_map(|s| s.link.clone().map(|link| (s.source.clone(), link)))
        .collect();
    for (source, link) in links.iter().take(LINKS) {
        blocks.push((Style::Link(source.clone()), link.clone()));
    }
    blocks.push((
        Style::Footer,
        format!("通知编号：{}", clean_line(&content.key)),
    ));

    let full_text = match &notice.kind {
        NoticeKind::Digest { text, .. } => text.clone(),
        _ => content.text(),
    };
    Card {
        title: content.heading.clone(),
        markdown: fit(&markdown(&content.heading, &blocks), CARD_MAX_BYTES),
        text: fit(&plain(&content.heading, &blocks), CARD_MAX_BYTES),
        full_text,
        links: links.into_iter().map(|(_, link)| link).collect(),
    }
}

#[derive(Debug, Clone)]
enum Style {
    Paragraph,
    Item,
    Command(String),
    Link(String),
    Footer,
}

fn markdown(heading: &str, blocks: &[(Style, String)]) -> String {
    let mut out = format!("### {}\n", md(heading));
    for (style, text) in blocks {
        let line = match style {
            Style::Paragraph => format!("\n{}\n", md(text)),
            Style::Item => format!("- {}\n", md(text)),
            // Commands are ours (no backtick in them); only the label is escaped.
            Style::Command(label) => format!("- {}：`{}`\n", md(label), text.replace('`', "'")),
            Style::Link(source) => format!("- [{}]({})\n", md(source), link(text)),
            Style::Footer => format!("\n{}\n", md(text)),
        };
        out.push_str(&line);
    }
    out
}

fn plain(heading: &str, blocks: &[(Style, String)]) -> String {
    let mut out = format!("{heading}\n");
    for (style, text) in blocks {
        let line = match style {
            Style::Paragraph | Style::Footer => format!("\n{text}\n"),
            Style::Item => format!("· {text}\n"),
            Style::Command(label) => format!("· {label}：{text}\n"),
            Style::Link(source) => format!("· {}：{text}\n", clean_line(source)),
        };
        out.push_str(&line);
    }
    out
}

/// Untrusted text for markdown: one line, markup characters full-width.
fn md(text: &str) -> String {
    clean_line(text)
        .chars()
        .map(|c| match c {
            '<' => '＜',
            '>' => '＞',
            '[' => '［',
            ']' => '］',
            '`' => '＇',
            '*' => '＊',
            '_' => '＿',
            '#' => '＃',
            other => other,
        })
        .collect()
}

/// A link target for markdown: no parentheses or spaces to end it early.
fn link(url: &str) -> String {
    clean_line(url)
        .replace('(', "%28")
        .replace(')', "%29")
        .replace(' ', "%20")
}

/// At most `max` bytes: cut at a character boundary, ending in [`CUT`].
fn fit(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(CUT.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT}", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Incident, Status};

    /// A new level II incident whose first item is a web page.
    fn incident() -> Incident {
        let mut incident = crate::api::views::tests::incident(42, "某化工厂爆炸致3人死亡");
        incident.status = Status::New;
        incident.items[0].key = "https://news.example.cn/a/1.html".into();
        incident
    }

    fn notice_of(kind: NoticeKind) -> Notice {
        Notice {
            key: "42/opened".into(),
            to: vec!["duty@example.gov.cn".into()],
            created_at: "2026-11-24T02:05:00Z".parse().unwrap(),
            kind,
        }
    }

    #[test]
    fn an_alert_card_has_title_level_deadline_link_and_the_ack_command() {
        let notice = notice_of(NoticeKind::Opened {
            incident: Box::new(incident()),
        });
        let card = card(&notice);
        assert!(
            card.title.contains("某化工厂爆炸致3人死亡"),
            "{}",
            card.title
        );
        for form in [&card.markdown, &card.text] {
            for want in [
                "某化工厂爆炸致3人死亡",
                "重大",
                "截止",
                "yuqing ack 42 --by 姓名",
                "https://",
                "通知编号：42/opened",
            ] {
                assert!(form.contains(want), "{want} missing in:\n{form}");
            }
        }
        assert!(card.markdown.starts_with("### 【"), "{}", card.markdown);
        assert!(card.markdown.contains("`yuqing ack 42 --by 姓名`"));
        assert!(!card.links.is_empty());
        assert!(card.full_text.contains("操作命令"), "the whole mail text");
    }

    #[test]
    fn untrusted_text_cannot_inject_markup_and_long_cards_are_cut() {
        let mut incident = incident();
        incident.title = format!(
            "<@all> [点我](http://x) `code` **粗** {}",
            "长".repeat(3000)
        );
        let card = card(&notice_of(NoticeKind::Opened {
            incident: Box::new(incident),
        }));
        for bad in ["<@all>", "[点我]", "`code`", "**粗**"] {
            assert!(!card.markdown.contains(bad), "{bad} in:\n{}", card.markdown);
        }
        assert!(card.markdown.contains("＜@all＞"));
        for form in [&card.markdown, &card.text] {
            assert!(form.len() <= CARD_MAX_BYTES, "{}", form.len());
        }

        let table = [
            ("short", 100, "short"),
            ("一二三四五六七八九十", 30, "一二三四五六七八九十"),
            ("一二三四五六七八九十一二三四五", 30, "…（全文见邮件）"),
        ];
        for (text, max, want) in table {
            let out = fit(text, max);
            assert!(out.len() <= max, "{out}");
            assert!(out.ends_with(want), "{out}");
        }
        assert_eq!(link("https://a.cn/x(1) y"), "https://a.cn/x%281%29%20y");
    }
}
