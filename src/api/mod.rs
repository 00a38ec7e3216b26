//! The control API: HTTP/JSON on `[api] bind` (default 127.0.0.1:7390), served by
//! the daemon, used by the CLI (sled allows one process, so every command that reads
//! or changes incidents goes through here).
//!
//! Every request carries `Authorization: Bearer <token>`, the token of
//! `<data_dir>/api.token` (see [`token`]); a missing or wrong token gets 401 and
//! changes nothing. Every change goes through [`Ledger`] with the officer's name, so
//! it is audited, and the store is flushed before the answer is sent.
//!
//! Routes (all JSON unless noted):
//! - `GET  /v1/status`: daemon health ([`views::StatusView`])
//! - `GET  /v1/incidents?all=true|false&…`: incidents, soonest deadline first, streamed
//!   a page at a time ([`list`])
//! - `GET  /v1/incidents/{id}`: one incident with items and audit trail
//! - `POST /v1/incidents/{id}/ack` `{"by","note"}`
//! - `POST /v1/incidents/{id}/milestone` `{"milestone","by","url","note","at"}`
//! - `POST /v1/incidents/{id}/level` `{"level","by","reason"}`
//! - `POST /v1/incidents/{id}/assign` `{"unit","by"}`
//! - `POST /v1/incidents/{id}/close` `{"by","note","reason"}` (`reason` required while a
//!   milestone is unmet)
//! - `POST /v1/incidents/{id}/dismiss` `{"by","reason"}`
//! - `POST /v1/incidents/{id}/merge` `{"into","by"}`
//! - `GET  /v1/export?format=jsonl|csv[&since=…]`: the whole ledger (JSON lines or CSV
//!   text), streamed a page of incidents at a time ([`export`])
//! - `GET  /v1/digest?date=YYYY-MM-DD`, `POST /v1/digest/send?date=…`: the 舆情日报
//!   (mounted from [`digest::routes`])
//!
//! Errors answer `{"error": "<中文>", "code": "unauthorized"|"not_found"|"not_allowed"|
//! "bad_request"|"internal"}` with 401, 404, 409, 400 or 500.

pub mod client;
pub mod digest;
pub mod export;
mod list;
pub mod listener;
pub mod policies;
pub mod replies;
pub mod token;
pub mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use tokio::net::TcpListener;

use crate::config::{ApiConfig, Config};
use crate::ledger::{AckOutcome, Ledger, LedgerError};
use crate::model::{AuditEntry, Incident, IncidentId, Item, Timestamp};
use crate::store::{Store, StoreError};
pub use token::{Token, TokenError, token_path};
use views::{
    AckRequest, AckResponse, AckResult, AssignRequest, AuditView, ChannelStatus, CloseRequest,
    DismissRequest, EffectView, ErrorBody, IncidentDetail, IncidentView, ItemView, LevelRequest,
    MergeRequest, MilestoneRequest, SourceHealth, SourceStatus, StatusView, UnlinkRequest,
};

/// Longest accepted officer name or unit.
const MAX_NAME_CHARS: usize = 64;
/// Longest accepted note or reason.
const MAX_TEXT_CHARS: usize = 2000;

/// Why the API could not start or stopped. The IO cause is part of the one-line
/// message, so it is not chained as a `source` too (no repetition in `{:#}`).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(
        "控制接口无法监听 {addr}：{error}；是否已有守护进程在运行？如需换端口请修改 [api] bind"
    )]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("控制接口异常停止：{0}")]
    Serve(std::io::Error),
}

/// A request that failed; answered as [`ErrorBody`] JSON.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("缺少或错误的访问令牌；请使用数据目录中 api.token 的令牌（Authorization: Bearer …）")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::NotAllowed(_) => "not_allowed",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Internal(_) => "internal",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::NotAllowed(_) => StatusCode::CONFLICT,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.to_string(),
            code: self.code().to_string(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<LedgerError> for ApiError {
    fn from(err: LedgerError) -> Self {
        match err {
            LedgerError::NotFound(_) => ApiError::NotFound(err.to_string()),
            LedgerError::NotAllowed(message) => ApiError::NotAllowed(message),
            LedgerError::Store(err) => err.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        tracing::error!(%err, "store error while answering the control API");
        ApiError::Internal(err.to_string())
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        ApiError::BadRequest("事件编号应为正整数".into())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(err: JsonRejection) -> Self {
        ApiError::BadRequest(format!("请求内容不是有效的 JSON：{}", err.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(err: QueryRejection) -> Self {
        ApiError::BadRequest(format!("查询参数无效：{}", err.body_text()))
    }
}

/// Checks an officer's name (`--by`): present, one line, not absurdly long.
pub fn check_by(by: &str) -> Result<String, ApiError> {
    check_name(by, "操作人不能为空；请用 --by 写明你的姓名", "操作人")
}

/// Checks a required reason (`--reason`).
pub fn check_reason(reason: &str) -> Result<String, ApiError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ApiError::BadRequest(
            "理由不能为空；请用 --reason 说明原因".into(),
        ));
    }
    check_text(Some(reason), "理由").map(Option::unwrap_or_default)
}

fn check_name(value: &str, empty: &str, what: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::BadRequest(empty.into()));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "{what}中不能有换行或控制字符"
        )));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::BadRequest(format!(
            "{what}过长（最多 {MAX_NAME_CHARS} 个字）"
        )));
    }
    Ok(value.to_string())
}

/// An optional note: trimmed, empty means none.
fn check_text(value: Option<&str>, what: &str) -> Result<Option<String>, ApiError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::BadRequest(format!(
            "{what}过长（最多 {MAX_TEXT_CHARS} 个字）"
        )));
    }
    Ok(Some(value.to_string()))
}

/// A milestone's publication address: http or https.
fn check_url(value: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(Some(url.to_string())),
        _ => Err(ApiError::BadRequest(format!(
            "发布地址“{value}”不是有效的网址；请写完整的 http:// 或 https:// 地址"
        ))),
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    store: Store,
    ledger: Ledger,
    config: Arc<Config>,
    token: Arc<Token>,
    started_at: Timestamp,
}

impl ApiState {
    /// `ledger` must be built on `store`.
    pub fn new(store: Store, ledger: Ledger, config: Arc<Config>, token: Token) -> ApiState {
        ApiState {
            store,
            ledger,
            config,
            token: Arc::new(token),
            started_at: Utc::now(),
        }
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs a ledger call off the async threads (sled may block on IO).
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Ledger) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let ledger = self.ledger.clone();
        tokio::task::spawn_blocking(move || f(&ledger))
            .await
            .map_err(|err| ApiError::Internal(format!("内部错误：{err}")))?
            .map_err(ApiError::from)
    }

    /// Runs a change, then flushes the store so the answer never outruns the disk.
    async fn change<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Ledger) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let result = self.run(f).await;
        // Flush whatever happened, even a refused change (a repeated ack is audited).
        self.ledger.flush().await?;
        result
    }

    /// An incident with its items and audit trail (`show`).
    async fn detail(&self, id: IncidentId) -> Result<IncidentDetail, ApiError> {
        let config = self.config.clone();
        self.run(move |ledger| {
            let incident = ledger.get(id)?;
            let items = ledger.items_of(id)?;
            let items: Vec<_> = items.iter().collect();
            let audit = ledger.audit(id)?;
            Ok(detail(&config, &incident, &items, &audit, Utc::now()))
        })
        .await
    }
}

/// The `show --json` shape of an incident from what the ledger holds about it; `items`
/// oldest first. Shared by `show` and the export.
fn detail(
    config: &Config,
    incident: &Incident,
    items: &[&Item],
    audit: &[AuditEntry],
    now: Timestamp,
) -> IncidentDetail {
    let source_name = |id: &str| {
        config
            .sources
            .iter()
            .find(|s| s.id == id)
            .map_or(id.to_string(), |s| s.name.clone())
    };
    let times = items
        .iter()
        .map(|item| crate::clock::effect::item_time(item));
    IncidentDetail {
        incident: IncidentView::new(incident, now),
        item_list: items
            .iter()
            .map(|item| ItemView::new(item, &source_name(&item.source)))
            .collect(),
        audit: audit.iter().map(AuditView::from).collect(),
        effect: crate::clock::effect::assess(incident, times, now)
            .as_ref()
            .map(EffectView::from),
    }
}

/// The control API, bound and ready: the token is loaded (or created) and the
/// port is taken, so a daemon that cannot serve its API fails at start, not later.
///
/// ```ignore
/// let api = api::Server::bind(store.clone(), ledger.clone(), config.clone()).await?;
/// // .merge(digest routes) here
/// tasks.spawn(api.serve(async move { let _ = stopping.wait_for(|s| *s).await; }));
/// ```
pub struct Server {
    state: ApiState,
    listener: TcpListener,
    extra: Router<ApiState>,
}

impl Server {
    /// Loads or creates `<data_dir>/api.token` and binds `[api] bind`. A non-loopback
    /// address (only possible with `allow_remote = true`) is logged loudly.
    /// `ledger` must be built on `store`.
    pub async fn bind(
        store: Store,
        ledger: Ledger,
        config: Arc<Config>,
    ) -> Result<Server, ServeError> {
        let token = Token::load_or_create(&config.data_dir)?;
        let listener = bind(&config.api).await?;
        Ok(Server {
            state: ApiState::new(store, ledger, config, token),
            listener,
            extra: Router::new(),
        })
    }

    /// The merge point for routes other modules own (the digest's `/v1/digest…`):
    /// they are served behind the same token check.
    pub fn merge(mut self, routes: Router<ApiState>) -> Server {
        self.extra = self.extra.merge(routes);
        self
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `shutdown` resolves; requests in flight are finished first.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        if let Some(addr) = self.local_addr() {
            tracing::info!(%addr, "control API listening");
        }
        let listener = listener::CappedListener::new(self.listener, &self.state.config.api);
        let app = router(self.state, self.extra);
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<listener::Peer>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)
    }
}

async fn bind(api: &ApiConfig) -> Result<TcpListener, ServeError> {
    if !api.bind.ip().is_loopback() {
        tracing::warn!(bind = %api.bind,
            "control API bound to a non-loopback address (allow_remote = true): anyone who can reach it and holds the token can change the ledger; put it behind a firewall or a TLS proxy");
    }
    TcpListener::bind(api.bind)
        .await
        .map_err(|error| ServeError::Bind {
            addr: api.bind,
            error,
        })
}

/// The API's routes, token check included.
pub fn router(state: ApiState, extra: Router<ApiState>) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/incidents", get(list::list))
        .route("/v1/incidents/{id}", get(show))
        .route("/v1/incidents/{id}/ack", post(ack))
        .route("/v1/incidents/{id}/milestone", post(milestone))
        .route("/v1/incidents/{id}/level", post(level))
        .route("/v1/incidents/{id}/assign", post(assign))
        .route("/v1/incidents/{id}/close", post(close))
        .route("/v1/incidents/{id}/dismiss", post(dismiss))
        .route("/v1/incidents/{id}/merge", post(merge))
        .route("/v1/incidents/{id}/unlink", post(unlink))
        .route("/v1/export", get(export::export))
        .merge(extra)
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

async fn require_token(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
    match presented {
        Some(token) if state.token.matches(token) => next.run(request).await,
        _ => {
            let peer = request
                .extensions()
                .get::<ConnectInfo<listener::Peer>>()
                .map(|ConnectInfo(peer)| peer.0.to_string());
            tracing::warn!(
                peer = peer.as_deref().unwrap_or("-"),
                method = %request.method(),
                path = request.uri().path(),
                "control API request refused: missing or wrong token"
            );
            ApiError::Unauthorized.into_response()
        }
    }
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound("没有这个接口；可用的接口见 yuqing 文档（/v1/…）".into())
}

async fn wrong_method() -> Response {
    let mut response = ApiError::BadRequest("此接口不支持该请求方法".into()).into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

type IdPath = Result<Path<IncidentId>, PathRejection>;
type Body<T> = Result<Json<T>, JsonRejection>;

async fn show(State(state): State<ApiState>, id: IdPath) -> Result<Json<IncidentDetail>, ApiError> {
    let Path(id) = id?;
    state.detail(id).await.map(Json)
}

async fn ack(
    State(state): State<ApiState>,
    id: IdPath,
    body: Body<AckRequest>,
) -> Result<Json<AckResponse>, ApiError> {
    let (Path(id), Json(request)) = (id?, body?);
    let by = check_by(&request.by)?;
    let note = check_text(request.note.as_deref(), "备注")?;
    let outcome = state
        .change(move |ledger| ledger.ack(id, &by, note.as_deref(), Utc::now()))
        .await?;
    let now = Utc::now();
    Ok(Json(match outcome {
        AckOutcome::Acknowledged(incident) => AckResponse {
            result: AckResult::Acknowledged,
            acknowledged_by: None,
            acknowledged_at: None,
            incident: IncidentView::new(&incident, now),
        },
        AckOutcome::AlreadyAcknowledged { incident, by, at } => AckResponse {
            result: AckResult::AlreadyAcknowledged,
            acknowledged_by: Some(by),
            acknowledged_at: Some(at),
            incident: IncidentView::new(&incident, now),
        },
    }))
}

async fn milestone(
    State(state): State<ApiState>,
    id: IdPath,
    body: Body<MilestoneRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    let (Path(id), Json(request)) = (id?, body?);
    let by = check_by(&request.by)?;
    let url = check_url(request.url.as_deref())?;
    let note = check_text(request.note.as_deref(), "备注")?;
    let incident = state
        .change(move |ledger| {
            let now = Utc::now();
            match request.from_response {
                Some(n) => ledger.confirm_response(id, request.milestone, n, &by, now),
                None => ledger.milestone(
                    id,
                    request.milestone,
                    &by,
                    url.as_deref(),
                    note.as_deref(),
                    request.at.unwrap_or(now),
                    now,
                ),
            }
        })
        .await?;
    Ok(Json(IncidentView::new(&incident, Utc::now())))
}

async fn unlink(
    State(state): State<ApiState>,
    id: IdPath,
    body: Body<UnlinkRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    let (Path(id), Json(request)) = (id?, body?);
    let by = check_by(&request.by)?;
    let reason = check_reason(&request.reason)?;
    let incident = state
        .change(move |ledger| {
            ledger.unlink_response(id, request.response, &by, &reason, Utc::now())
        })
        .await?;
    Ok(Json(IncidentView::new(&incident, Utc::now())))
}

async fn level(
    State(state): State<ApiState>,
    id: IdPath,
    body: Body<LevelRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    let (Path(id), Json(request)) = (id?, body?);
    let by = check_by(&request.by)?;
    let reason = check_reason(&request.reason)?;
    let incident = state
        .change(move |ledger| ledger.regrade(id, request.level, &by, &reason, Utc::now()))
        .await?;
    Ok(Json(IncidentView::new(&incident, Utc::now())))
}

async fn assign(
    State(state): State<ApiState>,
    id: IdPath,
    body: Body<AssignRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    let (Path(id), Json(request)) = (id?, body?);
    let by = check_by(&request.by)?;
    let unit = check_name(&request.unit, "责任单位不能为空", "责任单位")?;
    let incident = state
        .change(move |ledger| ledger.assign(id, &unit, &by, Utc::now()))
        .await?;
    Ok(Json(IncidentView::new(&incident, Utc::now())))
}

async fn close(
    State(state): State<ApiState>,
    id: IdPath,
    body: Body<CloseRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    let (Path(id), Json(request)) = (id?, body?);
    let by = check_by(&request.by)?;
    let note = check_text(request.note.as_deref(), "备注")?;
    let reason = check_text(request.reason.as_deref(), "理由")?;
    let incident = state
        .change(move |ledger| ledger.close(id, &by, note.as_deref(), reason.as_deref(), Utc::now()))
        .await?;
    Ok(Json(IncidentView::new(&incident, Utc::now())))
}

async fn dismiss(
    State(state): State<ApiState>,
    id: IdPath,
    body: Body<DismissRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    let (Path(id), Json(request)) = (id?, body?);
    let by = check_by(&request.by)?;
    let reason = check_reason(&request.reason)?;
    let incident = state
        .change(move |ledger| ledger.dismiss(id, &by, &reason, Utc::now()))
        .await?;
    Ok(Json(IncidentView::new(&incident, Utc::now())))
}

async fn merge(
    State(state): State<ApiState>,
    id: IdPath,
    body: Body<MergeRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    let (Path(id), Json(request)) = (id?, body?);
    let by = check_by(&request.by)?;
    let incident = state
        .change(move |ledger| ledger.merge(id, request.into, &by, Utc::now()))
        .await?;
    Ok(Json(IncidentView::new(&incident, Utc::now())))
}

/// `GET /v1/status`. Read off the async threads: the mail figures walk the outbox,
/// which holds thousands of rows while a backlog of notices is sent.
async fn status(State(state): State<ApiState>) -> Result<Json<StatusView>, ApiError> {
    let (store, config, started_at) = (state.store.clone(), state.config.clone(), state.started_at);
    let view = state
        .run(move |_| Ok(status_view(&store, &config, started_at)?))
        .await?;
    Ok(Json(view))
}

fn status_view(
    store: &Store,
    config: &Config,
    started_at: Timestamp,
) -> Result<StatusView, StoreError> {
    let (states, open) = (store.source_states()?, store.open_incident_count()?);
    let last_poll_at = states.iter().filter_map(|(_, s)| s.last_poll_at).max();
    let mut states: std::collections::HashMap<String, _> = states.into_iter().collect();
    let sources = config
        .sources
        .iter()
        .map(|source| {
            let stored = states.remove(&source.id).unwrap_or_default();
            let health = if !source.enabled {
                SourceHealth::Disabled
            } else if stored.last_poll_at.is_none() {
                SourceHealth::Waiting
            } else if stored.consecutive_failures > 0 {
                SourceHealth::Failing
            } else {
                SourceHealth::Ok
            };
            SourceStatus {
                id: source.id.clone(),
                name: source.name.clone(),
                health,
                ok: health == SourceHealth::Ok,
                last_poll_at: stored.last_poll_at,
                last_ok_at: stored.last_ok_at,
                failing_since: stored.failing_since,
                consecutive_failures: stored.consecutive_failures,
                last_error: stored.last_error,
                last_status: stored.last_status,
                items_total: stored.items_total,
            }
        })
        .collect();
    let mut by_destination = store.outbox_failures_by_destination()?;
    let failures = by_destination.remove(&None).unwrap_or_default();
    let channels = config
        .channels
        .iter()
        .map(|channel| {
            let queue = by_destination
                .remove(&Some(channel.name().to_string()))
                .unwrap_or_default();
            ChannelStatus {
                name: channel.name().to_string(),
                kind: channel.kind.as_str().to_string(),
                pending: queue.pending,
                failing: queue.failing,
                last_error: queue.last_error,
                next_retry_at: queue.next_retry_at,
            }
        })
        .collect::<Vec<_>>();
    // Rows of a channel no longer configured wait for it to come back: shown, not hidden.
    let removed = by_destination
        .into_iter()
        .filter_map(|(name, queue)| Some((name?, queue)))
        .map(|(name, queue)| ChannelStatus {
            name,
            kind: "removed".into(),
            pending: queue.pending,
            failing: queue.failing,
            last_error: queue.last_error,
            next_retry_at: queue.next_retry_at,
        });
    let channels = channels.into_iter().chain(removed).collect();
    Ok(StatusView {
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        now: Utc::now(),
        data_dir: config.data_dir.display().to_string(),
        db_bytes: store.size_on_disk(),
        items: store.item_count(),
        open_incidents: open,
        outbox_pending: failures.pending,
        dead_letters: store.dead_letter_count(),
        mail_failing: failures.failing,
        mail_last_error: failures.last_error,
        mail_next_retry_at: failures.next_retry_at,
        last_poll_at,
        sources,
        channels,
        retention: retention_status(config, store.last_sweep()?),
    })
}

/// The retention part of `status`.
fn retention_status(
    config: &Config,
    last: Option<crate::store::SweepReport>,
) -> views::RetentionStatus {
    views::RetentionStatus {
        routine_items: config.retention.routine_items.to_string(),
        last_sweep_at: last.as_ref().map(|r| r.at),
        last_removed: last.as_ref().map_or(0, |r| r.removed),
        last_kept: last.as_ref().map_or(0, |r| r.kept),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::client::{Client, ClientError};
    use crate::api::views::{ListQuery, TOTAL_HEADER};

    fn test_config(dir: &std::path::Path) -> Arc<Config> {
        Arc::new(Config {
            data_dir: dir.to_path_buf(),
            api: ApiConfig {
                bind: "127.0.0.1:0".parse().unwrap(),
                ..ApiConfig::default()
            },
            ..Config::default()
        })
    }

    /// A real server on 127.0.0.1:0 over a temporary store, with one extra route
    /// standing in for the digest's. Returns the token the server wrote.
    async fn start() -> (SocketAddr, Token, Store, Ledger, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(dir.path());
        let store = Store::temporary().unwrap();
        let ledger = Ledger::new(
            store.clone(),
            config.clone(),
            Arc::new(tokio::sync::Notify::new()),
        );
        let server = Server::bind(store.clone(), ledger.clone(), config)
            .await
            .unwrap()
            .merge(Router::new().route("/v1/extra", get(|| async { "extra" })));
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.serve(std::future::pending()));
        let token = Token::read(&token_path(dir.path())).unwrap();
        (addr, token, store, ledger, dir)
    }

    async fn raw(addr: SocketAddr, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("http://{addr}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    #[tokio::test]
    async fn requests_without_the_right_token_get_401_in_chinese() {
        let (addr, token, _store, _ledger, _dir) = start().await;
        for presented in [None, Some("wrong"), Some(&token.as_str()[1..])] {
            for path in ["/v1/incidents", "/v1/status", "/v1/extra", "/v1/nowhere"] {
                let response = raw(addr, path, presented).await;
                assert_eq!(response.status(), 401, "{path} {presented:?}");
                assert_eq!(response.headers()["www-authenticate"], "Bearer");
                let body: ErrorBody = response.json().await.unwrap();
                assert_eq!(body.code, "unauthorized");
                assert!(body.error.contains("令牌"), "{}", body.error);
            }
        }
        let wrong = Client::with_token(addr, Token::generate()).unwrap();
        let err = wrong.status::<serde_json::Value>().await.unwrap_err();
        assert!(matches!(err, ClientError::Unauthorized(_)), "{err:?}");
        assert_eq!(err.exit_code(), 2);
        // A token whose bytes differ from the real one only in case is still wrong.
        let upper = token.as_str().to_uppercase();
        if upper != token.as_str() {
            assert_eq!(raw(addr, "/v1/extra", Some(&upper)).await.status(), 401);
        }
    }

    #[tokio::test]
    async fn status_counts_mail_and_shows_cards_of_a_removed_channel() {
        let (addr, token, store, _ledger, _dir) = start().await;
        // Cards queued for "gone", a channel the configuration no longer has.
        store.route_to_channels(Box::new(|_| vec!["gone".to_string()]));
        store
            .enqueue_notice(&crate::model::Notice {
                key: "bulletin/1".into(),
                to: vec!["duty@localhost".into()],
                created_at: Utc::now(),
                kind: crate::model::NoticeKind::Bulletin {
                    subject: "s".into(),
                    paragraphs: vec![],
                    commands: vec![],
                },
            })
            .unwrap();
        let client = Client::with_token(addr, token).unwrap();
        let status: StatusView = client.status().await.unwrap();
        assert_eq!(status.outbox_pending, 1, "the mail only");
        assert_eq!(status.channels.len(), 1);
        let channel = &status.channels[0];
        assert_eq!(
            (
                channel.name.as_str(),
                channel.kind.as_str(),
                channel.pending
            ),
            ("gone", "removed", 1)
        );
    }

    #[tokio::test]
    async fn merged_routes_sit_behind_the_token() {
        let (addr, token, _store, _ledger, _dir) = start().await;
        let response = raw(addr, "/v1/extra", Some(token.as_str())).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "extra");
    }

    #[tokio::test]
    async fn malformed_requests_are_refused_before_the_ledger_is_touched() {
        let (addr, token, _store, _ledger, _dir) = start().await;
        let client = Client::with_token(addr, token.clone()).unwrap();
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            (
                "/v1/incidents/1/ack",
                serde_json::json!({"by": "  "}),
                "--by",
            ),
            (
                "/v1/incidents/1/ack",
                serde_json::json!({"note": "x"}),
                "JSON",
            ),
            (
                "/v1/incidents/1/ack",
                serde_json::json!({"by": "张三\n李四"}),
                "控制字符",
            ),
            (
                "/v1/incidents/1/dismiss",
                serde_json::json!({"by": "张三", "reason": ""}),
                "--reason",
            ),
            (
                "/v1/incidents/1/level",
                serde_json::json!({"by": "张三", "reason": "核实", "level": "V"}),
                "JSON",
            ),
            (
                "/v1/incidents/1/assign",
                serde_json::json!({"by": "张三", "unit": " "}),
                "责任单位",
            ),
            (
                "/v1/incidents/1/milestone",
                serde_json::json!({"by": "张三", "milestone": "statement", "url": "javascript:alert(1)"}),
                "网址",
            ),
            (
                "/v1/incidents/abc/close",
                serde_json::json!({"by": "张三"}),
                "编号",
            ),
        ];
        for (path, body, needle) in cases {
            let err = client
                .post_json::<_, serde_json::Value>(path, &body)
                .await
                .unwrap_err();
            assert_eq!(err.exit_code(), 2, "{path} {body}: {err}");
            assert!(err.to_string().contains(needle), "{path} {body}: {err}");
        }
        let response = raw(addr, "/v1/export?format=xlsx", Some(token.as_str())).await;
        assert_eq!(response.status(), 400);
        let body: ErrorBody = response.json().await.unwrap();
        assert_eq!(body.code, "bad_request");
        assert!(body.error.contains("csv"), "{}", body.error);
    }

    #[tokio::test]
    async fn unknown_routes_answer_json_not_found() {
        let (addr, token, _store, _ledger, _dir) = start().await;
        let response = raw(addr, "/v2/incidents", Some(token.as_str())).await;
        assert_eq!(response.status(), 404);
        let body: ErrorBody = response.json().await.unwrap();
        assert_eq!(body.code, "not_found");
        let response = raw(addr, "/v1/incidents/1/ack", Some(token.as_str())).await;
        assert_eq!(response.status(), 405);
        let body: ErrorBody = response.json().await.unwrap();
        assert!(body.error.contains("请求方法"), "{}", body.error);
    }

    #[tokio::test]
    async fn a_taken_port_is_reported_with_the_setting_to_change() {
        let api = ApiConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            ..ApiConfig::default()
        };
        let listener = bind(&api).await.unwrap();
        let taken = ApiConfig {
            bind: listener.local_addr().unwrap(),
            ..ApiConfig::default()
        };
        let err = bind(&taken).await.unwrap_err();
        assert!(err.to_string().contains("[api] bind"), "{err}");
    }

    #[tokio::test]
    async fn shutdown_stops_the_server_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(dir.path());
        let store = Store::temporary().unwrap();
        let ledger = Ledger::new(
            store.clone(),
            config.clone(),
            Arc::new(tokio::sync::Notify::new()),
        );
        let server = Server::bind(store, ledger, config).await.unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        let token = Token::read(&token_path(dir.path())).unwrap();
        assert_eq!(
            raw(addr, "/v1/nowhere", Some(token.as_str()))
                .await
                .status(),
            404
        );
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    /// A real server over a ledger holding one flagged, local level III item.
    async fn start_with_incident() -> (SocketAddr, Token, Ledger, tempfile::TempDir, IncidentId) {
        let (addr, token, store, ledger, dir) = start().await;
        let store = &store;
        let now = Utc::now();
        let crate::store::UpsertOutcome::New(mut item) = store
            .upsert_item(
                "local-news",
                crate::parse::ParsedItem {
                    key: "a1".into(),
                    title: "安丘市景芝镇一化工厂发生爆炸 造成3人死亡".into(),
                    link: Some("http://127.0.0.1/a1.html".into()),
                    body: String::new(),
                    published: Some(now),
                    date_quality: Some(crate::model::DateQuality::Credible),
                },
                now,
            )
            .unwrap()
        else {
            panic!("new item")
        };
        item.classification = Some(crate::model::Classification {
            flag: true,
            topics: vec!["accident".into()],
            severity: Some(crate::model::Level::III),
            deaths: Some(3),
            local: true,
            ..Default::default()
        });
        let terms = vec!["化工厂".to_string(), "爆炸".to_string()];
        let id = match ledger.ingest(&item, &terms, now).unwrap() {
            Some(crate::ledger::IngestOutcome::Opened(id)) => id,
            other => panic!("expected an incident: {other:?}"),
        };
        (addr, token, ledger, dir, id)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_acks_one_wins_both_are_told_and_audited() {
        let (addr, token, ledger, _dir, id) = start_with_incident().await;
        let client = Client::with_token(addr, token).unwrap();
        let ack = |by: &str| AckRequest {
            by: by.into(),
            note: None,
        };
        let (first, second) = (ack("张三"), ack("李四"));
        let (a, b) = tokio::join!(client.ack(id, &first), client.ack(id, &second));
        let mut results = vec![a.unwrap().result, b.unwrap().result];
        results.sort_by_key(|r| *r == AckResult::AlreadyAcknowledged);
        assert_eq!(
            results,
            [AckResult::Acknowledged, AckResult::AlreadyAcknowledged]
        );
        let audit = ledger.audit(id).unwrap();
        for by in ["张三", "李四"] {
            assert!(
                audit
                    .iter()
                    .any(|e| e.by == by && e.action.starts_with("ack")),
                "{by} not audited: {audit:?}"
            );
        }
        assert_eq!(
            ledger.get(id).unwrap().status,
            crate::model::Status::Acknowledged
        );
    }

    #[tokio::test]
    async fn ledger_refusals_map_to_404_and_409() {
        let (addr, token, ledger, _dir, id) = start_with_incident().await;
        let client = Client::with_token(addr, token).unwrap();
        let err = client.show::<IncidentDetail>(id + 100).await.unwrap_err();
        assert!(
            matches!(&err, ClientError::Refused { code, .. } if code == "not_found"),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 1);
        // Level III has no statement clock: refused, and nothing is written.
        let before = ledger.audit(id).unwrap().len();
        let request = MilestoneRequest {
            milestone: crate::model::Milestone::Statement,
            by: "张三".into(),
            url: None,
            note: None,
            at: None,
            from_response: None,
        };
        let err = client.milestone(id, &request).await.unwrap_err();
        assert!(
            matches!(&err, ClientError::Refused { code, .. } if code == "not_allowed"),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 1);
        assert_eq!(before, ledger.audit(id).unwrap().len());
        // The detail carries items with their source and the audit trail.
        let detail: IncidentDetail = client.show(id).await.unwrap();
        assert_eq!(detail.item_list.len(), 1);
        assert_eq!(
            detail.item_list[0].link.as_deref(),
            Some("http://127.0.0.1/a1.html")
        );
        assert!(!detail.audit.is_empty());
        let status: StatusView = client.status().await.unwrap();
        assert_eq!((status.items, status.open_incidents), (1, 1));
    }

    /// Incidents 1..=n written as `import` writes them: each with two items of its own
    /// and an audit entry; every tenth with a notice still queued (the record carries
    /// the notice itself), every seventh closed (a finished incident is exported too).
    pub(crate) fn fill(store: &Store, n: u64) {
        use crate::api::views::tests::incident;
        use crate::store::{LedgerRecord, NoticeRecord, NoticeState};
        for id in 1..=n {
            let mut inc = incident(id, &format!("测试事件{id}：某镇化工厂发生爆炸"));
            if id % 7 == 0 {
                inc.status = crate::model::Status::Closed;
            }
            for (i, r) in inc.items.iter_mut().enumerate() {
                r.key = format!("{id}-{i}");
            }
            let items = inc
                .items
                .iter()
                .enumerate()
                .map(|(i, r)| Item {
                    source: r.source.clone(),
                    key: r.key.clone(),
                    title: format!("{}（{i}）", inc.title),
                    link: Some(format!("https://news.example.org/{id}/{i}")),
                    body: "正文".repeat(20),
                    published: None,
                    date_quality: None,
                    first_seen: inc.opened_at + chrono::Duration::minutes(i as i64),
                    updated_at: inc.opened_at,
                    revisions: 0,
                    classification: Some(Default::default()),
                    incident: Some(id),
                })
                .collect();
            let notices = if id % 10 == 0 {
                let notice = crate::model::Notice {
                    key: format!("{id}/opened"),
                    to: vec!["duty@localhost".into()],
                    created_at: inc.opened_at,
                    kind: crate::model::NoticeKind::Bulletin {
                        subject: format!("事件{id}"),
                        paragraphs: vec![],
                        commands: vec![],
                    },
                };
                vec![NoticeState {
                    key: notice.key.clone(),
                    record: NoticeRecord::Queued {
                        seq: 0,
                        at: inc.opened_at,
                    },
                    queued: Some(notice),
                }]
            } else {
                Vec::new()
            };
            let audit = vec![AuditEntry {
                incident: id,
                at: inc.opened_at,
                by: "值班员".into(),
                action: "opened".into(),
                detail: "测试".into(),
                reason: None,
            }];
            store
                .restore_record(&LedgerRecord {
                    incident: inc,
                    items,
                    audit,
                    clocks: Vec::new(),
                    ack: None,
                    open_row: None,
                    notices,
                })
                .unwrap();
        }
    }

    /// The whole export as the client receives it.
    async fn receive(client: &Client, format: &str) -> String {
        let mut export = client.export(format, None).await.unwrap();
        let mut body = Vec::new();
        while let Some(chunk) = export.chunk().await.unwrap() {
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).unwrap()
    }

    /// The streamed export is what the whole-ledger export was: after its header line,
    /// per incident by id, the `show --json` shape read through `show` plus the
    /// ledger's own record, one line each (then CSV: header, then a row per incident),
    /// across page boundaries; and its records restore the same ledger.
    #[tokio::test]
    async fn the_export_streams_page_by_page_what_show_and_the_records_say() {
        let (addr, token, store, ledger, _dir) = start().await;
        let n = export::PAGE as u64 * 2 + 3;
        fill(&store, n);
        let client = Client::with_token(addr, token).unwrap();

        let whole = receive(&client, "jsonl").await;
        // First what it is: a full export, taken when it started.
        let (header, jsonl) = whole.split_once('\n').unwrap();
        let header: export::ExportHeader = serde_json::from_str(header).unwrap();
        assert_eq!(header.kind, "export");
        assert_eq!(header.since, None);
        assert_eq!(header.format, crate::store::FORMAT_VERSION);
        let mut expected = String::new();
        for id in 1..=n {
            let shown: serde_json::Value = client.show(id).await.unwrap();
            let mut line = serde_json::to_string(&export::ExportLine {
                detail: serde_json::from_value(shown).unwrap(),
                record: store.ledger_record(id).unwrap().unwrap(),
            })
            .unwrap();
            line.push('\n');
            expected.push_str(&line);
        }
        assert_eq!(jsonl.lines().count(), n as usize);
        if let Some((got, want)) = jsonl.lines().zip(expected.lines()).find(|(a, b)| a != b) {
            panic!("the streamed export differs from show + records:\n{got}\n{want}");
        }
        assert_eq!(jsonl.len(), expected.len());
        let queued = jsonl.lines().nth(9).unwrap();
        assert!(
            queued.contains("\"queued\":{\"key\":\"10/opened\""),
            "a queued notice travels with its record: {queued}"
        );

        // `import` reads it back: the records rebuild the same ledger elsewhere.
        let copy = Store::temporary().unwrap();
        for line in jsonl.lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let record: crate::store::LedgerRecord =
                serde_json::from_value(value["record"].clone()).unwrap();
            copy.restore_record(&record).unwrap();
        }
        for id in [1, export::PAGE as u64 + 1, n] {
            let (mut a, mut b) = (
                store.ledger_record(id).unwrap().unwrap(),
                copy.ledger_record(id).unwrap().unwrap(),
            );
            // Queue numbers are the new store's own.
            for notices in [&mut a.notices, &mut b.notices] {
                for notice in notices.iter_mut() {
                    notice.record = crate::store::NoticeRecord::Queued {
                        seq: 0,
                        at: notice.queued.as_ref().unwrap().created_at,
                    };
                }
            }
            assert_eq!(a, b, "incident {id} restored as exported");
        }

        let csv = receive(&client, "csv").await;
        let now = Utc::now();
        let rows: Vec<_> = (1..=n)
            .map(|id| {
                let incident = ledger.get(id).unwrap();
                let effect = ledger.effect(&incident, now).unwrap();
                (
                    IncidentView::new(&incident, now),
                    effect.as_ref().map(EffectView::from),
                )
            })
            .collect();
        assert!(csv == export::csv_header() + &export::csv_rows(&rows));
    }

    /// The streamed list is the answer built whole before (the views of `list_page`
    /// as one JSON array, the match count in its header), byte for byte, across page
    /// boundaries, for every kind of query; and the client reads it back element by
    /// element.
    #[tokio::test]
    async fn the_list_streams_page_by_page_what_the_whole_answer_was() {
        let (addr, token, store, ledger, _dir) = start().await;
        let n = export::PAGE as u64 * 2 + 3;
        fill(&store, n);
        let client = Client::with_token(addr, token.clone()).unwrap();
        let queries = [
            ListQuery::default(),
            ListQuery {
                all: true,
                ..ListQuery::default()
            },
            ListQuery {
                all: true,
                limit: Some(export::PAGE + 1),
                ..ListQuery::default()
            },
            ListQuery {
                status: Some(crate::model::Status::Closed),
                ..ListQuery::default()
            },
            ListQuery {
                unit: Some("没有这个单位".into()),
                ..ListQuery::default()
            },
        ];
        for query in queries {
            let response = raw(
                addr,
                &format!("/v1/incidents?{}", query.to_query()),
                Some(token.as_str()),
            )
            .await;
            assert_eq!(response.status(), 200);
            let total = response.headers()[TOTAL_HEADER]
                .to_str()
                .unwrap()
                .to_string();
            let body = response.text().await.unwrap();
            let (incidents, expected_total) = ledger.list_page(&query.filter()).unwrap();
            let now = Utc::now();
            let views: Vec<IncidentView> = incidents
                .iter()
                .map(|i| IncidentView::new(i, now))
                .collect();
            assert_eq!(total, expected_total.to_string(), "{query:?}");
            assert!(
                body == serde_json::to_string(&views).unwrap(),
                "{query:?}: the streamed list differs from the whole one"
            );
            let mut listing = client.list_stream(&query).await.unwrap();
            let mut read: Vec<IncidentView> = Vec::new();
            while let Some(batch) = listing.next().await.unwrap() {
                read.extend(batch);
            }
            assert_eq!(read, views, "{query:?}");
            assert_eq!(listing.total(), expected_total);
            // The table's id column is sized before the first row: the largest id
            // listed comes ahead of the body (none when nothing matched).
            assert_eq!(
                listing.max_id(),
                views.iter().map(|v| v.id).max(),
                "{query:?}"
            );
        }
    }

    /// A list that fails part-way is cut off as the export is: an error that says the
    /// list is incomplete, never a short list that looks whole.
    #[tokio::test]
    async fn a_list_that_fails_part_way_is_cut_off_not_ended() {
        let (addr, token, store, _ledger, _dir) = start().await;
        fill(&store, export::PAGE as u64 + 5);
        let client = Client::with_token(addr, token).unwrap();
        let query = ListQuery {
            all: true,
            ..ListQuery::default()
        };
        // The second page's third incident, in list order.
        let ids = store.list_incidents(&query.filter()).unwrap().ids;
        store.damage_incident(ids[export::PAGE + 2]);
        let mut listing = client.list_stream(&query).await.unwrap();
        // The first page may or may not arrive before the abort (hyper drops what it
        // had not written yet): never the end.
        let err = loop {
            match listing.next::<serde_json::Value>().await {
                Ok(Some(batch)) => assert!(batch.len() <= export::PAGE),
                Ok(None) => panic!("the list ended as if whole"),
                Err(err) => break err,
            }
        };
        assert_eq!(err.exit_code(), 1, "{err}");
        assert!(err.to_string().contains("列表中途断开"), "{err}");
    }

    /// A failure part-way (an incident on the second page that cannot be read) aborts
    /// the response: the client gets the first page, then an error, never an end.
    #[tokio::test]
    async fn an_export_that_fails_part_way_is_cut_off_not_ended() {
        let (addr, token, store, _ledger, _dir) = start().await;
        let n = export::PAGE as u64 + 5;
        fill(&store, n);
        store.damage_incident(export::PAGE as u64 + 2);
        let client = Client::with_token(addr, token).unwrap();
        for format in ["jsonl", "csv"] {
            let mut export = client.export(format, None).await.unwrap();
            let mut received = 0;
            let err = loop {
                match export.chunk().await {
                    Ok(Some(chunk)) => received += chunk.len(),
                    Ok(None) => panic!("{format}: the export ended as if whole"),
                    Err(err) => break err,
                }
            };
            assert!(received > 0, "{format}: the first page arrived");
            assert_eq!(err.exit_code(), 1, "{err}");
            assert!(err.to_string().contains("导出中途断开"), "{err}");
        }
        // The daemon still answers.
        let status: serde_json::Value = client.status().await.unwrap();
        assert!(status.is_object());
    }
}
