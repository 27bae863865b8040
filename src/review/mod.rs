//! The review lane (`oc-review`): watches the PRs the goal lane opened on `await_review`
//! repos, with per-PR state in the database (original-behaviour §7, G1's design with G2's
//! fixes). Phases: `self_review` (the agent judges its own diff; CONCERNS → a revision
//! pushed to the PR branch) → `awaiting_ci` (LGTM, waiting for green checks) or
//! `human_review` (humans comment, request changes, approve; timeouts and CI-green merges)
//! → `merged` / `closed`, when the board task goes to Done / Cancelled and a feedback
//! record is stored.

pub mod backfill;
pub mod cycle;
mod human;
pub mod open;
pub mod pass;
pub mod policy;
pub mod store;

pub use backfill::backfill;
pub use cycle::Reviewer;
