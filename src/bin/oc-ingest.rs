//! `oc-ingest`: error ingest receiver (`POST /ingest`), started by `oc-ingest.socket`.
fn main() -> std::process::ExitCode {
    operations_center::cli::ci_webhook::ingest_main()
}
