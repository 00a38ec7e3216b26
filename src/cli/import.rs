//! `yuqing import FILE [--data-dir DIR] [--force]`: rebuilds the ledger from a
//! `yuqing export --format jsonl` file (the restore path of a damaged database).
//! Offline, like `verify`: the daemon must be stopped. Every line is read and checked
//! before anything is written; a ledger that already holds incidents is refused
//! unless `--force` (which replaces it). Afterwards the audit chain is verified.
//! What a line must carry is [`crate::store::LedgerRecord`] (its `record` field).

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use super::{CliError, ImportArgs};
use crate::config::Config;
use crate::store::{LedgerRecord, NoticeRecord, Store, StoreError};

/// The part of an export line that import reads.
#[derive(Deserialize)]
struct Line {
    record: Option<LedgerRecord>,
}

pub fn run(config: &Config, args: &ImportArgs) -> Result<(), CliError> {
    let records = read(&args.file)?;
    let data_dir = args.data_dir.as_deref().unwrap_or(&config.data_dir);
    let store = Store::open(data_dir).map_err(|err| match err {
        StoreError::Locked { .. } => CliError::failed(format!(
            "{err}。导入只能在守护进程停止时进行：请先停止守护进程（systemctl stop yuqing）再运行 yuqing import"
        )),
        other => CliError::failed(other.to_string()),
    })?;
    let failed = |e: StoreError| CliError::failed(format!("导入失败：{e}"));
    if !store.ledger_is_empty() {
        if !args.force {
            return Err(CliError::failed(format!(
                "数据目录 {} 的台账已有 {} 个事件，导入会与现有记录混在一起，已拒绝。请导入到一个空的数据目录（--data-dir），或确认要用备份替换现有台账时加 --force",
                data_dir.display(),
                store.incident_count()
            )));
        }
        store.clear_ledger().map_err(failed)?;
    }
    for record in &records {
        store.restore_record(record).map_err(failed)?;
    }
    store.flush_blocking().map_err(failed)?;
    let report = store.verify_audit_guarded().map_err(failed)?;
    if !report.intact() {
        return Err(CliError::failed(format!("导入后台账校验未通过：{report}")));
    }
    println!("{}", summary(&records, data_dir));
    println!("{report}");
    Ok(())
}

/// Reads and checks every line: JSON, a `record`, ids unique.
fn read(path: &Path) -> Result<Vec<LedgerRecord>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::failed(format!(
            "无法读取导入文件 {}：{}",
            path.display(),
            crate::os_error::describe(&e)
        ))
    })?;
    let mut records = Vec::new();
    let mut ids = BTreeSet::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let n = n + 1;
        let line: Line = serde_json::from_str(line).map_err(|e| {
            CliError::usage(format!(
                "导入文件 {} 第 {n} 行不是 yuqing export --format jsonl 的记录（{e}）；未写入任何内容",
                path.display()
            ))
        })?;
        let record = line.record.ok_or_else(|| {
            CliError::usage(format!(
                "导入文件 {} 第 {n} 行没有 record 字段：它来自不带恢复记录的 yuqing 版本，或不是 export 的 JSONL 输出；未写入任何内容",
                path.display()
            ))
        })?;
        if !ids.insert(record.incident.id) {
            return Err(CliError::usage(format!(
                "导入文件 {} 第 {n} 行：事件 {} 出现了两次；未写入任何内容",
                path.display(),
                record.incident.id
            )));
        }
        records.push(record);
    }
    if records.is_empty() {
        return Err(CliError::usage(format!(
            "导入文件 {} 里没有任何事件记录；未写入任何内容",
            path.display()
        )));
    }
    records.sort_by_key(|r| r.incident.id);
    Ok(records)
}

/// What was imported, in one Chinese line.
fn summary(records: &[LedgerRecord], data_dir: &Path) -> String {
    let count = |f: fn(&LedgerRecord) -> usize| records.iter().map(f).sum::<usize>();
    let queued = count(|r| {
        r.notices
            .iter()
            .filter(|n| matches!(n.record, NoticeRecord::Queued { .. }))
            .count()
    });
    format!(
        "已导入 {} 个事件到 {}：信息 {} 条，操作记录 {} 条（校验链已重建），运行中的时限 {} 个，已记录的通知 {} 封（其中待发送 {} 封，已发送的不会重发）",
        records.len(),
        data_dir.display(),
        count(|r| r.items.len()),
        count(|r| r.audit.len()),
        count(|r| r.clocks.len()),
        count(|r| r.notices.len()),
        queued
    )
}
