//! `pullcheck agent` start-up and shutdown: bad configuration exits 64 naming the key (flag,
//! environment, file), the start-up line, readiness with the runtime reported, draining
//! in-flight probes on SIGTERM, and the drain deadline.

use crate::support;

use std::time::{Duration, Instant};
use support::agent::*;
use support::*;

fn refused(extra: &[&str], env: &[(&str, &str)]) -> String {
    match Agent::try_start(extra, env) {
        Ok(_) => panic!("started with {extra:?} {env:?}"),
        Err((code, logs)) => {
            assert_eq!(code, Some(64), "{logs}");
            logs
        }
    }
}

#[test]
fn bad_configuration_exits_64_naming_the_key() {
    let logs = refused(&["--listen", "nonsense"], &[]);
    assert!(logs.contains("invalid listen \"nonsense\""), "{logs}");
    let logs = refused(&["--listen", "0.0.0.0:8740"], &[]);
    assert!(logs.contains("loopback"), "{logs}");
    let logs = refused(&[], &[("PULLCHECK_MAX_BODY_BYTES", "lots")]);
    assert!(logs.contains("invalid max-body-bytes \"lots\""), "{logs}");
    assert!(logs.contains("not a whole number"), "{logs}");
    let logs = refused(
        &[],
        &[("PULLCHECK_REGISTRY_BUDGET", "docker.io=10/1h,ghcr.io")],
    );
    assert!(
        logs.contains("invalid registry-budget \"ghcr.io\""),
        "{logs}"
    );
    let logs = refused(&["--allow-registry-cidr", "10.0.0.0/40"], &[]);
    assert!(logs.contains("allow-registry-cidr"), "{logs}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.toml");
    std::fs::write(&file, "cache-ok-ttl = \"5m\"\nclient-timeout = \"soon\"\n").unwrap();
    let logs = refused(&["--config", path(&file)], &[]);
    assert!(logs.contains("invalid client-timeout \"soon\""), "{logs}");
    assert!(logs.contains(path(&file)), "names the file: {logs}");
    std::fs::write(&file, "listen-address = \"127.0.0.1:1\"\n").unwrap();
    let logs = refused(&[], &[("PULLCHECK_CONFIG", path(&file))]);
    assert!(
        logs.contains("listen-address") && logs.contains("unknown key"),
        "{logs}"
    );
    // containerd's config is checked before binding too.
    let bad = dir.path().join("containerd.toml");
    std::fs::write(&bad, "version = [\n").unwrap();
    let logs = refused(&["--containerd-config", path(&bad)], &[]);
    assert!(logs.contains("invalid containerd-config"), "{logs}");
}

#[test]
fn configuration_comes_from_flags_environment_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.toml");
    std::fs::write(
        &file,
        "max-concurrent-probes = 3\nonly-registry = [\"ghcr.io\"]\nnode-name = \"from-file\"\n",
    )
    .unwrap();
    let agent = Agent::start(
        &["--config", path(&file), "--node-name", "from-flag"],
        &[("PULLCHECK_CACHE_OK_TTL", "42s")],
    );
    let logs = agent.logs();
    let started = logs
        .lines()
        .find(|l| l.contains("pullcheck agent started"))
        .expect("start-up line");
    let v: serde_json::Value = serde_json::from_str(started).unwrap();
    let config = v["config"].as_str().unwrap();
    for needle in [
        "max-concurrent-probes=3",
        "only-registry=ghcr.io",
        "node-name=from-flag",
        "cache-ttl=ok:42s",
        "allow-registry-cidr=127.0.0.0/8",
        &format!("config-file={}", path(&file)),
    ] {
        assert!(config.contains(needle), "{needle} not in {config}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_once_configured_with_the_runtime_reported() {
    let agent = Agent::start(&[], &[]);
    let r = get(&agent.url("/readyz")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["ready"], true);
    assert_eq!(v["runtime"]["verdict"], "runtime_unavailable");
    assert!(v["runtime"]["error"]
        .as_str()
        .unwrap()
        .contains("pullcheck-test-cri.sock"));
    let h = get(&agent.url("/healthz")).await;
    assert_eq!(h.json()["status"], "ok");
    // The metrics listener answers readiness too.
    assert_eq!(get(&agent.metrics_url("/readyz")).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_probes() {
    let hang = bed().addr("hang");
    let hosts = http_hosts(&hang);
    let mut agent = Agent::start(&["--hosts-dir", path(hosts.path()), "--timeout", "2s"], &[]);
    let url = probe_url(&agent, &[("image", &format!("{hang}/app:v1"))]);
    let in_flight = tokio::spawn(send(client().get(url)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Draining: not ready, no new connections on the API.
    let r = get(&agent.metrics_url("/readyz")).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.json()["status"], "draining");
    assert!(
        std::net::TcpStream::connect(agent.api).is_err(),
        "the API still accepts"
    );
    // The probe in flight finishes with its verdict.
    let a = in_flight.await.unwrap();
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["verdict"], "timeout");
    let code = tokio::task::block_in_place(|| agent.wait_exit(Duration::from_secs(10)));
    assert_eq!(code, Some(0));
    let logs = agent.logs();
    assert!(
        logs.contains("SIGTERM") && logs.contains("drained"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_has_a_deadline() {
    let hang = bed().addr("hang");
    let hosts = http_hosts(&hang);
    let mut agent = Agent::start(
        &[
            "--hosts-dir",
            path(hosts.path()),
            "--timeout",
            "30s",
            "--shutdown-grace",
            "500ms",
        ],
        &[],
    );
    let url = probe_url(&agent, &[("image", &format!("{hang}/app:v1"))]);
    let in_flight = tokio::spawn(send(client().get(url)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    agent.terminate();
    let code = tokio::task::block_in_place(|| agent.wait_exit(Duration::from_secs(10)));
    assert_eq!(code, Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        agent.logs().contains("shutdown grace passed"),
        "{}",
        agent.logs()
    );
    in_flight.abort();
}
