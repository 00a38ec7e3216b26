//! HTML list pages read with the CSS selectors of an [`HtmlSpec`].

use std::sync::LazyLock;

use scraper::{ElementRef, Html, Selector};
use url::Url;

use super::{ParseError, ParsedItem, dates, text};
use crate::config::HtmlSpec;
use crate::model::Timestamp;

static BASE_HREF: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse("base[href]").expect("constant selector"));

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
            super::item(None, title, link, body, published, now)
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
    fn reads_items_with_selectors() {
        let url = Url::parse("http://gov.example/board/list.asp?page=1").unwrap();
        let now: Timestamp = "2026-11-24T06:00:00Z".parse().unwrap();
        let spec = spec("ul.list li", "a", "a@href", Some("span.date"), Some("p"));
        let items = parse_list(&spec, PAGE, &url, now).unwrap();
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
        let items = parse_list(&spec, PAGE, &url, now).unwrap();
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
        let items = parse_list(&spec("div.n", "a", "a@href", None, None), page, &url, now).unwrap();
        assert_eq!(
            items[0].link.as_deref(),
            Some("https://cdn.example/news/a.html")
        );
    }

    #[test]
    fn bad_selector_is_an_error() {
        let url = Url::parse("http://gov.example/").unwrap();
        let now: Timestamp = "2026-11-24T06:00:00Z".parse().unwrap();
        let err = parse_list(&spec("ul[", "a", "a@href", None, None), PAGE, &url, now).unwrap_err();
        assert!(err.to_string().contains("ul["), "{err}");
    }
}
