use super::*;

fn eks(role: &str) -> Source {
    Source::Eks {
        role: role.into(),
        region: "eu-west-1".into(),
    }
}

#[test]
fn hosts_name_their_registry() {
    let cases: &[(&str, Option<Registry>)] = &[
        (
            "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            Some(Registry::Ecr {
                account: "123456789012".into(),
                region: "eu-west-1".into(),
            }),
        ),
        (
            "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
            Some(Registry::Ecr {
                account: "123456789012".into(),
                region: "us-east-1".into(),
            }),
        ),
        (
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn:443",
            Some(Registry::Ecr {
                account: "123456789012".into(),
                region: "cn-north-1".into(),
            }),
        ),
        (
            "europe-west4-docker.pkg.dev",
            Some(Registry::ArtifactRegistry),
        ),
        ("eu.gcr.io", Some(Registry::Gcr)),
        ("gcr.io", Some(Registry::Gcr)),
        (
            "https://contoso.azurecr.io/v2/app/manifests/v1",
            Some(Registry::Acr {
                name: "contoso".into(),
            }),
        ),
        ("ghcr.io", Some(Registry::Ghcr)),
        ("https://registry-1.docker.io", Some(Registry::DockerHub)),
        ("docker.io", Some(Registry::DockerHub)),
        ("quay.io", Some(Registry::Quay)),
        ("registry.example.com", None),
        // Look-alikes are not the service.
        ("evil.dkr.ecr.eu-west-1.amazonaws.com", None),
        ("ghcr.io.example.com", None),
        ("a.b.azurecr.io", None),
    ];
    for (host, want) in cases {
        assert_eq!(&registry_of(host, None), want, "{host}");
    }
    assert_eq!(
        registry_of(
            "harbor.example.com",
            Some("https://harbor.example.com/service/token")
        ),
        Some(Registry::Harbor)
    );
}

#[test]
fn an_ecr_refusal_names_the_role_and_the_policy() {
    let r = registry_of("123456789012.dkr.ecr.eu-west-1.amazonaws.com", None).unwrap();
    let fix = for_registry(Verdict::Forbidden, &r, Some(&eks("node-role"))).unwrap();
    for part in [
        "AmazonEC2ContainerRegistryReadOnly",
        "the node role node-role",
        "repository policy",
        "pull-through cache",
        "--region eu-west-1",
    ] {
        assert!(fix.contains(part), "{part} in {fix}");
    }
    let layers = for_registry(Verdict::BlobDenied, &r, None).unwrap();
    assert!(layers.contains("S3 gateway endpoint"), "{layers}");
    assert!(
        layers.contains("prod-eu-west-1-starport-layer-bucket"),
        "{layers}"
    );
    let net = for_registry(Verdict::Timeout, &r, None).unwrap();
    assert!(net.contains("com.amazonaws.eu-west-1.ecr.dkr"), "{net}");
    let expired = for_registry(Verdict::CredentialsExpired, &r, None).unwrap();
    assert!(expired.contains("12 hours"), "{expired}");
    // Nothing specific for a content problem.
    assert_eq!(for_registry(Verdict::PlatformMismatch, &r, None), None);
}

#[test]
fn google_acr_ghcr_and_hub_get_their_own_words() {
    let gke = Source::Gke {
        email: "nodes@p.iam.gserviceaccount.com".into(),
    };
    let ar = for_registry(Verdict::Forbidden, &Registry::ArtifactRegistry, Some(&gke)).unwrap();
    assert!(ar.contains("roles/artifactregistry.reader"), "{ar}");
    assert!(ar.contains("nodes@p.iam.gserviceaccount.com"), "{ar}");
    assert!(ar.contains("scope"), "{ar}");
    let pga = for_registry(Verdict::DnsFailure, &Registry::Gcr, None).unwrap();
    assert!(pga.contains("Private Google Access"), "{pga}");
    let acr = for_registry(
        Verdict::Unauthorized,
        &Registry::Acr {
            name: "contoso".into(),
        },
        None,
    )
    .unwrap();
    assert!(
        acr.contains("AcrPull") && acr.contains("--attach-acr contoso"),
        "{acr}"
    );
    assert!(acr.contains("az aks check-acr"), "{acr}");
    let gh = for_registry(Verdict::Forbidden, &Registry::Ghcr, None).unwrap();
    assert!(gh.contains("read:packages"), "{gh}");
    assert!(!ar.contains("read:packages"), "GAR advice is not GHCR's");
    let hub = for_registry(Verdict::RateLimited, &Registry::DockerHub, None).unwrap();
    assert!(
        hub.contains("per source IP") && hub.contains("imagePullSecret"),
        "{hub}"
    );
    assert!(for_registry(Verdict::RateLimited, &Registry::Ghcr, None).is_none());
    let quay = for_registry(Verdict::Unauthorized, &Registry::Quay, None).unwrap();
    assert!(quay.contains("robot account"), "{quay}");
}

#[test]
fn the_principal_is_the_credential_that_was_sent() {
    let r = registry_of("123456789012.dkr.ecr.eu-west-1.amazonaws.com", None).unwrap();
    let secret = Source::Secret {
        namespace: "team-a".into(),
        name: "ecr-pull".into(),
        key: "123456789012.dkr.ecr.eu-west-1.amazonaws.com".into(),
        username: "AWS".into(),
    };
    let fix = for_registry(Verdict::Forbidden, &r, Some(&secret)).unwrap();
    assert!(
        fix.contains("the identity behind the pull secret (secret:team-a/ecr-pull)"),
        "{fix}"
    );
    assert!(!fix.contains("instance role"), "{fix}");
    let anon = for_registry(Verdict::Unauthorized, &r, Some(&Source::Anonymous)).unwrap();
    assert!(
        anon.contains("no credential was sent") && anon.contains("ecr-credential-provider"),
        "{anon}"
    );
    let gar = for_registry(
        Verdict::Unauthorized,
        &Registry::ArtifactRegistry,
        Some(&Source::Anonymous),
    )
    .unwrap();
    assert!(gar.contains("No credential was sent"), "{gar}");
    // Unknown (explain): both are named.
    let unknown = for_registry(Verdict::Forbidden, &r, None).unwrap();
    assert!(
        unknown.contains("instance role (or the principal of the pull secret)"),
        "{unknown}"
    );
}
