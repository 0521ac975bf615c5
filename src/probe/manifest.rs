//! Manifest media types (the Accept list containerd sends), digests, and what an index or a
//! single manifest says about platforms.

use super::evidence::{ContentProblem, ManifestKind};
use super::go_json::{key_is, GoStruct, Int, Merge, Pointer, Slice, Str};
use crate::platform::Platform;
use serde::de::{DeserializeSeed, MapAccess};
use sha2::{Digest, Sha256};

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema 1 (signed).
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// Docker schema 1.
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Image config media types a runtime can unpack.
pub const IMAGE_CONFIGS: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// The Accept header containerd sends for manifests.
pub const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*";

/// Manifests larger than this are refused (containerd's limit is of the same order).
pub const MANIFEST_LIMIT: usize = 4 * 1024 * 1024;
/// Config blobs larger than this are refused.
pub const CONFIG_LIMIT: usize = 8 * 1024 * 1024;

/// A manifest or an index as containerd's Go structs read it (`ocispec.Manifest`,
/// `ocispec.Index`, and the media type check's document), by Go's JSON rules
/// ([`super::go_json`]). `None`: the key was absent (or `null`); an empty `mediaType` or
/// `config` is as good as none (Go cannot tell them apart either).
#[derive(Default)]
struct Raw {
    schema_version: Option<i64>,
    media_type: String,
    manifests: Option<Vec<Descriptor>>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
}

impl GoStruct for Raw {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        if key_is(key, "schemaVersion") {
            map.next_value_seed(Int(&mut self.schema_version))?;
        } else if key_is(key, "mediaType") {
            map.next_value_seed(Str(&mut self.media_type))?;
        } else if key_is(key, "manifests") {
            map.next_value_seed(Slice(&mut self.manifests))?;
        } else if key_is(key, "config") {
            map.next_value_seed(Merge(self.config.get_or_insert_with(Descriptor::default)))?;
        } else if key_is(key, "layers") {
            map.next_value_seed(Slice(&mut self.layers))?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }
}

/// A content descriptor (`ocispec.Descriptor`, the fields the probe reads).
#[derive(Clone, Debug, Default)]
pub struct Descriptor {
    /// Media type.
    pub media_type: String,
    /// Digest.
    pub digest: String,
    /// Size in bytes as the manifest declares it (checked before use: a registry may say
    /// anything here). `-0` is 0, as Go reads it.
    pub size: i64,
    /// Platform of an index entry.
    pub platform: Option<RawPlatform>,
}

impl Descriptor {
    /// Nothing set (Go's zero descriptor).
    fn is_empty(&self) -> bool {
        self.media_type.is_empty()
            && self.digest.is_empty()
            && self.size == 0
            && self.platform.is_none()
    }
}

impl GoStruct for Descriptor {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        if key_is(key, "mediaType") {
            map.next_value_seed(Str(&mut self.media_type))?;
        } else if key_is(key, "digest") {
            map.next_value_seed(Str(&mut self.digest))?;
        } else if key_is(key, "size") {
            let mut n = Some(self.size);
            map.next_value_seed(Int(&mut n))?;
            self.size = n.unwrap_or(self.size);
        } else if key_is(key, "platform") {
            map.next_value_seed(Pointer(&mut self.platform))?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }
}

/// Platform fields as written in indexes and configs (`ocispec.Platform`).
#[derive(Clone, Debug, Default)]
pub struct RawPlatform {
    /// Architecture.
    pub architecture: String,
    /// OS.
    pub os: String,
    /// Variant.
    pub variant: String,
}

impl GoStruct for RawPlatform {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        let field = if key_is(key, "architecture") {
            &mut self.architecture
        } else if key_is(key, "os") {
            &mut self.os
        } else if key_is(key, "variant") {
            &mut self.variant
        } else {
            return Ok(false);
        };
        map.next_value_seed(Str(field))?;
        Ok(true)
    }
}

/// Reads a whole document by Go's rules into `T`.
fn go_decode<T: GoStruct>(body: &[u8]) -> Result<T, serde_json::Error> {
    let mut value = T::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    Merge(&mut value).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

impl RawPlatform {
    fn to_platform(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, &self.variant)
    }
}

/// One entry of an index: the manifest it names and its platform (`None`: none given).
#[derive(Debug, Clone)]
pub struct Entry {
    /// The platform manifest's descriptor.
    pub descriptor: Descriptor,
    /// Its platform.
    pub platform: Option<Platform>,
}

/// What a manifest body says.
#[derive(Debug)]
pub enum Parsed {
    /// An index with its entries (attestations skipped).
    Index(Vec<Entry>),
    /// A single manifest: its config and layer descriptors.
    Manifest(Image),
}

/// The blobs of an image manifest.
#[derive(Debug, Clone)]
pub struct Image {
    /// The config descriptor.
    pub config: Descriptor,
    /// The layer descriptors, in order.
    pub layers: Vec<Descriptor>,
}

/// A blob a manifest names: what the runtime will fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Media type.
    pub media_type: String,
    /// Declared size, bytes.
    pub size: u64,
}

impl Image {
    /// The layer blobs, each with a checked digest and size, and the total declared size of
    /// config and layers; a negative size, a bad digest or a total past `u64` is malformed.
    pub fn blobs(&self) -> Result<(Vec<BlobRef>, u64), ContentProblem> {
        let size = |d: &Descriptor, what: &str| {
            u64::try_from(d.size).map_err(|_| ContentProblem::Malformed {
                detail: format!("{what} {} has a negative size ({})", d.digest, d.size),
            })
        };
        let mut total = size(&self.config, "config")?;
        let mut layers = Vec::with_capacity(self.layers.len().min(1024));
        for (i, l) in self.layers.iter().enumerate() {
            if !is_sha256_digest(&l.digest) {
                return Err(ContentProblem::Malformed {
                    detail: format!("layer {i} has an invalid digest {:?}", truncate(&l.digest)),
                });
            }
            let n = size(l, "layer")?;
            total = total
                .checked_add(n)
                .ok_or_else(|| ContentProblem::Malformed {
                    detail: "the layer sizes add up past 2^64 bytes".into(),
                })?;
            layers.push(BlobRef {
                digest: l.digest.clone(),
                media_type: l.media_type.clone(),
                size: n,
            });
        }
        Ok((layers, total))
    }
}

/// Why a descriptor of size 0 (`"size": 0`, or `-0`, which Go reads as 0) fails a pull
/// through containerd: 1.6, 1.7 and 2.1 alike will not fetch a blob declared empty that the
/// content store does not hold yet ("unable to fetch descriptor (…) which reports content
/// size of zero: invalid argument"). containers/image (CRI-O) fetches it.
pub const ZERO_SIZE: &str =
    "containerd refuses to fetch a blob declared empty that it does not already hold";

/// Why a pull through containerd fails on this manifest's sizes: the config or a layer declares
/// a size of 0 (see [`ZERO_SIZE`]). `None` when every size is above 0.
pub fn zero_size(image: &Image) -> Option<ContentProblem> {
    let config = std::iter::once(("config", &image.config));
    let layers = image.layers.iter().map(|l| ("layer", l));
    config
        .chain(layers)
        .find(|(_, d)| d.size == 0)
        .map(|(what, d)| ContentProblem::Malformed {
            detail: format!(
                "{what} {} declares a size of 0: {ZERO_SIZE}",
                truncate(&d.digest)
            ),
        })
}

/// `sha256:` and 64 lowercase hex digits (what containerd accepts for a blob it fetches).
pub fn is_sha256_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn truncate(s: &str) -> String {
    crate::bounded::clip(s, 80)
}

/// `sha256:<hex>` of a body.
pub fn sha256(body: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(body))
}

/// Checks a body against the digest asked for (or announced).
pub fn verify_digest(body: &[u8], expected: &str) -> Result<String, ContentProblem> {
    let actual = sha256(body);
    if expected.starts_with("sha256:") && expected != actual {
        return Err(ContentProblem::DigestMismatch {
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(actual)
}

fn base_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Parses a manifest body given its Content-Type.
pub fn parse(
    content_type: &str,
    body: &[u8],
) -> Result<(ManifestKind, String, Parsed), ContentProblem> {
    let ct = base_type(content_type);
    if ct == DOCKER_SCHEMA1_SIGNED || ct == DOCKER_SCHEMA1 {
        return Err(ContentProblem::Schema1 { media_type: ct });
    }
    let mut raw: Raw = go_decode(body).map_err(|e| ContentProblem::Malformed {
        detail: format!(
            "manifest is not valid JSON ({} at line {} column {})",
            category(&e),
            e.line(),
            e.column()
        ),
    })?;
    let config = raw.config.take().filter(|c| !c.is_empty());
    if raw.schema_version == Some(1) {
        return Err(ContentProblem::Schema1 {
            media_type: if ct.is_empty() {
                "schemaVersion 1".into()
            } else {
                ct
            },
        });
    }
    let declared = if [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].contains(&ct.as_str())
    {
        ct.clone()
    } else if !raw.media_type.is_empty() {
        raw.media_type.clone()
    } else if raw.manifests.is_some() {
        OCI_INDEX.to_string()
    } else if config.is_some() {
        OCI_MANIFEST.to_string()
    } else {
        return Err(ContentProblem::UnknownMediaType {
            media_type: if ct.is_empty() { "(none)".into() } else { ct },
        });
    };
    match declared.as_str() {
        OCI_INDEX | DOCKER_LIST => {
            let entries = raw.manifests.ok_or(ContentProblem::Malformed {
                detail: "index without \"manifests\"".into(),
            })?;
            let entries = entries
                .into_iter()
                .filter(|d| {
                    !d.platform
                        .as_ref()
                        .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
                })
                .map(|d| Entry {
                    platform: d.platform.as_ref().map(RawPlatform::to_platform),
                    descriptor: d,
                })
                .collect();
            Ok((ManifestKind::Index, declared, Parsed::Index(entries)))
        }
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = config.ok_or(ContentProblem::Malformed {
                detail: "manifest without \"config\"".into(),
            })?;
            if !IMAGE_CONFIGS.contains(&config.media_type.as_str()) {
                return Err(ContentProblem::UnknownMediaType {
                    media_type: format!(
                        "{declared} with config {} (an artifact, not a container image)",
                        config.media_type
                    ),
                });
            }
            if !is_sha256_digest(&config.digest) {
                return Err(ContentProblem::Malformed {
                    detail: format!("config digest {:?} is not sha256", truncate(&config.digest)),
                });
            }
            let image = Image {
                config,
                layers: raw.layers.unwrap_or_default(),
            };
            Ok((ManifestKind::Manifest, declared, Parsed::Manifest(image)))
        }
        DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED => Err(ContentProblem::Schema1 {
            media_type: declared,
        }),
        other => Err(ContentProblem::UnknownMediaType {
            media_type: other.to_string(),
        }),
    }
}

/// Reads the platform of an image config blob.
pub fn config_platform(body: &[u8]) -> Result<Platform, ContentProblem> {
    let raw: RawPlatform = go_decode(body).map_err(|e| ContentProblem::Malformed {
        detail: format!("image config is not valid JSON ({})", category(&e)),
    })?;
    if raw.architecture.is_empty() || raw.os.is_empty() {
        return Err(ContentProblem::Malformed {
            detail: "image config has no architecture/os".into(),
        });
    }
    Ok(raw.to_platform())
}

fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected structure",
        serde_json::error::Category::Eof => "truncated",
        serde_json::error::Category::Io => "I/O",
    }
}

/// Picks the entry containerd would pull for `node`: the best-ranked accepted platform (the
/// first entry of that platform); an entry without a platform matches anything.
pub fn select<'a>(node: &Platform, entries: &'a [Entry]) -> Option<(Platform, &'a Entry)> {
    if let Some(e) = entries.iter().find(|e| e.platform.is_none()) {
        return Some((node.clone(), e));
    }
    node.accepted().into_iter().find_map(|want| {
        entries
            .iter()
            .find(|e| e.platform.as_ref() == Some(&want))
            .map(|e| (want, e))
    })
}

/// Platforms a report lists at most; the rest are counted.
pub const MAX_PLATFORMS_LISTED: usize = 64;
/// Characters of a platform's os, architecture or variant kept for the report.
pub const MAX_PLATFORM_FIELD: usize = 64;

/// The distinct platforms of `all` for the report: at most [`MAX_PLATFORMS_LISTED`] in
/// manifest order, each name cut to [`MAX_PLATFORM_FIELD`] characters, and how many distinct
/// ones were left out. Matching uses the full list; this is only what is shown.
pub fn listed_platforms<'a>(all: impl IntoIterator<Item = &'a Platform>) -> (Vec<Platform>, usize) {
    let cut = |s: &str| s.chars().take(MAX_PLATFORM_FIELD).collect::<String>();
    let mut listed: Vec<Platform> = Vec::new();
    let mut omitted = std::collections::HashSet::new();
    for p in all {
        let p = Platform {
            os: cut(&p.os),
            architecture: cut(&p.architecture),
            variant: cut(&p.variant),
        };
        if listed.contains(&p) {
            continue;
        }
        if listed.len() < MAX_PLATFORMS_LISTED {
            listed.push(p);
        } else {
            omitted.insert(p);
        }
    }
    (listed, omitted.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_platforms_skip_attestations() {
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:a","platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:b","platform":{"architecture":"unknown","os":"unknown"}}]}"#;
        let (kind, _, parsed) = parse(OCI_INDEX, body).unwrap();
        assert_eq!(kind, ManifestKind::Index);
        let Parsed::Index(p) = parsed else { panic!() };
        let platforms: Vec<_> = p.iter().map(|e| e.platform.clone()).collect();
        assert_eq!(
            platforms,
            vec![Some(Platform::parse("linux/arm64").unwrap())]
        );
        assert!(select(&Platform::parse("linux/amd64").unwrap(), &p).is_none());
        let (chosen, entry) = select(&Platform::parse("linux/arm64").unwrap(), &p).unwrap();
        assert_eq!(chosen, Platform::parse("linux/arm64").unwrap());
        assert_eq!(entry.descriptor.digest, "sha256:a");
    }

    #[test]
    fn schema1_artifacts_and_garbage() {
        assert!(matches!(
            parse(DOCKER_SCHEMA1_SIGNED, b"{}"),
            Err(ContentProblem::Schema1 { .. })
        ));
        assert!(matches!(
            parse("application/json", br#"{"schemaVersion":1,"fsLayers":[]}"#),
            Err(ContentProblem::Schema1 { .. })
        ));
        assert!(matches!(
            parse(OCI_MANIFEST, b"not json"),
            Err(ContentProblem::Malformed { .. })
        ));
        let helm = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:x"},"layers":[]}"#;
        assert!(matches!(
            parse(OCI_MANIFEST, helm),
            Err(ContentProblem::UnknownMediaType { .. })
        ));
        assert!(matches!(
            parse("text/html", b"{\"hello\":1}"),
            Err(ContentProblem::UnknownMediaType { .. })
        ));
    }

    #[test]
    fn layers_sizes_and_digests_are_checked() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let body = |layers: &str| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":10}},"layers":[{layers}]}}"#,
                d('c')
            )
        };
        let layer = |c: char, size: &str| {
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{size}}}"#,
                d(c)
            )
        };
        let image = |layers: &str| match parse(OCI_MANIFEST, body(layers).as_bytes()) {
            Ok((_, _, Parsed::Manifest(i))) => i,
            other => panic!("{other:?}"),
        };
        let (blobs, total) = image(&format!("{},{}", layer('a', "5"), layer('b', "7")))
            .blobs()
            .unwrap();
        assert_eq!(blobs.len(), 2);
        assert_eq!(total, 22);
        assert_eq!(blobs[1].digest, d('b'));
        let negative = image(&layer('a', "-1")).blobs().unwrap_err();
        assert!(
            matches!(negative, ContentProblem::Malformed { detail } if detail.contains("negative"))
        );
        let huge = i64::MAX.to_string();
        let overflow = image(&format!("{},{}", layer('a', &huge), layer('b', &huge)))
            .blobs()
            .unwrap_err();
        assert!(
            matches!(overflow, ContentProblem::Malformed { detail } if detail.contains("2^64"))
        );
        // Past i64: not a manifest serde accepts.
        assert!(parse(
            OCI_MANIFEST,
            body(&layer('a', "99999999999999999999")).as_bytes()
        )
        .is_err());
        let bad = r#"{"mediaType":"x","digest":"sha256:../../etc","size":1}"#;
        assert!(image(bad).blobs().is_err());
    }

    /// What containerd's Go decoder accepts (see `go_json`): duplicate keys, the last one
    /// winning; keys in any case, and with `ſ` for `s`; a size of `-0`.
    #[test]
    fn manifests_are_read_by_go_rules() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let cfg_mt = "application/vnd.oci.image.config.v1+json";
        let layer_mt = "application/vnd.oci.image.layer.v1.tar+gzip";
        let image = |body: String| match parse(OCI_MANIFEST, body.as_bytes()) {
            Ok((_, _, Parsed::Manifest(i))) => i,
            other => panic!("{body}: {other:?}"),
        };
        let dup = image(format!(
            r#"{{"schemaVersion":1,"schemaVersion":2,"mediaType":"{OCI_INDEX}","mediaType":"{OCI_MANIFEST}",
            "config":{{"mediaType":"x","digest":"{}","size":2}},"config":{{"mediaType":"{cfg_mt}","digest":"{}","size":7}},
            "layers":[{{"mediaType":"{layer_mt}","digest":"{}","size":1}}],"layers":[{{"digest":"{}","size":5}}]}}"#,
            d('0'),
            d('c'),
            d('0'),
            d('a')
        ));
        assert_eq!(
            (dup.config.digest.as_str(), dup.config.size),
            (d('c').as_str(), 7)
        );
        let (blobs, total) = dup.blobs().unwrap();
        // The second "layers" decodes into the first one's element: its media type stays.
        assert_eq!(
            blobs,
            vec![BlobRef {
                digest: d('a'),
                media_type: layer_mt.into(),
                size: 5
            }]
        );
        assert_eq!(total, 12);
        let caps = image(format!(
            r#"{{"SchemaVersion":2,"MEDIATYPE":"{OCI_MANIFEST}","Config":{{"MediaType":"{cfg_mt}","DIGEST":"{}","Size":7}},
            "Layers":[{{"mediatype":"{layer_mt}","Digest":"{}","SIZE":5}}]}}"#,
            d('c'),
            d('a')
        ));
        assert_eq!(caps.blobs().unwrap().1, 12);
        let folded = image(format!(
            r#"{{"ſchemaVersion":2,"config":{{"mediaType":"{cfg_mt}","digeſt":"{}","ſize":7}},
            "layerſ":[{{"mediaType":"{layer_mt}","digest":"{}","ſIZE":5}}]}}"#,
            d('c'),
            d('a')
        ));
        assert_eq!(folded.blobs().unwrap().1, 12);
        let negzero = image(format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{cfg_mt}","digest":"{}","size":7}},
            "layers":[{{"mediaType":"{layer_mt}","digest":"{}","size":-0}}]}}"#,
            d('c'),
            d('a')
        ));
        assert_eq!(negzero.layers[0].size, 0);
        assert!(negzero.blobs().is_ok(), "containers/image pulls it");
        assert!(matches!(
            zero_size(&negzero),
            Some(ContentProblem::Malformed { detail }) if detail.contains("layer sha256:aaa") && detail.contains("declares a size of 0")
        ));
        assert!(zero_size(&dup).is_none());
        // What Go refuses stays refused: a size that is not an integer literal.
        for size in ["-0.0", "1e3", "5.0", "\"5\""] {
            let body = format!(
                r#"{{"schemaVersion":2,"config":{{"mediaType":"{cfg_mt}","digest":"{}","size":{size}}}}}"#,
                d('c')
            );
            assert!(
                matches!(
                    parse(OCI_MANIFEST, body.as_bytes()),
                    Err(ContentProblem::Malformed { .. })
                ),
                "{size}"
            );
        }
        // Index entries and their platforms, in any case.
        let body = format!(
            r#"{{"MANIFESTS":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","Platform":{{"OS":"linux","Architecture":"arm64"}}}}]}}"#,
            d('b')
        );
        let Ok((ManifestKind::Index, _, Parsed::Index(entries))) =
            parse(OCI_INDEX, body.as_bytes())
        else {
            panic!("{body}")
        };
        assert_eq!(
            entries[0].platform,
            Some(Platform::parse("linux/arm64").unwrap())
        );
        assert_eq!(
            config_platform(br#"{"Architecture":"amd64","OS":"linux","architecture":"arm64"}"#)
                .unwrap()
                .to_string(),
            "linux/arm64"
        );
    }

    #[test]
    fn digests() {
        let d = sha256(b"abc");
        assert_eq!(
            d,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(verify_digest(b"abc", &d).is_ok());
        assert!(matches!(
            verify_digest(b"abd", &d),
            Err(ContentProblem::DigestMismatch { .. })
        ));
    }

    #[test]
    fn config_platforms() {
        let p = config_platform(br#"{"architecture":"aarch64","os":"linux"}"#).unwrap();
        assert_eq!(p.to_string(), "linux/arm64");
        assert!(config_platform(b"{}").is_err());
    }
}
