//! `oc`: the operator CLI.
fn main() -> std::process::ExitCode {
    operations_center::cli::oc_main()
}
