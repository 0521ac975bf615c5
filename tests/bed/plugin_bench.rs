//! Benchmark of `kubectl pullcheck image --all-nodes` (run by scripts/bench-plugin; ignored by
//! `cargo test`): 100 and 1,000 simulated nodes behind the fake API server, their
//! port-forwards spread over four real agents probing the test bed's registry (two with the
//! right node credential, two with a wrong one). Prints the wall time of each run (the
//! plugin process from start to exit, port-forward and HTTP per node included); asserts
//! only that every node answered, never a time.

use crate::support;

use std::time::Instant;
use support::cluster::{agents, Sim};
use support::kube_fake::Forward;

#[test]
#[ignore = "benchmark: scripts/bench-plugin"]
fn fan_out_over_100_and_1000_simulated_nodes() {
    let concurrency = std::env::var("BENCH_CONCURRENCY").unwrap_or_else(|_| "64".into());
    // BENCH_FRESH=1: every node's agent skips its answer cache (each probe reaches the registry,
    // identical probes in flight still share one exchange).
    let fresh = std::env::var_os("BENCH_FRESH").is_some();
    for count in [100usize, 1000] {
        let sim = Sim::new();
        let (a, b) = (agents(&sim), agents(&sim));
        let backends = [a.right.api, a.wrong.api, b.right.api, b.wrong.api];
        for i in 0..count {
            let pool = format!("ng-{}", i % 4);
            sim.add_node(
                &format!("n{i:05}"),
                &pool,
                Some(Forward::To(backends[i % 4])),
            );
        }
        // One probe per agent first (nodes 0-3 are on the four agents), so the runs compare
        // fan-out, not the registry's first answer.
        let _ = sim.run(&[
            "image",
            &a.image,
            "--platform",
            "linux/amd64",
            "--node",
            "n00000",
            "--node",
            "n00001",
            "--node",
            "n00002",
            "--node",
            "n00003",
        ]);
        let start = Instant::now();
        let mut args = vec![
            "image",
            &a.image,
            "--platform",
            "linux/amd64",
            "--all-nodes",
            "--concurrency",
            &concurrency,
            "-o",
            "json",
        ];
        if fresh {
            args.push("--fresh");
        }
        let run = sim.run(&args);
        let took = start.elapsed();
        let doc = run.json();
        assert_eq!(doc["summary"]["nodes"], count, "{}", run.stderr);
        assert_eq!(doc["summary"]["notAsked"], 0, "{}", run.stdout);
        println!(
            "kubectl pullcheck image --all-nodes{}: {count} nodes in {:.2} s (concurrency {concurrency}; {} can pull, {} cannot)",
            if fresh { " --fresh" } else { "" },
            took.as_secs_f64(),
            doc["summary"]["canPull"],
            doc["summary"]["cannotPull"]
        );
    }
}
