//! A file replaced in a directory the process may not write to: a clear message, the
//! target as it was, nothing half-written beside it (`yuqing::atomic_file`).

mod common;

use std::path::Path;

use yuqing::atomic_file::{Access, AtomicFileError, write};

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
    // Root (and a process with CAP_DAC_OVERRIDE) writes anyway: then there is nothing
    // to check here.
    let probe = folder.join("probe");
    if std::fs::write(&probe, "").is_ok() {
        std::fs::remove_file(&probe).unwrap();
        restore(&folder);
        common::skip::require_or_skip(
            "the error for a directory that is not writable",
            "this process may write to a mode 0500 directory (running as root?)",
        );
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
