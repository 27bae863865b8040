//! The git steps of a run, each a subprocess with a timeout in its own process group.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::daemon::sandbox::Sandbox;
use crate::daemon::shutdown::Shutdown;
use crate::daemon::subprocess::{self, Spec};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("git {command} failed (exit {code}): {detail}")]
    Failed {
        command: String,
        code: i32,
        detail: String,
    },
    #[error("git {0} timed out")]
    TimedOut(String),
    #[error("interrupted by shutdown")]
    Interrupted,
    #[error("cannot run git: {0}")]
    Io(#[from] std::io::Error),
}

pub struct Git<'a> {
    pub shutdown: &'a Shutdown,
    pub timeout: Duration,
    /// Where each command's output goes (numbered files).
    pub log_dir: PathBuf,
    counter: AtomicU32,
    on_tick: std::cell::RefCell<Box<dyn FnMut() + 'a>>,
}

impl<'a> Git<'a> {
    pub fn new(
        shutdown: &'a Shutdown,
        timeout: Duration,
        log_dir: PathBuf,
        on_tick: impl FnMut() + 'a,
    ) -> Self {
        Self {
            shutdown,
            timeout,
            log_dir,
            counter: AtomicU32::new(0),
            on_tick: std::cell::RefCell::new(Box::new(on_tick)),
        }
    }

    /// Runs `git <args>` in `cwd` and returns stdout; a non-zero exit is an error.
    pub fn run(&self, cwd: &Path, args: &[&str]) -> Result<String, GitError> {
        let out = self.output(cwd, args)?;
        if out.0 != 0 {
            return Err(GitError::Failed {
                command: args.first().copied().unwrap_or("").to_string(),
                code: out.0,
                detail: last_lines(&out.2, 3),
            });
        }
        Ok(out.1)
    }

    /// Runs `git <args>`; returns (exit code, stdout, stderr) whatever the exit code.
    pub fn output(&self, cwd: &Path, args: &[&str]) -> Result<(i32, String, String), GitError> {
        std::fs::create_dir_all(&self.log_dir)?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let stem = self.log_dir.join(format!("git-{n:03}"));
        let mut spec = Spec::new("git", cwd, &stem)
            .args(args.iter().copied())
            .timeout(self.timeout);
        // Never stop for a credential prompt: a lane has no terminal.
        spec.env.push(("GIT_TERMINAL_PROMPT".into(), "0".into()));
        spec.sandbox = Some(Sandbox::for_git());
        let mut tick = self.on_tick.borrow_mut();
        let captured = subprocess::run_captured(&spec, self.shutdown, &mut *tick)?;
        if captured.outcome.cancelled {
            return Err(GitError::Interrupted);
        }
        if captured.outcome.timed_out {
            return Err(GitError::TimedOut(args.join(" ")));
        }
        Ok((
            captured.outcome.shell_code(),
            captured.stdout,
            captured.stderr,
        ))
    }

    /// Clones `url`; one more try after a failure, because a clone races with pushes to
    /// the same repository (other lanes) and with network blips, and a task must not be
    /// Blocked for that.
    pub fn clone_repo(&self, url: &str, into: &Path) -> Result<(), GitError> {
        let parent = into.parent().unwrap_or(Path::new("."));
        let target = into.to_string_lossy();
        let args = ["clone", "--quiet", "--no-tags", url, &target];
        match self.run(parent, &args) {
            Err(GitError::Interrupted) => Err(GitError::Interrupted),
            Err(first) => {
                tracing::warn!(event = "git_clone_retry", url, error = %first, "clone failed, trying once more: {first}");
                let _ = std::fs::remove_dir_all(into);
                std::thread::sleep(std::time::Duration::from_secs(1));
                self.run(parent, &args).map(|_| ())
            }
            Ok(_) => Ok(()),
        }
    }

    pub fn remote_branch_exists(&self, repo: &Path, branch: &str) -> Result<bool, GitError> {
        let reference = format!("refs/remotes/origin/{branch}");
        Ok(self
            .output(repo, &["rev-parse", "--verify", "--quiet", &reference])?
            .0
            == 0)
    }

    pub fn head(&self, repo: &Path) -> Result<String, GitError> {
        Ok(self.run(repo, &["rev-parse", "HEAD"])?.trim().to_string())
    }

    /// Files changed since `base` (commits made by the agent plus the working tree),
    /// new paths for renames. Stages everything as a side effect.
    pub fn changed_files(&self, repo: &Path, base: &str) -> Result<Vec<String>, GitError> {
        self.run(repo, &["add", "-A"])?;
        let out = self.run(repo, &["diff", "--cached", "--name-status", "-z", base])?;
        Ok(parse_name_status_z(&out))
    }

    /// Commits staged changes if any; returns whether a commit was made.
    pub fn commit_staged(&self, repo: &Path, message: &str) -> Result<bool, GitError> {
        let staged = self.output(repo, &["diff", "--cached", "--quiet"])?.0 != 0;
        if staged {
            self.run(repo, &["commit", "--quiet", "--no-verify", "-m", message])?;
        }
        Ok(staged)
    }

    pub fn diff_stat(&self, repo: &Path, base: &str) -> Result<String, GitError> {
        let out = self.run(repo, &["diff", "--shortstat", base, "HEAD"])?;
        Ok(out.trim().to_string())
    }

    pub fn add_local_exclude(&self, repo: &Path, patterns: &[&str]) -> std::io::Result<()> {
        add_local_exclude(repo, patterns)
    }
}

/// Appends patterns to `.git/info/exclude`, never duplicating a line (§10.2 case 16).
pub fn add_local_exclude(repo: &Path, patterns: &[&str]) -> std::io::Result<()> {
    let path = repo.join(".git/info/exclude");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    for pattern in patterns {
        if !text.lines().any(|l| l.trim() == *pattern) {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(pattern);
            text.push('\n');
        }
    }
    std::fs::write(path, text)
}

/// Parses `git diff --name-status -z`: renames and copies yield the new path
/// (original-behaviour §10.2 cases 11–12).
pub fn parse_name_status_z(out: &str) -> Vec<String> {
    let mut fields = out.split('\0').filter(|f| !f.is_empty());
    let mut files = Vec::new();
    while let Some(status) = fields.next() {
        let two_paths = status.starts_with('R') || status.starts_with('C');
        let first = fields.next();
        let path = if two_paths {
            fields.next().or(first)
        } else {
            first
        };
        if let Some(p) = path {
            files.push(p.to_string());
        }
    }
    files
}

/// When a push to a repository on this machine fails because the lane may not write it:
/// the repository's path and why (`EROFS` under a unit's read-only sandbox, `EACCES` for
/// file permissions). `None` for remote URLs and for writable repositories.
pub fn local_repo_not_writable(url: &str) -> Option<(PathBuf, nix::errno::Errno)> {
    let path = Path::new(url.strip_prefix("file://").unwrap_or(url));
    if !path.is_absolute() {
        return None;
    }
    // A push writes new objects first (git only says "unpacker error" when it cannot).
    let objects = [path.join("objects"), path.join(".git/objects")]
        .into_iter()
        .find(|p| p.is_dir())?;
    let access = nix::unistd::access(&objects, nix::unistd::AccessFlags::W_OK);
    access.err().map(|errno| (path.to_path_buf(), errno))
}

pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_status_takes_new_paths() {
        assert_eq!(
            parse_name_status_z(
                "R100\0old/path.py\0new/path.py\0D\0src/deleted.py\0M\0src/main.py\0"
            ),
            vec!["new/path.py", "src/deleted.py", "src/main.py"]
        );
        assert_eq!(
            parse_name_status_z("R100\0old.py\0new.py\0C050\0a.py\0b.py\0"),
            vec!["new.py", "b.py"]
        );
        assert_eq!(parse_name_status_z("M\0file.py\0D"), vec!["file.py"]);
    }

    #[test]
    fn local_exclude_is_not_duplicated() {
        let dir = tempfile::tempdir().unwrap();
        add_local_exclude(dir.path(), &[".kodo/"]).unwrap();
        add_local_exclude(dir.path(), &[".kodo/", ".operations_center/"]).unwrap();
        let text = std::fs::read_to_string(dir.path().join(".git/info/exclude")).unwrap();
        assert_eq!(text, ".kodo/\n.operations_center/\n");
    }
}
