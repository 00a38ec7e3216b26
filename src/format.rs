//! Presentation shared by mail, the digest, the CLI and export: how text is cut,
//! cleaned, padded and escaped. One place, so the same thing always looks the same.

use std::fmt::{self, Write};

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::model::Level;

/// The ways a severity level is written; every place that shows a level picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelStyle {
    /// `II（重大）`, `关注`: audit entries, export, CLI confirmations.
    Code,
    /// `重大（II级）`, `关注`: refusals that name the incident's grade.
    Named,
    /// `II 重大`, `关注`: CLI tables.
    Short,
    /// `II级 重大`, `关注`: digest lists and badges.
    Tag,
    /// `II 级（重大）`, `关注（不计时限）`: mail.
    Grade,
}

/// A level written in `style`.
pub fn level(level: Level, style: LevelStyle) -> String {
    let (code, name) = (level.as_str(), level.chinese());
    match (style, level) {
        // `watch` is a code for machines; people read only 关注.
        (
            LevelStyle::Code | LevelStyle::Named | LevelStyle::Short | LevelStyle::Tag,
            Level::Watch,
        ) => name.to_string(),
        (LevelStyle::Code, _) => format!("{code}（{name}）"),
        (LevelStyle::Named, _) => format!("{name}（{code}级）"),
        (LevelStyle::Short, _) => format!("{code} {name}"),
        (LevelStyle::Tag, _) => format!("{code}级 {name}"),
        (LevelStyle::Grade, Level::Watch) => format!("{name}（不计时限）"),
        (LevelStyle::Grade, _) => format!("{code} 级（{name}）"),
    }
}

/// Casualty figures as one line, `死亡3人，受伤5人，其中重伤2人`; `None` when no figure is known.
pub fn casualties(
    deaths: Option<u32>,
    injured: Option<u32>,
    seriously_injured: Option<u32>,
) -> Option<String> {
    let parts: Vec<String> = [
        deaths.map(|d| format!("死亡{d}人")),
        injured.map(|i| format!("受伤{i}人")),
        seriously_injured.map(|s| format!("其中重伤{s}人")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join("，"))
}

/// Longest excerpt of an item's text shown in a mail, in characters.
pub const LEAD_CHARS: usize = 160;

/// The opening of a text as shown in a mail: its first three sentences (ending in
/// 。！？!? or …), one line, at most [`LEAD_CHARS`].
pub fn lead(text: &str) -> String {
    // Only the opening is read: a body may be megabytes long.
    let opening: String = text.chars().take(LEAD_CHARS * 4).collect();
    let text = clean_line(&opening);
    let mut end = text.len();
    let mut sentences = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '。' | '！' | '？' | '!' | '?' | '…') {
            sentences += 1;
            if sentences == 3 {
                end = i + c.len_utf8();
                break;
            }
        }
    }
    truncate(text[..end].trim(), LEAD_CHARS)
}

/// Longest title shown in a mail body or the digest, in characters (a title is one
/// line; a 6 MB "title" must not become a 15 MB alert).
pub const TITLE_CHARS: usize = 200;
/// Longest free text shown in a mail (an error message), in characters.
pub const TEXT_CHARS: usize = 500;

/// A title as shown: one line, at most [`TITLE_CHARS`].
pub fn title(s: &str) -> String {
    truncate(&clean_line(s), TITLE_CHARS)
}

/// Free text as shown: at most [`TEXT_CHARS`].
pub fn excerpt(s: &str) -> String {
    truncate(s, TEXT_CHARS)
}

/// At most `max` characters, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Cuts text to `columns` terminal columns (CJK characters take two), ending in `…`.
pub fn truncate_columns(text: &str, columns: usize) -> String {
    if text.width() <= columns {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > columns {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// One line: control characters (CR, LF, tab, NUL, bidi overrides, zero-width
/// marks) become spaces, runs of white space collapse, ends are trimmed. Safe for a
/// mail header and for one terminal line.
pub fn clean_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() || is_format_char(c) {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    out
}

/// Invisible formatting characters that can disguise text (Unicode category Cf, the common ones).
fn is_format_char(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// `s` padded with spaces to `to` terminal columns (CJK characters take two).
pub fn pad(s: &str, to: usize) -> String {
    format!("{s}{}", " ".repeat(to.saturating_sub(s.width())))
}

/// The HTML escaper of every template (askama.toml): `& < > " '` as named
/// entities, for element content and quoted attribute values alike.
#[derive(Debug, Clone, Copy)]
pub struct Html;

impl askama::filters::Escaper for Html {
    fn write_escaped_str<W: Write>(&self, mut dest: W, string: &str) -> fmt::Result {
        let mut last = 0;
        for (i, c) in string.char_indices() {
            let entity = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => continue,
            };
            dest.write_str(&string[last..i])?;
            dest.write_str(entity)?;
            last = i + 1;
        }
        dest.write_str(&string[last..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_in_every_style() {
        let table = [
            (LevelStyle::Code, "II（重大）", "关注"),
            (LevelStyle::Named, "重大（II级）", "关注"),
            (LevelStyle::Short, "II 重大", "关注"),
            (LevelStyle::Tag, "II级 重大", "关注"),
            (LevelStyle::Grade, "II 级（重大）", "关注（不计时限）"),
        ];
        for (style, two, watch) in table {
            assert_eq!(level(Level::II, style), two);
            assert_eq!(level(Level::Watch, style), watch);
        }
    }

    #[test]
    fn casualty_line_and_lead() {
        assert_eq!(casualties(None, None, None), None);
        assert_eq!(
            casualties(Some(3), Some(5), Some(2)).as_deref(),
            Some("死亡3人，受伤5人，其中重伤2人")
        );
        assert_eq!(casualties(Some(0), None, None).as_deref(), Some("死亡0人"));
        let table = [
            ("一。二！三？四。", "一。二！三？"),
            ("只有一句话", "只有一句话"),
            ("  第一句。\r\n第二句。 ", "第一句。 第二句。"),
        ];
        for (text, expected) in table {
            assert_eq!(lead(text), expected, "{text}");
        }
        let long = lead(&"很".repeat(1000));
        assert_eq!(long.chars().count(), LEAD_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn cut_clean_pad() {
        assert_eq!(truncate("很长的标题", 3), "很长…");
        assert_eq!(truncate("短", 3), "短");
        assert_eq!(clean_line(" a\r\nBcc:\u{202E} x\t"), "a Bcc: x");
        assert_eq!(pad("市局", 6), "市局  ");
    }

    #[test]
    fn html_escapes_the_five() {
        let mut out = String::new();
        askama::filters::Escaper::write_escaped_str(&Html, &mut out, "<a href=\"x\">'&'</a>")
            .unwrap();
        assert_eq!(out, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
