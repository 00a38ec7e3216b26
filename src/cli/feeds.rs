//! `yuqing feeds check [--source ID] [--json]`: fetch every enabled source (or the
//! one named, enabled or not) once, now, and report what would be ingested. Opens
//! no database, so it is safe while the daemon runs. Exit 1 when any source failed.

use std::fmt::Write as _;

use super::{CliError, FeedsCheckArgs};
use crate::config::{Config, SourceConfig};
use crate::sources::{self, CheckReport, SourcesError};

/// Writes to standard output; `Ok(false)` when the reader closed the pipe (`println!`
/// would panic there), an error for any other failure.
fn write_out(text: &str) -> Result<bool, CliError> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(err) => Err(CliError::failed(format!("无法写出检查结果：{err}"))),
    }
}

pub fn check(config: &Config, args: &FeedsCheckArgs) -> Result<(), CliError> {
    let chosen: Vec<SourceConfig> = match &args.source {
        Some(id) => match config.sources.iter().find(|s| &s.id == id) {
            Some(source) => vec![source.clone()],
            None => {
                return Err(CliError::usage(
                    SourcesError::unknown(id, &config.sources).to_string(),
                ));
            }
        },
        None => config
            .sources
            .iter()
            .filter(|s| s.enabled)
            .cloned()
            .collect(),
    };
    if chosen.is_empty() {
        if !args.json {
            write_out(&format!(
                "没有启用的信息源；请在 {} 中添加或启用 [[source]]\n",
                config.feeds.display()
            ))?;
        }
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("无法启动异步运行时：{e}")))?;
    let reports = runtime
        .block_on(sources::check(&config.intake, &chosen, chrono::Utc::now()))
        .map_err(|e| CliError::failed(e.to_string()))?;

    let out = if args.json {
        let mut out = String::new();
        for report in &reports {
            // A report is plain data: serializing it cannot fail.
            let line = serde_json::to_string(report).expect("report serializes");
            out.push_str(&line);
            out.push('\n');
        }
        out
    } else {
        render(&reports, &chosen)
    };
    if !write_out(&out)? {
        // The reader went away (`yuqing feeds check | head -1`): nothing more to say.
        return Ok(());
    }
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| !r.ok)
        .map(|r| r.source.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::failed(format!(
            "{} 个信息源检查失败：{}；请核对上面的原因，修改 feeds.toml 后再次运行 yuqing feeds check",
            failed.len(),
            failed.join("、")
        )))
    }
}

/// The readable report: one block per source (with a note when a source looks like a
/// message board but is not marked one: `SourceConfig::board_unmarked`), then a
/// summary line.
fn render(reports: &[CheckReport], sources: &[SourceConfig]) -> String {
    let mut out = String::new();
    for r in reports {
        if sources.iter().any(|s| s.id == r.source && s.board_unmarked) {
            let _ = writeln!(
                out,
                "[提示] {}（{}）看起来是留言板，但没有标 board = true：居民留言会按新闻的模型判断，漏报较多；是留言板请在 feeds.toml 中加 board = true，不是请加 board = false",
                r.source, r.name
            );
        }
        let status = r
            .status
            .map_or_else(|| "无响应".to_string(), |s| format!("HTTP {s}"));
        if r.ok {
            let _ = writeln!(
                out,
                "[正常] {}（{}）  {status}  编码 {}  {} 条",
                r.source,
                r.name,
                r.encoding.as_deref().unwrap_or("未知"),
                r.items
            );
            for title in &r.titles {
                let _ = writeln!(out, "       · {title}");
            }
        } else {
            let _ = writeln!(out, "[失败] {}（{}）  {status}", r.source, r.name);
            let _ = writeln!(out, "       原因：{}", r.error.as_deref().unwrap_or("未知"));
        }
    }
    let ok = reports.iter().filter(|r| r.ok).count();
    let _ = writeln!(
        out,
        "共 {} 个信息源：{ok} 个正常，{} 个失败",
        reports.len(),
        reports.len() - ok
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readable_report_names_every_source_and_the_reason() {
        let reports = [
            CheckReport {
                source: "news".into(),
                name: "新闻".into(),
                ok: true,
                status: Some(200),
                items: 2,
                encoding: Some("GBK".into()),
                error: None,
                titles: vec!["安丘市召开会议".into(), "第二条".into()],
            },
            CheckReport {
                source: "board".into(),
                name: "留言板".into(),
                ok: false,
                status: None,
                items: 0,
                encoding: None,
                error: Some("请求超时".into()),
                titles: vec![],
            },
        ];
        let sources = crate::config::load_sources_str(
            "[[source]]\nid = \"news\"\nname = \"新闻\"\nurl = \"https://example.gov.cn/a\"\nkind = \"feed\"\n\
             [[source]]\nid = \"board\"\nname = \"留言板\"\nurl = \"https://example.gov.cn/b\"\nkind = \"feed\"\n",
            std::path::Path::new("feeds.toml"),
        )
        .expect("sources");
        let text = render(&reports, &sources);
        for needle in [
            "[正常] news（新闻）  HTTP 200  编码 GBK  2 条",
            "· 安丘市召开会议",
            "[提示] board（留言板）看起来是留言板，但没有标 board = true",
            "[失败] board（留言板）  无响应",
            "原因：请求超时",
            "共 2 个信息源：1 个正常，1 个失败",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(!text.contains("[提示] news"), "{text}");
    }
}
