//! The `/metrics` listener: reads the gauges from the store at each scrape and
//! renders them with the counters.

use std::collections::HashMap;
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
use crate::model::{DeadlineState, Level, Milestone, Timestamp};
use crate::store::{ListFilter, Store, StoreError};

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

/// Reads the gauges (blocking: sled). Nothing here grows with the stored incidents
/// beyond those with an overdue deadline: open counts come from the list index's
/// counts, overdue deadlines from the incidents at the head of the list order.
fn gauges(store: &Store, config: &Config) -> Result<Gauges, StoreError> {
    let now = Utc::now();
    let up: HashMap<String, bool> = store
        .source_states()?
        .into_iter()
        .map(|(id, state)| {
            let up = state.last_ok_at.is_some() && state.consecutive_failures == 0;
            (id, up)
        })
        .collect();
    let sources = config
        .sources
        .iter()
        .filter(|s| s.enabled)
        .map(|source| (source.id.clone(), up.get(&source.id) == Some(&true)))
        .collect();
    let mut open = [0u64; Level::ALL.len()];
    for (count, level) in open.iter_mut().zip(Level::ALL) {
        let filter = ListFilter {
            level: Some(level),
            limit: Some(0),
            ..ListFilter::default()
        };
        *count = store.list_incidents(&filter)?.total as u64;
    }
    let overdue = overdue_deadlines(store, now)?;
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
        open_by_level: Level::ALL.iter().map(|l| l.as_str()).zip(open).collect(),
        overdue_by_milestone: Milestone::ALL
            .iter()
            .map(|m| m.as_str())
            .zip(overdue)
            .collect(),
        queued,
        backlog: store.pending_count() as u64,
        last_sweep: store
            .last_sweep()?
            .map(|sweep| (sweep.at.timestamp_millis() as f64 / 1000.0, sweep.removed)),
    })
}

/// Overdue deadlines of open incidents, per milestone ([`Milestone::ALL`]'s order). An
/// open incident has one exactly when its soonest unmet deadline has passed, and the
/// list order puts those first (soonest deadline first): the incidents are read in that
/// order until the first without one due after `now`'s millisecond (the order's
/// precision), in pages that grow fourfold. (An incident
/// changed between two pages may be counted twice or missed at a page boundary; the
/// next scrape reads it right.)
fn overdue_deadlines(store: &Store, now: Timestamp) -> Result<[u64; 4], StoreError> {
    let mut overdue = [0u64; Milestone::ALL.len()];
    let mut read = 0;
    let mut limit = 256;
    loop {
        let filter = ListFilter {
            limit: Some(limit),
            ..ListFilter::default()
        };
        let page = store.list_incidents(&filter)?;
        for id in page.ids.iter().skip(read) {
            read += 1;
            let Some(deadlines) = store.incident_deadlines(*id)? else {
                continue;
            };
            let mut any = false;
            for deadline in &deadlines {
                if deadline.state(now) == DeadlineState::Overdue
                    && let Some(i) = Milestone::ALL.iter().position(|m| *m == deadline.milestone)
                {
                    overdue[i] += 1;
                    any = true;
                }
            }
            // Later incidents are due no sooner, to the millisecond of the list order:
            // once this one's soonest unmet deadline is past `now`'s millisecond, none
            // of them is overdue (within that millisecond, one may still be).
            let soonest = deadlines
                .iter()
                .filter(|d| d.met_at.is_none())
                .map(|d| d.due_at.timestamp_millis())
                .min();
            if !any && soonest.is_none_or(|ms| ms > now.timestamp_millis()) {
                return Ok(overdue);
            }
        }
        if page.ids.len() < limit {
            return Ok(overdue);
        }
        limit = limit.saturating_mul(4);
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::model::Status;
    use crate::store::Abort;

    /// The gauges by definition: every stored incident read, the open ones counted.
    fn full_scan(store: &Store, now: Timestamp) -> ([u64; 5], [u64; 4]) {
        let (mut open, mut overdue) = ([0u64; 5], [0u64; 4]);
        for incident in store.incidents() {
            let incident = incident.unwrap();
            if !incident.status.is_open() {
                continue;
            }
            open[Level::ALL
                .iter()
                .position(|l| *l == incident.level)
                .unwrap()] += 1;
            for deadline in &incident.deadlines {
                if deadline.state(now) == DeadlineState::Overdue {
                    let i = Milestone::ALL.iter().position(|m| *m == deadline.milestone);
                    overdue[i.unwrap()] += 1;
                }
            }
        }
        (open, overdue)
    }

    /// Open counts and overdue deadlines from the index agree with reading every
    /// incident, on random ledgers large enough to need several pages (levels,
    /// statuses, deadlines passed, met or ahead).
    #[test]
    fn gauges_from_the_index_agree_with_a_full_scan() {
        let now = Utc::now();
        for (seed, incidents) in [(1u64, 40u64), (2, 700), (3, 1500)] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            for id in 1..=incidents {
                let mut incident = crate::api::views::tests::incident(id, "事件");
                incident.level = Level::ALL[rng.random_range(0..Level::ALL.len())];
                incident.status = Status::ALL[rng.random_range(0..Status::ALL.len())];
                incident.merged_into = (incident.status == Status::Merged).then_some(1);
                for deadline in &mut incident.deadlines {
                    deadline.due_at = now + chrono::Duration::minutes(rng.random_range(-600..600));
                    if rng.random_bool(0.3) {
                        deadline.met_at = Some(deadline.due_at);
                    }
                }
                store
                    .ledger_tx(|tx| Ok::<_, Abort<StoreError>>(tx.put_incident(&incident, None)?))
                    .unwrap();
            }
            let (open, overdue) = full_scan(&store, now);
            assert!(
                overdue.iter().sum::<u64>() > 0,
                "seed {seed}: nothing overdue"
            );
            assert!(
                open.iter().sum::<u64>() < incidents,
                "seed {seed}: nothing finished"
            );
            let gauges = gauges(&store, &Config::default()).unwrap();
            let got_open: Vec<u64> = gauges.open_by_level.iter().map(|(_, n)| *n).collect();
            assert_eq!(got_open, open, "seed {seed}");
            assert_eq!(
                overdue_deadlines(&store, now).unwrap(),
                overdue,
                "seed {seed}"
            );
        }
    }

    /// Two incidents due in one millisecond, listed by id: the first due after `now`,
    /// the second before it. The second is still counted.
    #[test]
    fn a_deadline_in_the_same_millisecond_as_a_later_one_is_counted() {
        let ms: Timestamp = "2026-12-07T05:00:00.123Z".parse().unwrap();
        let now = ms + chrono::Duration::microseconds(500);
        let store = Store::temporary().unwrap();
        for (id, offset) in [(1, 700), (2, 300)] {
            let mut incident = crate::api::views::tests::incident(id, "事件");
            // The helper's incident has 签收 met; its other two deadlines are unmet.
            for deadline in incident.deadlines.iter_mut().filter(|d| d.met_at.is_none()) {
                deadline.due_at = if deadline.milestone == Milestone::Statement {
                    ms + chrono::Duration::microseconds(offset)
                } else {
                    ms + chrono::Duration::hours(1)
                };
            }
            store
                .ledger_tx(|tx| Ok::<_, Abort<StoreError>>(tx.put_incident(&incident, None)?))
                .unwrap();
        }
        assert_eq!(full_scan(&store, now).1.iter().sum::<u64>(), 1);
        assert_eq!(
            overdue_deadlines(&store, now).unwrap(),
            full_scan(&store, now).1
        );
    }
}
