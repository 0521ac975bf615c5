//! Graceful stop: SIGTERM or SIGINT ([`signal`]) triggers [`Shutdown`]; readiness turns 503,
//! listeners stop accepting, in-flight requests (and the probes they wait for) get until
//! `--shutdown-grace` to finish ([`drain`]); after that the process exits anyway.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The shared stop flag.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            tx: Arc::new(watch::channel(false).0),
        }
    }
}

impl Shutdown {
    /// Starts the shutdown (idempotent).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Whether it started.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once it has started.
    pub async fn triggered(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so this only ends when the flag is set.
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// Waits for SIGTERM or SIGINT and names it.
pub async fn signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot install signal handlers; stop the agent with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// How draining ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Everything finished in time.
    Clean,
    /// The deadline passed first; what was left is abandoned.
    DeadlinePassed,
}

/// Runs `servers` (which finish once their connections are done) until `grace` has passed.
pub async fn drain(servers: impl Future<Output = ()>, grace: Duration) -> Drained {
    match tokio::time::timeout(grace, servers).await {
        Ok(()) => Drained::Clean,
        Err(_) => Drained::DeadlinePassed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn trigger_wakes_waiters() {
        let s = Shutdown::default();
        assert!(!s.is_triggered());
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.triggered().await }
        });
        s.trigger();
        waiter.await.unwrap();
        assert!(s.is_triggered());
        // Waiting after the fact returns at once.
        s.triggered().await;
    }

    #[tokio::test]
    async fn drain_has_a_deadline() {
        let slow = tokio::time::sleep(Duration::from_secs(60));
        assert_eq!(
            drain(slow, Duration::from_millis(20)).await,
            Drained::DeadlinePassed
        );
        assert_eq!(
            drain(async {}, Duration::from_millis(20)).await,
            Drained::Clean
        );
    }
}
