//! operations-center: runs coding agents against a task board as small systemd units.
//!
//! Each binary in `src/bin` is a thin `main` that calls into one of these domains.

pub mod agent;
pub mod board;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod github;
pub mod http;
pub mod ingest;
pub mod janitor;
pub mod lanes;
pub mod review;
pub mod status;
pub mod store;
pub mod webhook;
pub mod workspace;
