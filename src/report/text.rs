//! The human view, laid out like `kubectl describe`: verdict, why, identity, remediation,
//! then the facts and the evidence lines. Three levels of detail ([`Detail`]): `--brief` (the
//! answer alone), the default (the evidence of a pullable image folded to one line, each note
//! once) and `--verbose` (every exchange, always).

use super::Report;
use crate::classify::Verdict;
use crate::identity::credential_provider::PluginStatus;
use crate::identity::node_files::FileOutcome;
use crate::term::{escape, escape_view};
use std::fmt::Write;

/// How much of the report the text view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    /// Image, verdict, identity, reason and remediation.
    Brief,
    /// Everything but the exchanges of a pullable image (their count is said).
    #[default]
    Normal,
    /// Everything.
    Verbose,
}

/// Renders a report as text, at the default level of detail.
pub fn render(r: &Report) -> String {
    render_with(r, Detail::Normal)
}

fn line(s: &mut String, k: &str, v: &str) {
    let k = format!("{k}:");
    // A label as wide as the column still gets a space.
    let gap = if k.len() >= 14 { " " } else { "" };
    let _ = writeln!(s, "{k:<14}{gap}{}", escape(v));
}

/// Renders a report as text at a level of detail.
pub fn render_with(r: &Report, detail: Detail) -> String {
    let mut s = String::new();
    line(&mut s, "Image", r.normalized.as_deref().unwrap_or(&r.image));
    line(&mut s, "Verdict", r.verdict.as_str());
    if let Some(id) = &r.identity {
        line(&mut s, "Identity", &id.description);
    }
    line(&mut s, "Reason", &r.reason);
    // "Nothing to fix" says nothing the verdict did not.
    if r.verdict != Verdict::Ok || detail != Detail::Normal {
        line(&mut s, "Remediation", &r.remediation);
    }
    if detail == Detail::Brief {
        return escape_view(&s).into_owned();
    }
    let mut platform = format!("node {}", r.node_platform);
    if !r.platforms.is_empty() {
        let offered: Vec<String> = r.platforms.iter().map(ToString::to_string).collect();
        let _ = write!(platform, "; image offers {}", offered.join(", "));
        if r.platforms_omitted > 0 {
            let _ = write!(platform, " and {} more", r.platforms_omitted);
        }
    }
    line(&mut s, "Platform", &platform);
    // A pullable image's notes (the runtime and kubelet this machine lacks, the defaults
    // assumed) are the same every run: counted, not repeated.
    let fold = detail == Detail::Normal && r.verdict == Verdict::Ok;
    let mut notes = Notes {
        folded: fold,
        ..Notes::default()
    };
    if let Some(d) = &r.digest {
        line(&mut s, "Digest", d);
    }
    if let Some(b) = &r.layers {
        line(&mut s, "Layers", &layers(b));
    }
    if let Some(st) = &r.image_store {
        line(&mut s, "Image store", &image_store(st));
    }
    if let Some(rl) = &r.rate_limit {
        let mut parts = Vec::new();
        match (rl.remaining, rl.limit) {
            (Some(rem), Some(lim)) => parts.push(format!("{rem}/{lim} left")),
            (Some(rem), None) => parts.push(format!("{rem} left")),
            _ => {}
        }
        if let Some(w) = rl.window_seconds {
            parts.push(format!("window {w}s"));
        }
        if let Some(ra) = &rl.retry_after {
            parts.push(format!("retry after {ra}"));
        }
        if let Some(src) = &rl.source {
            parts.push(format!("source {src}"));
        }
        line(&mut s, "Rate limit", &parts.join(", "));
    }
    if let Some(rt) = &r.runtime {
        let mut v = format!("{} ({})", rt.verdict.as_str(), rt.code);
        if rt.verdict != crate::classify::Verdict::Ok {
            v.push_str(&format!(": {}", rt.reason));
        } else if rt.removed {
            v.push_str(", pulled and removed again");
        } else if rt.already_present {
            v.push_str(", image was already on the node");
        }
        line(&mut s, "Runtime pull", &v);
        if !rt.message.is_empty() {
            line(&mut s, "Runtime said", &rt.message);
        }
        if let Some(i) = &rt.interpretation {
            line(&mut s, "Disagreement", i);
        }
    }
    for w in &r.warnings {
        line(&mut s, "Warning", w);
    }
    if let Some(sn) = &r.short_name {
        line(&mut s, "Short name", &sn.summary());
    }
    if let Some(e) = &r.endpoints {
        for n in &e.notes {
            notes.say(&mut s, n);
        }
        if let Some(src) = &e.source {
            line(&mut s, "Config", src);
        }
        if let Some(p) = &e.proxy {
            line(&mut s, "Proxy", &p.description);
        }
    }
    let crio = r
        .runtime_kind
        .filter(|k| k.kind == crate::endpoints::runtime_kind::RuntimeKind::Crio);
    if let Some(k) = crio {
        use crate::endpoints::runtime_kind::KindSource as K;
        let from = match k.source {
            K::Flag => "--runtime-kind".to_string(),
            K::Runtime => match &r.runtime_version {
                Some(v) => format!("the runtime's CRI Version: {} {}", v.name, v.version),
                None => "the runtime's CRI Version".to_string(),
            },
            K::Socket => "the CRI socket's path".to_string(),
            K::Default => "default".to_string(),
        };
        line(
            &mut s,
            "Predicted for",
            &format!(
                "CRI-O: registries.conf and certs.d as containers/image applies them ({from})"
            ),
        );
    } else if let Some(v) = &r.runtime_version {
        use crate::runtime::version::VersionSource as V;
        let predicted = match v.source {
            V::Runtime => format!(
                "{} (the runtime's CRI Version: {} {})",
                v.label(),
                v.name,
                v.version
            ),
            V::Flag => format!("{} (--runtime-version)", v.label()),
            V::Default => format!("{} (assumed: no runtime version known)", v.label()),
        };
        line(&mut s, "Predicted for", &predicted);
        if let Some(n) = &v.note {
            notes.say(&mut s, n);
        }
    }
    let c = &r.registry_cost;
    if !c.is_empty() {
        use crate::probe::ManifestOrigin as O;
        let from = match r.manifest_origin {
            Some(O::Registry) => " (manifest read now)",
            Some(O::Remembered) => " (digest known to this process)",
            Some(O::StateDir) => " (digest known from the state directory)",
            Some(O::Runtime) => " (the runtime holds this digest)",
            None => "",
        };
        line(
            &mut s,
            "Registry cost",
            &format!(
                "{} manifest GET, {} HEAD{from}",
                c.manifest_gets, c.manifest_heads
            ),
        );
    }
    credentials(&mut s, r, &mut notes);
    if r.attempts.len() > 1 {
        let _ = writeln!(s, "Attempts:");
        let mut seen: Vec<&str> = Vec::new();
        for a in &r.attempts {
            // containerd 1.x tries `server` again after a [host] entry with the same URL fails,
            // without that entry's settings: the host shows twice, on purpose.
            let again = if seen.contains(&a.host.as_str()) {
                " [the same host again: containerd 1.x retries `server` after its [host] entry fails, without that entry's settings]"
            } else {
                seen.push(&a.host);
                ""
            };
            let _ = writeln!(
                s,
                "  {:<28} {} as {} — {} ({}){again}",
                a.verdict.as_str(),
                a.host,
                a.identity.description,
                a.reason,
                a.answer
            );
        }
    }
    notes.fold(&mut s);
    if fold && !r.evidence.is_empty() {
        let n = r.evidence.len();
        let requests = if n == 1 { "request" } else { "requests" };
        line(
            &mut s,
            "Evidence",
            &format!("{n} {requests}, all answered (--verbose or -o json lists them)"),
        );
    } else if !r.evidence.is_empty() {
        let _ = writeln!(s, "Evidence:");
        for e in &r.evidence {
            let outcome = match (&e.status, &e.transport) {
                (Some(st), _) => st.to_string(),
                (None, Some(t)) => format!("{:?}: {}", t.kind, escape(&t.message)),
                (None, None) => "-".into(),
            };
            let _ = writeln!(
                s,
                "  {:<5} {} → {} ({:.1} ms, auth {})",
                escape(&e.method),
                escape(&e.url),
                outcome,
                e.elapsed_ms,
                escape(e.auth)
            );
            for (k, v) in &e.headers {
                if matches!(
                    k.as_str(),
                    "www-authenticate" | "docker-content-digest" | "content-type" | "retry-after"
                ) || k.contains("ratelimit")
                {
                    let _ = writeln!(s, "        {}: {}", escape(k), escape(v));
                }
            }
            for oe in &e.oci_errors {
                let _ = writeln!(s, "        {}: {}", escape(&oe.code), escape(&oe.message));
            }
            if let Some(b) = &e.body_excerpt {
                let _ = writeln!(s, "        body: {}", escape(b));
            }
            if let Some(n) = &e.note {
                let _ = writeln!(s, "        note: {}", escape(n));
            }
        }
    }
    let _ = writeln!(s, "Took:         {:.1} ms", r.duration_ms);
    escape_view(&s).into_owned()
}

/// `3 layers, 27.1 MiB compressed, from cdn.example.com; blobs (config and layers): 4 asked
/// for now, 0 already known reachable (…)`.
fn layers(b: &crate::probe::BlobFacts) -> String {
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let mut v = format!(
        "{}, {} compressed",
        plural(b.layers, "layer", "layers"),
        crate::human::bytes(b.compressed_bytes)
    );
    if b.storage_hosts.is_empty() {
        v.push_str(", from the registry itself");
    } else {
        let _ = write!(v, ", from {}", b.storage_hosts.join(", "));
    }
    let _ = write!(
        v,
        "; blobs (config and layers): {} asked for now, {} already known reachable (read earlier in this probe or within the hour)",
        b.checked, b.cached
    );
    if b.unchecked > 0 {
        let _ = write!(
            v,
            ", {} not asked (only the first {} layers are)",
            b.unchecked,
            crate::probe::blobs::MAX_CHECKED
        );
    }
    if let Some(skew) = &b.clock_skew {
        let _ = write!(
            v,
            "; node clock {:+} s against {}",
            skew.node_ahead_seconds, skew.host
        );
    }
    v
}

/// `already on the node (sha256:…); /var/lib/containerd: 7.9 GiB free of 20.0 GiB`.
fn image_store(st: &super::ImageStore) -> String {
    let mut parts = Vec::new();
    match st.present {
        Some(true) => parts.push(format!(
            "already on the node{}",
            st.image_id
                .as_deref()
                .map(|i| format!(" ({i})"))
                .unwrap_or_default()
        )),
        Some(false) => parts.push("not on the node yet".to_string()),
        None => {}
    }
    if let Some(fs) = &st.filesystem {
        match (fs.available_bytes, fs.capacity_bytes) {
            (Some(free), Some(cap)) => parts.push(format!(
                "{}: {} free of {}",
                fs.mountpoint,
                crate::human::bytes(free),
                crate::human::bytes(cap)
            )),
            _ => parts.push(fs.note.clone().unwrap_or_else(|| fs.mountpoint.clone())),
        }
    }
    parts.extend(st.notes.iter().cloned());
    parts.join("; ")
}

/// The "Credentials tried" table (kubelet order), the anonymous hint, and where credentials
/// came from (node file used/skipped, plugins).
fn credentials(s: &mut String, r: &Report, notes: &mut Notes) {
    let only_anonymous = r
        .credentials
        .iter()
        .all(|c| matches!(c.source, crate::identity::Source::Anonymous));
    if !only_anonymous {
        let _ = writeln!(
            s,
            "Credentials tried (kubelet order; the first that works is used):"
        );
        let verdict = |c: &super::CredentialOutcome| c.verdict.map_or("not tried", |v| v.as_str());
        let width = r
            .credentials
            .iter()
            .map(|c| verdict(c).len())
            .max()
            .unwrap_or(0);
        for (i, c) in r.credentials.iter().enumerate() {
            let used = if c.used { "used" } else { "-" };
            let _ = writeln!(
                s,
                "  {:>2}. {:<width$} {:<4} {:<11} {}",
                i + 1,
                verdict(c),
                used,
                c.source.kind_words(),
                c.description
            );
        }
    }
    if let Some(h) = &r.anonymous_hint {
        let _ = writeln!(
            s,
            "{:<14}{} — {} (hint only: the kubelet does not fall back to anonymous after a credential fails)",
            "Anonymous:",
            h.verdict.as_str(),
            h.reason
        );
    }
    let src = &r.identity_sources;
    if let Some(node) = &src.node {
        let mut v = match &node.node_file {
            Some(p) => format!("{p} (used)"),
            None => format!("none ({} places checked)", node.node_files.len()),
        };
        // Missing files are the normal case: only files that exist but were skipped are named.
        let skipped: Vec<String> = node
            .node_files
            .iter()
            .filter_map(|f| match &f.outcome {
                FileOutcome::Used { .. } | FileOutcome::Missing => None,
                FileOutcome::Unreadable { reason } => {
                    Some(format!("{} unreadable: {reason}", f.path))
                }
                FileOutcome::Invalid { reason } => Some(format!("{} invalid: {reason}", f.path)),
            })
            .collect();
        if !skipped.is_empty() {
            let _ = write!(v, "; skipped: {}", skipped.join(", "));
        }
        let _ = writeln!(s, "{:<14}{}", "Node file:", v);
    }
    for p in &src.plugins {
        let mut v = format!("{}: {}", p.name, plugin_status(p.status));
        if !p.keys.is_empty() {
            let _ = write!(v, " ({})", p.keys.join(", "));
        }
        if let Some(why) = &p.reason {
            let prefix = format!("plugin {}: ", p.name);
            let _ = write!(v, " — {}", why.strip_prefix(&prefix).unwrap_or(why));
        }
        let _ = writeln!(s, "{:<14}{}", "Plugin:", v);
    }
    for n in &src.notes {
        notes.say(s, n);
    }
}

/// `Note:` lines, each said once (several parts of a report may note the same thing); when
/// folded (a pullable image, default detail) they are only counted, and [`Notes::fold`] says
/// how many there were.
#[derive(Default)]
struct Notes {
    said: Vec<String>,
    folded: bool,
}

impl Notes {
    fn say(&mut self, s: &mut String, note: &str) {
        if !self.said.iter().any(|n| n == note) {
            self.said.push(note.to_string());
            if !self.folded {
                line(s, "Note", note);
            }
        }
    }

    /// The one line that stands for the folded notes.
    fn fold(&self, s: &mut String) {
        if self.folded && !self.said.is_empty() {
            let n = self.said.len();
            let notes = if n == 1 { "note" } else { "notes" };
            line(
                s,
                "Notes",
                &format!("{n} {notes} on how this was predicted (--verbose shows them)"),
            );
        }
    }
}

fn plugin_status(status: PluginStatus) -> &'static str {
    match status {
        PluginStatus::NotMatched => "not run (matchImages do not match)",
        PluginStatus::Skipped => "skipped",
        PluginStatus::Provided => "provided credentials",
        PluginStatus::Cached => "provided credentials (cached)",
        PluginStatus::Failed => "failed",
    }
}
