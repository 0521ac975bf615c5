//! The drift monitor: catches registry-auth drift before pods fail. Inside `pullcheck agent`
//! it watches the pods bound to this node ([`pods`]) and a watch list of images that must stay
//! pullable ([`watchlist`]), and re-probes each image × credential set ([`targets`]) on a
//! jittered schedule within the registry budgets ([`schedule`]), through the probe service
//! ([`crate::service`]: caches, coalescing and budgets are shared with the API). It
//! - exports the verdicts as metrics ([`metrics`]: k8s-image-availability-exporter-compatible
//!   one-hot gauges per workload container, `pullcheck_probe_verdict`, transitions), capped;
//! - diagnoses containers in `ErrImagePull`/`ImagePullBackOff`/`InvalidImageName` after a grace period — their
//!   waiting message classified, a live probe with the pod's identity — and publishes one
//!   `PullDiagnosis` Warning Event on the pod ([`events`], [`notices`]);
//! - publishes a Node event when a watched image stops (or starts again) being pullable;
//! - serves its state at `GET /v1/monitor` ([`status`]), whose `failing` lists the containers
//!   failing to pull and the watched images whose last verdict is not `ok`.
//!
//! Credentials are never merged across namespaces: a pod's target is its image with its own
//! namespace's pull secrets, so a broken secret in one namespace shows even if another's works.

pub mod events;
pub mod metrics;
pub mod notices;
pub mod pods;
pub mod schedule;
pub mod state;
pub mod status;
pub mod targets;
pub mod watchlist;

use crate::classify::runtime_message::{self, MessageDiagnosis};
use crate::classify::Verdict;
use crate::identity::kube_secrets::ObjectRef;
use crate::reference::ImageRef;
use crate::report::summary::Summary;
use crate::service::metrics::ProbeMetrics;
use crate::service::{NodeContext, ProbeRequest, ProbeService, Refusal, RuntimeWatch};
use events::{Notice, Published, Publisher};
use metrics::{MonitorMetrics, VerdictGroup};
use pods::PodStore;
use schedule::Schedule;
use state::{Diagnosed, State};
use status::{MonitorStatus, TargetStatus, WatchListStatus};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use targets::{Creds, TargetKey};
use tokio::task::{JoinHandle, JoinSet};
use watchlist::{Poll, WatchFile};

/// How often the loop looks at its book when nothing else wakes it.
const TICK: Duration = Duration::from_secs(1);
/// How often the watch list file is re-read.
pub const WATCH_LIST_POLL: Duration = Duration::from_secs(10);
/// How often the runtime is asked for `pullcheck_runtime_up`.
const RUNTIME_POLL: Duration = Duration::from_secs(30);
/// Delay before a failed diagnosis or event is tried again.
const RETRY: Duration = Duration::from_secs(30);

/// The monitor's configuration (`--monitor*`, `--watch-list`, `--event-grace`, `--max-series`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Whether it runs at all.
    pub enabled: bool,
    /// Re-probe interval of a pullable target.
    pub interval: Duration,
    /// Probes at once.
    pub concurrency: usize,
    /// How long a container must fail before it is diagnosed and an event published.
    pub event_grace: Duration,
    /// Cap on label sets per metric kind.
    pub max_series: usize,
    /// The watch list file.
    pub watch_list: Option<PathBuf>,
    /// Whether Events are published.
    pub events: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: true,
            interval: Duration::from_secs(600),
            concurrency: 2,
            event_grace: Duration::from_secs(30),
            max_series: 2000,
            watch_list: None,
            events: true,
        }
    }
}

/// A finished piece of background work.
enum Done {
    /// A target's probe: its answer and how long it took.
    Probe(TargetKey, Result<Arc<Summary>, Refusal>, Duration),
    Diagnosis((String, String), Result<Diagnosed, String>),
    Event(Result<Published, String>),
}

/// The running monitor.
pub struct Monitor {
    service: Arc<ProbeService>,
    ctx: Arc<NodeContext>,
    runtime: Arc<RuntimeWatch>,
    node: Option<String>,
    settings: Settings,
    metrics: Arc<MonitorMetrics>,
    probe_metrics: Arc<ProbeMetrics>,
    pods: Arc<PodStore>,
    state: Mutex<State>,
    watch_list: Mutex<Option<WatchFile>>,
    publisher: Option<Arc<Publisher>>,
    pods_not_watched: Option<String>,
    events_created: AtomicU64,
    event_errors: AtomicU64,
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

impl Monitor {
    /// Assembles the monitor; `metrics` are registered by the caller, and `probe_metrics`'
    /// report metrics are pruned by it.
    pub fn new(
        service: Arc<ProbeService>,
        ctx: Arc<NodeContext>,
        runtime: Arc<RuntimeWatch>,
        node: Option<String>,
        settings: Settings,
        (metrics, probe_metrics): (Arc<MonitorMetrics>, Arc<ProbeMetrics>),
    ) -> Arc<Self> {
        let pods_not_watched = match (&ctx.kube, &node) {
            (None, _) => Some(format!(
                "no Kubernetes API: {}",
                ctx.kube_missing.as_deref().unwrap_or("not configured")
            )),
            (_, None) => Some("the node name is not set (--node-name, PULLCHECK_NODE_NAME)".into()),
            _ => None,
        };
        let publisher = match (&ctx.kube, &node, settings.events) {
            (Some(client), Some(node), true) => {
                Some(Arc::new(Publisher::new(client.clone(), node.clone())))
            }
            _ => None,
        };
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            ^ node.as_deref().map_or(0, |n| {
                n.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                })
            });
        Arc::new(Monitor {
            state: Mutex::new(State::new(Schedule::new(settings.interval, seed))),
            watch_list: Mutex::new(settings.watch_list.clone().map(WatchFile::new)),
            service,
            ctx,
            runtime,
            node,
            settings,
            metrics,
            probe_metrics,
            pods: Arc::new(PodStore::default()),
            publisher,
            pods_not_watched,
            events_created: AtomicU64::new(0),
            event_errors: AtomicU64::new(0),
        })
    }

    /// Starts the pod watch (when there is an API and a node name) and the loop.
    pub fn spawn(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        match (&self.ctx.kube, &self.node) {
            (Some(client), Some(node)) => {
                tasks.push(tokio::spawn(pods::watch(
                    client.clone(),
                    node.clone(),
                    self.pods.clone(),
                )));
            }
            _ => tracing::info!(
                reason = self.pods_not_watched.as_deref().unwrap_or(""),
                "monitor: pods are not watched; the watch list still is"
            ),
        }
        let me = self.clone();
        tasks.push(tokio::spawn(async move { me.run().await }));
        let me = self.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let state = me.runtime.state(&me.ctx).await;
                me.metrics
                    .set_runtime_up(state.verdict == crate::classify::Verdict::Ok);
                me.probe_metrics.reports.prune(Instant::now());
                tokio::time::sleep(RUNTIME_POLL).await;
            }
        }));
        tasks
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run(self: Arc<Self>) {
        let mut work: JoinSet<Done> = JoinSet::new();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut watch_polled: Option<Instant> = None;
        // The pods' generation and watch list last reconciled (`None`: never).
        let mut synced: Option<u64> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.pods.changed.notified() => {}
                Some(done) = work.join_next(), if !work.is_empty() => {
                    if let Ok(done) = done {
                        self.finish(done, &mut work);
                    }
                }
            }
            let now = Instant::now();
            if watch_polled.is_none_or(|t| now.duration_since(t) >= WATCH_LIST_POLL) {
                watch_polled = Some(now);
                if self.poll_watch_list() {
                    synced = None;
                }
            }
            if synced != Some(self.pods.generation()) {
                synced = Some(self.sync(now));
            }
            self.start_probes(now, &mut work);
            self.start_diagnoses(now, &mut work);
            self.metrics
                .set_kube_up(self.pods_not_watched.is_none() && self.pods.status().up);
        }
    }

    /// Re-reads the watch list if it changed; `true` when a new list is in force.
    fn poll_watch_list(&self) -> bool {
        let mut wl = self.watch_list.lock().unwrap_or_else(|e| e.into_inner());
        match wl.as_mut() {
            Some(w) => {
                let reloaded = w.poll() == Poll::Reloaded;
                if reloaded {
                    tracing::info!(path = %w.path().display(), entries = w.targets().len(), "watch list loaded");
                }
                self.metrics.set_watch_list_valid(w.error().is_none());
                reloaded
            }
            // No list is not an invalid one.
            None => {
                self.metrics.set_watch_list_valid(true);
                false
            }
        }
    }

    /// Reconciles the book with the pods and the watch list; returns the pods' generation.
    fn sync(&self, now: Instant) -> u64 {
        let (generation, pods) = self.pods.pods();
        let listed: Vec<TargetKey> = self
            .watch_list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|w| w.targets().to_vec())
            .unwrap_or_default();
        let mut st = self.lock();
        let changes = st.sync(&pods, &listed, now);
        for key in &changes.removed_targets {
            self.metrics.remove_verdict(&key.to_string());
        }
        for w in &changes.removed_workloads {
            self.metrics.remove_workload(w);
        }
        for (w, s) in &changes.known_workloads {
            self.metrics.set_workload(w, s.verdict);
        }
        self.metrics.set_targets(st.targets.len());
        generation
    }

    fn params(key: &TargetKey, pod: Option<&ObjectRef>) -> Result<ProbeRequest, Arc<Summary>> {
        let parsed = ImageRef::parse(&key.image).map_err(|e| {
            Arc::new(Summary::bare(
                Verdict::InvalidReference,
                &format!("{:?} is not an image reference: {e}", key.image),
            ))
        })?;
        let secrets = match &key.creds {
            Creds::Listed(s) => s
                .iter()
                .filter_map(|s| ObjectRef::parse("secret", s).ok())
                .collect(),
            _ => Vec::new(),
        };
        Ok(ProbeRequest {
            image: key.image.clone(),
            parsed,
            pod: pod.cloned(),
            secrets,
            platform: None,
            runtime_pull: false,
            fresh: true,
            background: true,
        })
    }

    fn start_probes(&self, now: Instant, work: &mut JoinSet<Done>) {
        let mut st = self.lock();
        for key in st.to_start(now, self.settings.concurrency) {
            let Some(t) = st.targets.get_mut(&key) else {
                continue;
            };
            t.running = true;
            t.probes += 1;
            let params = Self::params(&key, t.pod.as_ref());
            let service = self.service.clone();
            work.spawn(async move {
                let began = Instant::now();
                let result = match params {
                    Ok(p) => service.probe(p).await.map(|a| a.summary),
                    Err(s) => Ok(s),
                };
                Done::Probe(key, result, began.elapsed())
            });
        }
    }

    fn start_diagnoses(&self, now: Instant, work: &mut JoinSet<Done>) {
        let Some(publisher) = self.publisher.clone() else {
            return;
        };
        let mut st = self.lock();
        for id in st.to_diagnose(now, self.settings.event_grace) {
            let Some(f) = st.failing.get_mut(&id) else {
                continue;
            };
            f.running = true;
            let entry = f.clone();
            let service = self.service.clone();
            let publisher = publisher.clone();
            work.spawn(async move {
                let key = TargetKey {
                    image: entry.image.clone(),
                    creds: Creds::Node,
                };
                let result = async {
                    // A diagnosis is someone's failing pod: it is not background work.
                    let params = Self::params(&key, Some(&entry.pod)).map(|mut p| {
                        p.background = false;
                        p
                    });
                    let summary = match params {
                        Ok(p) => service.probe(p).await.map(|a| a.summary).map_err(|e| {
                            format!(
                                "live probe of {} as pod {}: {}",
                                entry.image, entry.pod, e.message
                            )
                        })?,
                        Err(s) => s,
                    };
                    let message: MessageDiagnosis = runtime_message::explain(&entry.message);
                    let notice = notices::pod_notice(&entry, &summary, &message);
                    let name = notice.name();
                    publisher
                        .publish(&notice)
                        .await
                        .map_err(|e| crate::error_text::error_chain(&e))?;
                    Ok(Diagnosed {
                        probe: summary,
                        message_verdict: message.verdict,
                        event: name,
                    })
                }
                .await;
                Done::Diagnosis(id, result)
            });
        }
    }

    fn finish(&self, done: Done, work: &mut JoinSet<Done>) {
        match done {
            Done::Probe(key, result, took) => self.finish_probe(key, result, took, work),
            Done::Diagnosis(id, result) => {
                let mut st = self.lock();
                let Some(f) = st.failing.get_mut(&id) else {
                    return;
                };
                f.running = false;
                match result {
                    Ok(d) => {
                        tracing::info!(pod = %f.pod, container = %f.container, verdict = %d.probe.verdict, event = %d.event, "pull failure diagnosed");
                        self.events_created.fetch_add(1, Ordering::Relaxed);
                        f.diagnosed = Some(d);
                    }
                    Err(why) => {
                        tracing::warn!(pod = %f.pod, container = %f.container, error = %why, "pull failure diagnosis failed; retrying");
                        self.event_errors.fetch_add(1, Ordering::Relaxed);
                        f.retry_at = Some(Instant::now() + RETRY);
                    }
                }
            }
            Done::Event(Ok(Published::Created)) => {
                self.events_created.fetch_add(1, Ordering::Relaxed);
            }
            Done::Event(Ok(Published::Duplicate)) => {}
            Done::Event(Err(why)) => {
                tracing::warn!(error = %why, "node event not published");
                self.event_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn finish_probe(
        &self,
        key: TargetKey,
        result: Result<Arc<Summary>, Refusal>,
        took: Duration,
        work: &mut JoinSet<Done>,
    ) {
        let now = Instant::now();
        let mut st = self.lock();
        let (previous, summary) = {
            let State {
                targets, schedule, ..
            } = &mut *st;
            let Some(t) = targets.get_mut(&key) else {
                return;
            };
            t.running = false;
            t.slow = took >= state::SLOW_PROBE
                || result.as_ref().is_ok_and(|s| s.verdict == Verdict::Timeout);
            match result {
                Err(e) => {
                    t.due = match e.wait() {
                        Some(after) => schedule.after_budget(now, after),
                        None => schedule.next(now, true),
                    };
                    tracing::debug!(target = %key, error = %e.message, "monitor probe gave no verdict");
                    t.error = Some(e.message);
                    return;
                }
                Ok(summary) => {
                    let previous = t.last.as_ref().map(|s| s.verdict);
                    if previous != Some(summary.verdict) {
                        t.since = Some(SystemTime::now());
                    }
                    t.probed_at = Some(SystemTime::now());
                    t.error = None;
                    t.due = schedule.next(now, summary.verdict != Verdict::Ok);
                    t.last = Some(summary.clone());
                    (previous, summary)
                }
            }
        };
        if previous.is_some_and(|p| p != summary.verdict) {
            tracing::warn!(target = %key, from = %previous.map_or("", |p| p.as_str()), to = %summary.verdict, identity = %summary.identity_label, "verdict changed");
        }
        self.metrics.set_verdict(
            &key.to_string(),
            VerdictGroup {
                registry: summary.registry.clone(),
                repository: summary.repository.clone(),
                identity: summary.identity_label.clone(),
            },
            &key.image,
            summary.verdict,
            previous,
        );
        for w in st.workloads_of(&key) {
            self.metrics.set_workload(&w, summary.verdict);
        }
        let listed = st.targets.get(&key).is_some_and(|t| t.listed);
        let since = st
            .targets
            .get(&key)
            .and_then(|t| t.since)
            .map_or(0, epoch_secs);
        drop(st);
        if let (true, Some(publisher), Some(node)) = (listed, &self.publisher, &self.node) {
            if let Some(notice) = notices::node_notice(node, &key, previous, &summary, since) {
                let publisher = publisher.clone();
                work.spawn(async move { Done::Event(publish(&publisher, notice).await) });
            }
        }
    }

    /// The state for `GET /v1/monitor`.
    pub fn status(&self) -> MonitorStatus {
        let now = Instant::now();
        let watch_list = self
            .watch_list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|w| WatchListStatus {
                path: w.path().display().to_string(),
                entries: w.targets().len(),
                error: w.error().map(str::to_string),
            });
        let st = self.lock();
        let mut per_target: std::collections::HashMap<&TargetKey, usize> =
            std::collections::HashMap::new();
        for k in st.workloads.values() {
            *per_target.entry(k).or_default() += 1;
        }
        let targets = st
            .targets
            .iter()
            .map(|(k, t)| TargetStatus {
                image: k.image.clone(),
                credentials: k.creds.to_string(),
                listed: t.listed,
                workloads: per_target.get(k).copied().unwrap_or(0),
                verdict: t.last.as_ref().map(|s| s.verdict),
                reason: t.last.as_ref().map(|s| s.reason.clone()),
                identity: t.last.as_ref().and_then(|s| s.identity.clone()),
                remediation: t.last.as_ref().map(|s| s.remediation.clone()),
                since: t.since.map(rfc3339),
                probed_at: t.probed_at.map(rfc3339),
                next_probe_in_seconds: t.due.saturating_duration_since(now).as_secs(),
                error: t.error.clone(),
                probes: t.probes,
            })
            .collect();
        let failing = status::failing(&st, now, SystemTime::now());
        MonitorStatus {
            enabled: self.settings.enabled,
            node: self.node.clone(),
            pods_not_watched: self.pods_not_watched.clone(),
            kubernetes: self.pods.status(),
            watch_list,
            interval: humantime::format_duration(self.settings.interval).to_string(),
            targets,
            failing,
            events_created: self.events_created.load(Ordering::Relaxed),
            event_errors: self.event_errors.load(Ordering::Relaxed),
        }
    }
}

async fn publish(publisher: &Publisher, notice: Notice) -> Result<Published, String> {
    publisher
        .publish(&notice)
        .await
        .map_err(|e| crate::error_text::error_chain(&e))
}
