//! Digest routes of the control API, as plain async functions for the router:
//!
//! - `GET /v1/digest?date=YYYY-MM-DD` → 200 with the [`DigestReport`] JSON (without
//!   `date`: the 24 hours before the last digest time);
//! - `POST /v1/digest/send?date=YYYY-MM-DD` → 200 with the [`SendOutcome`] JSON
//!   once the mail is queued and flushed.
//!
//! Errors answer `{"error": "<Chinese message>"}` with 400 for a bad or future
//! date, 409 when the digest has no recipients, 500 for storage failures.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::config::Config;
use crate::digest::{
    DigestError, DigestReport, DigestSchedule, Keywords, Period, SendOutcome, send_now,
};
use crate::incidents::{Ledger, LedgerError};

/// The query string of both routes.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DigestQuery {
    /// `YYYY-MM-DD`, a Beijing calendar day.
    pub date: Option<String>,
}

/// `GET /v1/digest`.
pub async fn get_digest(
    ledger: Ledger,
    config: Arc<Config>,
    keywords: Arc<Keywords>,
    query: DigestQuery,
) -> Result<Json<DigestReport>, DigestError> {
    let now = chrono::Utc::now();
    let schedule = DigestSchedule::from_config(&config.digest);
    let period = Period::resolve(query.date.as_deref(), &schedule, now)?;
    crate::digest::build_blocking(ledger, config, keywords, period, now)
        .await
        .map(Json)
}

/// `POST /v1/digest/send`.
pub async fn post_send(
    ledger: Ledger,
    config: Arc<Config>,
    keywords: Arc<Keywords>,
    query: DigestQuery,
) -> Result<Json<SendOutcome>, DigestError> {
    send_now(ledger, config, keywords, query.date, chrono::Utc::now())
        .await
        .map(Json)
}

impl DigestError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            DigestError::BadDate(_) | DigestError::FutureDate(_) => StatusCode::BAD_REQUEST,
            DigestError::NoRecipients => StatusCode::CONFLICT,
            DigestError::Ledger(LedgerError::NotFound(_)) => StatusCode::NOT_FOUND,
            DigestError::Ledger(LedgerError::NotAllowed(_)) => StatusCode::CONFLICT,
            DigestError::Ledger(LedgerError::Store(_))
            | DigestError::Store(_)
            | DigestError::Interrupted(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for DigestError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::error!(error = %self, "digest request failed");
        }
        (
            self.status(),
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}
