//! The domain: what Switchboard talks about — the canonical event, its ids, the actions rules
//! decide and what they decided, the platforms, where an action goes, and the states work moves
//! through. It depends on no other module of the crate; everything else builds on it.

pub mod actions;
pub mod decision;
pub mod event;
pub mod ids;
pub mod platform;
pub mod status;
pub mod target;
