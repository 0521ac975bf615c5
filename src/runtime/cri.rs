//! Generated CRI v1 (`runtime.v1`) types and gRPC clients from `proto/runtime/v1/api.proto`.
//! They stay inside [`crate::runtime`]; the rest of pullcheck sees the runtime's own types.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("runtime.v1");
