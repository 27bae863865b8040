//! Configuration: one YAML file (the original's keys where they apply), then the seed's
//! `OPERATIONS_CENTER_*` environment knobs on top. Unknown keys are errors, and every error
//! names file:line:column (exit 78).

mod env;
mod input;
mod load;
mod locate;
mod pass_env;
pub mod paths;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

pub use load::{ConfigError, load, load_default, parse_str};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub board: BoardConfig,
    #[serde(default)]
    pub git: GitConfig,
    #[serde(default)]
    pub agent: AgentConfig,
    #[serde(default)]
    pub kodo: KodoConfig,
    /// Per task kind (`goal`, `test`, `improve`) or `default`; replaces every field but `binary`.
    #[serde(default)]
    pub kodo_profiles: BTreeMap<String, KodoProfile>,
    #[serde(default)]
    pub claude: ClaudeConfig,
    #[serde(default)]
    pub repos: BTreeMap<String, RepoConfig>,
    /// Live kodo processes allowed on the machine before a lane skips its cycle; 0 = off.
    #[serde(default = "defaults::max_concurrent_kodo")]
    pub max_concurrent_kodo: u32,
    /// MemAvailable (MiB) required before starting an agent; 0 = off.
    #[serde(default = "defaults::min_kodo_available_mb")]
    pub min_kodo_available_mb: u64,
    #[serde(default)]
    pub maintenance_windows: Vec<MaintenanceWindow>,
    /// Cost recorded for a run whose output reports none.
    #[serde(default)]
    pub cost_per_execution_usd: f64,
    #[serde(default)]
    pub limits: Limits,
    /// The GitHub CI webhook receiver (`oc-ci-webhook`).
    #[serde(default)]
    pub ci_webhook: CiWebhookConfig,
    /// Production error ingest (`oc-ingest`): webhook and log tailing.
    #[serde(default)]
    pub error_ingest: ErrorIngestConfig,
    /// The review lane (`oc-review`): who counts as a reviewer, loop limits, timeouts.
    #[serde(default)]
    pub reviewer: ReviewerConfig,
    /// Where the file was read from (None for built-in defaults).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardConfig {
    #[serde(default)]
    pub backend: BoardBackend,
    /// Plane instance root (`https://plane.example.com`); `backend: plane` only.
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub workspace_slug: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    /// Environment variable holding the API key (default `PLANE_API_TOKEN`).
    #[serde(default)]
    pub api_token_env: Option<String>,
    /// Credential file name holding the API key (`$CREDENTIALS_DIRECTORY/oc_<name>` under
    /// systemd, else `credentials/<name>` beside the config file). Wins over the env.
    #[serde(default)]
    pub credential: Option<String>,
    /// How stale the local mirror may get before a lane refreshes it (one request when
    /// little changed), shared by every lane on the host.
    #[serde(default = "defaults::plane_sync_interval")]
    pub sync_interval_seconds: u64,
    /// Full re-read of the board (finds deleted items, refreshes states and labels).
    #[serde(default = "defaults::plane_full_resync")]
    pub full_resync_seconds: u64,
    /// Wait between posting a claim marker and reading the markers back (see docs).
    #[serde(default = "defaults::plane_claim_settle_ms")]
    pub claim_settle_ms: u64,
}

impl Default for BoardConfig {
    fn default() -> Self {
        yaml_serde::from_str("{}").expect("defaults")
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BoardBackend {
    #[default]
    Local,
    Plane,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitConfig {
    #[serde(default = "defaults::author_name")]
    pub author_name: String,
    #[serde(default = "defaults::author_email")]
    pub author_email: String,
    /// Push the branch even when validation failed, so the work is not lost.
    #[serde(default = "defaults::yes")]
    pub push_on_validation_failure: bool,
    /// Environment variable holding the GitHub token (PR creation and the review lane).
    /// Under systemd the credential `github-token` (LoadCredential=) is read first.
    #[serde(default)]
    pub token_env: Option<String>,
    /// GitHub REST API root; tests point it at a fake.
    #[serde(default = "defaults::github_api")]
    pub api_base_url: String,
    /// Timeout for each git command (clone, fetch, push).
    #[serde(default = "defaults::git_timeout")]
    pub timeout_seconds: u64,
}

impl Default for GitConfig {
    fn default() -> Self {
        yaml_serde::from_str("{}").expect("defaults")
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentBackend {
    #[default]
    Kodo,
    Claude,
    Command,
}

impl AgentBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentBackend::Kodo => "kodo",
            AgentBackend::Claude => "claude",
            AgentBackend::Command => "command",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    #[serde(default)]
    pub backend: AgentBackend,
    /// For `backend: command`: program and arguments.
    #[serde(default)]
    pub command: Vec<String>,
    /// Hard limit for one run; the whole process group is killed after it.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// How long a backend pauses after a quota/capacity failure.
    #[serde(default = "defaults::quota_cooldown")]
    pub quota_cooldown_seconds: u64,
    /// Per task kind overrides.
    #[serde(default)]
    pub profiles: BTreeMap<String, AgentProfile>,
    /// Variables of the lane's environment the agent receives by name (its model API key);
    /// nothing else of ours reaches it beyond a base allowlist (docs/security.md).
    #[serde(default = "pass_env::agent_default")]
    pub pass_env: Vec<String>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        yaml_serde::from_str("{}").expect("defaults")
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AgentProfile {
    #[serde(default)]
    pub backend: Option<AgentBackend>,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KodoConfig {
    #[serde(default = "defaults::kodo_binary")]
    pub binary: String,
    #[serde(default = "defaults::kodo_team")]
    pub team: String,
    #[serde(default = "defaults::kodo_cycles")]
    pub cycles: u32,
    #[serde(default = "defaults::kodo_exchanges")]
    pub exchanges: u32,
    #[serde(default = "defaults::kodo_orchestrator")]
    pub orchestrator: String,
    #[serde(default = "defaults::kodo_effort")]
    pub effort: String,
    #[serde(default = "defaults::agent_timeout")]
    pub timeout_seconds: u64,
}

impl Default for KodoConfig {
    fn default() -> Self {
        yaml_serde::from_str("{}").expect("defaults")
    }
}

impl KodoConfig {
    pub fn profile(&self) -> KodoProfile {
        KodoProfile {
            team: self.team.clone(),
            cycles: self.cycles,
            exchanges: self.exchanges,
            orchestrator: self.orchestrator.clone(),
            effort: self.effort.clone(),
            timeout_seconds: self.timeout_seconds,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KodoProfile {
    #[serde(default = "defaults::kodo_team")]
    pub team: String,
    #[serde(default = "defaults::kodo_cycles")]
    pub cycles: u32,
    #[serde(default = "defaults::kodo_exchanges")]
    pub exchanges: u32,
    #[serde(default = "defaults::kodo_orchestrator")]
    pub orchestrator: String,
    #[serde(default = "defaults::kodo_effort")]
    pub effort: String,
    #[serde(default = "defaults::agent_timeout")]
    pub timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaudeConfig {
    #[serde(default = "defaults::claude_binary")]
    pub binary: String,
    #[serde(default)]
    pub model: Option<String>,
    /// Passed as `--max-budget-usd`: Claude Code's own dollar cap for one run.
    #[serde(default)]
    pub max_budget_usd: Option<f64>,
    #[serde(default)]
    pub max_turns: Option<u32>,
    #[serde(default = "defaults::claude_permission_mode")]
    pub permission_mode: String,
    #[serde(default)]
    pub extra_args: Vec<String>,
}

impl Default for ClaudeConfig {
    fn default() -> Self {
        yaml_serde::from_str("{}").expect("defaults")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    pub clone_url: String,
    #[serde(default = "defaults::main_branch")]
    pub default_branch: String,
    #[serde(default)]
    pub validation_commands: Vec<String>,
    #[serde(default = "defaults::validation_timeout")]
    pub validation_timeout_seconds: u64,
    /// fnmatch patterns; empty = any base branch.
    #[serde(default)]
    pub allowed_base_branches: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Variables of the lane's environment passed on by name to this repo's agent,
    /// bootstrap and validation commands (on top of `env` and the base allowlist).
    #[serde(default)]
    pub pass_env: Vec<String>,
    /// Shell commands run in the clone before the agent (each with the validation timeout).
    #[serde(default)]
    pub bootstrap_commands: Vec<String>,
    /// Open a PR and hand it to the review lane (task → In Review).
    #[serde(default)]
    pub await_review: bool,
    #[serde(default)]
    pub max_daily_executions: Option<u32>,
    #[serde(default)]
    pub local_path: Option<PathBuf>,
    /// `owner/name` on GitHub; derived from a GitHub `clone_url` when absent (needed when
    /// the clone URL is a mirror or a local path).
    #[serde(default)]
    pub github_repo: Option<String>,
    /// In the human-review phase, merge `source: autonomy` PRs once every check is green.
    #[serde(default)]
    pub auto_merge_on_ci_green: bool,
    /// Never merge on the human-review timeout; remind once a day instead.
    #[serde(default)]
    pub require_explicit_approval: bool,
    /// Check-run names to ignore for CI (case-insensitive substring).
    #[serde(default)]
    pub ci_ignored_checks: Vec<String>,
}

impl RepoConfig {
    /// `(owner, name)` on GitHub: `github_repo`, else parsed from a GitHub clone URL.
    pub fn github_slug(&self) -> Option<(String, String)> {
        if let Some(slug) = &self.github_repo {
            let (o, n) = slug.split_once('/')?;
            return Some((o.to_string(), n.trim_end_matches(".git").to_string()));
        }
        let url = self.clone_url.trim_end_matches('/');
        let rest = url
            .strip_prefix("https://github.com/")
            .or_else(|| url.strip_prefix("git@github.com:"))
            .or_else(|| url.strip_prefix("ssh://git@github.com/"))?;
        let (o, n) = rest.split_once('/')?;
        let n = n.trim_end_matches(".git");
        (!o.is_empty() && !n.is_empty() && !n.contains('/')).then(|| (o.to_string(), n.to_string()))
    }
}

/// The review lane's policies (original-behaviour §3.2 `reviewer`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewerConfig {
    /// Logins whose comments and reactions never count (CI bots, our own account).
    #[serde(default)]
    pub bot_logins: Vec<String>,
    /// When non-empty, only these logins' comments, reviews and 👍 count.
    #[serde(default)]
    pub allowed_reviewer_logins: Vec<String>,
    #[serde(default = "defaults::max_self_review_loops")]
    pub max_self_review_loops: u32,
    #[serde(default = "defaults::max_human_review_loops")]
    pub max_human_review_loops: u32,
    /// Since entering the human phase; then merge (or remind, see require_explicit_approval).
    #[serde(default = "defaults::human_review_timeout")]
    pub human_review_timeout_seconds: u64,
    /// Put on every bot comment; comments carrying it are never taken as human input.
    #[serde(default = "defaults::bot_marker")]
    pub bot_comment_marker: String,
    /// First wait after a run without a verdict (quota, crash); doubles each time, capped.
    #[serde(default = "defaults::no_verdict_backoff")]
    pub no_verdict_backoff_seconds: u64,
}

impl Default for ReviewerConfig {
    fn default() -> Self {
        yaml_serde::from_str("{}").expect("defaults")
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    pub start_hour: u8,
    /// Exclusive; a window with end_hour < start_hour wraps past midnight.
    pub end_hour: u8,
    /// 0 = Monday … 6 = Sunday; empty = every day.
    #[serde(default)]
    pub days: Vec<u8>,
}

/// Budgets, intervals and retention: the seed's environment knobs, also settable here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "defaults::max_exec_per_hour")]
    pub max_exec_per_hour: u32,
    #[serde(default = "defaults::max_exec_per_day")]
    pub max_exec_per_day: u32,
    #[serde(default = "defaults::max_retries_per_task")]
    pub max_retries_per_task: u32,
    #[serde(default = "defaults::min_watch_interval")]
    pub min_watch_interval_seconds: u64,
    /// Poll interval per role (goal, test, improve, propose, review, spec).
    #[serde(default)]
    pub watch_interval_seconds: BTreeMap<String, u64>,
    #[serde(default = "defaults::retention_days")]
    pub retention_days: u32,
    /// Below this much free disk (MiB) in the state directory no run starts.
    #[serde(default = "defaults::min_free_disk_mb")]
    pub min_free_disk_mb: u64,
    /// Below this much free disk (MiB) a `disk_space_low` warning is logged.
    #[serde(default = "defaults::warn_free_disk_mb")]
    pub warn_free_disk_mb: u64,
}

impl Default for Limits {
    fn default() -> Self {
        yaml_serde::from_str("{}").expect("defaults")
    }
}

impl Limits {
    pub fn watch_interval(&self, role: &str) -> std::time::Duration {
        let secs = self
            .watch_interval_seconds
            .get(role)
            .copied()
            .unwrap_or(60)
            .max(self.min_watch_interval_seconds);
        std::time::Duration::from_secs(secs)
    }
}

/// Shared by the HTTP receivers; `host`/`port` are used only when started by hand (under
/// systemd the listening socket comes from the `.socket` unit).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpLimits {
    /// Larger request bodies get 413.
    #[serde(default = "defaults::max_body_bytes")]
    pub max_body_bytes: u64,
    /// A client must send its headers within this time.
    #[serde(default = "defaults::header_timeout")]
    pub header_timeout_seconds: u64,
    /// And its body within this time.
    #[serde(default = "defaults::body_timeout")]
    pub body_timeout_seconds: u64,
    /// Exit after this many minutes without a request (systemd starts the service again
    /// on the next connection); 0 = never.
    #[serde(default)]
    pub idle_exit_minutes: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        yaml_serde::from_str("{}").expect("defaults")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiWebhookConfig {
    /// Overridden by OPERATIONS_CENTER_WEBHOOK_HOST.
    #[serde(default = "defaults::webhook_host")]
    pub host: String,
    /// Overridden by OPERATIONS_CENTER_WEBHOOK_PORT.
    #[serde(default = "defaults::webhook_port")]
    pub port: u16,
    /// Without a secret the receiver refuses to start unless this is true.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// Command run for each recorded CI event (OPERATIONS_CENTER_WEBHOOK_TRIGGER overrides).
    #[serde(default)]
    pub trigger_command: Option<Vec<String>>,
    #[serde(default, flatten)]
    pub http: HttpLimits,
}

impl Default for CiWebhookConfig {
    fn default() -> Self {
        yaml_serde::from_str("{}").expect("defaults")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorIngestConfig {
    #[serde(default = "defaults::ingest_host")]
    pub webhook_host: String,
    #[serde(default = "defaults::ingest_port")]
    pub webhook_port: u16,
    /// Repo key for ingested errors that name none.
    #[serde(default)]
    pub default_repo_key: String,
    #[serde(default)]
    pub log_sources: Vec<LogSource>,
    #[serde(default, flatten)]
    pub http: HttpLimits,
}

impl Default for ErrorIngestConfig {
    fn default() -> Self {
        yaml_serde::from_str("{}").expect("defaults")
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogSource {
    pub path: PathBuf,
    pub repo_key: String,
    #[serde(default = "defaults::log_pattern")]
    pub pattern: String,
    #[serde(default = "defaults::dedup_window")]
    pub dedup_window_seconds: u64,
}

/// The agent settings that apply to one task kind.
#[derive(Debug, Clone)]
pub struct ResolvedAgent {
    pub backend: AgentBackend,
    pub command: Vec<String>,
    pub timeout: std::time::Duration,
    pub kodo: KodoProfile,
}

impl Config {
    pub fn agent_for(&self, kind: &str) -> ResolvedAgent {
        let profile = self.agent.profiles.get(kind);
        let backend = profile
            .and_then(|p| p.backend)
            .unwrap_or(self.agent.backend);
        let command = profile
            .and_then(|p| p.command.clone())
            .unwrap_or_else(|| self.agent.command.clone());
        let kodo = self
            .kodo_profiles
            .get(kind)
            .or_else(|| self.kodo_profiles.get("default"))
            .cloned()
            .unwrap_or_else(|| self.kodo.profile());
        let timeout = profile
            .and_then(|p| p.timeout_seconds)
            .or(self.agent.timeout_seconds)
            .unwrap_or(kodo.timeout_seconds);
        ResolvedAgent {
            backend,
            command,
            timeout: std::time::Duration::from_secs(timeout),
            kodo,
        }
    }
}

mod defaults {
    pub fn yes() -> bool {
        true
    }
    pub fn plane_sync_interval() -> u64 {
        15
    }
    pub fn plane_full_resync() -> u64 {
        1800
    }
    pub fn plane_claim_settle_ms() -> u64 {
        1500
    }
    pub fn max_concurrent_kodo() -> u32 {
        1
    }
    pub fn min_kodo_available_mb() -> u64 {
        400
    }
    pub fn author_name() -> String {
        "Operations Center Bot".into()
    }
    pub fn author_email() -> String {
        "operations-center-bot@example.com".into()
    }
    pub fn git_timeout() -> u64 {
        300
    }
    pub fn quota_cooldown() -> u64 {
        1800
    }
    pub fn kodo_binary() -> String {
        "kodo".into()
    }
    pub fn kodo_team() -> String {
        "full".into()
    }
    pub fn kodo_cycles() -> u32 {
        3
    }
    pub fn kodo_exchanges() -> u32 {
        20
    }
    pub fn kodo_orchestrator() -> String {
        "claude-code:opus".into()
    }
    pub fn kodo_effort() -> String {
        "standard".into()
    }
    pub fn agent_timeout() -> u64 {
        3600
    }
    pub fn claude_binary() -> String {
        "claude".into()
    }
    pub fn claude_permission_mode() -> String {
        "acceptEdits".into()
    }
    pub fn main_branch() -> String {
        "main".into()
    }
    pub fn validation_timeout() -> u64 {
        300
    }
    pub fn max_exec_per_hour() -> u32 {
        10
    }
    pub fn max_exec_per_day() -> u32 {
        50
    }
    pub fn max_retries_per_task() -> u32 {
        3
    }
    pub fn min_watch_interval() -> u64 {
        5
    }
    pub fn retention_days() -> u32 {
        1
    }
    pub fn min_free_disk_mb() -> u64 {
        50
    }
    pub fn warn_free_disk_mb() -> u64 {
        200
    }
    pub fn max_body_bytes() -> u64 {
        1024 * 1024
    }
    pub fn header_timeout() -> u64 {
        10
    }
    pub fn body_timeout() -> u64 {
        30
    }
    pub fn webhook_host() -> String {
        "127.0.0.1".into()
    }
    pub fn webhook_port() -> u16 {
        8765
    }
    pub fn ingest_host() -> String {
        "127.0.0.1".into()
    }
    pub fn ingest_port() -> u16 {
        9000
    }
    pub fn log_pattern() -> String {
        "(ERROR|CRITICAL)".into()
    }
    pub fn dedup_window() -> u64 {
        3600
    }
    pub fn github_api() -> String {
        "https://api.github.com".into()
    }
    pub fn max_self_review_loops() -> u32 {
        2
    }
    pub fn max_human_review_loops() -> u32 {
        3
    }
    pub fn human_review_timeout() -> u64 {
        86_400
    }
    pub fn bot_marker() -> String {
        "<!-- operations-center:bot -->".into()
    }
    pub fn no_verdict_backoff() -> u64 {
        300
    }
}
