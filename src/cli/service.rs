//! `oc start` / `oc stop`: the seed's start/stop/watch/watch-stop/watch-all/watch-all-stop,
//! as thin wrappers over systemctl that print what they run.

use std::process::Command;

use clap::Args;

use super::UserError;

#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Only this lane role (goal, test, improve…)
    #[arg(long)]
    role: Option<String>,
    /// Only this slot of the role (needs --role)
    #[arg(long, requires = "role")]
    slot: Option<String>,
}

/// The systemctl arguments for a start or stop request.
pub fn systemctl_args(verb: &str, role: Option<&str>, slot: Option<&str>) -> Vec<String> {
    let mut args = vec![verb.to_string()];
    match (role, slot) {
        // One unit, no slots (oc-review.service).
        (Some(role), _) if crate::status::systemd::SINGLE_INSTANCE_LANES.contains(&role) => {
            args.push(format!("oc-{role}.service"))
        }
        (Some(role), Some(slot)) => args.push(format!("oc-{role}@{slot}.service")),
        // Every loaded instance of the role (systemctl expands the glob over loaded units).
        (Some(role), None) if verb == "stop" => args.push(format!("oc-{role}@*.service")),
        (Some(role), None) => args.push(format!("oc-{role}@slot1.service")),
        // The whole suite: oc.target; members are PartOf it, so stop reaches every lane.
        (None, _) => args.push("oc.target".into()),
    }
    args
}

pub fn run(verb: &str, args: ServiceArgs) -> anyhow::Result<()> {
    let mut argv = systemctl_args(verb, args.role.as_deref(), args.slot.as_deref());
    if verb == "start" && args.role.is_none() {
        // Starting the target starts its timers and sockets; enabled lanes start with it
        // at boot, and here explicitly.
        argv.extend(enabled_lane_instances());
    }
    println!("systemctl {}", argv.join(" "));
    let status = Command::new("systemctl")
        .args(&argv)
        .status()
        .map_err(|e| UserError(format!("cannot run systemctl: {e}")))?;
    if !status.success() {
        return Err(UserError(format!("systemctl {} failed ({status})", argv.join(" "))).into());
    }
    Ok(())
}

fn enabled_lane_instances() -> Vec<String> {
    crate::status::systemd::units()
        .unwrap_or_default()
        .into_iter()
        .filter(|u| {
            crate::status::systemd::lane_of_unit(&u.unit).is_some() && u.enabled == "enabled"
        })
        .map(|u| u.unit)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::systemctl_args;

    #[test]
    fn maps_the_seed_commands() {
        assert_eq!(systemctl_args("stop", None, None), ["stop", "oc.target"]);
        assert_eq!(
            systemctl_args("stop", Some("goal"), None),
            ["stop", "oc-goal@*.service"]
        );
        assert_eq!(
            systemctl_args("start", Some("goal"), Some("slot2")),
            ["start", "oc-goal@slot2.service"]
        );
        assert_eq!(
            systemctl_args("stop", Some("review"), None),
            ["stop", "oc-review.service"]
        );
    }
}
