use super::*;

fn users(c: &DockerConfig) -> Vec<(String, String, String)> {
    c.entries
        .iter()
        .map(|e| (e.key.clone(), e.username.clone(), e.password.clone()))
        .collect()
}

#[test]
fn config_json_and_legacy_dockercfg() {
    let c = parse(
        "c.json",
        br#"{"auths":{"r.io":{"username":"u","password":"p","email":"e@x"}}}"#,
        Format::ConfigJson,
    )
    .unwrap();
    assert_eq!(users(&c), [("r.io".into(), "u".into(), "p".into())]);
    let legacy = parse(
        ".dockercfg",
        br#"{"r.io":{"auth":"dTpw","email":"x"}}"#,
        Format::Dockercfg,
    )
    .unwrap();
    assert_eq!(users(&legacy), [("r.io".into(), "u".into(), "p".into())]);
    // Sniffing: auths → config.json, otherwise the bare map.
    assert_eq!(
        parse_sniffed("x", br#"{"auths":{}}"#).unwrap().format,
        Format::ConfigJson
    );
    assert_eq!(
        parse_sniffed("x", br#"{"r.io":{}}"#).unwrap().format,
        Format::Dockercfg
    );
}

#[test]
fn config_json_without_auths_parses_empty_like_go() {
    // The kubelet decodes config.json into {auths}: a legacy map there is valid and empty.
    let c = parse(
        "config.json",
        br#"{"r.io":{"auth":"dTpw"}}"#,
        Format::ConfigJson,
    )
    .unwrap();
    assert!(c.entries.is_empty());
    assert!(parse("n", b"null", Format::ConfigJson)
        .unwrap()
        .entries
        .is_empty());
    assert!(parse("n", br#"{"auths":null}"#, Format::ConfigJson)
        .unwrap()
        .entries
        .is_empty());
}

#[test]
fn auth_padded_unpadded_and_overrides_fields() {
    assert_eq!(decode_auth("aHViOnB3"), Some(("hub".into(), "pw".into())));
    assert_eq!(decode_auth("Z2g6cHc="), Some(("gh".into(), "pw".into())));
    assert_eq!(decode_auth("Z2g6cHc"), Some(("gh".into(), "pw".into())));
    // Missing padding on a value that needs it, wrong padding, no colon, not base64.
    assert_eq!(decode_auth("Z2g6cHc=="), None, "extra padding");
    // Go's StdEncoding tolerates non-zero trailing bits.
    assert_eq!(decode_auth("Z2g6cH=="), Some(("gh".into(), "p".into())));
    assert_eq!(decode_auth("dXNlcg=="), None, "no colon");
    assert_eq!(decode_auth("!!!"), None);
    // A password may contain ':'; the user name may be empty.
    assert_eq!(decode_auth("dTpwOnE="), Some(("u".into(), "p:q".into())));
    assert_eq!(decode_auth("OnB3"), Some(("".into(), "pw".into())));
    // Go ignores newlines inside base64.
    assert_eq!(decode_auth("aHVi\nOnB3"), Some(("hub".into(), "pw".into())));
    let c = parse(
        "c",
        br#"{"auths":{"r.io":{"username":"x","password":"y","auth":"dTpw"}}}"#,
        Format::ConfigJson,
    )
    .unwrap();
    assert_eq!(users(&c), [("r.io".into(), "u".into(), "p".into())]);
}

#[test]
fn a_bad_entry_fails_the_whole_file_without_echoing_it() {
    for (bytes, needle) in [
        (
            &br#"{"auths":{"r.io":{"auth":"s3cr3t-planted!"}}}"#[..],
            "auth is not base64",
        ),
        (
            br#"{"auths":{"r.io":{"password":7}}}"#,
            "password is not a string",
        ),
        (
            br#"{"auths":{"r.io":"s3cr3t-planted"}}"#,
            "not a JSON object",
        ),
        (
            br#"{"auths":["s3cr3t-planted"]}"#,
            "auths is not a JSON object",
        ),
        (br#"["s3cr3t-planted"]"#, "top level"),
        (br#"{"auths": s3cr3t-planted"#, "line 1"),
        (br#"{"HttpHeaders":{"X":1},"auths":{}}"#, "HttpHeaders"),
    ] {
        let e = parse("f.json", bytes, Format::ConfigJson)
            .unwrap_err()
            .to_string();
        assert!(e.contains("f.json") && e.contains(needle), "{e}");
        assert!(!e.contains("s3cr3t"), "{e}");
    }
}

#[test]
fn case_insensitive_fields_and_ignored_helpers() {
    let c = parse(
        "c",
        br#"{"Auths":{"r.io":{"Username":"u","PASSWORD":"p","identitytoken":"s3cr3t"}},
            "credsStore":"desktop","credHelpers":{"gcr.io":"gcloud"}}"#,
        Format::ConfigJson,
    )
    .unwrap();
    assert_eq!(users(&c), [("r.io".into(), "u".into(), "p".into())]);
    let ignored = c.ignored.join("; ");
    for name in ["credsStore", "credHelpers", "identitytoken"] {
        assert!(ignored.contains(name), "{ignored}");
    }
    assert!(!ignored.contains("desktop") && !ignored.contains("gcloud"));
    assert!(!ignored.contains("s3cr3t"));
    assert!(
        !format!("{c:?}").contains("\"p\""),
        "Debug redacts passwords"
    );
}

#[test]
fn files_are_bounded_and_missing_is_told_apart() {
    let e = read_file(Path::new("/nonexistent/config.json")).unwrap_err();
    assert!(e.is_not_found());
    let d = tempfile::tempdir().unwrap();
    let big = d.path().join("big.json");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(MAX_FILE_BYTES + 1).unwrap();
    assert!(matches!(read_file(&big), Err(Error::TooLarge { .. })));
}
