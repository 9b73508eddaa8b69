//! Signs requests with the real `aws-sigv4` signer (the one the AWS Rust SDK uses) and turns the
//! result into what a server would receive.

use crate::http_text::OwnedRequest;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use http::{HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use std::time::{Duration, UNIX_EPOCH};

/// What the client sends before signing. `path` and `query` are as on the wire (encoded).
#[derive(Debug, Clone)]
pub struct Spec {
    pub method: String,
    /// Authority as the client's HTTP stack sends it in `Host` (no default port).
    pub host: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Who signs, when and how.
#[derive(Debug, Clone)]
pub struct Signing {
    pub access_key_id: String,
    pub secret: String,
    pub session_token: Option<String>,
    pub region: String,
    pub service: String,
    pub unix_time: u64,
    /// `None`: header auth; `Some(secs)`: presigned with that `X-Amz-Expires`.
    pub presign_expires: Option<u64>,
}

impl Default for Signing {
    fn default() -> Self {
        Self {
            access_key_id: "AKIDEXAMPLE".to_owned(),
            secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: None,
            region: "us-east-1".to_owned(),
            service: "timestream".to_owned(),
            // 2015-08-30T12:36:00Z, the test suite's instant.
            unix_time: 1_440_938_160,
            presign_expires: None,
        }
    }
}

const QUERY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Signs `spec` and returns the request as the server sees it: the original headers plus the
/// signer's ones plus `host`; for presigning, the signer's parameters appended to the query.
pub fn sign_request(spec: &Spec, signing: &Signing) -> OwnedRequest {
    let uri = if spec.query.is_empty() {
        format!("https://{}{}", spec.host, spec.path)
    } else {
        format!("https://{}{}?{}", spec.host, spec.path, spec.query)
    };
    let signable = SignableRequest::new(
        &spec.method,
        uri,
        spec.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&spec.body),
    )
    .expect("signable request");
    let identity = Credentials::new(
        &signing.access_key_id,
        &signing.secret,
        signing.session_token.clone(),
        None,
        "freshet-tests",
    )
    .into();
    let mut settings = SigningSettings::default();
    if let Some(secs) = signing.presign_expires {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(secs));
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&signing.region)
        .name(&signing.service)
        .time(UNIX_EPOCH + Duration::from_secs(signing.unix_time))
        .settings(settings)
        .build()
        .expect("signing params")
        .into();
    let (instructions, _signature) = sign(signable, &params).expect("sign").into_parts();
    let (new_headers, new_params) = instructions.into_parts();

    let mut req = OwnedRequest {
        method: spec.method.clone(),
        path: spec.path.clone(),
        query: spec.query.clone(),
        headers: http::HeaderMap::new(),
        body: spec.body.clone(),
    };
    req.headers.insert(
        http::header::HOST,
        HeaderValue::from_str(&spec.host).expect("host"),
    );
    for (name, value) in &spec.headers {
        req.headers.append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    for header in new_headers {
        req.headers.insert(
            HeaderName::from_static(header.name()),
            HeaderValue::from_str(header.value()).expect("signer header"),
        );
    }
    for (name, value) in new_params {
        if !req.query.is_empty() {
            req.query.push('&');
        }
        req.query.push_str(&format!(
            "{}={}",
            percent_encoding::utf8_percent_encode(name, QUERY_SET),
            percent_encoding::utf8_percent_encode(&value, QUERY_SET)
        ));
    }
    req
}

/// The signing instant as Unix seconds, for `check_time`.
pub fn now(signing: &Signing) -> i64 {
    i64::try_from(signing.unix_time).expect("time fits")
}
