//! Bytes → items. Pure functions, no IO: `sources` hands over the raw body and
//! its HTTP metadata; this module decodes the text (HTTP charset → XML declaration
//! or `<meta>` → detection), reads the document by the source's kind (feed, HTML
//! list page, JSON API), parses dates and derives each item's stable key.

pub mod dates;
pub mod encoding;
mod feed;
mod html;
mod json;
pub mod text;

use url::Url;

use crate::config::{SourceConfig, SourceKind};
use crate::model::{DateQuality, Timestamp};

/// A fetched document, as `sources` received it.
#[derive(Debug, Clone, Copy)]
pub struct Document<'a> {
    /// The raw body, after HTTP content decoding (gzip etc.), before charset decoding.
    pub bytes: &'a [u8],
    /// The `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// The final URL (after redirects): relative links resolve against it.
    pub url: &'a Url,
}

/// One item found in a document.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedItem {
    /// Stable per source: guid/id, else link, else normalized title. Never random.
    pub key: String,
    pub title: String,
    pub link: Option<String>,
    /// Plain text (HTML stripped).
    pub body: String,
    pub published: Option<Timestamp>,
    pub date_quality: Option<DateQuality>,
}

/// What a document yielded.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The character encoding used, by its WHATWG name: `UTF-8`, `GBK`, `Big5`, `gb18030` …
    pub encoding: &'static str,
    pub items: Vec<ParsedItem>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("订阅源格式错误：{0}")]
    Feed(String),
    #[error("页面解析失败：{0}")]
    Html(String),
    #[error("JSON 解析失败：{0}")]
    Json(String),
}

/// Reads a document as the source's kind says. `now` judges date credibility.
pub fn parse(
    source: &SourceConfig,
    doc: Document<'_>,
    now: Timestamp,
) -> Result<Parsed, ParseError> {
    let decoded = encoding::decode(
        doc.bytes,
        source.encoding.as_deref(),
        doc.content_type,
        detection_tld(doc.url),
    );
    let text = decoded.text.as_ref();
    let items = match &source.kind {
        SourceKind::Feed => feed::parse_feed(text, doc.url, now)?,
        SourceKind::Html(spec) => html::parse_list(spec, text, doc.url, now)?,
        SourceKind::Json(spec) => json::parse_api(spec, text, doc.url, now)?,
    };
    Ok(Parsed {
        encoding: decoded.encoding.name(),
        items,
    })
}

/// The host's top-level domain when it names a CJK region, to steer charset
/// detection (`cn` → GBK, `tw`/`hk`/`mo` → Big5); other hosts let the content decide.
fn detection_tld(url: &Url) -> Option<&'static [u8]> {
    let tld = url.host_str()?.rsplit('.').next()?;
    ["cn", "tw", "hk", "mo", "jp", "kr"]
        .into_iter()
        .find(|t| tld.eq_ignore_ascii_case(t))
        .map(str::as_bytes)
}

/// An item's stable key: its own id, else its link, else its normalized title.
pub fn item_key(id: Option<&str>, link: Option<&str>, title: &str) -> String {
    match (id.map(str::trim).filter(|s| !s.is_empty()), link) {
        (Some(id), _) => id.to_string(),
        (None, Some(link)) if !link.is_empty() => link.to_string(),
        _ => text::normalize_title(title),
    }
}

/// Builds an item from its parts; `None` when it has no title. The date is judged
/// against `now`.
fn item(
    id: Option<&str>,
    title: String,
    link: Option<String>,
    body: String,
    published: Option<Timestamp>,
    now: Timestamp,
) -> Option<ParsedItem> {
    if title.is_empty() {
        return None;
    }
    Some(ParsedItem {
        key: item_key(id, link.as_deref(), &title),
        title,
        link,
        body,
        date_quality: published.map(|ts| dates::quality(ts, now)),
        published,
    })
}

/// Resolves a link against the document URL; only http(s) links are kept
/// (`javascript:`, `mailto:` and unparsable links give `None`).
fn resolve_link(base: &Url, href: &str) -> Option<String> {
    let href = href.trim();
    if href.is_empty() || href.starts_with('#') {
        return None;
    }
    base.join(href)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_key_table() {
        // (id, link, title, key)
        let cases = [
            (Some("guid-1"), Some("http://a/1"), "标题", "guid-1"),
            (Some("  "), Some("http://a/1"), "标题", "http://a/1"),
            (None, Some("http://a/1"), "标题", "http://a/1"),
            (None, Some(""), " 某镇　ＡＢＣ  公司 ", "某镇 abc 公司"),
            (None, None, "Title", "title"),
        ];
        for (id, link, title, key) in cases {
            assert_eq!(item_key(id, link, title), key, "{id:?} {link:?} {title:?}");
        }
    }

    #[test]
    fn resolve_link_table() {
        let base = Url::parse("http://gov.example/board/list.asp?page=2").unwrap();
        let cases = [
            (
                "show.asp?id=1",
                Some("http://gov.example/board/show.asp?id=1"),
            ),
            (" /a/b.html ", Some("http://gov.example/a/b.html")),
            ("//cdn.example/x", Some("http://cdn.example/x")),
            ("https://other.example/", Some("https://other.example/")),
            ("javascript:void(0)", None),
            ("mailto:office@gov.example", None),
            ("#top", None),
            ("", None),
        ];
        for (href, expected) in cases {
            assert_eq!(resolve_link(&base, href).as_deref(), expected, "{href}");
        }
    }
}
