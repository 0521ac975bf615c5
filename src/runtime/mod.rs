//! The node's container runtime over CRI v1: where it listens ([`endpoint`]), a client
//! ([`client`]) and pullcheck's own types for what it reports ([`types`]).

pub mod client;
mod cri;
pub mod endpoint;
pub mod pull;
pub mod types;
pub mod version;

pub use client::{Error, RuntimeClient};
pub use endpoint::RuntimeEndpoint;
pub use types::{Condition, ImageFs, ImageInfo, RuntimeInfo};
