//! `parse` throughput on 50-item documents: feeds (UTF-8, GBK declared, GBK
//! undeclared so detection runs), an HTML list page and a JSON API answer.
//! Run with `cargo bench --bench parse`; prints items per second.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use url::Url;
use yuqing::config::{SourceConfig, load_sources_str};
use yuqing::parse::{Document, parse};

const ITEMS: usize = 50;
const ROUNDS: usize = 400;

const SENTENCES: [&str; 4] = [
    "安丘市应急管理局通报，某镇一处厂房发生火灾，消防救援人员迅速赶到现场处置，未造成人员伤亡。",
    "潍坊市生态环境局对群众反映的河道异味问题开展现场核查，已责令相关企业停产整改并跟踪复查。",
    "山东省人力资源和社会保障厅部署开展根治欠薪冬季专项行动，集中排查在建工程项目工资支付情况。",
    "市民来信反映小区供暖温度不达标，热力公司表示将于三日内完成管网排查并向业主公开处理结果。",
];

fn body(i: usize) -> String {
    (0..4)
        .map(|k| SENTENCES[(i + k) % 4])
        .collect::<Vec<_>>()
        .join("")
}

fn rss(declaration: &str) -> String {
    let mut out = format!("{declaration}<rss version=\"2.0\"><channel><title>即时新闻</title>");
    for i in 0..ITEMS {
        out.push_str(&format!(
            "<item><title>第{i}条：安丘市通报一起安全生产事故处置情况</title>\
             <link>https://news.example.cn/2026/11-24/{i}.shtml</link>\
             <description><![CDATA[<p>{}</p><p>（完）</p>]]></description>\
             <pubDate>Tue, 24 Nov 2026 09:{:02}:00 +0800</pubDate></item>",
            body(i),
            i % 60
        ));
    }
    out.push_str("</channel></rss>");
    out
}

fn html() -> String {
    let mut out = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>留言选登</title></head><body><ul class=\"list\">",
    );
    for i in 0..ITEMS {
        out.push_str(&format!(
            "<li><a href=\"show.asp?id={i}\">第{i}条留言：小区供暖温度不达标</a>\
             <span class=\"date\">[2026-11-{:02}]</span><p>{}</p></li>",
            i % 24 + 1,
            body(i)
        ));
    }
    out.push_str("</ul></body></html>");
    out
}

fn json() -> String {
    let items: Vec<serde_json::Value> = (0..ITEMS)
        .map(|i| {
            serde_json::json!({
                "tid": 25_489_000 + i,
                "subject": format!("第{i}条：开发商占用公共区域"),
                "content": body(i),
                "dateline": 1_764_000_000 + i as i64 * 60,
            })
        })
        .collect();
    serde_json::json!({"result": "success", "responseData": items}).to_string()
}

fn source(lines: &str) -> SourceConfig {
    let text = format!("[[source]]\nid = \"b\"\nurl = \"http://example.cn/\"\n{lines}\n");
    load_sources_str(&text, Path::new("feeds.toml"))
        .expect("valid source")
        .remove(0)
}

fn main() {
    let gbk = |s: String| encoding_rs::GBK.encode(&s).0.into_owned();
    let feed = source("kind = \"feed\"");
    let html_source =
        source("kind = \"html\"\nitem = \"ul.list li\"\ndate = \"span.date\"\nbody = \"p\"");
    let json_source = source(
        "kind = \"json\"\nitems = \"/responseData\"\nitem_id = \"/tid\"\ntitle = \"/subject\"\n\
         body = \"/content\"\ndate = \"/dateline\"\nlink = \"/threads/content?tid={id}\"",
    );
    let cases: Vec<(&str, &SourceConfig, Vec<u8>)> = vec![
        (
            "feed, UTF-8",
            &feed,
            rss("<?xml version=\"1.0\" encoding=\"utf-8\"?>").into_bytes(),
        ),
        (
            "feed, GBK declared",
            &feed,
            gbk(rss("<?xml version=\"1.0\" encoding=\"gb2312\"?>")),
        ),
        ("feed, GBK undeclared (detection)", &feed, gbk(rss(""))),
        ("html list, UTF-8", &html_source, html().into_bytes()),
        ("json api, UTF-8", &json_source, json().into_bytes()),
    ];
    let url = Url::parse("https://news.example.cn/rss.xml").expect("valid url");
    let now = "2026-11-24T06:00:00Z".parse().expect("valid time");
    for (name, source, bytes) in &cases {
        let doc = Document {
            bytes,
            content_type: None,
            url: &url,
        };
        let check = parse(source, doc, now).expect("parses");
        assert_eq!(check.items.len(), ITEMS, "{name}");
        let start = Instant::now();
        for _ in 0..ROUNDS {
            black_box(parse(source, black_box(doc), now).expect("parses"));
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{name:<34} {:>5} KiB  {:>9.0} items/s  {:>7.1} µs/document",
            bytes.len() / 1024,
            (ROUNDS * ITEMS) as f64 / secs,
            secs * 1e6 / ROUNDS as f64
        );
    }
}
