//! Timestream write and query APIs (awsJson 1.0, `X-Amz-Target: Timestream_20181101.<Operation>`).
//!
//! Both SDK clients share the target prefix and the SigV4 service name, so one router serves both.

mod database;
mod query;
mod records;
pub mod results;
mod router;
mod table;
mod tags;
mod validate;
mod wire;

use axum::response::Response;
use serde::de::DeserializeOwned;

use crate::auth::{self, VerifiedRequest};
use crate::error::ApiError;
use crate::{AppState, Protocol, json_ok, json_text_ok};
use router::Operation;

pub(crate) const TARGET_PREFIX: &str = "Timestream_20181101.";

/// Authenticates and runs one Timestream request. Returns the operation name (for metrics) and the response.
pub(crate) async fn handle(
    app: &AppState,
    parts: &http::request::Parts,
    body: &[u8],
    request_id: &str,
) -> (String, Response) {
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let op = Operation::from_target(target);
    let name = op.map_or("Unknown", |o| o.name()).to_owned();
    let result = async {
        let verified =
            auth::authenticate(&app.identity, parts, body, &["timestream"], request_id).await?;
        let Some(op) = op else {
            return Err(ApiError::UnknownOperation(String::new()));
        };
        authorize(&verified, op)?;
        run(app, &verified, op, body).await
    }
    .await;
    let response = match result {
        Ok(Reply::Value(v)) => json_ok(v),
        Ok(Reply::Text(text)) => json_text_ok(text),
        Err(e) => e.into_response(Protocol::Json, request_id),
    };
    (name, response)
}

/// The policy decision point. Only root users exist yet, and AWS gives the root user every Timestream action;
/// the IAM policy engine plugs in here.
fn authorize(req: &VerifiedRequest, op: Operation) -> Result<(), ApiError> {
    match req.principal.kind {
        freshet_core::PrincipalKind::Root => Ok(()),
        _ => Err(ApiError::AccessDenied(format!(
            "User: {} is not authorized to perform: {}",
            req.principal.arn(),
            op.action()
        ))),
    }
}

async fn run(
    app: &AppState,
    req: &VerifiedRequest,
    op: Operation,
    body: &[u8],
) -> Result<Reply, ApiError> {
    use Operation as O;
    let value = match op {
        // Query results are encoded as text once and kept that way, so that pages are served without re-encoding.
        O::Query => return query::query(app, req, parse(body)?).await.map(Reply::Text),
        O::DescribeEndpoints => Ok(serde_json::json!({
            "Endpoints": [{ "Address": app.advertise_url, "CachePeriodInMinutes": 1440 }]
        })),
        O::CreateDatabase => database::create(app, req, parse(body)?).await,
        O::DescribeDatabase => database::describe(app, req, parse(body)?).await,
        O::ListDatabases => database::list(app, req, parse(body)?).await,
        O::UpdateDatabase => database::update(app, req, parse(body)?).await,
        O::DeleteDatabase => database::delete(app, req, parse(body)?).await,
        O::CreateTable => table::create(app, req, parse(body)?).await,
        O::DescribeTable => table::describe(app, req, parse(body)?).await,
        O::ListTables => table::list(app, req, parse(body)?).await,
        O::UpdateTable => table::update(app, req, parse(body)?).await,
        O::DeleteTable => table::delete(app, req, parse(body)?).await,
        O::TagResource => tags::tag(app, req, parse(body)?).await,
        O::UntagResource => tags::untag(app, req, parse(body)?).await,
        O::ListTagsForResource => tags::list(app, req, parse(body)?).await,
        O::WriteRecords => records::write(app, req, parse(body)?).await,
        O::CancelQuery => query::cancel(app, req, parse(body)?).await,
        O::PrepareQuery => query::prepare(app, req, parse(body)?).await,
        O::NotYetImplemented(name) => Err(ApiError::UnknownOperation(format!(
            "Operation {name} is not implemented by this version of Freshet."
        ))),
    };
    value.map(Reply::Value)
}

/// A response body: a JSON value, or JSON text encoded already.
enum Reply {
    Value(serde_json::Value),
    Text(bytes::Bytes),
}

/// Decodes an awsJson body. An empty body counts as `{}`; anything that is not the expected JSON object is a
/// `SerializationException`, as AWS answers.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    // The common case parses once; only a failure is parsed again, to say precisely what is wrong.
    if body.first() == Some(&b'{')
        && let Ok(v) = serde_json::from_slice::<T>(body)
    {
        return Ok(v);
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::Serialization(format!("Request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::Serialization(
            "Request body must be a JSON object.".into(),
        ));
    }
    serde_json::from_value(value).map_err(|e| ApiError::Serialization(serialization_message(&e)))
}

/// Describes a type mismatch without echoing serde's internal type names.
fn serialization_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.starts_with("invalid type") || text.starts_with("invalid value") {
        format!(
            "A member of the request has the wrong type: {}",
            text.split(" at line").next().unwrap_or(&text)
        )
    } else {
        text
    }
}
