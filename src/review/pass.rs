//! Agent passes of the review lane, each in a fresh clone checked out on the PR's own
//! branch (never the default branch: original-behaviour §12 #25): the self-review, which
//! only judges, and the revision, whose commit is pushed to the PR branch.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::policy::{self, Verdict};
use crate::agent::classify::{self, RunClass};
use crate::agent::{self, RunContext};
use crate::board::description::ExecutionMode;
use crate::config::{Config, RepoConfig};
use crate::daemon::shutdown::Shutdown;
use crate::daemon::subprocess::{self, Spec};
use crate::store::executions;
use crate::workspace::git::{Git, GitError};

/// The directory (under the state dir) holding the review lane's throwaway clones. Apart
/// from the goal lanes' `workspaces/`, whose orphan cleanup must not see these.
pub const REVIEW_WORK_DIR: &str = "review-work";

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

pub struct Passes<'a> {
    pub config: &'a Config,
    pub state_dir: &'a Path,
    pub conn: &'a rusqlite::Connection,
    pub shutdown: &'a Shutdown,
    pub keepalive: &'a dyn Fn(),
}

/// What an agent run gave.
pub struct AgentResult {
    pub class: RunClass,
    pub reason: String,
    pub stdout: String,
}

pub struct SelfReview {
    pub verdict: Option<Verdict>,
    pub class: RunClass,
    pub reason: String,
}

pub enum Revision {
    /// Pushed this commit to the PR branch.
    Pushed(String),
    /// The agent changed nothing.
    NoChanges,
    /// The agent produced no usable result (quota, crash, timeout).
    Failed(String),
}

/// A clone on the PR branch, removed when dropped.
struct Clone {
    root: PathBuf,
    repo: PathBuf,
}

impl Drop for Clone {
    fn drop(&mut self) {
        let _ = crate::workspace::remove(&self.root);
    }
}

impl Passes<'_> {
    fn git(&self, log_dir: PathBuf) -> Git<'_> {
        Git::new(
            self.shutdown,
            Duration::from_secs(self.config.git.timeout_seconds),
            log_dir,
            || (self.keepalive)(),
        )
    }

    fn checkout(&self, repo: &RepoConfig, branch: &str, run_id: &str) -> Result<Clone, PassError> {
        let root = self.state_dir.join(REVIEW_WORK_DIR).join(run_id);
        std::fs::create_dir_all(&root)?;
        let clone = Clone {
            repo: root.join("repo"),
            root,
        };
        let git = self.git(clone.root.join("logs"));
        git.clone_repo(&repo.clone_url, &clone.repo)?;
        if !git.remote_branch_exists(&clone.repo, branch)? {
            return Err(PassError::Other(format!(
                "PR branch {branch} does not exist on the remote"
            )));
        }
        git.run(
            &clone.repo,
            &[
                "checkout",
                "--quiet",
                "-B",
                branch,
                &format!("origin/{branch}"),
            ],
        )?;
        git.run(
            &clone.repo,
            &["config", "user.name", &self.config.git.author_name],
        )?;
        git.run(
            &clone.repo,
            &["config", "user.email", &self.config.git.author_email],
        )?;
        git.add_local_exclude(&clone.repo, &[".kodo/", ".operations_center/"])?;
        Ok(clone)
    }

    fn run_agent(
        &self,
        clone: &Clone,
        repo_key: &str,
        task_id: &str,
        goal: &str,
        run_id: &str,
    ) -> Result<AgentResult, PassError> {
        let goal_file = clone.root.join("goal.md");
        std::fs::write(&goal_file, goal)?;
        let agent = self.config.agent_for("review");
        let invocation = agent::invocation(
            self.config,
            &agent,
            &RunContext {
                task_id,
                task_kind: "review",
                mode: ExecutionMode::FixPr,
                goal_file: &goal_file,
                repo_dir: &clone.repo,
            },
        );
        let mut spec = Spec::new(&invocation.program, &clone.repo, &clone.root.join("agent"))
            .args(&invocation.args)
            .timeout(agent.timeout);
        spec.stdin = invocation.stdin.clone();
        let repo_env = self
            .config
            .repos
            .get(repo_key)
            .map(|r| r.env.clone())
            .unwrap_or_default();
        spec.env = repo_env.into_iter().chain(invocation.env.clone()).collect();
        spec.env.push((
            "OC_VERDICT_FILE".into(),
            clone
                .root
                .join("verdict.txt")
                .to_string_lossy()
                .into_owned(),
        ));
        spec.sandbox = Some(self.config.agent_sandbox(repo_key));
        let execution =
            executions::start(self.conn, run_id, task_id, repo_key, agent.backend.as_str())
                .map_err(|e| PassError::Other(format!("cannot record execution: {e}")))?;
        let outcome = subprocess::run(&spec, self.shutdown, |_| {}, || (self.keepalive)())
            .map_err(|e| PassError::Other(e.to_string()));
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                let _ = executions::finish(
                    self.conn,
                    execution,
                    &executions::Finish {
                        charged: false,
                        outcome: "not_started",
                        cost_usd: 0.0,
                        cost_source: "none",
                    },
                );
                return Err(e);
            }
        };
        let judged = classify::judge(&outcome, &spec, self.config.cost_per_execution_usd);
        let capacity = judged.capacity_exhausted();
        let (cost, source) = (judged.cost_usd, judged.cost_source);
        let (c, stdout) = (judged.classification, judged.stdout);
        let _ = executions::finish(
            self.conn,
            execution,
            &executions::Finish {
                charged: !capacity && !outcome.cancelled,
                outcome: if outcome.cancelled {
                    "interrupted"
                } else {
                    c.class.as_str()
                },
                cost_usd: cost,
                cost_source: source,
            },
        );
        if outcome.cancelled {
            return Err(PassError::Git(GitError::Interrupted));
        }
        if capacity {
            // As the goal lane does: every lane leaves the backend alone until the reset.
            let cooldown = self.config.agent.quota_cooldown_seconds as i64;
            let _ = executions::pause_backend(
                self.conn,
                agent.backend.as_str(),
                crate::store::now() + cooldown,
                &c.reason,
            );
        }
        Ok(AgentResult {
            class: c.class,
            reason: c.reason,
            stdout,
        })
    }

    /// The agent judges the PR's diff against its goal and answers LGTM or CONCERNS.
    #[allow(clippy::too_many_arguments)]
    pub fn self_review(
        &self,
        repo_key: &str,
        repo: &RepoConfig,
        task_id: &str,
        branch: &str,
        base: &str,
        pr_title: &str,
        original_goal: &str,
        run_id: &str,
    ) -> Result<SelfReview, PassError> {
        let clone = self.checkout(repo, branch, run_id)?;
        let verdict_path = clone.root.join("verdict.txt");
        let goal = format!(
            "# Self-review of a pull request\n\n\
             You are reviewing PR \"{pr_title}\" (branch `{branch}`, base `{base}`). Do not \
             change, commit or push anything.\n\n\
             1. Run `git diff origin/{base}...HEAD` to see the change.\n\
             2. Judge it against the original goal below: correctness, tests, scope, no \
             tooling artefacts (`.kodo/`, run reports).\n\
             3. Write your verdict to `{}` (also print it as the last lines of your \
             output): the first line exactly `LGTM` or `CONCERNS`, then one `- ` line per \
             issue.\n\n## Original Goal\n\n{original_goal}\n",
            verdict_path.display()
        );
        let result = self.run_agent(&clone, repo_key, task_id, &goal, run_id)?;
        let file = std::fs::read_to_string(&verdict_path).ok();
        // A quota no-op or a crash says nothing about the PR, whatever it printed.
        let verdict = match result.class {
            RunClass::Success | RunClass::Partial => {
                policy::verdict_from_output(file.as_deref(), &result.stdout)
            }
            _ => None,
        };
        Ok(SelfReview {
            verdict,
            class: result.class,
            reason: result.reason,
        })
    }

    /// The agent addresses `feedback` on the PR branch; the commit is pushed there.
    #[allow(clippy::too_many_arguments)]
    pub fn revise(
        &self,
        repo_key: &str,
        repo: &RepoConfig,
        task_id: &str,
        branch: &str,
        original_goal: &str,
        feedback: &str,
        message: &str,
        run_id: &str,
    ) -> Result<Revision, PassError> {
        let clone = self.checkout(repo, branch, run_id)?;
        let git = self.git(clone.root.join("logs"));
        let start = git.head(&clone.repo)?;
        let goal = format!(
            "# Revision of a pull request\n\n\
             You are on the PR branch `{branch}`. Address the following feedback without \
             changing the intent of the original change.\n\n## Feedback\n\n{feedback}\n\n\
             ## Original Goal\n\n{original_goal}\n"
        );
        let result = self.run_agent(&clone, repo_key, task_id, &goal, run_id)?;
        if !matches!(result.class, RunClass::Success | RunClass::Partial) {
            return Ok(Revision::Failed(format!(
                "{}: {}",
                result.class.as_str(),
                result.reason
            )));
        }
        let changed = git.changed_files(&clone.repo, &start)?;
        if changed.is_empty() {
            return Ok(Revision::NoChanges);
        }
        git.commit_staged(&clone.repo, message)?;
        let head = git.head(&clone.repo)?;
        // A plain push: if someone pushed meanwhile it is refused and we try next cycle.
        git.run(
            &clone.repo,
            &[
                "push",
                "--quiet",
                "origin",
                &format!("HEAD:refs/heads/{branch}"),
            ],
        )?;
        Ok(Revision::Pushed(head))
    }
}

/// What bringing the PR branch up to date with its base gave.
pub enum BranchUpdate {
    /// The base merged in cleanly, or its conflicts were only in dependency manifests and
    /// were resolved; this commit is pushed to the PR branch.
    Pushed { sha: String, resolved: Vec<String> },
    /// Conflicts a human has to look at (not only in dependency manifests, or unresolved).
    Conflicts(Vec<String>),
}

impl Passes<'_> {
    /// Merges `origin/<base>` into the PR branch (no force-push: reviewers keep their
    /// comments' context). Conflicts only in dependency manifests (requirements*.txt,
    /// pyproject.toml, Cargo.toml/Cargo.lock…) are mechanical: the agent re-resolves them
    /// and the result is pushed without a human.
    #[allow(clippy::too_many_arguments)]
    pub fn update_branch(
        &self,
        repo_key: &str,
        repo: &RepoConfig,
        task_id: &str,
        branch: &str,
        base: &str,
        run_id: &str,
    ) -> Result<BranchUpdate, PassError> {
        let clone = self.checkout(repo, branch, run_id)?;
        let git = self.git(clone.root.join("logs"));
        let merged = git.output(
            &clone.repo,
            &["merge", "--no-edit", &format!("origin/{base}")],
        )?;
        let mut resolved = Vec::new();
        if merged.0 != 0 {
            let conflicts: Vec<String> = git
                .run(&clone.repo, &["diff", "--name-only", "--diff-filter=U"])?
                .lines()
                .map(str::to_string)
                .collect();
            if conflicts.is_empty() || !conflicts.iter().all(|f| policy::is_dependency_manifest(f))
            {
                let _ = git.output(&clone.repo, &["merge", "--abort"]);
                return Ok(BranchUpdate::Conflicts(conflicts));
            }
            let goal = format!(
                "# Conflict resolution\n\n\
                 Merging `{base}` into the PR branch `{branch}` left conflicts in dependency \
                 manifests only:\n\n{}\n\nResolve them keeping the requirements of both \
                 sides (the newer version where both pin the same package), regenerate lock \
                 files if needed, and remove every conflict marker. Do not commit; change \
                 nothing else.\n",
                conflicts
                    .iter()
                    .map(|c| format!("- `{c}`"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            let result = self.run_agent(&clone, repo_key, task_id, &goal, run_id)?;
            if !matches!(result.class, RunClass::Success | RunClass::Partial) {
                return Err(PassError::Other(format!(
                    "conflict resolution gave no result ({}: {})",
                    result.class.as_str(),
                    result.reason
                )));
            }
            let markers = conflicts.iter().any(|f| {
                std::fs::read_to_string(clone.repo.join(f))
                    .map(|t| {
                        t.lines()
                            .any(|l| l.starts_with("<<<<<<<") || l.starts_with(">>>>>>>"))
                    })
                    .unwrap_or(false)
            });
            if markers {
                let _ = git.output(&clone.repo, &["merge", "--abort"]);
                return Ok(BranchUpdate::Conflicts(conflicts));
            }
            git.run(&clone.repo, &["add", "-A"])?;
            git.run(&clone.repo, &["commit", "--quiet", "--no-edit"])?;
            resolved = conflicts;
        }
        let head = git.head(&clone.repo)?;
        git.run(
            &clone.repo,
            &[
                "push",
                "--quiet",
                "origin",
                &format!("HEAD:refs/heads/{branch}"),
            ],
        )?;
        Ok(BranchUpdate::Pushed {
            sha: head,
            resolved,
        })
    }
}

/// Removes clones left by a killed review lane (called at start; one instance runs).
pub fn clean_leftovers(state_dir: &Path) {
    let _ = crate::workspace::remove(&state_dir.join(REVIEW_WORK_DIR));
}
