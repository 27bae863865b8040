//! One small JSON file per lane instance in the runtime directory, replaced atomically
//! (write + rename) by that lane only, world-readable so `oc status` needs no root.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const LANES_DIR: &str = "lanes";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LaneStatus {
    /// `<role>@<slot>`, e.g. `goal@slot1`.
    pub lane: String,
    pub role: String,
    pub slot: String,
    pub pid: u32,
    pub cycle: u64,
    /// starting, polling, idle, active, stopped
    pub state: String,
    pub last_action: String,
    pub task_id: Option<String>,
    pub task_kind: Option<String>,
    pub follow_ups: u64,
    pub blocked_triaged: u64,
    pub proposed: u64,
    /// Unix seconds.
    pub started_at: i64,
    pub updated_at: i64,
    /// The process's start time (clock ticks since boot), so a reused pid is not taken for
    /// it; 0 in files written before it was recorded.
    #[serde(default)]
    pub pid_start: u64,
    /// Written by a one-shot command (`oc run`, `oc run-next`), not by a lane daemon: it
    /// ends by design and nobody restarts it, so it is never a dead lane.
    #[serde(default)]
    pub one_shot: bool,
}

/// The slot of the lanes that one-shot commands (`oc run`, `oc run-next`) run as.
pub const ONE_SHOT_SLOT: &str = "cli";

impl LaneStatus {
    /// A one-shot command's status (also files from before `one_shot` was recorded).
    pub fn is_one_shot(&self) -> bool {
        self.one_shot || self.slot == ONE_SHOT_SLOT
    }

    /// Whether the process that wrote this status still runs (same pid and start time).
    pub fn process_alive(&self) -> bool {
        use crate::daemon::procs::ProcessIdentity;
        if self.pid_start == 0 {
            return crate::daemon::procs::pid_exists(self.pid as i32);
        }
        ProcessIdentity {
            pid: self.pid as i32,
            start_ticks: self.pid_start,
        }
        .is_alive()
    }

    /// The systemd unit that runs this lane: a template instance per slot, or the one
    /// unit of a single-instance lane (no slot, e.g. `oc-review.service`).
    pub fn unit(&self) -> String {
        if self.slot.is_empty() {
            format!("oc-{}.service", self.role)
        } else {
            format!("oc-{}@{}.service", self.role, self.slot)
        }
    }
}

pub fn path_for(runtime_dir: &Path, lane: &str) -> PathBuf {
    runtime_dir.join(LANES_DIR).join(format!("{lane}.json"))
}

pub fn write(runtime_dir: &Path, status: &LaneStatus) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = runtime_dir.join(LANES_DIR);
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir)?;
        // Readable by everyone whatever the service's UMask: `oc status` needs no root.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    }
    let path = path_for(runtime_dir, &status.lane);
    let tmp = dir.join(format!(".{}.json.tmp", status.lane));
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(status).expect("status serialises"),
    )?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(tmp, path)
}

/// Every lane status file; unreadable or half-written files are skipped.
pub fn read_all(runtime_dir: &Path) -> Vec<LaneStatus> {
    let Ok(entries) = std::fs::read_dir(runtime_dir.join(LANES_DIR)) else {
        return Vec::new();
    };
    let mut all: Vec<LaneStatus> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect();
    all.sort_by(|a: &LaneStatus, b| a.lane.cmp(&b.lane));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let status = LaneStatus {
            lane: "goal@slot1".into(),
            role: "goal".into(),
            slot: "slot1".into(),
            cycle: 3,
            task_id: Some("T-4".into()),
            ..Default::default()
        };
        write(dir.path(), &status).unwrap();
        assert_eq!(read_all(dir.path()), vec![status.clone()]);
        let mode = std::fs::metadata(path_for(dir.path(), "goal@slot1"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(status.unit(), "oc-goal@slot1.service");
    }
}
