//! Hot reload (docs/rule-api.md): watch the rules folder and reload on SIGHUP. Changes are
//! debounced (300 ms of quiet, so an editor's truncate-then-write or write-then-rename lands
//! as one reload) and apply to events handled after them. A reload that fails keeps the
//! previous set and logs each problem as `path:line:col: message`.

use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use super::RuleBook;

/// Quiet time after the last change before reloading.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// A watch on the rules folder, started before the server answers its first request so
/// that no save is missed.
pub struct RuleWatcher {
    book: Arc<RuleBook>,
    /// Kept alive for as long as changes should be seen.
    _watcher: Option<notify::RecommendedWatcher>,
    changed: mpsc::UnboundedReceiver<()>,
}

impl RuleWatcher {
    /// Start watching `book`'s folder (events queue until `run`).
    pub fn start(book: Arc<RuleBook>) -> RuleWatcher {
        let (changes, changed) = mpsc::unbounded_channel();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let relevant = match &event {
                // Reading the files (the reload itself does) changes nothing.
                Ok(event) if event.kind.is_access() => false,
                Ok(event) => {
                    event.paths.is_empty()
                        || event
                            .paths
                            .iter()
                            .any(|p| p.extension().is_some_and(|x| x == "rhai"))
                }
                // A watcher error (e.g. an overflow): reload to be safe.
                Err(_) => true,
            };
            if relevant {
                let _ = changes.send(());
            }
        })
        .and_then(|mut watcher| {
            // Recursive: `shadow/` is watched too (docs/rule-api.md).
            watcher.watch(book.dir(), RecursiveMode::Recursive)?;
            Ok(watcher)
        });
        let watcher = match watcher {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                tracing::error!(
                    "cannot watch {} for rule changes ({e}); send SIGHUP to reload",
                    book.dir().display()
                );
                None
            }
        };
        RuleWatcher {
            book,
            _watcher: watcher,
            changed,
        }
    }

    /// Reload on changes and on SIGHUP until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let book = self.book.clone();
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let sighup = async {
                match hangup.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let sighup = std::future::pending::<Option<()>>();
            tokio::select! {
                Some(()) = self.changed.recv() => {
                    // Wait for the burst of events of one save to end.
                    while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, self.changed.recv()).await {}
                    reload(&book, "a change in the rules folder").await;
                }
                _ = sighup => reload(&book, "SIGHUP").await,
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

async fn reload(book: &Arc<RuleBook>, why: &'static str) {
    let book = book.clone();
    let dir = book.dir().display().to_string();
    match tokio::task::spawn_blocking(move || book.reload()).await {
        Ok(Ok(count)) => tracing::info!("rules reloaded after {why}: {count} rule(s) from {dir}"),
        Ok(Err(problems)) => {
            for problem in &problems {
                tracing::error!("{problem}");
            }
            tracing::error!(
                "rules not reloaded after {why}: {} problem(s); the previous rules stay active",
                problems.len()
            );
        }
        Err(e) => tracing::error!("rule reload failed: {e}"),
    }
}
