//! The AWS wire protocols on one listener: Timestream (awsJson 1.0) and STS (awsQuery), plus `/health` and `/metrics`.
//!
//! Every `POST /` goes through the same steps: bounded body read → protocol detection → SigV4 authentication
//! (`auth.rs`, producing a `VerifiedRequest`) → the service's router, which decodes the operation into an enum that
//! knows its IAM action → the handler. Errors are mapped to each protocol's wire form in exactly one place
//! (`error.rs`).

mod auth;
mod error;
mod metrics;
mod query_protocol;
mod sts;
mod timestream;

pub use timestream::results::QueryResults;

pub use auth::VerifiedRequest;
pub use error::ApiError;
pub use metrics::Metrics;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use freshet_core::{Clock, Region};
use freshet_identity::Identity;
use freshet_meta::MetadataStore;
use tracing::Instrument;

/// The largest request body accepted. A full `WriteRecords` batch is far below this; a `Query` string is ≤ 256 KiB.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How long a client may take to send its body; a stalled upload must not hold a task forever.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Everything the handlers need, built once by the server and shared.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn MetadataStore>,
    pub identity: Identity,
    pub clock: Arc<dyn Clock>,
    /// What `DescribeEndpoints` returns, with its scheme.
    pub advertise_url: String,
    /// The server's home region (for the console and the CLI); requests are scoped by the region they are signed for.
    pub region: Region,
    pub metrics: Arc<Metrics>,
    pub storage: freshet_storage::Storage,
    pub query: freshet_query::QueryEngine,
    /// Query results kept for `NextToken` pages, `ClientToken` repeats and `CancelQuery`.
    pub results: Arc<QueryResults>,
}

/// The HTTP application: `POST /` for the AWS APIs (and `GET /` for presigned STS calls), `/health`, `/metrics`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(aws_entry).post(aws_entry))
        .route("/health", get(health))
        .route("/metrics", get(metrics::serve))
        .with_state(Arc::new(state))
}

async fn health() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

/// Which AWS protocol a request speaks, decided from its headers before authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// awsJson 1.0 with `X-Amz-Target` (Timestream).
    Json,
    /// awsQuery: form-encoded `Action=…&Version=…` (IAM, STS).
    Query,
}

impl Protocol {
    fn detect(req: &http::request::Parts) -> Self {
        let is_json = req.headers.contains_key("x-amz-target")
            || req
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/x-amz-json"));
        if is_json { Self::Json } else { Self::Query }
    }
}

async fn aws_entry(State(app): State<Arc<AppState>>, req: Request<Body>) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let protocol = Protocol::detect(&parts);
    let span = tracing::info_span!("request", request_id = %request_id, protocol = ?protocol);

    let (operation, mut response) = async {
        let read = tokio::time::timeout(
            BODY_READ_TIMEOUT,
            axum::body::to_bytes(body, MAX_BODY_BYTES),
        );
        let body = match read.await {
            Ok(Ok(b)) => b,
            Ok(Err(_)) => {
                let e = ApiError::TooLarge {
                    limit: MAX_BODY_BYTES,
                };
                return ("Unknown".to_owned(), e.into_response(protocol, &request_id));
            }
            Err(_) => {
                let e = ApiError::Serialization(format!(
                    "The request body did not arrive within {} seconds.",
                    BODY_READ_TIMEOUT.as_secs()
                ));
                return ("Unknown".to_owned(), e.into_response(protocol, &request_id));
            }
        };
        let out = match protocol {
            Protocol::Json => timestream::handle(&app, &parts, &body, &request_id).await,
            Protocol::Query => query_protocol::handle(&app, &parts, &body, &request_id).await,
        };
        tracing::info!(operation = %out.0, status = out.1.status().as_u16(), "request done");
        out
    }
    .instrument(span)
    .await;

    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-RequestId", v);
    }
    app.metrics
        .observe(&operation, response.status(), started.elapsed());
    response
}

/// A successful awsJson 1.0 response.
pub(crate) fn json_ok(body: serde_json::Value) -> Response {
    json_text_ok(body.to_string())
}

/// A 200 response whose body is JSON text already.
pub(crate) fn json_text_ok(body: impl Into<bytes::Bytes>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-amz-json-1.0")],
        body.into(),
    )
        .into_response()
}
