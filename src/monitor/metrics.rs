//! The monitor's metrics, capped so a busy node cannot explode cardinality:
//! - k8s-image-availability-exporter's one-hot gauges, same names and labels, so its alerts
//!   work unchanged: `k8s_image_availability_exporter_<mode>{namespace,container,image,kind,name}`
//!   for each [`IaeMode`] (1 for the workload container's current mode, 0 for the others);
//! - `pullcheck_probe_verdict{registry,repository,identity,verdict,image}`: 1 for each watched
//!   target's current verdict (the previous verdict's series is removed on a change; `image`
//!   is the reference of the tag that decides the series);
//! - `pullcheck_verdict_transitions_total{registry,repository,from,to}`;
//! - `pullcheck_monitor_targets`, `pullcheck_monitor_kubernetes_up`,
//!   `pullcheck_monitor_watch_list_valid`, `pullcheck_runtime_up`,
//!   `pullcheck_monitor_series_dropped_total{family}`.
//!
//! At most `max_series` workload label sets and as many target label sets are kept; past that,
//! new ones are dropped and counted.

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
    /// The reference the verdict is for, as the pod spec or watch list has it (of the tags
    /// that share the series, the one that decides it), so the alert can name what to probe.
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

/// The labels `pullcheck_probe_verdict` groups targets by.
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

#[derive(Debug, Default)]
struct Verdicts {
    /// Target → its group, verdict and reference.
    targets: HashMap<String, (VerdictGroup, Verdict, String)>,
    /// Group → the series shown.
    shown: HashMap<VerdictGroup, VerdictLabels>,
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

    /// Records a target's verdict under its registry, repository and identity labels. Targets
    /// that share those labels (two tags of one repository) show one series: the first
    /// failing verdict among them, else `ok`. Counts a transition when `previous` differs.
    /// `false` when the cap dropped a new label set.
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
        let mut v = self.verdicts.lock().unwrap_or_else(|e| e.into_inner());
        let is_new_group = !v.targets.values().any(|(g, _, _)| *g == group);
        if is_new_group && v.shown.len() >= self.max_series {
            self.dropped
                .get_or_create(&FamilyLabels {
                    family: "pullcheck_probe_verdict",
                })
                .inc();
            return false;
        }
        let old = v.targets.insert(
            target.to_string(),
            (group.clone(), verdict, image.to_string()),
        );
        if let Some((old_group, _, _)) = old.filter(|(g, _, _)| *g != group) {
            self.show(&mut v, &old_group);
        }
        self.show(&mut v, &group);
        true
    }

    /// Drops a target; its group's series follows the targets left in it.
    pub fn remove_verdict(&self, target: &str) {
        let mut v = self.verdicts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((group, _, _)) = v.targets.remove(target) {
            self.show(&mut v, &group);
        }
    }

    /// Re-derives one group's series from its targets.
    fn show(&self, v: &mut Verdicts, group: &VerdictGroup) {
        let worst = v
            .targets
            .values()
            .filter(|(g, _, _)| g == group)
            .map(|(_, verdict, image)| (*verdict, image.clone()))
            .min_by_key(|(verdict, image)| {
                (*verdict == Verdict::Ok, verdict.as_str(), image.clone())
            });
        let old = v.shown.remove(group);
        match worst {
            Some((verdict, image)) => {
                let labels = group.labels(verdict, &image);
                if let Some(o) = old.filter(|o| *o != labels) {
                    self.verdict.remove(&o);
                }
                self.verdict.get_or_create(&labels).set(1);
                v.shown.insert(group.clone(), labels);
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
        assert!(
            !text.contains("verdict=\"ok\""),
            "one series per group: {text}"
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
}
