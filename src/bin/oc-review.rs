//! `oc-review`: the review lane daemon (unit `oc-review.service`).
fn main() -> std::process::ExitCode {
    operations_center::cli::review::review_main()
}
