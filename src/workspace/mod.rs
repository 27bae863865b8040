//! Per-run workspaces under the state directory, the git steps done in them, and the
//! cleanup of workspaces nobody owns any more.

pub mod git;
pub mod pattern;

use std::path::{Path, PathBuf};

pub const WORKSPACES_DIR: &str = "workspaces";
pub const REPORTS_DIR: &str = "reports";

/// A throwaway directory for one run: the clone, and the goal file beside it (outside the
/// repo, so the agent cannot commit it or trip over it as an uncommitted file).
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
}

impl Workspace {
    pub fn path_for(state_dir: &Path, run_id: &str) -> PathBuf {
        state_dir.join(WORKSPACES_DIR).join(format!("oc-{run_id}"))
    }

    pub fn create(root: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    pub fn repo(&self) -> PathBuf {
        self.root.join("repo")
    }

    pub fn goal_file(&self) -> PathBuf {
        self.root.join("goal.md")
    }

    pub fn scratch(&self) -> PathBuf {
        self.root.join("scratch")
    }
}

/// Removes a workspace directory; a missing one is fine.
pub fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Every workspace directory that exists now.
pub fn list(state_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(state_dir.join(WORKSPACES_DIR)) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("oc-"))
        })
        .collect()
}

/// Workspace directories that no live run owns (orphans of dead or finished runs).
/// Directories are listed before the runs are read: a run registers its workspace before
/// creating it, so a workspace created after the listing is never seen, and one listed is
/// matched by its run — a live run's workspace is never returned.
pub fn unowned(state_dir: &Path, conn: &rusqlite::Connection) -> rusqlite::Result<Vec<PathBuf>> {
    let present = list(state_dir);
    if present.is_empty() {
        return Ok(present);
    }
    let host = crate::daemon::procs::hostname();
    let owned: Vec<PathBuf> = crate::store::runs::active(conn)?
        .into_iter()
        .filter(|r| r.host != host || r.is_alive())
        .filter_map(|r| r.workspace)
        .collect();
    Ok(present.into_iter().filter(|p| !owned.contains(p)).collect())
}

/// The report directory for one run: agent output, validation logs, the outcome record.
pub fn report_dir(state_dir: &Path, task_id: &str, run_id: &str) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    state_dir
        .join(REPORTS_DIR)
        .join(format!("{stamp}_{task_id}_{run_id}"))
}

/// Branch name for a task: `oc/<task-id>-<slug of title>`, at most 100 characters.
pub fn branch_name(task_id: &str, title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    let id = task_id.to_ascii_lowercase();
    let mut name = if slug.is_empty() {
        format!("oc/{id}")
    } else {
        format!("oc/{id}-{slug}")
    };
    name.truncate(100);
    name.trim_end_matches(['-', '.', '/']).to_string()
}

#[cfg(test)]
mod tests {
    use super::branch_name;

    #[test]
    fn branch_names_are_slugged_and_bounded() {
        assert_eq!(
            branch_name("T-7", "Fix the Login bug!"),
            "oc/t-7-fix-the-login-bug"
        );
        assert_eq!(branch_name("T-7", "???"), "oc/t-7");
        assert!(branch_name("T-1", &"word ".repeat(50)).len() <= 100);
    }
}
