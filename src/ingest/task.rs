//! The board task for one ingested error: `[Runtime] <first line>`, the full text in the
//! goal, and the labels that route it to the goal lane of its repo.

use crate::board::{NewTask, State};

/// Title characters taken from the error's first line (the original's `title[:120]`).
const TITLE_CHARS: usize = 120;

pub(super) struct Fields<'a> {
    pub repo: &'a str,
    /// Trimmed, not empty.
    pub text: &'a str,
    pub origin: &'a str,
    pub dedup_key: &'a str,
    pub now: i64,
    /// The repo key is configured under `repos` (else the task waits in Backlog).
    pub known_repo: bool,
}

pub(super) fn build(f: &Fields<'_>) -> NewTask {
    let repo = f.repo;
    let mut context = format!(
        "- source: error-ingest ({})\n- detected_at: {}\n- dedup_key: {}\n",
        f.origin,
        crate::store::rfc3339(f.now),
        f.dedup_key
    );
    if !f.known_repo {
        context.push_str(&format!(
            "- note: repo `{repo}` is not configured under `repos`, so this task waits in \
             Backlog; configure the repo (or correct the `repo:` label and Execution block) \
             and move it to Ready for AI.\n"
        ));
    }
    let description = format!(
        "## Execution\nrepo: {repo}\nmode: goal\n\n## Goal\nInvestigate and fix this production \
         error reported for `{repo}`: find the root cause in the code, fix it, and add a \
         regression test where practical. The full report:\n\n{}\n\n## Context\n{context}",
        fenced(f.text)
    );
    NewTask {
        title: title(f.text),
        description,
        state: Some(if f.known_repo {
            State::ReadyForAi
        } else {
            State::Backlog
        }),
        labels: vec![
            "task-kind: goal".into(),
            format!("repo: {repo}"),
            "source: error-ingest".into(),
            "priority: high".into(),
        ],
        priority: Some("high".into()),
        external: None,
    }
}

/// `[Runtime] ` + the first non-empty line, trimmed, at most 120 characters.
pub(super) fn title(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("Runtime error");
    format!(
        "[Runtime] {}",
        line.chars().take(TITLE_CHARS).collect::<String>()
    )
}

/// The text verbatim in a fenced code block. The fence is longer than any backtick run in
/// the text, so the text cannot close it. The board's section parser does not know fences
/// and would take a `## ` line of the text for a new section, so then the fence and every
/// line are indented by one space: CommonMark strips up to the fence's indentation from
/// each content line, so the text still renders exactly.
fn fenced(text: &str) -> String {
    let longest_run = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    let looks_like_header = text.lines().any(|l| {
        l.strip_prefix("##")
            .is_some_and(|r| r.starts_with([' ', '\t']))
    });
    if looks_like_header {
        let body: Vec<String> = text.lines().map(|l| format!(" {l}")).collect();
        format!(" {fence}text\n{}\n {fence}", body.join("\n"))
    } else {
        format!("{fence}text\n{text}\n{fence}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::description::parse_task;

    fn fields(text: &str) -> Fields<'_> {
        Fields {
            repo: "shop",
            text,
            origin: "webhook",
            dedup_key: "abc",
            now: 0,
            known_repo: true,
        }
    }

    #[test]
    fn title_is_the_first_line_cut_to_120_characters() {
        assert_eq!(
            title("\n  ERROR db down  \nmore"),
            "[Runtime] ERROR db down"
        );
        let long = "é".repeat(300);
        assert_eq!(title(&long).chars().count(), "[Runtime] ".len() + 120);
    }

    #[test]
    fn task_parses_as_a_goal_for_its_repo_with_the_full_text() {
        let text = "ERROR boom\n## not a header\n```\nquoted ``` fence\n  at main.rs:3";
        let task = build(&fields(text));
        let parsed = parse_task(&task.description, &task.labels).unwrap();
        assert_eq!(parsed.repo, "shop");
        assert!(
            parsed.goal.starts_with("Investigate and fix"),
            "{}",
            parsed.goal
        );
        for line in text.lines() {
            assert!(
                parsed.goal.contains(line),
                "goal lacks {line:?}: {}",
                parsed.goal
            );
        }
        assert!(parsed.goal.contains(" ````text"), "{}", parsed.goal);
        assert_eq!(task.state, Some(State::ReadyForAi));
        assert!(task.labels.contains(&"source: error-ingest".to_string()));
        assert!(task.labels.contains(&"repo: shop".to_string()));
    }

    #[test]
    fn plain_text_is_kept_byte_for_byte() {
        let text = "CRITICAL out of memory\n  at alloc";
        let task = build(&Fields {
            known_repo: false,
            ..fields(text)
        });
        assert!(task.description.contains(&format!("```text\n{text}\n```")));
        assert_eq!(task.state, Some(State::Backlog));
        assert!(task.description.contains("not configured"));
    }
}
