//! The `yuqing` binary: parse arguments, load configuration, dispatch, map errors
//! to the exit codes of interface.md (0 ok, 1 failed, 2 usage/config, 3 daemon unreachable).

use std::process::ExitCode;

use clap::Parser;
use yuqing::cli::{Cli, CliError, Command, FeedsCommand, incidents};
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
    let not_wired = |name: &str| {
        Err(CliError::usage(format!(
            "命令 {name} 尚未接入（配置 {:?}）",
            config.path
        )))
    };
    match cli.command {
        Command::Run => not_wired("run"),

        Command::Feeds(FeedsCommand::Check(_args)) => not_wired("feeds check"),

        Command::Classify(_args) => not_wired("classify"),

        Command::List(args) => incidents::list(&config, &args),
        Command::Show(args) => incidents::show(&config, &args),
        Command::Ack(args) => incidents::ack(&config, &args),
        Command::Milestone(args) => incidents::milestone(&config, &args),
        Command::Level(args) => incidents::level(&config, &args),
        Command::Assign(args) => incidents::assign(&config, &args),
        Command::Close(args) => incidents::close(&config, &args),
        Command::Dismiss(args) => incidents::dismiss(&config, &args),
        Command::Merge(args) => incidents::merge(&config, &args),
        Command::Export(args) => incidents::export(&config, &args),
        Command::Status(args) => incidents::status(&config, &args),

        Command::Digest(_args) => not_wired("digest"),
    }
}
