//! `yuqing classify [--json] [--board] [FILE]`: classify items line by line, without the
//! daemon. `--board` decides them as message-board posts (the model's board section: its
//! weights, calibration and threshold), as the daemon does for a source with `board =
//! true`.
//!
//! Input (FILE or stdin), one item per line: a JSON object `{"id", "title", "body"}`
//! (all optional; `id` may be any JSON value and is echoed back) or a plain text line,
//! which is the body and gets its line number as id. Output: exactly one line per
//! input line, in order. A line that starts with `{` but is not valid JSON gets an error
//! line (`{"id": null, "line": N, "error": "…"}` with `--json`) and the run continues;
//! the exit status is then 1 and stderr says how many lines failed. Streaming: memory
//! stays flat however long the input is.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};

use serde::Serialize;
use serde_json::Value;

use super::{ClassifyArgs, CliError};
use crate::classify::{Classifier, ReportKind};
use crate::config::Config;
use crate::model::{Classification, topic_name};

#[derive(Serialize)]
struct Output<'a> {
    id: &'a Value,
    #[serde(flatten)]
    classification: &'a Classification,
}

#[derive(Serialize)]
struct ErrorLine<'a> {
    id: Value,
    line: u64,
    error: &'a str,
}

/// One input line, read.
enum Input {
    Item {
        id: Value,
        title: String,
        body: String,
    },
    Bad(String),
}

fn read_item(line: &str, number: u64) -> Input {
    let trimmed = line.trim_start();
    if !trimmed.starts_with('{') {
        return Input::Item {
            id: Value::from(number),
            title: String::new(),
            body: line.to_string(),
        };
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(mut map)) => {
            let mut text = |key: &str| match map.remove(key) {
                Some(Value::String(s)) => s,
                _ => String::new(),
            };
            let (title, body) = (text("title"), text("body"));
            Input::Item {
                id: map.remove("id").unwrap_or(Value::Null),
                title,
                body,
            }
        }
        Ok(_) => {
            Input::Bad("JSON 行必须是对象，如 {\"id\":1,\"title\":\"…\",\"body\":\"…\"}".into())
        }
        Err(err) => Input::Bad(format!("不是有效的 JSON（{err}）")),
    }
}

/// The compact, readable line of the text output.
fn human_line(id: &Value, title: &str, body: &str, c: &Classification) -> String {
    let id = match id {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    let mut out = format!("{id}\t");
    if c.flag {
        let level = c.severity.map_or("", |l| l.chinese());
        out.push_str(&format!("【预警·{level}】"));
    } else {
        out.push_str("【未预警】");
    }
    if !c.topics.is_empty() {
        let names: Vec<&str> = c.topics.iter().map(|t| topic_name(t)).collect();
        out.push_str(&format!(" 话题：{}", names.join("、")));
    }
    if let Some(harm) = crate::format::casualties(c.deaths, c.injured, c.seriously_injured) {
        out.push_str(&format!(" 伤亡：{harm}"));
    }
    if !c.places.is_empty() {
        out.push_str(&format!(" 地点：{}", c.places.join("、")));
    }
    out.push_str(if c.local { " 本地" } else { " 外地" });
    if let Some(unit) = &c.unit {
        out.push_str(&format!(" 牵头：{unit}"));
    }
    if !c.matches.is_empty() {
        let terms: Vec<&str> = c.matches.iter().map(|m| m.term.as_str()).collect();
        out.push_str(&format!(" 依据：{}", terms.join("、")));
    }
    out.push_str(&format!(" 得分：{}", c.score));
    let text = if title.trim().is_empty() { body } else { title };
    let snippet: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(30)
        .collect();
    out.push_str(&format!(" | {snippet}"));
    out
}

/// Runs the command.
pub fn run(config: &Config, args: &ClassifyArgs) -> Result<(), CliError> {
    let classifier = Classifier::load(&config.dictionaries, &config.jurisdiction)
        .map_err(|err| CliError::usage(err.to_string()))?;
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(BufReader::new(File::open(path).map_err(|err| {
            CliError::usage(format!(
                "无法打开输入文件 {}：{}；请检查路径",
                path.display(),
                crate::os_error::describe(&err)
            ))
        })?)),
        None => Box::new(BufReader::new(io::stdin().lock())),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let kind = ReportKind::from_board(args.board);
    match classify_stream(&classifier, input, &mut out, args.json, kind) {
        Ok(0) => Ok(()),
        Ok(bad) => Err(CliError::failed(format!(
            "有 {bad} 行无法解析（输出中已逐行标出）；请检查这些行的 JSON 格式"
        ))),
        // The reader of our output went away (`| head`): nothing left to do.
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(CliError::failed(format!("读写失败：{err}"))),
    }
}

/// Classifies every line of `input` onto `out`, each as a report of `kind`; returns how
/// many lines were bad.
pub fn classify_stream(
    classifier: &Classifier,
    mut input: impl BufRead,
    out: &mut impl Write,
    json: bool,
    kind: ReportKind,
) -> io::Result<u64> {
    let mut raw = Vec::new();
    let mut number = 0u64;
    let mut bad = 0u64;
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        number += 1;
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\n', '\r']);
        match read_item(line, number) {
            Input::Item { id, title, body } => {
                let c = classifier.classify_as(&title, &body, false, kind);
                if json {
                    serde_json::to_writer(
                        &mut *out,
                        &Output {
                            id: &id,
                            classification: &c,
                        },
                    )?;
                    out.write_all(b"\n")?;
                } else {
                    writeln!(out, "{}", human_line(&id, &title, &body, &c))?;
                }
            }
            Input::Bad(error) => {
                bad += 1;
                if json {
                    let e = ErrorLine {
                        id: Value::Null,
                        line: number,
                        error: &error,
                    };
                    serde_json::to_writer(&mut *out, &e)?;
                    out.write_all(b"\n")?;
                } else {
                    writeln!(out, "-\t【错误】第 {number} 行{error}")?;
                }
            }
        }
    }
    out.flush()?;
    Ok(bad)
}
