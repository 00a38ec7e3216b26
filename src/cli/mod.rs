//! The command line: argument definitions (clap) and one handler module per
//! group of commands. Handlers return [`CliError`], which carries the exit code of
//! `interface.md`: 1 the operation failed, 2 usage or configuration, 3 daemon unreachable.

pub mod classify;
pub mod digest;
pub mod feeds;
pub mod incidents;
pub mod verify;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// 舆情监测守护进程：轮询信息源、研判、台账、回应时限提醒、舆情日报。
#[derive(Debug, Parser)]
#[command(name = "yuqing", version, about, propagate_version = true)]
pub struct Cli {
    /// 配置文件（默认：$YUQING_CONFIG，其次 ./yuqing.toml，否则内置默认配置）
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// 运行守护进程：轮询、研判、台账、计时、发信、控制接口
    Run,
    /// 信息源
    #[command(subcommand)]
    Feeds(FeedsCommand),
    /// 对文本逐行研判（无需守护进程）
    Classify(ClassifyArgs),
    /// 列出未办结的舆情事件，最紧迫的在前
    List(ListArgs),
    /// 查看一个事件：条目、时限、操作记录
    Show(ShowArgs),
    /// 签收
    Ack(AckArgs),
    /// 记录节点：statement 发布权威信息 / press 新闻发布会 / response 回应
    Milestone(MilestoneArgs),
    /// 调整等级（时限随之重算）
    Level(LevelArgs),
    /// 更换责任单位
    Assign(AssignArgs),
    /// 办结
    Close(CloseArgs),
    /// 标记为误报
    Dismiss(DismissArgs),
    /// 把一个事件并入另一个
    Merge(MergeArgs),
    /// 舆情日报
    Digest(DigestArgs),
    /// 导出全部台账
    Export(ExportArgs),
    /// 守护进程运行状态
    Status(JsonFlag),
    /// 校验台账完整性（操作记录校验链、条数）；需先停止守护进程
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum FeedsCommand {
    /// 立即抓取每个信息源一次，不入库，报告将会收录的内容
    Check(FeedsCheckArgs),
}

#[derive(Debug, Args)]
pub struct FeedsCheckArgs {
    /// 只检查这个信息源
    #[arg(long, value_name = "ID")]
    pub source: Option<String>,
    /// 每个信息源输出一行 JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// 输出 JSON 行
    #[arg(long)]
    pub json: bool,
    /// 输入文件（默认标准输入）：JSON 行 {"id","title","body"}，或纯文本行
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// 输出 JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// 包括已办结、误报和已合并的事件
    #[arg(long)]
    pub all: bool,
    /// 输出 JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub id: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AckArgs {
    #[arg(required = true, num_args = 1..)]
    pub ids: Vec<u64>,
    /// 操作人
    #[arg(long)]
    pub by: String,
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MilestoneArg {
    Statement,
    Press,
    Response,
}

#[derive(Debug, Args)]
pub struct MilestoneArgs {
    pub id: u64,
    #[arg(value_enum)]
    pub milestone: MilestoneArg,
    #[arg(long)]
    pub by: String,
    /// 发布地址
    #[arg(long)]
    pub url: Option<String>,
    #[arg(long)]
    pub note: Option<String>,
    /// 实际完成时间（默认现在），如 "2026-11-24 14:30"（北京时间）或 RFC 3339
    #[arg(long)]
    pub at: Option<String>,
}

#[derive(Debug, Args)]
pub struct LevelArgs {
    pub id: u64,
    /// I、II、III、IV 或 watch
    pub level: String,
    #[arg(long)]
    pub by: String,
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct AssignArgs {
    pub id: u64,
    pub unit: String,
    #[arg(long)]
    pub by: String,
}

#[derive(Debug, Args)]
pub struct CloseArgs {
    pub id: u64,
    #[arg(long)]
    pub by: String,
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Args)]
pub struct DismissArgs {
    pub id: u64,
    #[arg(long)]
    pub by: String,
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    pub id: u64,
    pub into: u64,
    #[arg(long)]
    pub by: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DigestFormat {
    Text,
    Html,
    Json,
}

#[derive(Debug, Args)]
pub struct DigestArgs {
    /// 日期 YYYY-MM-DD（北京时间的自然日）
    #[arg(long)]
    pub date: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: DigestFormat,
    /// 立即发送给配置的收件人
    #[arg(long)]
    pub send: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: ExportFormat,
}

/// A failed command: what to print (Chinese, one line) and the exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    /// Exit 1: the operation failed.
    pub fn failed(message: impl Into<String>) -> Self {
        CliError {
            code: 1,
            message: message.into(),
        }
    }
    /// Exit 2: usage or configuration error.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: 2,
            message: message.into(),
        }
    }
    /// Exit 3: the daemon is not reachable.
    pub fn unreachable(message: impl Into<String>) -> Self {
        CliError {
            code: 3,
            message: message.into(),
        }
    }
}

impl From<crate::config::ConfigError> for CliError {
    fn from(err: crate::config::ConfigError) -> Self {
        CliError::usage(err.to_string())
    }
}
