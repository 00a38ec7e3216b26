//! The crash test's short form (the long one is `examples/crashtest.rs`): 10 SIGKILLs
//! of the real daemon at random moments while a driver acknowledges and records
//! milestones; nothing confirmed is lost, every notice is delivered, at most one
//! duplicate mail per crash.

mod common;

use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_kills_lose_nothing_and_duplicate_at_most_once_per_crash() {
    let report = common::crash::run(
        Path::new(env!("CARGO_BIN_EXE_yuqing")),
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("dictionaries"),
        10,
    )
    .await;
    eprintln!("{report:?}");
    assert_eq!(report.kills, 10);
    assert!(report.confirmed > 0, "the driver made changes: {report:?}");
    assert_eq!(report.lost, 0, "confirmed changes lost: {report:?}");
    assert_eq!(report.undelivered, 0, "every notice delivered: {report:?}");
    assert!(report.mails > 0, "{report:?}");
    assert!(
        report.duplicates <= report.kills,
        "at most one duplicate per crash: {report:?}"
    );
}
