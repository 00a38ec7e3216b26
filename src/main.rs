//! The `yuqing` binary: parse arguments, load configuration, dispatch, map errors
//! to the exit codes of interface.md (0 ok, 1 failed, 2 usage/config, 3 daemon unreachable).

use std::process::ExitCode;

use clap::Parser;
use yuqing::cli::{Cli, CliError};
use yuqing::config::Config;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { 2 } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("错误：{err}");
            ExitCode::from(err.code)
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), CliError> {
    let config = Config::resolve(cli.config.as_deref())?;
    // Each command's handler is wired in here as its module lands.
    Err(CliError::usage(format!(
        "命令尚未接入：{:?}（配置 {:?}）",
        cli.command, config.path
    )))
}
