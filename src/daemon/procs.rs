//! Facts about processes from /proc: who is alive, how many kodo runs exist, free memory.

use std::path::Path;

/// A process named by pid and start time, so a reused pid is not mistaken for the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessIdentity {
    pub pid: i32,
    /// `starttime` from /proc/<pid>/stat (clock ticks since boot).
    pub start_ticks: u64,
}

impl ProcessIdentity {
    pub fn current() -> Self {
        let pid = std::process::id() as i32;
        Self::of(pid).unwrap_or(Self {
            pid,
            start_ticks: 0,
        })
    }

    pub fn of(pid: i32) -> Option<Self> {
        let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
        Some(Self {
            pid,
            start_ticks: stat.starttime,
        })
    }

    /// Alive and not a zombie, with the same start time as recorded.
    pub fn is_alive(&self) -> bool {
        match procfs::process::Process::new(self.pid).and_then(|p| p.stat()) {
            Ok(stat) => {
                stat.starttime == self.start_ticks && stat.state != 'Z' && stat.state != 'X'
            }
            // Hidden: under ProtectProc=invisible our binaries cannot see each other (they
            // are not dumpable, see `sandbox::protect_process`). Trust the pid if it is one
            // of our uid started since boot; a pid reused within the boot by another of our
            // hidden processes is taken for the original until that one ends.
            Err(_) => hidden_but_ours(self.pid) && started_this_boot(self.start_ticks),
        }
    }
}

/// A process that exists: visible in /proc, or hidden there but reachable by our signals
/// (same uid; see [`ProcessIdentity::is_alive`]).
pub fn pid_exists(pid: i32) -> bool {
    ProcessIdentity::of(pid).is_some() || hidden_but_ours(pid)
}

/// kill(pid, 0) succeeds for processes of our uid only (the units have no CAP_KILL).
fn hidden_but_ours(pid: i32) -> bool {
    pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

/// Whether a start time (clock ticks since boot) can belong to this boot.
fn started_this_boot(start_ticks: u64) -> bool {
    let uptime = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok());
    match uptime {
        Some(secs) => start_ticks <= (secs * procfs::ticks_per_second() as f64) as u64 + 1,
        None => true,
    }
}

/// Live (non-zombie) processes whose process group id is `pgid`.
pub fn group_members(pgid: i32) -> usize {
    let Ok(all) = procfs::process::all_processes() else {
        return 0;
    };
    all.filter_map(Result::ok)
        .filter_map(|p| p.stat().ok())
        .filter(|s| s.pgrp == pgid && s.state != 'Z' && s.state != 'X')
        .count()
}

/// Live processes whose working directory is `dir` or below it (an agent and whatever it
/// started inside a run's workspace).
pub fn processes_in(dir: &Path) -> Vec<i32> {
    let Ok(all) = procfs::process::all_processes() else {
        return Vec::new();
    };
    all.filter_map(Result::ok)
        .filter(|p| p.cwd().is_ok_and(|cwd| cwd.starts_with(dir)))
        .filter(|p| p.stat().is_ok_and(|s| s.state != 'Z' && s.state != 'X'))
        .map(|p| p.pid)
        .collect()
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Live processes whose program name contains "kodo" (argv[0]'s file name), for the
/// `max_concurrent_kodo` gate. Only the program is matched, so a lane whose config path
/// merely mentions kodo is not counted.
pub fn count_kodo_processes() -> usize {
    let Ok(all) = procfs::process::all_processes() else {
        return 0;
    };
    all.filter_map(Result::ok)
        .filter_map(|p| p.cmdline().ok())
        .filter(|argv| {
            argv.first().is_some_and(|a0| {
                Path::new(a0)
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().contains("kodo"))
            })
        })
        .count()
}

/// MemAvailable from /proc/meminfo, in MiB.
pub fn mem_available_mb() -> Option<u64> {
    use procfs::FromRead;
    let info = procfs::Meminfo::from_file("/proc/meminfo").ok()?;
    info.mem_available.map(|b| b / (1024 * 1024))
}

/// Free space (for unprivileged writers) on the filesystem holding `path`, in MiB.
pub fn disk_free_mb(path: &Path) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(path).ok()?;
    Some(st.blocks_available() as u64 * st.fragment_size() as u64 / (1024 * 1024))
}

/// Resident set size of this process in KiB.
pub fn own_rss_kib() -> Option<u64> {
    let status = procfs::process::Process::myself().ok()?.status().ok()?;
    status.vmrss
}
