//! The task board: states, labels, description parsing, and the backends behind one trait.

pub mod dependencies;
pub mod description;
pub mod html;
pub mod local;
pub mod plane;
pub mod title;
pub mod urgency;

use serde::Serialize;

/// Workflow states, named as on the original's Plane board (matched case-insensitively).
/// Serialised by board name (`"Ready for AI"`), as people and Plane spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Backlog,
    ReadyForAi,
    Running,
    Review,
    InReview,
    Blocked,
    Done,
    Cancelled,
    AwaitingInput,
}

impl State {
    pub const ALL: [State; 9] = [
        State::Backlog,
        State::ReadyForAi,
        State::Running,
        State::Review,
        State::InReview,
        State::Blocked,
        State::Done,
        State::Cancelled,
        State::AwaitingInput,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::Backlog => "Backlog",
            State::ReadyForAi => "Ready for AI",
            State::Running => "Running",
            State::Review => "Review",
            State::InReview => "In Review",
            State::Blocked => "Blocked",
            State::Done => "Done",
            State::Cancelled => "Cancelled",
            State::AwaitingInput => "Awaiting Input",
        }
    }

    /// Accepts the board names case-insensitively, plus dashed/underscored spellings
    /// (`ready-for-ai`) that are easier to type in a shell.
    pub fn parse(text: &str) -> Option<State> {
        let wanted = normalise_state(text);
        State::ALL
            .into_iter()
            .find(|s| normalise_state(s.name()) == wanted)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, State::Done | State::Cancelled)
    }
}

fn normalise_state(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| {
            if c == '-' || c == '_' {
                ' '
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Serialize for State {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Kinds of work a lane claims, from the `task-kind: <kind>` label.
pub const TASK_KINDS: [&str; 3] = ["goal", "test", "improve"];

#[derive(Debug, Clone, Serialize)]
pub struct Comment {
    pub id: String,
    pub author: String,
    pub body: String,
    pub created_at: String,
}

/// One work item as every lane sees it, whatever the backend.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub state: State,
    pub labels: Vec<String>,
    pub priority: Option<String>,
    pub description: String,
    pub created_at: String,
    pub updated_at: String,
}

impl Task {
    pub fn label(&self, key: &str) -> Option<&str> {
        description::label_value(&self.labels, key)
    }

    /// The repo key the task targets, as far as description and labels tell.
    pub fn repo(&self) -> Option<String> {
        repo_of(&self.description, &self.labels)
    }

    /// The `task-kind:` label, else `goal` when the task names a repo.
    pub fn kind(&self) -> Option<&str> {
        description::kind_of(&self.labels, &self.description)
    }
}

/// What a new task needs; the backend assigns id and timestamps.
#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub title: String,
    pub description: String,
    pub state: Option<State>,
    pub labels: Vec<String>,
    pub priority: Option<String>,
    /// (`external_source`, `external_id`) for machine-made tasks: on Plane a repeat create
    /// is answered 409 and adopts the existing item, so a retry never duplicates.
    pub external: Option<(String, String)>,
}

/// A claim that won: the task is now Running and owned by `run_id`.
#[derive(Debug, Clone)]
pub struct Claim {
    pub task: Task,
    pub run_id: String,
}

/// The repo a task targets, as far as the description and labels tell (for filtering and
/// per-repo budgets).
pub fn repo_of(description: &str, labels: &[String]) -> Option<String> {
    description::parse_task(description, labels)
        .map(|p| p.repo)
        .ok()
        .or_else(|| description::label_value(labels, "repo").map(str::to_string))
}

/// Display form of local task ids.
pub fn format_local_id(n: i64) -> String {
    format!("T-{n}")
}

/// A Plane work-item id: 36 characters, hex digits with dashes at 8, 13, 18 and 23.
pub fn looks_like_uuid(text: &str) -> bool {
    let t = text.trim();
    t.len() == 36
        && t.chars().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Accepts `T-17`, `t-17` or `17`.
pub fn parse_local_id(id: &str) -> Option<i64> {
    let t = id.trim();
    let digits = t
        .strip_prefix("T-")
        .or_else(|| t.strip_prefix("t-"))
        .unwrap_or(t);
    digits.parse().ok().filter(|n: &i64| *n > 0)
}

/// What a lane asks for when it claims: which kinds, which repos to pass over, and the run
/// that will own the claim (registered in the same step, so a crash right after the claim
/// still leaves a run record that recovery can find).
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    pub kinds: &'a [&'a str],
    /// Repo keys over their daily cap this cycle (passed over, logged as `skip_repo_budget`).
    pub repos_over_budget: &'a [String],
    pub run: &'a crate::store::runs::NewRun,
}

pub type BoardResult<T> = Result<T, BoardError>;

#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error("task {0} not found")]
    NotFound(String),
    #[error("board database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error(transparent)]
    Plane(plane::PlaneError),
    /// The claim was refused in its transaction: a budget cap is used up (the lane skips).
    #[error("budget: {}", .0.detail())]
    OverBudget(crate::store::budget::Exhausted),
    #[error("{0}")]
    Other(String),
    #[error(transparent)]
    Title(#[from] title::EmptyTitle),
}

/// The operations every lane and `oc task` command needs from a board backend.
pub trait Board {
    /// The state database (runs, executions, and for Plane the mirror).
    fn conn(&self) -> &rusqlite::Connection;
    /// Whether writes go over the network (they must not run inside a database write
    /// transaction, which would block every other process for the request's duration).
    fn is_remote(&self) -> bool {
        false
    }
    /// Brings a remote board's local copy up to date when it is due; no-op for local.
    fn sync(&self) -> BoardResult<()> {
        Ok(())
    }
    fn add(&self, task: NewTask) -> BoardResult<Task>;
    fn get(&self, id: &str) -> BoardResult<Task>;
    fn list(&self, state: Option<State>) -> BoardResult<Vec<Task>>;
    fn comments(&self, id: &str) -> BoardResult<Vec<Comment>>;
    fn comment(&self, id: &str, author: &str, body: &str) -> BoardResult<()>;
    /// Unconditional move (operator or final write-back).
    fn move_to(&self, id: &str, state: State) -> BoardResult<()>;
    /// Moves only if the task is still in `from`; returns whether it moved.
    fn move_if(&self, id: &str, from: State, to: State) -> BoardResult<bool>;
    /// Picks the most urgent eligible Ready for AI task and claims it atomically.
    fn claim_next(&self, request: &ClaimRequest<'_>) -> BoardResult<Option<Claim>>;
    /// Claims one given task (for `oc run --task-id`).
    fn claim(&self, id: &str, run: &crate::store::runs::NewRun) -> BoardResult<Option<Claim>>;
    /// Puts a Running task back to `to` only if `run_id` still holds it (recovery).
    fn release(&self, id: &str, run_id: &str, to: State) -> BoardResult<bool>;
    /// Running tasks not touched since `older_than` (unix seconds) whose claim has no live run.
    fn stale_running(&self, older_than: i64) -> BoardResult<Vec<Task>>;
}

impl BoardError {
    /// Plane refused the API key: retrying cannot help (the lane exits 77, no restart).
    pub fn is_auth(&self) -> bool {
        matches!(self, BoardError::Plane(e) if e.is_auth())
    }

    /// The Plane workspace or project is wrong (or out of the key's reach): exit 78.
    pub fn is_config(&self) -> bool {
        matches!(self, BoardError::Plane(e) if e.is_config())
    }

    /// Plane unreachable, throttled or failing: worth another try on a later cycle.
    pub fn is_transient(&self) -> bool {
        use plane::PlaneError as P;
        matches!(
            self,
            BoardError::Plane(P::Transport { .. } | P::RateLimited { .. })
        ) || matches!(self, BoardError::Plane(P::Status { status, .. }) if *status >= 500)
    }
}

/// The configured board for reading only what this host already knows: for Plane the
/// local mirror, without the API key or network (the janitor).
pub fn open_offline(
    config: &crate::config::Config,
    state_dir: &std::path::Path,
) -> anyhow::Result<Box<dyn Board>> {
    Ok(match config.board.backend {
        crate::config::BoardBackend::Local => Box::new(local::LocalBoard::open(state_dir)?),
        crate::config::BoardBackend::Plane => {
            Box::new(plane::PlaneBoard::open_offline(&config.board, state_dir)?)
        }
    })
}

/// The configured board: the embedded one, or Plane (through its local mirror).
pub fn open(
    config: &crate::config::Config,
    state_dir: &std::path::Path,
) -> anyhow::Result<Box<dyn Board>> {
    BoardOpener::new(config)?.open(state_dir)
}

/// Opening the configured board in two steps: what lies outside the state directory (the
/// Plane key, in a root-only credentials directory) is read first, so that a root `oc`
/// can then become the service user before it touches the database.
pub struct BoardOpener {
    board: crate::config::BoardConfig,
    /// (key, where it came from) for Plane.
    plane_key: Option<(String, String)>,
}

impl BoardOpener {
    pub fn new(config: &crate::config::Config) -> anyhow::Result<Self> {
        let plane_key = match config.board.backend {
            crate::config::BoardBackend::Local => None,
            crate::config::BoardBackend::Plane => Some(plane::board::api_key(
                &config.board,
                config.source.as_deref(),
                |name| std::env::var(name).ok(),
            )?),
        };
        Ok(Self {
            board: config.board.clone(),
            plane_key,
        })
    }

    pub fn open(&self, state_dir: &std::path::Path) -> anyhow::Result<Box<dyn Board>> {
        Ok(match &self.plane_key {
            None => Box::new(local::LocalBoard::open(state_dir)?),
            Some(_) => Box::new(self.open_plane(state_dir)?),
        })
    }

    /// Where the Plane key came from (`env PLANE_API_TOKEN`, a credential file).
    pub fn key_from(&self) -> Option<&str> {
        self.plane_key.as_ref().map(|(_, from)| from.as_str())
    }

    /// The Plane board itself (for `oc doctor`, `oc plane-sync`).
    pub fn open_plane(&self, state_dir: &std::path::Path) -> anyhow::Result<plane::PlaneBoard> {
        let Some((key, from)) = &self.plane_key else {
            anyhow::bail!("the board is the embedded one (board.backend: local)");
        };
        plane::PlaneBoard::open(&self.board, key, from, state_dir)
    }
}
