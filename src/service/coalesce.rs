//! Identical probes in flight share one upstream exchange ([`Coalescer::run`]): the first caller
//! (the leader) starts the work in a task of its own, so it finishes and is shared even when
//! that caller goes away; later callers with the same key wait for the same result. The work
//! stores its result wherever it should be kept *before* the flight is removed, so a caller
//! arriving in between finds either the flight or the stored result.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The work ended without a result (it panicked or was cancelled). Retryable.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("the shared probe ended without a result")]
pub struct Abandoned;

/// How a caller took part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Started the work.
    Leader,
    /// Joined work already in flight.
    Follower,
}

type Flights<K, V> = Arc<Mutex<HashMap<K, watch::Receiver<Option<V>>>>>;

/// Work in flight, by key.
#[derive(Debug)]
pub struct Coalescer<K, V> {
    flights: Flights<K, V>,
}

impl<K, V> Default for Coalescer<K, V> {
    fn default() -> Self {
        Coalescer {
            flights: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

/// Removes the flight when the work ends, however it ends.
struct Landing<K: Hash + Eq, V> {
    flights: Flights<K, V>,
    key: Option<K>,
}

impl<K: Hash + Eq, V> Drop for Landing<K, V> {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            self.flights
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&k);
        }
    }
}

impl<K, V> Coalescer<K, V>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The result of the flight for `key`, starting it with `work()` when there is none.
    pub async fn run<F, Fut>(&self, key: K, work: F) -> Result<(V, Role), Abandoned>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V> + Send + 'static,
    {
        let (mut rx, role) = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            match flights.get(&key) {
                Some(rx) => (rx.clone(), Role::Follower),
                None => {
                    let (tx, rx) = watch::channel(None);
                    flights.insert(key.clone(), rx.clone());
                    let landing = Landing {
                        flights: self.flights.clone(),
                        key: Some(key),
                    };
                    let fut = work();
                    tokio::spawn(async move {
                        let value = fut.await;
                        // Receivers exist (one is in the map until `landing` drops).
                        let _ = tx.send(Some(value));
                        drop(landing);
                    });
                    (rx, Role::Leader)
                }
            }
        };
        let value = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| Abandoned)?
            .clone()
            .ok_or(Abandoned)?;
        Ok((value, role))
    }

    /// Flights now.
    pub fn in_flight(&self) -> usize {
        self.flights.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn identical_calls_share_one_run() {
        let c = Arc::new(Coalescer::<&'static str, usize>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (c, runs) = (c.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                c.run("k", move || async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    runs.fetch_add(1, Ordering::SeqCst) + 41
                })
                .await
            }));
        }
        let mut leaders = 0;
        for t in tasks {
            let (v, role) = t.await.unwrap().unwrap();
            assert_eq!(v, 41);
            leaders += usize::from(role == Role::Leader);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(leaders, 1);
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_panicking_flight_is_abandoned_and_removed() {
        let c = Coalescer::<u8, u8>::default();
        let r = c
            .run(1, || async {
                if true {
                    panic!("boom");
                }
                0
            })
            .await;
        assert_eq!(r, Err(Abandoned));
        assert_eq!(c.in_flight(), 0);
        assert_eq!(c.run(1, || async { 7 }).await, Ok((7, Role::Leader)));
    }
}
