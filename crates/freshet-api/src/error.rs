//! The one place where an error becomes an HTTP status, an AWS error code and a message, per protocol.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::Protocol;
use crate::query_protocol::xml_escape;

/// Why authentication failed. Which code the client sees depends on the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Incomplete(String),
    /// Wrong scope, bad date, invalid region; AWS's wording in the message.
    BadScope(String),
    Expired(String),
    UnknownKey,
    Mismatch,
}

const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";

/// An error answered to the client. The variant says whose fault it is; nothing parses messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    Auth(AuthFailure),
    AccessDenied(String),
    /// `X-Amz-Target` names no operation we serve.
    UnknownOperation(String),
    /// The body is not the JSON the operation expects.
    Serialization(String),
    TooLarge {
        limit: usize,
    },
    Validation(String),
    Conflict(String),
    NotFound(String),
    ServiceQuotaExceeded(String),
    Throttling(String),
    /// A bug or an engine failure; the detail is logged under the request id, never sent.
    Internal(String),
    /// awsQuery: the `Action` is not one this service has (for its `Version`).
    InvalidAction(String),
    /// awsQuery: no `Action` at all.
    MissingAction,
    /// The query is valid but failed while running.
    QueryExecution(String),
    /// `WriteRecords` refused some records (the others were written): `RejectedRecords` entries.
    RejectedRecords(Vec<serde_json::Value>),
}

/// The parts of an error on the wire.
struct Wire {
    status: StatusCode,
    code: &'static str,
    /// The awsJson `__type` namespace, where AWS uses one.
    namespace: Option<&'static str>,
    message: String,
    /// awsJson services spell the message member `message` for errors raised before the service (auth, routing).
    lowercase_message: bool,
}

const TIMESTREAM_NS: &str = "com.amazonaws.timestream.v20181101";
const CORAL_NS: &str = "com.amazon.coral.service";

impl ApiError {
    fn json_wire(&self, request_id: &str) -> Wire {
        use AuthFailure as A;
        let w = |status, code, namespace, message: &str, lowercase_message| Wire {
            status,
            code,
            namespace,
            message: message.to_owned(),
            lowercase_message,
        };
        match self {
            ApiError::Auth(a) => match a {
                A::Missing => w(
                    StatusCode::BAD_REQUEST,
                    "MissingAuthenticationTokenException",
                    None,
                    "Missing Authentication Token",
                    true,
                ),
                A::Incomplete(m) => w(
                    StatusCode::BAD_REQUEST,
                    "IncompleteSignatureException",
                    None,
                    m,
                    true,
                ),
                A::BadScope(m) | A::Expired(m) => w(
                    StatusCode::BAD_REQUEST,
                    "InvalidSignatureException",
                    None,
                    m,
                    true,
                ),
                A::UnknownKey => w(
                    StatusCode::BAD_REQUEST,
                    "UnrecognizedClientException",
                    None,
                    INVALID_TOKEN,
                    true,
                ),
                A::Mismatch => w(
                    StatusCode::BAD_REQUEST,
                    "InvalidSignatureException",
                    None,
                    SIGNATURE_MISMATCH,
                    true,
                ),
            },
            ApiError::AccessDenied(m) => w(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                Some(TIMESTREAM_NS),
                m,
                false,
            ),
            ApiError::UnknownOperation(m) => w(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                Some(CORAL_NS),
                m,
                false,
            ),
            ApiError::Serialization(m) => w(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                Some(CORAL_NS),
                m,
                false,
            ),
            ApiError::TooLarge { limit } => w(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLargeException",
                Some(CORAL_NS),
                &format!("Request body is larger than the maximum of {limit} bytes."),
                false,
            ),
            ApiError::Validation(m) => w(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                Some(TIMESTREAM_NS),
                m,
                false,
            ),
            ApiError::Conflict(m) => w(
                StatusCode::CONFLICT,
                "ConflictException",
                Some(TIMESTREAM_NS),
                m,
                false,
            ),
            ApiError::NotFound(m) => w(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                Some(TIMESTREAM_NS),
                m,
                false,
            ),
            ApiError::ServiceQuotaExceeded(m) => w(
                StatusCode::PAYMENT_REQUIRED,
                "ServiceQuotaExceededException",
                Some(TIMESTREAM_NS),
                m,
                false,
            ),
            ApiError::Throttling(m) => w(
                StatusCode::TOO_MANY_REQUESTS,
                "ThrottlingException",
                Some(TIMESTREAM_NS),
                m,
                false,
            ),
            ApiError::Internal(_) => w(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
                Some(TIMESTREAM_NS),
                &format!("Internal server error. Request ID: {request_id}"),
                false,
            ),
            ApiError::InvalidAction(m) => w(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                Some(CORAL_NS),
                m,
                false,
            ),
            ApiError::QueryExecution(m) => w(
                StatusCode::BAD_REQUEST,
                "QueryExecutionException",
                Some(TIMESTREAM_NS),
                m,
                false,
            ),
            ApiError::RejectedRecords(_) => w(
                StatusCode::from_u16(419).unwrap_or(StatusCode::BAD_REQUEST),
                "RejectedRecordsException",
                Some(TIMESTREAM_NS),
                "One or more records have been rejected. See RejectedRecords for details.",
                false,
            ),
            ApiError::MissingAction => w(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                Some(CORAL_NS),
                "",
                false,
            ),
        }
    }

    /// (status, code, message, fault type) for awsQuery (IAM, STS).
    fn query_wire(&self, request_id: &str) -> (StatusCode, &'static str, String, &'static str) {
        use AuthFailure as A;
        let forbidden = StatusCode::FORBIDDEN;
        let bad = StatusCode::BAD_REQUEST;
        match self {
            ApiError::Auth(a) => match a {
                A::Missing => (
                    forbidden,
                    "MissingAuthenticationToken",
                    "Request is missing Authentication Token".into(),
                    "Sender",
                ),
                A::Incomplete(m) => (bad, "IncompleteSignature", m.clone(), "Sender"),
                A::BadScope(m) | A::Expired(m) => {
                    (forbidden, "SignatureDoesNotMatch", m.clone(), "Sender")
                }
                A::UnknownKey => (
                    forbidden,
                    "InvalidClientTokenId",
                    INVALID_TOKEN.into(),
                    "Sender",
                ),
                A::Mismatch => (
                    forbidden,
                    "SignatureDoesNotMatch",
                    SIGNATURE_MISMATCH.into(),
                    "Sender",
                ),
            },
            ApiError::AccessDenied(m) => (forbidden, "AccessDenied", m.clone(), "Sender"),
            ApiError::UnknownOperation(m) | ApiError::InvalidAction(m) => {
                (bad, "InvalidAction", m.clone(), "Sender")
            }
            ApiError::MissingAction => (bad, "MissingAction", "Missing Action".into(), "Sender"),
            ApiError::Serialization(m) => (bad, "MalformedInput", m.clone(), "Sender"),
            ApiError::TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                format!("Request body is larger than the maximum of {limit} bytes."),
                "Sender",
            ),
            ApiError::Validation(m) => (bad, "ValidationError", m.clone(), "Sender"),
            ApiError::QueryExecution(m) => (bad, "ValidationError", m.clone(), "Sender"),
            ApiError::RejectedRecords(_) => (
                bad,
                "ValidationError",
                "Records were rejected.".into(),
                "Sender",
            ),
            ApiError::Conflict(m) => (
                StatusCode::CONFLICT,
                "EntityAlreadyExists",
                m.clone(),
                "Sender",
            ),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "NoSuchEntity", m.clone(), "Sender"),
            ApiError::ServiceQuotaExceeded(m) => {
                (StatusCode::CONFLICT, "LimitExceeded", m.clone(), "Sender")
            }
            ApiError::Throttling(m) => (bad, "Throttling", m.clone(), "Sender"),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceFailure",
                format!("Internal server error. Request ID: {request_id}"),
                "Receiver",
            ),
        }
    }

    /// The error as the client of `protocol` expects it. Internal errors are logged here, once, with their detail.
    pub(crate) fn into_response(self, protocol: Protocol, request_id: &str) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(request_id, error = %detail, "internal error");
        }
        match protocol {
            Protocol::Json => {
                let w = self.json_wire(request_id);
                let code = match w.namespace {
                    Some(ns) => format!("{ns}#{}", w.code),
                    None => w.code.to_owned(),
                };
                let key = if w.lowercase_message {
                    "message"
                } else {
                    "Message"
                };
                let mut body = serde_json::json!({ "__type": code, key: w.message });
                if let ApiError::RejectedRecords(list) = &self {
                    body["RejectedRecords"] = serde_json::Value::Array(list.clone());
                }
                (
                    w.status,
                    [
                        (
                            header::CONTENT_TYPE,
                            "application/x-amz-json-1.0".to_owned(),
                        ),
                        (
                            header::HeaderName::from_static("x-amzn-errortype"),
                            w.code.to_owned(),
                        ),
                    ],
                    body.to_string(),
                )
                    .into_response()
            }
            Protocol::Query => {
                let (status, code, message, fault) = self.query_wire(request_id);
                let body = format!(
                    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>{fault}</Type>\n    \
                     <Code>{code}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
                    xml_escape(&message)
                );
                (status, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
            }
        }
    }
}

impl From<freshet_meta::Error> for ApiError {
    fn from(e: freshet_meta::Error) -> Self {
        // Handlers turn the expected outcomes (conflict, not found) into AWS wording themselves; anything that
        // reaches this conversion is unexpected.
        ApiError::Internal(e.to_string())
    }
}

impl From<freshet_identity::Error> for ApiError {
    fn from(e: freshet_identity::Error) -> Self {
        ApiError::Internal(e.to_string())
    }
}
