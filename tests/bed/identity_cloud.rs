//! Cloud node identities and Kubernetes pull secrets against the test bed: the EKS instance role
//! through a fake IMDSv2 and moto's ECR API, the GKE node service account through a fake GCE
//! metadata server, and pod/secret reads through a fake Kubernetes API speaking real JSON. The
//! registry is the bed's Basic-auth TLS registry, reached through hosts.toml under the cloud
//! registry's name (users `AWS` with moto's ECR password and `_token` with the metadata token).

use crate::support;

use serde_json::{json, Value};
use support::*;

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const GAR: &str = "europe-docker.pkg.dev";

/// hosts.toml sending `registry` to the bed's TLS registry.
fn redirect(registry: &str) -> tempfile::TempDir {
    let b = bed();
    let tls = format!("localhost:{}", b.port("tls"));
    hosts_dir(&[(
        registry,
        format!("server = \"https://{tls}\"\nca = \"{}\"\n", b.str("ca")),
    )])
}

/// Every secret the bed holds, none of which may appear in any output.
fn secrets() -> Vec<String> {
    let b = bed();
    ["password", "ecr_password", "gce_token", "imds_secret"]
        .iter()
        .map(|k| b.str(k))
        .collect()
}

fn probe_as(
    image: &str,
    hosts: &tempfile::TempDir,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Run, Value) {
    let mut args = vec![
        "probe",
        image,
        "-o",
        "json",
        "--hosts-dir",
        path(hosts.path()),
        "--log",
        "trace",
    ];
    args.extend_from_slice(extra);
    let out = pullcheck(&args, None, env);
    for s in secrets() {
        assert!(
            !out.stdout.contains(&s) && !out.stderr.contains(&s),
            "a secret leaked into the output of {args:?}"
        );
    }
    let r = out.json();
    assert_eq!(out.code as i64, r["exitCode"].as_i64().unwrap());
    (out, r)
}

fn ecr_env() -> Vec<(String, String)> {
    let b = bed();
    assert!(
        b.json["moto"].as_bool().unwrap_or(false),
        "moto_server (PyPI moto[server]) is needed for the ECR API; scripts/test installs it"
    );
    vec![
        (
            "AWS_ENDPOINT_URL_ECR".into(),
            format!("http://127.0.0.1:{}", b.port("ecr")),
        ),
        ("AWS_CONFIG_FILE".into(), "/nonexistent/aws-config".into()),
        (
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            "/nonexistent/aws-credentials".into(),
        ),
    ]
}

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn eks_instance_role_gets_an_ecr_token_and_pulls() {
    let b = bed();
    let hosts = redirect(ECR);
    let imds = format!("http://127.0.0.1:{}", b.port("imds"));
    let mut env = ecr_env();
    // IRSA / Pod Identity / static keys in the pod's environment must not change who we are.
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "irsa-web-identity-token").unwrap();
    env.extend([
        (
            "AWS_ROLE_ARN".to_string(),
            "arn:aws:iam::123456789012:role/irsa-role".to_string(),
        ),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE".to_string(),
            token_file.display().to_string(),
        ),
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI".to_string(),
            "http://127.0.0.1:1/creds".to_string(),
        ),
        (
            "AWS_ACCESS_KEY_ID".to_string(),
            "AKIAPODSTATICKEY".to_string(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_string(),
            "pod-static-secret".to_string(),
        ),
    ]);
    let (run, r) = probe_as(
        &format!("{ECR}/app:amd64"),
        &hosts,
        &["--imds-endpoint", &imds, "--platform", "linux/amd64"],
        &env_refs(&env),
    );
    assert_eq!(r["verdict"], "ok", "{}", run.stdout);
    assert_eq!(r["identity"]["source"]["kind"], "eks");
    assert_eq!(r["identity"]["source"]["role"], "pullcheck-node-role");
    assert_eq!(r["identity"]["source"]["region"], "us-east-1");
    let cloud = &r["identitySources"]["cloud"];
    assert_eq!(cloud["kind"], "eks");
    assert!(
        cloud["expiresAt"]
            .as_str()
            .unwrap()
            .starts_with("2015-01-01"),
        "{cloud}"
    );
    // moto's token is dated in the past: reported, the registry still decides.
    assert!(
        r["warnings"].to_string().contains("expired at 2015-01-01"),
        "{}",
        r["warnings"]
    );
    assert!(!run.stdout.contains("irsa-role") && !run.stdout.contains("AKIAPODSTATICKEY"));
}

#[test]
fn eks_identity_failures_are_identity_unavailable() {
    let b = bed();
    let hosts = redirect(ECR);
    let env = ecr_env();
    for (port, why) in [
        ("imds_nottl", "TTL"),
        ("imds_norole", "no IAM role"),
        ("closed", "Connection refused"),
    ] {
        let imds = format!("http://127.0.0.1:{}", b.port(port));
        let (run, r) = probe_as(
            &format!("{ECR}/app:amd64"),
            &hosts,
            &["--imds-endpoint", &imds],
            &env_refs(&env),
        );
        assert_eq!(
            r["verdict"], "identity_unavailable",
            "{port}: {}",
            run.stdout
        );
        let reason = r["reason"].as_str().unwrap();
        assert!(
            reason.contains("EKS node identity") && reason.contains(why),
            "{port}: {reason}"
        );
        // What the registry said anonymously stays visible.
        assert!(reason.contains("401"), "{reason}");
        assert!(r["identitySources"]["cloud"]["error"].as_str().is_some());
    }
}

#[test]
fn gke_node_service_account_pulls_as_token_user() {
    let b = bed();
    let hosts = redirect(GAR);
    let gce = format!("127.0.0.1:{}", b.port("gce"));
    let (run, r) = probe_as(
        &format!("{GAR}/app:amd64"),
        &hosts,
        &["--gce-metadata-host", &gce, "--platform", "linux/amd64"],
        &[],
    );
    assert_eq!(r["verdict"], "ok", "{}", run.stdout);
    assert_eq!(r["identity"]["source"]["kind"], "gke");
    assert_eq!(r["identity"]["source"]["email"], b.str("gce_email"));
    assert_eq!(r["identitySources"]["cloud"]["pullScope"], true);
    // GCE_METADATA_HOST works as well, and a node without a storage scope is flagged.
    let noscope = format!("127.0.0.1:{}", b.port("gce_noscope"));
    let (_, r) = probe_as(
        &format!("{GAR}/app:amd64"),
        &hosts,
        &["--platform", "linux/amd64"],
        &[("GCE_METADATA_HOST", &noscope)],
    );
    assert_eq!(r["identitySources"]["cloud"]["pullScope"], false);
    assert!(
        r["warnings"].to_string().contains("devstorage"),
        "{}",
        r["warnings"]
    );
    // Metadata server down.
    let closed = format!("127.0.0.1:{}", b.port("closed"));
    let (_, r) = probe_as(
        &format!("{GAR}/app:amd64"),
        &hosts,
        &["--gce-metadata-host", &closed],
        &[],
    );
    assert_eq!(r["verdict"], "identity_unavailable");
    assert!(
        r["reason"].as_str().unwrap().contains("GKE node identity"),
        "{}",
        r["reason"]
    );
}

fn docker_secret(ns: &str, name: &str, registry: &str, user: &str, password: &str) {
    kube_put(dockerconfigjson_secret(ns, name, registry, user, password));
}

fn pod(ns: &str, name: &str, secrets: &[&str], sa: &str) {
    let refs: Vec<Value> = secrets.iter().map(|s| json!({"name": s})).collect();
    kube_put(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
               "spec": {"serviceAccountName": sa, "imagePullSecrets": refs,
                        "containers": [{"name": "app", "image": "x"}]}}),
    );
}

#[test]
fn pod_pull_secrets_through_the_api_in_kubelet_order() {
    let b = bed();
    let tls = format!("localhost:{}", b.port("tls"));
    let hosts = redirect(&tls);
    let kubeconfig = kube().kubeconfig();
    let ns = "team-a";
    docker_secret(ns, "wrong", &tls, &b.user(), "not-the-password");
    docker_secret(ns, "right", &tls, &b.user(), &b.password());
    kube_put(
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "opaque", "namespace": ns}, "data": {}}),
    );
    kube_put(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "builder", "namespace": ns}, "imagePullSecrets": [{"name": "sa-secret"}]}));
    pod(
        ns,
        "web",
        &["missing", "opaque", "wrong", "right"],
        "builder",
    );
    let image = format!("{tls}/app:amd64");
    let (run, r) = probe_as(
        &image,
        &hosts,
        &[
            "--pod",
            "team-a/web",
            "--kubeconfig",
            &kubeconfig,
            "--platform",
            "linux/amd64",
        ],
        &[],
    );
    assert_eq!(r["verdict"], "ok", "{}", run.stdout);
    let src = &r["identity"]["source"];
    assert_eq!(
        (src["kind"].as_str(), src["name"].as_str()),
        (Some("secret"), Some("right")),
        "{src}"
    );
    // The wrong secret was tried first and failed; the kubelet then tried the right one.
    let creds = r["credentials"].as_array().unwrap();
    assert_eq!(creds[0]["source"]["name"], "wrong");
    assert_eq!(creds[0]["verdict"], "unauthorized");
    assert_eq!(creds[1]["used"], true);
    let sources = &r["identitySources"];
    assert_eq!(
        sources["pod"]["imagePullSecrets"],
        json!(["missing", "opaque", "wrong", "right"])
    );
    let notes = sources["notes"].to_string();
    assert!(notes.contains("team-a/missing not found"), "{notes}");
    assert!(notes.contains("Opaque"), "{notes}");
    assert!(notes.contains("copied into a pod at admission"), "{notes}");
    // --secret alone; and the wrong one alone is unauthorized naming it.
    let (_, r) = probe_as(
        &image,
        &hosts,
        &[
            "--secret",
            "team-a/right",
            "--kubeconfig",
            &kubeconfig,
            "--platform",
            "linux/amd64",
        ],
        &[],
    );
    assert_eq!(r["verdict"], "ok");
    let (_, r) = probe_as(
        &image,
        &hosts,
        &["--secret", "team-a/wrong", "--kubeconfig", &kubeconfig],
        &[],
    );
    assert_eq!(r["verdict"], "unauthorized");
    assert_eq!(r["identity"]["source"]["name"], "wrong");
}

#[test]
fn kubernetes_api_errors_name_the_object() {
    let b = bed();
    let kubeconfig = kube().kubeconfig();
    let run = pullcheck(
        &[
            "probe",
            "localhost:1/app:v1",
            "--pod",
            "team-a/nope",
            "--kubeconfig",
            &kubeconfig,
        ],
        None,
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("pod team-a/nope not found"),
        "{}",
        run.stderr
    );
    let run = pullcheck(&["probe", "localhost:1/app:v1", "--pod", "nope"], None, &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("expected NAMESPACE/NAME"),
        "{}",
        run.stderr
    );
    // API server unreachable.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kubeconfig");
    std::fs::copy(
        kubeconfig_for(&format!("http://{}", b.addr("closed")), "t").path(),
        &cfg,
    )
    .unwrap();
    let run = pullcheck(
        &[
            "probe",
            "localhost:1/app:v1",
            "--secret",
            "a/b",
            "--kubeconfig",
            path(&cfg),
        ],
        None,
        &[],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("secret a/b"), "{}", run.stderr);
}

#[test]
fn node_reports_the_cloud_identities() {
    let b = bed();
    let imds = format!("http://127.0.0.1:{}", b.port("imds"));
    let gce = format!("127.0.0.1:{}", b.port("gce_noscope"));
    let run = pullcheck(
        &[
            "node",
            "-o",
            "json",
            "--runtime-endpoint",
            "unix:///nonexistent/cri.sock",
            "--imds-endpoint",
            &imds,
            "--gce-metadata-host",
            &gce,
        ],
        None,
        &[],
    );
    let n = run.json();
    let of = |kind: &str| support::node_identity(&n, kind).unwrap_or_default();
    assert!(
        of("eks").contains("instance role pullcheck-node-role"),
        "{}",
        of("eks")
    );
    assert!(
        of("gke").contains(&b.str("gce_email")) && of("gke").contains("no devstorage"),
        "{}",
        of("gke")
    );
    assert!(of("aks").contains("not supported"));
    for s in secrets() {
        assert!(!run.stdout.contains(&s) && !run.stderr.contains(&s));
    }
}

/// A node with nothing on it: a fake /proc whose kubelet has an empty HOME and working
/// directory, and an empty kubelet root, so no file of this machine is read.
fn empty_node() -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let p = |s: &str| dir.path().join(s);
    for d in ["root", "cwd", "home", "bin", "proc/4242"] {
        std::fs::create_dir_all(p(d)).unwrap();
    }
    std::fs::write(p("proc/4242/comm"), "kubelet\n").unwrap();
    std::fs::write(
        p("proc/4242/environ"),
        format!("HOME={}\0PATH=/usr/bin:/bin\0", p("home").display()),
    )
    .unwrap();
    std::fs::write(p("proc/4242/cmdline"), "/usr/bin/kubelet\0").unwrap();
    std::os::unix::fs::symlink(p("cwd"), p("proc/4242/cwd")).unwrap();
    let args = vec![
        "--proc-root".to_string(),
        p("proc").display().to_string(),
        "--kubelet-root-dir".to_string(),
        p("root").display().to_string(),
    ];
    (dir, args)
}

/// Every credential source passes the same checks: with the right credential the probe is `ok`
/// and names that source; with a wrong one (where the source can be made wrong) it is
/// `unauthorized` naming that source; no secret appears in any output (`--log trace`).
#[test]
fn every_credential_source_conforms() {
    let b = bed();
    let tls = format!("localhost:{}", b.port("tls"));
    let kubeconfig = kube().kubeconfig();
    let password = b.password();
    let pick = |right: bool| {
        if right {
            password.as_str()
        } else {
            "wrong-password"
        }
    };
    let config_json = |pw: &str| {
        json!({"auths": {&tls: {"auth": b64(&format!("{}:{pw}", b.user()))}}}).to_string()
    };
    docker_secret("conformance", "right", &tls, &b.user(), &b.password());
    docker_secret("conformance", "wrong", &tls, &b.user(), "wrong-password");
    let ecr_env = ecr_env();
    let imds = format!("http://127.0.0.1:{}", b.port("imds"));
    let gce = format!("127.0.0.1:{}", b.port("gce"));

    // (source kind, image registry, setup(node dir, right?) -> (extra args, stdin, env))
    type Setup<'a> = Box<
        dyn Fn(&std::path::Path, bool) -> (Vec<String>, Option<String>, Vec<(String, String)>) + 'a,
    >;
    let sources: Vec<(&str, String, Setup)> = vec![
        (
            "flags",
            tls.clone(),
            Box::new(|_, right| {
                let pw = if right {
                    b.password()
                } else {
                    "wrong-password".into()
                };
                (
                    vec!["--username".into(), b.user(), "--password-stdin".into()],
                    Some(format!("{pw}\n")),
                    vec![],
                )
            }),
        ),
        (
            "pullSecret",
            tls.clone(),
            Box::new(|dir, right| {
                let f = dir.join(if right { "right.json" } else { "wrong.json" });
                std::fs::write(&f, config_json(pick(right))).unwrap();
                (
                    vec!["--docker-config".into(), f.display().to_string()],
                    None,
                    vec![],
                )
            }),
        ),
        (
            "secret",
            tls.clone(),
            Box::new(|_, right| {
                let name = if right {
                    "conformance/right"
                } else {
                    "conformance/wrong"
                };
                (
                    vec![
                        "--secret".into(),
                        name.into(),
                        "--kubeconfig".into(),
                        kubeconfig.clone(),
                    ],
                    None,
                    vec![],
                )
            }),
        ),
        (
            "nodeFile",
            tls.clone(),
            Box::new(|dir, right| {
                std::fs::write(dir.join("root/config.json"), config_json(pick(right))).unwrap();
                (vec![], None, vec![])
            }),
        ),
        (
            "plugin",
            tls.clone(),
            Box::new(|dir, right| {
                let pw = if right {
                    b.password()
                } else {
                    "wrong-password".into()
                };
                let script = dir.join("bin/test-provider");
                std::fs::write(&script, format!(
                "#!/bin/sh\ncat >/dev/null\necho '{{\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"kind\":\"CredentialProviderResponse\",\"cacheKeyType\":\"Image\",\"cacheDuration\":\"0s\",\"auth\":{{\"{tls}\":{{\"username\":\"{}\",\"password\":\"{pw}\"}}}}}}'\n",
                b.user()
            )).unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
                let cfg = dir.join("providers.yaml");
                std::fs::write(&cfg, format!(
                "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n- name: test-provider\n  matchImages: [\"{tls}\"]\n  defaultCacheDuration: 0s\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n"
            )).unwrap();
                (
                    vec![
                        "--image-credential-provider-config".into(),
                        cfg.display().to_string(),
                        "--image-credential-provider-bin-dir".into(),
                        dir.join("bin").display().to_string(),
                    ],
                    None,
                    vec![],
                )
            }),
        ),
        (
            "eks",
            ECR.to_string(),
            Box::new(|_, _| {
                (
                    vec!["--imds-endpoint".into(), imds.clone()],
                    None,
                    ecr_env.clone(),
                )
            }),
        ),
        (
            "gke",
            GAR.to_string(),
            Box::new(|_, _| {
                (
                    vec!["--gce-metadata-host".into(), gce.clone()],
                    None,
                    vec![],
                )
            }),
        ),
    ];
    for (kind, registry, setup) in &sources {
        // Cloud identities cannot be given a wrong password here: only the right case.
        let cases: &[bool] = if matches!(*kind, "eks" | "gke") {
            &[true]
        } else {
            &[true, false]
        };
        for &right in cases {
            let (node, mut args) = empty_node();
            let hosts = redirect(registry);
            let (extra, stdin, env) = setup(node.path(), right);
            args.extend(extra);
            let image = format!("{registry}/app:amd64");
            let mut full = vec![
                "probe".to_string(),
                image,
                "-o".into(),
                "json".into(),
                "--hosts-dir".into(),
                path(hosts.path()).to_string(),
                "--platform".into(),
                "linux/amd64".into(),
                "--log".into(),
                "trace".into(),
            ];
            full.extend(args);
            let refs: Vec<&str> = full.iter().map(String::as_str).collect();
            let env_refs: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let out = pullcheck(&refs, stdin.as_deref(), &env_refs);
            for s in secrets() {
                assert!(
                    !out.stdout.contains(&s) && !out.stderr.contains(&s),
                    "{kind}: a secret leaked"
                );
            }
            let r = out.json();
            let want = if right { "ok" } else { "unauthorized" };
            assert_eq!(r["verdict"], want, "{kind} right={right}: {}", out.stdout);
            assert_eq!(
                r["identity"]["source"]["kind"], *kind,
                "{kind} right={right}"
            );
            let used: Vec<&Value> = r["credentials"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["used"] == true)
                .collect();
            assert_eq!(
                used.len(),
                usize::from(right),
                "{kind} right={right}: {}",
                r["credentials"]
            );
        }
    }
}

#[test]
fn no_cloud_identity_leaves_the_metadata_services_alone() {
    let b = bed();
    let hosts = redirect(ECR);
    let imds = format!("http://127.0.0.1:{}", b.port("imds"));
    let env = ecr_env();
    let (run, r) = probe_as(
        &format!("{ECR}/app:amd64"),
        &hosts,
        &[
            "--imds-endpoint",
            &imds,
            "--no-cloud-identity",
            "--metadata-timeout",
            "1s",
        ],
        &env_refs(&env),
    );
    // Anonymous against a Basic-auth registry, and no cloud identity consulted.
    assert_eq!(r["verdict"], "unauthorized", "{}", run.stdout);
    // The advice is ECR's (the registry the image names; the bed answers for it), for a pull
    // that sent no credential.
    let fix = r["remediation"].as_str().unwrap();
    assert!(
        fix.starts_with("ECR refuses anonymous pulls, and no credential was sent"),
        "{fix}"
    );
    assert_eq!(r["identity"]["source"]["kind"], "anonymous");
    assert!(r["identitySources"].get("cloud").is_none());
}
