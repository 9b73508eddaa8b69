//! Integration tests for `freshet-sigv4`: the official AWS SigV4 vectors, negative cases, and a
//! round trip against the `aws-sigv4` signer.

mod http_text;
mod negative;
mod roundtrip;
mod signer;
mod vectors;
