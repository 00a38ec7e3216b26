//! The digest's routes of the control API; mount them with
//! `Server::merge(api::digest::routes(config, keywords))`:
//!
//! - `GET /v1/digest?date=YYYY-MM-DD` → the [`DigestReport`] JSON (without `date`:
//!   the 24 hours before the last digest time);
//! - `POST /v1/digest/send?date=YYYY-MM-DD` → the [`SendOutcome`] JSON, once the
//!   mail is queued and flushed.
//!
//! A bad or future date answers 400 `bad_request` (the CLI exits 2); a digest
//! without recipients 409 `not_allowed`.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiError, ApiState};
use crate::config::Config;
use crate::digest::{
    DigestError, DigestReport, DigestSchedule, Keywords, Period, SendOutcome, build_blocking,
    send_now,
};
use crate::store::Store;

/// The query string of both routes.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DigestQuery {
    /// `YYYY-MM-DD`, a Beijing calendar day.
    pub date: Option<String>,
}

/// The digest routes. `keywords` is the classifier's keyword extraction.
pub fn routes(config: Arc<Config>, keywords: Arc<Keywords>) -> Router<ApiState> {
    let (get_config, get_keywords) = (config.clone(), keywords.clone());
    Router::new()
        .route(
            "/v1/digest",
            get(
                move |State(state): State<ApiState>,
                      query: Result<Query<DigestQuery>, QueryRejection>| async move {
                    let Query(query) = query?;
                    get_digest(state.store().clone(), get_config, get_keywords, query).await
                },
            ),
        )
        .route(
            "/v1/digest/send",
            post(
                move |State(state): State<ApiState>,
                      query: Result<Query<DigestQuery>, QueryRejection>| async move {
                    let Query(query) = query?;
                    post_send(state.store().clone(), config, keywords, query).await
                },
            ),
        )
}

/// `GET /v1/digest`.
pub async fn get_digest(
    store: Store,
    config: Arc<Config>,
    keywords: Arc<Keywords>,
    query: DigestQuery,
) -> Result<Json<DigestReport>, ApiError> {
    let now = chrono::Utc::now();
    let schedule = DigestSchedule::from_config(&config.digest);
    let period = Period::resolve(query.date.as_deref(), &schedule, now)?;
    Ok(Json(
        build_blocking(store, config, keywords, period, now).await?,
    ))
}

/// `POST /v1/digest/send`.
pub async fn post_send(
    store: Store,
    config: Arc<Config>,
    keywords: Arc<Keywords>,
    query: DigestQuery,
) -> Result<Json<SendOutcome>, ApiError> {
    Ok(Json(
        send_now(store, config, keywords, query.date, chrono::Utc::now()).await?,
    ))
}

impl From<DigestError> for ApiError {
    fn from(err: DigestError) -> Self {
        match err {
            DigestError::BadDate(_) | DigestError::FutureDate(_) => {
                ApiError::BadRequest(err.to_string())
            }
            DigestError::NoRecipients => ApiError::NotAllowed(err.to_string()),
            DigestError::Store(err) => err.into(),
            DigestError::Interrupted(_) => {
                tracing::error!(%err, "digest failed while answering the control API");
                ApiError::Internal(err.to_string())
            }
        }
    }
}
