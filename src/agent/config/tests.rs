use super::*;
use std::io::Write;

fn args() -> AgentArgs {
    AgentArgs::default()
}

fn invalid_key(e: Error) -> String {
    match e {
        Error::Invalid { key, .. } => key,
        other => panic!("not an Invalid: {other}"),
    }
}

#[test]
fn defaults_are_valid() {
    let c = Config::from_args(&args()).unwrap();
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(
        c.metrics_listen.unwrap().to_string(),
        DEFAULT_METRICS_LISTEN
    );
    assert!(c.network_listen.is_none());
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.ttls, Ttls::default());
    assert_eq!(c.authz.to_string(), "get nodes/proxy");
    assert_eq!(c.max_concurrent_probes, 32);
    assert!(c.summary().contains("listen=127.0.0.1:8740"));
}

#[test]
fn the_summary_names_the_budgets_in_force() {
    // No flag: Docker Hub's default budget is in force, and the log says so.
    let c = Config::from_args(&args()).unwrap();
    let s = c.summary();
    assert!(s.contains(" registry-budget=docker.io=50/6h "), "{s}");
    assert!(!s.contains("registry-budget=none"), "{s}");
    assert!(s.contains(" default-registry-budget=300/1m "), "{s}");
    // Given ones are added, and one for docker.io replaces the default.
    let c = Config::from_args(&AgentArgs {
        registry_budget: vec!["ghcr.io=10/1m".into(), "docker.io=5/1h".into()],
        ..args()
    })
    .unwrap();
    let s = c.summary();
    assert!(
        s.contains(" registry-budget=docker.io=5/1h,ghcr.io=10/1m "),
        "{s}"
    );
}

#[test]
fn bad_values_name_their_key() {
    let cases: Vec<(&str, AgentArgs)> = vec![
        (
            "listen",
            AgentArgs {
                listen: Some("nonsense".into()),
                ..args()
            },
        ),
        (
            "listen",
            AgentArgs {
                listen: Some("0.0.0.0:8740".into()),
                ..args()
            },
        ),
        (
            "metrics-listen",
            AgentArgs {
                metrics_listen: Some("x".into()),
                ..args()
            },
        ),
        (
            "log-format",
            AgentArgs {
                log_format: Some("xml".into()),
                ..args()
            },
        ),
        (
            "cache-ok-ttl",
            AgentArgs {
                cache_ok_ttl: Some("forever".into()),
                ..args()
            },
        ),
        (
            "max-body-bytes",
            AgentArgs {
                max_body_bytes: Some("-1".into()),
                ..args()
            },
        ),
        (
            "allow-registry-cidr",
            AgentArgs {
                allow_registry_cidr: vec!["10.0.0.0/99".into()],
                ..args()
            },
        ),
        (
            "registry-budget",
            AgentArgs {
                registry_budget: vec!["docker.io".into()],
                ..args()
            },
        ),
        (
            "runtime-endpoint",
            AgentArgs {
                runtime_endpoint: Some("tcp://x".into()),
                ..args()
            },
        ),
        (
            "authz-resource",
            AgentArgs {
                authz_resource: Some("nodes/pro xy".into()),
                ..args()
            },
        ),
        (
            "node-name",
            AgentArgs {
                node_name: Some("Node_1".into()),
                ..args()
            },
        ),
    ];
    for (key, a) in cases {
        let e = Config::from_args(&a).unwrap_err();
        let text = e.to_string();
        assert_eq!(invalid_key(e), key, "{text}");
        assert!(text.contains("from flag or environment"), "{text}");
    }
}

#[test]
fn listeners_must_differ() {
    let a = AgentArgs {
        metrics_listen: Some(DEFAULT_LISTEN.into()),
        ..args()
    };
    let e = Config::from_args(&a).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Conflict {
                key: "metrics-listen",
                ..
            }
        ),
        "{e}"
    );
    // Port 0 twice is fine: each gets its own port.
    let a = AgentArgs {
        listen: Some("127.0.0.1:0".into()),
        metrics_listen: Some("127.0.0.1:0".into()),
        ..args()
    };
    assert!(Config::from_args(&a).is_ok());
}

#[test]
fn file_values_yield_to_flags() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        f,
        "listen = \"127.0.0.1:9000\"\nmax-concurrent-probes = 7\nallow-registry-cidr = [\"127.0.0.0/8\", \"::1/128\"]\nlog-format = \"json\"\ncache-ok-ttl = \"1m\""
    )
    .unwrap();
    let a = AgentArgs {
        config: Some(f.path().to_path_buf()),
        cache_ok_ttl: Some("2m".into()),
        ..args()
    };
    let c = Config::from_args(&a).unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.max_concurrent_probes, 7);
    assert_eq!(c.allow_registry_cidr.len(), 2);
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.ttls.ok, Duration::from_secs(120), "the flag wins");
}

#[test]
fn file_problems_are_named() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "lisen = \"127.0.0.1:9000\"").unwrap();
    let a = AgentArgs {
        config: Some(f.path().to_path_buf()),
        ..args()
    };
    let e = Config::from_args(&a).unwrap_err();
    assert!(e.to_string().contains("unknown key"), "{e}");
    assert_eq!(invalid_key(e), "lisen");

    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "max-connections = 0").unwrap();
    let a = AgentArgs {
        config: Some(f.path().to_path_buf()),
        ..args()
    };
    let e = Config::from_args(&a).unwrap_err();
    assert!(
        e.to_string().contains(&f.path().display().to_string()),
        "{e}"
    );
    assert_eq!(invalid_key(e), "max-connections");

    let a = AgentArgs {
        config: Some("/nonexistent/agent.toml".into()),
        ..args()
    };
    assert!(matches!(Config::from_args(&a), Err(Error::File { .. })));
}

#[test]
fn authz_defaults_to_this_node() {
    let a = AgentArgs {
        node_name: Some("node-1".into()),
        authz_resource: Some("services/proxy".into()),
        authz_namespace: Some("monitoring".into()),
        ..args()
    };
    let c = Config::from_args(&a).unwrap();
    assert_eq!(c.authz.name.as_deref(), Some("node-1"));
    assert_eq!(c.authz.subresource.as_deref(), Some("proxy"));
    assert_eq!(
        c.authz.to_string(),
        "get services/proxy in monitoring named node-1"
    );
}
