//! Files replaced whole: the one way yuqing writes a file outside its database (the
//! control API's token, `audit.count`, mail written as `.eml` files, `export --output`).
//!
//! [`AtomicFile`] writes a temporary file beside the target (`.NAME.partial-PID-N`,
//! created new, never an existing file followed), and [`AtomicFile::commit`] syncs it,
//! renames it over the target and syncs the directory: a reader, or the next start
//! after a crash or a power cut, finds the old file or the new one, never half of one.
//! (A rename is only durable once its directory is synced; the file's own sync makes
//! its bytes durable, not its name.) A failure at any step, or an [`AtomicFile`]
//! dropped without its commit, removes the temporary file and leaves the target as it
//! was. Errors say in Chinese which step failed on which path ([`AtomicFileError`]).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::os_error::describe;

/// Who may read the new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The owner only (mode 0600 on Unix): secrets and the daemon's own files.
    Private,
    /// The process's default (0666 less the umask): files a person asked for.
    Default,
}

/// Which step of replacing a file failed, on which path; the cause in Chinese.
#[derive(Debug, thiserror::Error)]
pub enum AtomicFileError {
    #[error("无法写入 {target}：路径没有文件名")]
    NoFileName { target: PathBuf },
    #[error("无法在 {} 中创建临时文件 {}：{}；请检查该目录是否存在、是否可写", dir.display(), temp.display(), describe(source))]
    Create {
        dir: PathBuf,
        temp: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("无法写入临时文件 {}：{}", temp.display(), describe(source))]
    Write {
        temp: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("无法把临时文件 {} 改名为 {}：{}", temp.display(), target.display(), describe(source))]
    Rename {
        temp: PathBuf,
        target: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} 已写入，但无法把目录 {} 同步到磁盘：{}；断电后这次写入可能丢失", target.display(), dir.display(), describe(source))]
    SyncDir {
        target: PathBuf,
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl AtomicFileError {
    /// The operating system's error, for callers that report an `io::Error`.
    pub fn into_io(self) -> io::Error {
        match self {
            AtomicFileError::NoFileName { .. } => {
                io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name")
            }
            AtomicFileError::Create { source, .. }
            | AtomicFileError::Write { source, .. }
            | AtomicFileError::Rename { source, .. }
            | AtomicFileError::SyncDir { source, .. } => source,
        }
    }
}

/// Numbers the temporary files of one process, so two writers of one target never
/// share a temporary file.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A file being written in place of `target`; see the module docs.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    file: File,
    /// Set once renamed: the temporary file is no longer ours to remove.
    committed: bool,
}

impl AtomicFile {
    /// Creates the temporary file beside `target`.
    pub fn create(target: &Path, access: Access) -> Result<AtomicFile, AtomicFileError> {
        let name = target
            .file_name()
            .ok_or_else(|| AtomicFileError::NoFileName {
                target: target.to_path_buf(),
            })?;
        loop {
            let mut temp_name = std::ffi::OsString::from(".");
            temp_name.push(name);
            temp_name.push(format!(
                ".partial-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let temp = target.with_file_name(temp_name);
            match open_new(&temp, access) {
                Ok(file) => {
                    return Ok(AtomicFile {
                        target: target.to_path_buf(),
                        temp,
                        file,
                        committed: false,
                    });
                }
                // Left by a killed process that had our process id: take the next name.
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => {
                    return Err(AtomicFileError::Create {
                        dir: directory(target).to_path_buf(),
                        temp,
                        source,
                    });
                }
            }
        }
    }

    /// The temporary file's path.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Syncs the temporary file, renames it over the target and syncs the directory.
    /// On failure the temporary file is removed (unless the rename happened: then the
    /// target is the new file, but a power cut may still lose the rename).
    pub fn commit(mut self) -> Result<(), AtomicFileError> {
        self.file
            .sync_all()
            .map_err(|source| AtomicFileError::Write {
                temp: self.temp.clone(),
                source,
            })?;
        std::fs::rename(&self.temp, &self.target).map_err(|source| AtomicFileError::Rename {
            temp: self.temp.clone(),
            target: self.target.clone(),
            source,
        })?;
        self.committed = true;
        let dir = directory(&self.target);
        sync_directory(dir).map_err(|source| AtomicFileError::SyncDir {
            target: self.target.clone(),
            dir: dir.to_path_buf(),
            source,
        })
    }
}

impl Write for AtomicFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.file.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the name already says the file is partial.
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Replaces `target` with `bytes` (see the module docs).
pub fn write(target: &Path, bytes: &[u8], access: Access) -> Result<(), AtomicFileError> {
    let mut file = AtomicFile::create(target, access)?;
    file.write_all(bytes)
        .map_err(|source| AtomicFileError::Write {
            temp: file.temp.clone(),
            source,
        })?;
    file.commit()
}

/// Removes the temporary files that processes killed between [`AtomicFile::create`]
/// and its commit or drop left in `dir` (`.NAME.partial-PID-N` whose process `PID` no
/// longer runs), and returns how many. A temporary file of a running process, ours
/// included, is kept: it may be one being written now (an export into the same folder,
/// the daemon writing a mail). Liveness is read from `/proc`; where there is none,
/// nothing is removed. `/proc` may also hide a live process (`hidepid`, systemd's
/// `ProtectProc=invisible`, another PID namespace sharing the folder), so a file is
/// removed only once it has been left untouched for [`STALE_AGE`] too. A file that
/// cannot be removed is left with a warning; only a folder that cannot be listed is an
/// error.
pub fn remove_stale(dir: &Path) -> io::Result<usize> {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return Ok(0);
    }
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_owner) else {
            continue;
        };
        if pid == std::process::id() || proc.join(pid.to_string()).exists() {
            continue;
        }
        let untouched = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|at| at.elapsed().is_ok_and(|age| age >= STALE_AGE));
        if !untouched {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => tracing::warn!(path = %entry.path().display(), error = %err,
                "a stale temporary file could not be removed"),
        }
    }
    Ok(removed)
}

/// How long [`remove_stale`] leaves a temporary file whose process `/proc` does not
/// show: a file being written is touched as it grows, so one left this long is not
/// being written.
pub const STALE_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// [`remove_stale`] with a log line instead of a result: what the daemon does for its
/// data folder once it holds the store's lock, and for the outbox folder.
pub fn sweep(dir: &Path) {
    match remove_stale(dir) {
        Ok(0) => {}
        Ok(removed) => {
            tracing::info!(dir = %dir.display(), removed, "stale temporary files removed")
        }
        Err(err) => tracing::warn!(dir = %dir.display(), error = %err,
            "could not look for stale temporary files"),
    }
}

/// The process id in a temporary file's name (`.NAME.partial-PID-N`, as
/// [`AtomicFile::create`] makes them); `None` for any other name.
fn temp_owner(name: &str) -> Option<u32> {
    let (_, rest) = name.strip_prefix('.')?.rsplit_once(".partial-")?;
    let (pid, n) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(pid) && digits(n)).then(|| pid.parse().ok())?
}

/// The folder `target` is in (`.` for a bare file name).
fn directory(target: &Path) -> &Path {
    match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn open_new(path: &Path, access: Access) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if access == Access::Private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = access;
    options.open(path)
}

/// Makes a rename in `dir` durable. Where the directory cannot be synced at all — it
/// cannot be opened for reading (a drop folder of mode 0333: EACCES) or the file
/// system has no directory sync (some FUSE and network file systems: EINVAL, EBADF,
/// ENOTSUP) — the rename stands as the system keeps it, with a warning: the file is
/// whole, and reporting a failed write would retry mail or fail an export for nothing.
#[cfg(unix)]
fn sync_directory(dir: &Path) -> io::Result<()> {
    /// EBADF, EACCES, EINVAL, ENOTSUP (Linux numbering, as on the platforms we ship).
    const UNSYNCABLE: [i32; 4] = [9, 13, 22, 95];
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(err) if err.raw_os_error().is_some_and(|c| UNSYNCABLE.contains(&c)) => {
            tracing::warn!(dir = %dir.display(), error = %err,
                "directory cannot be synced: the rename is left to the file system");
            Ok(())
        }
        other => other,
    }
}

/// Elsewhere a directory cannot be opened to sync it; the rename is left to the system.
#[cfg(not(unix))]
fn sync_directory(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_is_replaced_whole_and_nothing_is_left_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("api.token");
        write(&target, b"first\n", Access::Private).unwrap();
        write(&target, b"second\n", Access::Private).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "second\n");
        assert_eq!(names(dir.path()), ["api.token"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
    }

    #[test]
    fn the_temporary_file_sits_beside_the_target_and_goes_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("台账.jsonl");
        std::fs::write(&target, "之前的备份\n").unwrap();
        let mut first = AtomicFile::create(&target, Access::Default).unwrap();
        let second = AtomicFile::create(&target, Access::Default).unwrap();
        assert_ne!(first.temp_path(), second.temp_path(), "one per writer");
        assert_eq!(first.temp_path().parent(), Some(dir.path()));
        let name = first.temp_path().file_name().unwrap().to_string_lossy();
        assert!(name.starts_with(".台账.jsonl.partial-"), "{name}");
        first.write_all(b"half an export").unwrap();
        assert_eq!(names(dir.path()).len(), 3);
        drop(first);
        drop(second);
        assert_eq!(names(dir.path()), ["台账.jsonl"]);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "之前的备份\n");
    }

    #[test]
    fn a_missing_directory_is_named_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("mail").join("42-opened.eml");
        let err = write(&target, b"x", Access::Private).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("无法在"), "{text}");
        assert!(
            text.contains(&dir.path().join("mail").display().to_string()),
            "{text}"
        );
        assert!(text.contains("文件或目录不存在"), "{text}");
        assert_eq!(err.into_io().kind(), io::ErrorKind::NotFound);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_failed_rename_leaves_the_target_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory with something in it cannot be renamed over, even by root.
        let target = dir.path().join("audit.count");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), "").unwrap();
        let err = write(&target, b"7\n", Access::Private).unwrap_err();
        assert!(matches!(err, AtomicFileError::Rename { .. }), "{err:?}");
        assert!(err.to_string().contains("改名为"), "{err}");
        assert_eq!(names(dir.path()), ["audit.count"]);
        assert_eq!(names(&target), ["keep"]);
    }

    #[test]
    fn a_path_without_a_file_name_is_refused() {
        let err = AtomicFile::create(Path::new("/"), Access::Default).unwrap_err();
        assert!(matches!(err, AtomicFileError::NoFileName { .. }), "{err:?}");
        assert_eq!(directory(Path::new("x.csv")), Path::new("."));
    }
    #[test]
    fn temporary_names_give_their_process() {
        assert_eq!(temp_owner(".api.token.partial-42-0"), Some(42));
        assert_eq!(temp_owner(".a.partial-b.partial-7-12"), Some(7));
        for other in [
            "api.token",
            "api.token.partial-42-0",
            ".partial-42-0",
            ".a.partial-42",
            ".a.partial-x-0",
            ".a.partial-42-",
            ".a.partial--0",
            ".a.partial-99999999999-0",
        ] {
            assert_eq!(temp_owner(other), None, "{other}");
        }
    }

    #[test]
    fn only_temporary_files_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // Above the kernel's largest process id (2^22): never running.
        let dead = ".api.token.partial-4194305-0";
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let alive = format!(".export.jsonl.partial-{}-0", child.id());
        let ours = format!(".audit.count.partial-{}-3", std::process::id());
        // A dead (or hidden) process's file written a moment ago: kept.
        let recent = ".mail.eml.partial-4194306-0";
        let old = std::time::SystemTime::now() - STALE_AGE - std::time::Duration::from_secs(60);
        for name in [
            dead,
            &alive,
            &ours,
            "api.token",
            ".hidden",
            "x.partial-4194305-0",
            recent,
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, b"x").unwrap();
            if name != recent {
                let file = std::fs::File::options().write(true).open(&path).unwrap();
                file.set_modified(old).unwrap();
            }
        }
        assert_eq!(remove_stale(dir.path()).unwrap(), 1);
        let mut kept = vec![
            alive.clone(),
            ours.clone(),
            "api.token".to_string(),
            ".hidden".to_string(),
            "x.partial-4194305-0".to_string(),
            recent.to_string(),
        ];
        kept.sort();
        assert_eq!(names(dir.path()), kept);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(remove_stale(dir.path()).unwrap(), 1);
        assert!(!dir.path().join(&alive).exists());
        assert!(dir.path().join(&ours).exists());
    }

    #[test]
    fn a_missing_folder_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(remove_stale(&dir.path().join("nowhere")).is_err());
    }
}
