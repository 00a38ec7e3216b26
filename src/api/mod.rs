//! The control API the CLI talks to.

pub mod digest;
