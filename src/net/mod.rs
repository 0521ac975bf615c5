//! The HTTP client stack every outbound request uses — registry probes and the cloud identities'
//! metadata and token services alike — below both [`crate::identity`] and [`crate::probe`]:
//! - [`tls`]: one host's TLS settings; [`client`]: clients built as containerd builds its
//!   transport (the node's trust store plus the host's CAs and client certificates);
//!   A CA certificate served as the server's own is judged by Go's rules (`go_x509.rs`);
//! - [`proxy`] and [`no_proxy`]: the proxy environment, read the way Go reads it;
//! - [`policy`]: the address policy every connection obeys (checked after resolution and
//!   before any proxy hand-off);
//! - [`transport`]: failures below HTTP, classified from the error's cause chain; a TLS
//!   failure in one sentence, Go's words where containerd prints them (`tls_failure.rs`).

pub mod client;
mod go_x509;
pub mod no_proxy;
pub mod policy;
pub mod proxy;
pub mod tls;
mod tls_failure;
pub mod transport;

pub use tls::TlsSettings;
