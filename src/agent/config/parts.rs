//! The groups of keys read together: the SubjectAccessReview attributes for network callers,
//! and the node-side probe settings shared with `pullcheck probe`.

use super::sources::{count, dns_name, Sources};
use super::{AgentArgs, Error, HOUR, MS};
use crate::agent::auth::Authz;
use crate::duration::flag::within;
use crate::monitor::Settings as MonitorSettings;
use crate::node_setup::NodeSettings;
use crate::runtime::RuntimeEndpoint;
use std::path::PathBuf;

pub(super) fn authz(s: &Sources, a: &AgentArgs, node: Option<&str>) -> Result<Authz, Error> {
    let word = |v: &str| -> Result<String, String> {
        let v = v.trim();
        if v.is_empty()
            || !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.*".contains(&b))
        {
            return Err("expected a word of letters, digits, '-', '.', '*'".into());
        }
        Ok(v.to_string())
    };
    let (resource, subresource) = s.get(
        "authz-resource",
        a.authz_resource.as_deref(),
        "nodes/proxy",
        |v| {
            let (r, sub) = match v.split_once('/') {
                Some((r, sub)) => (r, Some(sub)),
                None => (v, None),
            };
            Ok((word(r)?, sub.map(word).transpose()?))
        },
    )?;
    let group = match s.scalar("authz-group", a.authz_group.as_deref()) {
        Some((g, _)) if g.trim().is_empty() => String::new(),
        Some(_) => s.get("authz-group", a.authz_group.as_deref(), "", dns_name)?,
        None => String::new(),
    };
    Ok(Authz {
        verb: s.get("authz-verb", a.authz_verb.as_deref(), "get", word)?,
        group,
        resource,
        subresource,
        namespace: s.opt("authz-namespace", a.authz_namespace.as_deref(), dns_name)?,
        name: s
            .opt("authz-name", a.authz_name.as_deref(), dns_name)?
            .or_else(|| node.map(str::to_string)),
    })
}

pub(super) fn probe_settings(s: &Sources, a: &AgentArgs) -> Result<NodeSettings, Error> {
    let step = within(MS, HOUR);
    Ok(NodeSettings {
        timeout: s.get("timeout", a.timeout.as_deref(), "10s", &step)?,
        hosts_dir: s.path("hosts-dir", a.hosts_dir.as_deref()),
        containerd_config: s.path("containerd-config", a.containerd_config.as_deref()),
        proc_root: s
            .path("proc-root", a.proc_root.as_deref())
            .unwrap_or_else(|| PathBuf::from("/proc")),
        kubelet_root_dir: s.path("kubelet-root-dir", a.kubelet_root_dir.as_deref()),
        image_credential_provider_config: s.path(
            "image-credential-provider-config",
            a.image_credential_provider_config.as_deref(),
        ),
        image_credential_provider_bin_dir: s.path(
            "image-credential-provider-bin-dir",
            a.image_credential_provider_bin_dir.as_deref(),
        ),
        credential_provider_timeout: s.get(
            "credential-provider-timeout",
            a.credential_provider_timeout.as_deref(),
            "60s",
            &step,
        )?,
        runtime_endpoint: s.opt("runtime-endpoint", a.runtime_endpoint.as_deref(), |v| {
            RuntimeEndpoint::parse(v.trim()).map_err(|e| e.to_string())
        })?,
        runtime_timeout: s.get(
            "runtime-timeout",
            a.runtime_timeout.as_deref(),
            "10s",
            &step,
        )?,
        runtime_pull_timeout: s.get(
            "runtime-pull-timeout",
            a.runtime_pull_timeout.as_deref(),
            "5m",
            &step,
        )?,
        imds_endpoint: s.opt("imds-endpoint", a.imds_endpoint.as_deref(), |v| {
            Ok(v.trim().to_string())
        })?,
        gce_metadata_host: s.opt("gce-metadata-host", a.gce_metadata_host.as_deref(), |v| {
            Ok(v.trim().to_string())
        })?,
        metadata_timeout: s.get(
            "metadata-timeout",
            a.metadata_timeout.as_deref(),
            "2s",
            &step,
        )?,
        cloud: {
            let dir: std::path::PathBuf = s.get(
                "dmi-dir",
                a.dmi_dir.as_deref(),
                crate::identity::platform::DMI_DIR,
                |v| Ok(std::path::PathBuf::from(v.trim())),
            )?;
            s.get("cloud", a.cloud.as_deref(), "auto", |v| {
                crate::identity::platform::choose(v, &dir).map_err(|e| e.to_string())
            })?
        },
        state_dir: s.path("state-dir", a.state_dir.as_deref()),
        runtime_kind: s.opt("runtime-kind", a.runtime_kind.as_deref(), |v| {
            crate::endpoints::runtime_kind::RuntimeKind::from_flag(v).map_err(|e| e.to_string())
        })?,
        crio: crate::endpoints::crio_files::CrioFiles {
            registries_conf: s.path("registries-conf", a.registries_conf.as_deref()),
            containers_certs_dir: s.path("containers-certs-dir", a.containers_certs_dir.as_deref()),
            crio_auth_file: s.path("crio-auth-file", a.crio_auth_file.as_deref()),
            signature_policy: s.path("signature-policy", a.signature_policy.as_deref()),
            registries_d: s.path("registries-d", a.registries_d.as_deref()),
            short_name_aliases: s.path("short-name-aliases", a.short_name_aliases.as_deref()),
        },
        cloud_identity: !s.get(
            "no-cloud-identity",
            a.no_cloud_identity.then_some("true"),
            "false",
            |v| match v.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err("expected true or false".into()),
            },
        )?,
    })
}

fn on_off(v: &str) -> Result<bool, String> {
    match v.trim() {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        _ => Err("expected on or off".into()),
    }
}

pub(super) fn monitor_settings(s: &Sources, a: &AgentArgs) -> Result<MonitorSettings, Error> {
    Ok(MonitorSettings {
        enabled: s.get("monitor", a.monitor.as_deref(), "on", on_off)?,
        interval: s.get(
            "monitor-interval",
            a.monitor_interval.as_deref(),
            "10m",
            within(100 * MS, 24 * HOUR),
        )?,
        concurrency: s.get(
            "monitor-concurrency",
            a.monitor_concurrency.as_deref(),
            "2",
            count(1, 64),
        )?,
        event_grace: s.get(
            "event-grace",
            a.event_grace.as_deref(),
            "30s",
            within(std::time::Duration::ZERO, HOUR),
        )?,
        max_series: s.get(
            "max-series",
            a.max_series.as_deref(),
            "2000",
            count(1, 1_000_000),
        )?,
        watch_list: s.path("watch-list", a.watch_list.as_deref()),
        events: s.get("events", a.events.as_deref(), "on", on_off)?,
    })
}
