//! What the drift monitor's re-probing costs a registry: 500 watched images (distinct tags
//! and digests) on the test bed's Docker-Hub-like token registry, behind a proxy that counts
//! the requests reaching it by method. It prints the requests per probe, cold and warm, and
//! the requests per hour they come to with the default settings (`--monitor-interval 10m`),
//! and checks that warm re-probes of unchanged digests send no manifest GET (Docker Hub counts
//! a GET as a pull; a HEAD is free).
//!
//! The test runs the monitor with a 4 s interval so that two warm rounds fit in seconds; the
//! hourly figure scales the measured per-probe cost to the default interval.

mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::agent::*;
use support::*;

const IMAGES: usize = 500;
const DEFAULT_INTERVAL_S: f64 = 600.0;

/// A push token for `repo` from the registry's realm.
async fn push_token(c: &reqwest::Client, registry: &str, repo: &str) -> String {
    let ping = c
        .get(format!("http://{registry}/v2/"))
        .send()
        .await
        .unwrap();
    let challenge = ping.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    let field = |k: &str| {
        challenge
            .split(&format!("{k}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("no {k} in {challenge}"))
            .to_string()
    };
    let (realm, service) = (field("realm"), field("service"));
    let b = bed();
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("service", &service)
        .append_pair("scope", &format!("repository:{repo}:pull,push"))
        .finish();
    let body = c
        .get(format!("{realm}?{query}"))
        .basic_auth(b.user(), Some(b.password()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r: Value = serde_json::from_str(&body).expect("token JSON");
    r["token"].as_str().expect("token").to_string()
}

/// Tags `n` variants of `repo:both` (same platforms, distinct digests) as `prefix-i`.
async fn tag_many(registry: &str, repo: &str, prefix: &str, n: usize) {
    let c = client();
    let token = push_token(&c, registry, repo).await;
    let accept = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";
    let base = c
        .get(format!("http://{registry}/v2/{repo}/manifests/both"))
        .header("accept", accept)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(base.status(), 200);
    let media_type = base.headers()["content-type"].to_str().unwrap().to_string();
    let index: Value = serde_json::from_str(&base.text().await.unwrap()).unwrap();
    for i in 0..n {
        let mut v = index.clone();
        v["annotations"] = json!({"dev.pullcheck.test/variant": i.to_string()});
        let put = c
            .put(format!(
                "http://{registry}/v2/{repo}/manifests/{prefix}-{i}"
            ))
            .header("content-type", &media_type)
            .bearer_auth(&token)
            .body(serde_json::to_vec(&v).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(
            put.status(),
            201,
            "{}",
            put.text().await.unwrap_or_default()
        );
    }
}

async fn monitor(agent: &Agent) -> Value {
    get(&agent.url("/v1/monitor")).await.json()
}

/// Probes sent to the listed targets, and the smallest per-target count.
fn probes(m: &Value) -> (u64, u64) {
    let t = m["targets"].as_array().unwrap();
    let counts: Vec<u64> = t.iter().map(|t| t["probes"].as_u64().unwrap()).collect();
    (
        counts.iter().sum(),
        counts.iter().copied().min().unwrap_or(0),
    )
}

async fn until_each_probed(agent: &Agent, rounds: u64) -> (u64, Value) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let m = monitor(agent).await;
        let n = m["targets"].as_array().map_or(0, Vec::len);
        let (sum, min) = probes(&m);
        // Every target answered `rounds` times (a probe still running has no verdict yet).
        let answered = m["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["verdict"].is_string());
        if n == IMAGES && min >= rounds && answered {
            return (sum, m);
        }
        assert!(
            Instant::now() < deadline,
            "{n} targets, min probes {min}; log:\n{}",
            agent.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_watched_images_cost_one_head_each_per_round() {
    let registry = bed().addr("token");
    let prefix = format!("cost{}", std::process::id());
    tag_many(&registry, "public/app", &prefix, IMAGES).await;
    let proxy = CountingProxy::start(registry.parse().unwrap()).await;
    let front = proxy.addr.to_string();
    let hosts = http_hosts(&front);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("watch.yaml");
    let mut yaml = String::from("images:\n");
    for i in 0..IMAGES {
        yaml.push_str(&format!("  - {front}/public/app:{prefix}-{i}\n"));
    }
    std::fs::write(&list, yaml).unwrap();
    let budget = format!("{front}=100000/1m");
    let agent = Agent::start(
        &[
            "--hosts-dir",
            path(hosts.path()),
            "--watch-list",
            path(&list),
            "--monitor-interval",
            "4s",
            "--registry-budget",
            &budget,
        ],
        &[],
    );

    let started = Instant::now();
    let (cold_probes, m) = until_each_probed(&agent, 1).await;
    let cold_took = started.elapsed();
    let verdicts: Vec<&str> = m["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["verdict"].as_str())
        .filter(|v| *v != "ok")
        .collect();
    assert!(verdicts.is_empty(), "all pullable: {verdicts:?}");
    let (cold_requests, cold_gets) = (proxy.requests(), proxy.manifest_gets());

    let (warm_probes_total, _) = until_each_probed(&agent, 3).await;
    let warm_probes = warm_probes_total - cold_probes;
    let warm_requests = proxy.requests() - cold_requests;
    let warm_manifests = proxy.manifests();
    let warm_gets = proxy.manifest_gets() - cold_gets;
    let per_probe = warm_requests as f64 / warm_probes as f64;
    let per_hour = IMAGES as f64 * (3600.0 / DEFAULT_INTERVAL_S) * per_probe;
    println!(
        "monitor cost, {IMAGES} watched images on one token registry (distinct digests):\n\
         \x20 cold round: {cold_probes} probes, {cold_requests} registry requests ({cold_gets} manifest GETs), {:.1} s\n\
         \x20 warm rounds: {warm_probes} probes, {warm_requests} registry requests ({warm_gets} manifest GETs), {per_probe:.2} requests per probe\n\
         \x20 with the default interval (10m): {per_hour:.0} registry requests per hour ({:.2}/s), all HEAD; \
         plus one token request per repository per token lifetime (5 min on this registry and on Docker Hub)",
        cold_took.as_secs_f64(),
        per_hour / 3600.0
    );
    assert!(warm_manifests > 0);
    assert_eq!(
        warm_gets, 0,
        "re-probing unchanged digests sends HEAD only (Docker Hub counts GETs as pulls)"
    );
    assert!(
        per_probe <= 2.0,
        "a warm re-probe is a HEAD, plus a token request when the token expired: {per_probe}"
    );
}
