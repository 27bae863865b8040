//! What systemd knows about the suite's units, asked through `systemctl` (works without
//! root; absent or not running systemd means "unknown", not an error).

use std::process::Command;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UnitState {
    pub unit: String,
    pub load: String,
    /// active, inactive, failed, activating…
    pub active: String,
    pub sub: String,
    /// enabled, disabled, static, indirect… (`systemctl is-enabled`)
    pub enabled: String,
}

/// Every loaded `oc*` unit (services, sockets, timers, target), or None without systemd.
pub fn units() -> Option<Vec<UnitState>> {
    let out = Command::new("systemctl")
        .args([
            "list-units",
            "--all",
            "--plain",
            "--no-legend",
            "--no-pager",
            "oc.target",
            "oc-*",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut units: Vec<UnitState> = text
        .lines()
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            Some(UnitState {
                unit: cols.next()?.to_string(),
                load: cols.next()?.to_string(),
                active: cols.next()?.to_string(),
                sub: cols.next()?.to_string(),
                enabled: String::new(),
            })
        })
        .filter(|u| u.load != "not-found")
        .collect();
    if !units.is_empty() {
        let mut cmd = Command::new("systemctl");
        cmd.arg("is-enabled");
        for u in &units {
            cmd.arg(&u.unit);
        }
        // One answer line per unit, in order; is-enabled exits non-zero if any is disabled.
        if let Ok(out) = cmd.output() {
            let answers = String::from_utf8_lossy(&out.stdout);
            for (unit, answer) in units.iter_mut().zip(answers.lines()) {
                unit.enabled = answer.trim().to_string();
            }
        }
    }
    units.sort_by(|a, b| a.unit.cmp(&b.unit));
    Some(units)
}

/// Lanes that run as one plain unit (`oc-review.service`) rather than a template per slot.
pub const SINGLE_INSTANCE_LANES: [&str; 1] = ["review"];

/// The unit file an operator edits for a role's lanes: `oc-review.service`, or the
/// template `oc-goal@.service` shared by every slot.
pub fn unit_file_of_role(role: &str) -> String {
    if SINGLE_INSTANCE_LANES.contains(&role) {
        format!("oc-{role}.service")
    } else {
        format!("oc-{role}@.service")
    }
}

/// The lane (`goal@slot1`, `review`) a unit runs, if it is a lane unit
/// (`oc-goal@slot1.service`, `oc-review.service`).
pub fn lane_of_unit(unit: &str) -> Option<String> {
    let stem = unit.strip_suffix(".service")?.strip_prefix("oc-")?;
    if SINGLE_INSTANCE_LANES.contains(&stem) {
        return Some(stem.to_string());
    }
    let (role, slot) = stem.split_once('@')?;
    (!slot.is_empty()).then(|| format!("{role}@{slot}"))
}

#[cfg(test)]
mod tests {
    use super::lane_of_unit;

    #[test]
    fn lane_units_map_to_lanes() {
        assert_eq!(
            lane_of_unit("oc-goal@slot1.service").as_deref(),
            Some("goal@slot1")
        );
        assert_eq!(lane_of_unit("oc-review.service").as_deref(), Some("review"));
        assert_eq!(lane_of_unit("oc-janitor.service"), None);
        assert_eq!(lane_of_unit("oc-goal@.service"), None);
    }
}
