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

use crate::config::{ReplySpec, SourceConfig, SourceKind};
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

/// A post's reply state as a board lists it (`reply_status` / `reply_date` of the source).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedReply {
    /// The key of the item it belongs to.
    pub key: String,
    /// The status text (办理状态), empty when the item shows none.
    pub status: String,
    /// The board's reply time, when it shows one and it parses.
    pub reply_date: Option<Timestamp>,
}

/// What a document yielded.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The character encoding used, by its WHATWG name: `UTF-8`, `GBK`, `Big5`, `gb18030` …
    pub encoding: &'static str,
    pub items: Vec<ParsedItem>,
    /// For a board with `reply_status`: one per item, in document order; else empty.
    pub replies: Vec<ParsedReply>,
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
    let mut replies = Vec::new();
    let reply = source.reply.as_ref().map(|spec| (spec, &mut replies));
    let items = match &source.kind {
        SourceKind::Feed => feed::parse_feed(text, doc.url, now)?,
        SourceKind::Html(spec) => html::parse_list(spec, text, doc.url, now, reply)?,
        SourceKind::Json(spec) => json::parse_api(spec, text, doc.url, now, reply)?,
    };
    Ok(Parsed {
        encoding: decoded.encoding.name(),
        items,
        replies,
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

/// Where a board's reply fields go while its items are read: the source's spec and the list.
type ReplySink<'a> = Option<(&'a ReplySpec, &'a mut Vec<ParsedReply>)>;

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

    /// The 办理 states of a 领导留言板 (待回复 / 办理中 / 已办理) read from a JSON board and
    /// an HTML list; an item without the field gets an empty status.
    #[test]
    fn reads_board_reply_fields() {
        let feeds = r#"
[[source]]
id = "api"
kind = "json"
url = "https://board.example/api"
items = "/list"
item_id = "/tid"
title = "/title"
reply_status = "/status"
reply_date = "/replyTime"
replied = ["已办理"]
reply_within = "5 workdays"

[[source]]
id = "page"
kind = "html"
url = "http://board.example/list.asp"
item = "tr.row"
date = "td.date"
reply_status = "td.state"
reply_date = "td.replied"
replied = ["已回复"]
reply_within = "5 workdays"
"#;
        let sources =
            crate::config::load_sources_str(feeds, std::path::Path::new("feeds.toml")).unwrap();
        let now: Timestamp = "2026-06-15T00:00:00Z".parse().unwrap();
        let read = |source: &SourceConfig, body: &str| {
            let parsed = parse(
                source,
                Document {
                    bytes: body.as_bytes(),
                    content_type: Some("text/html; charset=utf-8"),
                    url: &source.url,
                },
                now,
            )
            .unwrap();
            parsed
                .replies
                .iter()
                .map(|r| {
                    (
                        r.key.clone(),
                        r.status.clone(),
                        r.reply_date.map(|t| t.to_rfc3339()),
                    )
                })
                .collect::<Vec<_>>()
        };
        let json = r#"{"list":[
            {"tid":1,"title":"路灯不亮","status":"已办理","replyTime":"2026-06-12 10:00"},
            {"tid":2,"title":"噪声扰民","status":"待回复"},
            {"tid":3,"title":"无状态"}]}"#;
        let stamp = Some("2026-06-12T02:00:00+00:00".to_string());
        assert_eq!(
            read(&sources[0], json),
            [
                ("1".into(), "已办理".into(), stamp.clone()),
                ("2".into(), "待回复".into(), None),
                ("3".into(), String::new(), None),
            ]
        );
        let html = r#"<table>
            <tr class="row"><td><a href="show.asp?id=7">供暖不热</a></td><td class="date">2026-06-10</td>
                <td class="state"> 已回复 </td><td class="replied">2026-06-12 10:00</td></tr>
            <tr class="row"><td><a href="show.asp?id=8">道路积水</a></td><td class="date">2026-06-11</td>
                <td class="state">未回复</td><td class="replied"></td></tr>
        </table>"#;
        assert_eq!(
            read(&sources[1], html),
            [
                (
                    "http://board.example/show.asp?id=7".into(),
                    "已回复".into(),
                    stamp
                ),
                (
                    "http://board.example/show.asp?id=8".into(),
                    "未回复".into(),
                    None
                ),
            ]
        );
        // A source without reply keys yields no reply fields.
        let mut plain = sources[0].clone();
        plain.reply = None;
        assert!(read(&plain, json).is_empty());
    }
}
