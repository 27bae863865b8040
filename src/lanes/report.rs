//! The `[Goal] Execution result` comment (original-behaviour §4.5), rendered in full:
//! validation errors and code blocks are kept (the original's renderer dropped them, §12 #19).

use std::fmt::Write;

#[derive(Debug, Default, Clone)]
pub struct ResultComment {
    pub tag: String,
    pub run_id: String,
    pub task_id: String,
    pub task_kind: String,
    pub worker_role: String,
    pub result_status: String,
    pub outcome_status: String,
    pub outcome_reason: String,
    pub success: bool,
    pub validation_passed: Option<bool>,
    pub policy_passed: Option<bool>,
    pub branch: Option<String>,
    pub branch_pushed: bool,
    pub draft_branch_pushed: bool,
    pub push_reason: String,
    pub summary: String,
    pub agent: Option<String>,
    pub cost: Option<String>,
    pub execution_stderr: Option<String>,
    pub changed_files: Vec<String>,
    pub diff_stat: Option<String>,
    pub blocked_classification: Option<String>,
    pub policy_violations: Vec<String>,
    pub validation_errors: Option<String>,
    pub question: Option<String>,
    /// The PR opened for the review lane (await_review repos with a GitHub repository).
    pub pr_url: Option<String>,
}

impl ResultComment {
    pub fn render(&self) -> String {
        let mut s = format!("{} Execution result\n", self.tag);
        let mut bullet = |k: &str, v: &str| {
            let _ = writeln!(s, "- {k}: {v}");
        };
        bullet("run_id", &self.run_id);
        bullet("task_id", &self.task_id);
        bullet("task_kind", &self.task_kind);
        bullet("worker_role", &self.worker_role);
        bullet("result_status", &self.result_status);
        bullet("outcome_status", &self.outcome_status);
        bullet("outcome_reason", &self.outcome_reason);
        bullet("success", &self.success.to_string());
        if let Some(v) = self.validation_passed {
            bullet("validation_passed", &v.to_string());
        }
        if let Some(v) = self.policy_passed {
            bullet("policy_passed", &v.to_string());
        }
        if let Some(b) = &self.branch {
            bullet("branch", b);
        }
        bullet("branch_pushed", &self.branch_pushed.to_string());
        bullet("draft_branch_pushed", &self.draft_branch_pushed.to_string());
        bullet("push_reason", &self.push_reason);
        if let Some(u) = &self.pr_url {
            bullet("pr_url", u);
        }
        bullet("summary", &self.summary);
        if let Some(a) = &self.agent {
            bullet("agent", a);
        }
        if let Some(c) = &self.cost {
            bullet("cost_usd", c);
        }
        if let Some(e) = &self.execution_stderr {
            bullet("execution_stderr", e);
        }
        if !self.changed_files.is_empty() {
            bullet("changed_files", &list_preview(&self.changed_files, 5));
        }
        if let Some(d) = &self.diff_stat {
            bullet("diff_stat", d);
        }
        if let Some(c) = &self.blocked_classification {
            bullet("blocked_classification", c);
        }
        if !self.policy_violations.is_empty() {
            bullet("policy_violations", &self.policy_violations.join(", "));
        }
        if let Some(q) = &self.question {
            bullet("question", q);
        }
        if let Some(errors) = &self.validation_errors {
            let _ = writeln!(s, "- validation_errors:\n\n```\n{}\n```", errors.trim_end());
        }
        s
    }
}

/// First `n` items, then "... (+N more)".
pub fn list_preview(items: &[String], n: usize) -> String {
    let mut text = items.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > n {
        let _ = write!(text, " ... (+{} more)", items.len() - n);
    }
    text
}

/// At most `max` lines: the first half, `...`, the last half (as the original's excerpts).
pub fn excerpt(text: &str, max: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= max {
        return lines.join("\n");
    }
    let head = max / 2;
    let tail = max - head;
    let mut out: Vec<&str> = lines[..head].to_vec();
    out.push("...");
    out.extend(&lines[lines.len() - tail..]);
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_counts_the_rest() {
        let files: Vec<String> = (1..=7).map(|i| format!("f{i}")).collect();
        assert_eq!(list_preview(&files, 5), "f1, f2, f3, f4, f5 ... (+2 more)");
    }

    #[test]
    fn validation_errors_keep_their_code_block() {
        let c = ResultComment {
            tag: "[Goal]".into(),
            validation_errors: Some("[cargo test] (exit 101)\nthread 'x' panicked".into()),
            ..Default::default()
        };
        let text = c.render();
        assert!(text.starts_with("[Goal] Execution result\n"));
        assert!(text.contains("```\n[cargo test] (exit 101)\nthread 'x' panicked\n```"));
    }

    #[test]
    fn excerpt_keeps_head_and_tail() {
        let text: String = (1..=30).map(|i| format!("l{i}\n")).collect();
        let e = excerpt(&text, 4);
        assert_eq!(e, "l1\nl2\n...\nl29\nl30");
    }
}
