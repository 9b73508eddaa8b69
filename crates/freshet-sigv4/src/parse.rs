//! Reading the signature out of a request: the `Authorization` header or the presigned query
//! parameters, with AWS's checks and error wording.

use crate::canonical::query_pairs;
use crate::sign::{ALGORITHM, TERMINATOR};
use crate::{AuthKind, Authorization, Error, Request};

/// AWS's message when `host` is not among the signed headers.
pub(crate) const MSG_HOST_NOT_SIGNED: &str =
    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.";

/// Largest `X-Amz-Expires`: seven days.
pub(crate) const MAX_EXPIRES_SECS: u64 = 604_800;

const MSG_BOTH_AUTH: &str =
    "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.";

/// The pieces common to both forms, still unchecked.
struct Raw<'a> {
    algorithm: &'a str,
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
    date: &'a str,
    kind: AuthKind,
    security_token: Option<String>,
}

/// See [`crate::parse`].
pub(crate) fn parse(req: &Request<'_>, services: &[&str]) -> Result<Authorization, Error> {
    let params = query_pairs(req.query);
    let query_auth = params.iter().any(|(name, _)| name == b"X-Amz-Algorithm");
    match (req.headers.get(http::header::AUTHORIZATION), query_auth) {
        (Some(_), true) => Err(Error::BadScope(MSG_BOTH_AUTH.to_owned())),
        (None, false) => Err(Error::Missing),
        (Some(header), false) => parse_header(req, header.as_bytes(), services),
        (None, true) => parse_query(req, &params, services),
    }
}

/// Header form: `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
fn parse_header(
    req: &Request<'_>,
    header: &[u8],
    services: &[&str],
) -> Result<Authorization, Error> {
    let header = std::str::from_utf8(header).map_err(|_| {
        Error::Incomplete(format!(
            "Authorization header is not valid UTF-8: '{}'.",
            String::from_utf8_lossy(header)
        ))
    })?;
    let trimmed = header.trim();
    let (algorithm, rest) = trimmed
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((trimmed, ""));

    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for token in rest
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
    {
        let Some((key, value)) = token.split_once('=') else {
            return Err(Error::Incomplete(format!(
                "'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'."
            )));
        };
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        slot.get_or_insert(value);
    }

    let date = header_str(req, "x-amz-date").or_else(|| header_str(req, "date"));
    let mut msg = String::new();
    if credential.is_none_or(str::is_empty) {
        msg.push_str("Authorization header requires 'Credential' parameter. ");
    }
    if signature.is_none_or(str::is_empty) {
        msg.push_str("Authorization header requires 'Signature' parameter. ");
    }
    if signed_headers.is_none() {
        msg.push_str("Authorization header requires 'SignedHeaders' parameter. ");
    }
    if date.is_none() {
        msg.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(date), true) =
        (credential, signed_headers, signature, date, msg.is_empty())
    else {
        msg.push_str("Authorization=");
        msg.push_str(header);
        return Err(Error::Incomplete(msg));
    };

    finish(
        Raw {
            algorithm,
            credential,
            signed_headers,
            signature,
            date,
            kind: AuthKind::Header,
            security_token: header_str(req, "x-amz-security-token").map(str::to_owned),
        },
        services,
    )
}

/// Query form: `X-Amz-Algorithm=…&X-Amz-Credential=…&X-Amz-Date=…&X-Amz-SignedHeaders=…&X-Amz-Signature=…`.
fn parse_query(
    req: &Request<'_>,
    params: &[(Vec<u8>, Vec<u8>)],
    services: &[&str],
) -> Result<Authorization, Error> {
    let get = |name: &str| -> Result<Option<&str>, Error> {
        match params.iter().find(|(k, _)| k.as_slice() == name.as_bytes()) {
            None => Ok(None),
            Some((_, value)) => std::str::from_utf8(value).map(Some).map_err(|_| {
                Error::Incomplete(format!(
                    "AWS query-string parameter '{name}' is not valid UTF-8."
                ))
            }),
        }
    };
    let algorithm = get("X-Amz-Algorithm")?;
    let credential = get("X-Amz-Credential")?;
    let signature = get("X-Amz-Signature")?;
    let signed_headers = get("X-Amz-SignedHeaders")?;
    let date = get("X-Amz-Date")?;
    let mut msg = String::new();
    for (name, value) in [
        ("X-Amz-Algorithm", algorithm),
        ("X-Amz-Credential", credential),
        ("X-Amz-Signature", signature),
        ("X-Amz-SignedHeaders", signed_headers),
        ("X-Amz-Date", date),
    ] {
        if value.is_none_or(str::is_empty) {
            msg.push_str(&format!(
                "AWS query-string parameters must include '{name}'. "
            ));
        }
    }
    let (
        Some(algorithm),
        Some(credential),
        Some(signature),
        Some(signed_headers),
        Some(date),
        true,
    ) = (
        algorithm,
        credential,
        signature,
        signed_headers,
        date,
        msg.is_empty(),
    )
    else {
        msg.push_str("Re-examine the query-string parameters.");
        return Err(Error::Incomplete(msg));
    };

    let expires_secs = match get("X-Amz-Expires")? {
        None => 0,
        Some(text) => parse_expires(text)?,
    };
    let security_token = match get("X-Amz-Security-Token")? {
        Some(token) => Some(token.to_owned()),
        None => header_str(req, "x-amz-security-token").map(str::to_owned),
    };
    finish(
        Raw {
            algorithm,
            credential,
            signed_headers,
            signature,
            date,
            kind: AuthKind::Presigned { expires_secs },
            security_token,
        },
        services,
    )
}

/// `X-Amz-Expires`: whole seconds in `1..=604800`.
fn parse_expires(text: &str) -> Result<u64, Error> {
    if text.starts_with('-') && text.len() > 1 && text[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Incomplete(
            "X-Amz-Expires must be non-negative".to_owned(),
        ));
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Incomplete(
            "X-Amz-Expires should be a number".to_owned(),
        ));
    }
    match text.parse::<u64>() {
        Ok(0) => Err(Error::Incomplete(
            "X-Amz-Expires must be greater than 0".to_owned(),
        )),
        Ok(secs) if secs <= MAX_EXPIRES_SECS => Ok(secs),
        _ => Err(Error::Incomplete(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES_SECS}"
        ))),
    }
}

/// Checks shared by both forms, in the order AWS reports them.
fn finish(raw: Raw<'_>, services: &[&str]) -> Result<Authorization, Error> {
    let request_time = parse_amz_date(raw.date).ok_or_else(|| {
        Error::Incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            raw.date
        ))
    })?;

    let signed_headers: Vec<String> = if raw.signed_headers.is_empty() {
        Vec::new()
    } else {
        raw.signed_headers
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect()
    };
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(Error::Incomplete(MSG_HOST_NOT_SIGNED.to_owned()));
    }

    if raw.algorithm != ALGORITHM {
        return Err(Error::Incomplete(format!(
            "Unsupported AWS 'algorithm': '{}' (only {ALGORITHM} for now). ",
            raw.algorithm
        )));
    }

    let parts: Vec<&str> = raw.credential.split('/').collect();
    let [access_key_id, scope_date, region, service, terminator] = parts.as_slice() else {
        return Err(Error::Incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
            raw.credential
        )));
    };

    // AWS lists every scope problem at once, each sentence ending in ". " except the last one.
    let mut msg = String::new();
    if region.is_empty() {
        msg.push_str(&format!(
            "Credential should be scoped to a valid region, not '{region}'. "
        ));
    }
    if !services.contains(service) {
        let expected = services.first().copied().unwrap_or_default();
        msg.push_str(&format!(
            "Credential should be scoped to correct service: '{expected}'. "
        ));
    }
    if *terminator != TERMINATOR {
        msg.push_str(&format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'. "
        ));
    }
    let date_part = raw.date.get(..8).unwrap_or_default();
    if *scope_date != date_part {
        msg.push_str(&format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{date_part}', from '{}'.",
            raw.date
        ));
    }
    if !msg.is_empty() {
        return Err(Error::BadScope(msg));
    }

    Ok(Authorization {
        kind: raw.kind,
        access_key_id: (*access_key_id).to_owned(),
        scope_date: (*scope_date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers,
        signature: raw.signature.to_ascii_lowercase(),
        amz_date: raw.date.to_owned(),
        request_time,
        security_token: raw.security_token,
    })
}

/// The first value of a header, if it is there and is UTF-8.
fn header_str<'r>(req: &Request<'r>, name: &str) -> Option<&'r str> {
    req.headers
        .get(name)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

/// `YYYYMMDD'T'HHMMSS'Z'` to Unix seconds; `None` unless exactly that form and a real instant.
pub(crate) fn parse_amz_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(number(4..6)?).ok()?).ok()?;
    let day = u8::try_from(number(6..8)?).ok()?;
    let hour = u8::try_from(number(9..11)?).ok()?;
    let minute = u8::try_from(number(11..13)?).ok()?;
    let second = u8::try_from(number(13..15)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let clock = time::Time::from_hms(hour, minute, second).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, clock)
            .assume_utc()
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_parsing() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        for bad in [
            "",
            "20150830T123600",
            "20150830 123600Z",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "20150230T123600Z",
            "20150830T246000Z",
            "20150830T123660Z",
            "+2015830T123600Z",
            "2015083OT123600Z",
            "20150830T12360٠Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn expires_parsing() {
        assert_eq!(parse_expires("1"), Ok(1));
        assert_eq!(parse_expires("604800"), Ok(604_800));
        for bad in [
            "0",
            "604801",
            "-5",
            "",
            "abc",
            "1.5",
            "99999999999999999999999",
        ] {
            assert!(
                matches!(parse_expires(bad), Err(Error::Incomplete(_))),
                "{bad:?}"
            );
        }
    }
}
