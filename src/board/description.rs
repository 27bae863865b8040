//! Task description parsing (original-behaviour §4.4): `## Execution` YAML, `## Goal`,
//! `## Constraints`, `## Context`, `depends_on:` lines and the `repo: <key>` label fallback.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use yaml_serde::Value;

use super::html;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionMode {
    Goal,
    FixPr,
    TestCampaign,
    ImproveCampaign,
}

impl ExecutionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionMode::Goal => "goal",
            ExecutionMode::FixPr => "fix_pr",
            ExecutionMode::TestCampaign => "test_campaign",
            ExecutionMode::ImproveCampaign => "improve_campaign",
        }
    }

    /// Case-insensitive, with the aliases `test` and `improve`.
    pub fn parse(text: &str) -> Option<ExecutionMode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "goal" => Some(ExecutionMode::Goal),
            "fix_pr" => Some(ExecutionMode::FixPr),
            "test_campaign" | "test" => Some(ExecutionMode::TestCampaign),
            "improve_campaign" | "improve" => Some(ExecutionMode::ImproveCampaign),
            _ => None,
        }
    }
}

impl std::fmt::Display for ExecutionMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedTask {
    pub repo: String,
    /// `""` when not given (the repo's default branch is used).
    pub base_branch: String,
    pub mode: ExecutionMode,
    pub allowed_paths: Vec<String>,
    pub open_pr: Option<bool>,
    pub goal: String,
    pub constraints: Option<String>,
    pub context: Option<String>,
    pub depends_on: Vec<String>,
    /// Other Execution keys, stringified (spec_campaign_id, spec_file, task_phase, ...).
    pub extra: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptionError {
    #[error("Missing '## Execution' section and no 'repo: <key>' label found on the task")]
    MissingExecution,
    #[error("Execution section must be valid key/value YAML")]
    InvalidExecutionYaml,
    #[error("Missing execution metadata fields: repo")]
    MissingRepo,
    #[error(
        "Missing goal text. Add a '## Goal' section or write the goal as the task description."
    )]
    MissingGoal,
    #[error(
        "Unsupported execution mode '{0}'. Supported: ['fix_pr', 'goal', 'improve_campaign', 'test_campaign']"
    )]
    UnsupportedMode(String),
}

static HEADER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^##[ \t]+(.+?)[ \t]*$").expect("header regex"));
static DEPENDS_ON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^[ \t]*(?:-[ \t]*)?depends_on:[ \t]*(.+)$").expect("depends_on regex")
});
static HTML_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>").expect("tag regex"));

/// Keys of the Execution block that have their own fields (everything else goes to `extra`).
const KNOWN_KEYS: [&str; 6] = [
    "repo",
    "base_branch",
    "mode",
    "allowed_paths",
    "open_pr",
    "depends_on",
];

/// One `## Title` section: lower-cased title and byte offsets into the scanned text.
struct Span {
    title: String,
    header_start: usize,
    body_start: usize,
    end: usize,
}

fn scan_sections(markdown: &str) -> Vec<Span> {
    let headers: Vec<_> = HEADER.captures_iter(markdown).collect();
    headers
        .iter()
        .enumerate()
        .map(|(i, caps)| {
            let whole = caps.get(0).expect("match");
            Span {
                title: caps[1].trim().to_lowercase(),
                header_start: whole.start(),
                body_start: whole.end(),
                end: headers
                    .get(i + 1)
                    .map_or(markdown.len(), |next| next.get(0).expect("match").start()),
            }
        })
        .collect()
}

/// Sections split by `^##\s+(.+?)\s*$` headers; titles lower-cased; returns the preamble
/// before the first header and the ordered list of (title, trimmed body).
pub fn split_sections(markdown: &str) -> (String, Vec<(String, String)>) {
    let spans = scan_sections(markdown);
    let preamble_end = spans.first().map_or(markdown.len(), |s| s.header_start);
    let preamble = markdown[..preamble_end].trim().to_string();
    let sections = spans
        .into_iter()
        .map(|s| (s.title, markdown[s.body_start..s.end].trim().to_string()))
        .collect();
    (preamble, sections)
}

/// The value of the first label `key: value` (key matched case-insensitively; the space after
/// the colon is optional). Labels with an empty value are skipped.
pub fn label_value<'a>(labels: &'a [String], key: &str) -> Option<&'a str> {
    labels.iter().find_map(|label| {
        let (k, v) = label.split_once(':')?;
        let v = v.trim();
        (k.trim().eq_ignore_ascii_case(key) && !v.is_empty()).then_some(v)
    })
}

/// The lane kind of a task: its `task-kind:` label, else `goal` for a task that names a
/// repo (a `repo:` label or an `## Execution` block) — a `repo:` label alone is enough, as
/// the docs say (items made in Plane's UI rarely carry `task-kind:`). `None`: no lane
/// takes it.
pub fn kind_of<'a>(labels: &'a [String], description: &str) -> Option<&'a str> {
    label_value(labels, "task-kind").or_else(|| {
        (label_value(labels, "repo").is_some() || parse_task(description, labels).is_ok())
            .then_some("goal")
    })
}

/// Ids named on `depends_on: a, b` lines anywhere in the text (deduplicated, in order).
pub fn depends_on_ids(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for caps in DEPENDS_ON.captures_iter(text) {
        push_ids(&mut ids, &caps[1]);
    }
    ids
}

fn push_ids(ids: &mut Vec<String>, list: &str) {
    let list = list.trim().trim_start_matches('[').trim_end_matches(']');
    for id in list.split(',') {
        let id = id
            .trim()
            .trim_matches(|c| matches!(c, '"' | '\'' | '`'))
            .trim();
        if !id.is_empty() && !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
        }
    }
}

/// True when the text looks like HTML from Plane's editor rather than Markdown.
fn looks_like_html(text: &str) -> bool {
    let trimmed = text.trim_start();
    trimmed.starts_with('<') && HTML_TAG.is_match(trimmed)
}

/// Parses a task description (Markdown, or HTML from Plane's editor) plus its labels.
pub fn parse_task(description: &str, labels: &[String]) -> Result<ParsedTask, DescriptionError> {
    let text = if looks_like_html(description) {
        html::html_to_text(description)
    } else {
        description.to_string()
    };
    let text = text.replace("\r\n", "\n");
    let spans = scan_sections(&text);
    let section = |name: &str| {
        spans
            .iter()
            .find(|s| s.title == name)
            .map(|s| text[s.body_start..s.end].trim())
    };
    let label_repo = label_value(labels, "repo");

    let execution_span = spans.iter().find(|s| s.title == "execution");
    let fields = match execution_span {
        None if label_repo.is_none() => return Err(DescriptionError::MissingExecution),
        None => Vec::new(),
        Some(span) => execution_fields(text[span.body_start..span.end].trim())?,
    };
    let field = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    };

    let repo = field("repo")
        .map(scalar_text)
        .filter(|r| !r.is_empty())
        .or_else(|| label_repo.map(str::to_string))
        .ok_or(DescriptionError::MissingRepo)?;
    let base_branch = field("base_branch").map(scalar_text).unwrap_or_default();
    let mode = match field("mode").map(scalar_text) {
        None => ExecutionMode::Goal,
        Some(m) if m.is_empty() => ExecutionMode::Goal,
        Some(m) => ExecutionMode::parse(&m).ok_or(DescriptionError::UnsupportedMode(m))?,
    };
    let allowed_paths = match field("allowed_paths") {
        Some(Value::Sequence(items)) => items
            .iter()
            .filter(|v| !v.is_null())
            .map(scalar_text)
            .filter(|p| !p.is_empty())
            .collect(),
        Some(other) => Some(scalar_text(other))
            .filter(|p| !p.is_empty())
            .into_iter()
            .collect(),
        None => Vec::new(),
    };
    let open_pr = field("open_pr").and_then(|v| match v {
        Value::Bool(b) => Some(*b),
        other => match scalar_text(other).to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
    });

    // Without `## Goal` the goal is the free text, minus the sections handed on
    // separately: the Execution block and the Constraints (the goal file adds its own
    // `## Constraints` section, which must not appear twice).
    let constraints_span = spans.iter().find(|s| s.title == "constraints");
    let goal = match section("goal") {
        Some(body) => body.to_string(),
        None => text_without(&text, &[execution_span, constraints_span]),
    };
    if goal.is_empty() {
        return Err(DescriptionError::MissingGoal);
    }

    let mut depends_on = Vec::new();
    match field("depends_on") {
        Some(Value::Sequence(items)) => items
            .iter()
            .for_each(|v| push_ids(&mut depends_on, &scalar_text(v))),
        Some(other) => push_ids(&mut depends_on, &scalar_text(other)),
        None => {}
    }
    for id in depends_on_ids(&text) {
        if !depends_on.contains(&id) {
            depends_on.push(id);
        }
    }

    let extra = fields
        .iter()
        .filter(|(k, v)| !KNOWN_KEYS.contains(&k.as_str()) && !v.is_null())
        .map(|(k, v)| (k.clone(), scalar_text(v)))
        .collect();
    let optional = |name: &str| section(name).filter(|b| !b.is_empty()).map(str::to_string);

    Ok(ParsedTask {
        repo,
        base_branch,
        mode,
        allowed_paths,
        open_pr,
        goal,
        constraints: optional("constraints"),
        context: optional("context"),
        depends_on,
        extra,
    })
}

/// `text` with the given sections cut out, the remaining parts trimmed and joined by a
/// blank line.
fn text_without(text: &str, cut: &[Option<&Span>]) -> String {
    let mut cut: Vec<&Span> = cut.iter().flatten().copied().collect();
    cut.sort_by_key(|s| s.header_start);
    let mut parts = Vec::new();
    let mut start = 0;
    for span in cut {
        parts.push(&text[start..span.header_start]);
        start = span.end;
    }
    parts.push(&text[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The Execution body as (lower-cased key, value) pairs; a fenced block is unwrapped first.
fn execution_fields(body: &str) -> Result<Vec<(String, Value)>, DescriptionError> {
    let body = unfence(body);
    if body.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: Value =
        yaml_serde::from_str(body).map_err(|_| DescriptionError::InvalidExecutionYaml)?;
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Mapping(map) => Ok(map
            .into_iter()
            .map(|(k, v)| (scalar_text(&k).trim().to_ascii_lowercase(), v))
            .collect()),
        _ => Err(DescriptionError::InvalidExecutionYaml),
    }
}

/// Strips a surrounding ``` fence (Plane users often paste the YAML as a code block).
fn unfence(body: &str) -> &str {
    let trimmed = body.trim();
    if !trimmed.starts_with("```") {
        return body;
    }
    let Some(first_newline) = trimmed.find('\n') else {
        return body;
    };
    let inner = &trimmed[first_newline + 1..];
    match inner.trim_end().strip_suffix("```") {
        Some(inner) => inner,
        None => body,
    }
}

/// A YAML value as plain text: strings as-is, scalars printed, collections as JSON.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        Value::Tagged(tagged) => scalar_text(&tagged.value),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn case1_full_description() {
        let d = "## Execution\nrepo: repo_a\nbase_branch: main\nmode: GOAL\nallowed_paths:\n  - src/\nopen_pr: true\n\n## Goal\nDo the thing.\n\n## Constraints\n- Keep tests green.";
        let t = parse_task(d, &[]).unwrap();
        assert_eq!(t.repo, "repo_a");
        assert_eq!(t.base_branch, "main");
        assert_eq!(t.mode, ExecutionMode::Goal);
        assert_eq!(t.mode.as_str(), "goal");
        assert_eq!(t.allowed_paths, vec!["src/".to_string()]);
        assert_eq!(t.open_pr, Some(true));
        assert_eq!(t.goal, "Do the thing.");
        assert_eq!(t.constraints.as_deref(), Some("- Keep tests green."));
        assert_eq!(t.context, None);
        assert!(t.extra.is_empty());
    }

    #[test]
    fn case2_no_execution_no_label() {
        let err = parse_task("## Goal\nDo it.", &[]).unwrap_err();
        assert_eq!(err, DescriptionError::MissingExecution);
        assert_eq!(
            err.to_string(),
            "Missing '## Execution' section and no 'repo: <key>' label found on the task"
        );
        assert_eq!(
            parse_task("Just text", &labels(&["task-kind: goal"])).unwrap_err(),
            DescriptionError::MissingExecution
        );
    }

    #[test]
    fn case3_repo_label_fallback() {
        let t = parse_task("## Goal\nX", &labels(&["repo: repo_b"])).unwrap();
        assert_eq!(t.repo, "repo_b");
        assert_eq!(t.mode, ExecutionMode::Goal);
        assert_eq!(t.base_branch, "");
        assert_eq!(t.goal, "X");
    }

    #[test]
    fn case4_mode_aliases_and_unsupported() {
        let with_mode = |m: &str| format!("## Execution\nrepo: r\nmode: {m}\n\n## Goal\nG");
        let mode = |m: &str| parse_task(&with_mode(m), &[]).map(|t| t.mode);
        assert_eq!(mode("improve"), Ok(ExecutionMode::ImproveCampaign));
        assert_eq!(mode("test"), Ok(ExecutionMode::TestCampaign));
        assert_eq!(mode("Fix_PR"), Ok(ExecutionMode::FixPr));
        let err = mode("weird").unwrap_err();
        assert_eq!(err, DescriptionError::UnsupportedMode("weird".into()));
        assert_eq!(
            err.to_string(),
            "Unsupported execution mode 'weird'. Supported: ['fix_pr', 'goal', 'improve_campaign', 'test_campaign']"
        );
        assert!(err.to_string().contains("Unsupported execution mode"));
    }

    #[test]
    fn case5_yaml_never_leaks_into_goal() {
        let err = parse_task("## Execution\nrepo: myrepo\nmode: goal\n", &[]).unwrap_err();
        assert_eq!(err, DescriptionError::MissingGoal);
        assert!(err.to_string().starts_with("Missing goal text"));
        assert_eq!(
            err.to_string(),
            "Missing goal text. Add a '## Goal' section or write the goal as the task description."
        );
    }

    #[test]
    fn case6_goal_from_preamble() {
        let t = parse_task(
            "Fix the login bug.\n\n## Execution\nrepo: myrepo\nmode: goal\n",
            &[],
        )
        .unwrap();
        assert!(t.goal.contains("Fix the login bug"));
        assert!(!t.goal.contains("repo: myrepo"));
        assert_eq!(t.goal, "Fix the login bug.");
        let d = "Intro.\n\n## Execution\nrepo: r\n\n## Notes\nMore.";
        assert_eq!(
            parse_task(d, &[]).unwrap().goal,
            "Intro.\n\n## Notes\nMore."
        );
    }

    #[test]
    fn free_text_goal_leaves_constraints_to_their_own_section() {
        let d = "Fix the login bug.\n\n## Constraints\n- Keep the API.\n\n## Notes\nSee #4.";
        let t = parse_task(d, &labels(&["repo: demo"])).unwrap();
        assert_eq!(t.goal, "Fix the login bug.\n\n## Notes\nSee #4.");
        assert_eq!(t.constraints.as_deref(), Some("- Keep the API."));
    }

    #[test]
    fn case7_plane_html_description() {
        let html = "<h2>Execution</h2><p>repo: repo_a<br/>base_branch: main<br/>mode: goal</p><h2>Goal</h2><p>Do thing.</p><h2>Constraints</h2><ul><li>Keep tests green.</li></ul>";
        let t = parse_task(html, &[]).unwrap();
        assert_eq!(t.repo, "repo_a");
        assert_eq!(t.base_branch, "main");
        assert_eq!(t.mode, ExecutionMode::Goal);
        assert_eq!(t.goal, "Do thing.");
        assert_eq!(t.constraints.as_deref(), Some("- Keep tests green."));
    }

    #[test]
    fn depends_on_lines_anywhere() {
        let d = "## Execution\nrepo: r\n\n## Goal\nDo it.\n\ndepends_on: abc-1, def-2\n\n## Context\n- depends_on: ghi-3,abc-1\n- source_task_id: x";
        let t = parse_task(d, &[]).unwrap();
        assert_eq!(t.depends_on, vec!["abc-1", "def-2", "ghi-3"]);
        assert_eq!(
            t.context.as_deref(),
            Some("- depends_on: ghi-3,abc-1\n- source_task_id: x")
        );
        assert_eq!(
            depends_on_ids("nothing here\nnot_depends_on: x"),
            Vec::<String>::new()
        );
        assert_eq!(depends_on_ids("  depends_on: [a, 'b']"), vec!["a", "b"]);
    }

    #[test]
    fn allowed_paths_single_string_and_extras() {
        let d = "## Execution\nrepo: r\nallowed_paths: src/pkg/\nopen_pr: false\nspec_campaign_id: 1234\ntask_phase: implement\nvalidation_profile: ruff_clean\nbase_branch:\n\n## Goal\nG";
        let t = parse_task(d, &[]).unwrap();
        assert_eq!(t.allowed_paths, vec!["src/pkg/"]);
        assert_eq!(t.open_pr, Some(false));
        assert_eq!(t.base_branch, "");
        assert_eq!(
            t.extra.get("spec_campaign_id").map(String::as_str),
            Some("1234")
        );
        assert_eq!(
            t.extra.get("task_phase").map(String::as_str),
            Some("implement")
        );
        assert_eq!(
            t.extra.get("validation_profile").map(String::as_str),
            Some("ruff_clean")
        );
        assert_eq!(t.extra.len(), 3);
    }

    #[test]
    fn execution_wins_over_label() {
        let d = "## Execution\nrepo: from_exec\n\n## Goal\nG";
        let t = parse_task(d, &labels(&["repo: from_label"])).unwrap();
        assert_eq!(t.repo, "from_exec");
        let d = "## Execution\nmode: test\n\n## Goal\nG";
        let t = parse_task(d, &labels(&["repo:from_label"])).unwrap();
        assert_eq!(t.repo, "from_label");
        assert_eq!(t.mode, ExecutionMode::TestCampaign);
    }

    #[test]
    fn yaml_errors_and_missing_repo() {
        let err = |d: &str| parse_task(d, &[]).unwrap_err();
        assert_eq!(
            err("## Execution\njust a string\n## Goal\nG"),
            DescriptionError::InvalidExecutionYaml
        );
        assert_eq!(
            err("## Execution\n- a\n- b\n## Goal\nG"),
            DescriptionError::InvalidExecutionYaml
        );
        assert_eq!(
            err("## Execution\nrepo: [unclosed\n## Goal\nG"),
            DescriptionError::InvalidExecutionYaml
        );
        let missing = err("## Execution\nmode: goal\n## Goal\nG");
        assert_eq!(missing, DescriptionError::MissingRepo);
        assert_eq!(
            missing.to_string(),
            "Missing execution metadata fields: repo"
        );
        assert_eq!(
            err("## Execution\n\n## Goal\nG"),
            DescriptionError::MissingRepo
        );
        let fenced = "## Execution\n```yaml\nrepo: r\n```\n## Goal\nG";
        assert_eq!(parse_task(fenced, &[]).unwrap().repo, "r");
    }

    #[test]
    fn sections_and_labels() {
        let (pre, sections) =
            split_sections("intro\n## Goal  \nA\n### Sub\nB\n##   Review Feedback\nC\n");
        assert_eq!(pre, "intro");
        assert_eq!(
            sections,
            vec![
                ("goal".to_string(), "A\n### Sub\nB".to_string()),
                ("review feedback".to_string(), "C".to_string()),
            ]
        );
        let l = labels(&["task-kind: goal", "Repo: a", "repo: b", "source:autonomy"]);
        assert_eq!(label_value(&l, "repo"), Some("a"));
        assert_eq!(label_value(&l, "source"), Some("autonomy"));
        assert_eq!(label_value(&l, "priority"), None);
    }

    #[test]
    fn a_repo_alone_makes_a_goal_task() {
        assert_eq!(kind_of(&labels(&["task-kind: test"]), ""), Some("test"));
        assert_eq!(kind_of(&labels(&["repo: demo"]), "free text"), Some("goal"));
        assert_eq!(
            kind_of(&labels(&[]), "## Execution\nrepo: demo\n\n## Goal\nx"),
            Some("goal")
        );
        // Nothing says where to work: no lane takes it.
        assert_eq!(kind_of(&labels(&["source: human"]), "free text"), None);
    }
}
