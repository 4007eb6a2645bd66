//! Supervised background tasks: the rule worker, the executor, retention and the rule
//! watcher each run under `supervise`, which restarts a task that returns or panics (after
//! a short pause, logged, counted in `switchboard_task_restarts_total`) and records whether
//! each is running, so `/readyz` can answer 503 while one is down.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

use crate::metrics::Metrics;

/// How long a stopped task waits before it is started again.
const RESTART_AFTER: Duration = Duration::from_secs(1);

/// Which tasks run, and a handle on each run.
#[derive(Default)]
pub struct Tasks {
    running: Mutex<BTreeMap<&'static str, Option<AbortHandle>>>,
}

impl Tasks {
    /// The tasks that are not running now (empty when all are).
    pub fn stopped(&self) -> Vec<&'static str> {
        self.running
            .lock()
            .expect("task table")
            .iter()
            .filter(|(_, handle)| handle.is_none())
            .map(|(name, _)| *name)
            .collect()
    }

    /// Stop a task's current run as a crash would (for tests of the restart): it is then
    /// restarted like any task that died. Whether the task was running.
    pub fn kill(&self, name: &str) -> bool {
        match self.running.lock().expect("task table").get(name) {
            Some(Some(handle)) => {
                handle.abort();
                true
            }
            _ => false,
        }
    }

    fn set(&self, name: &'static str, handle: Option<AbortHandle>) {
        self.running
            .lock()
            .expect("task table")
            .insert(name, handle);
    }
}

/// Run `make(stop)` as the task `name` until `stop` turns true, restarting it whenever it
/// ends or panics before that.
pub fn supervise<F, Fut>(
    name: &'static str,
    tasks: Arc<Tasks>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
    make: F,
) -> JoinHandle<()>
where
    F: Fn(watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let run = tokio::spawn(make(stop.clone()));
            tasks.set(name, Some(run.abort_handle()));
            let ended = run.await;
            tasks.set(name, None);
            if *stop.borrow() {
                return;
            }
            match ended {
                Ok(()) => tracing::error!(task = name, "a background task stopped; restarting it"),
                Err(e) if e.is_panic() => {
                    tracing::error!(
                        task = name,
                        "a background task panicked; restarting it: {e}"
                    )
                }
                Err(_) => tracing::error!(
                    task = name,
                    "a background task was cancelled; restarting it"
                ),
            }
            metrics.task_restarts.with_label_values(&[name]).inc();
            tokio::select! {
                _ = tokio::time::sleep(RESTART_AFTER) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    })
}
