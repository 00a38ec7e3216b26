//! `parse` end to end: real pages from the shared evaluation corpus (read in place,
//! skipped with a note when absent) and synthesized documents for every charset and
//! feed-format case.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use encoding_rs::{BIG5, GBK};
use url::Url;
use yuqing::config::{SourceConfig, load_sources_str};
use yuqing::model::{DateQuality, Timestamp};
use yuqing::parse::{Document, ParseError, Parsed, dates, parse};

fn now() -> Timestamp {
    "2026-11-24T06:00:00Z".parse().unwrap()
}

/// A source from its `feeds.toml` lines (after id and url).
fn source(lines: &str) -> SourceConfig {
    let text = format!("[[source]]\nid = \"t\"\nurl = \"http://example.cn/\"\n{lines}\n");
    load_sources_str(&text, Path::new("feeds.toml"))
        .expect("valid source")
        .remove(0)
}

fn feed_source() -> SourceConfig {
    source("kind = \"feed\"")
}

fn run(
    src: &SourceConfig,
    bytes: &[u8],
    content_type: Option<&str>,
    url: &str,
) -> Result<Parsed, ParseError> {
    let url = Url::parse(url).unwrap();
    parse(
        src,
        Document {
            bytes,
            content_type,
            url: &url,
        },
        now(),
    )
}

fn titles(parsed: &Parsed) -> Vec<&str> {
    parsed.items.iter().map(|i| i.title.as_str()).collect()
}

/// The shared corpus directory, from the main checkout (`../shared`) or a
/// worktree under `wt/` (`../../shared`).
fn corpus_dir() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        root.join("../shared/corpus"),
        root.join("../../shared/corpus"),
    ]
    .into_iter()
    .find(|dir| dir.is_dir())
}

fn corpus_file(name: &str) -> Option<Vec<u8>> {
    match corpus_dir().map(|dir| std::fs::read(dir.join(name))) {
        Some(Ok(bytes)) => Some(bytes),
        _ => {
            common::skip::require_or_skip(
                &format!("corpus file {name}"),
                "the shared evaluation corpus (../shared/corpus) is not beside this checkout",
            );
            None
        }
    }
}

// ---------------------------------------------------------------- real pages

#[test]
fn chinanews_utf8_rss() {
    let Some(bytes) = corpus_file("pages/chinanews-scroll-news.rss.xml") else {
        return;
    };
    let parsed = run(
        &feed_source(),
        &bytes,
        Some("text/xml"),
        "https://www.chinanews.com.cn/rss/scroll-news.xml",
    )
    .unwrap();
    assert_eq!(parsed.encoding, "UTF-8");
    assert_eq!(parsed.items.len(), 30);
    let titles = titles(&parsed);
    for expected in [
        "英媒称霍尔木兹海峡航运再次停滞",
        "墨西哥中部一酒吧遭武装袭击致8人死亡",
        "CBA常规赛：辽宁主场收官战不敌浙江",
    ] {
        assert!(titles.contains(&expected), "missing {expected}");
    }
    let first = &parsed.items[0];
    assert_eq!(
        first.link.as_deref(),
        Some("https://www.chinanews.com.cn/gj/2026/04-19/10606399.shtml")
    );
    // No guid in this feed: the link is the key.
    assert_eq!(Some(first.key.as_str()), first.link.as_deref());
    let keys: HashSet<_> = parsed.items.iter().map(|i| &i.key).collect();
    assert_eq!(keys.len(), 30);
    for item in &parsed.items {
        assert!(!item.body.is_empty(), "{} has no body", item.title);
        assert!(!item.body.contains('<'), "{} body keeps tags", item.title);
        assert_eq!(item.date_quality, Some(DateQuality::Credible));
    }
    assert_eq!(
        first.published,
        Some("2026-04-18T22:22:34Z".parse().unwrap())
    );
}

#[test]
fn acnnewswire_gb2312_declared() {
    let Some(bytes) = corpus_file("pages/chardet-gb2312-acnnewswire.net.xml") else {
        return;
    };
    let parsed = run(
        &feed_source(),
        &bytes,
        None,
        "http://www.acnnewswire.net/rss2/",
    )
    .unwrap();
    assert_eq!(parsed.encoding, "GBK");
    assert_eq!(parsed.items.len(), 8);
    let titles = titles(&parsed);
    assert_eq!(
        titles[0],
        "JCB 与中国银联（China UnionPay）完成ATM网关协议的签订；CUP持卡者得以第一次在日本享受使用ATM网络的权利"
    );
    assert!(titles.contains(&"阿塞洛宣布提议收购多法斯科"));
    assert!(titles.contains(&"澳大利亚SAI GLOBAL来访"));
    // `Tue, 27 Dec 2005 13:08:54+0900`: no space before the zone.
    assert_eq!(
        parsed.items[0].published,
        Some("2005-12-27T04:08:54Z".parse().unwrap())
    );
    assert!(
        parsed.items[0]
            .body
            .starts_with("唯一以亚洲为基地的国际付款品牌JCB")
    );
}

#[test]
fn feedparser_gb2312_undeclared_without_rss_version() {
    let Some(bytes) = corpus_file("pages/feedparser-chardet-gb2312.xml") else {
        return;
    };
    let parsed = run(&feed_source(), &bytes, None, "http://example.org/feed").unwrap();
    assert_eq!(parsed.encoding, "GBK");
    assert_eq!(titles(&parsed), ["不归移民漫画系列：专业工作"]);
    // No guid or link: the key is the normalized title (full-width colon folded).
    assert_eq!(parsed.items[0].key, "不归移民漫画系列:专业工作");
}

#[test]
fn sina_gb2312_html_without_charset() {
    let Some(bytes) = corpus_file("pages/chardet-gb2312-sina-no-charset.html") else {
        return;
    };
    let src = source("kind = \"html\"\nitem = \"html\"\ntitle = \"title\"\nbody = \"body\"");
    let parsed = run(&src, &bytes, Some("text/html"), "http://www.sina.com.cn/").unwrap();
    assert_eq!(parsed.encoding, "GBK");
    assert_eq!(titles(&parsed), ["中国制造的领军者3名"]);
    assert!(
        parsed.items[0]
            .body
            .contains("马兴瑞，中国航天科技集团公司总经理")
    );
}

/// The 人民网领导留言板 list answer, rebuilt from real posts in its API shape
/// (`responseData`, `dateline` epoch seconds).
#[test]
fn liuyan_board_api_shape() {
    let Some(bytes) = corpus_file("liuyan-posts.jsonl") else {
        return;
    };
    let text = String::from_utf8(bytes).unwrap();
    let posts: Vec<serde_json::Value> = text
        .lines()
        .take(50)
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let data: Vec<serde_json::Value> = posts
        .iter()
        .map(|p| {
            let day =
                chrono::NaiveDate::parse_from_str(p["date"].as_str().unwrap(), "%Y-%m-%d").unwrap();
            serde_json::json!({
                "tid": p["tid"],
                "subject": p["title"],
                "content": p["content"],
                "dateline": yuqing::time::day_start(day).timestamp(),
            })
        })
        .collect();
    let answer = serde_json::json!({"result": "success", "responseData": data}).to_string();
    let src = source(
        r#"kind = "json"
items = "/responseData"
item_id = "/tid"
title = "/subject"
body = "/content"
date = "/dateline"
link = "https://liuyan.people.com.cn/threads/content?tid={id}""#,
    );
    let parsed = run(
        &src,
        answer.as_bytes(),
        Some("application/json;charset=UTF-8"),
        "https://liuyan.people.com.cn/v1/threads/list/df",
    )
    .unwrap();
    assert_eq!(parsed.items.len(), posts.len());
    for (item, post) in parsed.items.iter().zip(&posts) {
        let tid = post["tid"].to_string();
        assert_eq!(item.key, tid);
        assert_eq!(
            item.title,
            yuqing::parse::text::collapse_whitespace(post["title"].as_str().unwrap())
        );
        assert_eq!(
            item.link.as_deref(),
            Some(format!("https://liuyan.people.com.cn/threads/content?tid={tid}").as_str())
        );
        assert_eq!(
            item.published
                .map(|t| yuqing::time::local_date(t).to_string()),
            post["date"].as_str().map(String::from)
        );
        assert_eq!(item.date_quality, Some(DateQuality::Credible));
    }
}

/// Every CEC `report_time` that contains a full date parses to that date.
#[test]
fn cec_report_times() {
    let Some(bytes) = corpus_file("cec-emergencies.jsonl") else {
        return;
    };
    let full_date =
        regex::Regex::new(r"((?:19|20)\d{2})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})").unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let (mut total, mut parsed, mut failures) = (0, 0, Vec::new());
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let report = row["report_time"].as_str().unwrap_or_default();
        let Some(caps) = full_date.captures(report) else {
            continue;
        };
        total += 1;
        let expected = format!(
            "{}-{:02}-{:02}",
            &caps[1],
            caps[2].parse::<u32>().unwrap(),
            caps[3].parse::<u32>().unwrap()
        );
        match dates::parse_date(report, now()) {
            Some((ts, _)) if yuqing::time::local_date(ts).to_string() == expected => parsed += 1,
            other => failures.push(format!("{report:?} → {other:?}")),
        }
    }
    for failure in &failures {
        println!("unparsed report_time: {failure}");
    }
    println!("report_time: {parsed}/{total} with a full date parsed to that date");
    assert!(total > 300, "only {total} report times with a full date");
    assert!(
        parsed * 100 >= total * 95,
        "{parsed}/{total} parsed; failures: {failures:#?}"
    );
}

// ---------------------------------------------------------------- charsets

const NEWS: [(&str, &str); 3] = [
    (
        "安丘市召开安全生产专题会议",
        "会议要求各镇街压实责任，排查隐患。",
    ),
    ("潍坊市发布寒潮蓝色预警", "预计未来三天气温下降八至十度。"),
    ("山东省启动冬季供暖保障", "各地供热企业全面进入运行状态。"),
];

/// An RSS 2.0 document with the given XML declaration and the NEWS items.
fn rss(declaration: &str) -> String {
    let mut out = format!("{declaration}<rss version=\"2.0\"><channel><title>测试</title>");
    for (i, (title, body)) in NEWS.iter().enumerate() {
        out.push_str(&format!(
            "<item><title>{title}</title><link>/news/{i}.html</link>\
             <description>&lt;p&gt;{body}&lt;/p&gt;</description>\
             <pubDate>2024年05月0{}日 09:30</pubDate></item>",
            i + 1
        ));
    }
    out.push_str("</channel></rss>");
    out
}

fn gbk(text: &str) -> Vec<u8> {
    GBK.encode(text).0.into_owned()
}

fn assert_news(parsed: &Parsed, encoding: &str, case: &str) {
    assert_eq!(parsed.encoding, encoding, "case {case}");
    let expected: Vec<&str> = NEWS.iter().map(|(t, _)| *t).collect();
    assert_eq!(titles(parsed), expected, "case {case}");
    assert_eq!(parsed.items[0].body, NEWS[0].1, "case {case}");
    assert_eq!(
        parsed.items[0].link.as_deref(),
        Some("http://example.cn/news/0.html"),
        "case {case}"
    );
    assert_eq!(
        parsed.items[2].published,
        Some("2024-05-03T01:30:00Z".parse().unwrap()),
        "case {case}"
    );
}

#[test]
fn feed_charset_signals() {
    let utf8_decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
    let gb_decl = "<?xml version=\"1.0\" encoding=\"gb2312\"?>";
    let plain_decl = "<?xml version=\"1.0\"?>";
    // (case, bytes, content type, expected encoding)
    let cases: Vec<(&str, Vec<u8>, Option<&str>, &str)> = vec![
        ("utf-8 declared", rss(utf8_decl).into_bytes(), None, "UTF-8"),
        (
            "gbk by http header only",
            gbk(&rss(plain_decl)),
            Some("application/rss+xml; charset=GBK"),
            "GBK",
        ),
        (
            "gbk by xml declaration only",
            gbk(&rss(gb_decl)),
            Some("text/xml"),
            "GBK",
        ),
        ("gbk declared nowhere", gbk(&rss("")), None, "GBK"),
        (
            "gbk bytes declared utf-8",
            gbk(&rss(utf8_decl)),
            Some("text/xml; charset=utf-8"),
            "GBK",
        ),
        (
            "utf-8 bytes declared gb2312",
            rss(gb_decl).into_bytes(),
            Some("text/xml; charset=gb2312"),
            "UTF-8",
        ),
        (
            "gb18030 declared",
            encoding_rs::GB18030
                .encode(&rss("<?xml version=\"1.0\" encoding=\"GB18030\"?>"))
                .0
                .into_owned(),
            None,
            "gb18030",
        ),
    ];
    for (case, bytes, content_type, encoding) in cases {
        let parsed = run(
            &feed_source(),
            &bytes,
            content_type,
            "http://example.cn/rss.xml",
        )
        .unwrap_or_else(|err| panic!("case {case}: {err}"));
        assert_news(&parsed, encoding, case);
    }
}

#[test]
fn forced_encoding_wins() {
    let src = source("kind = \"feed\"\nencoding = \"gbk\"");
    let bytes = gbk(&rss("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    let parsed = run(
        &src,
        &bytes,
        Some("text/xml; charset=big5"),
        "http://example.cn/",
    )
    .unwrap();
    assert_news(&parsed, "GBK", "forced");
}

const TRADITIONAL: [&str; 2] = [
    "臺北市政府發布颱風停班停課消息",
    "交通部提醒民眾注意連假期間國道壅塞",
];

#[test]
fn big5_feed_and_page() {
    let mut feed =
        String::from("<?xml version=\"1.0\" encoding=\"big5\"?><rss version=\"2.0\"><channel>");
    for (i, title) in TRADITIONAL.iter().enumerate() {
        feed.push_str(&format!(
            "<item><title>{title}</title><guid>n{i}</guid></item>"
        ));
    }
    feed.push_str("</channel></rss>");
    let bytes = BIG5.encode(&feed).0.into_owned();
    let parsed = run(
        &feed_source(),
        &bytes,
        None,
        "https://www.example.gov.tw/rss",
    )
    .unwrap();
    assert_eq!(parsed.encoding, "Big5");
    assert_eq!(titles(&parsed), TRADITIONAL);
    assert_eq!(parsed.items[1].key, "n1");

    let mut page = String::from("<html><head><title>新聞</title></head><body><ul>");
    for title in TRADITIONAL {
        page.push_str(&format!(
            "<li><a href=\"/n/{}.html\">{title}</a></li>",
            title.len()
        ));
    }
    page.push_str("</ul></body></html>");
    let bytes = BIG5.encode(&page).0.into_owned();
    let src = source("kind = \"html\"\nitem = \"ul li\"");
    let parsed = run(
        &src,
        &bytes,
        Some("text/html"),
        "https://www.example.gov.tw/news/",
    )
    .unwrap();
    assert_eq!(parsed.encoding, "Big5");
    assert_eq!(titles(&parsed), TRADITIONAL);
}

// ---------------------------------------------------------------- HTML list pages

#[test]
fn gbk_html_list_with_meta_and_relative_links() {
    let page = r#"<!DOCTYPE html><html><head>
<meta http-equiv="Content-Type" content="text/html; charset=gb2312">
<title>安丘市政府网站 留言选登</title></head><body>
<table class="list">
<tr class="row"><td><a href="show.asp?id=3301">反映某小区供暖温度不达标</a></td><td class="t">2024年05月03日</td></tr>
<tr class="row"><td><a href="../board/show.asp?id=3302">  建议增设公交站点 </a></td><td class="t">[2024-05-02]</td></tr>
<tr class="row"><td></td><td class="t">2024-05-01</td></tr>
</table></body></html>"#;
    let src = source("kind = \"html\"\nitem = \"tr.row\"\ndate = \"td.t\"");
    let parsed = run(
        &src,
        &gbk(page),
        Some("text/html"),
        "http://www.anqiu.gov.cn/board/list.asp?page=2",
    )
    .unwrap();
    assert_eq!(parsed.encoding, "GBK");
    let got: Vec<_> = parsed
        .items
        .iter()
        .map(|i| {
            (
                i.title.as_str(),
                i.key.as_str(),
                i.published.map(|t| t.to_rfc3339()),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "反映某小区供暖温度不达标",
                "http://www.anqiu.gov.cn/board/show.asp?id=3301",
                Some("2024-05-02T16:00:00+00:00".to_string())
            ),
            (
                "建议增设公交站点",
                "http://www.anqiu.gov.cn/board/show.asp?id=3302",
                Some("2024-05-01T16:00:00+00:00".to_string())
            ),
        ]
    );
}

// ---------------------------------------------------------------- feed formats

#[test]
fn feed_formats() {
    let rss_no_version = r#"<?xml version="1.0" encoding="utf-8"?>
<rss><channel><title>t</title>
<item><title>无版本号的订阅源</title><link>http://example.cn/a</link><guid>g-1</guid></item>
</channel></rss>"#;
    let rss_091 = r#"<rss version="0.91"><channel><title>t</title><link>http://example.cn/</link><description>d</description>
<item><title>旧版 RSS 0.91</title><link>http://example.cn/091</link></item></channel></rss>"#;
    let rss_094 = r#"<rss version="0.94"><channel><title>t</title>
<item><title>RSS 0.94</title><link>http://example.cn/094</link></item></channel></rss>"#;
    let atom = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:feed</id><updated>2024-05-02T09:30:00+08:00</updated>
<entry><title type="html">Atom &lt;b&gt;条目&lt;/b&gt;</title><id>urn:uuid:1</id>
<link rel="alternate" href="/atom/1.html"/><updated>2024-05-02T09:30:00+08:00</updated>
<content type="html">&lt;p&gt;正文&amp;nbsp;内容&lt;/p&gt;</content></entry></feed>"#;
    let rdf = r#"<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://example.cn/"><title>t</title><link>http://example.cn/</link><description>d</description></channel>
<item rdf:about="http://example.cn/rdf/1"><title>RSS 1.0 条目</title><link>http://example.cn/rdf/1</link>
<description>摘要</description><dc:date>2024-05-02T09:30:00+08:00</dc:date></item></rdf:RDF>"#;
    let json_feed = r#"{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[
{"id":"j1","title":"JSON Feed 条目","url":"http://example.cn/j/1","content_html":"<p>内容</p>","date_published":"2024-05-02T09:30:00+08:00"}]}"#;
    let published = "2024-05-02T01:30:00Z".parse::<Timestamp>().unwrap();
    // (case, document, title, key, link, body, published)
    let cases = [
        (
            "rss without version",
            rss_no_version,
            "无版本号的订阅源",
            "g-1",
            "http://example.cn/a",
            "",
            None,
        ),
        (
            "rss 0.91",
            rss_091,
            "旧版 RSS 0.91",
            "http://example.cn/091",
            "http://example.cn/091",
            "",
            None,
        ),
        (
            "rss 0.94",
            rss_094,
            "RSS 0.94",
            "http://example.cn/094",
            "http://example.cn/094",
            "",
            None,
        ),
        (
            "atom",
            atom,
            "Atom 条目",
            "urn:uuid:1",
            "http://example.cn/atom/1.html",
            "正文 内容",
            Some(published),
        ),
        (
            "rss 1.0",
            rdf,
            "RSS 1.0 条目",
            "http://example.cn/rdf/1",
            "http://example.cn/rdf/1",
            "摘要",
            Some(published),
        ),
        (
            "json feed",
            json_feed,
            "JSON Feed 条目",
            "j1",
            "http://example.cn/j/1",
            "内容",
            Some(published),
        ),
    ];
    for (case, doc, title, key, link, body, date) in cases {
        let parsed = run(
            &feed_source(),
            doc.as_bytes(),
            None,
            "http://example.cn/feed",
        )
        .unwrap_or_else(|err| panic!("case {case}: {err}"));
        assert_eq!(parsed.items.len(), 1, "case {case}");
        let item = &parsed.items[0];
        assert_eq!(
            (
                item.title.as_str(),
                item.key.as_str(),
                item.link.as_deref(),
                item.body.as_str(),
                item.published
            ),
            (title, key, Some(link), body, date),
            "case {case}"
        );
    }
}

#[test]
fn bad_and_empty_feeds() {
    let empty = run(
        &feed_source(),
        b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title></channel></rss>",
        None,
        "http://example.cn/",
    )
    .unwrap();
    assert!(empty.items.is_empty());

    let bare_ampersand = run(
        &feed_source(),
        "<rss version=\"2.0\"><channel><item><title>水&电</title><link>http://example.cn/a.asp?id=1&p=2</link></item></channel></rss>".as_bytes(),
        None,
        "http://example.cn/",
    )
    .unwrap();
    assert_eq!(bare_ampersand.items[0].title, "水&电");
    assert_eq!(
        bare_ampersand.items[0].link.as_deref(),
        Some("http://example.cn/a.asp?id=1&p=2")
    );

    // (case, document, words the message must contain)
    let cases: [(&str, &[u8], &str); 6] = [
        // feed-rs panics on this (u64 overflow in its duration parser); we must not.
        (
            "overlong itunes duration",
            b"<rss version=\"2.0\" xmlns:itunes=\"http://www.itunes.com/dtds/podcast-1.0.dtd\"><channel>\
<item><title>x</title><itunes:duration>99999999999999999999999:00:00</itunes:duration></item></channel></rss>",
            "无法处理",
        ),
        (
            "mismatched tags",
            b"<rss version=\"2.0\"><channel><item><title>x</item></channel></rss>",
            "XML 格式错误",
        ),
        (
            "truncated",
            b"<rss version=\"2.0\"><channel><item><title>x</title>",
            "订阅源",
        ),
        (
            "an html page",
            b"<html><body>404 Not Found</body></html>",
            "根元素",
        ),
        ("blank body", b"  \n ", "内容为空"),
        (
            "broken json feed",
            b"{\"version\": \"https://jsonfeed.org/version/1.1\", \"items\": [",
            "JSON Feed",
        ),
    ];
    for (case, doc, needle) in cases {
        match run(&feed_source(), doc, None, "http://example.cn/") {
            Err(err @ ParseError::Feed(_)) => {
                let message = err.to_string();
                assert!(message.contains(needle), "case {case}: {message}");
            }
            other => panic!("case {case}: expected a feed error, got {other:?}"),
        }
    }
}

#[test]
fn entries_without_guid_or_link_keep_their_keys() {
    let doc = r#"<rss version="2.0"><channel><title>t</title>
<item><title>  某镇　发生  火灾 </title><description>无链接</description></item>
<item><title>ＡＢＣ 公司欠薪</title></item>
<item><description>只有正文、没有标题的条目也能保留下来</description></item>
</channel></rss>"#;
    let first = run(&feed_source(), doc.as_bytes(), None, "http://example.cn/").unwrap();
    let second = run(&feed_source(), doc.as_bytes(), None, "http://example.cn/").unwrap();
    let keys: Vec<&str> = first.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "某镇 发生 火灾",
            "abc 公司欠薪",
            "只有正文、没有标题的条目也能保留下来"
        ]
    );
    assert_eq!(first, second);
    assert_eq!(first.items[0].title, "某镇 发生 火灾");
    assert_eq!(first.items[0].link, None);
}

// ---------------------------------------------------------------- JSON APIs

#[test]
fn json_api_get_with_epoch_dates_and_link_template() {
    let src = source(
        r#"kind = "json"
items = "/responseData"
item_id = "/tid"
title = "/subject"
body = "/content"
date = "/dateline"
link = "/threads/content?tid={id}""#,
    );
    let answer = r#"{"result":"success","responseData":[
{"tid":19283746,"subject":"安丘市某村道路破损严重","content":"村民出行困难……","dateline":1714613400},
{"tid":"19283747","subject":"小区物业乱收费","content":"","dateline":1714613400000},
{"tid":19283748,"subject":"学校周边交通拥堵","dateline":"2024-05-02 09:30"}]}"#;
    let parsed = run(
        &src,
        answer.as_bytes(),
        Some("application/json"),
        "https://liuyan.example.cn/v1/threads/list/df?fid=539",
    )
    .unwrap();
    assert_eq!(parsed.encoding, "UTF-8");
    let published: Timestamp = "2024-05-02T01:30:00Z".parse().unwrap();
    for (item, tid) in parsed
        .items
        .iter()
        .zip(["19283746", "19283747", "19283748"])
    {
        assert_eq!(item.key, tid);
        assert_eq!(
            item.link.as_deref(),
            Some(format!("https://liuyan.example.cn/threads/content?tid={tid}").as_str())
        );
        assert_eq!(item.published, Some(published), "{tid}");
        assert_eq!(item.date_quality, Some(DateQuality::Credible));
    }
    assert_eq!(parsed.items[0].body, "村民出行困难……");
}
