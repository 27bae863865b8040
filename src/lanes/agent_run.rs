//! Running the agent for one claimed task: its command line, the run in its own process
//! group with the timeout, the execution record (charged until proven an infra failure)
//! and the classification of what it printed.

use std::path::Path;
use std::time::Duration;

use super::execute::{Ctx, Stop};
use crate::agent::classify::{self, Classification};
use crate::agent::{self, RunContext};
use crate::board::description::ParsedTask;
use crate::daemon::subprocess::{self, Spec};
use crate::store::{executions, runs};
use crate::workspace::Workspace;

/// What the agent run produced, for the write-back.
pub(super) struct AgentRun {
    pub(super) backend: &'static str,
    pub(super) cooldown: Duration,
    pub(super) exit_code: Option<i32>,
    pub(super) duration: Duration,
    pub(super) classification: Classification,
    pub(super) stderr: String,
    pub(super) cost: f64,
    pub(super) cost_source: &'static str,
}

impl Ctx<'_> {
    pub(super) fn run_agent(
        &self,
        parsed: &ParsedTask,
        ws: &Workspace,
        repo_dir: &Path,
    ) -> Result<AgentRun, Stop> {
        let config = self.config();
        let agent = config.agent_for(&self.kind);
        let invocation = agent::invocation(
            config,
            &agent,
            &RunContext {
                task_id: &self.task_id,
                task_kind: &self.kind,
                mode: parsed.mode,
                goal_file: &ws.goal_file(),
                repo_dir,
            },
        );
        let repo_env = config
            .repos
            .get(&parsed.repo)
            .map(|r| r.env.clone())
            .unwrap_or_default();
        let mut spec = Spec::new(
            &invocation.program,
            repo_dir,
            &self.report_dir.join("agent"),
        )
        .args(&invocation.args)
        .timeout(agent.timeout);
        spec.stdin = invocation.stdin.clone();
        spec.env = repo_env.into_iter().chain(invocation.env.clone()).collect();
        spec.sandbox = Some(config.agent_sandbox(&parsed.repo));
        let _ = std::fs::write(
            self.report_dir.join("agent_command.json"),
            serde_json::to_vec_pretty(&serde_json::json!({
                "backend": agent.backend.as_str(),
                "command": std::iter::once(&invocation.program).chain(&invocation.args).collect::<Vec<_>>(),
                "timeout_seconds": agent.timeout.as_secs(),
            }))
            .unwrap_or_default(),
        );
        let conn = self.lane.board.conn();
        let execution = executions::start(
            conn,
            &self.run_id,
            &self.task_id,
            &parsed.repo,
            agent.backend.as_str(),
        )
        .map_err(|e| {
            Stop::Blocked(
                "infra_tooling",
                format!("cannot record execution: {e}"),
                "agent",
            )
        })?;
        tracing::info!(
            event = "agent_start",
            task_id = %self.task_id,
            run_id = %self.run_id,
            backend = agent.backend.as_str(),
            program = %invocation.program,
            timeout_seconds = agent.timeout.as_secs(),
            "running {} for {}",
            agent.backend.as_str(),
            self.task_id
        );
        let outcome = subprocess::run(
            &spec,
            &self.lane.shutdown,
            |leader| {
                if let Err(e) = runs::set_agent(conn, &self.run_id, &leader) {
                    tracing::warn!(event = "run_record_failed", error = %e, "cannot record agent pid: {e}");
                }
            },
            || self.lane.keepalive(),
        );
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                let _ = executions::finish(
                    conn,
                    execution,
                    &executions::Finish {
                        charged: false,
                        outcome: "not_started",
                        cost_usd: 0.0,
                        cost_source: "none",
                    },
                );
                return Err(Stop::Blocked("infra_tooling", e.to_string(), "agent"));
            }
        };
        if outcome.cancelled {
            // As after a crash: no charge unless the agent had reported what it spent.
            let cost = super::recovery::reported_cost(&self.lane.state_dir, &self.run_id);
            let _ = executions::close_interrupted(conn, &self.run_id, cost);
            return Err(Stop::Interrupted);
        }
        let judged = classify::judge(&outcome, &spec, config.cost_per_execution_usd);
        let capacity = judged.capacity_exhausted();
        let (cost, cost_source) = (judged.cost_usd, judged.cost_source);
        let (classification, stderr) = (judged.classification, judged.stderr);
        let _ = executions::finish(
            conn,
            execution,
            &executions::Finish {
                // A quota no-op did no work: it costs no budget.
                charged: !capacity,
                outcome: classification.class.as_str(),
                cost_usd: cost,
                cost_source,
            },
        );
        tracing::info!(
            event = "agent_end",
            task_id = %self.task_id,
            run_id = %self.run_id,
            class = classification.class.as_str(),
            exit_code = outcome.code.unwrap_or(-1),
            timed_out = outcome.timed_out,
            duration_ms = outcome.duration.as_millis() as u64,
            cost_usd = cost,
            "agent finished: {} ({})",
            classification.class.as_str(),
            classification.reason
        );
        Ok(AgentRun {
            backend: agent.backend.as_str(),
            cooldown: Duration::from_secs(config.agent.quota_cooldown_seconds),
            exit_code: outcome.code,
            duration: outcome.duration,
            classification,
            stderr,
            cost,
            cost_source,
        })
    }
}
