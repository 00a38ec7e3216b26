//! Text normalisation: HTML fragments → plain text, whitespace collapsing, the
//! normalized title used in item keys.

use super::encoding::find_ci;

/// Folds a full-width ASCII form (U+FF01–U+FF5E) to ASCII and the ideographic
/// space (U+3000) to a plain space; every other character is returned as is.
pub fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Builds a string whose whitespace runs are single spaces, with no leading or
/// trailing space. Zero-width characters are dropped.
struct Collapser {
    out: String,
    pending_space: bool,
}

impl Collapser {
    fn with_capacity(capacity: usize) -> Self {
        Collapser {
            out: String::with_capacity(capacity),
            pending_space: false,
        }
    }

    fn push(&mut self, c: char) {
        if c.is_whitespace() {
            self.space();
        } else if !matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{FEFF}') {
            if self.pending_space {
                self.out.push(' ');
                self.pending_space = false;
            }
            self.out.push(c);
        }
    }

    fn push_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.push(c));
    }

    /// A word break: becomes one space if text follows.
    fn space(&mut self) {
        self.pending_space = !self.out.is_empty();
    }

    fn finish(self) -> String {
        self.out
    }
}

/// Trims and collapses every whitespace run (including U+3000 and NBSP) to one space.
pub fn collapse_whitespace(s: &str) -> String {
    let mut out = Collapser::with_capacity(s.len());
    out.push_str(s);
    out.finish()
}

/// Joins text pieces (e.g. an element's text nodes) with whitespace collapsed.
pub fn collapse_pieces<'a>(pieces: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = Collapser::with_capacity(64);
    pieces.into_iter().for_each(|piece| out.push_str(piece));
    out.finish()
}

/// The title form used in item keys: trimmed, whitespace collapsed, full-width
/// ASCII folded to half-width, ASCII lowercased.
pub fn normalize_title(s: &str) -> String {
    let mut out = Collapser::with_capacity(s.len());
    s.chars()
        .map(|c| fold_width(c).to_ascii_lowercase())
        .for_each(|c| out.push(c));
    out.finish()
}

/// Tags after which text reads as a new word or line.
const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
];

/// An HTML fragment (a feed description, an API's content field) as plain text:
/// tags stripped (`<script>`/`<style>` with their content), comments dropped,
/// entities decoded, whitespace collapsed. A `<` that does not open a tag stays text.
pub fn html_to_text(s: &str) -> String {
    if !s.contains(['<', '&']) {
        return collapse_whitespace(s);
    }
    let mut out = Collapser::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find(['<', '&']) {
        out.push_str(&rest[..pos]);
        let at = &rest[pos..];
        if let Some(after) = at.strip_prefix('&') {
            match decode_entity(at) {
                Some((decoded, used)) => {
                    out.push(decoded);
                    rest = &at[used..];
                }
                None => {
                    out.push('&');
                    rest = after;
                }
            }
            continue;
        }
        match skip_markup(at) {
            Some((used, block)) => {
                if block {
                    out.space();
                }
                rest = &at[used..];
            }
            None => {
                out.push('<');
                rest = &at[1..];
            }
        }
    }
    out.push_str(rest);
    out.finish()
}

/// At a `<`: if it opens a tag or comment, returns how many bytes it spans and
/// whether it breaks words. `None` when the `<` is plain text.
pub(crate) fn skip_markup(at: &str) -> Option<(usize, bool)> {
    let after = at[1..].chars().next()?;
    if let Some(comment) = at.strip_prefix("<!--") {
        let end = comment.find("-->").map_or(at.len(), |e| 4 + e + 3);
        return Some((end, false));
    }
    if !(after.is_ascii_alphabetic() || matches!(after, '/' | '!' | '?')) {
        return None;
    }
    let close = at.find('>').map_or(at.len(), |e| e + 1);
    let inner = at[1..close].trim_start_matches('/');
    let name_len = inner
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(inner.len());
    let name = &inner[..name_len];
    let opening = !at[1..].starts_with('/');
    for (raw, end_tag) in [("script", "</script"), ("style", "</style")] {
        if opening && name.eq_ignore_ascii_case(raw) {
            let end = find_ci(&at.as_bytes()[close..], end_tag.as_bytes()).map_or(at.len(), |e| {
                let e = close + e;
                at[e..].find('>').map_or(at.len(), |g| e + g + 1)
            });
            return Some((end, true));
        }
    }
    let block = BLOCK_TAGS.iter().any(|t| name.eq_ignore_ascii_case(t));
    Some((close, block))
}

/// At a `&`: decodes `&name;`, `&#123;` or `&#x1F;`, returning the character and
/// the bytes consumed. `None` for an unknown or unterminated reference.
pub(crate) fn decode_entity(at: &str) -> Option<(char, usize)> {
    let semi = at.as_bytes().iter().take(12).position(|&b| b == b';')?;
    let name = &at[1..semi];
    let c = if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        char::from_u32(code)
            .filter(|c| *c != '\0')
            .unwrap_or('\u{FFFD}')
    } else {
        named_entity(name)?
    };
    Some((c, semi + 1))
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{A0}',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "thinsp" => '\u{2009}',
        "middot" => '·',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "ldquo" => '“',
        "rdquo" => '”',
        "lsquo" => '‘',
        "rsquo" => '’',
        "laquo" => '«',
        "raquo" => '»',
        "bull" => '•',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "times" => '×',
        "divide" => '÷',
        "deg" => '°',
        "yen" => '¥',
        "sect" => '§',
        "para" => '¶',
        "plusmn" => '±',
        "le" => '≤',
        "ge" => '≥',
        "rarr" => '→',
        "larr" => '←',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_to_text_table() {
        let cases = [
            ("plain  text\n\t here ", "plain text here"),
            ("<p>第一段</p><p>第二段</p>", "第一段 第二段"),
            ("中<b>国</b>人", "中国人"),
            ("a<br/>b<br>c", "a b c"),
            (
                "&lt;b&gt; &amp; &quot;x&quot; &#39;y&#39; &#x4E2D;",
                "<b> & \"x\" 'y' 中",
            ),
            ("价格&nbsp;&nbsp;100&yen;", "价格 100¥"),
            ("x<script>var a = '<p>';</script>y", "x y"),
            ("x<STYLE>p{}</STYLE> y", "x y"),
            ("a <!-- hidden <p> --> b", "a b"),
            ("1 < 2 and 3 > 2", "1 < 2 and 3 > 2"),
            ("AT&T &unknown; &", "AT&T &unknown; &"),
            ("\u{3000}\u{3000}全角空格\u{3000}开头", "全角空格 开头"),
            ("<img src=\"a.png\">图片说明", "图片说明"),
            ("unterminated <a href=", "unterminated"),
            ("零\u{200B}宽", "零宽"),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(html_to_text(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn normalize_title_table() {
        let cases = [
            ("  安丘市 通报\t\n 一起事故 ", "安丘市 通报 一起事故"),
            ("ＡＢＣ１２３！", "abc123!"),
            ("Hello　World", "hello world"),
            ("ÄÖ Straße", "ÄÖ straße"),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_title(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn collapse_whitespace_table() {
        let cases = [
            (" a \r\n b ", "a b"),
            ("\u{A0}x\u{A0}\u{A0}y", "x y"),
            ("no-op", "no-op"),
        ];
        for (input, expected) in cases {
            assert_eq!(collapse_whitespace(input), expected, "input {input:?}");
        }
    }
}
