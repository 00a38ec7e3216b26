//! The crash test's long form: `cargo build --release && cargo run --release
//! --example crashtest -- --kills 100`. Kills the release daemon (the `yuqing`
//! binary next to this example's folder) with SIGKILL at random moments and reports
//! kills survived, confirmed changes lost, mails and duplicates. Exit 1 on any loss,
//! undelivered notice or more than one duplicate per crash.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let mut kills = 100;
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().and_then(|n| n.parse().ok())) {
            ("--kills", Some(n)) => kills = n,
            _ => {
                eprintln!("用法：crashtest [--kills N]");
                return std::process::ExitCode::from(2);
            }
        }
    }
    // target/<profile>/examples/crashtest → target/<profile>/yuqing
    let bin: PathBuf = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("yuqing")))
        .unwrap_or_default();
    if !bin.is_file() {
        eprintln!(
            "找不到守护进程程序 {}；请先运行 cargo build --release",
            bin.display()
        );
        return std::process::ExitCode::from(2);
    }
    let dictionaries = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dictionaries");
    let started = std::time::Instant::now();
    let report = common::crash::run(&bin, &dictionaries, kills).await;
    println!(
        "kills survived: {}; confirmed changes: {}; lost: {}; mails: {}; duplicates: {}; undelivered: {}; {:.0} s",
        report.kills,
        report.confirmed,
        report.lost,
        report.mails,
        report.duplicates,
        report.undelivered,
        started.elapsed().as_secs_f64()
    );
    if report.lost == 0 && report.undelivered == 0 && report.duplicates <= report.kills {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
