//! Helpers shared by the integration tests. Each test binary uses a part of them.
#![allow(dead_code)]

pub mod crash;
pub mod daemon;
pub mod incident;
pub mod skip;
pub mod smtp;
