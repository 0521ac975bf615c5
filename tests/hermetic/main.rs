//! The hermetic tests that share `tests/support`, one test binary: the agent against bad input,
//! the kubectl plugin against the fake Kubernetes API server and a real agent, and the bed
//! tier's table runner against canned runs. No bed, no root: plain `cargo test` runs them.

#[path = "../support/mod.rs"]
mod support;

mod agent_edge;
mod agent_input;
mod agent_metrics;
mod plugin_errors;
mod plugin_fake_api;
mod table_rows;
