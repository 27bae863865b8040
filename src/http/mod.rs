//! One small HTTP server core shared by the receivers (oc-ci-webhook, oc-ingest).
