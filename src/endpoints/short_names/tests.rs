use super::*;

fn table(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn names(aliases: &[(&str, &str)], search: Option<&[&str]>) -> ShortNames {
    let mut s = ShortNames::default();
    let search: Option<Vec<String>> = search.map(|l| l.iter().map(|r| r.to_string()).collect());
    s.merge(
        Some(&table(aliases)),
        search.as_deref(),
        None,
        "/etc/containers/registries.conf",
        true,
    )
    .unwrap();
    s
}

#[test]
fn short_means_no_registry_part() {
    for short in [
        "nginx",
        "nginx:1.27",
        "library/nginx",
        "a/b/c:v1",
        "app@sha256:abc",
    ] {
        assert!(is_short(short), "{short}");
    }
    for full in [
        "docker.io/nginx",
        "localhost/app",
        "127.0.0.1:5000/app",
        "registry:5000/app",
        "quay.io/org/app:v1",
    ] {
        assert!(!is_short(full), "{full}");
    }
}

#[test]
fn an_alias_wins_and_keeps_the_tag_or_digest() {
    let s = names(&[("app", "quay.io/org/app")], Some(&["docker.io"]));
    let r = s.resolve("app").unwrap().unwrap();
    assert_eq!(r.rationale, Rationale::Alias);
    assert_eq!(r.input, "app:latest");
    assert_eq!(r.candidates, ["quay.io/org/app:latest"]);
    let r = s.resolve("app:v2").unwrap().unwrap();
    assert_eq!(r.candidates, ["quay.io/org/app:v2"]);
    let d = format!("sha256:{}", "a".repeat(64));
    let r = s.resolve(&format!("app:v2@{d}")).unwrap().unwrap();
    // CRI-O drops the tag of a reference that has a digest too.
    assert_eq!(r.candidates, [format!("quay.io/org/app@{d}")]);
    assert_eq!(r.input, format!("app:v2@{d}"));
}

#[test]
fn the_alias_key_is_the_name_as_written() {
    let s = names(&[("app", "quay.io/org/app")], Some(&["docker.io"]));
    let r = s.resolve("library/app").unwrap().unwrap();
    assert_eq!(r.rationale, Rationale::SearchRegistries);
    assert_eq!(r.candidates, ["docker.io/library/app:latest"]);
}

#[test]
fn search_registries_give_one_candidate_each_in_order() {
    let s = names(
        &[],
        Some(&["registry.example.com:5000", "docker.io", "quay.io"]),
    );
    let r = s.resolve("nginx:1.27").unwrap().unwrap();
    assert_eq!(r.rationale, Rationale::SearchRegistries);
    assert_eq!(r.origin, "/etc/containers/registries.conf");
    assert_eq!(
        r.candidates,
        [
            "registry.example.com:5000/nginx:1.27",
            "docker.io/library/nginx:1.27",
            "quay.io/nginx:1.27"
        ]
    );
}

#[test]
fn a_later_file_overrides_an_alias_and_an_empty_value_resets_it() {
    let mut s = names(&[("app", "quay.io/org/app")], Some(&["docker.io"]));
    s.merge(
        Some(&table(&[("app", "")])),
        None,
        None,
        "/etc/containers/registries.conf.d/50-reset.conf",
        false,
    )
    .unwrap();
    let r = s.resolve("app").unwrap().unwrap();
    assert_eq!(r.rationale, Rationale::SearchRegistries);
    s.merge(
        Some(&table(&[("app", "ghcr.io/org/app")])),
        None,
        None,
        "/etc/containers/registries.conf.d/60-ghcr.conf",
        false,
    )
    .unwrap();
    let r = s.resolve("app").unwrap().unwrap();
    assert_eq!(r.candidates, ["ghcr.io/org/app:latest"]);
    assert_eq!(r.origin, "/etc/containers/registries.conf.d/60-ghcr.conf");
}

#[test]
fn the_generated_alias_file_comes_first() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("short-name-aliases.conf");
    std::fs::write(
        &cache,
        "[aliases]\n  app = \"registry.example.com/team/app\"\n",
    )
    .unwrap();
    let mut s = names(&[("app", "quay.io/org/app")], None);
    s.read_cache(Some(&cache));
    let r = s.resolve("app").unwrap().unwrap();
    assert_eq!(r.candidates, ["registry.example.com/team/app:latest"]);
    assert_eq!(r.origin, cache.display().to_string());
    // Missing is empty.
    let mut s = ShortNames::default();
    s.read_cache(Some(&dir.path().join("none")));
    assert!(s.cached.is_empty() && s.cache_error.is_none());
    // A broken one fails every short name, as containers/image fails, and only those.
    std::fs::write(&cache, "[aliases]\n  app = \"app:v1\"\n").unwrap();
    let mut s = names(&[], Some(&["quay.io"]));
    s.read_cache(Some(&cache));
    let e = s.resolve("app").unwrap_err();
    assert!(e.message.contains("must not contain tag"), "{}", e.message);
    assert_eq!(s.resolve("quay.io/org/app:v1"), Ok(None));
    let lines = s.summary_lines().join("\n");
    assert!(
        lines.contains(&format!("{} is unusable", cache.display())),
        "{lines}"
    );
}

#[test]
fn no_alias_and_no_search_registries_is_cri_o_s_error() {
    let s = ShortNames::default();
    let e = s.resolve("app").unwrap_err();
    assert_eq!(
        e.message,
        "short-name \"app:latest\" did not resolve to an alias and no containers-registries.conf(5) was found"
    );
    // registries.conf itself is named whether it sets the list or not.
    let s = names(&[], None);
    let e = s.resolve("app:v1").unwrap_err();
    assert_eq!(
        e.message,
        "short-name \"app:v1\" did not resolve to an alias and no unqualified-search registries are defined in \"/etc/containers/registries.conf\""
    );
    // A fully-qualified name needs neither.
    assert_eq!(s.resolve("quay.io/org/app:v1"), Ok(None));
}

#[test]
fn bad_aliases_are_all_named() {
    let mut s = ShortNames::default();
    let e = s
        .merge(
            Some(&table(&[
                ("quay.io/app", "quay.io/org/app"),
                ("tagged", "quay.io/org/app:v1"),
                ("short", "org/app"),
                ("ok", "quay.io/org/ok"),
            ])),
            None,
            None,
            "f.conf",
            false,
        )
        .unwrap_err();
    for part in [
        "invalid short name \"quay.io/app\": must not contain registry",
        "invalid alias \"quay.io/org/app:v1\": must not contain tag",
        "invalid alias \"org/app\": must contain registry and repository",
    ] {
        assert!(e.contains(part), "{e}");
    }
}

#[test]
fn docker_hub_aliases_are_normalized() {
    let s = names(&[("app", "docker.io/app")], None);
    let r = s.resolve("app").unwrap().unwrap();
    assert_eq!(r.candidates, ["docker.io/library/app:latest"]);
}

#[test]
fn node_lines_say_what_cri_o_does() {
    let mut s = names(
        &[("app", "quay.io/org/app"), ("gone", "")],
        Some(&["quay.io"]),
    );
    s.mode = Some("enforcing".into());
    let lines = s.summary_lines().join("\n");
    assert!(
        lines.contains("unqualified-search-registries: quay.io"),
        "{lines}"
    );
    assert!(
        lines.contains("short-name aliases: 1 from registries.conf files"),
        "{lines}"
    );
    assert!(lines.contains("CRI-O ignores it"), "{lines}");
}

#[test]
fn a_drop_in_names_the_search_registries_only_when_it_sets_them() {
    let mut s = names(&[], Some(&["quay.io"]));
    s.merge(
        None,
        None,
        None,
        "/etc/containers/registries.conf.d/10-a.conf",
        false,
    )
    .unwrap();
    assert_eq!(
        s.search_origin.as_deref(),
        Some("/etc/containers/registries.conf")
    );
    s.merge(
        None,
        Some(&[]),
        None,
        "/etc/containers/registries.conf.d/20-b.conf",
        false,
    )
    .unwrap();
    let e = s.resolve("app").unwrap_err();
    assert!(
        e.message
            .ends_with("defined in \"/etc/containers/registries.conf.d/20-b.conf\""),
        "{}",
        e.message
    );
}

#[test]
fn an_unknown_short_name_mode_is_refused() {
    let e = ShortNames::default()
        .merge(None, None, Some("strict"), "f.conf", true)
        .unwrap_err();
    assert_eq!(e, "invalid short-name mode: \"strict\"");
}
