//! Which variables of the lane's environment a task's commands receive by name. Everything
//! else of ours (the Plane key, the GitHub token, the webhook secret…) stays with the lane.

use super::Config;
use crate::daemon::sandbox::Sandbox;

/// `agent.pass_env` when unset: the model API settings the supported agent CLIs read
/// (claude, kodo and the CLIs it drives, codex, gemini, aider).
pub(super) fn agent_default() -> Vec<String> {
    [
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_MODEL",
        "CLAUDE_CODE_USE_BEDROCK",
        "CLAUDE_CODE_USE_VERTEX",
        "CLAUDE_CONFIG_DIR",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "CODEX_HOME",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
    ]
    .map(String::from)
    .to_vec()
}

impl Config {
    /// The sandbox of an agent run on `repo`: `agent.pass_env` plus the repo's `pass_env`.
    pub fn agent_sandbox(&self, repo: &str) -> Sandbox {
        let mut pass_env = self.agent.pass_env.clone();
        pass_env.extend(self.repo_pass_env(repo));
        Sandbox::for_task(pass_env)
    }

    fn repo_pass_env(&self, repo: &str) -> Vec<String> {
        self.repos
            .get(repo)
            .map(|r| r.pass_env.clone())
            .unwrap_or_default()
    }
}
