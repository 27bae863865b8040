//! Pure decisions of the review lane: who is a bot, what approves, what the self-review
//! said, and whether CI is green. No I/O here, so every rule has a unit test.

use std::sync::LazyLock;

use regex::Regex;

use crate::config::{RepoConfig, ReviewerConfig};

/// `/lgtm` on the first line, alone or followed by whitespace (original-behaviour §10.2
/// case 43): `/lgtm spec-compliance verified` approves, `/lgtm-not-really` does not.
pub fn is_lgtm_comment(body: &str) -> bool {
    static LGTM: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)^/lgtm(\s|$)").unwrap());
    let first = body.trim_start().lines().next().unwrap_or("").trim();
    LGTM.is_match(first)
}

/// A comment that is not human input: a configured bot login, a GitHub App (`[bot]`), or
/// one carrying our marker.
pub fn is_bot(reviewer: &ReviewerConfig, login: &str, body: &str) -> bool {
    reviewer
        .bot_logins
        .iter()
        .any(|b| b.eq_ignore_ascii_case(login))
        || login.ends_with("[bot]")
        || (!reviewer.bot_comment_marker.is_empty() && body.contains(&reviewer.bot_comment_marker))
}

/// Whether `login` may approve or request changes (everyone when the list is empty).
pub fn is_allowed(reviewer: &ReviewerConfig, login: &str) -> bool {
    reviewer.allowed_reviewer_logins.is_empty()
        || reviewer
            .allowed_reviewer_logins
            .iter()
            .any(|a| a.eq_ignore_ascii_case(login))
}

/// What the self-review pass concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Lgtm,
    Concerns(Vec<String>),
}

const LGTM_WORDS: [&str; 5] = [
    "LGTM",
    "APPROVE",
    "APPROVED",
    "LOOKS GOOD",
    "LOOKS GOOD TO ME",
];

/// Parses a verdict: the first non-empty line is `LGTM` (or a synonym) or `CONCERNS`,
/// then `- ` issue lines. Anything else is no verdict (the run is retried later), never a
/// guess: a crashed or throttled agent must not approve a PR.
pub fn parse_verdict(text: &str) -> Option<Verdict> {
    let mut lines = text.lines().map(str::trim).skip_while(|l| l.is_empty());
    let first = lines.next()?;
    let head = first
        .trim_matches(|c: char| c == '*' || c == '#' || c == '`' || c.is_whitespace())
        .trim_end_matches(['.', '!', ':'])
        .to_ascii_uppercase();
    if LGTM_WORDS.contains(&head.as_str()) {
        return Some(Verdict::Lgtm);
    }
    if head.starts_with("CONCERNS") {
        let mut items: Vec<String> = lines
            .filter(|l| !l.is_empty())
            .map(|l| l.trim_start_matches(['-', '*']).trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        if items.is_empty() {
            let rest = first
                .split_once(':')
                .map(|(_, r)| r.trim())
                .unwrap_or_default();
            items.push(if rest.is_empty() {
                "(no details)".into()
            } else {
                rest.to_string()
            });
        }
        return Some(Verdict::Concerns(items));
    }
    None
}

/// The verdict from the agent's output: the verdict file when written, else the first
/// line of stdout that opens a verdict.
pub fn verdict_from_output(file: Option<&str>, stdout: &str) -> Option<Verdict> {
    if let Some(v) = file.and_then(parse_verdict) {
        return Some(v);
    }
    let lines: Vec<&str> = stdout.lines().collect();
    (0..lines.len()).find_map(|i| {
        let first = lines[i].trim();
        if first.is_empty() {
            return None;
        }
        parse_verdict(&lines[i..].join("\n")).filter(|_| {
            let up = first.to_ascii_uppercase();
            LGTM_WORDS
                .iter()
                .any(|w| up.trim_end_matches(['.', '!']) == *w)
                || up.starts_with("CONCERNS")
        })
    })
}

/// One check as CI reported it for the head commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    /// Finished (check run `completed`, status not `pending`).
    pub completed: bool,
    /// success, neutral, skipped (green); failure, timed_out, cancelled, action_required,
    /// error (red). None while running.
    pub conclusion: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiState {
    /// No check reported anything for this commit.
    None,
    /// Something still runs (queued, in progress, pending status). Not green.
    Pending(Vec<String>),
    Failing(Vec<String>),
    Green,
}

fn ignored(repo: &RepoConfig, name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    repo.ci_ignored_checks
        .iter()
        .any(|i| !i.is_empty() && lower.contains(&i.to_ascii_lowercase()))
}

/// Failing checks win over pending ones (nothing will make them green without a change);
/// ignored checks (`ci_ignored_checks`, case-insensitive substring) count for nothing.
pub fn ci_state(repo: &RepoConfig, checks: &[Check]) -> CiState {
    let relevant: Vec<&Check> = checks.iter().filter(|c| !ignored(repo, &c.name)).collect();
    let failing: Vec<String> = relevant
        .iter()
        .filter(|c| {
            c.completed
                && !matches!(
                    c.conclusion.as_deref(),
                    Some("success" | "neutral" | "skipped")
                )
        })
        .map(|c| {
            format!(
                "{}: {}",
                c.name,
                c.conclusion.as_deref().unwrap_or("unknown")
            )
        })
        .collect();
    if !failing.is_empty() {
        return CiState::Failing(failing);
    }
    let pending: Vec<String> = relevant
        .iter()
        .filter(|c| !c.completed)
        .map(|c| c.name.clone())
        .collect();
    if !pending.is_empty() {
        return CiState::Pending(pending);
    }
    if checks.is_empty() {
        CiState::None
    } else {
        CiState::Green
    }
}

/// Dependency manifests: a conflict only in these is mechanical, not a review question.
pub fn is_dependency_manifest(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with("requirements") && name.ends_with(".txt")
        || matches!(
            name,
            "pyproject.toml"
                | "poetry.lock"
                | "uv.lock"
                | "Pipfile"
                | "Pipfile.lock"
                | "Cargo.toml"
                | "Cargo.lock"
                | "package.json"
                | "package-lock.json"
                | "yarn.lock"
                | "pnpm-lock.yaml"
                | "go.mod"
                | "go.sum"
        )
}

/// PR title from the task title: at most 72 characters.
pub fn pr_title(title: &str) -> String {
    let t = title.trim();
    if t.chars().count() <= 72 {
        return t.to_string();
    }
    let cut: String = t.chars().take(71).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reviewer() -> ReviewerConfig {
        ReviewerConfig {
            bot_logins: vec!["github-actions".into()],
            ..Default::default()
        }
    }

    #[test]
    fn lgtm_comments_case_43() {
        for yes in [
            "/lgtm",
            "/LGTM",
            "  /lgtm  ",
            "/lgtm spec-compliance verified",
            "/lgtm\n\nOperator approval — all checks pass.",
        ] {
            assert!(is_lgtm_comment(yes), "{yes:?} should approve");
        }
        for no in ["lgtm, great work", "please /lgtm this", "/lgtm-not-really"] {
            assert!(!is_lgtm_comment(no), "{no:?} should not approve");
        }
    }

    #[test]
    fn bot_comments_case_43() {
        let r = reviewer();
        assert!(is_bot(&r, "github-actions", "Looks good!"));
        assert!(is_bot(
            &r,
            "someone",
            "<!-- operations-center:bot -->\nSelf-review passed"
        ));
        assert!(is_bot(&r, "dependabot[bot]", "bump"));
        assert!(!is_bot(&r, "alice", "Looks good!"));
    }

    #[test]
    fn allowed_logins() {
        let mut r = reviewer();
        assert!(is_allowed(&r, "anyone"));
        r.allowed_reviewer_logins = vec!["Alice".into()];
        assert!(is_allowed(&r, "alice"));
        assert!(!is_allowed(&r, "bob"));
    }

    #[test]
    fn verdicts() {
        assert_eq!(parse_verdict("LGTM\n"), Some(Verdict::Lgtm));
        assert_eq!(
            parse_verdict("\n  looks good to me.\n"),
            Some(Verdict::Lgtm)
        );
        assert_eq!(
            parse_verdict("CONCERNS\n- missing tests\n- typo in README\n"),
            Some(Verdict::Concerns(vec![
                "missing tests".into(),
                "typo in README".into()
            ]))
        );
        assert_eq!(
            parse_verdict("CONCERNS"),
            Some(Verdict::Concerns(vec!["(no details)".into()]))
        );
        assert_eq!(parse_verdict("I think this is fine"), None);
        assert_eq!(parse_verdict(""), None);
        assert_eq!(
            verdict_from_output(None, "reviewing…\nran git diff\nLGTM\n"),
            Some(Verdict::Lgtm)
        );
        assert_eq!(
            verdict_from_output(None, "You're out of extra usage · resets 9pm"),
            None
        );
        assert_eq!(
            verdict_from_output(Some("CONCERNS\n- x"), "LGTM"),
            Some(Verdict::Concerns(vec!["x".into()]))
        );
    }

    fn repo(ignored: &[&str]) -> RepoConfig {
        let mut r: RepoConfig = yaml_serde::from_str("clone_url: /x").unwrap();
        r.ci_ignored_checks = ignored.iter().map(|s| s.to_string()).collect();
        r
    }

    fn check(name: &str, completed: bool, conclusion: Option<&str>) -> Check {
        Check {
            name: name.into(),
            completed,
            conclusion: conclusion.map(str::to_string),
        }
    }

    #[test]
    fn ci_pending_is_not_green() {
        let r = repo(&[]);
        assert_eq!(ci_state(&r, &[]), CiState::None);
        assert_eq!(
            ci_state(
                &r,
                &[
                    check("build", true, Some("success")),
                    check("e2e", false, None)
                ]
            ),
            CiState::Pending(vec!["e2e".into()])
        );
        assert_eq!(
            ci_state(&r, &[check("build", true, Some("success"))]),
            CiState::Green
        );
        assert_eq!(
            ci_state(&r, &[check("lint", true, Some("failure"))]),
            CiState::Failing(vec!["lint: failure".into()])
        );
    }

    #[test]
    fn ignored_checks_are_case_insensitive_substrings() {
        let r = repo(&["LEGACY"]);
        assert_eq!(
            ci_state(
                &r,
                &[
                    check("build", true, Some("success")),
                    check("legacy-integration", true, Some("failure"))
                ]
            ),
            CiState::Green
        );
    }

    #[test]
    fn manifests_and_titles() {
        assert!(is_dependency_manifest("requirements-dev.txt"));
        assert!(is_dependency_manifest("crates/x/Cargo.lock"));
        assert!(!is_dependency_manifest("src/main.rs"));
        let long = "x".repeat(100);
        assert_eq!(pr_title(&long).chars().count(), 72);
        assert_eq!(pr_title(" Add CHANGES.md "), "Add CHANGES.md");
    }
}
