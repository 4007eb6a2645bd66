//! What request handlers share: settings, the store, the rules, metrics and the supervised
//! background tasks.

use std::sync::Arc;

use crate::config::Settings;
use crate::executor::gate::Gates;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::supervisor::Tasks;
use crate::worker::RuleRunner;

/// What request handlers share.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub runner: RuleRunner,
    pub metrics: Arc<Metrics>,
    /// The supervised background tasks, and which of them run.
    pub tasks: Arc<Tasks>,
    /// Each provider's pause and circuit breaker, shared with the executor.
    pub gates: Gates,
}
