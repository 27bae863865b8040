//! `oc task add|list|show|move|comment` on the embedded board.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{Common, UserError};
use crate::board::title;
use crate::board::{Board, BoardError, NewTask, State, TASK_KINDS, Task};

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Create a task; prints its id
    Add(AddArgs),
    /// List tasks (on Plane: its local mirror, refreshed first when due; exit 1 when the
    /// mirror is empty because Plane could not be reached)
    List {
        /// Only this state (e.g. "Ready for AI" or ready-for-ai)
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one task with its comments
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Move a task to another state
    Move { id: String, state: String },
    /// Add a comment to a task
    Comment { id: String, text: String },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    #[arg(long)]
    title: String,
    /// Which lane takes it
    #[arg(long, default_value = "goal")]
    kind: String,
    /// Repo key from the config (adds a `repo: KEY` label)
    #[arg(long)]
    repo: Option<String>,
    /// Description (Markdown; `## Execution`, `## Goal`, `## Constraints`…)
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// Read the description from a file (`-` for stdin)
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// Initial state
    #[arg(long, default_value = "Ready for AI")]
    state: String,
    /// urgent, high, medium or low
    #[arg(long)]
    priority: Option<String>,
    /// Extra `key: value` label (repeatable)
    #[arg(long = "label")]
    labels: Vec<String>,
}

pub fn run(common: &Common, cmd: TaskCommand) -> anyhow::Result<()> {
    // The description file is read with the caller's rights, before a root caller becomes
    // the service account (which may not be able to read it).
    let description = match &cmd {
        TaskCommand::Add(args) => Some(read_description(args)?),
        _ => None,
    };
    // The board's key first (root-only credentials), then the service user.
    let opener = crate::board::BoardOpener::new(&common.load_config()?)?;
    let board = opener.open(&common.state_dir_for_writing()?)?;
    let board = board.as_ref();
    if matches!(cmd, TaskCommand::List { .. }) {
        // A fresh view of a remote board (no-op for the local one, and cheap when fresh).
        let synced = board.sync();
        if board.is_remote() {
            check_mirror(board, synced)?;
        } else {
            synced?;
        }
    }
    match cmd {
        TaskCommand::Add(args) => add(board, args, description.unwrap_or_default()),
        TaskCommand::List { state, json } => {
            let state = state.as_deref().map(parse_state).transpose()?;
            let tasks = board.list(state)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tasks)?);
            } else {
                print_table(&tasks);
            }
            Ok(())
        }
        TaskCommand::Show { id, json } => show(board, &id, json),
        TaskCommand::Move { id, state } => {
            let state = parse_state(&state)?;
            board.move_to(&id, state).map_err(user)?;
            println!("{id} → {state}");
            Ok(())
        }
        TaskCommand::Comment { id, text } => {
            board.comment(&id, &operator(), &text).map_err(user)?;
            Ok(())
        }
    }
}

/// A remote board is listed from its local mirror: an empty mirror because Plane could
/// not be reached (now, or at the last sync) is an error, not an empty board; a filled one
/// is shown with a warning that it may be out of date.
fn check_mirror(board: &dyn Board, synced: crate::board::BoardResult<()>) -> anyhow::Result<()> {
    let failed = match synced {
        Ok(()) => None,
        Err(e) if e.is_transient() => Some(e.to_string()),
        Err(e) => return Err(e.into()),
    };
    let mirror = crate::board::plane::mirror::sync_state(board.conn())?;
    let Some(error) = failed.or(mirror.last_error) else {
        return Ok(());
    };
    if mirror.items == 0 {
        anyhow::bail!(
            "nothing to list: the local mirror of the Plane board is empty because Plane could \
             not be reached ({error}); check `oc doctor`, then `oc plane-sync`"
        );
    }
    eprintln!(
        "warning: the last sync with Plane failed ({error}); showing the local mirror, which \
         may be out of date"
    );
    Ok(())
}

fn read_description(args: &AddArgs) -> anyhow::Result<String> {
    Ok(match (&args.body, &args.body_file) {
        (Some(body), _) => body.clone(),
        (None, Some(path)) if path.as_os_str() == "-" => std::io::read_to_string(std::io::stdin())?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| UserError(format!("cannot read {}: {e}", path.display())))?,
        (None, None) => String::new(),
    })
}

fn add(board: &dyn Board, args: AddArgs, description: String) -> anyhow::Result<()> {
    if !TASK_KINDS.contains(&args.kind.as_str()) {
        return Err(UserError(format!(
            "unknown kind `{}`; expected one of {TASK_KINDS:?}",
            args.kind
        ))
        .into());
    }
    let priority = match args.priority.as_deref().map(str::to_ascii_lowercase) {
        None => None,
        Some(p) if ["urgent", "high", "medium", "low"].contains(&p.as_str()) => Some(p),
        Some(p) => {
            return Err(UserError(format!(
                "unknown priority `{p}`; expected urgent, high, medium or low"
            ))
            .into());
        }
    };
    let mut labels = vec![format!("task-kind: {}", args.kind)];
    if let Some(repo) = &args.repo {
        labels.push(format!("repo: {repo}"));
    }
    if let Some(p) = &priority {
        labels.push(format!("priority: {p}"));
    }
    for label in args.labels {
        let label = label.trim().to_string();
        if label.is_empty() {
            continue;
        }
        if label.starts_with("task-kind:") || (args.repo.is_some() && label.starts_with("repo:")) {
            return Err(UserError(format!("label `{label}` conflicts with --kind/--repo")).into());
        }
        labels.push(label);
    }
    if !labels.iter().any(|l| l.starts_with("source:")) {
        labels.push("source: manual".into());
    }
    let task = board
        .add(NewTask {
            title: args.title,
            description,
            state: Some(parse_state(&args.state)?),
            labels,
            priority,
            external: None,
        })
        // Both boards refuse a title with nothing visible (board::title); that is the user's.
        .map_err(|e| match e {
            BoardError::Title(empty) => UserError(format!("--title: {empty}")).into(),
            other => anyhow::Error::from(other),
        })?;
    println!("{}", task.id);
    Ok(())
}

fn show(board: &dyn Board, id: &str, json: bool) -> anyhow::Result<()> {
    let task = board.get(id).map_err(user)?;
    let comments = board.comments(id)?;
    let executions = crate::store::executions::for_task(board.conn(), &task.id)?;
    let dependencies = crate::board::dependencies::of(board, &task.description)?;
    // Only a task the lanes could claim is held back by its dependencies.
    let waits_on: Vec<_> = dependencies
        .iter()
        .filter(|d| d.blocks && task.state == State::ReadyForAi)
        .collect();
    if json {
        let mut value = serde_json::to_value(&task)?;
        value["depends_on"] = serde_json::to_value(&dependencies)?;
        value["waits_on"] = serde_json::to_value(&waits_on)?;
        value["comments"] = serde_json::to_value(&comments)?;
        value["executions"] = serde_json::to_value(&executions)?;
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("{}  {}", task.id, task.title);
    println!("state:    {}", task.state);
    if !waits_on.is_empty() {
        let list: Vec<String> = waits_on.iter().map(|d| d.describe()).collect();
        println!(
            "waiting:  not claimed until {} Done or Cancelled: {}",
            if list.len() == 1 {
                "this is"
            } else {
                "these are"
            },
            list.join(", ")
        );
    } else if !dependencies.is_empty() {
        let list: Vec<String> = dependencies.iter().map(|d| d.describe()).collect();
        println!("depends:  {}", list.join(", "));
    }
    println!("priority: {}", task.priority.as_deref().unwrap_or("-"));
    println!("labels:   {}", task.labels.join(", "));
    println!(
        "created:  {}   updated: {}",
        task.created_at, task.updated_at
    );
    if !task.description.trim().is_empty() {
        println!("\n{}", title::printable(task.description.trim_end()));
    }
    for e in &executions {
        println!(
            "run {}: {} via {}, {}, cost ${:.4} ({}){}",
            e.run_id,
            crate::store::rfc3339(e.started_at),
            e.backend,
            e.outcome.as_deref().unwrap_or("running"),
            e.cost_usd.unwrap_or(0.0),
            e.cost_source.as_deref().unwrap_or("-"),
            if e.charged { "" } else { ", not charged" }
        );
    }
    for c in comments {
        println!(
            "\n--- {} · {}\n{}",
            title::printable(&c.author),
            c.created_at,
            title::printable(c.body.trim_end())
        );
    }
    Ok(())
}

fn print_table(tasks: &[Task]) {
    println!(
        "{:<8} {:<13} {:<8} {:<12} {:<8} TITLE",
        "ID", "STATE", "KIND", "REPO", "PRIORITY"
    );
    for t in tasks {
        println!(
            "{:<8} {:<13} {:<8} {:<12} {:<8} {}",
            t.id,
            t.state.name(),
            t.kind().unwrap_or("-"),
            t.label("repo").unwrap_or("-"),
            t.priority.as_deref().unwrap_or("-"),
            t.title
        );
    }
}

fn parse_state(text: &str) -> anyhow::Result<State> {
    State::parse(text).ok_or_else(|| {
        let names: Vec<&str> = State::ALL.iter().map(|s| s.name()).collect();
        UserError(format!("unknown state `{text}`; expected one of {names:?}")).into()
    })
}

fn user(e: BoardError) -> anyhow::Error {
    match e {
        BoardError::NotFound(_) => UserError(e.to_string()).into(),
        other => other.into(),
    }
}

fn operator() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "operator".into())
}
