//! `yuqing verify`: checks the ledger's integrity offline (the daemon checks it at
//! every start too). Exit 0 intact, 1 damaged or unreadable, with what is damaged.

use super::CliError;
use crate::config::Config;
use crate::store::{Store, StoreError};

pub fn run(config: &Config) -> Result<(), CliError> {
    let store = Store::open_unchecked(&config.data_dir).map_err(|err| match err {
        StoreError::Locked { .. } => CliError::failed(format!(
            "{err}。守护进程每次启动时都会校验台账；如需现在校验，请先停止守护进程再运行 yuqing verify"
        )),
        other => CliError::failed(other.to_string()),
    })?;
    super::report_upgrade(&store, &config.data_dir);
    let report = store
        .verify_audit_guarded()
        .map_err(|e| CliError::failed(e.to_string()))?;
    if report.intact() {
        println!("{report}");
        Ok(())
    } else {
        Err(CliError::failed(report.to_string()))
    }
}
