use super::*;

fn conf(main: &str, drop_ins: &[(&str, &str)]) -> (tempfile::TempDir, Result<RegistriesConf>) {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("registries.conf");
    std::fs::write(&file, main).unwrap();
    if !drop_ins.is_empty() {
        let dir = d.path().join("registries.conf.d");
        std::fs::create_dir(&dir).unwrap();
        for (name, text) in drop_ins {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
    let certs = d.path().join("certs.d");
    let c = RegistriesConf::read(Some(&file), Some(&certs));
    (d, c)
}

fn hosts(c: &RegistriesConf, image: &str) -> Vec<(String, Option<String>)> {
    match c.resolve(&ImageRef::parse(image).unwrap()).unwrap() {
        Resolution::Hosts(e) => e.hosts.into_iter().map(|h| (h.url, h.repository)).collect(),
        Resolution::Blocked { prefix, at } => panic!("blocked {prefix} at {at}"),
    }
}

const MIRRORS: &str = r#"
unqualified-search-registries = ["docker.io"]

[[registry]]
prefix = "docker.io"
location = "docker.io"

[[registry.mirror]]
location = "mirror.example.com/hub"

[[registry.mirror]]
location = "digests.example.com"
pull-from-mirror = "digest-only"

[[registry]]
prefix = "quay.io/org"
location = "internal.example.com:5000/quay-org"
mirror-by-digest-only = true

[[registry.mirror]]
location = "m.example.com"
insecure = true
"#;

#[test]
fn mirrors_apply_in_order_by_tag_and_by_digest() {
    let (_d, c) = conf(MIRRORS, &[]);
    let c = c.unwrap();
    assert_eq!(
        hosts(&c, "nginx:1.25"),
        [
            (
                "https://mirror.example.com".into(),
                Some("hub/library/nginx".into())
            ),
            ("https://registry-1.docker.io".into(), None),
        ]
    );
    let digest = format!("nginx@sha256:{}", "a".repeat(64));
    assert_eq!(hosts(&c, &digest).len(), 3, "the digest-only mirror too");
    // The longest prefix, whole path components only; the location rewrites the repository.
    assert_eq!(
        hosts(&c, "quay.io/org/app:v1"),
        [(
            "https://internal.example.com:5000".into(),
            Some("quay-org/app".into())
        )]
    );
    assert_eq!(hosts(&c, "quay.io/organisation/app:v1").len(), 1);
    assert_eq!(
        hosts(&c, "quay.io/organisation/app:v1")[0].0,
        "https://quay.io"
    );
    let by_digest = format!("quay.io/org/app@sha256:{}", "b".repeat(64));
    let h = hosts(&c, &by_digest);
    assert_eq!(
        h,
        [
            ("https://m.example.com".into(), Some("app".into())),
            ("http://m.example.com".into(), Some("app".into())),
            (
                "https://internal.example.com:5000".into(),
                Some("quay-org/app".into())
            ),
        ],
        "an insecure mirror: unverified TLS, then plain HTTP"
    );
}

#[test]
fn a_blocked_registry_names_its_file_and_line() {
    let (_d, c) = conf(
        "[[registry]]\nlocation = \"evil.example.com\"\nblocked = true\n",
        &[],
    );
    match c
        .unwrap()
        .resolve(&ImageRef::parse("evil.example.com/x:1").unwrap())
        .unwrap()
    {
        Resolution::Blocked { prefix, at } => {
            assert_eq!(prefix, "evil.example.com");
            assert!(at.ends_with("registries.conf:3"), "{at}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn drop_ins_override_by_prefix_in_lexical_order() {
    let (_d, c) = conf(
        MIRRORS,
        &[
            (
                "20-block.conf",
                "[[registry]]\nprefix = \"docker.io\"\nlocation = \"docker.io\"\nblocked = true\n",
            ),
            (
                "10-first.conf",
                "[[registry]]\nprefix = \"docker.io\"\nlocation = \"first.example.com\"\n",
            ),
            ("ignored.txt", "not toml ["),
        ],
    );
    let c = c.unwrap();
    assert_eq!(c.files.len(), 3);
    assert!(c.files[1].ends_with("10-first.conf"), "{:?}", c.files);
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("20-block.conf") && n.contains("10-first.conf")),
        "{:?}",
        c.notes
    );
    assert!(matches!(
        c.resolve(&ImageRef::parse("nginx").unwrap()).unwrap(),
        Resolution::Blocked { at, .. } if at.contains("20-block.conf:4")
    ));
}

#[test]
fn wildcards_and_no_match() {
    let (_d, c) = conf(
        "[[registry]]\nprefix = \"*.corp.example\"\ninsecure = true\n",
        &[],
    );
    let c = c.unwrap();
    let h = hosts(&c, "r.corp.example/team/app:v1");
    assert_eq!(h[0].0, "https://r.corp.example");
    assert_eq!(h[1].0, "http://r.corp.example");
    assert_eq!(
        hosts(&c, "corp.example/app:v1"),
        [("https://corp.example".into(), None)]
    );
}

#[test]
fn bad_files_name_the_file_and_line_and_say_cri_o_refuses_them() {
    for (text, says) in [
        ("[[registry]]\nlocation = \"a\"\nblocked = \"yes\"\n", "line 3"),
        ("[registries.search]\nregistries = [\"docker.io\"]\n", "v1 format"),
        (
            "[[registry]]\nlocation = \"a\"\n[[registry.mirror]]\nlocation = \"b\"\npull-from-mirror = \"sometimes\"\n",
            "pull-from-mirror",
        ),
        ("[[registry]]\nprefix = \"*.x\"\nlocation = \"y\"\n", "wildcarded"),
        ("[[registry]]\ninsecure = true\n", "neither prefix nor location"),
        (
            "[[registry]]\nprefix = \"x\"\nlocation = \"a\"\n[[registry]]\nprefix = \"y\"\nlocation = \"a\"\ninsecure = true\n",
            "conflicting 'insecure' setting",
        ),
    ] {
        let (_d, c) = conf(text, &[]);
        let e = c.unwrap_err().to_string();
        assert!(e.contains(says), "{text}: {e}");
        assert!(e.contains("registries.conf"), "{e}");
        assert!(e.contains("CRI-O refuses to start"), "{e}");
    }
}

#[test]
fn a_missing_default_file_is_no_entries_and_a_given_one_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("nope.conf");
    assert!(RegistriesConf::read(Some(&missing), None).is_err());
}

#[test]
fn prefixes_match_whole_components() {
    assert!(matches_prefix("quay.io/org/app", "quay.io/org"));
    assert!(matches_prefix("quay.io/org", "quay.io/org"));
    assert!(!matches_prefix("quay.io/organisation/app", "quay.io/org"));
    assert!(matches_prefix("a.corp.example/x", "*.corp.example"));
    assert!(!matches_prefix("acorp.example/x", "*.corp.example"));
}

#[test]
fn a_repeated_prefix_in_one_file_keeps_the_first() {
    let (_d, c) = conf(
        "[[registry]]\nprefix = \"p.test\"\nlocation = \"first.test\"\n[[registry]]\nprefix = \"p.test\"\nlocation = \"second.test\"\n",
        &[],
    );
    let c = c.unwrap();
    assert_eq!(hosts(&c, "p.test/app:v1")[0].0, "https://first.test");
    assert!(
        c.notes.iter().any(|n| n.contains("the first wins")),
        "{:?}",
        c.notes
    );
}

#[test]
fn blocks_apply_to_each_source_rewritten_as_containers_image_looks_them_up() {
    // A blocked registry with a mirror (OpenShift's blocked source with a mirror set): the
    // mirror serves it. A prefix whose location is elsewhere is not blocked for its own name.
    let (_d, c) = conf(
        "[[registry]]\nlocation = \"src.test\"\nblocked = true\n[[registry.mirror]]\nlocation = \"mirror.test\"\n\n\
         [[registry]]\nprefix = \"moved.test\"\nlocation = \"new.test\"\nblocked = true\n\n\
         [[registry]]\nprefix = \"team.test/a\"\nlocation = \"team.test\"\nblocked = true\n",
        &[],
    );
    let c = c.unwrap();
    assert_eq!(
        hosts(&c, "src.test/app:v1"),
        [("https://mirror.test".into(), None)]
    );
    assert_eq!(hosts(&c, "moved.test/app:v1")[0].0, "https://new.test");
    assert_eq!(hosts(&c, "team.test/a/app:v1")[0].0, "https://team.test");
    let (_d, c) = conf(
        "[[registry]]\nlocation = \"src.test\"\nblocked = true\n",
        &[],
    );
    assert!(matches!(
        c.unwrap()
            .resolve(&ImageRef::parse("src.test/app:v1").unwrap())
            .unwrap(),
        Resolution::Blocked { .. }
    ));
}
