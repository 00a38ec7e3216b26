//! HTTP fetching: one shared client, politeness limits, a hard body cap.
//!
//! The body is read chunk by chunk *after* content decoding (gzip, brotli,
//! deflate), so [`IntakeConfig::max_body_bytes`] bounds the decompressed size and a
//! compression bomb is cut off at the cap. The body is never decoded as text
//! here: raw bytes, the `Content-Type` and the final URL go to [`crate::parse`],
//! which knows how to find the charset.

use std::collections::HashMap;
use std::error::Error as _;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, CONTENT_TYPE, ETAG, HeaderMap, HeaderName, HeaderValue, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, LAST_MODIFIED, LOCATION, RETRY_AFTER,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

use crate::config::{HttpMethod, HumanDuration, IntakeConfig, SourceConfig, SourceKind};

use super::FailureKind;

/// Validators from the previous successful fetch, for a conditional GET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A successful answer.
#[derive(Debug, Clone)]
pub enum Fetched {
    /// `304 Not Modified`: nothing new. Servers may send fresh validators with it.
    NotModified(Validators),
    /// A 2xx answer with its body.
    Body(Body),
}

/// A 2xx answer: everything `parse` needs, untouched.
#[derive(Debug, Clone)]
pub struct Body {
    pub status: u16,
    /// The final URL, after redirects.
    pub url: Url,
    pub content_type: Option<String>,
    /// The body after content decoding, at most `max_body_bytes` long.
    pub bytes: Vec<u8>,
    pub validators: Validators,
}

/// Why a fetch failed. Messages are for people (Chinese) and say what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("请求超时：{0} 内没有完成；对方网站过慢或网络不通，稍后自动重试")]
    Timeout(HumanDuration),
    #[error("无法连接 {host}：{detail}；请检查网络、DNS 和 url")]
    Connect { host: String, detail: String },
    #[error("{0}；请把 url 改为最终地址，或检查对方网站")]
    Redirect(String),
    #[error("{}", status_message(*.status, *.retry_after))]
    Status {
        status: u16,
        /// From `Retry-After` on 429 and 503.
        retry_after: Option<Duration>,
    },
    #[error(
        "响应超过 {limit} 字节的上限（解压后计算），已停止读取；如该源确实这么大，请调大 [intake] max_body_bytes"
    )]
    TooLarge { limit: u64 },
    #[error("请求设置无效：{0}；请检查 feeds.toml 中该源的 headers、form 或 json")]
    Invalid(String),
    #[error("读取响应失败：{0}")]
    Body(String),
    #[error("请求失败：{0}")]
    Other(String),
}

fn status_message(status: u16, retry_after: Option<Duration>) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let hint = match status {
        404 | 410 => "地址可能已失效，请核对 url".to_string(),
        401 | 403 => "对方拒绝访问，可能需要 Referer 等请求头，或已屏蔽本机".to_string(),
        429 | 503 => match retry_after {
            Some(after) => format!(
                "对方要求降低频率，{} 后再试",
                HumanDuration(Duration::from_secs(after.as_secs()))
            ),
            None => "对方要求降低频率，稍后自动重试".to_string(),
        },
        500..=599 => "对方服务器出错，稍后自动重试".to_string(),
        _ => "请检查 url 和请求设置".to_string(),
    };
    format!("服务器返回 HTTP {status} {reason}：{hint}")
}

/// Messages of local resource errors: this machine ran out of file handles, buffers
/// or memory (e.g. while someone held the control API's connections). Not the
/// source's fault.
const LOCAL_RESOURCE: [&str; 6] = [
    "os error 24",  // EMFILE: Too many open files
    "os error 23",  // ENFILE: Too many open files in system
    "os error 105", // ENOBUFS: No buffer space available
    "os error 12",  // ENOMEM
    "Too many open files",
    "No buffer space available",
];

impl FetchError {
    /// A failure of this machine rather than of the source: the intake retries soon
    /// without counting it against the source (no back-off, no health problem).
    pub fn is_local_resource_error(&self) -> bool {
        let text = match self {
            FetchError::Connect { detail, .. } => detail,
            FetchError::Body(text) | FetchError::Other(text) => text,
            _ => return false,
        };
        LOCAL_RESOURCE.iter().any(|m| text.contains(m))
    }

    /// The kind of failure, which sets how hard the source backs off.
    pub fn kind(&self) -> FailureKind {
        match self {
            FetchError::Timeout(_) => FailureKind::Timeout,
            FetchError::Connect { .. } | FetchError::Body(_) => FailureKind::Connect,
            FetchError::Redirect(_) => FailureKind::Redirect,
            FetchError::Status { status, .. } => match status {
                429 | 503 => FailureKind::RateLimited,
                500..=599 => FailureKind::ServerError,
                _ => FailureKind::ClientError,
            },
            FetchError::TooLarge { .. } => FailureKind::TooLarge,
            FetchError::Invalid(_) => FailureKind::Invalid,
            FetchError::Other(_) => FailureKind::Other,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Why a redirect chain was refused; carried inside reqwest's error.
#[derive(Debug, PartialEq)]
enum RedirectProblem {
    Loop(Url),
    TooMany(usize),
    /// To something other than http(s): `file://`, `ftp://` …
    Scheme(Url),
    /// From a public address to this machine or the office network.
    Internal(Url),
}

impl fmt::Display for RedirectProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectProblem::Loop(url) => write!(f, "重定向形成循环（回到 {url}）"),
            RedirectProblem::TooMany(max) => write!(f, "重定向超过 {max} 次"),
            RedirectProblem::Scheme(url) => write!(
                f,
                "重定向到 {}:// 地址（{url}），已拒绝：只跟随 http/https 重定向",
                url.scheme()
            ),
            RedirectProblem::Internal(url) => write!(
                f,
                "重定向到本机或内网地址（{url}），已拒绝：公网信息源不得把请求引向内部地址"
            ),
        }
    }
}

/// Whether a redirect from `origin` (the source's own URL) to `target` may be
/// followed: only to http(s), and to a loopback, private or link-local address only
/// when the source itself is on one (a source on the office network may move within
/// it; a public site may not steer the daemon at 127.0.0.1:7390 or a router).
/// Addresses are judged as written in the URL: `localhost` and IP literals; a public
/// name that resolves to an inside address is not caught here.
fn redirect_check(origin: &Url, target: &Url) -> Result<(), RedirectProblem> {
    if !matches!(target.scheme(), "http" | "https") {
        return Err(RedirectProblem::Scheme(target.clone()));
    }
    if is_internal(target) && !is_internal(origin) {
        return Err(RedirectProblem::Internal(target.clone()));
    }
    Ok(())
}

/// Loopback, private, link-local, unspecified or shared (CGNAT) addresses, and
/// `localhost` names.
fn is_internal(url: &Url) -> bool {
    use std::net::{IpAddr, Ipv4Addr};
    let v4 = |ip: Ipv4Addr| {
        ip.is_loopback()
            || ip.is_private()
            || ip.is_link_local()
            || ip.is_unspecified()
            || ip.is_broadcast()
            || (ip.octets()[0] == 100 && (64..128).contains(&ip.octets()[1]))
    };
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            return name == "localhost" || name.ends_with(".localhost");
        }
        None => return false,
    };
    match ip {
        IpAddr::V4(ip) => v4(ip),
        IpAddr::V6(ip) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some_and(v4)
        }
    }
}

impl std::error::Error for RedirectProblem {}

/// The shared HTTP client with its limits. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    global: Arc<Semaphore>,
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    per_host: usize,
    max_body: u64,
    timeout: HumanDuration,
    /// A server's `Retry-After` is honoured up to this (`[intake] max_backoff`), and
    /// shown as the wait it actually gets.
    max_wait: Duration,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("per_host", &self.per_host)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// Builds the client from `[intake]`.
    pub fn new(settings: &IntakeConfig) -> Result<Fetcher, FetchError> {
        let max = settings.max_redirects;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            // `previous` starts with the original URL; a URL seen before is a loop.
            let checked = attempt
                .previous()
                .first()
                .map_or(Ok(()), |origin| redirect_check(origin, attempt.url()));
            if let Err(problem) = checked {
                attempt.error(problem)
            } else if attempt.previous().contains(attempt.url()) {
                let url = attempt.url().clone();
                attempt.error(RedirectProblem::Loop(url))
            } else if attempt.previous().len() > max {
                attempt.error(RedirectProblem::TooMany(max))
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .connect_timeout(settings.connect_timeout.as_duration())
            .timeout(settings.timeout.as_duration())
            .redirect(redirects)
            .gzip(true)
            .brotli(true)
            .deflate(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| FetchError::Other(error_chain(&e)))?;
        Ok(Fetcher {
            client,
            global: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            hosts: Arc::default(),
            per_host: settings.per_host.max(1),
            max_body: settings.max_body_bytes,
            timeout: settings.timeout,
            max_wait: settings.max_backoff.as_duration(),
        })
    }

    /// Fetches a source once: waits for a per-host then a global slot, sends the
    /// request the source's kind asks for (conditional when `validators` are given)
    /// and reads the body up to the cap.
    pub async fn fetch(
        &self,
        source: &SourceConfig,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        let _permits = self.permits(&source.url).await;
        let request = self.request(source, validators)?;
        let mut response = self.client.execute(request).await.map_err(|e| {
            let host = source.url.host_str().unwrap_or_default().to_string();
            self.map_error(&e, host)
        })?;
        let status = response.status();
        let headers = response.headers();
        let validators = Validators {
            etag: header_string(headers, &ETAG),
            last_modified: header_string(headers, &LAST_MODIFIED),
        };
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified(validators));
        }
        if status.is_redirection() {
            // reqwest hands back, unfollowed, a redirect to a scheme it cannot fetch
            // (`file://`, `ftp://`): say where it pointed.
            let target =
                header_string(headers, &LOCATION).and_then(|to| response.url().join(&to).ok());
            if let Some(target) = target
                && let Err(problem) = redirect_check(&source.url, &target)
            {
                return Err(FetchError::Redirect(problem.to_string()));
            }
        }
        if !status.is_success() {
            let retry_after = matches!(status.as_u16(), 429 | 503)
                .then(|| header_string(headers, &RETRY_AFTER))
                .flatten()
                .and_then(|v| parse_retry_after(&v, chrono::Utc::now()))
                .map(|wait| wait.min(self.max_wait));
            return Err(FetchError::Status {
                status: status.as_u16(),
                retry_after,
            });
        }
        let content_type = header_string(headers, &CONTENT_TYPE);
        let url = response.url().clone();
        if response.content_length().is_some_and(|n| n > self.max_body) {
            return Err(FetchError::TooLarge {
                limit: self.max_body,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            if e.is_timeout() {
                FetchError::Timeout(self.timeout)
            } else {
                FetchError::Body(error_chain(&e))
            }
        })? {
            if body.len() as u64 + chunk.len() as u64 > self.max_body {
                return Err(FetchError::TooLarge {
                    limit: self.max_body,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body(Body {
            status: status.as_u16(),
            url,
            content_type,
            bytes: body,
            validators,
        }))
    }

    /// A per-host slot first, then a global one, so a task waiting for a busy host
    /// holds no global slot.
    async fn permits(&self, url: &Url) -> (OwnedSemaphorePermit, OwnedSemaphorePermit) {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let semaphore = {
            // A poisoned lock only means another task panicked mid-insert; the map is still usable.
            let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
            hosts
                .entry(host)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        // The semaphores are never closed, so acquiring cannot fail.
        let host = semaphore
            .acquire_owned()
            .await
            .expect("per-host semaphore is never closed");
        let global = self
            .global
            .clone()
            .acquire_owned()
            .await
            .expect("global semaphore is never closed");
        (host, global)
    }

    fn request(
        &self,
        source: &SourceConfig,
        validators: Option<&Validators>,
    ) -> Result<reqwest::Request, FetchError> {
        let mut headers = HeaderMap::new();
        let accept = match &source.kind {
            SourceKind::Feed => {
                "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
            }
            SourceKind::Html(_) => "text/html, application/xhtml+xml;q=0.9, */*;q=0.8",
            SourceKind::Json(_) => "application/json, text/javascript;q=0.9, */*;q=0.8",
        };
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        if let Some(v) = validators {
            for (name, value) in [
                (IF_NONE_MATCH, &v.etag),
                (IF_MODIFIED_SINCE, &v.last_modified),
            ] {
                if let Some(value) = value
                    && let Ok(value) = HeaderValue::from_str(value)
                {
                    headers.insert(name, value);
                }
            }
        }
        let mut builder = match &source.kind {
            SourceKind::Json(spec) => {
                for (name, value) in &spec.headers {
                    let name = HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| FetchError::Invalid(format!("请求头名称“{name}”无效")))?;
                    let value = HeaderValue::from_str(value).map_err(|_| {
                        FetchError::Invalid(format!("请求头 {name} 的值“{value}”无效"))
                    })?;
                    headers.insert(name, value);
                }
                let builder = match spec.method {
                    HttpMethod::Get => self.client.get(source.url.clone()),
                    HttpMethod::Post => self.client.post(source.url.clone()),
                };
                match (&spec.form, &spec.json) {
                    (Some(form), _) => builder.form(form),
                    (None, Some(json)) => builder.json(json),
                    (None, None) => builder,
                }
            }
            SourceKind::Feed | SourceKind::Html(_) => self.client.get(source.url.clone()),
        };
        builder = builder.headers(headers);
        builder
            .build()
            .map_err(|e| FetchError::Invalid(error_chain(&e)))
    }

    fn map_error(&self, err: &reqwest::Error, host: String) -> FetchError {
        if err.is_redirect() {
            let mut source = err.source();
            while let Some(inner) = source {
                if let Some(problem) = inner.downcast_ref::<RedirectProblem>() {
                    return FetchError::Redirect(problem.to_string());
                }
                source = inner.source();
            }
            return FetchError::Redirect(format!("重定向出错：{}", error_chain(err)));
        }
        if err.is_timeout() {
            FetchError::Timeout(self.timeout)
        } else if err.is_connect() {
            let cause = innermost(err);
            FetchError::Connect {
                host,
                detail: if err.is_dns() {
                    format!("域名解析失败（{cause}）")
                } else {
                    cause
                },
            }
        } else if err.is_builder() {
            FetchError::Invalid(error_chain(err))
        } else if err.is_body() || err.is_decode() {
            FetchError::Body(error_chain(err))
        } else {
            FetchError::Other(error_chain(err))
        }
    }
}

/// The innermost causes of an error, joined: reqwest's own message only names the URL.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = inner.source();
    }
    parts.join("：")
}

/// The deepest cause: for connection errors the only part that says what happened.
fn innermost(err: &dyn std::error::Error) -> String {
    let mut last = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        last = inner.to_string();
        source = inner.source();
    }
    last
}

fn header_string(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3). A date in
/// the past means "now".
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now: chrono::DateTime<chrono::Utc> = "2026-11-24T07:28:00Z".parse().unwrap();
        let cases = [
            ("120", Some(120)),
            (" 0 ", Some(0)),
            ("Tue, 24 Nov 2026 07:30:00 GMT", Some(120)),
            ("Tue, 24 Nov 2026 07:00:00 GMT", Some(0)),
            ("soon", None),
            ("-5", None),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_retry_after(text, now),
                want.map(Duration::from_secs),
                "{text}"
            );
        }
    }

    #[test]
    fn redirects_stay_on_http_and_out_of_the_office_network() {
        let url = |s: &str| Url::parse(s).unwrap();
        let public = url("https://www.gov.example/rss.xml");
        let inside = url("http://192.168.1.20/rss.xml");
        // (origin, target, allowed)
        let cases = [
            (&public, "https://news.example/rss.xml", true),
            (&public, "http://127.0.0.1:7390/api/status", false),
            (&public, "http://localhost/x", false),
            (&public, "http://10.1.2.3/x", false),
            (&public, "http://169.254.169.254/latest/meta-data", false),
            (&public, "http://[::1]/x", false),
            (&public, "http://[::ffff:127.0.0.1]/x", false),
            (&public, "http://100.64.0.1/x", false),
            (&inside, "http://127.0.0.1:8080/rss.xml", true),
            (&inside, "http://192.168.1.21/rss.xml", true),
            (&inside, "https://www.gov.example/rss.xml", true),
        ];
        for (origin, target, allowed) in cases {
            let got = redirect_check(origin, &url(target));
            assert_eq!(got.is_ok(), allowed, "{origin} → {target}: {got:?}");
        }
        for origin in [&public, &inside] {
            let problem = redirect_check(origin, &url("file:///etc/passwd")).unwrap_err();
            assert!(problem.to_string().contains("file://"), "{problem}");
        }
    }

    #[test]
    fn status_errors_are_classified_and_explained() {
        let cases = [
            (404, FailureKind::ClientError, "url"),
            (410, FailureKind::ClientError, "url"),
            (403, FailureKind::ClientError, "Referer"),
            (429, FailureKind::RateLimited, "频率"),
            (503, FailureKind::RateLimited, "频率"),
            (500, FailureKind::ServerError, "服务器出错"),
            (502, FailureKind::ServerError, "服务器出错"),
        ];
        for (status, kind, needle) in cases {
            let err = FetchError::Status {
                status,
                retry_after: None,
            };
            assert_eq!(err.kind(), kind, "{status}");
            assert!(err.to_string().contains(needle), "{status}: {err}");
            assert!(err.to_string().contains(&status.to_string()));
        }
    }

    #[test]
    fn local_resource_errors_are_told_apart_from_the_sources_faults() {
        let emfile = FetchError::Connect {
            host: "example.org".into(),
            detail: std::io::Error::from_raw_os_error(24).to_string(),
        };
        assert!(emfile.is_local_resource_error(), "{emfile}");
        let enobufs = FetchError::Other(std::io::Error::from_raw_os_error(105).to_string());
        assert!(enobufs.is_local_resource_error(), "{enobufs}");
        let refused = FetchError::Connect {
            host: "example.org".into(),
            detail: std::io::Error::from_raw_os_error(111).to_string(),
        };
        assert!(!refused.is_local_resource_error(), "{refused}");
        assert!(
            !FetchError::Status {
                status: 503,
                retry_after: None
            }
            .is_local_resource_error()
        );
    }
}
