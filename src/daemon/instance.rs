//! One running instance per role and state directory: an exclusive `flock` on
//! `<state dir>/<role>.lock`, held while the process lives. The kernel releases it when the
//! process ends, however it ends, so a crash never leaves a stale lock behind.
//!
//! The review lane needs this: it has no per-item claim the way the goal lanes do, so two
//! of them (the service and one started by hand) would comment on and merge the same PRs.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// sysexits' EX_TEMPFAIL: another instance holds the lock; systemd's Restart=on-failure
/// tries again later and takes over once the other one has stopped.
pub const EXIT_ALREADY_RUNNING: u8 = 75;

/// Another process holds the lock.
#[derive(Debug)]
pub struct AlreadyRunning {
    pub role: String,
    pub path: PathBuf,
    /// As the holder wrote it into the file (absent if it could not).
    pub pid: Option<u32>,
}

impl std::fmt::Display for AlreadyRunning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let holder = self
            .pid
            .map_or_else(|| "another process".to_string(), |pid| format!("pid {pid}"));
        write!(
            f,
            "another {} is already running on this state directory ({holder} holds {}); \
             stop it first (systemctl stop {}, or end the one started by hand)",
            self.role,
            self.path.display(),
            self.role
        )
    }
}

impl std::error::Error for AlreadyRunning {}

/// Held for the life of the process; dropping it releases the lock.
#[derive(Debug)]
pub struct InstanceLock {
    _lock: Flock<File>,
}

/// Takes the lock for `role` in `state_dir` (which must exist) or fails at once with
/// [`AlreadyRunning`].
pub fn hold(state_dir: &Path, role: &str) -> anyhow::Result<InstanceLock> {
    let path = state_dir.join(format!("{role}.lock"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(AlreadyRunning {
                role: role.to_string(),
                path,
                pid: text.trim().parse().ok(),
            }
            .into());
        }
        Err((_, errno)) => anyhow::bail!("cannot lock {}: {errno}", path.display()),
    };
    // Only for the message a second instance prints; the lock itself is what counts.
    let written = lock
        .set_len(0)
        .and_then(|()| lock.rewind())
        .and_then(|()| writeln!(lock, "{}", std::process::id()));
    if let Err(e) = written {
        tracing::warn!(
            event = "instance_lock_pid_unwritten",
            "cannot write {}: {e}",
            path.display()
        );
    }
    Ok(InstanceLock { _lock: lock })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path();
        let first = hold(state, "oc-review").unwrap();
        // flock locks belong to the open file, so a second open in this process conflicts
        // just as another process would.
        let refused = hold(state, "oc-review").unwrap_err();
        let refused = refused
            .downcast_ref::<AlreadyRunning>()
            .expect("AlreadyRunning");
        assert_eq!(refused.pid, Some(std::process::id()));
        assert!(
            refused
                .to_string()
                .contains("another oc-review is already running")
        );
        assert!(
            hold(state, "other-role").is_ok(),
            "roles do not share a lock"
        );
        drop(first);
        assert!(hold(state, "oc-review").is_ok());
    }
}
