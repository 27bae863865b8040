//! `oc-ingest`, `oc-ingest-tail` and `oc ingest-dedup`.
