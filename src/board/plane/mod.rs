//! The Plane backend's foundation: a REST v1 client (work items, comments, states,
//! labels) with retries, rate-limit accounting and idempotent creation.
//! Facts it follows, with sources: `shared/testdata/plane/README.md`.

pub mod board;
mod claim;
pub mod client;
pub mod error;
pub mod mirror;
pub mod outbox;
pub mod states;
mod transport;
pub mod types;

pub use board::{PlaneBoard, PlaneSettings, SyncReport};
pub use client::{PER_PAGE, PlaneClient};
pub use error::PlaneError;
pub use states::{LabelMap, StateMap};
pub use transport::RetryPolicy;
pub use types::{
    Created, External, NewWorkItem, Page, PlaneComment, PlaneLabel, PlaneState, RateStats,
    WorkItem, WorkItemPatch,
};
