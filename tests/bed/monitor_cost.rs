//! What the drift monitor's re-probing costs a registry: 500 watched images (distinct tags
//! and digests) on the test bed's Docker-Hub-like token registry, behind a proxy that counts
//! the requests reaching it by method. It prints the requests per probe, cold and warm, and
//! the requests per hour they come to with the default settings (`--monitor-interval 10m`),
//! and checks that warm re-probes of unchanged digests send no manifest GET (Docker Hub counts
//! a GET as a pull; a HEAD is free).
//!
//! The test runs the monitor with a 4 s interval so that two warm rounds fit in seconds; the
//! hourly figure scales the measured per-probe cost to the default interval.
//!
//! The fleet simulation (50 agents) measures what a cluster costs the registry: cold, warm,
//! after a rollout restart with and without `--state-dir`, and on nodes that hold the image.

use crate::support;

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

/// Copies `from:both` (the index, its platform manifests and blobs) to `to:both` on the
/// token registry with skopeo, so that a test which tags variants changes a repository of its
/// own: other modules of the bed binary list the tags of the bed's repositories.
fn copy_image(registry: &str, from: &str, to: &str) {
    let b = bed();
    let creds = format!("{}:{}", b.user(), b.password());
    let run = run_program(
        "skopeo",
        &[
            "copy",
            "--all",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
            &format!("docker://{registry}/{from}:both"),
            &format!("docker://{registry}/{to}:both"),
        ],
        None,
    );
    assert_eq!(run.code, 0, "skopeo copy {from} {to}: {}", run.stderr);
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
    let repo = format!("public/{prefix}");
    copy_image(&registry, "public/app", &repo);
    tag_many(&registry, &repo, &prefix, IMAGES).await;
    let proxy = CountingProxy::start(registry.parse().unwrap()).await;
    let front = proxy.addr.to_string();
    let hosts = http_hosts(&front);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("watch.yaml");
    let mut yaml = String::from("images:\n");
    for i in 0..IMAGES {
        yaml.push_str(&format!("  - {front}/{repo}:{prefix}-{i}\n"));
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

/// Agents in the fleet simulation (each a process of its own, as on a node).
const FLEET: usize = 50;

/// Starts one agent per state directory (`None`: memory only), probing through `hosts`.
fn fleet(states: &[Option<&std::path::Path>], hosts: &str, runtime: Option<&str>) -> Vec<Agent> {
    states
        .iter()
        .map(|state| {
            let mut args = vec!["--hosts-dir", hosts, "--monitor", "off"];
            if let Some(s) = state {
                args.extend(["--state-dir", path(s)]);
            }
            if let Some(r) = runtime {
                args.extend(["--runtime-endpoint", r]);
            }
            Agent::start(&args, &[])
        })
        .collect()
}

/// Every agent probes `image` once (all at once, as a rollout does); the manifest GETs and
/// HEADs that reached the registry meanwhile, and each answer's manifest origin.
async fn round(
    agents: &[Agent],
    image: &str,
    fresh: bool,
    proxy: &CountingProxy,
) -> (usize, usize, Vec<String>) {
    let (gets, all) = (proxy.manifest_gets(), proxy.manifests());
    let fresh = if fresh { "true" } else { "false" };
    let query = [("image", image), ("fresh", fresh)];
    let answers = futures_util::future::join_all(agents.iter().map(|a| probe(a, &query))).await;
    let mut origins = Vec::new();
    for (a, agent) in answers.iter().zip(agents) {
        assert_eq!(a.status, 200, "{}\n{}", a.text, agent.logs());
        let r = a.json();
        assert_eq!(r["verdict"], "ok", "{}", a.text);
        origins.push(r["manifestOrigin"].as_str().unwrap_or("").to_string());
    }
    origins.sort();
    origins.dedup();
    let gets = proxy.manifest_gets() - gets;
    let heads = proxy.manifests() - all - gets;
    (gets, heads, origins)
}

/// The fleet simulation: 50 agents (one per node) probing one multi-platform image (an index
/// and its platform manifest: two digests) on the token registry, behind a proxy that counts
/// manifest GETs (Docker Hub: pulls) and HEADs (free). Phases: a cold cluster, a warm re-probe,
/// a rollout restart of every agent with its state directory, the same restart without one
/// (how it was before `--state-dir`), and nodes whose runtime already holds the image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_spends_at_most_one_get_per_digest_per_node_and_none_after_a_restart() {
    let registry = bed().addr("token");
    let proxy = CountingProxy::start(registry.parse().unwrap()).await;
    let front = proxy.addr.to_string();
    let hosts = http_hosts(&front);
    let h = path(hosts.path());
    let image = format!("{front}/public/app:both");
    let dirs: Vec<tempfile::TempDir> = (0..FLEET).map(|_| tempfile::tempdir().unwrap()).collect();
    let states: Vec<Option<&std::path::Path>> = dirs.iter().map(|d| Some(d.path())).collect();
    let per_node = |n: usize| n as f64 / FLEET as f64;
    let mut table = Vec::new();

    let agents = fleet(&states, h, None);
    let (cold, cold_heads, origins) = round(&agents, &image, false, &proxy).await;
    assert_eq!(origins, ["registry"]);
    assert!(
        cold <= 2 * FLEET,
        "cold: at most one GET per node per digest (index + platform manifest): {cold}"
    );
    table.push(("cold cluster", cold, cold_heads));

    let (warm, warm_heads, origins) = round(&agents, &image, true, &proxy).await;
    assert_eq!(origins, ["remembered"]);
    assert_eq!(warm, 0, "a warm re-probe is a HEAD");
    table.push(("warm re-probe (fresh=true)", warm, warm_heads));

    drop(agents);
    let agents = fleet(&states, h, None);
    let (restart, restart_heads, origins) = round(&agents, &image, false, &proxy).await;
    assert_eq!(origins, ["state_dir"]);
    assert_eq!(
        restart, 0,
        "after a restart, known digests come from --state-dir"
    );
    // What /v1/node says the agent itself spent.
    let node = get(&agents[0].url("/v1/node")).await.json();
    let spent = &node["registryCost"]["spent"][0];
    assert_eq!(spent["manifestGets"], 0, "{node}");
    assert_eq!(spent["getsAvoided"], 1, "{node}");
    assert_eq!(
        node["registryCost"]["stateDir"]["entries"], 3,
        "index, manifest, config: {node}"
    );
    table.push(("rollout restart, --state-dir", restart, restart_heads));

    drop(agents);
    let memory_only: Vec<Option<&std::path::Path>> = vec![None; FLEET];
    let agents = fleet(&memory_only, h, None);
    let (bare, bare_heads, _) = round(&agents, &image, false, &proxy).await;
    assert!(
        bare >= FLEET,
        "without a state directory every node reads again: {bare}"
    );
    table.push(("rollout restart, memory only", bare, bare_heads));
    drop(agents);

    // Nodes whose runtime holds the image: containerd pulls it once (its own GETs are not
    // the agents'), then agents with empty state directories ask it. The containerd is this
    // test's own: a content store shared with the runtime tests would hand them these blobs.
    let ctd = support::containerd::Private::start();
    ctd.hosts_toml(&front, &format!("server = \"http://{front}\"\n"));
    let pid = ctd.pid().expect("containerd runs").to_string();
    let endpoint = ctd.endpoint();
    let config = ctd.config.display().to_string();
    let pulled = run_program(
        "nsenter",
        &[
            "-t",
            &pid,
            "-m",
            "--",
            env!("CARGO_BIN_EXE_pullcheck"),
            "probe",
            &image,
            "-o",
            "json",
            "--runtime-pull",
            "--keep",
            "--runtime-endpoint",
            &endpoint,
            "--containerd-config",
            &config,
        ],
        None,
    );
    assert_eq!(
        pulled.json()["runtime"]["verdict"],
        "ok",
        "{}",
        pulled.stdout
    );
    let empty: Vec<tempfile::TempDir> = (0..FLEET).map(|_| tempfile::tempdir().unwrap()).collect();
    let fresh_states: Vec<Option<&std::path::Path>> =
        empty.iter().map(|d| Some(d.path())).collect();
    let agents = fleet(&fresh_states, h, Some(&endpoint));
    let (held, held_heads, origins) = round(&agents, &image, false, &proxy).await;
    assert_eq!(origins, ["runtime"]);
    assert_eq!(held, 0, "the runtime holds the digest the HEAD names");
    table.push(("nodes that hold the image", held, held_heads));
    drop(agents);

    println!("fleet cost, {FLEET} agents, one multi-platform image (index + platform manifest):");
    println!(
        "  {:<32} {:>13} {:>14} {:>12}",
        "phase", "manifest GETs", "GETs per node", "HEADs"
    );
    for (phase, gets, heads) in &table {
        println!(
            "  {phase:<32} {gets:>13} {:>14.2} {heads:>12}",
            per_node(*gets)
        );
    }
}
