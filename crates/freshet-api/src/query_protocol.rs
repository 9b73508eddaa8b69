//! awsQuery (IAM and STS): form-encoded `Action=…&Version=…` requests with XML responses.

use std::collections::BTreeMap;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use crate::error::ApiError;
use crate::{AppState, Protocol, auth, sts};

/// The decoded parameters of an awsQuery request.
#[derive(Debug, Default)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (`+` is a space).
    pub fn parse(text: &str, into: &mut Self) -> Result<(), ApiError> {
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| {
                        ApiError::Serialization("Request parameters are not valid UTF-8.".into())
                    })
            };
            into.0.insert(decode(k)?, decode(v)?);
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A successful awsQuery response: `<{Action}Response><{Action}Result>…</…><ResponseMetadata>…`.
pub(crate) fn xml_ok(
    action: &str,
    namespace: &str,
    result_xml: &str,
    request_id: &str,
) -> Response {
    let body = format!(
        "<{action}Response xmlns=\"{namespace}\">\n  <{action}Result>\n{result_xml}  </{action}Result>\n  \
         <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n"
    );
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// Authenticates, then routes by the signed service: `sts` or `iam`. Returns the operation name for metrics.
pub(crate) async fn handle(
    app: &AppState,
    parts: &http::request::Parts,
    body: &[u8],
    request_id: &str,
) -> (String, Response) {
    match dispatch(app, parts, body, request_id).await {
        Ok(out) => out,
        Err((op, e)) => (op, e.into_response(Protocol::Query, request_id)),
    }
}

async fn dispatch(
    app: &AppState,
    parts: &http::request::Parts,
    body: &[u8],
    request_id: &str,
) -> Result<(String, Response), (String, ApiError)> {
    let unknown = |e| ("Unknown".to_owned(), e);
    let verified = auth::authenticate(&app.identity, parts, body, &["sts", "iam"], request_id)
        .await
        .map_err(unknown)?;
    let mut params = Params::default();
    Params::parse(parts.uri.query().unwrap_or(""), &mut params).map_err(unknown)?;
    let text = std::str::from_utf8(body).map_err(|_| {
        unknown(ApiError::Serialization(
            "Request body is not valid UTF-8.".into(),
        ))
    })?;
    Params::parse(text, &mut params).map_err(unknown)?;
    let Some(action) = params.get("Action").map(str::to_owned) else {
        return Err(unknown(ApiError::MissingAction));
    };
    match verified.service.as_str() {
        "sts" => sts::handle(app, &verified, &action, &params)
            .map(|r| (format!("sts:{action}"), r))
            .map_err(|e| (format!("sts:{action}"), e)),
        _ => Err((
            format!("iam:{action}"),
            ApiError::InvalidAction(format!(
                "Could not find operation {action} for version 2010-05-08"
            )),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        let mut p = Params::default();
        Params::parse(
            "Action=GetCallerIdentity&Version=2011-06-15&X=a+b%2Bc&Empty=&Flag",
            &mut p,
        )
        .unwrap();
        assert_eq!(p.get("Action"), Some("GetCallerIdentity"));
        assert_eq!(p.get("X"), Some("a b+c"));
        assert_eq!(p.get("Empty"), Some(""));
        assert_eq!(p.get("Flag"), Some(""));
        assert!(Params::parse("A=%FF", &mut p).is_err());
    }

    #[test]
    fn escaping() {
        assert_eq!(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
