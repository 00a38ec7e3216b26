//! The fuzz targets, shared by the runner (`examples/fuzz.rs`) and the replay test
//! (`tests/fuzz.rs`). Each takes arbitrary bytes and must return without panicking, in
//! a time bounded by the input's size. Inputs reach the code the way the daemon feeds
//! it: documents as raw bytes (charset detection included), text as lossy UTF-8.

use std::path::Path;
use std::sync::LazyLock;

use chrono::TimeZone;
use yuqing::config::{Config, SourceConfig, load_sources_str};
use yuqing::model::Timestamp;
use yuqing::parse::{self, Document};

/// A target: its name (also its corpus and regression folder) and its function.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "feed",
        run: feed,
    },
    Target {
        name: "html",
        run: html,
    },
    Target {
        name: "json",
        run: json,
    },
    Target {
        name: "dates",
        run: dates,
    },
    Target {
        name: "casualty",
        run: casualty,
    },
    Target {
        name: "config",
        run: config,
    },
];

/// The folder of seeds (`corpus`) or saved crashes (`regressions`) of a target.
pub fn folder(kind: &str, target: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz")
        .join(kind)
        .join(target)
}

/// One source of each kind, as an operator would write them.
const SOURCES: &str = r#"
[[source]]
id = "feed"
kind = "feed"
url = "http://county.example/rss.xml"

[[source]]
id = "html"
kind = "html"
url = "http://county.example/board/list.html"
item = "ul.list li"
title = "a"
link = "a@href"
date = "span.date"
body = "p"

[[source]]
id = "json"
kind = "json"
url = "http://county.example/api/list"
items = "/data/list"
item_id = "/id"
title = "/title"
body = "/content"
date = "/time"
link = "http://county.example/show?id={id}"
"#;

static SOURCE_LIST: LazyLock<Vec<SourceConfig>> = LazyLock::new(|| {
    load_sources_str(SOURCES, Path::new("fuzz-feeds.toml")).expect("the fuzz sources are valid")
});

/// A fixed "now", so a run is reproducible.
static NOW: LazyLock<Timestamp> = LazyLock::new(|| {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 24, 6, 30, 0)
        .single()
        .expect("valid time")
});

fn document(id: &str, bytes: &[u8]) {
    let source = SOURCE_LIST
        .iter()
        .find(|s| s.id == id)
        .expect("every kind has a source");
    let doc = Document {
        bytes,
        content_type: None,
        url: &source.url,
    };
    // Errors are fine (a broken document is reported as the source's problem); panics are not.
    let _ = parse::parse(source, doc, *NOW);
}

/// Feed reading: RSS, Atom, JSON Feed, with charset detection.
pub fn feed(bytes: &[u8]) {
    document("feed", bytes);
}

/// HTML list reading with CSS selectors.
pub fn html(bytes: &[u8]) {
    document("html", bytes);
}

/// JSON API reading with JSON pointers.
pub fn json(bytes: &[u8]) {
    document("json", bytes);
}

/// Date parsing, as found in feeds and pages, and epoch numbers as JSON APIs give them.
pub fn dates(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let _ = parse::dates::parse_date(&text, *NOW);
    if bytes.len() >= 8 {
        let n = i64::from_le_bytes(bytes[..8].try_into().expect("eight bytes"));
        let _ = parse::dates::from_epoch(n);
    }
}

/// The casualty reader of the shipped dictionaries.
static CASUALTY: LazyLock<yuqing::classify::casualty::Reader> = LazyLock::new(|| {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    yuqing::classify::casualty::Reader::load(&dir).expect("the shipped casualty lists load")
});

/// Casualty extraction and the grade it gives.
pub fn casualty(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let found = CASUALTY.extract(&text);
    let _ = yuqing::classify::casualty::severity(true, &found);
}

/// Configuration parsing: the same text read as `yuqing.toml` and as `feeds.toml`.
/// The base folder does not exist, so the sources file named by the text is not found.
pub fn config(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let base = Path::new("/nonexistent/yuqing-fuzz");
    let _ = Config::from_str(&text, None, base);
    let _ = load_sources_str(&text, Path::new("feeds.toml"));
}
