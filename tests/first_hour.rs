//! What a newcomer hits in the first hour: relative paths on the command line and in the
//! config, the goal file of a free-text task, a push into a repository the lane may not
//! write.

mod support;

use support::{World, sh_quote};

#[test]
fn free_text_goal_file_has_one_constraints_section() {
    let mut w = World::new();
    let seen = w.path().join("goal-seen.md");
    w.use_agent(&format!(
        "cp \"$OC_GOAL_FILE\" {}\nprintf '# Changes\\n' > CHANGES.md\n",
        sh_quote(&seen.to_string_lossy())
    ));
    // Free text (no `## Goal`), the repo from the label, constraints in their section.
    let id = w.add_task(
        "Tidy the changelog",
        &[
            "--repo",
            "demo",
            "--body",
            "Add a CHANGES.md for the release.\n\n## Constraints\n- Touch nothing else.\n",
        ],
    );
    assert_eq!(w.run_next(), format!("executed {id}: Review (executed)"));
    let goal = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(goal.matches("## Constraints").count(), 1, "{goal}");
    assert_eq!(goal.matches("- Touch nothing else.").count(), 1, "{goal}");
    assert!(goal.contains("Add a CHANGES.md for the release."), "{goal}");
}
