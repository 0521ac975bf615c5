//! Peels the wrappers off a pull-failure message — the kubelet's event and waiting-message
//! forms, the gRPC status prefix, containerd's and CRI-O's step prefixes — and keeps what each
//! one names (image, gRPC code), leaving the innermost error text.

use super::paste::{until_next_row, KUBELET_MARKERS, NEVER_PULL};
use super::scan::{first_word, split_quoted, strip_prefix_ci};

/// What the kubelet wrapped the runtime's error in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kubelet {
    /// No kubelet wrapper: a bare CRI error.
    None,
    /// `Failed to pull image "X": …` (the Failed event).
    FailedEvent,
    /// `Back-off pulling image "X": ErrImagePull: …` (waiting message, k8s ≥ 1.32).
    WaitingMessage,
    /// `Back-off pulling image "X"` with no cause (the BackOff event, or a waiting message < 1.32).
    BackOff,
    /// `Error: ErrImagePull` / `ImagePullBackOff` alone.
    ReasonOnly,
    /// `pull QPS exceeded.`: the kubelet's own throttle.
    QpsExceeded,
    /// `Container image "X" is not present with pull policy of Never`.
    NeverPull,
    /// `Failed to apply default image tag "X": …` (InvalidImageName).
    DefaultTag,
}

impl Kubelet {
    /// How the format is named in a diagnosis.
    pub fn label(self) -> Option<&'static str> {
        Some(match self {
            Kubelet::None => return None,
            Kubelet::FailedEvent => "kubelet Failed event",
            Kubelet::WaitingMessage => "kubelet waiting message (k8s >= 1.32)",
            Kubelet::BackOff => "kubelet BackOff event",
            Kubelet::ReasonOnly => "kubelet waiting reason",
            Kubelet::QpsExceeded => "kubelet pull throttle",
            Kubelet::NeverPull => "kubelet ErrImageNeverPull",
            Kubelet::DefaultTag => "kubelet InvalidImageName",
        })
    }
}

/// A step prefix the runtime put in front of its error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wrapper {
    /// containerd `failed to pull and unpack image "R": `.
    PullAndUnpack,
    /// containerd 1.6–2.0 (and 2.1+ local pull) `failed to resolve reference "R": `.
    ResolveReference,
    /// containerd 2.1+ transfer service `failed to resolve image: `.
    ResolveImage,
    /// containerd fetch step `failed to copy: httpReadSeeker: failed open: `.
    Fetch,
    /// containerd `failed to authorize: `.
    Authorize,
    /// containerd token request with credentials: `failed to fetch oauth token: `.
    OauthToken,
    /// containerd token request without credentials: `failed to fetch anonymous token: `.
    AnonymousToken,
    /// CRI-O `initializing source docker://R: `.
    CrioSource,
    /// CRI-O `image pull failed for R because the registry is unavailable: `.
    CrioUnavailable,
    /// CRI-O `pinging container registry H: `.
    CrioPing,
    /// Any other plain prefix (`failed to do request: `, Go's `Head "URL": `, `Error: `).
    Other,
}

/// A message with its wrappers peeled off.
#[derive(Debug, Clone)]
pub(super) struct Envelope<'a> {
    /// The kubelet's wrapper, if any.
    pub kubelet: Kubelet,
    /// The image the outermost wrapper names (the kubelet's, as in the pod spec).
    pub image: Option<String>,
    /// The image the runtime's own wrappers name (normalised by containerd).
    pub runtime_image: Option<String>,
    /// The gRPC code from `rpc error: code = X desc = `.
    pub grpc_code: Option<String>,
    /// The runtime's error: everything after the kubelet wrapper and the gRPC prefix.
    pub runtime: &'a str,
    /// The runtime's step prefixes, outermost first.
    pub wrappers: Vec<Wrapper>,
    /// The innermost error text.
    pub detail: &'a str,
}

impl Envelope<'_> {
    /// Whether the runtime wrapped its error in `w`.
    pub fn has(&self, w: Wrapper) -> bool {
        self.wrappers.contains(&w)
    }
}

/// Peels `message` (already bounded and trimmed).
pub(super) fn peel(message: &str) -> Envelope<'_> {
    let (kubelet, image, rest) = kubelet_layer(message);
    let (grpc_code, runtime) = grpc_layer(rest);
    let mut env = Envelope {
        kubelet,
        image,
        runtime_image: None,
        grpc_code,
        runtime,
        wrappers: Vec::new(),
        detail: runtime,
    };
    runtime_layers(&mut env);
    env
}

/// Kubelet forms, found anywhere so that a pasted `kubectl describe` line works too.
fn kubelet_layer(message: &str) -> (Kubelet, Option<String>, &str) {
    const KINDS: [Kubelet; 4] = [
        Kubelet::FailedEvent,
        Kubelet::BackOff,
        Kubelet::DefaultTag,
        Kubelet::NeverPull,
    ];
    let found = KUBELET_MARKERS
        .iter()
        .zip(KINDS)
        .filter_map(|(m, k)| message.find(m).map(|i| (i, *m, k)))
        // `Container image "X" already present on machine` is the kubelet's success.
        .filter(|(i, _, k)| *k != Kubelet::NeverPull || message[*i..].contains(NEVER_PULL))
        .min_by_key(|(i, _, _)| *i);
    if let Some((i, marker, kind)) = found {
        let after = &message[i + marker.len()..];
        if let Some((image, rest)) = split_quoted(after) {
            return kubelet_form(kind, image, until_next_row(rest));
        }
    }
    let bare = strip_prefix_ci(message, "error: ")
        .unwrap_or(message)
        .trim();
    // The waiting reason alone: two of them say what is wrong by themselves.
    let reasons = [
        ("errimagepull", Kubelet::ReasonOnly),
        ("imagepullbackoff", Kubelet::ReasonOnly),
        ("errimageneverpull", Kubelet::NeverPull),
        ("invalidimagename", Kubelet::DefaultTag),
    ];
    if let Some((_, kind)) = reasons.iter().find(|(r, _)| bare.eq_ignore_ascii_case(r)) {
        return (*kind, None, "");
    }
    if message.to_ascii_lowercase().contains("pull qps exceeded") {
        return (Kubelet::QpsExceeded, None, message);
    }
    (Kubelet::None, None, message)
}

fn kubelet_form<'a>(
    kind: Kubelet,
    image: &str,
    rest: &'a str,
) -> (Kubelet, Option<String>, &'a str) {
    let image = (!image.is_empty()).then(|| image.to_string());
    let rest = rest.strip_prefix(':').unwrap_or(rest).trim_start();
    match kind {
        Kubelet::BackOff => {
            let reasons = ["errimagepull: ", "imagepullbackoff: "];
            match reasons.iter().find_map(|r| strip_prefix_ci(rest, r)) {
                Some(cause) => (Kubelet::WaitingMessage, image, cause.trim_start()),
                None if rest.trim().is_empty() => (Kubelet::BackOff, image, ""),
                None => (Kubelet::WaitingMessage, image, rest),
            }
        }
        _ => (kind, image, rest),
    }
}

const GRPC_PREFIX: &str = "rpc error: code = ";

/// `rpc error: code = X desc = `, at the start or after leading text.
fn grpc_layer(text: &str) -> (Option<String>, &str) {
    let Some(i) = text.to_ascii_lowercase().find(GRPC_PREFIX) else {
        return (None, text);
    };
    let (code, rest) = grpc_desc(&text[i + GRPC_PREFIX.len()..]);
    (code, rest.trim_start())
}

/// Splits `X desc = rest` (after `rpc error: code = `) into the code and the description.
fn grpc_desc(after: &str) -> (Option<String>, &str) {
    let code = first_word(after);
    let rest = match after.to_ascii_lowercase().find("desc = ") {
        Some(j) => &after[j + "desc = ".len()..],
        None => after.trim_start().get(code.len()..).unwrap_or(""),
    };
    ((!code.is_empty()).then(|| code.to_string()), rest)
}

/// containerd and CRI-O step prefixes, peeled repeatedly from the front.
fn runtime_layers(env: &mut Envelope<'_>) {
    let mut text = env.detail;
    // Each pass removes at least one byte, so this ends; the cap is belt and braces.
    for _ in 0..64 {
        let trimmed = text.trim_start();
        // A nested gRPC status (CRI-O, proxies) is peeled like the outer one.
        if let Some(after) = strip_prefix_ci(trimmed, GRPC_PREFIX) {
            let (code, rest) = grpc_desc(after);
            if env.grpc_code.is_none() {
                env.grpc_code = code;
            }
            text = rest;
            continue;
        }
        let Some((wrapper, image, rest)) = one_layer(trimmed) else {
            break;
        };
        if env.runtime_image.is_none() {
            env.runtime_image = image.filter(|i| !i.is_empty()).map(str::to_string);
        }
        if wrapper != Wrapper::Other || !env.wrappers.contains(&wrapper) {
            env.wrappers.push(wrapper);
        }
        text = rest;
    }
    env.detail = text.trim();
    if env.image.is_none() {
        env.image.clone_from(&env.runtime_image);
    }
}

type Layer<'a> = (Wrapper, Option<&'a str>, &'a str);

/// One step prefix at the start of `text`: the wrapper, the image it names, and the rest.
fn one_layer(text: &str) -> Option<Layer<'_>> {
    const QUOTED: [(&str, Wrapper); 4] = [
        ("failed to pull and unpack image \"", Wrapper::PullAndUnpack),
        ("failed to resolve reference \"", Wrapper::ResolveReference),
        ("failed to pull image \"", Wrapper::PullAndUnpack),
        ("failed to parse image reference \"", Wrapper::Other),
    ];
    for (prefix, wrapper) in QUOTED {
        if let Some(after) = strip_prefix_ci(text, prefix) {
            let (image, rest) = split_quoted(after)?;
            return Some((wrapper, Some(image), after_colon(rest)));
        }
    }
    const PLAIN: [(&str, Wrapper); 10] = [
        ("failed to resolve image: ", Wrapper::ResolveImage),
        ("failed to copy: ", Wrapper::Fetch),
        ("httpreadseeker: failed open: ", Wrapper::Fetch),
        ("httpreadseeker: ", Wrapper::Fetch),
        ("failed to authorize: ", Wrapper::Authorize),
        ("failed to fetch oauth token: ", Wrapper::OauthToken),
        ("failed to fetch anonymous token: ", Wrapper::AnonymousToken),
        ("failed to do request: ", Wrapper::Other),
        ("error: ", Wrapper::Other),
        ("errimagepull: ", Wrapper::Other),
    ];
    for (prefix, wrapper) in PLAIN {
        if let Some(rest) = strip_prefix_ci(text, prefix) {
            return Some((wrapper, None, rest));
        }
    }
    crio_layer(text).or_else(|| go_url_layer(text))
}

fn after_colon(rest: &str) -> &str {
    rest.strip_prefix(':').unwrap_or(rest).trim_start()
}

/// CRI-O (containers/image) prefixes that name the image or the registry.
fn crio_layer(text: &str) -> Option<Layer<'_>> {
    for prefix in [
        "initializing source docker://",
        "error initializing source docker://",
    ] {
        if let Some(after) = strip_prefix_ci(text, prefix) {
            let (image, rest) = after.split_once(": ").unwrap_or((after, ""));
            return Some((Wrapper::CrioSource, Some(image), rest));
        }
    }
    if let Some(after) = strip_prefix_ci(text, "image pull failed for ") {
        let (image, rest) = after.split_once(' ')?;
        let rest = strip_prefix_ci(rest, "because the registry is unavailable")?;
        return Some((Wrapper::CrioUnavailable, Some(image), after_colon(rest)));
    }
    for prefix in [
        "pinging container registry ",
        "error pinging docker registry ",
    ] {
        if let Some(after) = strip_prefix_ci(text, prefix) {
            let (_, rest) = after.split_once(": ").unwrap_or((after, ""));
            return Some((Wrapper::CrioPing, None, rest));
        }
    }
    None
}

/// Go's `*url.Error` prefix: `Head "https://…": `, `Get "…": `, `Post "…": `.
fn go_url_layer(text: &str) -> Option<Layer<'_>> {
    for verb in ["head \"", "get \"", "post \""] {
        if let Some(after) = strip_prefix_ci(text, verb) {
            let (_, rest) = split_quoted(after)?;
            let rest = rest.strip_prefix(": ")?;
            return Some((Wrapper::Other, None, rest));
        }
    }
    None
}
