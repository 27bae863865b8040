//! `oc-ci-webhook` and `oc ci-events`.
