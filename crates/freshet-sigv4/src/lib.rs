//! Server-side AWS Signature Version 4 verification (header and presigned query-string forms).
//!
//! Pure: no I/O, no async. The caller parses, looks up the secret for `Authorization::access_key_id`, then verifies.
//!
//! ```text
//! let auth = freshet_sigv4::parse(&req, &["timestream"])?;   // shape, scope, AWS wording
//! freshet_sigv4::check_time(&auth, now_unix, 15 * 60)?;      // skew / X-Amz-Expires
//! let secret = lookup(&auth.access_key_id)?;                 // caller's store
//! freshet_sigv4::verify(&req, &auth, secret)?;               // constant-time comparison
//! ```
//!
//! Canonicalization follows the rules for every service but S3: the path is normalized and its
//! (already encoded) form encoded once more; the query is decoded (`+` as a space) and re-encoded;
//! header values are trimmed with inner runs of spaces collapsed. The payload hash is the
//! `x-amz-content-sha256` header when sent (and it must then be the body's hash), else the body's.
//! Over HTTP/2 the caller must put the `:authority` into a `host` header before calling in.

mod canonical;
mod clock;
mod parse;
mod sign;

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
    /// Query-string auth; `expires_secs` is `X-Amz-Expires`, or 0 when the request has none (then
    /// only the usual clock-skew window applies).
    Presigned {
        expires_secs: u64,
    },
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

/// Parses header auth (`Authorization: AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/region/service/aws4_request, SignedHeaders=a;b, Signature=hex`)
/// or query auth (`X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=…&X-Amz-Date=…&X-Amz-SignedHeaders=…&X-Amz-Signature=…[&X-Amz-Expires=…][&X-Amz-Security-Token=…]`).
///
/// The request time is the `X-Amz-Date` header (else a `Date` header, which must then also be in
/// ISO-8601 basic form) or query parameter. `services` are the accepted scope services (e.g.
/// `["timestream", "iam", "sts"]`; the first is the one named in the error); any non-empty region
/// is accepted. Errors carry AWS's wording; nothing here needs the secret.
pub fn parse(req: &Request<'_>, services: &[&str]) -> Result<Authorization, Error> {
    parse::parse(req, services)
}

/// Checks the request time against `now_unix` with ±`max_skew_secs`; a presigned request with
/// `X-Amz-Expires` (1..=604800) is instead valid until `request_time + expires_secs` (and not
/// before `now_unix + max_skew_secs`).
pub fn check_time(auth: &Authorization, now_unix: i64, max_skew_secs: i64) -> Result<(), Error> {
    clock::check_time(auth, now_unix, max_skew_secs)
}

/// Recomputes the signature with the plaintext secret and compares it in constant time.
///
/// `Error::Mismatch` also when an `x-amz-content-sha256` header is not the body's SHA-256.
pub fn verify(req: &Request<'_>, auth: &Authorization, secret: &[u8]) -> Result<(), Error> {
    sign::verify(req, auth, secret)
}

/// The canonical request (for tests and diagnostics). Header bytes that are not UTF-8 are shown
/// as U+FFFD here; [`verify`] signs the exact bytes.
pub fn canonical_request(req: &Request<'_>, auth: &Authorization) -> String {
    String::from_utf8_lossy(&canonical::build(req, auth)).into_owned()
}

/// The string to sign for `canonical_request` (for tests and diagnostics).
pub fn string_to_sign(auth: &Authorization, canonical_request: &str) -> String {
    sign::string_to_sign(auth, canonical_request.as_bytes())
}

/// The SigV4 signing key for a scope (for tests and diagnostics).
pub fn signing_key(secret: &[u8], scope_date: &str, region: &str, service: &str) -> [u8; 32] {
    sign::signing_key(secret, scope_date, region, service)
}
