//! Asking many nodes at once: at most `concurrency` in flight, each within its own time limit,
//! results in input order, progress reported as each finishes. Entry point: [`fan_out`];
//! [`ask_image`] is the per-node step of `kubectl pullcheck image`.

use super::discovery::{AgentPod, Agents, ClusterNode};
use super::outcome::{NodeResult, NodeStatus};
use super::transport::AgentClient;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `task` on every item with at most `concurrency` running, calling `progress(done,
/// total)` after each; results come back in the order of `items`.
pub async fn fan_out<T, R, F, Fut>(
    items: Vec<T>,
    concurrency: usize,
    task: F,
    mut progress: impl FnMut(usize, usize),
) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let total = items.len();
    let limit = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let task = Arc::new(task);
    let mut set = tokio::task::JoinSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let (limit, task) = (limit.clone(), task.clone());
        set.spawn(async move {
            // The semaphore is never closed.
            let _permit = limit.acquire_owned().await.ok();
            (i, task(item).await)
        });
    }
    let mut out: Vec<Option<R>> = (0..total).map(|_| None).collect();
    let mut done = 0;
    while let Some(joined) = set.join_next().await {
        // A task only panics on a bug; its slot stays empty and is dropped below.
        if let Ok((i, r)) = joined {
            out[i] = Some(r);
        }
        done += 1;
        progress(done, total);
    }
    out.into_iter().flatten().collect()
}

/// What `image` asks each node.
#[derive(Clone)]
pub struct ImageQuestion {
    /// The agents' client.
    pub client: AgentClient,
    /// The agent pod of each node.
    pub agents: Arc<Agents>,
    /// `/v1/probe?…` path and query.
    pub path: String,
    /// Per-node time limit.
    pub timeout: Duration,
}

/// Asks one node's agent, within the time limit; a node without a usable agent is not asked.
pub async fn ask_image(q: &ImageQuestion, node: ClusterNode) -> NodeResult {
    let Some(agent) = q.agents.on(&node.name).cloned() else {
        let msg = format!("no agent pod on node {}", node.name);
        return NodeResult::not_asked(node, None, NodeStatus::NoAgent, msg);
    };
    if !agent.usable() {
        return not_ready(node, &agent);
    }
    let start = Instant::now();
    match tokio::time::timeout(q.timeout, q.client.get(&agent, &q.path)).await {
        Ok(answer) => NodeResult::from_answer(node, &agent, answer, start.elapsed()),
        Err(_) => timed_out(node, &agent, q.timeout),
    }
}

/// The result for a node whose agent pod is not Running and Ready.
pub fn not_ready(node: ClusterNode, agent: &AgentPod) -> NodeResult {
    let msg = format!(
        "agent pod {} on node {} is not ready (phase {})",
        agent.id(),
        node.name,
        agent.phase
    );
    NodeResult::not_asked(node, Some(agent), NodeStatus::AgentNotReady, msg)
}

/// The result for a node that did not answer within `limit`.
pub fn timed_out(node: ClusterNode, agent: &AgentPod, limit: Duration) -> NodeResult {
    let msg = format!(
        "node {} did not answer in {} (port-forward to {} and the agent's probe; raise --timeout if the registry is slow)",
        node.name,
        humantime::format_duration(limit),
        agent.id()
    );
    let mut r = NodeResult::not_asked(node, Some(agent), NodeStatus::Timeout, msg);
    r.duration_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_concurrency_in_flight_and_results_in_input_order() {
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (n, p) = (now.clone(), peak.clone());
        let mut seen = Vec::new();
        let out = fan_out(
            (0..50u64).collect(),
            7,
            move |i| {
                let (n, p) = (n.clone(), p.clone());
                async move {
                    let c = n.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(c, Ordering::SeqCst);
                    // Later items finish first.
                    tokio::time::sleep(Duration::from_millis(50 - i)).await;
                    n.fetch_sub(1, Ordering::SeqCst);
                    i * 2
                }
            },
            |done, total| seen.push((done, total)),
        )
        .await;
        assert_eq!(out, (0..50).map(|i| i * 2).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 7, "peak {peak:?}");
        assert!(peak.load(Ordering::SeqCst) >= 2, "ran in parallel");
        assert_eq!(seen.len(), 50);
        assert_eq!(seen.last(), Some(&(50, 50)));
    }

    #[tokio::test]
    async fn nothing_to_do() {
        let out: Vec<u8> = fan_out(Vec::<u8>::new(), 4, |x| async move { x }, |_, _| {}).await;
        assert!(out.is_empty());
    }
}
