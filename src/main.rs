//! The `yuqing` binary: parse arguments, load configuration, dispatch, map errors
//! to the exit codes of interface.md (0 ok, 1 failed, 2 usage/config, 3 daemon unreachable).

use std::process::ExitCode;

use clap::FromArgMatches;
use yuqing::cli::{Cli, CliError, Command, FeedsCommand, digest, export, incidents};
use yuqing::config::Config;

/// jemalloc instead of glibc malloc: under the intake's write bursts glibc's heap
/// grew and kept the memory (RSS +3.5 MiB per 1,000 items stored, never returned);
/// jemalloc decays freed pages back to the system (docs/performance.md "Memory").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main` (the C string `malloc_conf`; with the
/// crate's default `_rjem_` prefix the symbol is `_rjem_malloc_conf`, and the
/// environment variable `_RJEM_MALLOC_CONF` still overrides it at run time).
/// Tuned for a 2-core server (docs/performance.md "Memory"):
/// - `narenas:2`: one arena per core instead of jemalloc's 4 per core; each arena
///   keeps its own partly used pages, so 8 arenas hold more memory for the same heap;
/// - `background_thread:true`: freed pages go back to the system on time even when
///   the daemon is idle after a burst (without it decay only runs inside allocations);
/// - `dirty_decay_ms:1000`: freed pages are returned after 1 s instead of 10 s, so the
///   peak of a burst does not linger (0, at once, cost 38 % more CPU for 15 MiB less);
/// - `tcache:false`: no per-thread caches; each of the blocking pool's up to 32
///   threads kept its own, 16 MiB at 2,000 sources, for no measurable CPU.
#[cfg(not(target_env = "msvc"))]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &u8 =
    &b"narenas:2,background_thread:true,dirty_decay_ms:1000,tcache:false\0"[0];

fn main() -> ExitCode {
    let cli = match yuqing::cli::command()
        .try_get_matches()
        .and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches))
    {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("错误：{err}");
            ExitCode::from(err.code)
        }
    }
}

/// Help and version go to stdout as clap renders them (exit 0); a usage mistake is
/// one Chinese line on stderr (exit 2).
fn usage_error(err: &clap::Error) -> ExitCode {
    match yuqing::cli::usage_message(err) {
        None => {
            let _ = err.print();
            ExitCode::from(if err.use_stderr() { 2 } else { 0 })
        }
        Some(message) => {
            eprintln!("错误：{message}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), CliError> {
    // `run` and `feeds check` need the sources; every other command needs only the
    // settings, so it works in a folder without `feeds.toml` (and the daemon's
    // commands, with YUQING_API and YUQING_TOKEN, without any configuration file).
    // The demo writes its own configuration.
    if let Command::Demo(args) = &cli.command {
        return yuqing::cli::demo::run(args);
    }
    let config = match cli.command {
        Command::Run | Command::Feeds(_) => Config::resolve(cli.config.as_deref())?,
        _ => Config::resolve_settings(cli.config.as_deref())?,
    };
    match cli.command {
        Command::Run => run(config),
        Command::Demo(_) => unreachable!("handled above"),

        Command::Feeds(FeedsCommand::Check(args)) => yuqing::cli::feeds::check(&config, &args),

        Command::Classify(args) => yuqing::cli::classify::run(&config, &args),

        Command::List(args) => incidents::list(&config, &args),
        Command::Show(args) => incidents::show(&config, &args),
        Command::Ack(args) => incidents::ack(&config, &args),
        Command::Milestone(args) => incidents::milestone(&config, &args),
        Command::Level(args) => incidents::level(&config, &args),
        Command::Assign(args) => incidents::assign(&config, &args),
        Command::Close(args) => incidents::close(&config, &args),
        Command::Dismiss(args) => incidents::dismiss(&config, &args),
        Command::Merge(args) => incidents::merge(&config, &args),
        Command::Unlink(args) => incidents::unlink(&config, &args),
        Command::Export(args) => export::export(&config, &args),
        Command::Status(args) => incidents::status(&config, &args),

        Command::Digest(args) => digest::digest(&config, &args),
        Command::Replies(args) => yuqing::cli::replies::run(&config, &args),
        Command::Policies(args) => yuqing::cli::policies::run(&config, &args),

        Command::Calendar(command) => yuqing::cli::calendar::run(&config, &command),
        Command::Verify => yuqing::cli::verify::run(&config),
        Command::Import(args) => yuqing::cli::import::run(&config, &args),
    }
}

/// `yuqing run`: logging (RUST_LOG, default `info`), a multi-threaded runtime, the daemon.
fn run(config: Config) -> Result<(), CliError> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(yuqing::daemon::BLOCKING_THREADS)
        .build()
        .map_err(|e| CliError::failed(format!("无法启动异步运行时：{e}")))?;
    let result = runtime.block_on(yuqing::daemon::run(config));
    // Blocking tasks left over (a parse in progress) must not hold up the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    result.map_err(|e| {
        // Broken dictionaries are a configuration problem (exit 2), like a bad config file.
        if e.downcast_ref::<yuqing::classify::ClassifyError>()
            .is_some()
            || e.downcast_ref::<yuqing::calendar::CalendarError>()
                .is_some()
        {
            CliError::usage(error_chain(&e))
        } else {
            CliError::failed(error_chain(&e))
        }
    })
}

/// An error and its causes on one line. Many of our messages already quote their
/// cause (so they read well alone); a cause already in the text is not repeated.
fn error_chain(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push('：');
            line.push_str(&cause);
        }
    }
    line
}
