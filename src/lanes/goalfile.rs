//! The goal file handed to the agent (original-behaviour §5.1 step 11), written outside
//! the clone so it can never be committed or block the agent's own merges (§12 #31).

use crate::board::description::ParsedTask;

pub fn render(task: &ParsedTask, title: &str, conflicts: &[String]) -> String {
    let mut goal = String::from("## Goal\n");
    if !conflicts.is_empty() {
        goal.push_str("## Merge Conflict Resolution Required\n");
        goal.push_str(&format!(
            "This branch has conflicts with `{}` that must be resolved before the original goal can be completed. Conflict markers (`<<<<<<<`, `=======`, `>>>>>>>`) are present in:\n",
            if task.base_branch.is_empty() { "the base branch" } else { &task.base_branch }
        ));
        for file in conflicts {
            goal.push_str(&format!("- `{file}`\n"));
        }
        goal.push_str("Resolve all conflict markers in those files, keeping the changes that best satisfy the original goal below.\n---\n");
    }
    if !task.allowed_paths.is_empty() {
        goal.push_str(
            "## Scope Constraints\nYou MUST only modify files within these allowed paths:\n",
        );
        for path in &task.allowed_paths {
            goal.push_str(&format!("- {path}\n"));
        }
        goal.push_str("---\n");
    }
    if !title.trim().is_empty() && !task.goal.contains(title.trim()) {
        goal.push_str(&format!("# {}\n\n", title.trim()));
    }
    goal.push_str(task.goal.trim());
    goal.push('\n');
    if let Some(constraints) = task.constraints.as_deref().filter(|c| !c.trim().is_empty()) {
        goal.push_str("\n## Constraints\n");
        goal.push_str(constraints.trim());
        goal.push('\n');
    }
    goal.push_str(
        "\n## Commit message\nWrite a descriptive conventional-commit message explaining WHAT changed and WHY.\nFormat: `<type>(<scope>): <short summary>`\nFollow with a blank line and 1-3 sentences of body context (motivation, approach, trade-offs).\nDo NOT use generic messages like 'apply task' or include task IDs in the subject line.\n",
    );
    goal
}
