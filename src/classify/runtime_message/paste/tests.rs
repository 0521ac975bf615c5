use super::*;

#[test]
fn hard_wrapped_lines_are_joined() {
    let cases: &[(&str, &str)] = &[
        // A host name cut after its dot.
        ("Host: ghcr.\nio", "Host: ghcr.io"),
        // A URL cut by a terminal.
        (
            "unexpected status from HEAD request to https://ghcr.io/v2/acme/api/manif\nests/v2: 401 Unauthorized",
            "unexpected status from HEAD request to https://ghcr.io/v2/acme/api/manifests/v2: 401 Unauthorized",
        ),
        // Inside a quoted image name.
        (
            "failed to pull and unpack image \"ghcr.io/acme/a\npi:v2\": failed to resolve",
            "failed to pull and unpack image \"ghcr.io/acme/api:v2\": failed to resolve",
        ),
        // CRLF line ends.
        ("Host: ghcr.\r\nio", "Host: ghcr.io"),
    ];
    for (pasted, joined) in cases {
        assert_eq!(join_wrapped(pasted), *joined, "{pasted:?}");
    }
}

#[test]
fn terminal_width_wraps_are_joined_even_mid_word() {
    let message = "Failed to pull image \"registry.example/team/app:v1\": rpc error: code = Unknown desc = failed to pull and unpack image \"registry.example/team/app:v1\": failed to resolve reference \"registry.example/team/app:v1\": unexpected status from HEAD request to https://registry.example/v2/team/app/manifests/v1: 401 Unauthorized";
    let chars: Vec<char> = message.chars().collect();
    let wrapped: Vec<String> = chars.chunks(80).map(|c| c.iter().collect()).collect();
    let pasted = wrapped.join("\n");
    assert!(pasted.lines().count() >= 3);
    assert_eq!(join_wrapped(&pasted), message);
}

#[test]
fn real_line_breaks_stay() {
    for text in [
        // containerd ≥ 2.2: the registry's error on the line after the status.
        "unexpected status from GET request to https://r.example/v2/app/manifests/v1: 401 Unauthorized\nunauthorized: authentication required",
        // containers/image's list of errors.
        "reading manifest v1 in r.example/app: errors:\ndenied: requested access to the resource is denied\nunauthorized: authentication required",
        // describe rows and fields.
        "  Warning  Failed  1m  kubelet  Failed to pull image \"a\": x\n  Normal   BackOff  1m  kubelet  Back-off pulling image \"a\"",
        "Name:         web\nNamespace:    shop",
        // Describe fields of one length are not a terminal's width.
        "Name:             web-5d4f7-abcdefghij-klmnopqrst\nStart Time:       Mon, 07 Dec 2026 10:00:00 +0000\nNamespace:        shop",
        // A sentence that ends a line.
        "Your authorization token has expired.\nReauthenticate and try again.",
    ] {
        assert_eq!(join_wrapped(text), text, "{text:?}");
    }
}

#[test]
fn events_are_found_once_each() {
    let table = "\
Events:
  Type     Reason     Age                From     Message
  ----     ------     ----               ----     -------
  Normal   Pulling    2m (x4 over 3m)    kubelet  Pulling image \"a.example/app:v1\"
  Warning  Failed     2m (x4 over 3m)    kubelet  Failed to pull image \"a.example/app:v1\": rpc error: code = NotFound desc = a.example/app:v1: not found
  Warning  Failed     2m (x4 over 3m)    kubelet  Error: ErrImagePull
  Normal   Pulled     2m                 kubelet  Container image \"b.example/side:v1\" already present on machine
  Warning  Failed     90s (x2 over 2m)   kubelet  Failed to pull image \"c.example/db:v2\": rpc error: code = Unknown desc = failed to pull and unpack image \"c.example/db:v2\": failed to resolve reference \"c.example/db:v2\": unexpected status from HEAD request to https://c.example/v2/db/manifests/v2: 403 Forbidden
  Warning  Failed     2m (x4 over 3m)    kubelet  Failed to pull image \"a.example/app:v1\": rpc error: code = NotFound desc = a.example/app:v1: not found
  Normal   BackOff    1m (x6 over 3m)    kubelet  Back-off pulling image \"a.example/app:v1\"
";
    let found = events(table);
    let images: Vec<(&str, bool)> = found.iter().map(|e| (e.image, e.causeless)).collect();
    assert_eq!(
        images,
        [
            ("a.example/app:v1", false),
            ("c.example/db:v2", false),
            ("a.example/app:v1", true),
        ]
    );
    // Each message ends at the next row.
    assert!(
        found[0].text.ends_with("a.example/app:v1: not found"),
        "{found:?}"
    );
    assert!(found[1].text.ends_with("403 Forbidden"), "{found:?}");
}

#[test]
fn get_events_rows_end_a_message() {
    let rows = "LAST SEEN   TYPE      REASON    OBJECT      MESSAGE\n5m          Warning   Failed    pod/web-1   Failed to pull image \"a\": rpc error: code = NotFound desc = a: not found\n5m          Warning   Failed    pod/web-1   Error: ErrImagePull\n";
    let found = events(rows);
    assert_eq!(found.len(), 1);
    assert!(found[0].text.ends_with("a: not found"), "{found:?}");
}

#[test]
fn a_describe_block_names_the_waiting_containers() {
    let block = "\
Name:             web-5d4f7
Namespace:        shop
Priority:         0
Node:             node-1/10.0.0.4
Status:           Pending
Init Containers:
  migrate:
    Image:          ghcr.io/acme/migrate:v3
    State:          Terminated
      Reason:       Completed
Containers:
  api:
    Container ID:
    Image:          ghcr.io/acme/api:v2
    Image ID:
    Port:           8080/TCP
    State:          Waiting
      Reason:       ImagePullBackOff
    Ready:          False
  sidecar:
    Image:          Busybox
    State:          Waiting
      Reason:       InvalidImageName
    Last State:     Terminated
      Reason:       Error
Conditions:
  Type              Status
Events:            <none>
";
    let (pod, found) = waiting(block);
    assert_eq!(pod.name.as_deref(), Some("web-5d4f7"));
    assert_eq!(pod.namespace.as_deref(), Some("shop"));
    assert_eq!(
        found,
        [
            Waiting {
                container: "api".into(),
                image: "ghcr.io/acme/api:v2".into(),
                reason: "ImagePullBackOff".into(),
            },
            Waiting {
                container: "sidecar".into(),
                image: "Busybox".into(),
                reason: "InvalidImageName".into(),
            },
        ]
    );
}

#[test]
fn cut_messages_show_what_is_visible() {
    let cases: &[(&str, Option<(Cut, &str)>)] = &[
        (
            "…: 401 Unauthorized…",
            Some((Cut::Ellipsis, "…: 401 Unauthorized")),
        ),
        (
            "x: no such host...",
            Some((Cut::Ellipsis, "x: no such host")),
        ),
        // A fragment of a name is dropped.
        (
            "dial tcp: lookup registry.exa…",
            Some((Cut::Ellipsis, "dial tcp: lookup")),
        ),
        (
            "Failed to pull image \"ghcr.io/acme/ap",
            Some((Cut::OpenQuote, "Failed to pull image \"")),
        ),
        (
            "failed to resolve reference \"r.example/app:v1\":",
            Some((
                Cut::Dangling,
                "failed to resolve reference \"r.example/app:v1\"",
            )),
        ),
        (
            "rpc error: code = Unknown desc =",
            Some((Cut::Dangling, "rpc error: code = Unknown desc =")),
        ),
        ("r.example/app:v1: not found", None),
        ("x509: certificate signed by unknown authority", None),
        ("", None),
    ];
    for (text, want) in cases {
        assert_eq!(cut(text), *want, "{text:?}");
    }
}

#[test]
fn odd_input_never_panics() {
    for text in [
        "\"",
        "é…",
        "\u{3000}…",
        "a\u{3000}b.c…",
        "Failed to pull image \"",
        "Container image \"",
        "\n\n\n",
        "  Warning",
        "Name:\nNamespace:\n  c:\n    Image:\n    State: Waiting\n      Reason: ErrImagePull",
    ] {
        let _ = join_wrapped(text);
        let _ = events(text);
        let _ = waiting(text);
        let _ = cut(text);
    }
}
