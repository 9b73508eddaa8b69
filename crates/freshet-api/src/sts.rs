//! STS (awsQuery, `Version=2011-06-15`): `GetCallerIdentity`. Session credentials come with the STS issue.

use axum::response::Response;

use crate::AppState;
use crate::auth::VerifiedRequest;
use crate::error::ApiError;
use crate::query_protocol::{Params, xml_escape, xml_ok};

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

pub(crate) fn handle(
    _app: &AppState,
    req: &VerifiedRequest,
    action: &str,
    _params: &Params,
) -> Result<Response, ApiError> {
    match action {
        // Needs no permission: it works even under an explicit Deny (STS API reference).
        "GetCallerIdentity" => {
            let p = &req.principal;
            let result = format!(
                "    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n",
                xml_escape(p.arn().as_str()),
                xml_escape(&p.user_id()),
                p.account
            );
            Ok(xml_ok(action, NAMESPACE, &result, &req.request_id))
        }
        _ => Err(ApiError::InvalidAction(format!(
            "Could not find operation {action} for version 2011-06-15"
        ))),
    }
}
