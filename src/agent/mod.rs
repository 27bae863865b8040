//! Coding-agent backends (kodo, claude, any command) and the classification of their runs.
//! A backend only decides the command line; running, timeouts and classification are shared.

pub mod classify;

use std::path::{Path, PathBuf};

use crate::board::description::ExecutionMode;
use crate::config::{AgentBackend, Config, ResolvedAgent};

/// What the lane knows about the run when it builds the command.
pub struct RunContext<'a> {
    pub task_id: &'a str,
    pub task_kind: &'a str,
    pub mode: ExecutionMode,
    pub goal_file: &'a Path,
    pub repo_dir: &'a Path,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub program: String,
    pub args: Vec<String>,
    pub stdin: Option<PathBuf>,
    pub env: Vec<(String, String)>,
}

pub fn invocation(config: &Config, agent: &ResolvedAgent, ctx: &RunContext<'_>) -> Invocation {
    let mut env = vec![
        ("OC_TASK_ID".to_string(), ctx.task_id.to_string()),
        ("OC_TASK_KIND".to_string(), ctx.task_kind.to_string()),
        (
            "OC_GOAL_FILE".to_string(),
            ctx.goal_file.to_string_lossy().into_owned(),
        ),
        (
            "OC_WORKSPACE".to_string(),
            ctx.repo_dir.to_string_lossy().into_owned(),
        ),
    ];
    match agent.backend {
        AgentBackend::Command => {
            let mut parts = agent.command.iter().cloned();
            Invocation {
                program: parts.next().unwrap_or_default(),
                args: parts.collect(),
                stdin: None,
                env,
            }
        }
        AgentBackend::Kodo => {
            // The original's command line (original-behaviour §5.3).
            let mut args = match ctx.mode {
                ExecutionMode::TestCampaign => vec!["--test".to_string()],
                ExecutionMode::ImproveCampaign => vec!["--improve".to_string()],
                _ => vec![
                    "--goal-file".to_string(),
                    ctx.goal_file.to_string_lossy().into_owned(),
                ],
            };
            let p = &agent.kodo;
            args.extend([
                "--project".to_string(),
                ctx.repo_dir.to_string_lossy().into_owned(),
                "--team".to_string(),
                p.team.clone(),
                "--cycles".to_string(),
                p.cycles.to_string(),
                "--exchanges".to_string(),
                p.exchanges.to_string(),
                "--orchestrator".to_string(),
                p.orchestrator.clone(),
                "--effort".to_string(),
                p.effort.clone(),
                "--yes".to_string(),
            ]);
            Invocation {
                program: config.kodo.binary.clone(),
                args,
                stdin: None,
                env,
            }
        }
        AgentBackend::Claude => {
            let c = &config.claude;
            let mut args = vec![
                "-p".to_string(),
                "--output-format".to_string(),
                "json".to_string(),
                "--permission-mode".to_string(),
                c.permission_mode.clone(),
            ];
            if let Some(model) = &c.model {
                args.extend(["--model".to_string(), model.clone()]);
            }
            if let Some(budget) = c.max_budget_usd {
                args.extend(["--max-budget-usd".to_string(), budget.to_string()]);
            }
            if let Some(turns) = c.max_turns {
                args.extend(["--max-turns".to_string(), turns.to_string()]);
            }
            args.extend(c.extra_args.iter().cloned());
            env.push(("CLAUDE_CODE_NONINTERACTIVE".into(), "1".into()));
            Invocation {
                program: c.binary.clone(),
                args,
                // The prompt is the goal file, on stdin, so its size is not limited by argv.
                stdin: Some(ctx.goal_file.to_path_buf()),
                env,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(goal: &'a Path, repo: &'a Path, mode: ExecutionMode) -> RunContext<'a> {
        RunContext {
            task_id: "T-1",
            task_kind: "goal",
            mode,
            goal_file: goal,
            repo_dir: repo,
        }
    }

    #[test]
    fn kodo_command_line_matches_the_original() {
        let config = Config::default();
        let agent = config.agent_for("goal");
        let inv = invocation(
            &config,
            &agent,
            &ctx(
                Path::new("/w/goal.md"),
                Path::new("/w/repo"),
                ExecutionMode::Goal,
            ),
        );
        assert_eq!(inv.program, "kodo");
        assert_eq!(
            inv.args.join(" "),
            "--goal-file /w/goal.md --project /w/repo --team full --cycles 3 --exchanges 20 --orchestrator claude-code:opus --effort standard --yes"
        );
        let test = invocation(
            &config,
            &agent,
            &ctx(
                Path::new("/w/goal.md"),
                Path::new("/w/repo"),
                ExecutionMode::TestCampaign,
            ),
        );
        assert_eq!(test.args[0], "--test");
    }

    #[test]
    fn claude_reads_the_goal_on_stdin_and_reports_json() {
        let mut config = Config::default();
        config.agent.backend = AgentBackend::Claude;
        let agent = config.agent_for("goal");
        let inv = invocation(
            &config,
            &agent,
            &ctx(
                Path::new("/w/goal.md"),
                Path::new("/w/repo"),
                ExecutionMode::Goal,
            ),
        );
        assert_eq!(inv.program, "claude");
        assert!(
            inv.args
                .starts_with(&["-p".into(), "--output-format".into(), "json".into()])
        );
        assert_eq!(inv.stdin.as_deref(), Some(Path::new("/w/goal.md")));
    }

    #[test]
    fn command_backend_gets_task_environment() {
        let mut config = Config::default();
        config.agent.backend = AgentBackend::Command;
        config.agent.command = vec!["/bin/agent".into(), "--fast".into()];
        let agent = config.agent_for("goal");
        let inv = invocation(
            &config,
            &agent,
            &ctx(
                Path::new("/w/goal.md"),
                Path::new("/w/repo"),
                ExecutionMode::Goal,
            ),
        );
        assert_eq!(inv.program, "/bin/agent");
        assert_eq!(inv.args, vec!["--fast"]);
        let env: std::collections::HashMap<_, _> = inv.env.into_iter().collect();
        assert_eq!(env["OC_TASK_ID"], "T-1");
        assert_eq!(env["OC_GOAL_FILE"], "/w/goal.md");
        assert_eq!(env["OC_WORKSPACE"], "/w/repo");
    }
}
