//! `feeds.toml`: the sources to poll. Each `[[source]]` is checked on its own, so
//! one bad entry is reported with its id and does not hide the others.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use url::Url;

use super::{HumanDuration, Problem, Window, parse_window, toml_message};

/// One source, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceConfig {
    /// Stable id, used in the ledger and logs.
    pub id: String,
    /// Display name (Chinese).
    pub name: String,
    pub url: Url,
    pub interval: HumanDuration,
    /// Everything from this source concerns the jurisdiction.
    pub local: bool,
    /// Polled by the daemon; `false` keeps the entry but skips it.
    pub enabled: bool,
    /// Forces a character encoding (a WHATWG label such as `gbk`) when a site declares a wrong one.
    pub encoding: Option<String>,
    /// Whose voice the source is: outside news, the jurisdiction's own channels, or its
    /// policy documents.
    pub role: SourceRole,
    pub kind: SourceKind,
    /// A message board whose posts are tracked until answered (`reply_status` …).
    pub reply: Option<ReplySpec>,
    /// Residents' posts (a message board, `board = true`; by default a source whose
    /// replies are tracked): classified with the learned model's board section (its
    /// weights, calibration and threshold: `classify::ReportKind::Board`).
    pub board: bool,
    /// The source looks like a message board by its id, name or address
    /// ([`BOARD_HINTS`]) but `board` is not set either way: its posts would be decided
    /// by the news model, which never saw a resident's post and misses many of them.
    /// `feeds check` and the daemon's start say so; `board = false` silences it.
    pub board_unmarked: bool,
}

/// Words of a source's id, name or address that mark a message board (领导留言板,
/// 12345 热线, 书记市长信箱, 网络问政 …), for [`SourceConfig::board_unmarked`].
const BOARD_HINTS: [&str; 10] = [
    "留言", "信箱", "12345", "来信", "问政", "诉求", "投诉", "liuyan", "xinxiang", "wenzheng",
];

/// Whether a source named so looks like a message board ([`BOARD_HINTS`]).
fn looks_like_board(id: &str, name: &str, url: &Url) -> bool {
    let text = format!("{id} {name} {url}").to_lowercase();
    BOARD_HINTS.iter().any(|w| text.contains(w))
}

/// Board reply tracking (`reply_status`, `replied`, `reply_date`, `reply_within`): where a
/// post's reply state is on the list and how long the board has to answer. Only for
/// `kind = "html"` (CSS selectors, like `date`) and `kind = "json"` (JSON pointers).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplySpec {
    /// Inside an item: the status text (办理状态), e.g. `td.status` or `/replyStatus`.
    pub status: String,
    /// Status texts that mean answered (a status containing one of them), e.g. 已回复, 已办结.
    pub replied: Vec<String>,
    /// Inside an item: the reply time, if the board shows one.
    pub date: Option<String>,
    /// The answer deadline, e.g. `5 workdays` (working days on the official calendar).
    pub within: Window,
}

/// Whose voice a source carries (`role` in `feeds.toml`, default `news`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceRole {
    /// Media, portals and boards: what the public and the press say.
    #[default]
    News,
    /// The jurisdiction's own channels (政府网站 新闻发布/通知公告, 公安 and 应急 警情通报,
    /// 政务微博 through an RSS bridge): what the government itself says.
    Official,
    /// Where the jurisdiction publishes policy documents (规范性文件, 政策文件).
    Policy,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourceKind {
    /// RSS 0.9x/1.0/2.0, Atom or JSON Feed.
    Feed,
    /// An HTML list page read with CSS selectors.
    Html(HtmlSpec),
    /// A JSON API read with JSON pointers.
    Json(JsonSpec),
}

/// CSS selectors for an HTML list page. `sel@attr` reads an attribute instead of text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HtmlSpec {
    /// Selects each item on the page.
    pub item: String,
    /// Inside an item: the title (default `a`).
    pub title: String,
    /// Inside an item: the link (default `a@href`); relative links are resolved.
    pub link: String,
    /// Inside an item: the publication date, if the page shows one.
    pub date: Option<String>,
    /// Inside an item: a summary or body, if the page shows one.
    pub body: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
}

/// A JSON API: request and JSON pointers (RFC 6901) into the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSpec {
    pub method: HttpMethod,
    /// Form fields for a POST (`application/x-www-form-urlencoded`).
    pub form: Option<BTreeMap<String, String>>,
    /// A JSON body for a POST (`application/json`).
    pub json: Option<serde_json::Value>,
    /// Extra request headers, e.g. a Referer some boards require.
    pub headers: BTreeMap<String, String>,
    /// Pointer to the array of items, e.g. `/responseData`.
    pub items: String,
    /// Pointer, inside an item, to its id.
    pub item_id: Option<String>,
    pub title: String,
    pub body: Option<String>,
    pub date: Option<String>,
    /// Pointer to a link, inside an item.
    pub link_pointer: Option<String>,
    /// A link template; `{id}` is replaced by the item id.
    pub link: Option<String>,
}

/// The TOML shape of one source, before checking.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    id: String,
    name: Option<String>,
    kind: String,
    url: String,
    #[serde(default = "default_interval")]
    interval: HumanDuration,
    #[serde(default)]
    local: bool,
    #[serde(default = "yes")]
    enabled: bool,
    encoding: Option<String>,
    #[serde(default)]
    role: SourceRole,
    board: Option<bool>,
    // html
    item: Option<String>,
    title: Option<String>,
    link: Option<String>,
    date: Option<String>,
    body: Option<String>,
    // json
    method: Option<HttpMethod>,
    form: Option<BTreeMap<String, String>>,
    json: Option<toml::Value>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    items: Option<String>,
    item_id: Option<String>,
    link_pointer: Option<String>,
    // board replies (html or json)
    reply_status: Option<String>,
    replied: Option<Vec<String>>,
    reply_date: Option<String>,
    reply_within: Option<String>,
}

fn default_interval() -> HumanDuration {
    HumanDuration::from_secs(300)
}
fn yes() -> bool {
    true
}

/// Parses and checks `feeds.toml`; on failure returns every problem found.
pub fn load_sources_str(text: &str, file: &Path) -> Result<Vec<SourceConfig>, Vec<Problem>> {
    let problem = |source: Option<&str>, message: String| Problem {
        file: file.to_path_buf(),
        source: source.map(str::to_string),
        message,
    };
    let table: toml::Table =
        toml::from_str(text).map_err(|err| vec![problem(None, toml_message(&err, text))])?;
    let mut problems = Vec::new();
    for key in table.keys().filter(|k| k.as_str() != "source") {
        problems.push(problem(
            None,
            format!("未知的键“{key}”；信息源请写在 [[source]] 表中"),
        ));
    }
    let entries = match table.get("source") {
        None => Vec::new(),
        Some(toml::Value::Array(entries)) => entries.clone(),
        Some(_) => {
            problems.push(problem(None, "source 必须写成 [[source]] 表数组".into()));
            Vec::new()
        }
    };

    let mut sources = Vec::new();
    let mut seen = HashSet::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let label = entry
            .get("id")
            .and_then(toml::Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("#{}", index + 1));
        let raw: RawSource = match entry.try_into() {
            Ok(raw) => raw,
            Err(err) => {
                problems.push(problem(Some(&label), toml_message(&err, "")));
                continue;
            }
        };
        let mut say = |message: String| problems.push(problem(Some(&label), message));
        if !valid_id(&raw.id) {
            say("id 只能包含小写字母、数字、- 和 _，且不能为空".into());
        }
        if !seen.insert(raw.id.clone()) {
            say("id 重复；每个信息源的 id 必须唯一".into());
        }
        let url = match Url::parse(&raw.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
            Ok(_) => {
                say(format!("url “{}” 必须以 http:// 或 https:// 开头", raw.url));
                None
            }
            Err(err) => {
                say(format!("url “{}” 无效：{err}", raw.url));
                None
            }
        };
        if raw.interval.0 < std::time::Duration::from_secs(10) {
            say("interval 过短：至少 10s，以免给对方网站造成压力".into());
        }
        if let Some(label) = &raw.encoding
            && encoding_rs::Encoding::for_label(label.as_bytes()).is_none()
        {
            say(format!(
                "encoding “{label}” 不是可识别的字符编码名称（例如 gbk、gb18030、big5、utf-8）"
            ));
        }
        let kind = match raw.kind.as_str() {
            "feed" => Some(SourceKind::Feed),
            "html" => html_spec(&raw, &mut say).map(SourceKind::Html),
            "json" => json_spec(&raw, &mut say).map(SourceKind::Json),
            other => {
                say(format!("kind “{other}” 无效；可选 feed、html、json"));
                None
            }
        };
        let reply = reply_spec(&raw, &mut say);
        if let (Some(url), Some(kind), Ok(reply)) = (url, kind, reply) {
            let board_unmarked = raw.board.is_none()
                && reply.is_none()
                && looks_like_board(&raw.id, raw.name.as_deref().unwrap_or(""), &url);
            sources.push(SourceConfig {
                name: raw.name.clone().unwrap_or_else(|| raw.id.clone()),
                id: raw.id,
                url,
                interval: raw.interval,
                local: raw.local,
                enabled: raw.enabled,
                encoding: raw.encoding,
                role: raw.role,
                kind,
                board: raw.board.unwrap_or(reply.is_some()),
                board_unmarked,
                reply,
            });
        }
    }
    if problems.is_empty() {
        Ok(sources)
    } else {
        Err(problems)
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn html_spec(raw: &RawSource, say: &mut impl FnMut(String)) -> Option<HtmlSpec> {
    let Some(item) = raw.item.clone() else {
        say("kind = \"html\" 需要 item 选择器（每条留言或新闻所在的元素）".into());
        return None;
    };
    let spec = HtmlSpec {
        item,
        title: raw.title.clone().unwrap_or_else(|| "a".into()),
        link: raw.link.clone().unwrap_or_else(|| "a@href".into()),
        date: raw.date.clone(),
        body: raw.body.clone(),
    };
    let mut ok = true;
    for selector in [
        Some(&spec.item),
        Some(&spec.title),
        Some(&spec.link),
        spec.date.as_ref(),
        spec.body.as_ref(),
        raw.reply_status.as_ref(),
        raw.reply_date.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        let css = selector
            .split_once('@')
            .map_or(selector.as_str(), |(css, _)| css);
        if !css.is_empty()
            && let Err(err) = scraper::Selector::parse(css)
        {
            say(format!("CSS 选择器“{selector}”无效：{err}"));
            ok = false;
        }
    }
    ok.then_some(spec)
}

/// The reply keys of a board, checked; `Err(())` when they are wrong (already reported).
fn reply_spec(raw: &RawSource, say: &mut impl FnMut(String)) -> Result<Option<ReplySpec>, ()> {
    let Some(status) = raw.reply_status.clone() else {
        if raw.replied.is_some() || raw.reply_date.is_some() || raw.reply_within.is_some() {
            say("replied、reply_date、reply_within 需与 reply_status（答复状态所在的选择器或 JSON 指针）一起设置".into());
            return Err(());
        }
        return Ok(None);
    };
    let mut ok = true;
    if !matches!(raw.kind.as_str(), "html" | "json") {
        say("reply_status 只用于留言板：kind = \"html\"（CSS 选择器）或 kind = \"json\"（JSON 指针）".into());
        ok = false;
    }
    let replied: Vec<String> = raw
        .replied
        .iter()
        .flatten()
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
        .collect();
    if replied.is_empty() {
        say("设置了 reply_status 还需要 replied：表示已答复的状态值，例如 replied = [\"已回复\", \"已办结\"]".into());
        ok = false;
    }
    let within = match raw.reply_within.as_deref().map(parse_window) {
        Some(Ok(window)) => Some(window),
        Some(Err(err)) => {
            say(format!("reply_within：{err}"));
            None
        }
        None => {
            say("设置了 reply_status 还需要 reply_within：答复时限，例如 reply_within = \"5 workdays\"".into());
            None
        }
    };
    match within {
        Some(within) if ok => Ok(Some(ReplySpec {
            status,
            replied,
            date: raw.reply_date.clone(),
            within,
        })),
        _ => Err(()),
    }
}

fn json_spec(raw: &RawSource, say: &mut impl FnMut(String)) -> Option<JsonSpec> {
    let method = raw.method.unwrap_or(HttpMethod::Get);
    let (Some(items), Some(title)) = (raw.items.clone(), raw.title.clone()) else {
        say("kind = \"json\" 需要 items（条目数组的 JSON 指针）和 title".into());
        return None;
    };
    let mut ok = true;
    for pointer in [
        Some(&items),
        Some(&title),
        raw.item_id.as_ref(),
        raw.body.as_ref(),
        raw.date.as_ref(),
        raw.link_pointer.as_ref(),
        raw.reply_status.as_ref(),
        raw.reply_date.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            say(format!(
                "JSON 指针“{pointer}”必须以 / 开头（例如 /responseData）"
            ));
            ok = false;
        }
    }
    if raw.form.is_some() && raw.json.is_some() {
        say("form 与 json 只能二选一".into());
        ok = false;
    }
    if method == HttpMethod::Get && (raw.form.is_some() || raw.json.is_some()) {
        say("GET 请求不能带 form 或 json 请求体；请设置 method = \"POST\"".into());
        ok = false;
    }
    if let Some(template) = &raw.link
        && template.contains("{id}")
        && raw.item_id.is_none()
    {
        say("link 模板使用了 {id}，但没有设置 item_id".into());
        ok = false;
    }
    let json = match raw.json.clone().map(serde_json::to_value).transpose() {
        Ok(json) => json,
        Err(err) => {
            say(format!("json 请求体无法转换：{err}"));
            return None;
        }
    };
    ok.then(|| JsonSpec {
        method,
        form: raw.form.clone(),
        json,
        headers: raw.headers.clone(),
        items,
        item_id: raw.item_id.clone(),
        title,
        body: raw.body.clone(),
        date: raw.date.clone(),
        link_pointer: raw.link_pointer.clone(),
        link: raw.link.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_all_three_kinds() {
        let text = r#"
[[source]]
id = "news"
kind = "feed"
url = "https://example.org/rss.xml"

[[source]]
id = "board"
name = "留言板"
kind = "html"
url = "http://example.org/list.asp"
interval = "10m"
local = true
encoding = "gbk"
item = "ul.list li"
date = "span.date"

[[source]]
id = "api"
kind = "json"
method = "POST"
url = "https://example.org/api"
form = { fid = "123", page = "1" }
items = "/responseData"
item_id = "/tid"
title = "/subject"
body = "/content"
date = "/dateline"
link = "https://example.org/threads/content?tid={id}"
"#;
        let sources = load_sources_str(text, Path::new("feeds.toml")).unwrap();
        assert_eq!(sources.len(), 3);
        assert_eq!(sources[0].kind, SourceKind::Feed);
        assert_eq!(sources[0].interval, HumanDuration::from_secs(300));
        assert_eq!(sources[0].role, SourceRole::News);
        let SourceKind::Html(html) = &sources[1].kind else {
            panic!()
        };
        assert_eq!(html.title, "a");
        assert_eq!(html.link, "a@href");
        assert!(sources[1].local);
        let SourceKind::Json(json) = &sources[2].kind else {
            panic!()
        };
        assert_eq!(json.method, HttpMethod::Post);
        assert_eq!(json.form.as_ref().unwrap()["fid"], "123");
    }

    #[test]
    fn reads_the_role_and_rejects_an_unknown_one() {
        let text = |role: &str| {
            format!(
                "[[source]]\nid = \"gov\"\nkind = \"feed\"\nurl = \"https://example.org/\"\nrole = \"{role}\"\n"
            )
        };
        let role = |name: &str| load_sources_str(&text(name), Path::new("feeds.toml"));
        assert_eq!(role("official").unwrap()[0].role, SourceRole::Official);
        assert_eq!(role("policy").unwrap()[0].role, SourceRole::Policy);
        assert_eq!(role("news").unwrap()[0].role, SourceRole::News);
        let problems = role("press").unwrap_err();
        assert!(problems[0].message.contains("press"), "{problems:?}");
    }

    #[test]
    fn reports_each_bad_source_by_id() {
        let text = r#"
[[source]]
id = "Bad Id"
kind = "feed"
url = "ftp://example.org/"

[[source]]
id = "dup"
kind = "html"
url = "https://example.org/"

[[source]]
id = "dup"
kind = "json"
url = "https://example.org/"
form = { a = "1" }
items = "responseData"
title = "/t"
link = "x{id}"
"#;
        let problems = load_sources_str(text, Path::new("feeds.toml")).unwrap_err();
        let text = problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        for needle in [
            "信息源 Bad Id",
            "ftp://",
            "item 选择器",
            "id 重复",
            "/ 开头",
            "GET 请求",
            "item_id",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn reads_board_reply_keys() {
        let text = r#"
[[source]]
id = "board"
kind = "json"
url = "https://example.org/api"
items = "/list"
item_id = "/id"
title = "/title"
reply_status = "/state"
replied = ["已回复", " 已办结 ", ""]
reply_date = "/replyTime"
reply_within = "5工作日"
"#;
        let sources = load_sources_str(text, Path::new("feeds.toml")).unwrap();
        let reply = sources[0].reply.as_ref().unwrap();
        assert_eq!(reply.status, "/state");
        assert_eq!(reply.replied, ["已回复", "已办结"]);
        assert_eq!(reply.date.as_deref(), Some("/replyTime"));
        assert_eq!(reply.within, Window::Workdays(5));
    }

    #[test]
    fn a_source_that_looks_like_a_board_but_is_not_marked_is_noted() {
        let source = |id: &str, extra: &str| {
            let text = format!(
                "[[source]]\nid = \"{id}\"\nurl = \"https://example.gov.cn/list\"\nkind = \"feed\"\n{extra}"
            );
            load_sources_str(&text, Path::new("feeds.toml")).unwrap()[0].clone()
        };
        assert!(source("city-liuyan", "").board_unmarked);
        assert!(source("s1", "name = \"市长信箱\"\n").board_unmarked);
        assert!(!source("city-liuyan", "board = true\n").board_unmarked);
        assert!(!source("city-liuyan", "board = false\n").board_unmarked);
        assert!(!source("city-news", "name = \"安丘新闻\"\n").board_unmarked);
    }

    #[test]
    fn a_board_is_marked_or_known_by_its_reply_tracking() {
        let base = "[[source]]\nid = \"b\"\nurl = \"https://example.org/\"\n";
        let json = "kind = \"json\"\nitems = \"/l\"\ntitle = \"/t\"\n";
        let reply = "reply_status = \"/s\"\nreplied = [\"已回复\"]\nreply_within = \"5工作日\"\n";
        let board = |extra: &str| {
            load_sources_str(&format!("{base}{json}{extra}"), Path::new("feeds.toml")).unwrap()[0]
                .board
        };
        assert!(!board(""));
        assert!(board("board = true\n"));
        assert!(board(reply));
        assert!(!board(&format!("{reply}board = false\n")));
        let feed = format!("{base}kind = \"feed\"\nboard = true\n");
        assert!(load_sources_str(&feed, Path::new("feeds.toml")).unwrap()[0].board);
    }

    #[test]
    fn reports_wrong_board_reply_keys() {
        let base = "[[source]]\nid = \"b\"\nurl = \"https://example.org/\"\n";
        let json = "kind = \"json\"\nitems = \"/l\"\ntitle = \"/t\"\n";
        let cases = [
            (
                format!(
                    "{base}kind = \"feed\"\nreply_status = \"/s\"\nreplied = [\"已回复\"]\nreply_within = \"5 workdays\"\n"
                ),
                "只用于留言板",
            ),
            (
                format!("{base}{json}replied = [\"已回复\"]\n"),
                "需与 reply_status",
            ),
            (
                format!("{base}{json}reply_status = \"/s\"\nreply_within = \"5 workdays\"\n"),
                "需要 replied",
            ),
            (
                format!("{base}{json}reply_status = \"/s\"\nreplied = [\"已回复\"]\n"),
                "需要 reply_within",
            ),
            (
                format!(
                    "{base}{json}reply_status = \"/s\"\nreplied = [\"已回复\"]\nreply_within = \"5 days\"\n"
                ),
                "reply_within：",
            ),
            (
                format!(
                    "{base}{json}reply_status = \"s\"\nreplied = [\"已回复\"]\nreply_within = \"5 workdays\"\n"
                ),
                "/ 开头",
            ),
            (
                format!(
                    "{base}kind = \"html\"\nitem = \"li\"\nreply_status = \"td[\"\nreplied = [\"已回复\"]\nreply_within = \"5 workdays\"\n"
                ),
                "CSS 选择器",
            ),
        ];
        for (text, needle) in cases {
            let problems = load_sources_str(&text, Path::new("feeds.toml")).unwrap_err();
            let all = problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                all.contains(needle),
                "missing {needle:?} in\n{all}\nfor\n{text}"
            );
        }
    }
}
