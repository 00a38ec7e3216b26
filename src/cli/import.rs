//! `yuqing import FILE… [--data-dir DIR] [--force]`: rebuilds the ledger from a
//! `yuqing export --format jsonl` file (the restore path of a damaged database), or
//! from a full export followed by the incremental ones (`export --since`) taken after
//! it, in that order: a record in a later file replaces the same incident, board post
//! or tracked document of an earlier one (nothing is ever removed from the ledger, so
//! the last state of each record is the ledger).
//! Offline, like `verify`: the daemon must be stopped. Every line of every file is read
//! and checked before anything is written; a ledger that already holds incidents is
//! refused unless `--force` (which replaces it). Afterwards the audit chain is verified.
//! What a line must carry is [`crate::store::LedgerRecord`] (its `record` field); a
//! line with `"kind": "reply"` carries a tracked board post,
//! [`crate::store::ReplyRecord`] (exports from before the reply ledger have none), one
//! with `"kind": "policy"` a tracked document of a document clock,
//! [`crate::store::PolicyRecord`] (docs/policies.md; older exports have none).
//!
//! An export's first line says what it is ([`ExportHeader`]: full or incremental since
//! a time, and when it was taken), and the files are checked as a chain before
//! anything is written: the first a full export, every later one incremental, in the
//! order they were taken, each since no later than the one before it was taken (else
//! the changes in between are in none of them). Files from before the header (0.9.0)
//! are read as before, with a warning that their order cannot be checked.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{CliError, ImportArgs};
use crate::api::export::ExportHeader;
use crate::config::Config;
use crate::model::IncidentId;
use crate::store::{LedgerRecord, NoticeRecord, PolicyRecord, ReplyRecord, Store, StoreError};

/// What kind of record an export line is: an incident (no `kind`), a tracked board
/// post (`"kind": "reply"`) or a tracked document (`"kind": "policy"`).
#[derive(Deserialize)]
struct Kind {
    kind: Option<String>,
}

/// The part of an export line that import reads.
#[derive(Deserialize)]
struct Line<T> {
    record: Option<T>,
}

/// Everything export files restore, each record under its identity: an incident's
/// id, a board post's `(source, key)`, a document's `(clock, source, key)`.
#[derive(Default)]
struct Backup {
    incidents: BTreeMap<IncidentId, LedgerRecord>,
    replies: BTreeMap<(String, String), ReplyRecord>,
    policies: BTreeMap<(String, String, String), PolicyRecord>,
}

impl Backup {
    fn is_empty(&self) -> bool {
        self.incidents.is_empty() && self.replies.is_empty() && self.policies.is_empty()
    }

    /// Takes the records of a later export over those of this one.
    fn update(&mut self, later: Backup) {
        self.incidents.extend(later.incidents);
        self.replies.extend(later.replies);
        self.policies.extend(later.policies);
    }
}

pub fn run(config: &Config, args: &ImportArgs) -> Result<(), CliError> {
    let mut backup = Backup::default();
    let mut headers = Vec::with_capacity(args.files.len());
    for file in &args.files {
        let (header, records) = read(file)?;
        headers.push((file.clone(), header));
        backup.update(records);
    }
    for warning in check_chain(&headers)? {
        eprintln!("{warning}");
    }
    if backup.is_empty() {
        let files: Vec<_> = args.files.iter().map(|f| f.display().to_string()).collect();
        return Err(CliError::usage(format!(
            "导入文件 {} 里没有任何事件、留言或文件时限记录；未写入任何内容。无变动时的增量备份（export --since）只有第一行导出说明，没有记录：请把全量备份作为第一个文件一起导入",
            files.join("、")
        )));
    }
    let data_dir = args.data_dir.as_deref().unwrap_or(&config.data_dir);
    let store = Store::open(data_dir).map_err(|err| match err {
        StoreError::Locked { .. } => CliError::failed(format!(
            "{err}。导入只能在守护进程停止时进行：请先停止守护进程（systemctl stop yuqing）再运行 yuqing import"
        )),
        other => CliError::failed(other.to_string()),
    })?;
    super::report_upgrade(&store, data_dir);
    let failed = |e: StoreError| CliError::failed(format!("导入失败：{e}"));
    if !store.ledger_is_empty().map_err(failed)? {
        if !args.force {
            return Err(CliError::failed(format!(
                "数据目录 {} 的台账已有 {} 个事件、{} 条跟踪中的留言、{} 份跟踪中的文件，导入会与现有记录混在一起，已拒绝。请导入到一个空的数据目录（--data-dir），或确认要用备份替换现有台账时加 --force",
                data_dir.display(),
                store.incident_count(),
                store.tracked_post_count().map_err(failed)?,
                store.tracked_document_count().map_err(failed)?
            )));
        }
        store.clear_ledger().map_err(failed)?;
    }
    for record in backup.incidents.values() {
        store.restore_record(record).map_err(failed)?;
    }
    for record in backup.replies.values() {
        store.restore_reply(record).map_err(failed)?;
    }
    for record in backup.policies.values() {
        store.restore_policy(record).map_err(failed)?;
    }
    store.flush_blocking().map_err(failed)?;
    let report = store.verify_audit_guarded().map_err(failed)?;
    if !report.intact() {
        return Err(CliError::failed(format!("导入后台账校验未通过：{report}")));
    }
    println!("{}", summary(&backup, data_dir));
    println!("{report}");
    Ok(())
}

/// A time as the export writes it.
fn time(at: crate::model::Timestamp) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Checks that export files make one chain, in the order given (see the module docs);
/// returns the warnings to print (files without a header), or the refusal.
fn check_chain(files: &[(PathBuf, Option<ExportHeader>)]) -> Result<Vec<String>, CliError> {
    let mut warnings = Vec::new();
    let mut previous: Option<(&Path, &ExportHeader)> = None;
    for (n, (path, header)) in files.iter().enumerate() {
        let file = path.display();
        let Some(header) = header else {
            warnings.push(format!(
                "注意：导入文件 {file} 没有第一行导出说明（0.9.0 之前的版本导出），无法核对它是全量还是增量备份、与其他文件的先后；按命令行给出的顺序导入，请确认第一个是全量备份，其后的增量备份按导出时间从早到晚排列"
            ));
            previous = None;
            continue;
        };
        match (n, header.since) {
            (0, Some(since)) => {
                return Err(CliError::failed(format!(
                    "导入文件 {file} 是自 {} 起的增量备份（export --since），不能作为第一个文件：只导入增量备份得到的台账缺少其前的所有记录；未写入任何内容。请把最近一次全量备份作为第一个文件，其后按导出时间从早到晚列出它之后的增量备份",
                    time(since)
                )));
            }
            (1.., None) => {
                return Err(CliError::failed(format!(
                    "导入文件 {file} 是全量备份，却排在第 {} 个：全量备份只能作为第一个文件；未写入任何内容。请从最近一次全量备份开始导入（把它放在最前，只列出它之后的增量备份）",
                    n + 1
                )));
            }
            _ => {}
        }
        if let Some((before, earlier)) = previous {
            if header.taken_at < earlier.taken_at {
                return Err(CliError::failed(format!(
                    "导入文件 {file}（导出于 {}）比排在它前面的 {}（导出于 {}）更早：文件顺序不对；未写入任何内容。请按导出时间从早到晚排列文件",
                    time(header.taken_at),
                    before.display(),
                    time(earlier.taken_at)
                )));
            }
            if let Some(since) = header.since.filter(|since| *since > earlier.taken_at) {
                return Err(CliError::failed(format!(
                    "导入文件 {file} 是自 {} 起的增量备份，而排在它前面的 {} 导出于 {}：两者之间的变动不在任何一个文件里，导入会丢失它们；未写入任何内容。请补上自 {} 起（或更早）的增量备份并按时间顺序排列，或改从更近的全量备份开始导入",
                    time(since),
                    before.display(),
                    time(earlier.taken_at),
                    time(earlier.taken_at)
                )));
            }
        }
        previous = Some((path, header));
    }
    Ok(warnings)
}

/// Reads and checks every line of one file: its header (an export's first line, absent
/// in exports from before it), then JSON with a `record`, incidents, board posts and
/// documents each once. A file without any record (an incremental export when nothing
/// changed) is an empty backup.
fn read(path: &Path) -> Result<(Option<ExportHeader>, Backup), CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::failed(format!(
            "无法读取导入文件 {}：{}",
            path.display(),
            crate::os_error::describe(&e)
        ))
    })?;
    let mut backup = Backup::default();
    let mut header = None;
    for (index, (n, line)) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .enumerate()
    {
        let n = n + 1;
        let not_an_export = |e: serde_json::Error| {
            CliError::usage(format!(
                "导入文件 {} 第 {n} 行不是 yuqing export --format jsonl 的记录（{e}）；未写入任何内容",
                path.display()
            ))
        };
        let no_record = || {
            CliError::usage(format!(
                "导入文件 {} 第 {n} 行没有 record 字段：它来自不带恢复记录的 yuqing 版本，或不是 export 的 JSONL 输出；未写入任何内容",
                path.display()
            ))
        };
        let kind: Kind = serde_json::from_str(line).map_err(not_an_export)?;
        match kind.kind.as_deref() {
            None => {}
            Some(ExportHeader::KIND) if index == 0 => {
                header = Some(serde_json::from_str(line).map_err(not_an_export)?);
                continue;
            }
            Some("reply") => {
                let line: Line<ReplyRecord> = serde_json::from_str(line).map_err(not_an_export)?;
                let record = line.record.ok_or_else(no_record)?;
                let post = (record.post.source.clone(), record.post.key.clone());
                let Entry::Vacant(entry) = backup.replies.entry(post) else {
                    return Err(CliError::usage(format!(
                        "导入文件 {} 第 {n} 行：留言 {}/{} 出现了两次；未写入任何内容",
                        path.display(),
                        record.post.source,
                        record.post.key
                    )));
                };
                entry.insert(record);
                continue;
            }
            Some("policy") => {
                let line: Line<PolicyRecord> = serde_json::from_str(line).map_err(not_an_export)?;
                let record = line.record.ok_or_else(no_record)?;
                let doc = &record.document;
                let id = (doc.clock.clone(), doc.source.clone(), doc.key.clone());
                let Entry::Vacant(entry) = backup.policies.entry(id) else {
                    return Err(CliError::usage(format!(
                        "导入文件 {} 第 {n} 行：文件时限 {}/{}/{} 出现了两次；未写入任何内容",
                        path.display(),
                        doc.clock,
                        doc.source,
                        doc.key
                    )));
                };
                entry.insert(record);
                continue;
            }
            Some(other) => {
                return Err(CliError::usage(format!(
                    "导入文件 {} 第 {n} 行的 kind 为 {other:?}，本版本只认识第一行的导出说明（\"export\"）、事件行（无 kind）、留言行（\"reply\"）和文件时限行（\"policy\"）：它可能来自更新的 yuqing 版本，或几个导出文件被拼接成了一个（请分别作为参数给出）；未写入任何内容",
                    path.display()
                )));
            }
        }
        let line: Line<LedgerRecord> = serde_json::from_str(line).map_err(not_an_export)?;
        let record = line.record.ok_or_else(no_record)?;
        let Entry::Vacant(entry) = backup.incidents.entry(record.incident.id) else {
            return Err(CliError::usage(format!(
                "导入文件 {} 第 {n} 行：事件 {} 出现了两次；未写入任何内容",
                path.display(),
                record.incident.id
            )));
        };
        entry.insert(record);
    }
    Ok((header, backup))
}

/// What was imported, in one Chinese line.
fn summary(backup: &Backup, data_dir: &Path) -> String {
    let records = &backup.incidents;
    let count = |f: fn(&LedgerRecord) -> usize| records.values().map(f).sum::<usize>();
    let notices = records
        .values()
        .flat_map(|r| &r.notices)
        .chain(backup.replies.values().flat_map(|r| &r.notices))
        .chain(backup.policies.values().flat_map(|r| &r.notices));
    let queued = notices
        .clone()
        .filter(|n| matches!(n.record, NoticeRecord::Queued { .. }))
        .count();
    format!(
        "已导入 {} 个事件、{} 条跟踪中的留言、{} 份计时的文件到 {}：信息 {} 条，操作记录 {} 条（校验链已重建），运行中的时限 {} 个（留言答复时限 {} 个，文件时限 {} 个），已记录的通知 {} 封（其中待发送 {} 封，已发送的不会重发）",
        records.len(),
        backup.replies.len(),
        backup.policies.len(),
        data_dir.display(),
        count(|r| r.items.len()),
        count(|r| r.audit.len()),
        count(|r| r.clocks.len()),
        backup
            .replies
            .values()
            .filter(|r| r.clock.is_some())
            .count(),
        backup
            .policies
            .values()
            .filter(|r| r.clock.is_some())
            .count(),
        notices.count(),
        queued
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply line as `export` writes it (the view fields are ignored by import).
    fn reply_line(kind: &str, key: &str) -> String {
        format!(
            r#"{{"kind":"{kind}","key":"{key}","record":{{"post":{{"source":"board","key":"{key}","title":"路灯不亮","url":null,"unit":null,"posted_at":"2026-11-20T02:00:00Z","due_at":"2026-11-23T16:00:00Z","replied_at":null,"removed_at":null}},"clock":["2026-11-23T16:00:00Z",2],"notices":[]}}}}"#
        )
    }

    fn read_text(text: &str) -> Result<Backup, CliError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backup.jsonl");
        std::fs::write(&path, text).unwrap();
        read(&path).map(|(_, backup)| backup)
    }

    #[test]
    fn reply_lines_are_read_checked_and_counted() {
        let backup = read_text(&[reply_line("reply", "1"), reply_line("reply", "2")].join("\n"))
            .expect("a file of reply lines only is an export");
        assert!(backup.incidents.is_empty());
        assert_eq!(backup.replies.len(), 2);
        let first = &backup.replies[&("board".to_string(), "1".to_string())];
        assert_eq!(first.clock.map(|(_, step)| step), Some(2));
        assert!(
            summary(&backup, Path::new("/d"))
                .starts_with("已导入 0 个事件、2 条跟踪中的留言、0 份计时的文件"),
            "{}",
            summary(&backup, Path::new("/d"))
        );

        let Err(err) = read_text(&[reply_line("reply", "1"), reply_line("reply", "1")].join("\n"))
        else {
            panic!("a post listed twice is refused");
        };
        assert_eq!(err.code, 2);
        assert!(
            err.message.contains("留言 board/1 出现了两次"),
            "{}",
            err.message
        );

        let Err(err) = read_text(&reply_line("ballot", "1")) else {
            panic!("an unknown kind is refused");
        };
        assert_eq!(err.code, 2);
        assert!(
            err.message.contains("第 1 行的 kind 为 \"ballot\""),
            "{}",
            err.message
        );
    }

    /// A policy line as `export` writes it (the view fields are ignored by import).
    fn policy_line(key: &str) -> String {
        format!(
            r#"{{"kind":"policy","key":"{key}","record":{{"document":{{"clock":"interpretation","source":"policy","key":"{key}","title":"关于印发某办法的通知","url":null,"doc_no":"某政发〔2026〕3号","published_at":"2026-11-20T02:00:00Z","due_at":"2026-11-25T16:00:00Z","backfilled":false,"met_at":null,"met_by":null}},"clock":["2026-11-24T16:00:00Z",1],"notices":[]}}}}"#
        )
    }

    #[test]
    fn policy_lines_are_read_checked_and_counted() {
        let backup =
            read_text(&[reply_line("reply", "1"), policy_line("a"), policy_line("b")].join("\n"))
                .expect("reply and policy lines are an export");
        assert_eq!(backup.policies.len(), 2);
        let keys: Vec<_> = backup.policies.values().map(|r| &r.document.key).collect();
        assert_eq!(keys, ["a", "b"]);
        let text = summary(&backup, Path::new("/d"));
        assert!(text.contains("1 条跟踪中的留言、2 份计时的文件"), "{text}");
        assert!(text.contains("文件时限 2 个"), "{text}");
        let Err(err) = read_text(&[policy_line("a"), policy_line("a")].join("\n")) else {
            panic!("a document listed twice is refused");
        };
        assert_eq!(err.code, 2);
        assert!(
            err.message
                .contains("文件时限 interpretation/policy/a 出现了两次"),
            "{}",
            err.message
        );
    }

    fn header(taken_at: &str, since: Option<&str>) -> ExportHeader {
        ExportHeader {
            kind: ExportHeader::KIND.into(),
            version: "0.9.0".into(),
            format: 9,
            taken_at: taken_at.parse().unwrap(),
            since: since.map(|s| s.parse().unwrap()),
        }
    }

    fn chain(files: &[(&str, Option<ExportHeader>)]) -> Result<Vec<String>, CliError> {
        let files: Vec<_> = files
            .iter()
            .map(|(name, header)| (PathBuf::from(name), header.clone()))
            .collect();
        check_chain(&files)
    }

    /// A full export, then incremental ones each since no later than the one before
    /// was taken, in the order taken: anything else is refused (exit 1) with what is
    /// wrong and what to do; files without a header pass with a warning.
    #[test]
    fn export_files_are_checked_as_one_chain() {
        let full = || header("2026-12-01T16:00:00.000Z", None);
        let first = || header("2026-12-02T16:00:00.000Z", Some("2026-12-01T16:00:00.000Z"));
        let second = || header("2026-12-03T16:00:00.000Z", Some("2026-12-02T16:00:00.000Z"));
        // Overlapping (since before the last one's taken_at) is fine.
        let overlapping = || header("2026-12-03T17:00:00.000Z", Some("2026-12-01T16:00:00.000Z"));
        let fine = chain(&[
            ("full", Some(full())),
            ("1", Some(first())),
            ("2", Some(second())),
            ("3", Some(overlapping())),
        ]);
        assert_eq!(fine.unwrap(), Vec::<String>::new());
        assert!(chain(&[("full", Some(full()))]).unwrap().is_empty());

        let refused = |files: &[(&str, Option<ExportHeader>)], says: &str| {
            let err = chain(files).unwrap_err();
            assert_eq!(err.code, 1, "{err}");
            assert!(err.message.contains(says), "{says}: {err}");
            assert!(err.message.contains("未写入任何内容"), "{err}");
        };
        refused(
            &[("1", Some(first()))],
            "1 是自 2026-12-01T16:00:00.000Z 起的增量备份",
        );
        refused(
            &[("1", Some(first())), ("full", Some(full()))],
            "不能作为第一个文件",
        );
        refused(
            &[("full", Some(full())), ("full2", Some(full()))],
            "full2 是全量备份，却排在第 2 个",
        );
        refused(
            &[
                ("full", Some(full())),
                ("2", Some(second())),
                ("1", Some(first())),
            ],
            "两者之间的变动不在任何一个文件里",
        );
        refused(
            &[
                ("full", Some(full())),
                ("3", Some(overlapping())),
                ("2", Some(second())),
            ],
            "文件顺序不对",
        );

        // Exports from before the header: read as given, with a warning.
        let warnings = chain(&[("old", None), ("1", Some(first()))]).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("old 没有第一行导出说明"),
            "{warnings:?}"
        );
    }

    /// The header is an export's first line only: one further down (two exports
    /// pasted into one file) is refused as not an export.
    #[test]
    fn the_header_is_read_from_the_first_line_only() {
        let line = serde_json::to_string(&header("2026-12-01T16:00:00.000Z", None)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backup.jsonl");
        std::fs::write(&path, format!("{line}\n{}\n", reply_line("reply", "1"))).unwrap();
        let (read_header, backup) = read(&path).unwrap();
        assert_eq!(read_header, Some(header("2026-12-01T16:00:00.000Z", None)));
        assert_eq!(backup.replies.len(), 1);
        let Err(err) = read_text(&format!("{}\n{line}", reply_line("reply", "1"))) else {
            panic!("a header below the first line is refused");
        };
        assert_eq!(err.code, 2);
        assert!(
            err.message.contains("第 2 行的 kind 为 \"export\""),
            "{err}"
        );
    }
}
