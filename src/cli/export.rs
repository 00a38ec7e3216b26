//! `yuqing export`: the ledger as the daemon streams it, written as it arrives (the
//! CLI holds one chunk, not the export).
//!
//! Whatever goes wrong part-way (the daemon aborts the export, the connection breaks,
//! the daemon sends nothing for [`READ_TIMEOUT`], the disk fills up), no file is left
//! that looks like a whole export:
//! - `--output FILE` writes a temporary file beside FILE (`.FILE.partial-PID-N`,
//!   [`AtomicFile`]), syncs it and renames it to FILE only once the whole export has
//!   arrived (then syncs the folder); on failure it is removed and FILE is left as it
//!   was.
//! - Standard output redirected to a file (`> FILE`, `>> FILE`): on failure the bytes
//!   this export wrote are cut off again (the file keeps only what it held before).
//! - A pipe or terminal cannot be taken back: the exit code (1, or 3 when the daemon
//!   went silent) and the message on stderr say the export is incomplete.
//!
//! A whole JSONL export ends with its `taken_at` (its first line, [`ExportHeader`]) on
//! stderr, as the `--since` of the next incremental backup.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use super::incidents::{block_on, connect, parse_since};
use super::{CliError, ExportArgs, ExportFormat};
#[cfg(doc)]
use crate::api::client::READ_TIMEOUT;
use crate::api::client::{Client, ClientError};
use crate::api::export::ExportHeader;
use crate::atomic_file::{Access, AtomicFile};
use crate::config::Config;
use crate::model::Timestamp;
use crate::os_error::describe;

pub fn export(config: &Config, args: &ExportArgs) -> Result<(), CliError> {
    let format = match args.format {
        ExportFormat::Jsonl => "jsonl",
        ExportFormat::Csv => "csv",
    };
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let request = Request {
        client: connect(config)?,
        format,
        since,
    };
    let header = match &args.output {
        Some(path) => to_file(&request, path)?,
        None => to_stdout(&request)?,
    };
    if let Some(header) = header {
        eprintln!("{}", next_backup(&header));
    }
    Ok(())
}

/// What the export of `header` was, and what to run for the next incremental backup.
fn next_backup(header: &ExportHeader) -> String {
    let kind = match header.since {
        None => "全量备份".to_string(),
        Some(since) => format!(
            "自 {} 起的增量备份",
            since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ),
    };
    format!(
        "导出完成（{kind}）。下次增量备份：yuqing export --since {}",
        header
            .taken_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

/// The longest first line read for the export's header (it is about 150 bytes).
const HEADER_MAX: usize = 4096;

/// What to ask the daemon for.
struct Request {
    client: Client,
    format: &'static str,
    since: Option<Timestamp>,
}

/// Why an export stopped before its end.
enum Failure {
    Daemon(ClientError),
    Write(io::Error),
}

/// What was received, `None` for exports without a header (CSV).
type Received = Result<Option<ExportHeader>, CliError>;

impl Request {
    /// Receives the export, handing each chunk to `write` as it arrives; returns its
    /// header line.
    fn receive(&self, mut write: impl FnMut(&[u8]) -> io::Result<()>) -> Received {
        let mut first = Vec::new();
        let received = block_on(async {
            let mut export = self
                .client
                .export(self.format, self.since)
                .await
                .map_err(Failure::Daemon)?;
            while let Some(chunk) = export.chunk().await.map_err(Failure::Daemon)? {
                if !first.ends_with(b"\n") && first.len() < HEADER_MAX {
                    let end = chunk
                        .iter()
                        .position(|b| *b == b'\n')
                        .map_or(chunk.len(), |i| i + 1);
                    first.extend_from_slice(&chunk[..end]);
                }
                write(&chunk).map_err(Failure::Write)?;
            }
            Ok(())
        })?;
        received.map_err(|failure| match failure {
            Failure::Daemon(err) => CliError::from(err),
            Failure::Write(err) => {
                CliError::failed(format!("无法写出导出结果：{}；导出不完整", describe(&err)))
            }
        })?;
        Ok(serde_json::from_slice::<ExportHeader>(&first)
            .ok()
            .filter(|header| header.kind == ExportHeader::KIND))
    }
}

/// `--output FILE`: through a temporary file beside it ([`AtomicFile`]), renamed once
/// complete; on failure the temporary file is removed and FILE left as it was.
fn to_file(request: &Request, path: &Path) -> Received {
    if path.file_name().is_none() {
        return Err(CliError::usage(format!(
            "--output {} 不是文件路径；请写出文件名，如 台账.jsonl",
            path.display()
        )));
    }
    let mut file = AtomicFile::create(path, Access::Default)
        .map_err(|err| CliError::failed(err.to_string()))?;
    let header = request.receive(|bytes| file.write_all(bytes))?;
    file.commit()
        .map_err(|err| CliError::failed(format!("{err}；导出未完成")))?;
    Ok(header)
}

/// Standard output; a regular file behind it is cut back to where it was on failure.
fn to_stdout(request: &Request) -> Received {
    let Some((file, start)) = stdout_file() else {
        let mut out = io::stdout().lock();
        let mut reader_gone = false;
        let result = request.receive(|bytes| {
            let written = out.write_all(bytes).and_then(|()| out.flush());
            reader_gone = matches!(&written, Err(e) if e.kind() == io::ErrorKind::BrokenPipe);
            written
        });
        // A reader that went away (`| head`) is not an error.
        return if reader_gone { Ok(None) } else { result };
    };
    into_file(request, file, start)
}

/// Appends the export to `file`; on failure cuts it back to `start` bytes.
fn into_file(request: &Request, mut file: File, start: u64) -> Received {
    let err = match request.receive(|bytes| file.write_all(bytes)) {
        Ok(header) => return Ok(header),
        Err(err) => err,
    };
    let cut = file
        .set_len(start)
        .and_then(|()| file.seek(SeekFrom::Start(start)).map(drop));
    Err(CliError {
        code: err.code,
        message: match cut {
            Ok(()) => format!("{}；已写出的部分已从输出文件中删除", err.message),
            Err(cut) => format!(
                "{}；已写出的部分无法从输出文件中删除（{}），该文件不完整",
                err.message,
                describe(&cut)
            ),
        },
    })
}

/// Standard output as a file, when it is a regular one, with the length to cut back
/// to: its length or position now, whichever is larger (`>>` appends after the
/// length; `>` starts at 0).
#[cfg(unix)]
fn stdout_file() -> Option<(File, u64)> {
    use std::os::fd::AsFd;
    let mut file = File::from(io::stdout().as_fd().try_clone_to_owned().ok()?);
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let position = file.stream_position().ok()?;
    Some((file, position.max(meta.len())))
}

/// Elsewhere standard output is never cut back.
#[cfg(not(unix))]
fn stdout_file() -> Option<(File, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::export::PAGE;
    use crate::api::{Server, Token, token_path};
    use crate::config::ApiConfig;
    use crate::ledger::Ledger;
    use crate::store::Store;
    use std::sync::Arc;

    /// A daemon's control API on 127.0.0.1:0 over a ledger of `PAGE + 5` incidents,
    /// served by its own runtime (the CLI code runs its own, as in the binary).
    fn daemon(dir: &Path) -> (tokio::runtime::Runtime, Request, Store) {
        let store = Store::temporary().unwrap();
        crate::api::tests::fill(&store, PAGE as u64 + 5);
        let (runtime, request) = serve(&dir.join("data"), &store);
        (runtime, request, store)
    }

    /// A daemon's control API on 127.0.0.1:0 over `store`, its token in `data_dir`.
    fn serve(data_dir: &Path, store: &Store) -> (tokio::runtime::Runtime, Request) {
        let config = Arc::new(Config {
            data_dir: data_dir.to_path_buf(),
            api: ApiConfig {
                bind: "127.0.0.1:0".parse().unwrap(),
                ..ApiConfig::default()
            },
            ..Config::default()
        });
        std::fs::create_dir_all(&config.data_dir).unwrap();
        let ledger = Ledger::new(
            store.clone(),
            config.clone(),
            Arc::new(tokio::sync::Notify::new()),
        );
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let server = runtime
            .block_on(Server::bind(store.clone(), ledger, config.clone()))
            .unwrap();
        let addr = server.local_addr().unwrap();
        runtime.spawn(server.serve(std::future::pending()));
        let token = Token::read(&token_path(&config.data_dir)).unwrap();
        let request = Request {
            client: Client::with_token(addr, token).unwrap(),
            format: "jsonl",
            since: None,
        };
        (runtime, request)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "data")
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_export_that_breaks_off_leaves_no_file_that_looks_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (_runtime, request, store) = daemon(dir.path());

        // Whole: `--output` ends with the file and nothing beside it.
        let target = dir.path().join("台账.jsonl");
        to_file(&request, &target).unwrap();
        let whole = std::fs::read_to_string(&target).unwrap();
        assert_eq!(
            whole.lines().count(),
            1 + PAGE + 5,
            "the header, the incidents"
        );
        assert_eq!(names(dir.path()), ["台账.jsonl"]);

        // Broken off on the second page: an error, the earlier file untouched, the
        // temporary file gone.
        store.damage_incident(PAGE as u64 + 2);
        let err = to_file(&request, &target).unwrap_err();
        assert_eq!(err.code, 1, "{err}");
        assert!(err.message.contains("导出中途断开"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), whole);
        assert_eq!(names(dir.path()), ["台账.jsonl"]);
        let fresh = dir.path().join("新.jsonl");
        assert_eq!(to_file(&request, &fresh).unwrap_err().code, 1);
        assert!(!fresh.exists(), "no file where none was");
        assert_eq!(names(dir.path()), ["台账.jsonl"]);

        // Standard output appended to a file (`>> FILE`): the first page was written,
        // then cut off again; what the file held before stays.
        let appended = dir.path().join("追加.jsonl");
        std::fs::write(&appended, "之前的内容\n").unwrap();
        let file = File::options().append(true).open(&appended).unwrap();
        let start = file.metadata().unwrap().len();
        let err = into_file(&request, file, start).unwrap_err();
        assert_eq!(err.code, 1, "{err}");
        assert!(err.message.contains("已从输出文件中删除"), "{err}");
        assert_eq!(std::fs::read_to_string(&appended).unwrap(), "之前的内容\n");
    }

    /// The export's lines as JSON, queue numbers blanked (a restore queues anew), its
    /// header (when it was taken) left out.
    fn comparable(text: &str) -> Vec<serde_json::Value> {
        fn blank(value: &mut serde_json::Value) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(seq) = map.get_mut("seq") {
                        *seq = 0.into();
                    }
                    map.values_mut().for_each(blank);
                }
                serde_json::Value::Array(values) => values.iter_mut().for_each(blank),
                _ => {}
            }
        }
        text.lines()
            .map(|line| {
                let mut value = serde_json::from_str(line).unwrap();
                blank(&mut value);
                value
            })
            .filter(|value: &serde_json::Value| value["kind"] != ExportHeader::KIND)
            .collect()
    }

    /// The board posts' and documents' keys of an export, in its order.
    fn tracked_keys(text: &str) -> (Vec<String>, Vec<String>) {
        let lines = comparable(text);
        let keys = |kind: &str| -> Vec<String> {
            lines
                .iter()
                .filter(|line| line["kind"] == kind)
                .map(|line| line["key"].as_str().unwrap().to_string())
                .collect()
        };
        (keys("reply"), keys("policy"))
    }

    /// Nightly backups: a full export, changes to the reply and policy ledgers (a post
    /// answered, a reminder sent, a post added, a document met, a document's clock
    /// moved, a document added), then `export --since` the full one's start carries
    /// those posts and documents only; `import FULL INCREMENTAL` into a fresh data
    /// directory gives the ledger a full export of the original gives now.
    #[test]
    fn a_full_and_an_incremental_export_import_as_the_full_one() {
        use crate::policies::TrackedDocument;
        use crate::replies::TrackedPost;
        use crate::store::DocumentId;
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let old_dir = dir.path().join("old");
        let store = Store::open(&old_dir).unwrap();
        crate::api::tests::fill(&store, 12);
        let post = |key: String| TrackedPost {
            source: "board".into(),
            key,
            title: "路灯不亮".into(),
            url: None,
            unit: Some("县住建局".into()),
            posted_at: at("2026-11-20T02:00:00Z"),
            due_at: at("2099-11-23T16:00:00Z"),
            replied_at: None,
            removed_at: None,
        };
        let document = |key: String| TrackedDocument {
            clock: "interpretation".into(),
            source: "policy".into(),
            key,
            title: "关于印发某办法的通知".into(),
            url: None,
            doc_no: None,
            published_at: at("2026-06-12T02:00:00Z"),
            due_at: at("2099-06-17T16:00:00Z"),
            backfilled: false,
            met_at: None,
            met_by: None,
        };
        let reminder = |key: &str| crate::model::Notice {
            key: format!("reply/board/{key}/80"),
            to: vec!["duty@localhost".into()],
            created_at: at("2026-11-23T04:00:00Z"),
            kind: crate::model::NoticeKind::Bulletin {
                subject: "s".into(),
                paragraphs: vec![],
                commands: vec![],
            },
        };
        // More posts than a page, each with its clock; a reminder queued for two.
        for i in 0..PAGE + 3 {
            let key = format!("p{i:04}");
            store.put_tracked_post(&post(key.clone())).unwrap();
            store
                .schedule_reply("board", &key, Some((at("2099-11-23T04:00:00Z"), 0)))
                .unwrap();
        }
        for key in ["p0001", "p0002"] {
            store.enqueue_notice(&reminder(key)).unwrap();
        }
        for i in 0..5 {
            let doc = document(format!("d{i}"));
            let next = Some((at("2099-06-16T16:00:00Z"), 0));
            store.put_tracked_document(&doc, next).unwrap();
        }
        let (runtime, mut request) = serve(&old_dir, &store);
        // The full export's `taken_at` is a grace before it starts: past the set-up.
        std::thread::sleep(
            (crate::api::export::GRACE + chrono::Duration::milliseconds(5))
                .to_std()
                .unwrap(),
        );
        let full = dir.path().join("full.jsonl");
        let full_header = to_file(&request, &full).unwrap().unwrap();
        assert_eq!(full_header.since, None, "a full export");
        let full_text = std::fs::read_to_string(&full).unwrap();
        assert_eq!(
            tracked_keys(&full_text).0.len(),
            PAGE + 3,
            "every post in the full export"
        );

        // Nothing changed since the full export: no incident, post or document, the
        // header only, which names its `since`.
        request.since = Some(full_header.taken_at);
        let incremental = dir.path().join("incremental.jsonl");
        let header = to_file(&request, &incremental).unwrap().unwrap();
        assert_eq!(header.since, Some(full_header.taken_at));
        assert!(header.taken_at >= full_header.taken_at);
        let text = std::fs::read_to_string(&incremental).unwrap();
        assert_eq!(
            text.lines().count(),
            1,
            "nothing changed, nothing exported: {text}"
        );

        let mut answered = post("p0003".into());
        answered.replied_at = Some(at("2026-11-22T02:00:00Z"));
        store.put_tracked_post(&answered).unwrap();
        store.schedule_reply("board", "p0003", None).unwrap();
        let queued = store.outbox_pending(10).unwrap();
        let (seq, row) = queued
            .iter()
            .find(|(_, row)| row.notice.key == "reply/board/p0002/80")
            .unwrap();
        store
            .outbox_mark_sent(*seq, &row.notice.key, at("2026-11-23T04:01:00Z"))
            .unwrap();
        store.put_tracked_post(&post("p9999".into())).unwrap();
        store
            .meet_document(&DocumentId::of(&document("d1".into())), |doc| {
                doc.met_at = Some(at("2026-06-15T02:00:00Z"));
            })
            .unwrap();
        store
            .schedule_document(
                &DocumentId::of(&document("d3".into())),
                Some((at("2099-06-17T16:00:00Z"), 1)),
            )
            .unwrap();
        store
            .put_tracked_document(&document("d9".into()), None)
            .unwrap();

        to_file(&request, &incremental).unwrap();
        let text = std::fs::read_to_string(&incremental).unwrap();
        assert_eq!(
            tracked_keys(&text),
            (
                vec!["p0002".into(), "p0003".into(), "p9999".into()],
                vec!["d1".into(), "d3".into(), "d9".into()]
            ),
            "only what changed, by key"
        );
        assert_eq!(text.lines().count(), 1 + 6, "no incident changed: {text}");
        request.since = None;
        let now = dir.path().join("now.jsonl");
        to_file(&request, &now).unwrap();
        let expected = comparable(&std::fs::read_to_string(&now).unwrap());
        drop(runtime);

        let new_dir = dir.path().join("new");
        let args = crate::cli::ImportArgs {
            files: vec![full, incremental],
            data_dir: Some(new_dir.clone()),
            force: false,
        };
        crate::cli::import::run(&Config::default(), &args).unwrap();
        let restored = Store::open(&new_dir).unwrap();
        let (_runtime, request) = serve(&new_dir, &restored);
        let again = dir.path().join("again.jsonl");
        to_file(&request, &again).unwrap();
        let got = comparable(&std::fs::read_to_string(&again).unwrap());
        assert_eq!(got.len(), expected.len());
        for (got, expected) in got.iter().zip(&expected) {
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn an_output_without_a_file_name_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let (_runtime, request, _store) = daemon(dir.path());
        let err = to_file(&request, Path::new("/")).unwrap_err();
        assert_eq!(err.code, 2, "{err}");
        assert!(err.message.contains("不是文件路径"), "{err}");
    }
}
