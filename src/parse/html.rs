//! HTML list pages read with the CSS selectors of an [`HtmlSpec`].

use std::sync::LazyLock;

use scraper::{ElementRef, Html, Selector};
use url::Url;

use super::{ParseError, ParsedItem, dates, text};
use crate::config::HtmlSpec;
use crate::model::Timestamp;

static BASE_HREF: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse("base[href]").expect("constant selector"));

/// Deepest element nesting a list page may have. Real pages stay far below 100
/// (a CMS that leaves a few `<div>` unclosed per item adds them up, hence the
/// margin); building a DOM of 100,000 nested elements costs html5ever tens of
/// seconds, so such a page is refused before parsing.
pub const MAX_DEPTH: usize = 1000;

/// Elements that never hold content, and those whose end tag HTML lets a page omit
/// (the next sibling closes them): neither deepens the tree, so neither is counted.
const NOT_NESTING: [&str; 30] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "tbody", "thead",
    "tfoot", "colgroup", "caption", "html", "head", "body",
];

/// A cheap scan of the tags before any DOM is built: the nesting depth reached when
/// it exceeds [`MAX_DEPTH`], else `None`. Start tags deepen, end tags close,
/// self-closing and [`NOT_NESTING`] tags, comments and declarations do neither;
/// `<script>`/`<style>` content is skipped. Linear in the page length.
fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&b| b == b'<') {
        let tag = &text[at + offset..];
        at += offset + 1;
        if tag.starts_with("<!--") {
            at += tag.find("-->").map_or(bytes.len(), |end| end + 2);
            at = at.min(bytes.len());
            continue;
        }
        let closing = tag.as_bytes().get(1) == Some(&b'/');
        let name_start = if closing { 2 } else { 1 };
        let name_len = tag.as_bytes()[name_start.min(tag.len())..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if name_len == 0 {
            continue;
        }
        let name = tag[name_start..name_start + name_len].to_ascii_lowercase();
        // The tag ends at its `>`; stopping at the next `<` too keeps a run of
        // unclosed `<` from being scanned again and again.
        let end = tag[1..].find(['<', '>']).map_or(tag.len(), |i| i + 1);
        if closing {
            if !NOT_NESTING.contains(&name.as_str()) {
                depth = depth.saturating_sub(1);
            }
            continue;
        }
        if name == "script" || name == "style" {
            let close = format!("</{name}");
            at = (at + end).min(bytes.len());
            let rest = &bytes[at..];
            at += rest
                .windows(close.len())
                .position(|w| w.eq_ignore_ascii_case(close.as_bytes()))
                .unwrap_or(rest.len());
            continue;
        }
        if tag[..end].ends_with('/') || NOT_NESTING.contains(&name.as_str()) {
            continue;
        }
        depth += 1;
        if depth > MAX_DEPTH {
            return Some(depth);
        }
    }
    None
}

/// One configured field: `css` (its text), `css@attr` (an attribute of the match)
/// or `@attr` (an attribute of the item element itself).
struct Field {
    selector: Option<Selector>,
    attr: Option<String>,
}

impl Field {
    fn new(spec: &str) -> Result<Self, ParseError> {
        let (css, attr) = match spec.split_once('@') {
            // html5ever lowercases attribute names.
            Some((css, attr)) => (css.trim(), Some(attr.trim().to_ascii_lowercase())),
            None => (spec.trim(), None),
        };
        let selector = if css.is_empty() {
            None
        } else {
            Some(Selector::parse(css).map_err(|err| {
                ParseError::Html(format!(
                    "CSS 选择器“{spec}”无效（{err}）；请修改 feeds.toml 中该信息源的选择器"
                ))
            })?)
        };
        Ok(Field { selector, attr })
    }

    /// The field's raw value inside `item`: attribute value or collapsed text.
    fn read(&self, item: ElementRef<'_>) -> Option<String> {
        let element = match &self.selector {
            Some(selector) => item.select(selector).next()?,
            None => item,
        };
        match &self.attr {
            Some(attr) => element.value().attr(attr).map(text::collapse_whitespace),
            None => Some(text::collapse_pieces(element.text())),
        }
    }
}

/// Parses a list page. Items without a title are skipped; links resolve against
/// the page's `<base href>` or its URL.
pub(super) fn parse_list(
    spec: &HtmlSpec,
    text: &str,
    url: &Url,
    now: Timestamp,
    mut reply: super::ReplySink<'_>,
) -> Result<Vec<ParsedItem>, ParseError> {
    let item_selector = Selector::parse(&spec.item).map_err(|err| {
        ParseError::Html(format!(
            "CSS 选择器“{}”无效（{err}）；请修改 feeds.toml 中该信息源的 item",
            spec.item
        ))
    })?;
    let title = Field::new(&spec.title)?;
    let link = Field::new(&spec.link)?;
    let date = spec.date.as_deref().map(Field::new).transpose()?;
    let body = spec.body.as_deref().map(Field::new).transpose()?;
    let reply_fields = match &reply {
        Some((r, _)) => Some((
            Field::new(&r.status)?,
            r.date.as_deref().map(Field::new).transpose()?,
        )),
        None => None,
    };

    if let Some(depth) = too_deep(text) {
        return Err(ParseError::Html(format!(
            "页面标签嵌套超过 {depth} 层（上限 {MAX_DEPTH} 层），为免耗尽处理器已拒绝解析；\
             请在浏览器中检查该页面，或改用该网站的 RSS/JSON 接口"
        )));
    }
    let document = Html::parse_document(text);
    let base = document
        .select(&BASE_HREF)
        .next()
        .and_then(|b| b.value().attr("href"))
        .and_then(|href| url.join(href.trim()).ok());
    let base = base.as_ref().unwrap_or(url);

    Ok(document
        .select(&item_selector)
        .filter_map(|element| {
            let title = title.read(element)?;
            let link = link
                .read(element)
                .and_then(|href| super::resolve_link(base, &href));
            let published = date
                .as_ref()
                .and_then(|d| d.read(element))
                .and_then(|d| dates::parse_timestamp(&d));
            let body = body
                .as_ref()
                .and_then(|b| b.read(element))
                .unwrap_or_default();
            let item = super::item(None, title, link, body, published, now)?;
            if let (Some((_, sink)), Some((status, date))) = (&mut reply, &reply_fields) {
                sink.push(super::ParsedReply {
                    key: item.key.clone(),
                    status: status.read(element).unwrap_or_default(),
                    reply_date: date
                        .as_ref()
                        .and_then(|d| d.read(element))
                        .and_then(|d| dates::parse_timestamp(&d)),
                });
            }
            Some(item)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DateQuality;

    fn spec(
        item: &str,
        title: &str,
        link: &str,
        date: Option<&str>,
        body: Option<&str>,
    ) -> HtmlSpec {
        HtmlSpec {
            item: item.into(),
            title: title.into(),
            link: link.into(),
            date: date.map(Into::into),
            body: body.map(Into::into),
        }
    }

    const PAGE: &str = r#"<html><head><title>留言列表</title></head><body>
<ul class="list">
  <li data-id="101"><a href="/liuyan/101.html" title="完整标题：小区供暖不热">小区供暖不热</a><span class="date">[2024-05-02]</span><p>十二月以来室温不足十六度。</p></li>
  <li data-id="102"><a href="detail.asp?id=102">道路  积水
      严重</a><span class="date">2024年05月03日</span></li>
  <li data-id="103"><a href="javascript:void(0)">无链接的标题</a><span class="date">明天</span></li>
  <li data-id="104"><span class="date">2024-05-04</span></li>
  <li data-id="105"><a href="https://other.example/x">外站链接</a><span class="date">2099-01-01</span></li>
</ul></body></html>"#;

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let url = Url::parse("http://gov.example/list").unwrap();
        let now: Timestamp = "2026-11-24T06:00:00Z".parse().unwrap();
        let spec = spec("ul.list li", "a", "a@href", None, None);
        let deep = format!(
            "<html><body>{}<ul class=\"list\"><li><a href=\"/1\">标题</a></li></ul></body></html>",
            "<div>".repeat(100_000)
        );
        let err = parse_list(&spec, &deep, &url, now, None).unwrap_err();
        assert!(err.to_string().contains("嵌套超过"), "{err}");
        // Closed nesting, unclosed list items and paragraphs, void elements and
        // script text full of tags do not add up.
        let wide = format!(
            "<html><body><script>{}</script>{}<ul class=\"list\">{}</ul></body></html>",
            "<div>".repeat(5000),
            "<div><span><br><img src=x></span></div>".repeat(5000),
            "<li><p><a href=\"/1\">标题</a>".repeat(3000)
        );
        assert_eq!(too_deep(&wide), None);
        assert_eq!(
            parse_list(&spec, &wide, &url, now, None).unwrap().len(),
            3000
        );
        assert_eq!(too_deep(&"<div>".repeat(MAX_DEPTH)), None);
        assert_eq!(
            too_deep(&"<div>".repeat(MAX_DEPTH + 1)),
            Some(MAX_DEPTH + 1)
        );
    }

    #[test]
    fn reads_items_with_selectors() {
        let url = Url::parse("http://gov.example/board/list.asp?page=1").unwrap();
        let now: Timestamp = "2026-11-24T06:00:00Z".parse().unwrap();
        let spec = spec("ul.list li", "a", "a@href", Some("span.date"), Some("p"));
        let items = parse_list(&spec, PAGE, &url, now, None).unwrap();
        let got: Vec<_> = items
            .iter()
            .map(|i| {
                (
                    i.key.as_str(),
                    i.title.as_str(),
                    i.link.as_deref(),
                    i.published.map(|t| t.to_rfc3339()),
                    i.date_quality,
                    i.body.as_str(),
                )
            })
            .collect();
        let expected = vec![
            (
                "http://gov.example/liuyan/101.html",
                "小区供暖不热",
                Some("http://gov.example/liuyan/101.html"),
                Some("2024-05-01T16:00:00+00:00".to_string()),
                Some(DateQuality::Credible),
                "十二月以来室温不足十六度。",
            ),
            (
                "http://gov.example/board/detail.asp?id=102",
                "道路 积水 严重",
                Some("http://gov.example/board/detail.asp?id=102"),
                Some("2024-05-02T16:00:00+00:00".to_string()),
                Some(DateQuality::Credible),
                "",
            ),
            ("无链接的标题", "无链接的标题", None, None, None, ""),
            (
                "https://other.example/x",
                "外站链接",
                Some("https://other.example/x"),
                Some("2098-12-31T16:00:00+00:00".to_string()),
                Some(DateQuality::Implausible),
                "",
            ),
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn attributes_of_the_item_and_of_matches() {
        let url = Url::parse("http://gov.example/board/").unwrap();
        let now: Timestamp = "2026-11-24T06:00:00Z".parse().unwrap();
        let spec = spec("ul.list li", "a@title", "@data-id", None, None);
        let items = parse_list(&spec, PAGE, &url, now, None).unwrap();
        assert_eq!(items.len(), 1, "only the first item has a title attribute");
        assert_eq!(items[0].title, "完整标题：小区供暖不热");
        assert_eq!(
            items[0].link.as_deref(),
            Some("http://gov.example/board/101")
        );
    }

    #[test]
    fn honours_base_href() {
        let page = r#"<html><head><base href="https://cdn.example/news/"></head>
<body><div class="n"><a href="a.html">甲</a></div></body></html>"#;
        let url = Url::parse("http://gov.example/").unwrap();
        let now: Timestamp = "2026-11-24T06:00:00Z".parse().unwrap();
        let items = parse_list(
            &spec("div.n", "a", "a@href", None, None),
            page,
            &url,
            now,
            None,
        )
        .unwrap();
        assert_eq!(
            items[0].link.as_deref(),
            Some("https://cdn.example/news/a.html")
        );
    }

    #[test]
    fn bad_selector_is_an_error() {
        let url = Url::parse("http://gov.example/").unwrap();
        let now: Timestamp = "2026-11-24T06:00:00Z".parse().unwrap();
        let err = parse_list(
            &spec("ul[", "a", "a@href", None, None),
            PAGE,
            &url,
            now,
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("ul["), "{err}");
    }
}
