//! End-to-end tests: a real `freshet serve` on port 0, driven by the official AWS SDK for Rust.

mod records;
mod server;
mod slt;
mod sts;
mod support;
mod timestream;
