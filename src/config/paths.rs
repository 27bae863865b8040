//! Where config and state live: flags, then environment, then systemd's directories, then
//! the installed locations (so `sudo oc task list` on an installed host just works).

use std::path::PathBuf;

pub const INSTALLED_CONFIG: &str = "/etc/operations-center/config.yaml";
pub const INSTALLED_STATE: &str = "/var/lib/operations-center";
pub const INSTALLED_RUNTIME: &str = "/run/operations-center";

/// The config file to read and whether it was named explicitly (a missing explicit file
/// is an error; a missing installed default means built-in defaults).
pub fn config_path(flag: Option<PathBuf>) -> (PathBuf, bool) {
    if let Some(path) = flag {
        return (absolute(path), true);
    }
    if let Some(path) = non_empty_env("OPERATIONS_CENTER_CONFIG") {
        return (absolute(PathBuf::from(path)), true);
    }
    if let Some(dir) = first_of_list("CONFIGURATION_DIRECTORY") {
        return (PathBuf::from(dir).join("config.yaml"), false);
    }
    (PathBuf::from(INSTALLED_CONFIG), false)
}

/// Always absolute: git, agents and validation commands run with the clone as their working
/// directory, where `./state` would name something else.
pub fn state_dir(flag: Option<PathBuf>) -> PathBuf {
    let dir = flag
        .or_else(|| non_empty_env("OPERATIONS_CENTER_STATE_DIR").map(PathBuf::from))
        .or_else(|| first_of_list("STATE_DIRECTORY").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(INSTALLED_STATE));
    absolute(dir)
}

/// `path` against the current directory (without resolving symlinks); unchanged if the
/// current directory is gone, where every relative path fails anyway.
pub fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// Where lanes publish their status files: `$RUNTIME_DIRECTORY` under systemd,
/// `/run/operations-center` for the installed state dir, else `<state dir>/run`.
pub fn runtime_dir(state_dir: &std::path::Path) -> PathBuf {
    if let Some(dir) = first_of_list("RUNTIME_DIRECTORY") {
        return PathBuf::from(dir);
    }
    if state_dir == std::path::Path::new(INSTALLED_STATE) {
        return PathBuf::from(INSTALLED_RUNTIME);
    }
    state_dir.join("run")
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// systemd passes several directories colon-separated; the first is ours.
fn first_of_list(name: &str) -> Option<String> {
    non_empty_env(name).and_then(|v| v.split(':').next().map(str::to_string))
}
