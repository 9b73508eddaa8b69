//! Server-side AWS Signature Version 4 verification (header and presigned query-string forms).
//!
//! Pure: no I/O, no async. The caller parses, looks up the secret for `Authorization::access_key_id`, then verifies.

/// A request as received, before any decoding.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The raw path as on the wire (still percent-encoded), e.g. `/`.
    pub path: &'a str,
    /// The raw query string without the `?`; empty when there is none.
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

/// Where the signature came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    Header,
    /// Query-string auth; `expires_secs` is `X-Amz-Expires`.
    Presigned { expires_secs: u64 },
}

/// The parsed, not yet verified, signature of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub kind: AuthKind,
    pub access_key_id: String,
    /// Scope date, `YYYYMMDD`.
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// Lowercase header names, in the order given.
    pub signed_headers: Vec<String>,
    /// Lowercase hex.
    pub signature: String,
    /// `X-Amz-Date` as given (`YYYYMMDD'T'HHMMSS'Z'`) and as Unix seconds.
    pub amz_date: String,
    pub request_time: i64,
    /// `X-Amz-Security-Token`, header or query parameter.
    pub security_token: Option<String>,
}

/// Why a signature was refused. The API layer maps each to the AWS error code of its protocol.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// No `Authorization` header and no `X-Amz-Algorithm` query parameter.
    #[error("missing authentication token")]
    Missing,
    /// Auth present but malformed or incomplete; the message is AWS's wording, e.g.
    /// "Authorization header requires 'Signature' parameter. Authorization=…".
    #[error("{0}")]
    Incomplete(String),
    /// Scope is wrong (date/terminator/service) or date unparsable; AWS's wording.
    #[error("{0}")]
    BadScope(String),
    /// Outside the allowed skew or past `X-Amz-Expires`; AWS's wording ("Signature expired: … is now earlier than …").
    #[error("{0}")]
    Expired(String),
    /// The computed signature differs.
    #[error("signature does not match")]
    Mismatch,
}
