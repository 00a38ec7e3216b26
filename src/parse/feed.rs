//! RSS 0.9x/1.0/2.0, Atom and JSON Feed, read with feed-rs from UTF-8 text.

use std::borrow::Cow;

use feed_rs::model::{Entry, Feed};
use feed_rs::parser::{Builder, ParseErrorKind, ParseFeedError};
use url::Url;

use super::encoding::{find_ci, label_after};
use super::{ParseError, ParsedItem, dates, text};
use crate::model::Timestamp;

/// RSS versions feed-rs accepts on the `<rss>` root.
const RSS_VERSIONS: [&[u8]; 3] = [b"2.0", b"0.91", b"0.92"];

/// A title made from the body for an item that has none, in characters.
const TITLE_FROM_BODY: usize = 60;

/// Parses a feed already decoded to text.
pub(super) fn parse_feed(
    text: &str,
    base: &Url,
    now: Timestamp,
) -> Result<Vec<ParsedItem>, ParseError> {
    let text = text.trim_start();
    if text.is_empty() {
        return Err(ParseError::Feed(
            "内容为空：服务器返回了空白内容；请稍后重试，或在浏览器中打开 url 检查".into(),
        ));
    }
    let prepared = prepare_xml(text);
    let feed = match read_feed(&prepared, base)? {
        Ok(feed) => feed,
        // A bare `&` (often in a link's query string) is the commonest defect of
        // hand-made feeds: escape it and try once more before giving up.
        Err(err @ ParseFeedError::XmlReader(_)) => match escape_bare_ampersands(&prepared) {
            Some(repaired) => read_feed(&repaired, base)?.map_err(feed_error)?,
            None => return Err(feed_error(err)),
        },
        Err(err) => return Err(feed_error(err)),
    };
    Ok(feed
        .entries
        .into_iter()
        .filter_map(|entry| entry_item(entry, base, now))
        .collect())
}

/// One feed-rs run with a fresh parser: a parser keeps per-entry state that a
/// failed parse leaves behind (reusing it then trips an assertion). feed-rs can
/// panic on some inputs (an overlong `itunes:duration` or MediaRSS time overflows
/// its integer parsing); that becomes an error.
fn read_feed(text: &str, base: &Url) -> Result<Result<Feed, ParseFeedError>, ParseError> {
    std::panic::catch_unwind(|| {
        Builder::new()
            .base_uri(Some(base.as_str()))
            .timestamp_parser(dates::parse_timestamp)
            // An empty id marks an entry without guid/id: feed-rs would otherwise
            // invent one (a hash, or a random UUID on every parse).
            .id_generator(|_, _, _| String::new())
            .sanitize_content(false)
            .build()
            .parse(text.as_bytes())
    })
    .map_err(|_| {
        tracing::warn!(url = %base, "feed-rs panicked on a document");
        ParseError::Feed(
            "订阅源含有解析器无法处理的内容；请在浏览器中打开 url 检查，必要时改用 kind = \"html\" 读取".into(),
        )
    })
}

fn entry_item(entry: Entry, base: &Url, now: Timestamp) -> Option<ParsedItem> {
    let link = entry
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|rel| rel == "alternate"))
        .or(entry.links.first())
        .and_then(|l| super::resolve_link(base, &l.href));
    let body = entry
        .content
        .and_then(|c| c.body)
        .filter(|b| !b.trim().is_empty())
        .or(entry.summary.map(|s| s.content))
        .map(|html| text::html_to_text(&html))
        .unwrap_or_default();
    let mut title = entry
        .title
        .map(|t| text::html_to_text(&t.content))
        .unwrap_or_default();
    if title.is_empty() {
        title = body.chars().take(TITLE_FROM_BODY).collect();
    }
    super::item(
        Some(&entry.id),
        title,
        link,
        body,
        entry.published.or(entry.updated),
        now,
    )
}

/// Makes decoded text palatable to feed-rs: drops a non-UTF-8 `encoding=` from the
/// XML declaration (the text is UTF-8 now; feed-rs would decode it again) and gives
/// an `<rss>` root without a version it accepts `version="2.0"`. Copies only when
/// something must change.
fn prepare_xml(text: &str) -> Cow<'_, str> {
    let mut edits: Vec<(std::ops::Range<usize>, &str)> = Vec::with_capacity(2);
    let bytes = text.as_bytes();
    if bytes.starts_with(b"<?xml") {
        let end = find_ci(bytes, b"?>").unwrap_or(0);
        let decl = &bytes[..end];
        if let Some(label) = label_after(decl, b"encoding")
            && encoding_rs::Encoding::for_label(label) != Some(encoding_rs::UTF_8)
            && let Some(attr) = find_ci(decl, b"encoding")
        {
            let value_end = offset_in(bytes, label) + label.len();
            let close = usize::from(matches!(bytes.get(value_end), Some(b'"' | b'\'')));
            edits.push((attr..value_end + close, ""));
        }
    }
    if let Some(at) = rss_root(bytes) {
        let tag_end = bytes[at..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(bytes.len(), |e| at + e);
        let tag = &bytes[at..tag_end];
        match label_after(tag, b"version") {
            Some(version) if RSS_VERSIONS.contains(&version) => {}
            Some(version) => {
                let start = offset_in(bytes, version);
                edits.push((start..start + version.len(), "2.0"));
            }
            None if find_ci(tag, b"version").is_none() => {
                edits.push((at + 4..at + 4, " version=\"2.0\""));
            }
            None => {}
        }
    }
    if edits.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut from = 0;
    for (range, replacement) in edits {
        out.push_str(&text[from..range.start]);
        out.push_str(replacement);
        from = range.end;
    }
    out.push_str(&text[from..]);
    Cow::Owned(out)
}

/// Escapes each `&` that does not start an entity or character reference, outside
/// CDATA sections and comments. `None` when there is none.
fn escape_bare_ampersands(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut changed = false;
    let mut rest = text;
    while let Some(pos) = rest.find(['&', '<']) {
        out.push_str(&rest[..pos]);
        let at = &rest[pos..];
        let verbatim = [("<![CDATA[", "]]>"), ("<!--", "-->")]
            .into_iter()
            .find(|(open, _)| at.starts_with(open))
            .map(|(open, close)| {
                at[open.len()..]
                    .find(close)
                    .map_or(at.len(), |e| open.len() + e + close.len())
            });
        let used = match verbatim {
            Some(len) => {
                out.push_str(&at[..len]);
                len
            }
            None if at.starts_with('&') && !is_reference(at) => {
                out.push_str("&amp;");
                changed = true;
                1
            }
            None => {
                out.push_str(&at[..1]);
                1
            }
        };
        rest = &at[used..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Whether `at` (starting with `&`) is `&name;`, `&#123;` or `&#x1F;`.
fn is_reference(at: &str) -> bool {
    let body = &at.as_bytes()[1..];
    let Some(semi) = body.iter().take(32).position(|&b| b == b';') else {
        return false;
    };
    let name = &body[..semi];
    match name {
        [b'#', b'x' | b'X', hex @ ..] => !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit),
        [b'#', digits @ ..] => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
        [first, more @ ..] => {
            first.is_ascii_alphabetic() && more.iter().all(u8::is_ascii_alphanumeric)
        }
        [] => false,
    }
}

/// The byte offset of a subslice within its parent.
fn offset_in(parent: &[u8], sub: &[u8]) -> usize {
    sub.as_ptr() as usize - parent.as_ptr() as usize
}

/// Where the `<rss` root tag starts, outside comments.
fn rss_root(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(at) = bytes[i..].iter().position(|&b| b == b'<').map(|p| p + i) {
        let rest = &bytes[at..];
        if rest.starts_with(b"<!--") {
            i = find_ci(rest, b"-->").map_or(bytes.len(), |e| at + e + 3);
            continue;
        }
        if rest.len() > 4
            && rest[..4].eq_ignore_ascii_case(b"<rss")
            && matches!(rest[4], b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/')
        {
            return Some(at);
        }
        if rest.starts_with(b"<?") || rest.starts_with(b"<!") {
            i = at + 2;
            continue;
        }
        // The first real element is the root: it is not `<rss`.
        return None;
    }
    None
}

fn feed_error(err: ParseFeedError) -> ParseError {
    ParseError::Feed(match err {
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot) => {
            "找不到 RSS、Atom 或 JSON Feed 的根元素：该地址返回的可能是网页或错误页；请在浏览器中打开 url，确认它是订阅源地址（网页列表请改用 kind = \"html\"）".into()
        }
        ParseFeedError::ParseError(kind) => {
            format!("订阅源结构不完整（{kind}）；请在浏览器中打开 url 检查内容")
        }
        ParseFeedError::XmlReader(err) => format!(
            "XML 格式错误（{err}）：内容可能被截断，或含有未转义的 & 等字符；请在浏览器中打开 url 检查，若持续出现请联系对方网站"
        ),
        ParseFeedError::JsonSerde(err) => {
            format!("JSON Feed 格式错误（{err}）；请在浏览器中打开 url 检查")
        }
        ParseFeedError::JsonUnsupportedVersion(version) => {
            format!("不支持的 JSON Feed 版本“{version}”；支持 1.0 与 1.1")
        }
        ParseFeedError::IoError(err) => format!("读取内容失败（{err}）"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_bare_ampersands_table() {
        let cases = [
            (
                "<link>a.asp?x=1&y=2</link>",
                Some("<link>a.asp?x=1&amp;y=2</link>"),
            ),
            (
                "AT&T &amp; &#20013; &#x4E2D; &nbsp;",
                Some("AT&amp;T &amp; &#20013; &#x4E2D; &nbsp;"),
            ),
            (
                "<![CDATA[a&b]]> & <!-- c&d -->",
                Some("<![CDATA[a&b]]> &amp; <!-- c&d -->"),
            ),
            ("&#; &#x; &;", Some("&amp;#; &amp;#x; &amp;;")),
            ("<a>&lt;fine&gt;</a>", None),
            ("<![CDATA[unterminated & ", None),
        ];
        for (input, expected) in cases {
            assert_eq!(
                escape_bare_ampersands(input).as_deref(),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn prepare_xml_table() {
        // (input, expected; None = unchanged and not copied)
        let cases: [(&str, Option<&str>); 9] = [
            (
                r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"/>"#,
                None,
            ),
            (
                r#"<?xml version="1.0" encoding="gb2312"?><rss version="2.0"/>"#,
                Some(r#"<?xml version="1.0" ?><rss version="2.0"/>"#),
            ),
            (
                "<?xml version='1.0' encoding='GBK' standalone='yes'?><feed/>",
                Some("<?xml version='1.0'  standalone='yes'?><feed/>"),
            ),
            (
                "<rss><channel/></rss>",
                Some(r#"<rss version="2.0"><channel/></rss>"#),
            ),
            (
                "<!-- <rss> in a comment --><rss\n><channel/></rss>",
                Some("<!-- <rss> in a comment --><rss version=\"2.0\"\n><channel/></rss>"),
            ),
            (
                r#"<rss version="0.94"><channel/></rss>"#,
                Some(r#"<rss version="2.0"><channel/></rss>"#),
            ),
            (r#"<rss version="0.91"><channel/></rss>"#, None),
            ("<feed><rss/></feed>", None),
            (
                r#"<?xml version="1.0" encoding="big5"?><?xml-stylesheet href="a.css"?><rss xmlns:dc="x">"#,
                Some(
                    r#"<?xml version="1.0" ?><?xml-stylesheet href="a.css"?><rss version="2.0" xmlns:dc="x">"#,
                ),
            ),
        ];
        for (input, expected) in cases {
            let got = prepare_xml(input);
            match expected {
                None => assert!(
                    matches!(got, Cow::Borrowed(s) if s == input),
                    "input {input}"
                ),
                Some(expected) => assert_eq!(got, expected, "input {input}"),
            }
        }
    }
}
