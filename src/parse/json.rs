//! JSON APIs (message-board list endpoints) read with the JSON pointers of a
//! [`JsonSpec`].

use serde_json::Value;
use url::Url;

use super::{ParseError, ParsedItem, dates, text};
use crate::config::JsonSpec;
use crate::model::Timestamp;

/// How much of an unexpected answer an error message quotes, in characters.
const SNIPPET: usize = 200;

/// Parses an API answer. Items without a title are skipped.
pub(super) fn parse_api(
    spec: &JsonSpec,
    text: &str,
    url: &Url,
    now: Timestamp,
    mut reply: super::ReplySink<'_>,
) -> Result<Vec<ParsedItem>, ParseError> {
    let value: Value = serde_json::from_str(strip_jsonp(text)).map_err(|err| {
        ParseError::Json(format!(
            "返回内容不是有效的 JSON（{err}）：接口可能已变更或返回了错误页；开头是“{}”",
            snippet(text)
        ))
    })?;
    let list = match value.pointer(&spec.items) {
        Some(Value::Array(list)) => list.as_slice(),
        Some(Value::Null) => &[],
        Some(other) => {
            return Err(ParseError::Json(format!(
                "items 指针“{}”指向的不是数组（而是 {}）；请检查 feeds.toml 中的 items",
                spec.items,
                kind(other)
            )));
        }
        None => {
            return Err(ParseError::Json(format!(
                "返回的 JSON 中没有 items 指针“{}”：接口可能返回了错误信息或已变更；返回内容开头是“{}”",
                spec.items,
                snippet(text)
            )));
        }
    };
    Ok(list
        .iter()
        .filter_map(|entry| {
            let field =
                |pointer: Option<&String>| pointer.and_then(|p| entry.pointer(p)).and_then(scalar);
            let id = field(spec.item_id.as_ref());
            let title = text::html_to_text(&field(Some(&spec.title))?);
            let body = field(spec.body.as_ref())
                .map(|b| text::html_to_text(&b))
                .unwrap_or_default();
            let published = spec
                .date
                .as_ref()
                .and_then(|p| entry.pointer(p))
                .and_then(date);
            let link = match (&spec.link_pointer, &spec.link) {
                (Some(pointer), _) => entry.pointer(pointer).and_then(scalar),
                (None, Some(template)) if template.contains("{id}") => {
                    id.as_deref().map(|id| template.replace("{id}", id))
                }
                (None, Some(template)) => Some(template.clone()),
                (None, None) => None,
            }
            .and_then(|href| super::resolve_link(url, &href));
            let item = super::item(id.as_deref(), title, link, body, published, now)?;
            if let Some((spec, sink)) = &mut reply {
                sink.push(super::ParsedReply {
                    key: item.key.clone(),
                    status: field(Some(&spec.status)).unwrap_or_default(),
                    reply_date: spec
                        .date
                        .as_ref()
                        .and_then(|p| entry.pointer(p))
                        .and_then(date),
                });
            }
            Some(item)
        })
        .collect())
}

/// The JSON inside a JSONP answer (`callback({...});`), or the text itself.
fn strip_jsonp(text: &str) -> &str {
    let trimmed = text.trim();
    if trimmed.starts_with(['{', '[']) {
        return trimmed;
    }
    let Some(open) = trimmed.find('(') else {
        return trimmed;
    };
    let callback = &trimmed[..open];
    let is_callback = !callback.is_empty()
        && callback
            .trim()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.'));
    match trimmed.trim_end_matches(';').trim_end().strip_suffix(')') {
        Some(inner) if is_callback => &inner[open + 1..],
        _ => trimmed,
    }
}

/// A string (trimmed) or a number as text; anything else is no value.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A date given as a string in any form [`dates`] reads, or as epoch seconds or
/// milliseconds.
fn date(value: &Value) -> Option<Timestamp> {
    match value {
        Value::String(s) => dates::parse_timestamp(s),
        Value::Number(n) => dates::from_epoch(n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?),
        _ => None,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "布尔值",
        Value::Number(_) => "数字",
        Value::String(_) => "字符串",
        Value::Array(_) => "数组",
        Value::Object(_) => "对象",
    }
}

fn snippet(text: &str) -> String {
    text::collapse_whitespace(&text.chars().take(SNIPPET).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HttpMethod;
    use crate::model::DateQuality;

    fn spec() -> JsonSpec {
        JsonSpec {
            method: HttpMethod::Get,
            form: None,
            json: None,
            headers: Default::default(),
            items: "/responseData".into(),
            item_id: Some("/tid".into()),
            title: "/subject".into(),
            body: Some("/content".into()),
            date: Some("/dateline".into()),
            link_pointer: None,
            link: Some("/threads/content?tid={id}".into()),
        }
    }

    #[test]
    fn reads_ids_dates_and_links() {
        let answer = r#"{"result":"success","responseData":[
            {"tid":25489118,"subject":"开发商占用 公共区域","content":"<p>露天烧烤&amp;油烟</p>","dateline":1749700800},
            {"tid":"25489119","subject":"噪声扰民","content":null,"dateline":"1749700800000"},
            {"tid":25489120,"subject":"路灯不亮","dateline":1749700800000},
            {"subject":"无编号","dateline":"2025-06-12 12:00"},
            {"tid":25489121,"subject":"","dateline":1749700800},
            {"tid":25489122,"subject":"未来日期","dateline":4102444800}
        ]}"#;
        let url = Url::parse("https://liuyan.example/api/list?fid=5194").unwrap();
        let now: Timestamp = "2026-11-24T06:00:00Z".parse().unwrap();
        let items = parse_api(&spec(), answer, &url, now, None).unwrap();
        let got: Vec<_> = items
            .iter()
            .map(|i| {
                (
                    i.key.as_str(),
                    i.title.as_str(),
                    i.link.as_deref(),
                    i.body.as_str(),
                    i.published.map(|t| t.to_rfc3339()),
                    i.date_quality,
                )
            })
            .collect();
        let june = Some("2025-06-12T04:00:00+00:00".to_string());
        let ok = Some(DateQuality::Credible);
        let expected = vec![
            (
                "25489118",
                "开发商占用 公共区域",
                Some("https://liuyan.example/threads/content?tid=25489118"),
                "露天烧烤&油烟",
                june.clone(),
                ok,
            ),
            (
                "25489119",
                "噪声扰民",
                Some("https://liuyan.example/threads/content?tid=25489119"),
                "",
                june.clone(),
                ok,
            ),
            (
                "25489120",
                "路灯不亮",
                Some("https://liuyan.example/threads/content?tid=25489120"),
                "",
                june.clone(),
                ok,
            ),
            ("无编号", "无编号", None, "", june.clone(), ok),
            (
                "25489122",
                "未来日期",
                Some("https://liuyan.example/threads/content?tid=25489122"),
                "",
                Some("2100-01-01T00:00:00+00:00".to_string()),
                Some(DateQuality::Implausible),
            ),
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn strip_jsonp_table() {
        let cases = [
            (r#"{"a":1}"#, r#"{"a":1}"#),
            (r#"  [1] "#, "[1]"),
            (r#"jQuery1830_17({"a":1});"#, r#"{"a":1}"#),
            (r#"cb ( {"a":1} ) ;"#, r#" {"a":1} "#),
            ("<html>(x)</html>", "<html>(x)</html>"),
            ("plain", "plain"),
        ];
        for (input, expected) in cases {
            assert_eq!(strip_jsonp(input), expected, "{input}");
        }
    }

    #[test]
    fn link_pointer_beats_the_template() {
        let mut spec = spec();
        spec.link_pointer = Some("/url".into());
        let answer = r#"{"responseData":[{"tid":1,"subject":"甲","url":"/t/1.html"}]}"#;
        let url = Url::parse("https://liuyan.example/api/list").unwrap();
        let now: Timestamp = "2026-11-24T06:00:00Z".parse().unwrap();
        let items = parse_api(&spec, answer, &url, now, None).unwrap();
        assert_eq!(
            items[0].link.as_deref(),
            Some("https://liuyan.example/t/1.html")
        );
        assert_eq!(items[0].key, "1");
    }

    #[test]
    fn errors_name_the_problem() {
        let url = Url::parse("https://liuyan.example/api/list").unwrap();
        let now: Timestamp = "2026-11-24T06:00:00Z".parse().unwrap();
        let cases = [
            ("<html>502 Bad Gateway</html>", "不是有效的 JSON"),
            (r#"{"code":403,"msg":"访问受限"}"#, "访问受限"),
            (r#"{"responseData":{"tid":1}}"#, "不是数组"),
        ];
        for (answer, needle) in cases {
            let err = parse_api(&spec(), answer, &url, now, None)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{answer}: {err}");
        }
        let empty = parse_api(&spec(), r#"{"responseData":null}"#, &url, now, None).unwrap();
        assert!(empty.is_empty());
    }
}
