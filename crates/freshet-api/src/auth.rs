//! Authentication: SigV4 verification of every AWS request, producing a `VerifiedRequest` for the handlers.

use freshet_core::{Principal, Region};
use freshet_identity::Identity;

use crate::error::{ApiError, AuthFailure};

/// The largest allowed difference between a request's `X-Amz-Date` and the server clock, as AWS allows.
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;

/// Proof that a request was signed by a known, active key: handlers take this, never a raw request and a flag.
#[derive(Debug, Clone)]
pub struct VerifiedRequest {
    pub principal: Principal,
    /// The region of the credential scope; resources are scoped by it.
    pub region: Region,
    /// The SigV4 service the request was signed for (`timestream`, `iam`, `sts`).
    pub service: String,
    pub request_id: String,
}

fn failure(e: freshet_sigv4::Error) -> ApiError {
    use freshet_sigv4::Error as E;
    ApiError::Auth(match e {
        E::Missing => AuthFailure::Missing,
        E::Incomplete(m) => AuthFailure::Incomplete(m),
        E::BadScope(m) => AuthFailure::BadScope(m),
        E::Expired(m) => AuthFailure::Expired(m),
        E::Mismatch => AuthFailure::Mismatch,
    })
}

/// Verifies the signature of `parts` + `body` for one of `services`.
/// Order, as AWS and s3s do it: parse, check the clock (no I/O on stale requests), look up the key, verify.
pub async fn authenticate(
    identity: &Identity,
    parts: &http::request::Parts,
    body: &[u8],
    services: &[&str],
    request_id: &str,
) -> Result<VerifiedRequest, ApiError> {
    let req = freshet_sigv4::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body,
    };
    let auth = freshet_sigv4::parse(&req, services).map_err(failure)?;
    freshet_sigv4::check_time(&auth, identity.clock().now_secs(), MAX_CLOCK_SKEW_SECS)
        .map_err(failure)?;
    let region = Region::parse(&auth.region).map_err(|_| {
        ApiError::Auth(AuthFailure::BadScope(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            auth.region
        )))
    })?;
    let Some(key) = identity.resolve_access_key(&auth.access_key_id).await? else {
        return Err(ApiError::Auth(AuthFailure::UnknownKey));
    };
    if auth.security_token.is_some() {
        // Long-term keys carry no session token; temporary credentials (ASIA…) arrive with STS.
        return Err(ApiError::Auth(AuthFailure::UnknownKey));
    }
    freshet_sigv4::verify(&req, &auth, key.secret.expose()).map_err(failure)?;

    if let Err(e) = identity
        .record_key_use(&key.principal.access_key_id, &auth.service, region.as_str())
        .await
    {
        tracing::warn!(error = %e, "could not record access key use");
    }
    Ok(VerifiedRequest {
        principal: key.principal,
        region,
        service: auth.service,
        request_id: request_id.to_owned(),
    })
}
