//! `oc-ci-webhook`: GitHub CI webhook receiver, started by `oc-ci-webhook.socket`.

// mimalloc: +5-10% deliveries/s over glibc's malloc, whose chunk consolidation the 8 KB
// bodies kept triggering (bench/webhook_vs_nginx.sh). Without transparent huge pages its
// idle RSS is glibc's plus ~1 MiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    operations_center::cli::ci_webhook::ci_webhook_main()
}
