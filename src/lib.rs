//! yuqing: a public-opinion (舆情) monitoring daemon for city and county governments.
//!
//! The pipeline, one module per stage:
//! [`sources`] (HTTP) → [`parse`] (bytes → items, no IO) → [`classify`] (topics,
//! severity, routing, no IO; driven by [`pipeline`]) → [`ledger`] (the 台账) →
//! [`clock`] (deadlines) → [`notify`] (mail). Around it: [`config`], [`store`] (the only module that touches
//! sled), [`api`] (the control API the CLI talks to), [`digest`] (the daily report)
//! [`metrics`] (Prometheus) and [`daemon`] (wiring and shutdown). See ARCHITECTURE.md.

pub mod api;
pub mod atomic_file;
pub mod calendar;
pub mod classify;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod digest;
pub mod format;
pub mod ledger;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod os_error;
pub mod parse;
pub mod pipeline;
pub mod policies;
pub mod replies;
pub mod respond;
pub mod sources;
pub mod store;
pub mod time;
pub mod watchdog;
