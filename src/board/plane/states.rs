//! The project's states and labels, keyed the way the suite uses them: states by name
//! (case-insensitive, never by group or slug), labels by exact name.

use std::collections::HashMap;

use super::error::PlaneError;
use super::types::{PlaneLabel, PlaneState};
use crate::board::State;

/// The project's states, resolved to the suite's [`State`] by name.
#[derive(Debug, Clone, Default)]
pub struct StateMap {
    states: Vec<PlaneState>,
}

impl StateMap {
    pub fn new(states: Vec<PlaneState>) -> Self {
        Self { states }
    }

    pub fn all(&self) -> &[PlaneState] {
        &self.states
    }

    /// The Plane state whose name matches `state`, case-insensitively.
    pub fn get(&self, state: State) -> Option<&PlaneState> {
        self.states
            .iter()
            .find(|s| State::parse(&s.name) == Some(state))
    }

    pub fn id_of(&self, state: State) -> Result<&str, PlaneError> {
        self.get(state)
            .map(|s| s.id.as_str())
            .ok_or_else(|| PlaneError::MissingState(state.name().to_string()))
    }

    /// The suite's state for a Plane state id; `None` for ids or names it does not know.
    pub fn state_of(&self, id: &str) -> Option<State> {
        let s = self.states.iter().find(|s| s.id == id)?;
        State::parse(&s.name)
    }

    /// The states every lane needs that the project lacks (`Awaiting Input` is optional).
    pub fn missing(&self) -> Vec<State> {
        State::ALL
            .into_iter()
            .filter(|s| *s != State::AwaitingInput && self.get(*s).is_none())
            .collect()
    }
}

/// Label ids ↔ names.
#[derive(Debug, Clone, Default)]
pub struct LabelMap {
    by_id: HashMap<String, String>,
    by_name: HashMap<String, String>,
}

impl LabelMap {
    pub fn new(labels: Vec<PlaneLabel>) -> Self {
        let mut map = Self::default();
        for l in labels {
            map.insert(l);
        }
        map
    }

    pub fn insert(&mut self, label: PlaneLabel) {
        self.by_name.insert(label.name.clone(), label.id.clone());
        self.by_id.insert(label.id, label.name);
    }

    pub fn name_of(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(String::as_str)
    }

    pub fn id_of(&self, name: &str) -> Option<&str> {
        self.by_name.get(name.trim()).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}
