//! The `/metrics` listener: reads the gauges from the store at each scrape and
//! renders them with the counters.

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use tokio::net::TcpListener;

use super::{Gauges, MAIL, METRICS, render};
use crate::config::Config;
use crate::model::{DeadlineState, Level, Milestone};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("指标接口出错：{}；请检查 [metrics] bind", crate::os_error::describe(.0))]
    Serve(#[source] std::io::Error),
}

#[derive(Clone)]
struct Scrape {
    store: Store,
    config: Arc<Config>,
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    config: Arc<Config>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), MetricsError> {
    let app = axum::Router::new()
        .route("/metrics", get(metrics))
        .with_state(Scrape { store, config });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics listening");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(MetricsError::Serve)
}

async fn metrics(State(scrape): State<Scrape>) -> Response {
    let gathered = tokio::task::spawn_blocking(move || gauges(&scrape.store, &scrape.config)).await;
    match gathered {
        Ok(Ok(gauges)) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            render(&METRICS.snapshot(), &gauges),
        )
            .into_response(),
        Ok(Err(err)) => {
            tracing::error!(error = %err, "metrics: store unreadable");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("store: {err}\n")).into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, "metrics: gathering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "gathering failed\n").into_response()
        }
    }
}

/// Reads the gauges (blocking: sled).
fn gauges(store: &Store, config: &Config) -> Result<Gauges, StoreError> {
    let now = Utc::now();
    let states = store.source_states()?;
    let sources = config
        .sources
        .iter()
        .filter(|s| s.enabled)
        .map(|source| {
            let up = states.iter().any(|(id, state)| {
                *id == source.id && state.last_ok_at.is_some() && state.consecutive_failures == 0
            });
            (source.id.clone(), up)
        })
        .collect();
    let levels = [Level::I, Level::II, Level::III, Level::IV, Level::Watch];
    let milestones = [
        Milestone::Ack,
        Milestone::Statement,
        Milestone::Press,
        Milestone::Response,
    ];
    let mut open = [0u64; 5];
    let mut overdue = [0u64; 4];
    for id in store.open_incident_ids()? {
        let Some(incident) = store.incident(id)? else {
            continue;
        };
        if let Some(i) = levels.iter().position(|l| *l == incident.level) {
            open[i] += 1;
        }
        for deadline in &incident.deadlines {
            if deadline.state(now) == DeadlineState::Overdue
                && let Some(i) = milestones.iter().position(|m| *m == deadline.milestone)
            {
                overdue[i] += 1;
            }
        }
    }
    let mut by_destination = store.outbox_failures_by_destination()?;
    let mut queued = vec![(
        MAIL.to_string(),
        by_destination.remove(&None).unwrap_or_default().pending as u64,
    )];
    for channel in &config.channels {
        let pending = by_destination
            .remove(&Some(channel.name().to_string()))
            .unwrap_or_default()
            .pending;
        queued.push((channel.name().to_string(), pending as u64));
    }
    Ok(Gauges {
        sources,
        open_by_level: levels.iter().map(|l| l.as_str()).zip(open).collect(),
        overdue_by_milestone: milestones.iter().map(|m| m.as_str()).zip(overdue).collect(),
        queued,
        backlog: store.pending_count() as u64,
        last_sweep: store
            .last_sweep()?
            .map(|sweep| (sweep.at.timestamp_millis() as f64 / 1000.0, sweep.removed)),
    })
}
