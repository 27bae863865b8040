//! `oc-goal`: the goal lane daemon (unit `oc-goal@<slot>.service`).
fn main() -> std::process::ExitCode {
    operations_center::cli::lane_main("goal")
}
