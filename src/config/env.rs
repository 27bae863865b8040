//! The seed's `OPERATIONS_CENTER_*` knobs, applied over the file.

use super::load::ConfigError;
use super::{Config, Limits};

const ROLES: [&str; 6] = ["goal", "test", "improve", "propose", "review", "spec"];

pub fn apply(config: &mut Config) -> Result<(), ConfigError> {
    apply_from(config, |name| std::env::var(name).ok())
}

pub fn apply_from(
    config: &mut Config,
    get: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let limits: &mut Limits = &mut config.limits;
    let read = |name: &str| -> Result<Option<u64>, ConfigError> {
        let full = format!("OPERATIONS_CENTER_{name}");
        match get(&full).filter(|v| !v.trim().is_empty()) {
            None => Ok(None),
            Some(value) => value.trim().parse::<u64>().map(Some).map_err(|_| {
                ConfigError::env(&full, format!("expected a whole number, got {value:?}"))
            }),
        }
    };
    let narrow = |name: &str, v: u64| -> Result<u32, ConfigError> {
        u32::try_from(v).map_err(|_| {
            ConfigError::env(
                &format!("OPERATIONS_CENTER_{name}"),
                "value is too large".into(),
            )
        })
    };
    if let Some(v) = read("MAX_EXEC_PER_HOUR")? {
        limits.max_exec_per_hour = narrow("MAX_EXEC_PER_HOUR", v)?;
    }
    if let Some(v) = read("MAX_EXEC_PER_DAY")? {
        limits.max_exec_per_day = narrow("MAX_EXEC_PER_DAY", v)?;
    }
    if let Some(v) = read("MAX_RETRIES_PER_TASK")? {
        limits.max_retries_per_task = narrow("MAX_RETRIES_PER_TASK", v)?.max(1);
    }
    if let Some(v) = read("MIN_WATCH_INTERVAL_SECONDS")? {
        limits.min_watch_interval_seconds = v;
    }
    if let Some(v) = read("RETENTION_DAYS")? {
        limits.retention_days = narrow("RETENTION_DAYS", v)?;
    }
    for role in ROLES {
        let upper = role.to_ascii_uppercase();
        // The legacy name first, so the current one wins when both are set.
        for name in [
            format!("{upper}_POLL_SECONDS"),
            format!("WATCH_INTERVAL_{upper}_SECONDS"),
        ] {
            if let Some(v) = read(&name)? {
                limits.watch_interval_seconds.insert(role.to_string(), v);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        apply_from(&mut config, |n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        })?;
        Ok(config)
    }

    #[test]
    fn budgets_and_intervals_override_the_file() {
        let c = with(&[
            ("OPERATIONS_CENTER_MAX_EXEC_PER_HOUR", "3"),
            ("OPERATIONS_CENTER_WATCH_INTERVAL_GOAL_SECONDS", "7"),
            ("OPERATIONS_CENTER_RETENTION_DAYS", "4"),
        ])
        .unwrap();
        assert_eq!(c.limits.max_exec_per_hour, 3);
        assert_eq!(c.limits.max_exec_per_day, 50);
        assert_eq!(c.limits.watch_interval("goal").as_secs(), 7);
        assert_eq!(c.limits.retention_days, 4);
    }

    #[test]
    fn interval_is_floored_by_the_minimum() {
        let c = with(&[("OPERATIONS_CENTER_GOAL_POLL_SECONDS", "1")]).unwrap();
        assert_eq!(c.limits.watch_interval("goal").as_secs(), 5);
    }

    #[test]
    fn bad_value_names_the_variable() {
        let err = with(&[("OPERATIONS_CENTER_MAX_EXEC_PER_DAY", "lots")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("OPERATIONS_CENTER_MAX_EXEC_PER_DAY: "),
            "{err}"
        );
    }
}
