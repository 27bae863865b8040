//! Plumbing every unit shares: sd_notify, logging to journald or stderr, signals,
//! process identity, and subprocesses that run in their own process group with a timeout.

pub mod account;
pub mod instance;
pub mod logging;
pub mod memory;
pub mod notify;
pub mod procs;
pub mod sandbox;
pub mod shutdown;
pub mod subprocess;

/// sysexits' EX_CONFIG: the unit files carry `RestartPreventExitStatus=78`.
pub const EXIT_CONFIG: i32 = 78;
/// EX_NOPERM: the board refused our credentials. Units list it in RestartPreventExitStatus,
/// since a restart cannot fix a revoked or mistyped API key.
pub const EXIT_NOPERM: i32 = 77;
