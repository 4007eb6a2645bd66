//! Retention (docs/configuration.md `retention_days`): a background task that purges finished events
//! and their rule runs, deliveries and attempts once they are older than the retention
//! period. Dead letters and unfinished work are kept. It deletes in small batches, each its
//! own short job on the writer, so ingest never waits behind a long purge.

use std::time::Duration;

use tokio::sync::watch;

use super::Store;
use crate::domain::event::now_millis;

/// How often to look for expired events.
const EVERY: Duration = Duration::from_secs(600);
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Purge every `EVERY` (and once at start) until `shutdown` turns true.
pub async fn run(store: Store, retention_days: u32, mut shutdown: watch::Receiver<bool>) {
    loop {
        match purge_expired(&store, retention_days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                "retention: purged {n} finished event(s) older than {retention_days} day(s)"
            ),
            Err(e) => tracing::warn!("retention: purge failed: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Purge everything older than the retention period, batch by batch; how many events went.
///
/// # Errors
/// When the store cannot take the purge.
pub async fn purge_expired(store: &Store, retention_days: u32) -> Result<usize, super::StoreError> {
    let before = now_millis() - i64::from(retention_days) * DAY_MS;
    let mut total = 0;
    loop {
        let purged = store.purge_finished(before).await?;
        total += purged;
        if purged == 0 {
            return Ok(total);
        }
        // Let waiting webhooks into the writer between batches.
        tokio::task::yield_now().await;
    }
}
