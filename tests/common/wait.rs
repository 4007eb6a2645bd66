//! Waiting for something to become true: poll a condition (a `bool`, or an `Option` whose
//! `Some` value is handed back) until it holds, and panic naming what never happened once a
//! generous timeout passes. The timeout is a safety net, never a measurement: a test that
//! needs "nothing else happened" waits for a later, positive sign instead.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long a condition may take by default: generous, so that a busy two-core machine
/// does not fail a test that is only slow.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(20);

/// What a condition returns: `true`/`Some(value)` when it holds.
pub trait Check {
    type Output;
    fn holds(self) -> Option<Self::Output>;
}

impl Check for bool {
    type Output = ();
    fn holds(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Check for Option<T> {
    type Output = T;
    fn holds(self) -> Option<T> {
        self
    }
}

/// A description computed only when it is shown (e.g. a log read at the moment of failure).
pub struct Lazy<F: Fn() -> String>(pub F);

impl<F: Fn() -> String> fmt::Display for Lazy<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&(self.0)())
    }
}

/// Poll `condition` (blocking the thread between polls) until it holds; its value.
///
/// # Panics
/// After `timeout`, naming `what`.
#[track_caller]
pub fn wait_until<C: Check>(
    mut condition: impl FnMut() -> C,
    what: impl fmt::Display,
    timeout: Duration,
) -> C::Output {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = condition().holds() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// Poll the future `condition` makes (sleeping asynchronously between polls) until it
/// holds; its value.
///
/// # Panics
/// After `timeout`, naming `what`.
pub async fn wait_until_async<C, F, Fut>(
    mut condition: F,
    what: impl fmt::Display,
    timeout: Duration,
) -> C::Output
where
    C: Check,
    F: FnMut() -> Fut,
    Fut: Future<Output = C>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = condition().await.holds() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}
