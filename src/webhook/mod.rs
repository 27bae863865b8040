//! GitHub CI webhook: signature check, event recording, wake-ups.
