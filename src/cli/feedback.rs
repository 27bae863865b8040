//! `oc feedback record|list|show`: outcomes of proposals, for the autonomy pipeline. The
//! review lane records merged/escalated/abandoned itself; this is for outcomes decided
//! outside it.

use clap::{Args, Subcommand};

use super::{Common, UserError};
use crate::review::store::{self, Feedback, OUTCOMES};

#[derive(Debug, Subcommand)]
pub enum FeedbackCommand {
    /// Record the outcome of a task's proposal
    Record(RecordArgs),
    /// The newest records, one line each
    List {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// One record as JSON
    Show { task_id: String },
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    #[arg(long)]
    task_id: String,
    /// merged, escalated or abandoned
    #[arg(long)]
    outcome: String,
    #[arg(long)]
    pr_number: Option<u64>,
    /// Candidate family (autonomy proposals)
    #[arg(long)]
    family: Option<String>,
    /// Proposal confidence, 0 to 1
    #[arg(long)]
    confidence: Option<f64>,
    #[arg(long)]
    note: Option<String>,
    /// Replace an existing record for the task
    #[arg(long)]
    force: bool,
}

pub fn run(common: &Common, cmd: FeedbackCommand) -> anyhow::Result<()> {
    match cmd {
        FeedbackCommand::Record(a) => {
            if !OUTCOMES.contains(&a.outcome.as_str()) {
                return Err(UserError(format!(
                    "unknown outcome {:?}; expected one of {OUTCOMES:?}",
                    a.outcome
                ))
                .into());
            }
            if a.confidence.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
                return Err(UserError("--confidence must be between 0 and 1".into()).into());
            }
            let conn = crate::store::open(&common.state_dir_for_writing()?)?;
            let record = Feedback {
                task_id: a.task_id.clone(),
                pr_number: a.pr_number,
                outcome: a.outcome,
                merge_reason: None,
                self_review_loops: 0,
                human_review_loops: 0,
                family: a.family,
                confidence: a.confidence,
                note: a.note,
                recorded_at: String::new(),
            };
            if !store::record_feedback(&conn, &record, a.force)? {
                return Err(UserError(format!(
                    "task {} already has a feedback record; use --force to replace it",
                    a.task_id
                ))
                .into());
            }
            println!("recorded {} for {}", record.outcome, record.task_id);
            Ok(())
        }
        FeedbackCommand::List { limit, json } => {
            let conn = crate::store::open(&common.state_dir_for_writing()?)?;
            let records = store::feedback_list(&conn, limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&records)?);
                return Ok(());
            }
            println!(
                "{:<22} {:<12} {:<10} {:>6}  REASON",
                "RECORDED", "TASK", "OUTCOME", "PR"
            );
            for f in records {
                println!(
                    "{:<22} {:<12} {:<10} {:>6}  {}",
                    f.recorded_at,
                    f.task_id,
                    f.outcome,
                    f.pr_number.map(|n| format!("#{n}")).unwrap_or_default(),
                    f.merge_reason.unwrap_or_default()
                );
            }
            Ok(())
        }
        FeedbackCommand::Show { task_id } => {
            let conn = crate::store::open(&common.state_dir_for_writing()?)?;
            match store::feedback(&conn, &task_id)? {
                Some(f) => {
                    println!("{}", serde_json::to_string_pretty(&f)?);
                    Ok(())
                }
                None => Err(UserError(format!("no feedback record for {task_id}")).into()),
            }
        }
    }
}
