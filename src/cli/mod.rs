//! The command line: argument definitions (clap) and one handler module per
//! group of commands. Handlers return [`CliError`], which carries the exit code of
//! `interface.md`: 1 the operation failed, 2 usage or configuration, 3 daemon unreachable.

pub mod calendar;
pub mod classify;
pub mod demo;
pub mod digest;
pub mod export;
pub mod feeds;
pub mod import;
pub mod incidents;
pub mod policies;
pub mod replies;
pub mod verify;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// 舆情监测守护进程：轮询信息源、研判、台账、回应时限提醒、舆情日报。
#[derive(Debug, Parser)]
#[command(name = "yuqing", version, propagate_version = true)]
pub struct Cli {
    /// 配置文件（默认：$YUQING_CONFIG，其次 ./yuqing.toml，否则内置默认配置）
    #[arg(long, global = true, value_name = "文件")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// 运行守护进程：轮询、研判、台账、计时、发信、控制接口
    Run,
    /// 离线演示：本机模拟信息源，压缩时限，约一分半钟走完立案、提醒、签收、官方回应、效果评估、日报
    Demo(DemoArgs),
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
    /// 办结（尚有未完成的节点时须 --reason；关注级事件办结即归档）
    Close(CloseArgs),
    /// 标记为误报
    Dismiss(DismissArgs),
    /// 把一个事件并入另一个
    Merge(MergeArgs),
    /// 撤销识别有误的官方回应（它完成的节点恢复计时）
    Unlink(UnlinkArgs),
    /// 舆情日报
    Digest(DigestArgs),
    /// 导出全部台账
    Export(ExportArgs),
    /// 守护进程运行状态
    Status(JsonFlag),
    /// 校验台账完整性（操作记录校验链、条数）；需先停止守护进程
    Verify,
    /// 从 export 的 JSONL 台账备份重建台账（恢复）；需先停止守护进程
    Import(ImportArgs),
    /// 留言板待答复的留言（超期的在前）
    Replies(ListArgs),
    /// 文件时限：待发布政策解读等材料的文件（超期的在前）
    Policies(PoliciesArgs),
    /// 官方节假日与工作日（国务院办公厅节假日安排，含调休；无需守护进程）
    #[command(subcommand)]
    Calendar(CalendarCommand),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// 演示目录：配置、台账数据和邮件（mail/ 下的 .eml）都写在这里；须为空目录、新目录或上次的演示目录
    #[arg(long, value_name = "目录", default_value = "demo")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// `yuqing export --format jsonl` 的输出文件；可给多个：先给全量备份，再按时间顺序给其后的增量备份（export --since），后面文件中的事件、留言和文件记录替换前面文件中的同一条
    #[arg(value_name = "文件", required = true)]
    pub files: Vec<PathBuf>,
    /// 导入到这个数据目录（默认：配置中的 data_dir）
    #[arg(long, value_name = "目录")]
    pub data_dir: Option<PathBuf>,
    /// 台账不为空时，先清空现有台账（事件、操作记录、时限、事件通知）再导入
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// 输出 DATE 之后第 N 个工作日的日期（YYYY-MM-DD；DATE 当天不计）
    AddWorkdays {
        /// 起算日期 YYYY-MM-DD
        date: String,
        /// 工作日数
        n: u32,
    },
    /// 列出某年的放假安排和调休上班日
    Show {
        /// 年份，如 2025
        year: i32,
    },
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
    /// 按留言板帖子研判（用模型中留言板的一节：权重、校准和阈值），默认按新闻
    #[arg(long)]
    pub board: bool,
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
pub struct PoliciesArgs {
    /// 包括已发布和首次轮询前已超期的文件
    #[arg(long)]
    pub all: bool,
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
    /// 最多列出的事件数（表格默认 100；JSON 默认不限）
    #[arg(long, value_name = "条数")]
    pub limit: Option<usize>,
    /// 只列出此后有变动的事件：日期（2026-11-24，北京时间零点）、北京时间或 RFC 3339
    #[arg(long, value_name = "时间")]
    pub since: Option<String>,
    /// 只列出该责任单位的事件
    #[arg(long, value_name = "单位")]
    pub unit: Option<String>,
    /// 只列出该等级的事件：I、II、III、IV 或 watch
    #[arg(long, value_enum, value_name = "等级")]
    pub level: Option<LevelArg>,
    /// 只列出该状态的事件：new、acknowledged、responded、closed、dismissed、merged
    #[arg(long, value_enum, value_name = "状态")]
    pub status: Option<StatusArg>,
}

/// `--level` of `list`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LevelArg {
    #[value(name = "I")]
    I,
    #[value(name = "II")]
    Ii,
    #[value(name = "III")]
    Iii,
    #[value(name = "IV")]
    Iv,
    #[value(name = "watch")]
    Watch,
}

impl From<LevelArg> for crate::model::Level {
    fn from(level: LevelArg) -> Self {
        match level {
            LevelArg::I => crate::model::Level::I,
            LevelArg::Ii => crate::model::Level::II,
            LevelArg::Iii => crate::model::Level::III,
            LevelArg::Iv => crate::model::Level::IV,
            LevelArg::Watch => crate::model::Level::Watch,
        }
    }
}

/// `--status` of `list`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    New,
    Acknowledged,
    Responded,
    Closed,
    Dismissed,
    Merged,
}

impl From<StatusArg> for crate::model::Status {
    fn from(status: StatusArg) -> Self {
        match status {
            StatusArg::New => crate::model::Status::New,
            StatusArg::Acknowledged => crate::model::Status::Acknowledged,
            StatusArg::Responded => crate::model::Status::Responded,
            StatusArg::Closed => crate::model::Status::Closed,
            StatusArg::Dismissed => crate::model::Status::Dismissed,
            StatusArg::Merged => crate::model::Status::Merged,
        }
    }
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// 事件编号
    #[arg(value_name = "编号")]
    pub id: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AckArgs {
    /// 事件编号（可多个）
    #[arg(required = true, num_args = 1.., value_name = "编号")]
    pub ids: Vec<u64>,
    /// 操作人
    #[arg(long, value_name = "姓名")]
    pub by: String,
    #[arg(long, value_name = "说明")]
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
    /// 事件编号
    #[arg(value_name = "编号")]
    pub id: u64,
    #[arg(value_enum)]
    pub milestone: MilestoneArg,
    #[arg(long, value_name = "姓名")]
    pub by: String,
    /// 发布地址
    #[arg(long)]
    pub url: Option<String>,
    #[arg(long, value_name = "说明")]
    pub note: Option<String>,
    /// 实际完成时间（默认现在），如 "2026-11-24 14:30"（北京时间）或 RFC 3339
    #[arg(long)]
    pub at: Option<String>,
    /// 确认第 N 条已识别的官方回应为该节点（时间、链接取自该回应）
    #[arg(long, value_name = "N", conflicts_with_all = ["at", "url"])]
    pub from_response: Option<u32>,
}

#[derive(Debug, Args)]
pub struct LevelArgs {
    /// 事件编号
    #[arg(value_name = "编号")]
    pub id: u64,
    /// I、II、III、IV 或 watch
    #[arg(value_name = "等级")]
    pub level: String,
    #[arg(long, value_name = "姓名")]
    pub by: String,
    #[arg(long, value_name = "理由")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct AssignArgs {
    /// 事件编号
    #[arg(value_name = "编号")]
    pub id: u64,
    /// 责任单位
    #[arg(value_name = "单位")]
    pub unit: String,
    #[arg(long, value_name = "姓名")]
    pub by: String,
}

#[derive(Debug, Args)]
pub struct CloseArgs {
    /// 事件编号
    #[arg(value_name = "编号")]
    pub id: u64,
    #[arg(long, value_name = "姓名")]
    pub by: String,
    #[arg(long, value_name = "说明")]
    pub note: Option<String>,
    /// 尚有未完成的节点时必填：为何在未完成时办结（这些节点计为未完成）
    #[arg(long, value_name = "理由")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct DismissArgs {
    /// 事件编号
    #[arg(value_name = "编号")]
    pub id: u64,
    #[arg(long, value_name = "姓名")]
    pub by: String,
    #[arg(long, value_name = "理由")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct UnlinkArgs {
    /// 事件编号
    #[arg(value_name = "编号")]
    pub id: u64,
    /// 回应编号（yuqing show 编号 中“官方回应”的序号）
    #[arg(value_name = "回应编号")]
    pub response: u32,
    #[arg(long, value_name = "姓名")]
    pub by: String,
    #[arg(long, value_name = "理由")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// 事件编号
    #[arg(value_name = "编号")]
    pub id: u64,
    /// 并入的事件编号
    #[arg(value_name = "目标编号")]
    pub into: u64,
    #[arg(long, value_name = "姓名")]
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
    /// 只导出此后有变动的事件、留言和文件记录（增量备份）：日期、北京时间或 RFC 3339
    #[arg(long, value_name = "时间")]
    pub since: Option<String>,
    /// 写入此文件（先写同目录下的临时文件 .文件名.partial-进程号，完整收到后才改名为此文件；导出失败时删除临时文件，进程被强行终止时可能留下它）；默认写到标准输出
    #[arg(long, short, value_name = "文件")]
    pub output: Option<PathBuf>,
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

/// Says on stderr that opening the database (offline: `verify`, `import`) upgraded its
/// data format: from now on an older release refuses it, so a rollback needs the
/// backup taken before the upgrade.
fn report_upgrade(store: &crate::store::Store, data_dir: &std::path::Path) {
    if let Some(from) = store.upgraded_from() {
        eprintln!(
            "注意：数据库 {} 的数据格式已从第 {from} 版升级为第 {} 版；此后旧版本的 yuqing 将拒绝打开它，需要回退时请换回升级前备份的数据目录（见 docs/operations.md“升级”）",
            data_dir.join("db").display(),
            crate::store::FORMAT_VERSION
        );
    }
}

/// The command line with Chinese help: clap's headings, its help and version flags and
/// its usage line are English by default.
pub fn command() -> clap::Command {
    let mut command = chinese_help(<Cli as clap::CommandFactory>::command(), true);
    command.build();
    chinese_usage(&mut command);
    command
}

/// Replaces clap's usage line, which writes `[OPTIONS]` whatever the headings say, by
/// the same line with `[选项]`, in every (built) command.
fn chinese_usage(command: &mut clap::Command) {
    let usage = command.render_usage().to_string();
    let usage = usage
        .strip_prefix("Usage: ")
        .unwrap_or(&usage)
        .replace("[OPTIONS]", "[选项]");
    *command = std::mem::take(command).override_usage(usage);
    for sub in command.get_subcommands_mut() {
        chinese_usage(sub);
    }
}

fn chinese_help(command: clap::Command, root: bool) -> clap::Command {
    use clap::{Arg, ArgAction};
    let mut command = command;
    if root {
        command = command.disable_version_flag(true).arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help("显示版本"),
        );
    }
    command
        .help_template("{about-with-newline}\n用法：{usage}\n\n{all-args}{after-help}")
        .subcommand_help_heading("命令")
        .subcommand_value_name("命令")
        .disable_help_subcommand(true)
        .disable_help_flag(true)
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help("显示帮助"),
        )
        .mut_args(|arg| {
            let heading = if arg.is_positional() {
                "参数"
            } else {
                "选项"
            };
            arg.help_heading(heading)
        })
        .mut_subcommands(|sub| chinese_help(sub, false))
}

/// A clap usage error as one Chinese line (clap's own text is English), or `None`
/// for help and version output, which clap prints itself.
pub fn usage_message(err: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ErrorKind};
    let get = |kind: ContextKind| err.get(kind).map(|v| v.to_string());
    let arg = get(ContextKind::InvalidArg).unwrap_or_default();
    let value = get(ContextKind::InvalidValue).unwrap_or_default();
    let mut message = match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => return None,
        ErrorKind::InvalidValue if value.is_empty() => format!("参数 {arg} 缺少取值"),
        ErrorKind::InvalidValue => format!("参数 {arg} 的取值“{value}”无效"),
        ErrorKind::ValueValidation => format!("参数 {arg} 的取值“{value}”格式不对"),
        ErrorKind::UnknownArgument => format!("无法识别的参数“{arg}”"),
        ErrorKind::InvalidSubcommand => format!(
            "没有“{}”这个命令",
            get(ContextKind::InvalidSubcommand).unwrap_or_default()
        ),
        ErrorKind::MissingSubcommand => "缺少命令".to_string(),
        ErrorKind::MissingRequiredArgument => format!("缺少必需的参数：{arg}"),
        ErrorKind::ArgumentConflict => format!(
            "参数 {arg} 不能与 {} 同时使用",
            get(ContextKind::PriorArg).unwrap_or_default()
        ),
        ErrorKind::NoEquals => format!("参数 {arg} 的取值须用等号给出，如 {arg}=值"),
        ErrorKind::TooManyValues => format!("参数 {arg} 给出的取值过多（“{value}”）"),
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => {
            format!("参数 {arg} 的取值个数不对")
        }
        ErrorKind::InvalidUtf8 => "参数不是有效的 UTF-8 文本".to_string(),
        _ => "命令行参数有误".to_string(),
    };
    if let Some(valid) = err.get(ContextKind::ValidValue) {
        message.push_str(&format!("；可选值：{}", list(valid)));
    }
    if let Some(suggested) = err
        .get(ContextKind::SuggestedArg)
        .or_else(|| err.get(ContextKind::SuggestedSubcommand))
        .or_else(|| err.get(ContextKind::SuggestedValue))
    {
        message.push_str(&format!("（是否想用 {}？）", list(suggested)));
    }
    message.push_str(&format!(
        "；用法见 {} --help",
        command_path(std::env::args())
    ));
    Some(message)
}

/// A context value that may be a list, as `a、b、c`.
fn list(value: &clap::error::ContextValue) -> String {
    use clap::error::ContextValue;
    match value {
        ContextValue::Strings(items) => items.join("、"),
        other => other.to_string(),
    }
}

/// The command a command line names (`yuqing feeds check`), for pointing at its help.
fn command_path(args: impl IntoIterator<Item = String>) -> String {
    let mut command = command();
    let mut path = vec!["yuqing".to_string()];
    let mut args = args.into_iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--config" {
            args.next();
            continue;
        }
        if arg.starts_with('-') {
            continue;
        }
        let Some(sub) = command.find_subcommand(&arg).cloned() else {
            break;
        };
        path.push(arg);
        command = sub;
    }
    path.join(" ")
}

#[cfg(test)]
mod tests {
    /// Every help page, the root's and each subcommand's, as `--help` prints it.
    fn help_pages(command: &mut clap::Command, pages: &mut Vec<(String, String)>) {
        let name = command.get_bin_name().unwrap_or("yuqing").to_string();
        pages.push((name, command.render_help().to_string()));
        for sub in command.get_subcommands_mut() {
            help_pages(sub, pages);
        }
    }

    /// Issue 11.10: help has no English headings, usage words or placeholders.
    #[test]
    fn help_is_chinese_throughout() {
        let mut pages = Vec::new();
        help_pages(&mut super::command(), &mut pages);
        assert!(pages.len() > 20, "{} pages", pages.len());
        for (name, page) in &pages {
            assert!(page.contains("用法："), "{name}:\n{page}");
            for english in [
                "Usage",
                "[OPTIONS]",
                "<COMMAND>",
                "Options",
                "Commands",
                "Arguments",
                "Print",
            ] {
                assert!(!page.contains(english), "{name}: {english}\n{page}");
            }
        }
        let root = &pages[0].1;
        assert!(root.contains("用法：yuqing [选项] <命令>"), "{root}");
    }
}
