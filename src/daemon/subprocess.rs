//! Every subprocess (git, agent, validation, bootstrap) runs here: in its own process
//! group, with output in files (a grandchild holding a pipe cannot hang us), a timeout,
//! and on timeout or shutdown SIGTERM then SIGKILL to the whole group.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::procs::{ProcessIdentity, group_members};
use super::sandbox::{self, Sandbox};
use super::shutdown::Shutdown;

/// systemd's variables are meant for the service itself, never for the tools it runs.
pub const SYSTEMD_SERVICE_VARS: [&str; 6] = [
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
];

#[derive(Debug, Clone)]
pub struct Spec {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// Variables added to (or replacing) the inherited environment.
    pub env: Vec<(String, String)>,
    /// Inherited variables removed (secrets the child must not see).
    pub env_remove: Vec<String>,
    pub stdin: Option<PathBuf>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    /// Let the child write to our stdout/stderr (the journal, under systemd) instead of
    /// the files above.
    pub inherit_output: bool,
    pub timeout: Duration,
    /// Time between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// Run it isolated from the lane's secrets, tied to the run (agents, bootstrap and
    /// validation commands): see [`super::sandbox`]. The environment is then only the
    /// allowlist plus `env`.
    pub sandbox: Option<Sandbox>,
}

impl Spec {
    pub fn new(program: impl Into<OsString>, cwd: &Path, log_stem: &Path) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            cwd: cwd.to_path_buf(),
            env: Vec::new(),
            env_remove: Vec::new(),
            stdin: None,
            stdout: log_stem.with_extension("stdout"),
            stderr: log_stem.with_extension("stderr"),
            inherit_output: false,
            timeout: Duration::from_secs(300),
            kill_grace: Duration::from_secs(5),
            sandbox: None,
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// Stopped because the service is shutting down.
    pub cancelled: bool,
    pub duration: Duration,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out && !self.cancelled
    }

    /// Exit code as a shell reports it: 124 for a timeout (like timeout(1)), 128+N for a signal.
    pub fn shell_code(&self) -> i32 {
        if self.timed_out {
            124
        } else {
            self.code.or(self.signal.map(|s| 128 + s)).unwrap_or(-1)
        }
    }
}

/// Runs `spec` to completion. `on_spawn` receives the group leader (to record it before
/// anything else can happen); `on_tick` runs at least once a second while waiting.
pub fn run(
    spec: &Spec,
    shutdown: &Shutdown,
    on_spawn: impl FnOnce(ProcessIdentity),
    mut on_tick: impl FnMut(),
) -> std::io::Result<Outcome> {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args).current_dir(&spec.cwd).process_group(0);
    if !spec.inherit_output {
        cmd.stdout(Stdio::from(File::create(&spec.stdout)?))
            .stderr(Stdio::from(File::create(&spec.stderr)?));
    }
    cmd.stdin(match &spec.stdin {
        Some(path) => Stdio::from(File::open(path)?),
        None => Stdio::null(),
    });
    if let Some(sb) = &spec.sandbox {
        cmd.env_clear().envs(sandbox::environment(sb));
    }
    for name in &spec.env_remove {
        cmd.env_remove(name);
    }
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    for name in SYSTEMD_SERVICE_VARS {
        cmd.env_remove(name);
    }
    // If the lane dies (kill -9, OOM), the child dies with it instead of working on for
    // nobody; recovery then cleans up whatever the child itself started.
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    if let Some(sb) = &spec.sandbox
        && let Some(prepared) = sandbox::prepare(sb).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot start {}: {e}", spec.program.to_string_lossy()),
            )
        })?
    {
        // SAFETY: `enter` makes only raw system calls on data prepared before the fork.
        unsafe {
            cmd.pre_exec(move || sandbox::enter(&prepared));
        }
    }
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot start {}: {e}", spec.program.to_string_lossy()),
        )
    })?;
    let pgid = child.id() as i32;
    on_spawn(ProcessIdentity::of(pgid).unwrap_or(ProcessIdentity {
        pid: pgid,
        start_ticks: 0,
    }));

    let mut outcome = Outcome::default();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() >= spec.timeout {
            outcome.timed_out = true;
        } else if shutdown.requested() {
            outcome.cancelled = true;
        }
        if outcome.timed_out || outcome.cancelled {
            kill_group(pgid, spec.kill_grace, &mut on_tick);
            break child.wait()?;
        }
        std::thread::sleep(
            Duration::from_millis(50).min(spec.timeout / 4 + Duration::from_millis(1)),
        );
        on_tick();
    };
    // The leader is gone; make sure nothing it left behind in its group lives on.
    if group_members(pgid) > 0 {
        kill_group(pgid, spec.kill_grace, &mut on_tick);
    }
    outcome.code = status.code();
    outcome.signal = status.signal();
    outcome.duration = started.elapsed();
    Ok(outcome)
}

/// SIGTERM to the group, up to `grace` for it to go, then SIGKILL and wait until every
/// member is gone (bounded: processes in uninterruptible sleep can take a moment).
/// Zombies do not count as members, so our own unreaped child does not hold this up.
pub fn kill_group(pgid: i32, grace: Duration, on_tick: &mut impl FnMut()) {
    let group = Pid::from_raw(pgid);
    let _ = killpg(group, Signal::SIGTERM);
    let _ = killpg(group, Signal::SIGCONT);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && group_members(pgid) > 0 {
        std::thread::sleep(Duration::from_millis(50));
        on_tick();
    }
    let _ = killpg(group, Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && group_members(pgid) > 0 {
        std::thread::sleep(Duration::from_millis(20));
        on_tick();
    }
}

/// Runs a short helper command (git, a validation step) and returns its output as text.
pub struct Captured {
    pub outcome: Outcome,
    pub stdout: String,
    pub stderr: String,
}

pub fn run_captured(
    spec: &Spec,
    shutdown: &Shutdown,
    on_tick: impl FnMut(),
) -> std::io::Result<Captured> {
    let outcome = run(spec, shutdown, |_| {}, on_tick)?;
    Ok(Captured {
        outcome,
        stdout: read_lossy(&spec.stdout),
        stderr: read_lossy(&spec.stderr),
    })
}

pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
