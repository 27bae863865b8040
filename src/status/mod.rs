//! What each lane is doing, for `oc status` and `oc heartbeat-check` (the seed's
//! watch-all-status): status files the lanes publish in the runtime directory, joined with
//! what systemd says about the units. Both are readable without root.

pub mod file;
pub mod systemd;
