//! `oc-janitor`: retention and cleanup, run daily by `oc-janitor.timer`.
fn main() -> std::process::ExitCode {
    operations_center::cli::janitor_main()
}
