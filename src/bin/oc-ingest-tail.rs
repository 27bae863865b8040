//! `oc-ingest-tail`: follows log files and files error lines as tasks (oc-ingest-tail.service).

fn main() -> std::process::ExitCode {
    operations_center::cli::ingest::tail_main()
}
