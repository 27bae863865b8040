//! The README's first command, run as written (with the already built binaries): a demo
//! repo and a goal task on the embedded board, executed by the scripted agent.

use std::path::Path;
use std::process::Command;

#[test]
fn quickstart_ends_with_the_task_in_review_and_its_branch_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("qs");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_oc")).parent().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/quickstart.sh");
    let out = Command::new("bash")
        .arg(script)
        .current_dir(dir.path())
        .env("OC_QUICKSTART_DIR", &work)
        .env("OC_BIN_DIR", bin_dir)
        .env_remove("OPERATIONS_CENTER_CONFIG")
        .env_remove("OPERATIONS_CENTER_STATE_DIR")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "quickstart failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("executed T-1: Review (executed)"),
        "{stdout}"
    );

    let show = Command::new(bin_dir.join("oc"))
        .args(["task", "show", "T-1", "--json"])
        .env("OPERATIONS_CENTER_CONFIG", work.join("config.yaml"))
        .env("OPERATIONS_CENTER_STATE_DIR", work.join("state"))
        .output()
        .unwrap();
    let task: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(task["state"], "Review");
    let comment = task["comments"][0]["body"].as_str().unwrap();
    assert!(comment.starts_with("[Goal] Execution result"), "{comment}");
    assert!(comment.contains("- branch_pushed: true"), "{comment}");

    let log = Command::new("git")
        .args([
            "log",
            "--format=%s",
            "main..oc/t-1-start-a-changelog",
            "--",
            "CHANGELOG.md",
        ])
        .current_dir(work.join("demo.git"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&log.stdout).trim(),
        "Start a changelog"
    );
}
