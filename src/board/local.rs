//! The embedded board: tasks in the state database. A claim is one transaction that
//! moves Ready for AI → Running only where the row is still Ready, and registers the run.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::description::{depends_on_ids, kind_of};
use super::{
    Board, BoardError, BoardResult, Claim, ClaimRequest, Comment, NewTask, State, Task,
    format_local_id, parse_local_id, repo_of, urgency,
};
use crate::store::{self, now, rfc3339, runs};

pub struct LocalBoard {
    conn: Connection,
}

const TASK_COLUMNS: &str =
    "id, title, state, priority, description, labels, created_at, updated_at";

impl LocalBoard {
    pub fn open(state_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            conn: store::open(state_dir)?,
        })
    }

    /// The database connection, shared with the run and execution records.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    fn id_of(id: &str) -> BoardResult<i64> {
        parse_local_id(id).ok_or_else(|| BoardError::NotFound(id.to_string()))
    }

    fn row_to_task(r: &rusqlite::Row<'_>) -> rusqlite::Result<Task> {
        let state: String = r.get(2)?;
        let labels: String = r.get(5)?;
        Ok(Task {
            id: format_local_id(r.get(0)?),
            title: r.get(1)?,
            state: State::parse(&state).unwrap_or(State::Backlog),
            priority: r.get(3)?,
            description: r.get(4)?,
            labels: serde_json::from_str(&labels).unwrap_or_default(),
            created_at: rfc3339(r.get(6)?),
            updated_at: rfc3339(r.get(7)?),
        })
    }

    /// Claims task `id` if it is still Ready for AI and the run fits the budget (checked in
    /// `tx`, IMMEDIATE, so the decision is one with the claim); a used-up cap is
    /// [`BoardError::OverBudget`].
    fn claim_row(
        tx: &rusqlite::Transaction<'_>,
        id: i64,
        run: &runs::NewRun,
    ) -> BoardResult<Option<Claim>> {
        let repo: Option<Option<String>> = tx
            .query_row(
                "SELECT repo FROM tasks WHERE id = ?1 AND state = ?2",
                params![id, State::ReadyForAi.name()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(repo) = repo else {
            return Ok(None);
        };
        let task_id = format_local_id(id);
        if let Err(over) = runs::insert_within_budget(tx, run, &task_id, repo.as_deref())? {
            return Err(BoardError::OverBudget(over));
        }
        tx.execute(
            "UPDATE tasks SET state = ?2, updated_at = ?3, claimed_by = ?4 WHERE id = ?1",
            params![id, State::Running.name(), now(), run.run_id],
        )?;
        let task = tx.query_row(
            &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"),
            [id],
            Self::row_to_task,
        )?;
        Ok(Some(Claim {
            task,
            run_id: run.run_id.clone(),
        }))
    }

    /// A task's dependencies (`depends_on:` lines) are all Done or Cancelled.
    fn dependencies_done(tx: &rusqlite::Transaction<'_>, description: &str) -> BoardResult<bool> {
        let deps = depends_on_ids(description);
        for dep in deps {
            let Some(n) = parse_local_id(&dep) else {
                continue;
            };
            let state: Option<String> = tx
                .query_row("SELECT state FROM tasks WHERE id = ?1", [n], |r| r.get(0))
                .optional()?;
            let done = state
                .and_then(|s| State::parse(&s))
                .is_some_and(State::is_terminal);
            if !done {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl Board for LocalBoard {
    fn conn(&self) -> &Connection {
        &self.conn
    }

    fn add(&self, task: NewTask) -> BoardResult<Task> {
        let task = task.with_clean_title()?;
        let created = now();
        let state = task.state.unwrap_or(State::ReadyForAi);
        let kind = kind_of(&task.labels, &task.description).map(str::to_string);
        let repo = repo_of(&task.description, &task.labels);
        let rank = urgency::rank_key(task.priority.as_deref(), &task.title, created);
        self.conn.execute(
            "INSERT INTO tasks (title, state, priority, description, labels, kind, repo, created_at, updated_at, rank_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
            params![
                task.title,
                state.name(),
                task.priority,
                task.description,
                serde_json::to_string(&task.labels).expect("labels serialise"),
                kind,
                repo,
                created,
                rank
            ],
        )?;
        self.get(&format_local_id(self.conn.last_insert_rowid()))
    }

    fn get(&self, id: &str) -> BoardResult<Task> {
        let n = Self::id_of(id)?;
        self.conn
            .query_row(
                &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"),
                [n],
                Self::row_to_task,
            )
            .optional()?
            .ok_or_else(|| BoardError::NotFound(id.to_string()))
    }

    fn list(&self, state: Option<State>) -> BoardResult<Vec<Task>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE ?1 IS NULL OR state = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([state.map(State::name)], Self::row_to_task)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn comments(&self, id: &str) -> BoardResult<Vec<Comment>> {
        let n = Self::id_of(id)?;
        let mut stmt = self.conn.prepare(
            "SELECT id, author, body, created_at FROM comments WHERE task_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([n], |r| {
            Ok(Comment {
                id: r.get::<_, i64>(0)?.to_string(),
                author: r.get(1)?,
                body: r.get(2)?,
                created_at: rfc3339(r.get(3)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn comment(&self, id: &str, author: &str, body: &str) -> BoardResult<()> {
        let n = Self::id_of(id)?;
        self.get(id)?;
        self.conn.execute(
            "INSERT INTO comments (task_id, author, body, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![n, author, body, now()],
        )?;
        Ok(())
    }

    fn move_to(&self, id: &str, state: State) -> BoardResult<()> {
        let n = Self::id_of(id)?;
        let changed = self.conn.execute(
            "UPDATE tasks SET state = ?2, updated_at = ?3,
                 claimed_by = CASE WHEN ?2 = 'Running' THEN claimed_by ELSE NULL END
             WHERE id = ?1",
            params![n, state.name(), now()],
        )?;
        if changed == 0 {
            return Err(BoardError::NotFound(id.to_string()));
        }
        Ok(())
    }

    fn move_if(&self, id: &str, from: State, to: State) -> BoardResult<bool> {
        let n = Self::id_of(id)?;
        let changed = self.conn.execute(
            "UPDATE tasks SET state = ?2, updated_at = ?3, claimed_by = NULL WHERE id = ?1 AND state = ?4",
            params![n, to.name(), now(), from.name()],
        )?;
        Ok(changed == 1)
    }

    fn claim_next(&self, request: &ClaimRequest<'_>) -> BoardResult<Option<Claim>> {
        // IMMEDIATE takes the write lock up front, so two lanes cannot both pick the same
        // row; the `state = Ready` guard in the UPDATE makes it safe even without that.
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let claimed = {
            let placeholders = vec!["?"; request.kinds.len()].join(", ");
            let mut stmt = tx.prepare(&format!(
                "SELECT id, repo, description FROM tasks
                 WHERE state = ? AND kind IN ({placeholders})
                 ORDER BY rank_key DESC, id ASC"
            ))?;
            let mut args: Vec<&dyn rusqlite::ToSql> = vec![&"Ready for AI"];
            for k in request.kinds {
                args.push(k);
            }
            let mut rows = stmt.query(args.as_slice())?;
            let mut claimed = None;
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                let repo: Option<String> = row.get(1)?;
                if repo
                    .as_ref()
                    .is_some_and(|r| request.repos_over_budget.contains(r))
                {
                    continue;
                }
                let description: String = row.get(2)?;
                if description.contains("depends_on")
                    && !Self::dependencies_done(&tx, &description)?
                {
                    continue;
                }
                match Self::claim_row(&tx, id, request.run) {
                    // Another lane's run took this repo's last daily execution: next task.
                    Err(BoardError::OverBudget(store::budget::Exhausted::Repo { .. })) => {}
                    Err(e) => return Err(e),
                    Ok(claim) => {
                        claimed = claim;
                        break;
                    }
                }
            }
            claimed
        };
        tx.commit()?;
        Ok(claimed)
    }

    fn claim(&self, id: &str, run: &runs::NewRun) -> BoardResult<Option<Claim>> {
        let n = Self::id_of(id)?;
        self.get(id)?;
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let claimed = Self::claim_row(&tx, n, run)?;
        tx.commit()?;
        Ok(claimed)
    }

    fn release(&self, id: &str, run_id: &str, to: State) -> BoardResult<bool> {
        let n = Self::id_of(id)?;
        let changed = self.conn.execute(
            "UPDATE tasks SET state = ?2, updated_at = ?3, claimed_by = NULL
             WHERE id = ?1 AND state = 'Running' AND claimed_by = ?4",
            params![n, to.name(), now(), run_id],
        )?;
        Ok(changed == 1)
    }

    fn stale_running(&self, older_than: i64) -> BoardResult<Vec<Task>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks t
             WHERE state = 'Running' AND updated_at < ?1
               AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.run_id = t.claimed_by AND r.finished_at IS NULL)
             ORDER BY id"
        ))?;
        let rows = stmt.query_map([older_than], Self::row_to_task)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
