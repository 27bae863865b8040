//! Keeps the lane's secrets from the commands it runs for a task (agent, bootstrap,
//! validation) and ties everything such a command starts to its run:
//!
//! - Environment: built from an allowlist ([`BASE_ENV`] plus names the config passes on),
//!   never "ours minus a denylist".
//! - Our processes: every binary calls [`protect_process`] (not dumpable), so a process of
//!   the same uid can read neither their `/proc/<pid>/environ` nor their memory.
//! - Credential files: the command runs in its own user and mount namespaces, with an
//!   empty read-only tmpfs over every credentials directory. A second, nested user
//!   namespace locks those mounts, so even a command mapped to root cannot unmount them.
//! - Lifetime: the command is pid 2 of a new PID namespace. Its init (a fork of the lane)
//!   reaps whatever is orphaned and exits when the command exits; the kernel then kills
//!   every process left in the namespace, `setsid` or not. The init dies with the process
//!   the lane waits on (parent-death signal), which dies with the lane.
//!
//! The namespace setup runs between fork and exec (`pre_exec`), so it only makes raw
//! system calls on data prepared beforehand (nothing there may allocate or lock).

use std::ffi::{CString, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Variables every sandboxed command keeps from our environment (plus `LC_*`).
pub const BASE_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TERM",
    "TZ",
    "TMPDIR",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Where credentials live: systemd's (`$CREDENTIALS_DIRECTORY`, `/run/credentials`) and
/// the source directory of the units' `LoadCredential=`.
pub const CREDENTIAL_DIRS: &[&str] = &["/run/credentials", "/etc/operations-center/credentials"];

/// How a command is isolated. The spec's own `env` is added on top of what it receives.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Names it receives from our environment besides [`BASE_ENV`].
    pub pass_env: Vec<String>,
    /// Prefixes of names it receives too.
    pub pass_prefixes: Vec<String>,
    /// Refuse to run it when credentials exist that the namespaces cannot hide.
    pub required: bool,
}

impl Sandbox {
    /// For a command run for a task (agent, bootstrap, validation): never with the
    /// credentials in reach.
    pub fn for_task(pass_env: Vec<String>) -> Self {
        Self {
            pass_env,
            pass_prefixes: Vec::new(),
            required: true,
        }
    }

    /// For the lane's own git: it runs in workspaces an agent has written (hooks,
    /// `core.fsmonitor`, `core.sshCommand` in .git/config run commands), so it gets the
    /// same isolation and its `GIT_*` and ssh-agent variables. Where the namespaces are
    /// unavailable it runs anyway: no agent ran there (the agent requires them).
    pub fn for_git() -> Self {
        Self {
            pass_env: vec!["SSH_AUTH_SOCK".into()],
            pass_prefixes: vec!["GIT_".into()],
            required: false,
        }
    }
}

/// Marks this process not dumpable: its `/proc/<pid>/environ`, `mem`, `fd/`… become
/// root's, so the agents (same uid) cannot read the secrets we hold. Call first in main.
pub fn protect_process() {
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// The environment of a sandboxed command: the allowlisted variables we have.
pub fn environment(sandbox: &Sandbox) -> Vec<(OsString, OsString)> {
    std::env::vars_os()
        .filter(|(name, _)| {
            let name = name.to_string_lossy();
            BASE_ENV.contains(&name.as_ref())
                || name.starts_with("LC_")
                || sandbox.pass_env.iter().any(|p| *p == name)
                || sandbox
                    .pass_prefixes
                    .iter()
                    .any(|p| name.starts_with(p.as_str()))
        })
        .collect()
}

/// Credentials directories that exist here, deepest first (a mount over a parent would
/// hide the child's mount point).
fn credential_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("CREDENTIALS_DIRECTORY")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .chain(CREDENTIAL_DIRS.iter().map(PathBuf::from))
        .filter(|d| d.is_dir())
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs.dedup();
    dirs
}

/// Everything the child needs, prepared before fork.
pub struct Prepared {
    uid_map: CString,
    gid_map: CString,
    hide: Vec<CString>,
}

/// What to do for a sandboxed command: `Some` to enter the namespaces, `None` when they
/// are unavailable and there are no credentials to hide (outside systemd, on a kernel
/// without user namespaces: the command runs in its process group only, with a warning)
/// or the sandbox is not `required`. An error when credentials exist but cannot be hidden
/// from a command that requires it: never run it with them.
pub fn prepare(sandbox: &Sandbox) -> io::Result<Option<Prepared>> {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let hide = credential_dirs();
    let prepared = Prepared {
        uid_map: CString::new(format!("{uid} {uid} 1\n")).expect("no NUL"),
        gid_map: CString::new(format!("{gid} {gid} 1\n")).expect("no NUL"),
        hide: hide
            .iter()
            .map(|d| CString::new(d.as_os_str().as_bytes()).expect("path without NUL"))
            .collect(),
    };
    static PROBE: OnceLock<Result<(), i32>> = OnceLock::new();
    let probe = PROBE.get_or_init(|| probe(&prepared));
    match probe {
        Ok(()) => Ok(Some(prepared)),
        Err(_) if !sandbox.required => Ok(None),
        Err(errno) if hide.is_empty() => {
            static WARNED: OnceLock<()> = OnceLock::new();
            WARNED.get_or_init(|| {
                tracing::warn!(
                    event = "agent_sandbox_unavailable",
                    error = %io::Error::from_raw_os_error(*errno),
                    "cannot create user/mount/PID namespaces ({}): agents run without them \
                     (no credentials directory to hide here; processes an agent detaches \
                     with setsid are not tied to its run)",
                    io::Error::from_raw_os_error(*errno)
                );
            });
            Ok(None)
        }
        Err(errno) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing to run it: it must not see the credentials in {}, but the user, \
                 mount and PID namespaces that hide them cannot be created ({}). Allow them: \
                 remove RestrictNamespaces= (or SystemCallFilter= denying unshare/mount) from \
                 the unit's drop-ins, and enable unprivileged user namespaces \
                 (sysctl user.max_user_namespaces > 0, kernel.unprivileged_userns_clone=1)",
                hide.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                io::Error::from_raw_os_error(*errno)
            ),
        )),
    }
}

/// Tries the namespace setup once in a throwaway child that exits without exec.
fn probe(prepared: &Prepared) -> Result<(), i32> {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let (uid_map, gid_map) = (prepared.uid_map.clone(), prepared.gid_map.clone());
    let hide = prepared.hide.clone();
    // SAFETY: only raw system calls on the data captured above, then _exit.
    unsafe {
        cmd.pre_exec(move || {
            namespaces(&uid_map, &gid_map, &hide)?;
            libc::_exit(0)
        });
    }
    match cmd.spawn() {
        Ok(mut child) => match child.wait() {
            Ok(s) if s.success() => Ok(()),
            _ => Err(libc::EPERM),
        },
        Err(e) => Err(e.raw_os_error().unwrap_or(libc::EPERM)),
    }
}

/// Runs in the forked child before exec: enters the namespaces, then splits into the
/// waiter (returns never: it waits for the namespace's init and exits as the command did),
/// the init (never returns either) and the command (returns Ok, std execs it).
///
/// # Safety
/// Only call from `pre_exec`.
pub unsafe fn enter(p: &Prepared) -> io::Result<()> {
    namespaces(&p.uid_map, &p.gid_map, &p.hide)?;
    let mut pipe = [0i32; 2];
    check(unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) })?;
    let init = check(unsafe { libc::fork() })?;
    if init > 0 {
        // The waiter: the group leader the lane knows. The group's SIGTERM is meant for
        // the command; the waiter just reports how the command ended.
        unsafe {
            ignore_stop_signals();
            libc::close(pipe[1]);
            close_all_but(pipe[0]);
            wait_and_mirror(init, pipe[0])
        }
    }
    // The init of the new PID namespace.
    unsafe {
        libc::close(pipe[0]);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    }
    let command = check(unsafe { libc::fork() })?;
    if command == 0 {
        unsafe { libc::close(pipe[1]) };
        return Ok(());
    }
    unsafe {
        ignore_stop_signals();
        close_all_but(pipe[1]);
        let mut status: libc::c_int = 127 << 8;
        loop {
            let mut st: libc::c_int = 0;
            let r = libc::waitpid(-1, &mut st, 0);
            if r == command {
                status = st;
                break;
            }
            if r < 0 && *libc::__errno_location() != libc::EINTR {
                break;
            }
        }
        libc::write(
            pipe[1],
            (&status as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>(),
        );
        // Exiting kills everything left in the namespace.
        libc::_exit(0)
    }
}

/// User + mount + PID namespaces, credentials hidden, then a nested user + mount namespace
/// so the hiding mounts are locked.
fn namespaces(uid_map: &CString, gid_map: &CString, hide: &[CString]) -> io::Result<()> {
    unsafe {
        check(libc::unshare(
            libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID,
        ))?;
        map_ids(uid_map, gid_map)?;
        // Our mounts stay ours (no propagation back to the lane's namespace).
        check(libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        for dir in hide {
            check(libc::mount(
                c"tmpfs".as_ptr(),
                dir.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                c"size=4k,mode=0555".as_ptr().cast(),
            ))?;
        }
        check(libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS))?;
        map_ids(uid_map, gid_map)
    }
}

/// Maps our uid and gid to themselves in the namespace just created (files keep their
/// owners; the command's identity does not change).
///
/// A process that is not dumpable (a fork of our binaries) finds its own /proc files owned
/// by root, so it cannot write its maps as a plain user: it is dumpable for these three
/// writes only, then not again. (In that window a process of the uid could read this
/// fork's memory: see docs/security.md, limits.)
unsafe fn map_ids(uid_map: &CString, gid_map: &CString) -> io::Result<()> {
    unsafe {
        let was = libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0);
        libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
        let written = write_file(c"/proc/self/setgroups", c"deny")
            .and_then(|()| write_file(c"/proc/self/uid_map", uid_map))
            .and_then(|()| write_file(c"/proc/self/gid_map", gid_map));
        libc::prctl(libc::PR_SET_DUMPABLE, was.max(0), 0, 0, 0);
        written
    }
}

unsafe fn write_file(path: &std::ffi::CStr, data: &std::ffi::CStr) -> io::Result<()> {
    unsafe {
        let fd = check(libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC))?;
        let bytes = data.to_bytes();
        let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        libc::close(fd);
        if n != bytes.len() as isize {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

unsafe fn ignore_stop_signals() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
}

/// Closes every descriptor above stderr except `keep` (among them std's exec-error pipe,
/// which would otherwise keep the lane's spawn waiting until the command ends).
unsafe fn close_all_but(keep: i32) {
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, (keep - 1) as u32, 0u32);
        libc::syscall(libc::SYS_close_range, (keep + 1) as u32, u32::MAX, 0u32);
    }
}

/// Waits for the init, then ends as the command ended (its exit code, or its signal).
unsafe fn wait_and_mirror(init: libc::pid_t, pipe: i32) -> ! {
    unsafe {
        let mut st: libc::c_int = 0;
        while libc::waitpid(init, &mut st, 0) < 0 && *libc::__errno_location() == libc::EINTR {}
        let mut status: libc::c_int = 0;
        let n = libc::read(
            pipe,
            (&mut status as *mut libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>(),
        );
        if n != std::mem::size_of::<libc::c_int>() as isize {
            status = st;
        }
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            libc::signal(sig, libc::SIG_DFL);
            libc::kill(libc::getpid(), sig);
            libc::_exit(128 + sig)
        }
        libc::_exit(if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            127
        })
    }
}

fn check<T: PartialOrd + Default>(r: T) -> io::Result<T> {
    if r < T::default() {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}
