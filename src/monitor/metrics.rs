//! The monitor's metrics, capped so a busy node cannot explode cardinality:
//! - k8s-image-availability-exporter's one-hot gauges, same names and labels, so its alerts
//!   work unchanged: `k8s_image_availability_exporter_<mode>{namespace,container,image,kind,name}`
//!   for each [`IaeMode`] (1 for the workload container's current mode, 0 for the others);
//! - `pullcheck_probe_verdict{registry,repository,identity,verdict,image}`: 1 for each watched
//!   reference's current verdict, one series per reference (`image`, as the pod spec or watch
//!   list has it) and identity, so tags of one repository never hide each other (the previous
//!   verdict's series is removed on a change);
//! - `pullcheck_verdict_transitions_total{registry,repository,from,to}`;
//! - `pullcheck_monitor_targets`, `pullcheck_monitor_kubernetes_up`,
//!   `pullcheck_monitor_watch_list_valid`, `pullcheck_runtime_up`,
//!   `pullcheck_monitor_series_dropped_total{family}`.
//!
//! At most `max_series` workload label sets and as many verdict series are kept; past that,
//! new ones are dropped and counted in `pullcheck_monitor_series_dropped_total{family}`.
//!
//! The agent registers these in a registry whose every series carries `node` (its
//! `--node-name`), so alerts and dashboards group by node without a scrape-side relabel.

use super::targets::Workload;
use crate::classify::Verdict;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::Mutex;

/// k8s-image-availability-exporter's availability modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IaeMode {
    /// Pullable.
    Available,
    /// The tag, digest or repository does not exist.
    Absent,
    /// Not an image this node can use (reference, platform, manifest format, digest).
    BadImageFormat,
    /// The registry cannot be reached or fails (network, TLS, 5xx, rate limit).
    RegistryUnavailable,
    /// No or rejected credentials (401).
    AuthenticationFailure,
    /// Valid identity without permission (403).
    AuthorizationFailure,
    /// Anything else (node identity, runtime, disk, unknown).
    UnknownError,
}

impl IaeMode {
    /// Every mode, in k8s-image-availability-exporter's order.
    pub const ALL: [IaeMode; 7] = [
        IaeMode::Available,
        IaeMode::Absent,
        IaeMode::BadImageFormat,
        IaeMode::RegistryUnavailable,
        IaeMode::AuthenticationFailure,
        IaeMode::AuthorizationFailure,
        IaeMode::UnknownError,
    ];

    /// The metric name suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            IaeMode::Available => "available",
            IaeMode::Absent => "absent",
            IaeMode::BadImageFormat => "bad_image_format",
            IaeMode::RegistryUnavailable => "registry_unavailable",
            IaeMode::AuthenticationFailure => "authentication_failure",
            IaeMode::AuthorizationFailure => "authorization_failure",
            IaeMode::UnknownError => "unknown_error",
        }
    }

    /// The mode of a verdict. `not_found_or_unauthorized` (Docker Hub's 401 for a repository
    /// that may not exist) is an authentication failure, as the exporter reports that 401.
    pub fn of(v: Verdict) -> Self {
        use Verdict::*;
        match v {
            Ok => IaeMode::Available,
            ManifestUnknown | RepositoryUnknown => IaeMode::Absent,
            InvalidReference | PlatformMismatch | UnsupportedManifest | DigestMismatch => {
                IaeMode::BadImageFormat
            }
            NotFoundOrUnauthorized | Unauthorized | CredentialsExpired => {
                IaeMode::AuthenticationFailure
            }
            Forbidden | BlobDenied | RegistryBlocked | SignatureRejected => {
                IaeMode::AuthorizationFailure
            }
            ShortNameUnresolved => IaeMode::BadImageFormat,
            BlobUnknown => IaeMode::Absent,
            RateLimited
            | TlsUnknownAuthority
            | TlsCertificateExpired
            | TlsHostnameMismatch
            | TlsError
            | HttpRegistry
            | DnsFailure
            | ConnectionRefused
            | Timeout
            | ProxyError
            | NetworkUnreachable
            | RegistryError => IaeMode::RegistryUnavailable,
            IdentityUnavailable | RuntimeUnavailable | InsufficientDisk | PullPolicyNever
            | UnpackFailed | Unknown => IaeMode::UnknownError,
        }
    }
}

/// k8s-image-availability-exporter's labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IaeLabels {
    /// The pod's namespace.
    pub namespace: String,
    /// The container.
    pub container: String,
    /// The image.
    pub image: String,
    /// The owner kind, lower case.
    pub kind: String,
    /// The owner name.
    pub name: String,
}

impl From<&Workload> for IaeLabels {
    fn from(w: &Workload) -> Self {
        IaeLabels {
            namespace: w.namespace.clone(),
            container: w.container.clone(),
            image: w.image.clone(),
            kind: w.kind.clone(),
            name: w.name.clone(),
        }
    }
}

/// `registry`, `repository`, `identity`, `verdict`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    /// The image's registry.
    pub registry: String,
    /// The repository.
    pub repository: String,
    /// The identity used (a short label: `secret:NS/NAME`, `eks:ROLE`, `anonymous`, …).
    pub identity: String,
    /// The verdict.
    pub verdict: String,
    /// The reference the verdict is for, as the pod spec or watch list has it (one series per
    /// reference), so the alert can name what to probe.
    pub image: String,
}

/// `registry`, `repository`, `from`, `to`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    /// The image's registry.
    pub registry: String,
    /// The repository.
    pub repository: String,
    /// The previous verdict.
    pub from: String,
    /// The new one.
    pub to: String,
}

/// `family`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FamilyLabels {
    /// `k8s_image_availability_exporter` or `pullcheck_probe_verdict`.
    pub family: &'static str,
}

/// The monitor's metric handles.
#[derive(Debug)]
pub struct MonitorMetrics {
    iae: Vec<(IaeMode, Family<IaeLabels, Gauge>)>,
    verdict: Family<VerdictLabels, Gauge>,
    transitions: Family<TransitionLabels, Counter>,
    targets: Gauge,
    kube_up: Gauge,
    watch_list_valid: Gauge,
    runtime_up: Gauge,
    dropped: Family<FamilyLabels, Counter>,
    max_series: usize,
    workloads: Mutex<HashMap<IaeLabels, IaeMode>>,
    verdicts: Mutex<Verdicts>,
}

/// The labels of a target's `pullcheck_probe_verdict` series besides `image` and `verdict`.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct VerdictGroup {
    /// The image's registry.
    pub registry: String,
    /// The repository.
    pub repository: String,
    /// The identity label.
    pub identity: String,
}

impl VerdictGroup {
    fn labels(&self, verdict: Verdict, image: &str) -> VerdictLabels {
        VerdictLabels {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            identity: self.identity.clone(),
            verdict: verdict.as_str().to_string(),
            image: image.to_string(),
        }
    }
}

/// One `pullcheck_probe_verdict` series: a group and the reference it is for.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct SeriesKey {
    group: VerdictGroup,
    image: String,
}

#[derive(Debug, Default)]
struct Verdicts {
    /// Target → its series and verdict.
    targets: HashMap<String, (SeriesKey, Verdict)>,
    /// Series → the label set shown.
    shown: HashMap<SeriesKey, VerdictLabels>,
}

impl MonitorMetrics {
    /// Registers the families; `max_series` caps each of the two label-set kinds.
    pub fn register(registry: &mut Registry, max_series: usize) -> Self {
        let m = MonitorMetrics {
            iae: IaeMode::ALL
                .iter()
                .map(|mode| (*mode, Family::default()))
                .collect(),
            verdict: Family::default(),
            transitions: Family::default(),
            targets: Gauge::default(),
            kube_up: Gauge::default(),
            watch_list_valid: Gauge::default(),
            runtime_up: Gauge::default(),
            dropped: Family::default(),
            max_series,
            workloads: Mutex::new(HashMap::new()),
            verdicts: Mutex::new(Verdicts::default()),
        };
        {
            let r = registry.sub_registry_with_prefix("k8s_image_availability_exporter");
            for (mode, family) in &m.iae {
                r.register(
                    mode.as_str(),
                    "Image availability from this node, one-hot by mode (k8s-image-availability-exporter compatible)",
                    family.clone(),
                );
            }
        }
        let r = registry.sub_registry_with_prefix("pullcheck");
        r.register(
            "probe_verdict",
            "1 for the current verdict of each watched image and identity",
            m.verdict.clone(),
        );
        r.register(
            "verdict_transitions",
            "Verdict changes of watched images",
            m.transitions.clone(),
        );
        r.register(
            "runtime_up",
            "1 while the container runtime answers CRI Status",
            m.runtime_up.clone(),
        );
        let r = r.sub_registry_with_prefix("monitor");
        r.register(
            "targets",
            "Image x credential-set pairs the monitor re-probes",
            m.targets.clone(),
        );
        r.register(
            "kubernetes_up",
            "1 while the pod watch on the Kubernetes API is healthy",
            m.kube_up.clone(),
        );
        r.register(
            "watch_list_valid",
            "1 while the watch list file parses (0: the previous list stays in force)",
            m.watch_list_valid.clone(),
        );
        r.register(
            "series_dropped",
            "Label sets not exported because --max-series was reached",
            m.dropped.clone(),
        );
        m
    }

    /// Sets a workload container's mode; `false` when the cap dropped it.
    pub fn set_workload(&self, w: &Workload, verdict: Verdict) -> bool {
        let labels = IaeLabels::from(w);
        let mode = IaeMode::of(verdict);
        let mut map = self.workloads.lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(&labels) && map.len() >= self.max_series {
            self.dropped
                .get_or_create(&FamilyLabels {
                    family: "k8s_image_availability_exporter",
                })
                .inc();
            return false;
        }
        map.insert(labels.clone(), mode);
        for (m, family) in &self.iae {
            family.get_or_create(&labels).set(i64::from(*m == mode));
        }
        true
    }

    /// Drops a workload container's series.
    pub fn remove_workload(&self, w: &Workload) {
        let labels = IaeLabels::from(w);
        let mut map = self.workloads.lock().unwrap_or_else(|e| e.into_inner());
        if map.remove(&labels).is_some() {
            for (_, family) in &self.iae {
                family.remove(&labels);
            }
        }
    }

    /// Records a target's verdict: one series per reference (`image`) and registry,
    /// repository and identity labels, so a failing `app:v2` leaves `app:v1`'s `ok` series in
    /// place. Targets that share all of those (one reference watched with two namespaces'
    /// secrets that resolve to the same identity label) share the series: the first failing
    /// verdict among them, else `ok`. Counts a transition when `previous` differs. `false`
    /// when the cap dropped a new series (counted in `pullcheck_monitor_series_dropped_total`);
    /// the target's earlier series, if any, is withdrawn then rather than left stale.
    pub fn set_verdict(
        &self,
        target: &str,
        group: VerdictGroup,
        image: &str,
        verdict: Verdict,
        previous: Option<Verdict>,
    ) -> bool {
        if let Some(p) = previous.filter(|p| *p != verdict) {
            self.transitions
                .get_or_create(&TransitionLabels {
                    registry: group.registry.clone(),
                    repository: group.repository.clone(),
                    from: p.as_str().to_string(),
                    to: verdict.as_str().to_string(),
                })
                .inc();
        }
        let key = SeriesKey {
            group,
            image: image.to_string(),
        };
        let mut v = self.verdicts.lock().unwrap_or_else(|e| e.into_inner());
        let is_new_series = !v.shown.contains_key(&key);
        // A target moving off a series it alone held frees that series' slot.
        let frees_one = v.targets.get(target).is_some_and(|(k, _)| {
            *k != key
                && !v
                    .targets
                    .iter()
                    .any(|(t, (other, _))| t != target && other == k)
        });
        if is_new_series && v.shown.len() - usize::from(frees_one) >= self.max_series {
            self.dropped
                .get_or_create(&FamilyLabels {
                    family: "pullcheck_probe_verdict",
                })
                .inc();
            if let Some((old, _)) = v.targets.remove(target) {
                self.show(&mut v, &old);
            }
            return false;
        }
        let old = v.targets.insert(target.to_string(), (key.clone(), verdict));
        if let Some((old_key, _)) = old.filter(|(k, _)| *k != key) {
            self.show(&mut v, &old_key);
        }
        self.show(&mut v, &key);
        true
    }

    /// Drops a target; its series follows the targets left in it.
    pub fn remove_verdict(&self, target: &str) {
        let mut v = self.verdicts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((key, _)) = v.targets.remove(target) {
            self.show(&mut v, &key);
        }
    }

    /// Re-derives one series from its targets.
    fn show(&self, v: &mut Verdicts, key: &SeriesKey) {
        let worst = v
            .targets
            .values()
            .filter(|(k, _)| k == key)
            .map(|(_, verdict)| *verdict)
            .min_by_key(|verdict| (*verdict == Verdict::Ok, verdict.as_str()));
        let old = v.shown.remove(key);
        match worst {
            Some(verdict) => {
                let labels = key.group.labels(verdict, &key.image);
                if let Some(o) = old.filter(|o| *o != labels) {
                    self.verdict.remove(&o);
                }
                self.verdict.get_or_create(&labels).set(1);
                v.shown.insert(key.clone(), labels);
            }
            None => {
                if let Some(o) = old {
                    self.verdict.remove(&o);
                }
            }
        }
    }

    /// Targets watched.
    pub fn set_targets(&self, n: usize) {
        self.targets.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Whether the pod watch is healthy.
    pub fn set_kube_up(&self, up: bool) {
        self.kube_up.set(i64::from(up));
    }

    /// Whether the watch list parses.
    pub fn set_watch_list_valid(&self, valid: bool) {
        self.watch_list_valid.set(i64::from(valid));
    }

    /// Whether the runtime answers.
    pub fn set_runtime_up(&self, up: bool) {
        self.runtime_up.set(i64::from(up));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(name: &str) -> Workload {
        Workload {
            namespace: "ns".into(),
            kind: "deployment".into(),
            name: name.into(),
            container: "c".into(),
            image: "r/i:1".into(),
        }
    }

    #[test]
    fn every_verdict_has_a_mode() {
        for v in Verdict::ALL {
            let _ = IaeMode::of(v);
        }
        assert_eq!(
            IaeMode::of(Verdict::Forbidden),
            IaeMode::AuthorizationFailure
        );
        assert_eq!(IaeMode::of(Verdict::RepositoryUnknown), IaeMode::Absent);
    }

    #[test]
    fn one_hot_with_cap_and_removal() {
        let mut reg = Registry::default();
        let m = MonitorMetrics::register(&mut reg, 2);
        assert!(m.set_workload(&w("a"), Verdict::Ok));
        assert!(m.set_workload(&w("b"), Verdict::Forbidden));
        assert!(!m.set_workload(&w("c"), Verdict::Ok), "over the cap");
        assert!(
            m.set_workload(&w("a"), Verdict::Unauthorized),
            "known sets update"
        );
        let text = crate::service::metrics::encode(&reg);
        let l = "{namespace=\"ns\",container=\"c\",image=\"r/i:1\",kind=\"deployment\",name=\"a\"}";
        assert!(
            text.contains(&format!(
                "k8s_image_availability_exporter_authentication_failure{l} 1"
            )),
            "{text}"
        );
        assert!(text.contains(&format!("k8s_image_availability_exporter_available{l} 0")));
        assert!(!text.contains("name=\"c\""));
        assert!(text.contains(
            "pullcheck_monitor_series_dropped_total{family=\"k8s_image_availability_exporter\"} 1"
        ));
        m.remove_workload(&w("a"));
        let text = crate::service::metrics::encode(&reg);
        assert!(!text.contains("name=\"a\""));
    }

    #[test]
    fn verdict_series_move_group_and_transitions_count() {
        let mut reg = Registry::default();
        let m = MonitorMetrics::register(&mut reg, 10);
        let g = || VerdictGroup {
            registry: "r".into(),
            repository: "i".into(),
            identity: "secret:a/s".into(),
        };
        m.set_verdict("i:1", g(), "r/i:1", Verdict::Ok, None);
        m.set_verdict("i:2", g(), "r/i:2", Verdict::Ok, None);
        m.set_verdict(
            "i:1",
            g(),
            "r/i:1",
            Verdict::Unauthorized,
            Some(Verdict::Ok),
        );
        let text = crate::service::metrics::encode(&reg);
        // The failing tag names the series, so the alert can say what to probe.
        assert!(text.contains("pullcheck_probe_verdict{registry=\"r\",repository=\"i\",identity=\"secret:a/s\",verdict=\"unauthorized\",image=\"r/i:1\"} 1"), "{text}");
        // One series per reference: the tag that still pulls keeps its `ok` series.
        assert!(
            text.contains("pullcheck_probe_verdict{registry=\"r\",repository=\"i\",identity=\"secret:a/s\",verdict=\"ok\",image=\"r/i:2\"} 1"),
            "{text}"
        );
        assert!(
            !text.contains("verdict=\"ok\",image=\"r/i:1\""),
            "the failing tag's ok series is gone: {text}"
        );
        assert!(text.contains("pullcheck_verdict_transitions_total{registry=\"r\",repository=\"i\",from=\"ok\",to=\"unauthorized\"} 1"));
        m.remove_verdict("i:1");
        let text = crate::service::metrics::encode(&reg);
        assert!(
            text.contains("identity=\"secret:a/s\",verdict=\"ok\",image=\"r/i:2\"} 1"),
            "{text}"
        );
        assert!(!text.contains("r/i:1"), "the old series is gone: {text}");
        m.remove_verdict("i:2");
        assert!(!crate::service::metrics::encode(&reg).contains("pullcheck_probe_verdict{"));
    }

    #[test]
    fn one_reference_with_two_credential_sets_folds_and_the_cap_counts_drops() {
        let mut reg = Registry::default();
        let m = MonitorMetrics::register(&mut reg, 2);
        let g = |identity: &str| VerdictGroup {
            registry: "r".into(),
            repository: "i".into(),
            identity: identity.into(),
        };
        // Two namespaces without secrets: both anonymous, one series, the failing verdict.
        assert!(m.set_verdict("a:i:1", g("anonymous"), "r/i:1", Verdict::Ok, None));
        assert!(m.set_verdict("b:i:1", g("anonymous"), "r/i:1", Verdict::Forbidden, None));
        let text = crate::service::metrics::encode(&reg);
        assert_eq!(
            text.matches("pullcheck_probe_verdict{").count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("verdict=\"forbidden\",image=\"r/i:1\"} 1"),
            "{text}"
        );
        // A second reference is a second series; a third is over the cap and counted.
        assert!(m.set_verdict("a:i:2", g("anonymous"), "r/i:2", Verdict::Ok, None));
        assert!(!m.set_verdict("a:i:3", g("anonymous"), "r/i:3", Verdict::Ok, None));
        let text = crate::service::metrics::encode(&reg);
        assert!(!text.contains("r/i:3"), "{text}");
        assert!(text.contains(
            "pullcheck_monitor_series_dropped_total{family=\"pullcheck_probe_verdict\"} 1"
        ));
        // A target moving from a series it held alone to a new one takes that series' slot.
        assert!(m.set_verdict("a:i:2", g("secret:a/s"), "r/i:2", Verdict::Ok, None));
        let text = crate::service::metrics::encode(&reg);
        assert!(
            text.contains("identity=\"secret:a/s\",verdict=\"ok\",image=\"r/i:2\"} 1"),
            "{text}"
        );
        assert!(
            !text.contains("identity=\"anonymous\",verdict=\"ok\",image=\"r/i:2\""),
            "{text}"
        );
        assert_eq!(
            text.matches("pullcheck_probe_verdict{").count(),
            2,
            "{text}"
        );
    }
}
