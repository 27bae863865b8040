//! What a task waits for: the tasks named on its `depends_on:` lines and whether each one
//! holds it back, as the claim gate sees them (`oc task show`, `oc status`). A task waiting
//! on a dependency is never claimed, so it must say so rather than sit silently in Ready
//! for AI (issue 15 item 2).

use serde::Serialize;

use super::description::depends_on_ids;
use super::{Board, BoardError, BoardResult, State, parse_local_id};

/// One `depends_on:` id of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub id: String,
    /// None when no such task is on this board.
    pub state: Option<State>,
    pub exists: bool,
    /// The claim waits until this one is Done or Cancelled.
    pub blocks: bool,
}

impl Dependency {
    /// `T-3 (Running)` or `T-999 (does not exist)`.
    pub fn describe(&self) -> String {
        match self.state {
            Some(state) => format!("{} ({state})", self.id),
            None if self.blocks => format!("{} (does not exist on this board)", self.id),
            None => format!("{} (not a task id of this board: ignored)", self.id),
        }
    }
}

/// A Ready for AI task that the claim passes over because of its dependencies.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting {
    pub task_id: String,
    pub title: String,
    pub waits_on: Vec<Dependency>,
}

/// The dependencies named in `description`, each with its state.
pub fn of(board: &dyn Board, description: &str) -> BoardResult<Vec<Dependency>> {
    depends_on_ids(description)
        .into_iter()
        .map(|id| {
            let state = match board.get(&id) {
                Ok(task) => Some(task.state),
                Err(BoardError::NotFound(_)) => None,
                Err(e) => return Err(e),
            };
            // The embedded board's claim skips ids that cannot be its own (`T-<n>`).
            let foreign = !board.is_remote() && parse_local_id(&id).is_none();
            Ok(Dependency {
                blocks: !foreign && !state.is_some_and(State::is_terminal),
                exists: state.is_some(),
                state,
                id,
            })
        })
        .collect()
}

/// The Ready for AI tasks held back by a dependency, with what they wait on.
pub fn waiting(board: &dyn Board) -> BoardResult<Vec<Waiting>> {
    let mut out = Vec::new();
    for task in board.list(Some(State::ReadyForAi))? {
        if !task.description.contains("depends_on") {
            continue;
        }
        let waits_on: Vec<Dependency> = of(board, &task.description)?
            .into_iter()
            .filter(|d| d.blocks)
            .collect();
        if !waits_on.is_empty() {
            out.push(Waiting {
                task_id: task.id,
                title: task.title,
                waits_on,
            });
        }
    }
    Ok(out)
}
