//! Rules for what the registry answered (other than auth) and what the runtime made of the
//! content: platform, schema 1, 429, digests, not found, other statuses, disk, unpack.

use super::{Facts, Finding};
use crate::classify::runtime_message::scan::{first_word, one_line};
use crate::classify::Verdict;

/// The image index offers nothing for this node's platform.
pub(super) fn platform(f: &Facts<'_>) -> Option<Finding> {
    if f.scan.has("no match for platform in manifest") {
        return Some(Finding::new(
            Verdict::PlatformMismatch,
            "the image index has no manifest for this node's platform (containerd matches OS, \
             architecture and variant; `pullcheck probe <image>` lists what the index offers)",
        ));
    }
    // containers/image (CRI-O): `no image found in manifest list for architecture …` (older)
    // and `no image found in image index for architecture amd64, variant "", OS linux` (5.x).
    let wanted = f
        .from("no image found in manifest list for ")
        .or_else(|| f.from("no image found in image index for "))?;
    Some(Finding::new(
        Verdict::PlatformMismatch,
        format!("the image's manifest list has nothing for this node: {wanted}"),
    ))
}

/// Docker schema 1 manifests, refused by containerd ≥ 2.0.
pub(super) fn schema1(f: &Facts<'_>) -> Option<Finding> {
    let s = &f.scan;
    let why = if s.has("pulling schema 1 images have been deprecated") {
        "Docker schema 1 manifest: containerd 2.0 refuses it by default \
         (CONTAINERD_ENABLE_DEPRECATED_PULL_SCHEMA_1_IMAGE=1 re-enables it until 2.1)"
    } else if s.has("schema 1 image manifests are no longer supported")
        || s.has("no longer supported since containerd v2.1")
        || s.has("prettyjws")
    {
        "Docker schema 1 manifest (application/vnd.docker.distribution.manifest.v1+prettyjws): \
         containerd ≥ 2.1 no longer supports it"
    } else if s.has("no fslayers in manifest") {
        // containers/image (CRI-O) reading a schema 1 manifest without layers.
        "Docker schema 1 manifest without fsLayers: containers/image (CRI-O) cannot use it, and \
         containerd refuses it too"
    } else if s.has("no signatures") {
        // containerd 1.6/1.7 still convert schema 1, but only signed (prettyjws) manifests:
        // seen on 1.6.20 as `failed to resolve reference "…": no signatures`.
        "Docker schema 1 manifest without signatures: containerd 1.6/1.7 convert only signed \
         schema 1 manifests, and ≥ 2.0 refuses schema 1 altogether"
    } else {
        return None;
    };
    Some(Finding::new(Verdict::UnsupportedManifest, why))
}

/// Manifests the runtime could not use at all: over containerd's size limit (seen on 1.6.20 as
/// `rejecting 10485792 byte manifest for …: not found`), not valid JSON
/// (`children: invalid desc sha256:…: invalid character …`), or naming a blob of size 0.
pub(super) fn malformed_manifest(f: &Facts<'_>) -> Option<Finding> {
    let s = &f.scan;
    let why = if let Some(size) = f.from("rejecting ") {
        if !s.has("byte manifest") {
            return None;
        }
        format!("the registry served a manifest over containerd's size limit ({size})")
    } else if let Some(limit) = f.from("exceeded maximum allowed size of ") {
        // containers/image (CRI-O): a manifest over its 4 MiB limit.
        format!("the registry served a manifest over the runtime's size limit ({limit})")
    } else if s.has("initializing image from source") && s.has("invalid character") {
        // containers/image (CRI-O): the manifest body is not JSON.
        format!(
            "the registry served a manifest that is not valid JSON ({})",
            f.from("invalid character").unwrap_or_default()
        )
    } else if s.has("reports content size of zero") {
        const FETCH: &str = "unable to fetch descriptor (";
        // containerd (1.6 to 2.1) fetching a descriptor declared with size 0 (or `-0`):
        // `unable to fetch descriptor (sha256:…) which reports content size of zero`.
        format!(
            "the manifest declares a size of 0 for {}: containerd refuses to fetch a blob \
             declared empty that it does not already hold",
            f.from(FETCH)
                .and_then(|t| Some(t.get(FETCH.len()..)?.split(')').next()?.to_string()))
                .unwrap_or_else(|| "a blob".into())
        )
    } else if s.has("invalid desc") || (s.has("children:") && s.has("invalid character")) {
        format!(
            "the registry served a manifest that is not valid JSON ({})",
            f.from("invalid desc")
                .or_else(|| f.from("invalid character"))
                .unwrap_or_default()
        )
    } else {
        return None;
    };
    Some(Finding::new(Verdict::RegistryError, why))
}

/// 429 / TOOMANYREQUESTS (registries) and CRI-O's "too many requests to registry".
pub(super) fn rate_limited(f: &Facts<'_>) -> Option<Finding> {
    const MARKERS: [&str; 4] = [
        "toomanyrequests",
        "too many requests",
        "rate exceeded",
        "pull rate limit",
    ];
    if f.status != Some(429) && !f.scan.has_any(&MARKERS) {
        return None;
    }
    Some(Finding::new(
        Verdict::RateLimited,
        format!("{}: 429 Too Many Requests{}", f.at(), f.server()),
    ))
}

/// Content that does not hash to its digest.
pub(super) fn digest(f: &Facts<'_>) -> Option<Finding> {
    let s = &f.scan;
    let mismatch = s.has_any(&[
        "unexpected commit digest",
        "digest mismatch",
        "digest did not match",
    ]) || (s.has("failed precondition") && s.has("digest"));
    mismatch.then(|| {
        let why = f
            .from("unexpected commit digest")
            .unwrap_or_else(|| one_line(f.env.detail, 240));
        Finding::new(
            Verdict::DigestMismatch,
            format!("downloaded content does not match its digest ({why})"),
        )
    })
}

/// Missing repository, missing tag or digest, or a blob the manifest names but the registry lacks.
pub(super) fn not_found(f: &Facts<'_>) -> Option<Finding> {
    let s = &f.scan;
    let at = f.at();
    let server = f.server();
    let repo_unknown = s.has_any(&[
        "name unknown",
        "name_unknown",
        "repository name not known to registry",
    ]) || (s.has("repository with name") && s.has("does not exist"));
    if repo_unknown {
        return Some(Finding::new(
            Verdict::RepositoryUnknown,
            format!(
                "{at}: the repository does not exist ({})",
                one_line(f.env.detail, 240)
            ),
        ));
    }
    let found_not = s.has(": not found") || s.lower.trim_end().ends_with("not found");
    if found_not && s.has_any(&["failed open: content at", "content digest "]) {
        return Some(Finding::new(
            Verdict::RegistryError,
            format!(
                "a blob the manifest names is missing ({})",
                one_line(f.env.detail, 240)
            ),
        ));
    }
    if s.has_any(&["manifest unknown", "manifest_unknown"]) {
        let crio = s.after("reading manifest ").map(|rest| {
            let tag = first_word(rest);
            let repo = rest
                .split(" in ")
                .nth(1)
                .map(first_word)
                .unwrap_or("the repository");
            format!("tag or digest {tag} does not exist in {repo}")
        });
        let why =
            crio.unwrap_or_else(|| "the tag or digest does not exist (MANIFEST_UNKNOWN)".into());
        return Some(Finding::new(
            Verdict::ManifestUnknown,
            format!("{at}: {why}{server}"),
        ));
    }
    if found_not || f.status == Some(404) {
        let what = f
            .env
            .image
            .as_deref()
            .map(|i| format!("{i}: "))
            .unwrap_or_default();
        return Some(Finding::new(
            Verdict::ManifestUnknown,
            format!("{what}not found on {at}: the tag or digest does not exist — or the repository does not: containerd's manifest HEAD gets a body-less 404 for both, so it cannot tell them apart{server}"),
        )
        .fix("Check the tag or digest, and the repository path: one of them does not exist (containerd cannot say which; `pullcheck probe <image>` can). Retrying will not help."));
    }
    None
}

/// 5xx, and any other status the earlier rules did not explain (a broken mirror's 400).
pub(super) fn bad_status(f: &Facts<'_>) -> Option<Finding> {
    let status = f.status?;
    let at = f.at();
    let server = f.server();
    let at = if f.token_step() {
        format!("the token service at {at}")
    } else {
        at
    };
    let why = if (500..=599).contains(&status) {
        format!("{at}: {status}: the registry failed{server}")
    } else {
        format!("{at}: unexpected status {status}{server}")
    };
    Some(Finding::new(Verdict::RegistryError, why))
}

/// The image filesystem filled up.
pub(super) fn disk(f: &Facts<'_>) -> Option<Finding> {
    f.scan
        .has_any(&["no space left on device", "disk quota exceeded"])
        .then(|| {
            Finding::new(
                Verdict::InsufficientDisk,
                format!(
                    "the node's image filesystem is full ({})",
                    one_line(f.env.detail, 240)
                ),
            )
        })
}

/// Layer extraction: corrupt archives are the registry's (or a proxy's) fault; anything else
/// that fails while unpacking happened on the node. containerd says `failed to extract layer`,
/// `failed to unpack image on snapshotter …`, `apply layer error`; containers/image (CRI-O)
/// `writing blob: adding layer with blob "sha256:…": processing tar file(…)` or `ApplyLayer …`.
pub(super) fn unpack(f: &Facts<'_>) -> Option<Finding> {
    let s = &f.scan;
    let detail = one_line(f.env.detail, 240);
    let unpacking = s.has_any(&[
        "failed to extract layer",
        "failed to unpack",
        "apply layer error",
        "failed to apply layer",
        "adding layer with blob",
        "processing tar file",
        "applylayer",
        "error committing the finished image",
    ]);
    let corrupt = s.has_any(&[
        "archive/tar",
        "invalid tar header",
        "gzip: invalid header",
        "zstd: ",
        "flate: corrupt",
    ]) || (unpacking && s.has("unexpected eof"));
    if corrupt {
        return Some(Finding::new(
            Verdict::RegistryError,
            format!("a layer is not a valid (compressed) tar archive: the registry or a proxy served corrupt or truncated content ({detail})"),
        ));
    }
    if !unpacking {
        return None;
    }
    // containers/storage's own words for a user namespace without enough IDs.
    let ids = s.has_any(&["insufficient uids or gids", "potentially insufficient uids"]);
    let why = if ids {
        "the layer holds files owned by IDs the node's user-namespace mapping lacks"
    } else if s.has("operation not supported") {
        "the node's filesystem lacks a feature the snapshotter or storage driver needs (overlay whiteouts, xattrs)"
    } else {
        "unpacking a layer on the node failed"
    };
    let service = f.runtime.service();
    Some(
        Finding::new(
            Verdict::UnpackFailed,
            format!("the download finished but {why} ({detail})"),
        )
        .fix(if ids {
            "The image's files belong to users or groups outside the ID range the node maps (/etc/subuid and /etc/subgid for the runtime's user, or the pod's user namespace): widen the range, or rebuild the image with IDs inside it; then retry.".to_string()
        } else {
            format!("Read {service}'s log for the layer: check the snapshotter or storage driver (overlayfs support, mount options, a filesystem such as NFS under the image store), file ownership with user namespaces, and the image filesystem; then retry.")
        }),
    )
}
