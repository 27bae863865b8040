//! Running as the service account. `sudo oc task add` on an installed host must not leave
//! root-owned files in the state directory that the lanes (user `oc`) then cannot write,
//! so root switches to the account that owns the installed state directory first.

use std::path::Path;

use nix::unistd::{Gid, Uid, User, chown, setgid, setgroups, setuid};

/// The system account the units run as (packaging/sysusers.d).
pub const SERVICE_USER: &str = "oc";

/// As root, with the installed state directory and an existing `oc` account: create the
/// directory owned by `oc` if needed and become `oc`. Otherwise do nothing.
pub fn become_service_user_for(state_dir: &Path) -> anyhow::Result<()> {
    if !Uid::effective().is_root() || state_dir != Path::new(crate::config::paths::INSTALLED_STATE)
    {
        return Ok(());
    }
    let Some(user) = User::from_name(SERVICE_USER)? else {
        return Ok(());
    };
    if !state_dir.exists() {
        std::fs::create_dir_all(state_dir)?;
        chown(state_dir, Some(user.uid), Some(user.gid))?;
    }
    drop_to(user.uid, user.gid)
}

fn drop_to(uid: Uid, gid: Gid) -> anyhow::Result<()> {
    setgroups(&[gid])?;
    setgid(gid)?;
    setuid(uid)?;
    Ok(())
}
