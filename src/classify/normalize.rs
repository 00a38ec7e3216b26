//! Text normalization before matching: HTML remnants and entities out, full-width
//! ASCII to half-width, whitespace runs collapsed (a run holding a line break becomes
//! one `\n`, which later acts as a sentence end).

/// Normalizes `text`, appending to `out`.
pub(crate) fn normalize_into(text: &str, out: &mut String) {
    out.reserve(text.len());
    let mut pending_space: Option<char> = None;
    let mut rest = text;
    // Set once a comment was found unclosed: no later one can close either, and
    // searching again for each `<!--` would make the pass quadratic.
    let mut unclosed_comment = false;
    while let Some(c) = rest.chars().next() {
        let mut len = c.len_utf8();
        let mapped: Option<char> = match c {
            '<' => match tag_len(rest, &mut unclosed_comment) {
                Some(n) => {
                    len = n;
                    // A block-level tag separates text like a line break would.
                    Some(if is_block_tag(&rest[..n]) { '\n' } else { ' ' })
                }
                None => Some('<'),
            },
            '&' => match entity(rest) {
                Some((n, decoded)) => {
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

/// Full-width ASCII forms (U+FF01–U+FF5E) and the ideographic space to half-width.
fn half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' | '\u{00A0}' => ' ',
        _ => c,
    }
}

/// The length of an HTML tag or comment starting at `s[0] == '<'`, if it looks like
/// one. `unclosed_comment`: no `-->` follows (known from an earlier comment).
fn tag_len(s: &str, unclosed_comment: &mut bool) -> Option<usize> {
    let bytes = s.as_bytes();
    let next = *bytes.get(1)?;
    if s.starts_with("<!--") {
        if *unclosed_comment {
            return None;
        }
        let end = s.find("-->");
        *unclosed_comment = end.is_none();
        return end.map(|end| end + 3);
    }
    if !(next.is_ascii_alphabetic() || next == b'/' || next == b'!') {
        return None;
    }
    // Tags are short and stay on ASCII-ish ground; give up on anything long.
    let end = s.char_indices().take(400).find(|&(_, c)| c == '>')?.0;
    Some(end + 1)
}

fn is_block_tag(tag: &str) -> bool {
    let name: String = tag
        .trim_start_matches(['<', '/'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(
        name.as_str(),
        "p" | "br" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "table"
    )
}

/// Decodes an entity at `s[0] == '&'`: its byte length and the character.
fn entity(s: &str) -> Option<(usize, char)> {
    let end = s.char_indices().take(12).find(|&(_, c)| c == ';')?.0;
    let name = &s[1..end];
    let c = if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        char::from_u32(code)?
    } else {
        match name {
            "nbsp" | "ensp" | "emsp" | "thinsp" => ' ',
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            "ldquo" => '“',
            "rdquo" => '”',
            "lsquo" => '‘',
            "rsquo" => '’',
            "mdash" => '—',
            "hellip" => '…',
            "middot" => '·',
            _ => return None,
        }
    };
    Some((end + 1, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        let mut out = String::new();
        normalize_into(s, &mut out);
        out
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
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), want, "input {input:?}");
        }
    }
}
