//! 404: the repository is unknown (`NAME_UNKNOWN`, or tags/list said so), the host is not a
//! registry API at all (its `/v2/` answers 404 too), or the tag or digest does not exist (with
//! tags that do, when tags/list showed some).

use super::Facts;
use crate::classify::{Diagnosis, Verdict};
use crate::probe::Step;

pub(super) fn rule(f: &Facts<'_>) -> Option<Diagnosis> {
    if f.status != 404 {
        return None;
    }
    let (ev, t, at, server) = (f.ev, f.t, &f.at, &f.server);
    let not_registry = ev
        .exchanges
        .iter()
        .any(|e| e.step == Step::Ping && e.status == Some(404));
    Some(
        if t.has_code("NAME_UNKNOWN") || ev.repository_exists == Some(false) {
            let via = if t.has_code("NAME_UNKNOWN") {
                ""
            } else {
                " (tags/list answered 404 NAME_UNKNOWN)"
            };
            Diagnosis::new(
                Verdict::RepositoryUnknown,
                format!("{at}: 404: repository not found{via}{server}"),
            )
        } else if not_registry {
            Diagnosis::new(Verdict::RegistryError, format!("{at}: 404, and {} answers 404 too: this is not a registry API endpoint", ev.host))
            .fix("Check the registry host, port and any path prefix (hosts.toml `server`, `override_path`).")
        } else {
            let tags = if ev.tags_sample.is_empty() {
                String::new()
            } else {
                format!("; tags that exist include: {}", ev.tags_sample.join(", "))
            };
            let confirmed = if ev.repository_exists == Some(true) {
                "the repository exists but "
            } else {
                ""
            };
            Diagnosis::new(
                Verdict::ManifestUnknown,
                format!("{at}: 404: {confirmed}this tag or digest does not exist{tags}{server}"),
            )
        },
    )
}
