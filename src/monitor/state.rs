//! The monitor's book-keeping, without I/O: the targets (image × credential set) with their
//! schedule and last answer, the workload containers exported under each, and the containers
//! failing to pull with their grace period. [`State::sync`] reconciles the book with the pods
//! and the watch list; what changed for metrics is returned, not done here.

use super::schedule::Schedule;
use super::targets::{Creds, PodView, TargetKey, Workload};
use crate::identity::kube_secrets::ObjectRef;
use crate::report::summary::Summary;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// One target's state.
#[derive(Debug, Clone)]
pub struct Target {
    /// When it is probed next.
    pub due: Instant,
    /// A probe is running.
    pub running: bool,
    /// A pod whose identity the probe uses (`None`: node credentials or listed secrets).
    pub pod: Option<ObjectRef>,
    /// From the watch list.
    pub listed: bool,
    /// The last answer.
    pub last: Option<Arc<Summary>>,
    /// When the current verdict was first seen.
    pub since: Option<SystemTime>,
    /// When it was last probed.
    pub probed_at: Option<SystemTime>,
    /// Why the last attempt gave no verdict (budget spent, pod gone, API down).
    pub error: Option<String>,
    /// Probes sent.
    pub probes: u64,
    /// Its last probe was slow ([`SLOW_PROBE`] or more, or cut by its time limit): slow
    /// targets never hold the last probe slot ([`State::to_start`]).
    pub slow: bool,
}

/// A probe that took this long is slow: a registry that answers at all answers a probe in
/// well under a second, so a slow one is a registry holding the probe to its time limit.
pub const SLOW_PROBE: Duration = Duration::from_secs(2);

/// A container the kubelet cannot pull for, and what the monitor did about it.
#[derive(Debug, Clone)]
pub struct FailingEntry {
    /// The pod.
    pub pod: ObjectRef,
    /// Its UID.
    pub uid: String,
    /// The container and its field path.
    pub container: String,
    /// `spec.containers{…}` etc.
    pub field_path: String,
    /// Its image.
    pub image: String,
    /// `ErrImagePull`/`ImagePullBackOff`.
    pub reason: String,
    /// The waiting message.
    pub message: String,
    /// First seen failing.
    pub first_seen: Instant,
    /// A diagnosis is running.
    pub running: bool,
    /// The verdicts of the last diagnosis (live probe, message), and the event name.
    pub diagnosed: Option<Diagnosed>,
    /// When to try again after a failed diagnosis or event.
    pub retry_at: Option<Instant>,
}

/// A finished diagnosis of a failing container.
#[derive(Debug, Clone)]
pub struct Diagnosed {
    /// The live probe's answer.
    pub probe: Arc<Summary>,
    /// The message classifier's verdict.
    pub message_verdict: crate::classify::Verdict,
    /// The event created (or found).
    pub event: String,
}

/// What [`State::sync`] changed.
#[derive(Debug, Default)]
pub struct Changes {
    /// Targets no longer wanted (their series go).
    pub removed_targets: Vec<TargetKey>,
    /// Workload containers gone (their series go).
    pub removed_workloads: Vec<Workload>,
    /// New workload containers whose target already has an answer.
    pub known_workloads: Vec<(Workload, Arc<Summary>)>,
}

/// The book.
#[derive(Debug)]
pub struct State {
    /// Targets by key.
    pub targets: BTreeMap<TargetKey, Target>,
    /// Workload containers and their target.
    pub workloads: HashMap<Workload, TargetKey>,
    /// Failing containers by (pod UID, container).
    pub failing: HashMap<(String, String), FailingEntry>,
    /// The schedule.
    pub schedule: Schedule,
}

impl State {
    /// An empty book.
    pub fn new(schedule: Schedule) -> Self {
        State {
            targets: BTreeMap::new(),
            workloads: HashMap::new(),
            failing: HashMap::new(),
            schedule,
        }
    }

    /// Reconciles with the pods and the watch list at `now`.
    pub fn sync(&mut self, pods: &[PodView], listed: &[TargetKey], now: Instant) -> Changes {
        let mut changes = Changes::default();
        let mut wanted: BTreeMap<TargetKey, (Option<ObjectRef>, bool)> = BTreeMap::new();
        let mut workloads: HashMap<Workload, TargetKey> = HashMap::new();
        let mut failing_now: HashSet<(String, String)> = HashSet::new();
        for pod in pods {
            let me = ObjectRef {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
            };
            for (w, key) in &pod.containers {
                let entry = wanted.entry(key.clone()).or_insert((None, false));
                if entry.0.is_none() {
                    entry.0 = Some(me.clone());
                }
                workloads.insert(w.clone(), key.clone());
            }
            for f in &pod.failing {
                let id = (pod.uid.clone(), f.container.clone());
                failing_now.insert(id.clone());
                let e = self.failing.entry(id).or_insert_with(|| FailingEntry {
                    pod: me.clone(),
                    uid: pod.uid.clone(),
                    container: f.container.clone(),
                    field_path: f.field_path.clone(),
                    image: f.image.clone(),
                    reason: f.reason.clone(),
                    message: f.message.clone(),
                    first_seen: now,
                    running: false,
                    diagnosed: None,
                    retry_at: None,
                });
                e.reason = f.reason.clone();
                if !f.message.is_empty() {
                    e.message = f.message.clone();
                }
            }
        }
        for key in listed {
            wanted.entry(key.clone()).or_insert((None, false)).1 = true;
        }
        self.failing.retain(|id, _| failing_now.contains(id));

        let gone: Vec<TargetKey> = self
            .targets
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for k in gone {
            self.targets.remove(&k);
            changes.removed_targets.push(k);
        }
        for (key, (pod, is_listed)) in wanted {
            match self.targets.get_mut(&key) {
                Some(t) => {
                    // Keep the representative pod while it exists; else take the new one.
                    if pod.is_some() && !pods_have(pods, t.pod.as_ref()) {
                        t.pod = pod;
                    }
                    t.listed = is_listed;
                }
                None => {
                    let due = self.schedule.first(now);
                    let pod = match &key.creds {
                        Creds::Pod { .. } => pod,
                        _ => None,
                    };
                    self.targets.insert(
                        key,
                        Target {
                            due,
                            running: false,
                            pod,
                            listed: is_listed,
                            last: None,
                            since: None,
                            probed_at: None,
                            error: None,
                            probes: 0,
                            slow: false,
                        },
                    );
                }
            }
        }
        for w in self.workloads.keys() {
            if !workloads.contains_key(w) {
                changes.removed_workloads.push(w.clone());
            }
        }
        for (w, key) in &workloads {
            if self.workloads.get(w) != Some(key) {
                if let Some(s) = self.targets.get(key).and_then(|t| t.last.clone()) {
                    changes.known_workloads.push((w.clone(), s));
                }
            }
        }
        self.workloads = workloads;
        changes
    }

    /// Targets due at `now` and not running, soonest first.
    pub fn due(&self, now: Instant) -> Vec<TargetKey> {
        let mut due: Vec<(&TargetKey, Instant)> = self
            .targets
            .iter()
            .filter(|(_, t)| !t.running && t.due <= now)
            .map(|(k, t)| (k, t.due))
            .collect();
        due.sort_by_key(|(_, at)| *at);
        due.into_iter().map(|(k, _)| k.clone()).collect()
    }

    /// The due targets to start now with `slots` probes allowed at once, soonest first: slow
    /// targets take at most all but one of the slots, so one registry answering just in time
    /// cannot stop the others being re-probed (with one slot, nothing is kept back).
    pub fn to_start(&self, now: Instant, slots: usize) -> Vec<TargetKey> {
        let running = self.targets.values().filter(|t| t.running);
        let (mut busy, mut slow) = (0usize, 0usize);
        for t in running {
            busy += 1;
            slow += usize::from(t.slow);
        }
        let slow_slots = slots.saturating_sub(1).max(usize::from(slots == 1));
        let mut out = Vec::new();
        for key in self.due(now) {
            if busy >= slots {
                break;
            }
            let is_slow = self.targets.get(&key).is_some_and(|t| t.slow);
            if is_slow && slow >= slow_slots {
                continue;
            }
            busy += 1;
            slow += usize::from(is_slow);
            out.push(key);
        }
        out
    }

    /// Failing containers whose grace period passed and that need a diagnosis.
    pub fn to_diagnose(&self, now: Instant, grace: Duration) -> Vec<(String, String)> {
        self.failing
            .iter()
            .filter(|(_, f)| {
                !f.running
                    && f.diagnosed.is_none()
                    && now.saturating_duration_since(f.first_seen) >= grace
                    && f.retry_at.is_none_or(|r| r <= now)
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The workload containers probed under `key`.
    pub fn workloads_of(&self, key: &TargetKey) -> Vec<Workload> {
        self.workloads
            .iter()
            .filter(|(_, k)| *k == key)
            .map(|(w, _)| w.clone())
            .collect()
    }
}

fn pods_have(pods: &[PodView], r: Option<&ObjectRef>) -> bool {
    r.is_some_and(|r| {
        pods.iter()
            .any(|p| p.namespace == r.namespace && p.name == r.name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::targets::Failing;

    fn pod(ns: &str, name: &str, secret: &str, failing: bool) -> PodView {
        let key = TargetKey {
            image: "r/app:1".into(),
            creds: Creds::Pod {
                namespace: ns.into(),
                secrets: vec![secret.into()],
            },
        };
        PodView {
            uid: format!("{ns}-{name}"),
            namespace: ns.into(),
            name: name.into(),
            containers: vec![(
                Workload {
                    namespace: ns.into(),
                    kind: "deployment".into(),
                    name: "app".into(),
                    container: "app".into(),
                    image: "r/app:1".into(),
                },
                key,
            )],
            failing: if failing {
                vec![Failing {
                    container: "app".into(),
                    field_path: "spec.containers{app}".into(),
                    image: "r/app:1".into(),
                    reason: "ErrImagePull".into(),
                    message: "m".into(),
                }]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn slow_targets_never_hold_the_last_slot() {
        let mut s = State::new(Schedule::new(Duration::from_secs(600), 1));
        let t0 = Instant::now();
        let views: Vec<PodView> = (0..4)
            .map(|i| pod(&format!("ns{i}"), "p", "s", false))
            .collect();
        s.sync(&views, &[], t0);
        let later = t0 + Duration::from_secs(3600);
        let keys = s.due(later);
        assert_eq!(keys.len(), 4);
        for k in &keys[..3] {
            s.targets.get_mut(k).unwrap().slow = true;
        }
        // Two slots: one slow target may run, and the fast one gets the other.
        let start = s.to_start(later, 2);
        assert_eq!(start, vec![keys[0].clone(), keys[3].clone()]);
        // A slow one already running: only the fast one starts.
        s.targets.get_mut(&keys[0]).unwrap().running = true;
        assert_eq!(s.to_start(later, 2), vec![keys[3].clone()]);
        // One slot: nothing is kept back.
        s.targets.get_mut(&keys[0]).unwrap().running = false;
        assert_eq!(s.to_start(later, 1), vec![keys[0].clone()]);
        // No slow targets: every slot is used.
        for k in &keys {
            s.targets.get_mut(k).unwrap().slow = false;
        }
        assert_eq!(s.to_start(later, 3).len(), 3);
    }

    #[test]
    fn namespaces_are_separate_targets_and_replicas_share_one() {
        let mut s = State::new(Schedule::new(Duration::from_secs(600), 1));
        let t0 = Instant::now();
        let pods = [
            pod("a", "app-1", "pull", false),
            pod("a", "app-2", "pull", false),
            pod("b", "app-1", "pull", false),
        ];
        s.sync(&pods, &[], t0);
        assert_eq!(s.targets.len(), 2, "one per namespace, replicas shared");
        assert_eq!(s.workloads.len(), 2);
        let ch = s.sync(&pods[..1], &[], t0);
        assert_eq!(ch.removed_targets.len(), 1);
        assert_eq!(ch.removed_workloads.len(), 1);
    }

    #[test]
    fn representative_pod_moves_when_it_goes() {
        let mut s = State::new(Schedule::new(Duration::from_secs(600), 1));
        let t0 = Instant::now();
        s.sync(
            &[
                pod("a", "app-1", "pull", false),
                pod("a", "app-2", "pull", false),
            ],
            &[],
            t0,
        );
        let rep = |s: &State| s.targets.values().next().unwrap().pod.clone().unwrap().name;
        let first = rep(&s);
        let other = if first == "app-1" { "app-2" } else { "app-1" };
        s.sync(&[pod("a", other, "pull", false)], &[], t0);
        assert_eq!(rep(&s), other);
    }

    #[test]
    fn failing_containers_wait_out_the_grace_period() {
        let mut s = State::new(Schedule::new(Duration::from_secs(600), 1));
        let t0 = Instant::now();
        s.sync(&[pod("a", "p", "pull", true)], &[], t0);
        let grace = Duration::from_secs(30);
        assert!(s.to_diagnose(t0, grace).is_empty());
        assert_eq!(s.to_diagnose(t0 + grace, grace).len(), 1);
        s.sync(&[pod("a", "p", "pull", false)], &[], t0 + grace);
        assert!(s.failing.is_empty(), "a recovered container is forgotten");
    }

    #[test]
    fn watch_list_targets_are_due_within_the_spread() {
        let mut s = State::new(Schedule::new(Duration::from_secs(600), 1));
        let t0 = Instant::now();
        let key = TargetKey {
            image: "r/base:1".into(),
            creds: Creds::Node,
        };
        s.sync(&[], std::slice::from_ref(&key), t0);
        assert!(s.due(t0 + Duration::from_secs(61)).contains(&key));
        assert!(s.targets[&key].listed);
    }
}
