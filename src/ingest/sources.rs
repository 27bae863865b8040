//! `error_ingest.log_sources`, checked and compiled before the tailer starts: a bad regex
//! or a duplicate path is a config error (exit 78) that names the file position.

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use crate::config::{Config, ConfigError};

/// One log file to follow.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub repo_key: String,
    pub window: Duration,
    pub regex: Regex,
}

impl Source {
    /// `log:<path>`, the origin recorded on its tasks.
    pub fn origin(&self) -> String {
        format!("log:{}", self.path.display())
    }
}

pub fn compile(config: &Config) -> Result<Vec<Source>, ConfigError> {
    let text = config
        .source
        .as_deref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let mut sources: Vec<Source> = Vec::new();
    for (index, source) in config.error_ingest.log_sources.iter().enumerate() {
        let fail = |key: &str, message: String| {
            error(config.source.as_deref(), &text, index, key, message)
        };
        if source.repo_key.trim().is_empty() {
            return Err(fail(
                "repo_key",
                format!("error_ingest.log_sources[{index}].repo_key is empty"),
            ));
        }
        if sources.iter().any(|s| s.path == source.path) {
            return Err(fail(
                "path",
                format!(
                    "error_ingest.log_sources[{index}]: {} is already followed by an earlier \
                     source; put both patterns in one regex (a|b)",
                    source.path.display()
                ),
            ));
        }
        let regex = Regex::new(&source.pattern).map_err(|e| {
            // The syntax error's last line says what is wrong; the lines above draw carets.
            let full = e.to_string();
            let reason = full
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or(&full)
                .trim()
                .trim_start_matches("error: ");
            fail(
                "pattern",
                format!(
                    "error_ingest.log_sources[{index}].pattern {:?} (for {}) is not a valid regular expression: {reason}",
                    source.pattern,
                    source.path.display()
                ),
            )
        })?;
        sources.push(Source {
            path: source.path.clone(),
            repo_key: source.repo_key.trim().to_string(),
            window: Duration::from_secs(source.dedup_window_seconds),
            regex,
        });
    }
    Ok(sources)
}

fn error(file: Option<&Path>, text: &str, index: usize, key: &str, message: String) -> ConfigError {
    ConfigError {
        origin: file.map_or_else(|| "config".into(), |f| f.display().to_string()),
        position: file.and_then(|_| locate_source_key(text, index, key)),
        message,
    }
}

/// Line and column of `key` in the `index`-th entry of `error_ingest.log_sources`, for
/// block-style YAML (what config files use); None when it cannot be found.
fn locate_source_key(text: &str, index: usize, key: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.starts_with("error_ingest:"))?;
    let prefix = format!("{key}:");
    let mut list_indent = None;
    let mut item: Option<usize> = None;
    for (n, line) in lines.iter().enumerate().skip(start + 1) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if indent == 0 {
            return None;
        }
        let Some(list) = list_indent else {
            if trimmed.starts_with("log_sources:") {
                list_indent = Some(indent);
            }
            continue;
        };
        let entry = trimmed.strip_prefix("- ");
        if indent <= list && entry.is_none() {
            return None;
        }
        let (rest, column) = match entry {
            Some(rest) => {
                item = Some(item.map_or(0, |i| i + 1));
                (rest.trim_start(), line.len() - rest.trim_start().len())
            }
            None => (trimmed, indent),
        };
        if item == Some(index) && rest.starts_with(&prefix) {
            return Some((n + 1, column + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "board: {backend: local}\nerror_ingest:\n  default_repo_key: shop\n  log_sources:\n    - path: /a.log\n      repo_key: shop\n    - repo_key: api\n      # comment\n      pattern: \"(ERROR\"\n      path: /b.log\nlimits: {}\n";

    #[test]
    fn locates_keys_of_the_nth_entry() {
        assert_eq!(locate_source_key(TEXT, 0, "path"), Some((5, 7)));
        assert_eq!(locate_source_key(TEXT, 1, "repo_key"), Some((7, 7)));
        assert_eq!(locate_source_key(TEXT, 1, "pattern"), Some((9, 7)));
        assert_eq!(locate_source_key(TEXT, 0, "pattern"), None);
        assert_eq!(locate_source_key(TEXT, 2, "path"), None);
    }

    #[test]
    fn invalid_regex_is_a_located_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, TEXT).unwrap();
        let config = crate::config::load(&path).unwrap();
        let err = compile(&config).unwrap_err();
        assert_eq!(err.position, Some((9, 7)), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("log_sources[1].pattern") && text.contains("/b.log"),
            "{text}"
        );
        assert!(!text.contains('\n'), "one line: {text}");
    }

    #[test]
    fn duplicate_paths_are_refused() {
        let mut config = Config::default();
        let source: crate::config::LogSource =
            yaml_serde::from_str("{path: /a.log, repo_key: shop}").unwrap();
        config.error_ingest.log_sources = vec![source.clone(), source];
        let err = compile(&config).unwrap_err();
        assert!(err.message.contains("already followed"), "{err}");
        assert_eq!(compile(&Config::default()).unwrap().len(), 0);
    }
}
