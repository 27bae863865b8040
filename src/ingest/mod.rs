//! Production error ingest: dedup, task creation, log tailing.
