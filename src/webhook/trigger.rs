//! What happens after a CI event is recorded: the review lane is woken through a file,
//! and an optional command runs detached (own process group, 60 s limit) with the event
//! in its environment.

use std::path::Path;
use std::time::Duration;

use super::event::CiEvent;
use crate::daemon::shutdown::Shutdown;
use crate::daemon::subprocess::{self, Spec};
use crate::http::BackgroundGuard;

/// Hard limit for one trigger run; then its whole process group is killed.
pub const TRIGGER_TIMEOUT: Duration = Duration::from_secs(60);

/// Shell command from OPERATIONS_CENTER_WEBHOOK_TRIGGER, or argv from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Shell(String),
    Argv(Vec<String>),
}

impl Trigger {
    /// The environment variable wins over the config; empty values mean none.
    pub fn resolve(env: Option<String>, config: Option<&Vec<String>>) -> Option<Self> {
        if let Some(cmd) = env.filter(|c| !c.trim().is_empty()) {
            return Some(Trigger::Shell(cmd));
        }
        config
            .filter(|argv| !argv.is_empty())
            .map(|argv| Trigger::Argv(argv.clone()))
    }

    /// A subprocess spec: own process group, the timeout, output to the journal.
    fn spec(&self) -> Spec {
        let (program, args): (&str, Vec<String>) = match self {
            Trigger::Shell(cmd) => ("/bin/sh", vec!["-c".into(), cmd.clone()]),
            Trigger::Argv(argv) => (&argv[0], argv[1..].to_vec()),
        };
        let mut spec = Spec::new(program, Path::new("/"), Path::new("/dev/null"))
            .args(args)
            .timeout(TRIGGER_TIMEOUT);
        spec.inherit_output = true;
        spec
    }
}

/// The review lane watches `<runtime dir>/wake/review`; a new mtime means "look now" (the
/// events themselves are in the database). Only the mtime changes: truncating and
/// rewriting the file made ext4 flush it on every wake-up (auto_da_alloc), which stalled
/// deliveries for tens of milliseconds when the runtime directory is not a tmpfs.
pub fn wake_review(runtime_dir: &Path) -> std::io::Result<()> {
    let dir = runtime_dir.join("wake");
    std::fs::create_dir_all(&dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("review"))?;
    file.set_modified(std::time::SystemTime::now())
}

/// The variables a trigger sees: ours (OC_CI_*) and the original's (CP_CI_*).
pub fn environment(event: &CiEvent, delivery_id: &str) -> Vec<(&'static str, String)> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let prs: Vec<String> = event.pr_numbers.iter().map(u64::to_string).collect();
    vec![
        ("OC_CI_EVENT", event.event.clone()),
        ("OC_CI_REPO", event.repo.clone()),
        ("OC_CI_HEAD_SHA", event.head_sha.clone()),
        ("OC_CI_PR_NUMBERS", prs.join(",")),
        ("OC_CI_CHECK_NAME", opt(&event.check_name)),
        ("OC_CI_STATUS", opt(&event.status)),
        ("OC_CI_CONCLUSION", opt(&event.conclusion)),
        ("OC_CI_DELIVERY", delivery_id.to_string()),
        ("CP_CI_REPO", event.repo.clone()),
        ("CP_CI_CONCLUSION", opt(&event.conclusion)),
        ("CP_CI_PR_NUMBER", prs.first().cloned().unwrap_or_default()),
        ("CP_CI_HEAD_SHA", event.head_sha.clone()),
        ("CP_CI_CHECK_NAME", opt(&event.check_name)),
    ]
}

/// Starts the trigger and returns at once; a thread waits for it (bounded) and logs the
/// outcome. While it runs the server does not exit for idleness.
pub fn spawn(trigger: &Trigger, event: &CiEvent, delivery_id: &str) {
    let mut spec = trigger.spec();
    spec.env = environment(event, delivery_id)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    // Secrets are for the receiver, not for what it runs (systemd's variables are
    // scrubbed by the subprocess runner itself).
    spec.env_remove = vec![
        "OPERATIONS_CENTER_WEBHOOK_SECRET".into(),
        "CREDENTIALS_DIRECTORY".into(),
    ];
    let delivery = delivery_id.to_string();
    let guard = BackgroundGuard::new();
    let spawned = std::thread::Builder::new()
        .name("ci-trigger".into())
        .spawn(move || {
            let _guard = guard;
            match subprocess::run(&spec, &Shutdown::never(), |_| {}, || {}) {
                Ok(outcome) if outcome.success() => tracing::info!(
                    event = "ci_trigger_finished",
                    delivery = %delivery,
                    duration_ms = outcome.duration.as_millis() as u64,
                    "trigger command finished"
                ),
                Ok(outcome) if outcome.timed_out => tracing::warn!(
                    event = "ci_trigger_timeout",
                    delivery = %delivery,
                    "trigger command killed after {} s",
                    TRIGGER_TIMEOUT.as_secs()
                ),
                Ok(outcome) => tracing::warn!(
                    event = "ci_trigger_failed",
                    delivery = %delivery,
                    "trigger command failed (exit {})",
                    outcome.shell_code()
                ),
                Err(e) => tracing::warn!(
                    event = "ci_trigger_failed",
                    delivery = %delivery,
                    "cannot start the trigger command: {e}"
                ),
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(
            event = "ci_trigger_failed",
            "cannot start a thread for the trigger: {e}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_wins_over_config_and_empty_means_none() {
        let argv = vec!["/usr/bin/notify".to_string(), "ci".to_string()];
        assert_eq!(
            Trigger::resolve(Some("echo hi".into()), Some(&argv)),
            Some(Trigger::Shell("echo hi".into()))
        );
        assert_eq!(
            Trigger::resolve(Some("  ".into()), Some(&argv)),
            Some(Trigger::Argv(argv.clone()))
        );
        assert_eq!(Trigger::resolve(None, Some(&Vec::new())), None);
        assert_eq!(Trigger::resolve(None, None), None);
    }

    #[test]
    fn environment_carries_both_naming_schemes() {
        let event = CiEvent {
            event: "check_run".into(),
            action: Some("completed".into()),
            repo: "o/r".into(),
            head_sha: "abc".into(),
            pr_numbers: vec![2, 7],
            check_name: Some("ci".into()),
            status: Some("completed".into()),
            conclusion: Some("failure".into()),
        };
        let env: std::collections::BTreeMap<_, _> =
            environment(&event, "d-9").into_iter().collect();
        assert_eq!(env["OC_CI_PR_NUMBERS"], "2,7");
        assert_eq!(env["CP_CI_PR_NUMBER"], "2");
        assert_eq!(env["CP_CI_CONCLUSION"], "failure");
        assert_eq!(env["OC_CI_DELIVERY"], "d-9");
    }
}
