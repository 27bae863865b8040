//! Running one claimed task: clone, branch, agent, validation, commit, push, write-back.
//! Every exit path leaves the task in a state a human or a lane can act on, removes the
//! workspace and closes the run record.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::agent_run::AgentRun;
use super::report::{ResultComment, excerpt};
use super::{Lane, goalfile};
use crate::agent::classify::RunClass;
use crate::board::description::{DescriptionError, ParsedTask, parse_task};
use crate::board::{Claim, State};
use crate::config::{Config, RepoConfig};
use crate::daemon::sandbox::Sandbox;
use crate::daemon::subprocess::{self, Spec};
use crate::store::runs::NewRun;
use crate::store::{executions, now, runs};
use crate::workspace::git::{Git, GitError, last_lines, local_repo_not_writable};
use crate::workspace::pattern::{branch_allowed, scope_violations};
use crate::workspace::{self, Workspace};

/// What happened, for logs, status and the CLI.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub task_id: String,
    pub run_id: String,
    pub final_state: State,
    pub outcome: String,
    pub classification: Option<String>,
    pub branch: Option<String>,
    pub cost_usd: Option<f64>,
    /// SIGTERM stopped the run; the task went back to Ready for AI.
    pub interrupted: bool,
}

/// Why a run stopped before a normal finish.
pub(super) enum Stop {
    /// Blocked before or around the agent: (classification, reason, phase).
    Blocked(&'static str, String, &'static str),
    /// Shutdown requested: put the task back.
    Interrupted,
}

impl From<GitError> for Stop {
    fn from(e: GitError) -> Self {
        match e {
            GitError::Interrupted => Stop::Interrupted,
            other => Stop::Blocked("infra_tooling", other.to_string(), "repo_setup"),
        }
    }
}

pub(super) struct Ctx<'a> {
    pub(super) lane: &'a Lane,
    pub(super) task_id: String,
    pub(super) title: String,
    pub(super) kind: String,
    pub(super) run_id: String,
    pub(super) report_dir: PathBuf,
    pub(super) workspace_path: PathBuf,
}

pub fn execute(lane: &Lane, claim: &Claim, run: &NewRun) -> Summary {
    let task = &claim.task;
    let ctx = Ctx {
        lane,
        task_id: task.id.clone(),
        title: task.title.clone(),
        kind: task.kind().unwrap_or(&lane.role).to_string(),
        run_id: run.run_id.clone(),
        report_dir: workspace::report_dir(&lane.state_dir, &task.id, &run.run_id),
        workspace_path: run.workspace.clone(),
    };
    let summary = match ctx.run(task.description.as_str(), &task.labels) {
        Ok(summary) => summary,
        Err(Stop::Interrupted) => ctx.requeue_interrupted(),
        Err(Stop::Blocked(classification, reason, phase)) => {
            ctx.block_before_agent(classification, &reason, phase)
        }
    };
    if let Err(e) = workspace::remove(&ctx.workspace_path) {
        tracing::warn!(event = "workspace_remove_failed", path = %ctx.workspace_path.display(), error = %e, "cannot remove workspace: {e}");
    }
    if let Err(e) = runs::finish(lane.board.conn(), &ctx.run_id, &summary.outcome) {
        tracing::warn!(event = "run_record_failed", error = %e, "cannot close run record: {e}");
    }
    let _ = std::fs::write(
        ctx.report_dir.join("outcome.json"),
        serde_json::to_vec_pretty(&summary).unwrap_or_default(),
    );
    tracing::info!(
        event = "run_end",
        task_id = %summary.task_id,
        run_id = %summary.run_id,
        final_state = %summary.final_state,
        outcome = %summary.outcome,
        classification = summary.classification.as_deref().unwrap_or(""),
        cost_usd = summary.cost_usd.unwrap_or(0.0),
        "{} → {} ({})",
        summary.task_id,
        summary.final_state,
        summary.outcome
    );
    summary
}

impl Ctx<'_> {
    pub(super) fn config(&self) -> &Config {
        &self.lane.config
    }

    fn summary(&self, state: State, outcome: &str, classification: Option<&str>) -> Summary {
        Summary {
            task_id: self.task_id.clone(),
            run_id: self.run_id.clone(),
            final_state: state,
            outcome: outcome.to_string(),
            classification: classification.map(str::to_string),
            branch: None,
            cost_usd: None,
            interrupted: false,
        }
    }

    /// Moves the task out of Running if this run still holds it, and comments.
    fn write_back(&self, state: State, body: &str) {
        let board = &self.lane.board;
        match board.release(&self.task_id, &self.run_id, state) {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                event = "write_back_lost_claim",
                task_id = %self.task_id,
                "task {} was moved by someone else during the run; leaving its state alone",
                self.task_id
            ),
            Err(e) => {
                tracing::error!(event = "write_back_failed", task_id = %self.task_id, error = %e, "cannot move task: {e}")
            }
        }
        if let Err(e) = board.comment(&self.task_id, "operations-center", body) {
            tracing::error!(event = "comment_failed", task_id = %self.task_id, error = %e, "cannot comment: {e}");
        }
    }

    fn requeue_interrupted(&self) -> Summary {
        let body = format!(
            "{} Re-queued after interrupted execution\n- task_id: {}\n- run_id: {}\n- result_status: ready_for_ai\n- reason: the lane was stopped (SIGTERM) during the run — safe to retry",
            self.lane.tag(),
            self.task_id,
            self.run_id
        );
        self.write_back(State::ReadyForAi, &body);
        let mut s = self.summary(State::ReadyForAi, "interrupted", None);
        s.interrupted = true;
        s
    }

    fn block_before_agent(&self, classification: &str, reason: &str, phase: &str) -> Summary {
        let body = format!(
            "{} Execution failed\n- run_id: {}\n- task_id: {}\n- worker_role: {}\n- phase: {}\n- result_status: blocked\n- blocked_classification: {}\n- reason: {}",
            self.lane.tag(),
            self.run_id,
            self.task_id,
            self.lane.role,
            phase,
            classification,
            reason
        );
        self.write_back(State::Blocked, &body);
        self.summary(State::Blocked, "blocked", Some(classification))
    }

    fn run(&self, description: &str, labels: &[String]) -> Result<Summary, Stop> {
        std::fs::create_dir_all(&self.report_dir).map_err(|e| {
            Stop::Blocked(
                "infra_tooling",
                format!("cannot create report directory: {e}"),
                "setup",
            )
        })?;
        let parsed = parse_task(description, labels).map_err(|e: DescriptionError| {
            Stop::Blocked("parse_config", e.to_string(), "fetch_task")
        })?;
        let repos = self.config().repos.keys().cloned().collect::<Vec<_>>();
        let repo = self.config().repos.get(&parsed.repo).ok_or_else(|| {
            Stop::Blocked(
                "parse_config",
                format!(
                    "Unknown repo key '{}'. Add a 'repo: <key>' label with one of the configured repos: {repos:?}",
                    parsed.repo
                ),
                "contract_validation",
            )
        })?;
        let base = if parsed.base_branch.is_empty() {
            repo.default_branch.clone()
        } else {
            parsed.base_branch.clone()
        };
        if !branch_allowed(&base, &repo.allowed_base_branches) {
            return Err(Stop::Blocked(
                "parse_config",
                format!(
                    "Base branch '{base}' is not in the allowed list for repo '{}'. Allowed: {:?}",
                    parsed.repo, repo.allowed_base_branches
                ),
                "contract_validation",
            ));
        }
        let attempts =
            executions::task_attempts(self.lane.board.conn(), &self.task_id, now() - 3600)
                .unwrap_or(0);
        let cap = self.config().limits.max_retries_per_task;
        if attempts >= cap {
            return Err(Stop::Blocked(
                "retry_cap_exceeded",
                format!(
                    "{attempts} attempts in the last hour, limit {cap} (OPERATIONS_CENTER_MAX_RETRIES_PER_TASK)"
                ),
                "gate",
            ));
        }

        let ws = Workspace::create(self.workspace_path.clone()).map_err(|e| {
            Stop::Blocked(
                "infra_tooling",
                format!("cannot create workspace: {e}"),
                "repo_setup",
            )
        })?;
        let git = Git::new(
            &self.lane.shutdown,
            Duration::from_secs(self.config().git.timeout_seconds),
            self.report_dir.join("git"),
            || self.lane.keepalive(),
        );
        let repo_dir = ws.repo();
        git.clone_repo(&repo.clone_url, &repo_dir)?;
        if !git.remote_branch_exists(&repo_dir, &base)? {
            return Err(Stop::Blocked(
                "parse_config",
                format!(
                    "Base branch '{base}' does not exist on remote for repo '{}'",
                    parsed.repo
                ),
                "repo_setup",
            ));
        }
        git.run(&repo_dir, &["checkout", "--quiet", &base])?;
        git.run(
            &repo_dir,
            &["config", "user.name", &self.config().git.author_name],
        )?;
        git.run(
            &repo_dir,
            &["config", "user.email", &self.config().git.author_email],
        )?;
        git.add_local_exclude(&repo_dir, &[".kodo/", ".operations_center/"])
            .map_err(|e| {
                Stop::Blocked(
                    "infra_tooling",
                    format!("cannot write .git/info/exclude: {e}"),
                    "repo_setup",
                )
            })?;
        let branch = workspace::branch_name(&self.task_id, &self.title);
        let conflicts = if git.remote_branch_exists(&repo_dir, &branch)? {
            // A retry continues the earlier branch, brought up to date with the base.
            git.run(
                &repo_dir,
                &[
                    "checkout",
                    "--quiet",
                    "-b",
                    &branch,
                    &format!("origin/{branch}"),
                ],
            )?;
            let merged = git.output(
                &repo_dir,
                &["merge", "--no-edit", &format!("origin/{base}")],
            )?;
            if merged.0 != 0 {
                git.run(&repo_dir, &["diff", "--name-only", "--diff-filter=U"])?
                    .lines()
                    .map(str::to_string)
                    .collect()
            } else {
                Vec::new()
            }
        } else {
            git.run(&repo_dir, &["checkout", "--quiet", "-b", &branch])?;
            Vec::new()
        };
        let start_commit = git.head(&repo_dir)?;

        self.bootstrap(repo, &repo_dir)?;
        std::fs::write(
            ws.goal_file(),
            goalfile::render(&parsed, &self.title, &conflicts),
        )
        .map_err(|e| {
            Stop::Blocked(
                "infra_tooling",
                format!("cannot write goal file: {e}"),
                "setup",
            )
        })?;

        let agent_run = self.run_agent(&parsed, &ws, &repo_dir)?;
        self.finish_after_agent(
            &parsed,
            repo,
            &git,
            &repo_dir,
            &branch,
            &start_commit,
            agent_run,
        )
    }

    fn bootstrap(&self, repo: &RepoConfig, repo_dir: &Path) -> Result<(), Stop> {
        for (index, command) in repo.bootstrap_commands.iter().enumerate() {
            let result = self.shell(repo, repo_dir, command, &format!("bootstrap-{index}"))?;
            if result.code != 0 {
                return Err(Stop::Blocked(
                    "infra_tooling",
                    format!(
                        "bootstrap command `{command}` failed (exit {}): {}",
                        result.code,
                        last_lines(&result.output, 3)
                    ),
                    "bootstrap",
                ));
            }
        }
        Ok(())
    }

    /// Runs a shell command in the clone with the repo's env and validation timeout.
    fn shell(
        &self,
        repo: &RepoConfig,
        repo_dir: &Path,
        command: &str,
        stem: &str,
    ) -> Result<ShellResult, Stop> {
        let mut spec = Spec::new("sh", repo_dir, &self.report_dir.join(stem))
            .args(["-c", command])
            .timeout(Duration::from_secs(repo.validation_timeout_seconds));
        spec.env = repo
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // Bootstrap and validation get the repo's variables, not the agent's model keys.
        spec.sandbox = Some(Sandbox::for_task(repo.pass_env.clone()));
        let captured =
            subprocess::run_captured(&spec, &self.lane.shutdown, || self.lane.keepalive())
                .map_err(|e| {
                    Stop::Blocked(
                        "infra_tooling",
                        format!("cannot run `{command}`: {e}"),
                        "validation",
                    )
                })?;
        if captured.outcome.cancelled {
            return Err(Stop::Interrupted);
        }
        let output = if captured.stderr.trim().is_empty() {
            captured.stdout
        } else {
            captured.stderr
        };
        Ok(ShellResult {
            code: captured.outcome.shell_code(),
            output,
            duration_ms: captured.outcome.duration.as_millis() as u64,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_after_agent(
        &self,
        parsed: &ParsedTask,
        repo: &RepoConfig,
        git: &Git<'_>,
        repo_dir: &Path,
        branch: &str,
        start_commit: &str,
        agent_run: AgentRun,
    ) -> Result<Summary, Stop> {
        let class = agent_run.classification.class;
        let mut comment = ResultComment {
            tag: self.lane.tag(),
            run_id: self.run_id.clone(),
            task_id: self.task_id.clone(),
            task_kind: self.kind.clone(),
            worker_role: self.lane.role.clone(),
            branch: Some(branch.to_string()),
            push_reason: "not_pushed".into(),
            agent: Some(format!(
                "{} (exit {}, {}, {:.1}s)",
                agent_run.backend,
                agent_run
                    .exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "signal".into()),
                class.as_str(),
                agent_run.duration.as_secs_f64()
            )),
            cost: Some(format!("{:.4} ({})", agent_run.cost, agent_run.cost_source)),
            ..Default::default()
        };
        let mut summary = self.summary(State::Blocked, class.as_str(), None);
        summary.branch = Some(branch.to_string());
        summary.cost_usd = Some(agent_run.cost);

        match class {
            RunClass::CapacityExhausted => {
                return Ok(self.capacity_exhausted(&agent_run, comment, summary));
            }
            RunClass::Timeout | RunClass::Error | RunClass::AwaitingInput => {
                let c = &agent_run.classification;
                comment.result_status = "blocked".into();
                comment.outcome_status = "failed".into();
                comment.outcome_reason = c.reason.clone();
                comment.summary = c.reason.clone();
                comment.blocked_classification = Some(c.blocked_classification.to_string());
                comment.question = c.question.clone();
                let stderr = last_lines(&agent_run.stderr, 5);
                if !stderr.is_empty() {
                    comment.execution_stderr = Some(stderr);
                }
                self.write_back(State::Blocked, &comment.render());
                summary.classification = Some(c.blocked_classification.to_string());
                return Ok(summary);
            }
            RunClass::Success | RunClass::Partial => {}
        }

        // Validation runs on whatever the agent left, committed or not.
        let mut failures = String::new();
        let mut results = Vec::new();
        for (index, command) in repo.validation_commands.iter().enumerate() {
            let r = self.shell(repo, repo_dir, command, &format!("validation-{index}"))?;
            if r.code != 0 {
                failures.push_str(&format!(
                    "[{command}] (exit {})\n{}\n",
                    r.code,
                    excerpt(&r.output, 20)
                ));
            }
            results.push(serde_json::json!({"command": command, "exit_code": r.code, "duration_ms": r.duration_ms}));
        }
        let _ = std::fs::write(
            self.report_dir.join("validation.json"),
            serde_json::to_vec_pretty(&results).unwrap_or_default(),
        );
        let validation_ok = failures.is_empty();
        comment.validation_passed = Some(validation_ok);
        if !validation_ok {
            comment.validation_errors = Some(failures.trim_end().to_string());
        }

        let changed = git.changed_files(repo_dir, start_commit)?;
        let violations = scope_violations(&changed, &parsed.allowed_paths);
        comment.policy_passed = Some(violations.is_empty());
        comment.policy_violations = violations.clone();
        comment.changed_files = changed.clone();

        let partial = class == RunClass::Partial;
        let (state, outcome_status, reason, classification): (State, &str, String, Option<String>) =
            if changed.is_empty() {
                if partial {
                    (
                        State::Blocked,
                        "failed",
                        agent_run.classification.reason.clone(),
                        Some(agent_run.classification.blocked_classification.to_string()),
                    )
                } else if validation_ok {
                    (State::Done, "no_op", "no_material_change".into(), None)
                } else {
                    (
                        State::Blocked,
                        "no_op",
                        "no_material_change; validation failing".into(),
                        Some("validation_failure".into()),
                    )
                }
            } else if !violations.is_empty() {
                (
                    State::Blocked,
                    "failed",
                    format!(
                        "changed files outside allowed_paths: {}",
                        violations.join(", ")
                    ),
                    Some("scope_policy".into()),
                )
            } else if partial {
                (
                    State::Blocked,
                    "partial",
                    agent_run.classification.reason.clone(),
                    Some(agent_run.classification.blocked_classification.to_string()),
                )
            } else if !validation_ok {
                (
                    State::Blocked,
                    "executed",
                    "validation failed".into(),
                    Some("validation_failure".into()),
                )
            } else if repo.await_review {
                (State::InReview, "executed", "success".into(), None)
            } else {
                (State::Review, "executed", "success".into(), None)
            };

        if !changed.is_empty() && violations.is_empty() {
            let message = format!(
                "{}\n\nTask: {}\nRun: {}",
                commit_subject(&self.title, &self.task_id),
                self.task_id,
                self.run_id
            );
            git.commit_staged(repo_dir, &message)?;
            comment.diff_stat = git
                .diff_stat(repo_dir, start_commit)
                .ok()
                .filter(|s| !s.is_empty());
            let success = state == State::Review || state == State::InReview;
            let draft = !success && self.config().git.push_on_validation_failure;
            if success || draft {
                match git.run(repo_dir, &["push", "--quiet", "-u", "origin", branch]) {
                    Ok(_) => {
                        comment.branch_pushed = success;
                        comment.draft_branch_pushed = draft;
                        comment.push_reason = if success {
                            "success".into()
                        } else {
                            "draft_on_failure".into()
                        };
                        if state == State::InReview && repo.github_slug().is_some() {
                            match self.open_pr(parsed, repo, branch) {
                                Ok(url) => comment.pr_url = Some(url),
                                Err(e) => {
                                    // The branch is pushed; without a PR nobody reviews it.
                                    comment.result_status = "blocked".into();
                                    comment.outcome_status = "failed".into();
                                    comment.outcome_reason = "pull request not opened".into();
                                    comment.summary = format!("{e:#}");
                                    comment.blocked_classification = Some("pr_open_failed".into());
                                    self.write_back(State::Blocked, &comment.render());
                                    summary.classification = Some("pr_open_failed".into());
                                    return Ok(summary);
                                }
                            }
                        }
                    }
                    Err(GitError::Interrupted) => return Err(Stop::Interrupted),
                    Err(e) => {
                        let (classification, advice) =
                            match local_repo_not_writable(&repo.clone_url) {
                                Some((path, errno)) => (
                                    "repo_not_writable",
                                    not_writable_advice(&self.lane.role, &path, errno),
                                ),
                                None => ("infra_tooling", e.to_string()),
                            };
                        tracing::warn!(event = "push_failed", task_id = %self.task_id, classification, "push failed: {advice}");
                        comment.push_reason = format!("push_failed: {e}");
                        comment.result_status = "blocked".into();
                        comment.outcome_status = "failed".into();
                        comment.outcome_reason = "push failed".into();
                        comment.summary = advice;
                        comment.blocked_classification = Some(classification.into());
                        self.write_back(State::Blocked, &comment.render());
                        summary.classification = Some(classification.into());
                        return Ok(summary);
                    }
                }
            }
        }

        comment.success = matches!(state, State::Review | State::InReview | State::Done);
        comment.result_status = status_word(state).into();
        comment.outcome_status = outcome_status.into();
        comment.outcome_reason = reason.clone();
        comment.summary = match state {
            State::Review => format!("branch {branch} pushed; ready for review"),
            State::InReview => match &comment.pr_url {
                Some(url) => format!("branch {branch} pushed; PR {url} handed to the review lane"),
                None => format!("branch {branch} pushed; handed to the review lane"),
            },
            State::Done => "the agent changed nothing and validation passes".into(),
            _ => reason.clone(),
        };
        comment.blocked_classification = classification.clone();
        self.write_back(state, &comment.render());
        summary.final_state = state;
        summary.outcome = outcome_status.to_string();
        summary.classification = classification;
        Ok(summary)
    }

    /// Opens the PR for an await_review repo and hands it to the review lane.
    fn open_pr(
        &self,
        parsed: &ParsedTask,
        repo: &RepoConfig,
        branch: &str,
    ) -> anyhow::Result<String> {
        let base = if parsed.base_branch.is_empty() {
            repo.default_branch.as_str()
        } else {
            parsed.base_branch.as_str()
        };
        // Its own connection: the review tables are not the board's (which may be Plane).
        let conn = crate::store::open(&self.lane.state_dir)?;
        let pr = crate::review::open::open_pr(
            self.config(),
            &conn,
            &crate::review::open::PrRequest {
                repo_key: &parsed.repo,
                repo,
                task_id: &self.task_id,
                title: &self.title,
                goal: &parsed.goal,
                branch,
                base,
                run_id: &self.run_id,
            },
        )?;
        Ok(pr.html_url)
    }

    /// Quota or capacity exhaustion: not the task's fault. Back to Ready for AI, no budget
    /// charged, and the backend pauses so the lane does not drain the queue into it.
    fn capacity_exhausted(
        &self,
        agent_run: &AgentRun,
        mut comment: ResultComment,
        mut summary: Summary,
    ) -> Summary {
        let until = now() + agent_run.cooldown.as_secs() as i64;
        let reason = agent_run.classification.reason.clone();
        if let Err(e) =
            executions::pause_backend(self.lane.board.conn(), agent_run.backend, until, &reason)
        {
            tracing::error!(event = "backend_pause_failed", error = %e, "cannot record backend pause: {e}");
        }
        tracing::warn!(
            event = "agent_capacity_exhausted",
            task_id = %self.task_id,
            backend = agent_run.backend,
            paused_until = %crate::store::rfc3339(until),
            "{} is out of capacity; paused until {}",
            agent_run.backend,
            crate::store::rfc3339(until)
        );
        comment.result_status = "ready_for_ai".into();
        comment.outcome_status = "skipped".into();
        comment.outcome_reason = "capacity_exhausted".into();
        comment.summary = format!(
            "{reason}. No budget charged; the {} backend is paused until {} and the task will be retried.",
            agent_run.backend,
            crate::store::rfc3339(until)
        );
        self.write_back(State::ReadyForAi, &comment.render());
        summary.final_state = State::ReadyForAi;
        summary.outcome = "capacity_exhausted".into();
        summary.classification = Some("capacity_exhausted".into());
        summary
    }
}

struct ShellResult {
    code: i32,
    output: String,
    duration_ms: u64,
}

/// A push into a local repository the lane may not write: name the path and the fix (git
/// itself only says "unpacker error"). Under systemd the unit's sandbox makes everything
/// outside ReadWritePaths= read-only.
fn not_writable_advice(role: &str, repo: &Path, errno: nix::errno::Errno) -> String {
    let path = repo.display();
    if errno == nix::errno::Errno::EROFS {
        let unit = crate::status::systemd::unit_file_of_role(role);
        format!(
            "cannot push: {path} is read-only for this lane ({}); a unit may write only under its ReadWritePaths=. Allow it with `systemctl edit {unit}` → `[Service] ReadWritePaths={path}`, restart the lane, then move the task back to Ready for AI",
            errno.desc()
        )
    } else {
        let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map_or_else(|| nix::unistd::geteuid().to_string(), |u| u.name);
        format!(
            "cannot push: {path} is not writable by user {user} ({}); give {user} write access to the repository (e.g. `chown -R {user} {path}`), then move the task back to Ready for AI",
            errno.desc()
        )
    }
}

fn status_word(state: State) -> &'static str {
    match state {
        State::Review => "review",
        State::InReview => "in_review",
        State::Done => "done",
        State::ReadyForAi => "ready_for_ai",
        State::Cancelled => "cancelled",
        _ => "blocked",
    }
}

/// Commit subject from the task title (never from the prompt), at most 72 characters.
fn commit_subject(title: &str, task_id: &str) -> String {
    // Titles are sanitized when a task is created; this also covers older tasks.
    let clean = crate::board::title::sanitize(title);
    let t = clean.as_str();
    if t.is_empty() {
        return format!("chore: apply task {task_id}");
    }
    let mut subject: String = t.chars().take(72).collect();
    if t.chars().count() > 72 {
        subject = subject.trim_end().to_string();
    }
    subject
}
