//! `oc-ci-webhook`: GitHub CI webhook receiver, started by `oc-ci-webhook.socket`.
fn main() -> std::process::ExitCode {
    operations_center::cli::ci_webhook::ci_webhook_main()
}
