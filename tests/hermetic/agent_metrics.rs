//! `pullcheck agent`'s metrics and start-up line as an operator meets them: every series
//! carries the node it is about (`--node-name`), `/metrics` asked of the API port names the
//! metrics listener instead of a bare 404, and the start-up line lists the registry budgets in
//! force (Docker Hub's default included).

use crate::support;

use support::agent::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_carry_the_node_and_the_api_port_points_at_the_metrics_listener() {
    let agent = Agent::start(&["--node-name", "node-7"], &[]);
    // A probe request refused for bad input still counts in the HTTP family.
    get(&agent.url("/v1/probe")).await;
    let m = get(&agent.metrics_url("/metrics")).await;
    assert_eq!(m.status, 200, "{}", m.text);
    let samples: Vec<&str> = m
        .text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert!(samples.len() > 5, "{}", m.text);
    for s in &samples {
        assert!(s.contains("{node=\"node-7\""), "a series without node: {s}");
    }
    for needle in [
        "pullcheck_build_info{node=\"node-7\",version=",
        "pullcheck_monitor_targets{node=\"node-7\"} 0",
        "pullcheck_agent_http_requests_total{node=\"node-7\",route=\"/v1/probe\",status=\"400\"} 1",
    ] {
        assert!(m.text.contains(needle), "{needle} missing:\n{}", m.text);
    }

    // /metrics on the API port: a JSON 404 naming where it is served.
    let metrics_at = agent.metrics.unwrap().to_string();
    let a = get(&agent.url("/metrics")).await;
    a.assert_error(404, "not_found");
    let message = a.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains(&format!("http://{metrics_at}/metrics"))
            && message.contains("--metrics-listen"),
        "{message}"
    );

    // The start-up line: the budgets in force, not `none`.
    let logs = agent.logs();
    let started = logs
        .lines()
        .find(|l| l.contains("pullcheck agent started"))
        .expect("start-up line");
    assert!(
        started.contains(" registry-budget=docker.io=50/6h "),
        "{started}"
    );
    assert!(!started.contains("registry-budget=none"), "{started}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_metrics_listener_the_api_says_how_to_turn_it_on() {
    let agent = Agent::start(&["--metrics-listen", "off"], &[]);
    let a = get(&agent.url("/metrics")).await;
    a.assert_error(404, "not_found");
    let message = a.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("--metrics-listen=off"), "{message}");
}
