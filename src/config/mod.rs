//! Configuration: `yuqing.toml` (the daemon) and `feeds.toml` (the sources).
//!
//! Loading never stops at the first mistake: every section and every source is
//! checked, and all problems come back together in [`ConfigError::Invalid`], each
//! naming its file, the source id where there is one, and what to change.
//! Relative paths inside a file are relative to that file's folder. Secrets are
//! never read from files, only from the environment variables the file names.

mod channels;
mod clocks;
mod duration;
mod retention;
mod sources;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use channels::check_channels;
pub use channels::{ChannelConfig, ChannelKind, MetricsConfig};
pub use clocks::ClockSwitch;
pub use duration::{HumanDuration, Window, parse_duration, parse_window};
pub use retention::{Keep, RetentionConfig};
pub use sources::{
    HtmlSpec, HttpMethod, JsonSpec, ReplySpec, SourceConfig, SourceKind, SourceRole,
    load_sources_str,
};

/// The built-in defaults: the shipped `yuqing.toml`, used when no file is found.
pub const DEFAULT_CONFIG: &str = include_str!("../../yuqing.toml");

/// One thing wrong in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// The source id, for problems inside one `[[source]]`.
    pub source: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(id) => write!(f, "{}：信息源 {id}：{}", self.file.display(), self.message),
            None => write!(f, "{}：{}", self.file.display(), self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("无法读取配置文件 {path}：{}；请检查路径和权限", crate::os_error::describe(.source))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("配置有 {} 处错误：\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

/// Whether loading a configuration also reads and checks its sources file.
#[derive(Debug, Clone, Copy)]
enum Sources {
    Read,
    Skip,
}

/// The whole configuration, resolved: paths absolute, sources loaded and checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from; `None` for the built-in defaults.
    pub path: Option<PathBuf>,
    pub feeds: PathBuf,
    pub dictionaries: PathBuf,
    pub data_dir: PathBuf,
    pub jurisdiction: Jurisdiction,
    pub api: ApiConfig,
    pub smtp: Option<SmtpConfig>,
    pub recipients: Recipients,
    /// Lead unit → its contact addresses. A unit with none falls back to `duty`.
    pub units: BTreeMap<String, Vec<String>>,
    pub policy: Policy,
    pub digest: DigestConfig,
    pub intake: IntakeConfig,
    pub daemon: DaemonConfig,
    /// `[[channel]]`: chat groups that also receive the notices of some roles.
    pub channels: Vec<ChannelConfig>,
    /// `[metrics]`: the Prometheus listener; `None` (the default) serves none.
    pub metrics: Option<MetricsConfig>,
    pub store: StoreConfig,
    /// `[retention]`: how long routine items are kept.
    pub retention: RetentionConfig,
    /// The working-day document clocks in force: `[policy] interpretation`'s 政策解读
    /// clock, then the `[[document_clock]]` entries (docs/policies.md).
    pub document_clocks: Vec<crate::policies::DocumentClock>,
    pub sources: Vec<SourceConfig>,
}

/// `[store]`: the database's memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The database's page cache, in bytes (sled's `cache_capacity`). It bounds what
    /// the store keeps in memory: a smaller cache reads from disk more often (slower
    /// `list --all`, digest and export over a large ledger), a larger one holds more
    /// of the database in RAM. sled's own default is 1 GiB.
    pub cache_bytes: u64,
}

/// The default `[store] cache_bytes`: 8 MiB. The daemon's reads are of recent keys
/// (new items, open incidents through their indexes), so a larger cache mostly holds
/// pages that are written once and not read again: at 2,000 sources 64 MiB cost about
/// 45 MiB of RSS more than 16 MiB for the same CPU, and 16 MiB 3-18 MiB more at the
/// first polls' peak than 8 MiB (docs/performance.md "Memory", rounds 2 and 5).
pub const DEFAULT_CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// The smallest `cache_bytes` accepted.
pub const MIN_CACHE_BYTES: u64 = 4 * 1024 * 1024;

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

/// `[daemon]`: the daemon's own liveness check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// A probe with no progress for this long is logged as an error, and systemd's
    /// watchdog is no longer pinged.
    pub watchdog: HumanDuration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            watchdog: HumanDuration::from_secs(120),
        }
    }
}

/// The file as written; every field has a documented default (see `yuqing.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_feeds")]
    feeds: PathBuf,
    #[serde(default = "default_dictionaries")]
    dictionaries: PathBuf,
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    #[serde(default)]
    jurisdiction: Option<toml::Value>,
    #[serde(default)]
    api: Option<toml::Value>,
    #[serde(default)]
    smtp: Option<toml::Value>,
    #[serde(default)]
    recipients: Option<toml::Value>,
    #[serde(default)]
    units: Option<toml::Value>,
    #[serde(default)]
    policy: Option<toml::Value>,
    #[serde(default)]
    digest: Option<toml::Value>,
    #[serde(default)]
    intake: Option<toml::Value>,
    #[serde(default)]
    daemon: Option<toml::Value>,
    #[serde(default)]
    channel: Option<toml::Value>,
    #[serde(default)]
    metrics: Option<toml::Value>,
    store: Option<toml::Value>,
    #[serde(default)]
    retention: Option<toml::Value>,
    #[serde(default)]
    document_clock: Option<toml::Value>,
}

fn default_feeds() -> PathBuf {
    "feeds.toml".into()
}
fn default_dictionaries() -> PathBuf {
    "dictionaries".into()
}
fn default_data_dir() -> PathBuf {
    "data".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Jurisdiction {
    /// The jurisdiction's name, e.g. 安丘市. Items naming it are local.
    pub name: String,
    /// Extra place names (beyond the dictionaries) that make an item local.
    pub places: Vec<String>,
    /// Whether incidents outside the jurisdiction are graded watch (关注, no clock).
    pub outside_as_watch: bool,
}

impl Default for Jurisdiction {
    fn default() -> Self {
        Jurisdiction {
            name: "安丘市".into(),
            places: Vec::new(),
            outside_as_watch: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub bind: SocketAddr,
    /// Must be true to bind to anything but a loopback address.
    pub allow_remote: bool,
    /// Connections served at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// A connection that moves no byte for this long is closed.
    pub idle_timeout: HumanDuration,
    /// Each request must be read and answered within this time.
    pub request_timeout: HumanDuration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 7390)),
            allow_remote: false,
            max_connections: 64,
            idle_timeout: HumanDuration::from_secs(30),
            request_timeout: HumanDuration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    #[serde(default = "default_smtp_host")]
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default = "default_smtp_security")]
    pub security: SmtpSecurity,
    #[serde(default = "default_from")]
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
    /// Name of the environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Per-connection timeout.
    #[serde(default = "default_smtp_timeout")]
    pub timeout: HumanDuration,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: default_smtp_host(),
            port: default_smtp_port(),
            security: default_smtp_security(),
            from: default_from(),
            username: None,
            password_env: None,
            timeout: default_smtp_timeout(),
        }
    }
}

fn default_smtp_host() -> String {
    "127.0.0.1".into()
}
fn default_smtp_port() -> u16 {
    25
}
fn default_smtp_security() -> SmtpSecurity {
    SmtpSecurity::None
}
fn default_smtp_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}
pub fn default_from() -> String {
    "舆情值班室 <yuqing@localhost>".into()
}

/// Roles → addresses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Recipients {
    pub duty: Vec<String>,
    pub propaganda: Vec<String>,
    pub office: Vec<String>,
    pub leaders: Vec<String>,
}

impl Default for Recipients {
    fn default() -> Self {
        Recipients {
            duty: vec!["duty@localhost".into()],
            propaganda: Vec::new(),
            office: Vec::new(),
            leaders: Vec::new(),
        }
    }
}

/// A role that receives mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Duty,
    Propaganda,
    Office,
    Leaders,
}

impl Recipients {
    pub fn of(&self, role: Role) -> &[String] {
        match role {
            Role::Duty => &self.duty,
            Role::Propaganda => &self.propaganda,
            Role::Office => &self.office,
            Role::Leaders => &self.leaders,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// 签收 window, every level with a clock.
    pub ack: HumanDuration,
    /// 发布权威信息 window, levels I and II.
    pub statement: HumanDuration,
    /// 新闻发布会 window, levels I and II.
    pub press: HumanDuration,
    /// 回应 window, levels III and IV.
    pub response: HumanDuration,
    /// Fractions of a window elapsed at which a reminder, then an escalation, go out.
    pub remind_at: Vec<f64>,
    /// How often an overdue notice repeats until the milestone is met.
    pub overdue_repeat: HumanDuration,
    /// Overdue notices one unanswered board post gets at most (docs/replies.md): a board
    /// that never answers is reported in the digest, not mailed about forever.
    pub reply_overdue_max: u32,
    /// The 政策解读 window of documents on `role = "policy"` sources (docs/policies.md);
    /// `"off"`: no such clock.
    pub interpretation: ClockSwitch,
    /// Overdue notices one unmet document clock (政策解读 …) gets at most.
    pub document_overdue_max: u32,
    /// Items about the same event within this window join one incident.
    pub incident_window: HumanDuration,
    /// A story carried by at least this many distinct sources …
    pub spread_sources: u32,
    /// … within this window is raised one level (0 sources: never).
    pub spread_window: HumanDuration,
    /// A watch (关注) incident with no new item for this long is filed (归档) by the system.
    pub watch_expiry: HumanDuration,
    /// A recognised official response meets its milestone (issue 12); false: it is
    /// recorded as a suggestion an officer confirms (`milestone … --from-response N`).
    pub auto_milestones: bool,
    /// 效果评估: items in this window before the first response are compared with
    /// those in the same window after it.
    pub effect_window: HumanDuration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            ack: HumanDuration::from_secs(30 * 60),
            statement: HumanDuration::from_secs(5 * 3600),
            press: HumanDuration::from_secs(24 * 3600),
            response: HumanDuration::from_secs(48 * 3600),
            remind_at: vec![0.6, 0.8],
            overdue_repeat: HumanDuration::from_secs(3600),
            reply_overdue_max: 3,
            interpretation: ClockSwitch::default(),
            document_overdue_max: 3,
            incident_window: HumanDuration::from_secs(72 * 3600),
            spread_sources: 5,
            spread_window: HumanDuration::from_secs(6 * 3600),
            watch_expiry: HumanDuration::from_secs(7 * 86400),
            auto_milestones: true,
            effect_window: HumanDuration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigestConfig {
    /// Local time (Asia/Shanghai), `HH:MM`.
    pub at: String,
    /// Roles that receive it.
    pub to: Vec<Role>,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            at: "08:00".into(),
            to: vec![Role::Leaders, Role::Office],
        }
    }
}

impl DigestConfig {
    /// The configured time of day; validated at load, so this cannot fail afterwards.
    pub fn time_of_day(&self) -> chrono::NaiveTime {
        chrono::NaiveTime::parse_from_str(&self.at, "%H:%M").unwrap_or_default()
    }
}

/// How sources are fetched. Every value is a default a source may not override.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    pub user_agent: String,
    pub connect_timeout: HumanDuration,
    /// Whole request, body included.
    pub timeout: HumanDuration,
    /// Largest body accepted, after decompression, in bytes.
    pub max_body_bytes: u64,
    pub max_redirects: usize,
    /// Fetches in flight at once, all hosts.
    pub concurrency: usize,
    /// Fetches in flight at once to one host.
    pub per_host: usize,
    /// Random spread added to each interval, as a fraction of it.
    pub jitter: f64,
    /// Longest back-off after failures.
    pub max_backoff: HumanDuration,
    /// A source failing this long becomes a recorded source-health problem.
    pub failing_after: HumanDuration,
    /// Items taken from one document per poll, in document order (feeds and boards
    /// list the newest first); the rest are dropped with a logged warning.
    pub max_items_per_poll: usize,
    /// Text of one item that classification reads, in bytes: the title (up to
    /// [`TITLE_TEXT_BYTES`]) then the start of the body. The item is stored whole.
    pub max_text_bytes: usize,
}

/// The smallest `max_body_bytes` accepted: a feed with one short item.
pub const MIN_BODY_BYTES: u64 = 1024;
/// The smallest `max_text_bytes` accepted: a title and the first paragraph.
pub const MIN_TEXT_BYTES: usize = 4096;
/// Most bytes of a title that classification reads (a real title is under 200).
pub const TITLE_TEXT_BYTES: usize = 2048;

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig {
            user_agent: format!(
                "yuqing/{} (public-opinion monitor; +https://github.com/yuqing-gov/yuqing)",
                env!("CARGO_PKG_VERSION")
            ),
            connect_timeout: HumanDuration::from_secs(10),
            timeout: HumanDuration::from_secs(30),
            max_body_bytes: 8 * 1024 * 1024,
            max_redirects: 5,
            concurrency: 32,
            per_host: 2,
            jitter: 0.1,
            max_backoff: HumanDuration::from_secs(6 * 3600),
            failing_after: HumanDuration::from_secs(3600),
            max_items_per_poll: 500,
            max_text_bytes: 64 * 1024,
        }
    }
}

impl Config {
    /// Resolves the configuration the way `interface.md` says: `--config FILE`,
    /// else `$YUQING_CONFIG`, else `./yuqing.toml` when present, else built-in defaults.
    pub fn resolve(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        Config::resolve_with(explicit, Sources::Read)
    }

    /// Like [`Config::resolve`], but the sources file is not read (`sources` stays
    /// empty): for commands that need only the settings, such as the control API's
    /// address or the dictionaries, and must work in a folder without `feeds.toml`.
    pub fn resolve_settings(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        Config::resolve_with(explicit, Sources::Skip)
    }

    fn resolve_with(explicit: Option<&Path>, sources: Sources) -> Result<Config, ConfigError> {
        if let Some(path) = explicit {
            return Config::load_with(path, sources);
        }
        if let Some(path) = std::env::var_os("YUQING_CONFIG").filter(|p| !p.is_empty()) {
            return Config::load_with(Path::new(&path), sources);
        }
        let local = Path::new("yuqing.toml");
        if local.exists() {
            return Config::load_with(local, sources);
        }
        let cwd = std::env::current_dir().map_err(|source| ConfigError::Read {
            path: ".".into(),
            source,
        })?;
        Config::parse(DEFAULT_CONFIG, None, &cwd, sources)
    }

    /// Loads a configuration file and the sources file it names.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(path, Sources::Read)
    }

    fn load_with(path: &Path, sources: Sources) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Config::parse(&text, Some(path), &base, sources)
    }

    /// Parses configuration text and reads the sources file it names; `base` is the
    /// folder relative paths start from.
    pub fn from_str(text: &str, path: Option<PathBuf>, base: &Path) -> Result<Config, ConfigError> {
        Config::parse(text, path, base, Sources::Read)
    }

    fn parse(
        text: &str,
        path: Option<PathBuf>,
        base: &Path,
        read_sources: Sources,
    ) -> Result<Config, ConfigError> {
        let file = path.clone().unwrap_or_else(|| "（内置默认配置）".into());
        let mut problems = Vec::new();
        let problem = |problems: &mut Vec<Problem>, message: String| {
            problems.push(Problem {
                file: file.clone(),
                source: None,
                message,
            })
        };

        let raw: RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(err) => {
                problem(&mut problems, toml_message(&err, text));
                return Err(ConfigError::Invalid(problems));
            }
        };

        let jurisdiction: Jurisdiction =
            section(&mut problems, &file, "jurisdiction", raw.jurisdiction);
        let api: ApiConfig = section(&mut problems, &file, "api", raw.api);
        let smtp: Option<SmtpConfig> = raw
            .smtp
            .map(|value| section(&mut problems, &file, "smtp", Some(value)));
        let recipients: Recipients = section(&mut problems, &file, "recipients", raw.recipients);
        let units: BTreeMap<String, Vec<String>> =
            section(&mut problems, &file, "units", raw.units);
        let policy: Policy = section(&mut problems, &file, "policy", raw.policy);
        let digest: DigestConfig = section(&mut problems, &file, "digest", raw.digest);
        let intake: IntakeConfig = section(&mut problems, &file, "intake", raw.intake);
        let daemon: DaemonConfig = section(&mut problems, &file, "daemon", raw.daemon);
        let channels: Vec<ChannelConfig> = section(&mut problems, &file, "channel", raw.channel);
        check_channels(&mut problems, &file, &channels, &recipients);
        let metrics: Option<MetricsConfig> = raw
            .metrics
            .map(|value| section(&mut problems, &file, "metrics", Some(value)));
        if let Some(metrics) = &metrics
            && !metrics.bind.ip().is_loopback()
            && !metrics.allow_remote
        {
            problem(
                &mut problems,
                format!(
                    "[metrics] bind = \"{}\" 不是本机回环地址；如确需让其他机器抓取指标，请同时设置 allow_remote = true",
                    metrics.bind
                ),
            );
        }
        let store: StoreConfig = section(&mut problems, &file, "store", raw.store);
        let retention: RetentionConfig = section(&mut problems, &file, "retention", raw.retention);
        let entries = section(&mut problems, &file, "document_clock", raw.document_clock);
        let document_clocks =
            clocks::document_clocks(&mut problems, &file, policy.interpretation, entries);
        if store.cache_bytes < MIN_CACHE_BYTES {
            problem(
                &mut problems,
                format!(
                    "[store] cache_bytes = {} 过小：数据库每次读取都要访问磁盘；请设为至少 {MIN_CACHE_BYTES}（4 MiB，默认 {DEFAULT_CACHE_BYTES}，即 {} MiB）",
                    store.cache_bytes,
                    DEFAULT_CACHE_BYTES >> 20
                ),
            );
        }
        if daemon.watchdog.as_duration() < std::time::Duration::from_secs(4) {
            problem(
                &mut problems,
                "[daemon] watchdog 至少为 \"4s\"（默认 \"2m\"）".into(),
            );
        }

        if !api.bind.ip().is_loopback() && !api.allow_remote {
            problem(
                &mut problems,
                format!(
                    "[api] bind = \"{}\" 不是本机回环地址；如确需对外提供控制接口，请同时设置 allow_remote = true",
                    api.bind
                ),
            );
        }
        if api.max_connections == 0 {
            problem(
                &mut problems,
                "[api] max_connections 不能为 0；请设为至少 1（默认 64）".into(),
            );
        }
        for (key, value) in [
            ("idle_timeout", api.idle_timeout),
            ("request_timeout", api.request_timeout),
        ] {
            if value.as_duration().is_zero() {
                problem(
                    &mut problems,
                    format!("[api] {key} 不能为 0；请设为正的时长（默认 \"30s\"）"),
                );
            }
        }
        if let Some(smtp) = &smtp {
            if smtp.password_env.is_some() && smtp.username.is_none() {
                problem(
                    &mut problems,
                    "[smtp] 设置了 password_env 但没有 username；请补上 username".into(),
                );
            }
            if let Some(var) = &smtp.password_env
                && std::env::var_os(var).is_none()
            {
                problem(
                    &mut problems,
                    format!("[smtp] password_env 指向的环境变量 {var} 未设置；请在启动前设置它"),
                );
            }
        }
        for (role, list) in [
            ("duty", &recipients.duty),
            ("propaganda", &recipients.propaganda),
            ("office", &recipients.office),
            ("leaders", &recipients.leaders),
        ] {
            check_addresses(&mut problems, &file, &format!("[recipients] {role}"), list);
        }
        for (unit, list) in &units {
            check_addresses(&mut problems, &file, &format!("[units] {unit}"), list);
        }
        if recipients.duty.is_empty() {
            problem(
                &mut problems,
                "[recipients] duty 为空；值班室必须至少有一个收件地址".into(),
            );
        }
        check_policy(&mut problems, &file, &policy);
        if chrono::NaiveTime::parse_from_str(&digest.at, "%H:%M").is_err() {
            problem(
                &mut problems,
                format!(
                    "[digest] at = \"{}\" 不是 HH:MM 形式的时间（北京时间）",
                    digest.at
                ),
            );
        }
        if !(0.0..=1.0).contains(&intake.jitter) {
            problem(&mut problems, "[intake] jitter 应在 0 到 1 之间".into());
        }
        if intake.concurrency == 0 || intake.per_host == 0 {
            problem(
                &mut problems,
                "[intake] concurrency 和 per_host 必须大于 0".into(),
            );
        }
        for (key, value) in [
            ("timeout", intake.timeout),
            ("connect_timeout", intake.connect_timeout),
        ] {
            if value.as_duration() < std::time::Duration::from_secs(1) {
                problem(
                    &mut problems,
                    format!(
                        "[intake] {key} = \"{value}\" 过短：任何请求都会立即超时；请设为至少 1s（默认 {}）",
                        if key == "timeout" { "30s" } else { "10s" }
                    ),
                );
            }
        }
        if intake.max_body_bytes < MIN_BODY_BYTES {
            problem(
                &mut problems,
                format!(
                    "[intake] max_body_bytes = {} 过小：装不下任何订阅源或页面；请设为至少 {MIN_BODY_BYTES}（默认 8388608，即 8 MiB）",
                    intake.max_body_bytes
                ),
            );
        }
        if intake.max_items_per_poll == 0 {
            problem(
                &mut problems,
                "[intake] max_items_per_poll 必须大于 0（默认 500）".into(),
            );
        }
        if intake.max_text_bytes < MIN_TEXT_BYTES {
            problem(
                &mut problems,
                format!(
                    "[intake] max_text_bytes = {} 过小：伤亡数字可能在正文前几 KB；请设为至少 {MIN_TEXT_BYTES}（默认 65536）",
                    intake.max_text_bytes
                ),
            );
        }

        let feeds = base.join(&raw.feeds);
        let read = match read_sources {
            Sources::Read => Some(std::fs::read_to_string(&feeds)),
            Sources::Skip => None,
        };
        let sources = match read {
            None => Vec::new(),
            Some(Ok(text)) => match load_sources_str(&text, &feeds) {
                Ok(sources) => sources,
                Err(mut more) => {
                    problems.append(&mut more);
                    Vec::new()
                }
            },
            Some(Err(err)) => {
                problem(
                    &mut problems,
                    format!(
                        "无法读取信息源文件 {}：{}；请检查 feeds 设置",
                        feeds.display(),
                        crate::os_error::describe(&err)
                    ),
                );
                Vec::new()
            }
        };

        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        Ok(Config {
            path,
            feeds,
            dictionaries: base.join(&raw.dictionaries),
            data_dir: base.join(&raw.data_dir),
            jurisdiction,
            api,
            smtp,
            recipients,
            units,
            policy,
            digest,
            intake,
            daemon,
            channels,
            metrics,
            store,
            retention,
            document_clocks,
            sources,
        })
    }

    /// Addresses for a lead unit, falling back to duty when it has none.
    pub fn unit_addresses(&self, unit: Option<&str>) -> &[String] {
        unit.and_then(|u| self.units.get(u))
            .filter(|list| !list.is_empty())
            .map(Vec::as_slice)
            .unwrap_or(&self.recipients.duty)
    }

    /// The mail `From`, with the default when SMTP is not configured.
    pub fn mail_from(&self) -> String {
        self.smtp
            .as_ref()
            .map(|s| s.from.clone())
            .unwrap_or_else(default_from)
    }
}

/// Deserializes one section, recording a problem and falling back to the default on error.
fn section<T: serde::de::DeserializeOwned + Default>(
    problems: &mut Vec<Problem>,
    file: &Path,
    name: &str,
    value: Option<toml::Value>,
) -> T {
    let Some(value) = value else {
        return T::default();
    };
    match T::deserialize(value) {
        Ok(v) => v,
        Err(err) => {
            problems.push(Problem {
                file: file.to_path_buf(),
                source: None,
                message: format!("[{name}] {}", toml_message(&err, "")),
            });
            T::default()
        }
    }
}

/// A TOML error as one Chinese line: what is wrong, then where it is (line and
/// column of `text`, counted from 1) when toml knows.
pub(crate) fn toml_message(err: &toml::de::Error, text: &str) -> String {
    let message = chinese_toml_message(err.message().trim());
    match err.span().and_then(|span| line_column(text, span.start)) {
        Some((line, column)) => format!("{message}（第 {line} 行第 {column} 列）"),
        None => message,
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> Option<(usize, usize)> {
    let before = text.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((line, column))
}

/// toml's and serde's messages are English; the ones a person meets are put in
/// Chinese here. Our own messages (durations, addresses) are Chinese already and pass
/// through; an unrecognised English message becomes a generic one (the position
/// still points at the place).
fn chinese_toml_message(message: &str) -> String {
    static PATTERNS: std::sync::LazyLock<Vec<(regex::Regex, &'static str)>> =
        std::sync::LazyLock::new(|| {
            [
                (
                    r"^unknown field `([^`]*)`, expected (?:one of )?(.*)$",
                    "未知的键“$1”；可用的键：$2",
                ),
                (
                    r"^unknown field `([^`]*)`, there are no fields$",
                    "未知的键“$1”；这里不接受任何键",
                ),
                (
                    r"^unknown variant `([^`]*)`, expected (?:one of )?(.*)$",
                    "取值“$1”无效；可选：$2",
                ),
                (r"^missing field `([^`]*)`$", "缺少必需的键“$1”"),
                (r"^duplicate field `([^`]*)`$", "键“$1”重复"),
                (r"^duplicate key.*$", "键重复"),
                (
                    r"^invalid socket address syntax$",
                    "地址格式不对，应为 IP:端口，例如 127.0.0.1:7390",
                ),
                (r"^string values must be quoted.*$", "字符串取值须加引号"),
                (r"^unclosed table.*$", "表头缺少“]”"),
                (r"^unclosed array.*$", "数组缺少“]”"),
                (r"^invalid table header.*$", "表头格式不对"),
                (
                    r"^invalid type: (.*), expected (.*)$",
                    "类型不对：应为$2，实际为$1",
                ),
                (
                    r"^invalid value: (.*), expected (.*)$",
                    "取值不对：应为$2，实际为$1",
                ),
                (
                    r"^invalid length (\d+), expected (.*)$",
                    "长度不对：应为$2，实际为 $1",
                ),
            ]
            .into_iter()
            .map(|(pattern, replacement)| {
                (
                    regex::Regex::new(pattern).expect("valid pattern"),
                    replacement,
                )
            })
            .collect()
        });
    let message = message.replace('\n', " ");
    let Some((pattern, replacement)) = PATTERNS.iter().find(|(p, _)| p.is_match(&message)) else {
        return if message.chars().any(|c| c.is_ascii_alphabetic())
            && !message
                .chars()
                .any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c))
        {
            "TOML 格式错误".to_string()
        } else {
            message
        };
    };
    let chinese = pattern
        .replace(&message, *replacement)
        .replace("`, `", "、")
        .replace("` or `", "、")
        .replace('`', "");
    if chinese.starts_with("类型不对") || chinese.starts_with("取值不对") {
        kind_words(&chinese)
    } else {
        chinese
    }
}

/// serde's names of kinds (`a string`, `integer` …) in Chinese.
fn kind_words(text: &str) -> String {
    let mut text = text.to_string();
    for (english, chinese) in [
        ("a string", " 字符串"),
        ("string", " 字符串"),
        ("a boolean", " 布尔值（true/false）"),
        ("boolean", " 布尔值"),
        ("an integer", " 整数"),
        ("integer", " 整数"),
        ("u8", " 整数"),
        ("u16", " 整数"),
        ("u32", " 整数"),
        ("u64", " 整数"),
        ("usize", " 整数"),
        ("floating point", " 小数"),
        ("f64", " 小数"),
        ("a sequence", " 数组"),
        ("sequence", " 数组"),
        ("a map", " 表"),
        ("map", " 表"),
        ("struct ", " 表 "),
        ("a table", " 表"),
        ("a datetime", " 日期时间"),
        ("datetime", " 日期时间"),
        ("an array", " 数组"),
        ("array", " 数组"),
    ] {
        text = text.replace(english, chinese);
    }
    text.replace("  ", " ")
}

fn check_addresses(problems: &mut Vec<Problem>, file: &Path, what: &str, list: &[String]) {
    for address in list {
        if address.parse::<lettre::Address>().is_err()
            && address.parse::<lettre::message::Mailbox>().is_err()
        {
            problems.push(Problem {
                file: file.to_path_buf(),
                source: None,
                message: format!("{what} 中的“{address}”不是有效的邮件地址"),
            });
        }
    }
}

fn check_policy(problems: &mut Vec<Problem>, file: &Path, policy: &Policy) {
    let mut say = |message: String| {
        problems.push(Problem {
            file: file.to_path_buf(),
            source: None,
            message,
        })
    };
    for (name, value) in [
        ("ack", policy.ack),
        ("statement", policy.statement),
        ("press", policy.press),
        ("response", policy.response),
        ("overdue_repeat", policy.overdue_repeat),
        ("incident_window", policy.incident_window),
        ("watch_expiry", policy.watch_expiry),
        ("effect_window", policy.effect_window),
    ] {
        if value.0.is_zero() {
            say(format!("[policy] {name} 不能为 0"));
        }
    }
    let mut previous = 0.0;
    for f in &policy.remind_at {
        if !(*f > 0.0 && *f < 1.0) || *f <= previous {
            say("[policy] remind_at 应为 0 到 1 之间递增的比例，例如 [0.6, 0.8]".into());
            break;
        }
        previous = *f;
    }
}

impl Default for Config {
    /// The built-in defaults, relative to the current folder, with no sources.
    fn default() -> Self {
        Config {
            path: None,
            feeds: default_feeds(),
            dictionaries: default_dictionaries(),
            data_dir: default_data_dir(),
            jurisdiction: Jurisdiction::default(),
            api: ApiConfig::default(),
            smtp: None,
            recipients: Recipients::default(),
            units: BTreeMap::new(),
            policy: Policy::default(),
            digest: DigestConfig::default(),
            intake: IntakeConfig::default(),
            daemon: DaemonConfig::default(),
            channels: Vec::new(),
            metrics: None,
            store: StoreConfig::default(),
            retention: RetentionConfig::default(),
            document_clocks: clocks::default_clocks(),
            sources: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn toml_syntax_errors_say_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "feeds.toml", "");
        let config = write(
            dir.path(),
            "yuqing.toml",
            "data_dir = \"data\"\n\n[policy]\n  statement = 5h\n",
        );
        let err = Config::load(&config).unwrap_err().to_string();
        assert!(err.contains("第 4 行第 15 列"), "{err}");
        assert_eq!(line_column("甲乙\n丙", 7), Some((2, 1)));
        assert_eq!(line_column("ab", 9), None);
    }

    #[test]
    fn the_shipped_files_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let config = Config::load(&root.join("yuqing.toml")).expect("shipped yuqing.toml loads");
        assert!(!config.sources.is_empty(), "shipped feeds.toml has sources");
        assert_eq!(
            config.policy,
            Policy::default(),
            "shipped policy equals the defaults"
        );
        assert!(config.smtp.is_none());
        assert_eq!(config.data_dir, root.join("data"));
    }

    #[test]
    fn toml_and_serde_errors_read_in_chinese() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "bogus = 1",
                "未知的键“bogus”；可用的键：feeds、dictionaries",
            ),
            (
                "[policy]\nack = 5",
                "[policy] 类型不对：应为 字符串，实际为 整数 5",
            ),
            (
                "[policy]\nfoo = \"1h\"",
                "[policy] 未知的键“foo”；可用的键：ack、statement",
            ),
            (
                "[smtp]\nsecurity = \"ssl\"",
                "取值“ssl”无效；可选：none、starttls、tls",
            ),
            ("feeds = ", "字符串取值须加引号"),
            ("[policy\nx", "表头缺少“]”"),
            ("a = 1\na = 2", "键重复"),
            ("[api]\nbind = \"x\"", "[api] 地址格式不对"),
            (
                "[digest]\nto = \"x\"",
                "[digest] 类型不对：应为 数组，实际为 字符串 \"x\"",
            ),
        ];
        for (text, expected) in cases {
            let err = Config::from_str(text, None, dir.path())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
            let english = err
                .split(['/', '\n'])
                .any(|part| part.contains("expected") || part.contains("unknown"));
            assert!(!english, "{text:?}: English left in {err}");
        }
        let sources = load_sources_str(
            "[[source]]\nid = \"a\"\nurl = \"http://x\"\n",
            Path::new("f"),
        );
        let message = sources.unwrap_err()[0].message.clone();
        assert_eq!(message, "缺少必需的键“kind”");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "feeds.toml",
            r#"
[[source]]
id = "a"
kind = "feed"
url = "not a url"
interval = "5m"

[[source]]
id = "b"
kind = "rss"
url = "https://example.org/"
interval = "5"
"#,
        );
        let config = write(
            dir.path(),
            "yuqing.toml",
            r#"
[policy]
statement = "5 hours"
remind_at = [0.8, 0.6]

[digest]
at = "25:00"

[recipients]
duty = ["not-an-address"]
"#,
        );
        let Err(ConfigError::Invalid(problems)) = Config::load(&config) else {
            panic!("expected invalid config")
        };
        let text = problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains("[policy]"), "{text}");
        assert!(text.contains("[digest]"), "{text}");
        assert!(text.contains("not-an-address"), "{text}");
        assert!(text.contains("信息源 a"), "{text}");
        assert!(text.contains("信息源 b"), "{text}");
        assert!(problems.len() >= 5, "{text}");
    }

    #[test]
    fn store_cache_is_read_and_a_tiny_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "feeds.toml", "");
        let config = write(dir.path(), "yuqing.toml", "");
        let defaults = Config::load(&config).unwrap();
        assert_eq!(defaults.store.cache_bytes, DEFAULT_CACHE_BYTES);
        let config = write(
            dir.path(),
            "yuqing.toml",
            "[store]\ncache_bytes = 268435456\n",
        );
        assert_eq!(Config::load(&config).unwrap().store.cache_bytes, 256 << 20);
        let config = write(dir.path(), "yuqing.toml", "[store]\ncache_bytes = 1000\n");
        let Err(ConfigError::Invalid(problems)) = Config::load(&config) else {
            panic!("a 1000-byte cache is refused")
        };
        assert!(
            problems[0].to_string().contains("cache_bytes = 1000"),
            "{problems:?}"
        );
    }

    #[test]
    fn intake_limits_that_would_stop_every_poll_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "feeds.toml", "");
        let problems = |intake: &str| {
            let config = write(dir.path(), "yuqing.toml", &format!("[intake]\n{intake}"));
            let Err(ConfigError::Invalid(problems)) = Config::load(&config) else {
                panic!("expected invalid config: {intake}")
            };
            let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
            text.join("\n")
        };
        let limits = "timeout = \"0s\"\nconnect_timeout = \"500ms\"\nmax_body_bytes = 0\n\
                      max_items_per_poll = 0\nmax_text_bytes = 100\n";
        let text = problems(limits);
        for needle in [
            "timeout = \"0ms\"",
            "connect_timeout = \"500ms\"",
            "max_body_bytes = 0",
            "max_items_per_poll",
            "max_text_bytes = 100",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        assert_eq!(text.lines().count(), 5, "{text}");
        let text = problems("max_backoff = \"99999999999999d\"\n");
        assert!(text.contains("过长"), "{text}");
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        write(&dir.path().join("etc"), "feeds.toml", "");
        let config = write(
            &dir.path().join("etc"),
            "yuqing.toml",
            "data_dir = \"../var\"\n",
        );
        let config = Config::load(&config).unwrap();
        assert_eq!(config.data_dir, dir.path().join("etc").join("../var"));
        assert!(config.sources.is_empty());
    }

    #[test]
    fn remote_bind_needs_an_explicit_setting() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "feeds.toml", "");
        let path = write(
            dir.path(),
            "yuqing.toml",
            "[api]\nbind = \"0.0.0.0:7390\"\n",
        );
        assert!(matches!(Config::load(&path), Err(ConfigError::Invalid(_))));
        let path = write(
            dir.path(),
            "yuqing.toml",
            "[api]\nbind = \"0.0.0.0:7390\"\nallow_remote = true\n",
        );
        assert!(Config::load(&path).is_ok());
    }
}
