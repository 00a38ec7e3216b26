//! The CLI's side of the control API: a small reqwest client for the local daemon.
//!
//! The address comes from `YUQING_API` (`host:port`), else `[api] bind` (a wildcard
//! bind is reached on loopback); the token from `YUQING_TOKEN`, else
//! `<data_dir>/api.token`. With both variables set no configuration file is needed. Every failure is one of
//! [`ClientError`], which knows its exit code: 3 when the daemon cannot be reached
//! (or has never started, so there is no token), 2 for a refused token or a request
//! the daemon calls malformed, 1 when the operation itself was refused.
//!
//! Timeouts: a request and its answer must take at most [`REQUEST_TIMEOUT`], and the
//! daemon may stay silent for at most [`READ_TIMEOUT`] at a time. The export has no
//! total limit (a large ledger takes minutes): it fails only when no byte arrives for
//! [`READ_TIMEOUT`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use axum::body::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::token::{Token, TokenError, token_path};
use super::views::{
    AckRequest, AckResponse, AssignRequest, CloseRequest, DismissRequest, ErrorBody, IncidentView,
    LevelRequest, ListQuery, MAX_ID_HEADER, MergeRequest, MilestoneRequest, TOTAL_HEADER,
    UnlinkRequest,
};
#[cfg(doc)]
use super::views::{IncidentDetail, StatusView};
use crate::config::Config;
use crate::model::{IncidentId, Timestamp};

/// Longest a request may take, answer included (not the export, see [`Client::export`]).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest the daemon may send nothing while a request waits for or reads its answer
/// (as long as [`REQUEST_TIMEOUT`], so an ordinary request keeps its 120 s).
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// The environment variable that overrides the token file.
pub const TOKEN_ENV: &str = "YUQING_TOKEN";
/// The environment variable that overrides `[api] bind`: the control API's `host:port`.
pub const API_ENV: &str = "YUQING_API";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon is not running, not reachable, or not answering (exit 3).
    #[error("{0}")]
    Unreachable(String),
    /// The token was refused (exit 2).
    #[error("{0}")]
    Unauthorized(String),
    /// The request was malformed, or the token could not be read (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The operation was refused or failed: unknown id, transition not allowed (exit 1).
    #[error("{message}")]
    Refused { code: String, message: String },
}

impl ClientError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Unreachable(_) => 3,
            ClientError::Unauthorized(_) | ClientError::Usage(_) => 2,
            ClientError::Refused { .. } => 1,
        }
    }
}

/// Where the token came from, for messages.
#[derive(Debug, Clone)]
enum TokenOrigin {
    Env,
    File(std::path::PathBuf),
}

/// A connection to the local daemon's control API.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// `host:port` as people should read it in messages.
    endpoint: SocketAddr,
    token: Token,
    origin: TokenOrigin,
}

/// The address to connect to for a bind address: a wildcard bind is reached on loopback.
pub fn connect_addr(bind: SocketAddr) -> SocketAddr {
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bind.port())
}

fn not_running(endpoint: SocketAddr, detail: &str) -> ClientError {
    let setting = if std::env::var_os(API_ENV).is_some_and(|v| !v.is_empty()) {
        format!("环境变量 {API_ENV}")
    } else {
        " [api] bind 设置".to_string()
    };
    ClientError::Unreachable(format!(
        "守护进程未运行或无法连接（{endpoint}）{detail}；请先运行 yuqing run，或检查{setting}"
    ))
}

/// Where the daemon listens: `$YUQING_API` (`host:port`) when set, else `[api] bind`.
fn endpoint(config: &Config) -> Result<SocketAddr, ClientError> {
    let Some(text) = std::env::var(API_ENV).ok().filter(|t| !t.trim().is_empty()) else {
        return Ok(connect_addr(config.api.bind));
    };
    let wrong = |why: &str| {
        ClientError::Usage(format!(
            "环境变量 {API_ENV}=“{text}”{why}；应为 主机:端口，例如 127.0.0.1:7390"
        ))
    };
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(connect_addr(addr));
    }
    let (host, port) = text.rsplit_once(':').ok_or_else(|| wrong("缺少端口"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| wrong("中的端口不是 0–65535 的数字"))?;
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| wrong("中的主机名无法解析"))
}

impl Client {
    /// A client for the daemon of this configuration. Reads the token now: a missing
    /// token file means the daemon has never started with this data directory.
    pub fn from_config(config: &Config) -> Result<Client, ClientError> {
        let endpoint = endpoint(config)?;
        let env_token = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty());
        let (token, origin) = match env_token {
            Some(text) => {
                let token = Token::from_text(&text).ok_or_else(|| {
                    ClientError::Usage(format!(
                        "环境变量 {TOKEN_ENV} 的令牌格式不对（应为 api.token 文件中的 64 位十六进制字符）"
                    ))
                })?;
                (token, TokenOrigin::Env)
            }
            None => {
                let path = token_path(&config.data_dir);
                match Token::read(&path) {
                    Ok(token) => (token, TokenOrigin::File(path)),
                    Err(TokenError::Read { error, .. })
                        if error.kind() == std::io::ErrorKind::NotFound =>
                    {
                        return Err(not_running(
                            endpoint,
                            &format!("：未找到令牌文件 {}", path.display()),
                        ));
                    }
                    Err(TokenError::Read { error, .. })
                        if error.kind() == std::io::ErrorKind::PermissionDenied =>
                    {
                        return Err(ClientError::Usage(format!(
                            "没有权限读取令牌文件 {}；请以运行守护进程的用户执行，或把令牌放进环境变量 {TOKEN_ENV}",
                            path.display()
                        )));
                    }
                    Err(err) => return Err(ClientError::Usage(err.to_string())),
                }
            }
        };
        Client::new(endpoint, token, origin)
    }

    /// A client for an explicit address and token (for tests and tools).
    pub fn with_token(endpoint: SocketAddr, token: Token) -> Result<Client, ClientError> {
        Client::new(endpoint, token, TokenOrigin::Env)
    }

    fn new(endpoint: SocketAddr, token: Token, origin: TokenOrigin) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            // The daemon is local: never send its token through a proxy.
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            // The total limit is per request (`get`, `post_json`), so the export can
            // run as long as it makes progress.
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("yuqing-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| ClientError::Usage(format!("无法创建 HTTP 客户端：{err}")))?;
        Ok(Client {
            http,
            base: format!("http://{endpoint}"),
            endpoint,
            token,
            origin,
        })
    }

    pub fn endpoint(&self) -> SocketAddr {
        self.endpoint
    }

    /// Incidents, soonest deadline first: `Vec<IncidentView>`, or `serde_json::Value`
    /// to pass the daemon's JSON through untouched.
    pub async fn list<T: DeserializeOwned>(
        &self,
        query: &ListQuery,
    ) -> Result<(T, usize), ClientError> {
        let response = self
            .send(self.get(&format!("/v1/incidents?{}", query.to_query())))
            .await?;
        let total = response
            .headers()
            .get(TOTAL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let list: T = self.decode(response).await?;
        Ok((list, total.unwrap_or(0)))
    }

    /// Incidents as the daemon streams them: read them with [`Listing::next`] a batch
    /// at a time (each element's JSON text), the match count before the limit from
    /// [`Listing::total`]. No total time limit, only [`READ_TIMEOUT`] between chunks.
    pub async fn list_stream(&self, query: &ListQuery) -> Result<Listing<'_>, ClientError> {
        let request = self
            .http
            .get(format!("{}/v1/incidents?{}", self.base, query.to_query()))
            .bearer_auth(self.token.as_str());
        let response = self.send(request).await?;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
        let total = header(TOTAL_HEADER)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let max_id = header(MAX_ID_HEADER).and_then(|v| v.parse().ok());
        Ok(Listing {
            response,
            client: self,
            total,
            max_id,
            split: ArraySplit::default(),
        })
    }

    /// One incident: [`IncidentDetail`], or `serde_json::Value`.
    pub async fn show<T: DeserializeOwned>(&self, id: IncidentId) -> Result<T, ClientError> {
        self.get_json(&format!("/v1/incidents/{id}")).await
    }

    pub async fn ack(
        &self,
        id: IncidentId,
        request: &AckRequest,
    ) -> Result<AckResponse, ClientError> {
        self.post_json(&format!("/v1/incidents/{id}/ack"), request)
            .await
    }

    pub async fn milestone(
        &self,
        id: IncidentId,
        request: &MilestoneRequest,
    ) -> Result<IncidentView, ClientError> {
        self.post_json(&format!("/v1/incidents/{id}/milestone"), request)
            .await
    }

    pub async fn level(
        &self,
        id: IncidentId,
        request: &LevelRequest,
    ) -> Result<IncidentView, ClientError> {
        self.post_json(&format!("/v1/incidents/{id}/level"), request)
            .await
    }

    pub async fn assign(
        &self,
        id: IncidentId,
        request: &AssignRequest,
    ) -> Result<IncidentView, ClientError> {
        self.post_json(&format!("/v1/incidents/{id}/assign"), request)
            .await
    }

    pub async fn close(
        &self,
        id: IncidentId,
        request: &CloseRequest,
    ) -> Result<IncidentView, ClientError> {
        self.post_json(&format!("/v1/incidents/{id}/close"), request)
            .await
    }

    pub async fn dismiss(
        &self,
        id: IncidentId,
        request: &DismissRequest,
    ) -> Result<IncidentView, ClientError> {
        self.post_json(&format!("/v1/incidents/{id}/dismiss"), request)
            .await
    }

    pub async fn unlink(
        &self,
        id: IncidentId,
        request: &UnlinkRequest,
    ) -> Result<IncidentView, ClientError> {
        self.post_json(&format!("/v1/incidents/{id}/unlink"), request)
            .await
    }

    pub async fn merge(
        &self,
        id: IncidentId,
        request: &MergeRequest,
    ) -> Result<IncidentView, ClientError> {
        self.post_json(&format!("/v1/incidents/{id}/merge"), request)
            .await
    }

    /// The ledger export (`jsonl` or `csv`); with `since`, only incidents changed at or
    /// after it, sent to the millisecond (the daemon compares at the millisecond: a
    /// chained backup's `--since`, the last one's `taken_at`, loses nothing to
    /// rounding). The daemon streams it: read it with [`Export::chunk`] as it arrives.
    /// No total time limit, only [`READ_TIMEOUT`] between chunks.
    pub async fn export(
        &self,
        format: &str,
        since: Option<Timestamp>,
    ) -> Result<Export<'_>, ClientError> {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("format", format);
        if let Some(since) = since {
            let since = since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            query.append_pair("since", &since);
        }
        let request = self
            .http
            .get(format!("{}/v1/export?{}", self.base, query.finish()))
            .bearer_auth(self.token.as_str());
        let response = self.send(request).await?;
        Ok(Export {
            response,
            client: self,
        })
    }

    /// Daemon health: [`StatusView`], or `serde_json::Value`.
    pub async fn status<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        self.get_json("/v1/status").await
    }

    /// GET a JSON resource (for routes other modules add, such as the digest's).
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let response = self.send(self.get(path)).await?;
        self.decode(response).await
    }

    /// POST a JSON body and read a JSON answer.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.token.as_str())
            .timeout(REQUEST_TIMEOUT)
            .json(body);
        let response = self.send(request).await?;
        self.decode(response).await
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.token.as_str())
            .timeout(REQUEST_TIMEOUT)
    }

    /// Sends a request; maps transport failures and error answers.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let response = request.send().await.map_err(|err| self.transport(err))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body: Option<ErrorBody> = response.json().await.ok();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            let source = match &self.origin {
                TokenOrigin::Env => format!("环境变量 {TOKEN_ENV} 中的令牌"),
                TokenOrigin::File(path) => format!("令牌文件 {} 中的令牌", path.display()),
            };
            return Err(ClientError::Unauthorized(format!(
                "守护进程（{}）拒绝了{source}（401）；请使用正在运行的守护进程数据目录中 api.token 的内容，或取消设置错误的 {TOKEN_ENV}",
                self.endpoint
            )));
        }
        let (code, message) = match body {
            Some(ErrorBody { error, code }) => (code, error),
            None => (
                "internal".to_string(),
                format!(
                    "守护进程（{}）返回了意外的应答（HTTP {status}）；请确认该地址上运行的是 yuqing",
                    self.endpoint
                ),
            ),
        };
        Err(match code.as_str() {
            "bad_request" => ClientError::Usage(message),
            _ => ClientError::Refused { code, message },
        })
    }

    async fn decode<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, ClientError> {
        let bytes = response.bytes().await.map_err(|err| self.transport(err))?;
        serde_json::from_slice(&bytes).map_err(|err| ClientError::Refused {
            code: "internal".into(),
            message: format!(
                "无法理解守护进程（{}）的应答：{err}；守护进程和命令行的版本是否一致？",
                self.endpoint
            ),
        })
    }

    fn transport(&self, err: reqwest::Error) -> ClientError {
        if err.is_timeout() {
            ClientError::Unreachable(format!(
                "守护进程（{}）没有及时应答；请用 yuqing status 检查它是否正常，或查看它的日志",
                self.endpoint
            ))
        } else if err.is_connect() {
            not_running(self.endpoint, "")
        } else {
            ClientError::Unreachable(format!(
                "与守护进程（{}）的连接中断：{err}；请确认它仍在运行",
                self.endpoint
            ))
        }
    }
}

/// An export being received ([`Client::export`]).
pub struct Export<'a> {
    response: reqwest::Response,
    client: &'a Client,
}

impl Export<'_> {
    /// The next piece of the export, `None` once the daemon has sent all of it. A
    /// connection that breaks, or that the daemon aborts because the export failed
    /// part-way, is an error (exit 1; exit 3 when the daemon went silent), never a
    /// short end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, ClientError> {
        next_chunk(&mut self.response, self.client, "导出").await
    }
}

/// The next chunk of a streamed answer (`what`: 导出, 列表). A connection that breaks,
/// or that the daemon aborts because the answer failed part-way, is an error (exit 1;
/// exit 3 when the daemon went silent), never a short end.
async fn next_chunk(
    response: &mut reqwest::Response,
    client: &Client,
    what: &str,
) -> Result<Option<Bytes>, ClientError> {
    response.chunk().await.map_err(|err| {
        if err.is_timeout() {
            return match client.transport(err) {
                ClientError::Unreachable(message) => {
                    ClientError::Unreachable(format!("{message}；{what}不完整"))
                }
                other => other,
            };
        }
        ClientError::Refused {
            code: "internal".into(),
            message: format!(
                "{what}中途断开（守护进程 {}）：{err}；{what}不完整，守护进程的日志里有原因，请稍后重试",
                client.endpoint
            ),
        }
    })
}

/// A list being received ([`Client::list_stream`]).
pub struct Listing<'a> {
    response: reqwest::Response,
    client: &'a Client,
    total: usize,
    max_id: Option<IncidentId>,
    split: ArraySplit,
}

impl Listing<'_> {
    /// How many incidents matched before the limit.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The largest id listed, when the daemon said (one before this header did not).
    pub fn max_id(&self) -> Option<IncidentId> {
        self.max_id
    }

    /// The elements the next chunk completes (possibly none): [`IncidentView`], or
    /// `serde_json::Value`; `None` once the array has ended. A break part-way is an
    /// error, as for the export.
    pub async fn next<T: DeserializeOwned>(&mut self) -> Result<Option<Vec<T>>, ClientError> {
        let client = self.client;
        let malformed = |why: &str| ClientError::Refused {
            code: "internal".into(),
            message: format!(
                "无法理解守护进程（{}）的应答：{why}；守护进程和命令行的版本是否一致？",
                client.endpoint
            ),
        };
        match next_chunk(&mut self.response, client, "列表").await? {
            Some(bytes) => {
                let elements = self.split.push(&bytes).map_err(malformed)?;
                let decoded = elements
                    .iter()
                    .map(|element| serde_json::from_slice(element))
                    .collect::<Result<Vec<T>, _>>();
                decoded.map(Some).map_err(|err| malformed(&err.to_string()))
            }
            None if self.split.ended() => Ok(None),
            None => Err(malformed("列表未结束")),
        }
    }
}

/// Cuts a JSON array arriving in pieces into its elements' texts, holding only the
/// element not yet complete.
#[derive(Debug, Default)]
struct ArraySplit {
    /// Bytes not yet handed out, from the start of the element being read.
    buf: Vec<u8>,
    /// Nesting depth at the end of `buf` (1: inside the array).
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// Whether the array's `]` arrived.
    done: bool,
}

impl ArraySplit {
    fn ended(&self) -> bool {
        self.done
    }

    /// Takes the next bytes; returns the elements they complete.
    fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.done {
                if !b.is_ascii_whitespace() {
                    return Err("数组结束后还有内容");
                }
                continue;
            }
            if self.in_string {
                self.buf.push(b);
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match (self.depth, b) {
                (_, b) if b.is_ascii_whitespace() => {
                    if self.depth > 1 {
                        self.buf.push(b);
                    }
                }
                (0, b'[') => self.depth = 1,
                (0, _) => return Err("应答不是数组"),
                (1, b',' | b']') => {
                    if b == b']' {
                        self.done = true;
                    }
                    if !self.buf.is_empty() {
                        out.push(std::mem::take(&mut self.buf));
                    } else if b == b',' {
                        return Err("数组中有空元素");
                    }
                }
                (depth, b) => {
                    match b {
                        b'{' | b'[' => self.depth += 1,
                        b'}' | b']' => self.depth = depth - 1,
                        b'"' => self.in_string = true,
                        _ => {}
                    }
                    self.buf.push(b);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way of cutting an array into chunks gives its elements back whole.
    #[test]
    fn a_streamed_array_is_cut_into_its_elements_wherever_the_chunks_end() {
        let array = r#"[{"a":"x,]}\"\\","b":[1,{"c":[]}]},{"t":"甲\n乙"} , 3,"s]",[]]"#;
        let expected: Vec<serde_json::Value> = serde_json::from_str(array).unwrap();
        let bytes = array.as_bytes();
        for size in 1..=bytes.len() {
            let mut split = ArraySplit::default();
            let mut elements = Vec::new();
            for chunk in bytes.chunks(size) {
                elements.extend(split.push(chunk).unwrap());
            }
            assert!(split.ended(), "size {size}");
            let values: Vec<serde_json::Value> = elements
                .iter()
                .map(|e| serde_json::from_slice(e).unwrap())
                .collect();
            assert_eq!(values, expected, "size {size}");
        }
        let mut empty = ArraySplit::default();
        assert!(empty.push(b" [ ] ").unwrap().is_empty());
        assert!(empty.ended());
        let mut short = ArraySplit::default();
        assert_eq!(short.push(br#"[{"a":1},{"b""#).unwrap().len(), 1);
        assert!(!short.ended(), "a cut-off array has not ended");
        assert!(ArraySplit::default().push(b"{}").is_err());
    }

    #[test]
    fn wildcard_binds_are_reached_on_loopback() {
        let cases = [
            ("0.0.0.0:7390", "127.0.0.1:7390"),
            ("[::]:7390", "[::1]:7390"),
            ("127.0.0.1:8000", "127.0.0.1:8000"),
            ("192.168.1.5:7390", "192.168.1.5:7390"),
        ];
        for (bind, expected) in cases {
            assert_eq!(
                connect_addr(bind.parse().unwrap()).to_string(),
                expected,
                "{bind}"
            );
        }
    }

    #[tokio::test]
    async fn a_closed_port_means_the_daemon_is_not_running() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let endpoint = SocketAddr::from(([127, 0, 0, 1], port));
        let client = Client::with_token(endpoint, Token::generate()).unwrap();
        let err = client.status::<serde_json::Value>().await.unwrap_err();
        assert_eq!(err.exit_code(), 3, "{err}");
        assert!(err.to_string().contains("守护进程未运行"), "{err}");
        assert!(err.to_string().contains(&endpoint.to_string()), "{err}");
    }

    #[test]
    fn a_missing_token_file_means_the_daemon_never_started() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        if std::env::var_os(TOKEN_ENV).is_some() {
            eprintln!("skipped: {TOKEN_ENV} is set in this environment");
            return;
        }
        let err = Client::from_config(&config).unwrap_err();
        assert_eq!(err.exit_code(), 3, "{err}");
        assert!(err.to_string().contains("api.token"), "{err}");
    }
}
