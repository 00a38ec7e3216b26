//! A file replaced in a directory the process may not write to: a clear message, the
//! target as it was, nothing half-written beside it (`yuqing::atomic_file`).

mod common;

use std::path::Path;

use yuqing::atomic_file::{Access, AtomicFileError, write};

/// Set in the copy of this test run as user `nobody`.
const AS_NOBODY: &str = "YUQING_TEST_AS_NOBODY";

/// Runs test `name` of this binary again as user `nobody` and fails if it fails; skips
/// (fails under CI) where `setpriv` is missing.
fn as_nobody(name: &str) {
    let exe = std::env::current_exe().unwrap();
    let run = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(AS_NOBODY, "1")
        .env("TMPDIR", std::env::temp_dir())
        .output();
    match run {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "as user nobody: {text}");
            assert!(text.contains("1 passed"), "the test ran as nobody: {text}");
        }
        Err(err) => common::skip::require_or_skip(
            "the error for a directory that is not writable",
            &format!("running as root and `setpriv` cannot run ({err})"),
        ),
    }
}

#[cfg(unix)]
#[test]
fn a_directory_that_is_not_writable_is_named_and_left_as_it_was() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("backups");
    std::fs::create_dir(&folder).unwrap();
    let target = folder.join("台账.jsonl");
    std::fs::write(&target, "之前的备份\n").unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o500)).unwrap();
    let restore = |folder: &Path| {
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700)).unwrap();
    };
    // Root (and a process with CAP_DAC_OVERRIDE) writes anyway: then the check runs in
    // this test binary again, as user `nobody` (`setpriv`, util-linux), which may not.
    let probe = folder.join("probe");
    if std::fs::write(&probe, "").is_ok() {
        std::fs::remove_file(&probe).unwrap();
        restore(&folder);
        if std::env::var_os(AS_NOBODY).is_some() {
            panic!("even as user nobody this process may write to a mode 0500 directory");
        }
        as_nobody("a_directory_that_is_not_writable_is_named_and_left_as_it_was");
        return;
    }
    let err = write(&target, "新的备份\n".as_bytes(), Access::Default).unwrap_err();
    let names: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    restore(&folder);
    assert!(matches!(err, AtomicFileError::Create { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&folder.display().to_string()), "{text}");
    assert!(text.contains("没有权限"), "{text}");
    assert!(text.contains("是否可写"), "{text}");
    assert_eq!(names, ["台账.jsonl"], "nothing beside the target");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "之前的备份\n");
}
