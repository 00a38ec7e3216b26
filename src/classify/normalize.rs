//! Text normalization before matching: HTML remnants and entities out, full-width
//! ASCII to half-width, whitespace runs collapsed (a run holding a line break becomes
//! one `\n`, which later acts as a sentence end).

use crate::parse::text::{decode_entity, skip_markup};

/// Normalizes `text`, appending to `out`.
pub(crate) fn normalize_into(text: &str, out: &mut String) {
    out.reserve(text.len());
    let mut pending_space: Option<char> = None;
    let mut rest = text;
    // Set once a comment was found unclosed: no later one can close either, and
    // searching again for each `<!--` would make the pass quadratic.
    while let Some(c) = rest.chars().next() {
        // Most text is characters that stay as they are: copy such a run at once.
        let plain = plain_prefix(rest);
        if plain > 0 {
            if let Some(space) = pending_space.take() {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push(space);
                }
            }
            out.push_str(&rest[..plain]);
            rest = &rest[plain..];
            continue;
        }
        let mut len = c.len_utf8();
        let mapped: Option<char> = match c {
            // Markup and entities are read as `parse` reads them (one decoder).
            '<' => match skip_markup(rest) {
                Some((n, block)) => {
                    len = n;
                    // A block-level tag separates text like a line break would.
                    Some(if block { '\n' } else { ' ' })
                }
                None => Some('<'),
            },
            '&' => match decode_entity(rest) {
                Some((decoded, n)) => {
                    len = n;
                    Some(decoded)
                }
                None => Some('&'),
            },
            _ => Some(c),
        };
        rest = &rest[len..];
        let Some(c) = mapped.map(half_width) else {
            continue;
        };
        if c.is_whitespace() || c == '\u{FEFF}' {
            pending_space = match (pending_space, c) {
                (Some('\n'), _) | (_, '\n' | '\r') => Some('\n'),
                _ => Some(' '),
            };
            continue;
        }
        if let Some(space) = pending_space.take() {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push(space);
            }
        }
        out.push(c);
    }
}

/// The length of the run at the start of `text` that normalization leaves as it is:
/// no markup or entity start, no whitespace, nothing [`half_width`] maps. Every
/// character that is whitespace or mapped (U+0085, U+00A0, U+1680, U+2000–U+200A,
/// U+2028, U+2029, U+202F, U+205F, U+3000, U+FEFF, U+FF01–U+FF5E) has a leading byte
/// below 0x21 or one of C2, E1, E2, E3, EF; a three-byte one is told by its other two
/// bytes, so that the CJK punctuation beside them (。、“”…《》) stays in the run.
/// `tests::plain_prefix_stops_at_every_changed_character` checks every character.
fn plain_prefix(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    // One table load per character (the class of its leading byte) instead of a chain
    // of range tests: most of the text is plain Han characters.
    while let Some(&b) = bytes.get(i) {
        let len = match LEAD[usize::from(b)] {
            STOP => break,
            // The text is valid UTF-8: a leading byte of three is followed by two.
            CHECK_3 if changed_3(b, bytes[i + 1], bytes[i + 2]) => break,
            CHECK_3 => 3,
            len => len,
        };
        i += usize::from(len);
    }
    i
}

/// [`LEAD`]: the character changes (whitespace, markup or entity start, U+0080–U+00BF).
const STOP: u8 = 0;
/// [`LEAD`]: a three-byte character that [`changed_3`] decides.
const CHECK_3: u8 = 0xFF;

/// What a character's leading byte says to [`plain_prefix`]: [`STOP`], [`CHECK_3`],
/// or the length of a character left as it is.
const LEAD: [u8; 256] = {
    let mut table = [STOP; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            b'<' | b'&' | 0..=0x20 => STOP,
            0x21..=0x7F => 1,
            0xC2 => STOP,
            0xC0..=0xDF => 2,
            0xE1 | 0xE2 | 0xE3 | 0xEF => CHECK_3,
            0xE0..=0xEF => 3,
            _ => 4,
        };
        b += 1;
    }
    table
};

/// Whether the three-byte character `b0 b1 b2` (leading byte E1, E2, E3 or EF) is
/// whitespace or mapped by [`half_width`].
fn changed_3(b0: u8, b1: u8, b2: u8) -> bool {
    match (b0, b1) {
        // U+1680
        (0xE1, 0x9A) => b2 == 0x80,
        // U+2000–U+200A, U+2028, U+2029, U+202F
        (0xE2, 0x80) => matches!(b2, 0x80..=0x8A | 0xA8 | 0xA9 | 0xAF),
        // U+205F
        (0xE2, 0x81) => b2 == 0x9F,
        // U+3000
        (0xE3, 0x80) => b2 == 0x80,
        // U+FEFF
        (0xEF, 0xBB) => b2 == 0xBF,
        // U+FF01–U+FF3F, U+FF40–U+FF5E
        (0xEF, 0xBC) => b2 >= 0x81,
        (0xEF, 0xBD) => b2 <= 0x9E,
        _ => false,
    }
}

/// Full-width ASCII forms (U+FF01–U+FF5E) and the ideographic space to half-width.
fn half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' | '\u{00A0}' => ' ',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        let mut out = String::new();
        normalize_into(s, &mut out);
        out
    }

    /// Every character normalization changes (whitespace, mapped, a markup or entity
    /// start) ends a plain run; the CJK punctuation of news text does not.
    #[test]
    fn plain_prefix_stops_at_every_changed_character() {
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            let changed =
                c.is_whitespace() || c == '\u{FEFF}' || half_width(c) != c || c == '<' || c == '&';
            if changed {
                assert_eq!(plain_prefix(&c.to_string()), 0, "{c:?}");
            }
        }
        let punctuation = "。、“”‘’…—《》「」『』【】〈〉";
        assert_eq!(plain_prefix(punctuation), punctuation.len());
    }

    /// The leading-byte classes as range tests, what [`LEAD`] was built from.
    fn plain_prefix_by_ranges(text: &str) -> usize {
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            let len = match b {
                b'<' | b'&' | 0..=0x20 => break,
                0x21..=0x7F => 1,
                0xC2 => break,
                0xC0..=0xDF => 2,
                0xE1 | 0xE2 | 0xE3 | 0xEF => {
                    if changed_3(b, bytes[i + 1], bytes[i + 2]) {
                        break;
                    }
                    3
                }
                0xE0..=0xEF => 3,
                _ => 4,
            };
            i += len;
        }
        i
    }

    /// The table gives the run the range tests give: for every character, alone and
    /// after a run of Han text, and on mixed text.
    #[test]
    fn lead_table_agrees_with_the_ranges() {
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            for text in [c.to_string(), format!("火灾现场{c}救援")] {
                assert_eq!(plain_prefix(&text), plain_prefix_by_ranges(&text), "{c:?}");
            }
        }
        let mixed = "标题：ＡＢＣ 3人<p>死亡&amp;受伤</p>\u{3000}é𝄞。“引号”";
        for (i, _) in mixed.char_indices() {
            assert_eq!(
                plain_prefix(&mixed[i..]),
                plain_prefix_by_ranges(&mixed[i..])
            );
        }
    }

    #[test]
    fn table() {
        let cases = [
            ("ＡＢＣ１２３，", "ABC123,"),
            ("造成３人死亡", "造成3人死亡"),
            ("  a \t b  ", "a b"),
            ("第一行\r\n\r\n  第二行", "第一行\n第二行"),
            ("<p>火灾</p><p>现场</p>", "火灾\n现场"),
            ("<span class=\"x\">起火</span>原因", "起火 原因"),
            ("A&amp;B&nbsp;C&#x4E00;&#19968;", "A&B C一一"),
            ("3 < 5 & 6 > 2", "3 < 5 & 6 > 2"),
            ("<!-- 注释 -->正文", "正文"),
            ("\u{FEFF}标题", "标题"),
            ("全角　空格", "全角 空格"),
            ("甲\u{2003}乙\u{85}丙\u{1680}丁\u{202F}戊", "甲 乙 丙 丁 戊"),
            ("ab <b>粗</b>", "ab 粗"),
            ("“引号”（括号）", "“引号”(括号)"),
            ("é ü ñ 𝄞", "é ü ñ 𝄞"),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), want, "input {input:?}");
        }
    }
}
