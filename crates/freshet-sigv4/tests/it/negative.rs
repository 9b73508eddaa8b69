//! Refusals: tampering, wrong secrets, malformed or incomplete auth, wrong scope, clock skew and
//! presigned expiry, each with AWS's wording.

use crate::http_text::{self, OwnedRequest};
use crate::signer::{Signing, Spec, now, sign_request};
use freshet_sigv4::{AuthKind, Authorization, Error, check_time, parse, verify};
use http::HeaderValue;

const SERVICES: &[&str] = &["timestream", "iam", "sts"];
const SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2015-08-30T12:36:00Z.
const T: i64 = 1_440_938_160;

fn spec() -> Spec {
    Spec {
        method: "POST".to_owned(),
        host: "ingest.timestream.us-east-1.amazonaws.com".to_owned(),
        path: "/tables/t%201/records".to_owned(),
        query: "b=2&a=1".to_owned(),
        headers: vec![
            (
                "content-type".to_owned(),
                "application/x-amz-json-1.0".to_owned(),
            ),
            (
                "x-amz-target".to_owned(),
                "Timestream_20181101.WriteRecords".to_owned(),
            ),
        ],
        body: br#"{"DatabaseName":"db","TableName":"t"}"#.to_vec(),
    }
}

fn signed(signing: &Signing) -> OwnedRequest {
    sign_request(&spec(), signing)
}

fn check(req: &OwnedRequest, secret: &[u8]) -> Result<Authorization, Error> {
    let r = req.as_request();
    let auth = parse(&r, SERVICES)?;
    verify(&r, &auth, secret)?;
    Ok(auth)
}

fn incomplete(msg: &str) -> Result<Authorization, Error> {
    Err(Error::Incomplete(msg.to_owned()))
}

/// A request with the given headers (and nothing signed).
fn raw(text: &str) -> OwnedRequest {
    http_text::parse(text.as_bytes())
}

#[test]
fn baseline_is_accepted_both_forms() {
    let req = signed(&Signing::default());
    let auth = check(&req, SECRET).expect("header auth");
    assert_eq!(auth.kind, AuthKind::Header);
    assert_eq!(check_time(&auth, T, 900), Ok(()));

    let presigned = signed(&Signing {
        presign_expires: Some(300),
        ..Signing::default()
    });
    let auth = check(&presigned, SECRET).expect("query auth");
    assert_eq!(auth.kind, AuthKind::Presigned { expires_secs: 300 });
}

#[test]
fn wrong_secret_is_mismatch() {
    let req = signed(&Signing::default());
    assert_eq!(
        check(&req, b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ"),
        Err(Error::Mismatch)
    );
    assert_eq!(check(&req, b""), Err(Error::Mismatch));
}

#[test]
fn tampering_is_mismatch() {
    for signing in [
        Signing::default(),
        Signing {
            presign_expires: Some(60),
            ..Signing::default()
        },
    ] {
        let base = signed(&signing);
        assert!(check(&base, SECRET).is_ok());

        let mut body = base.clone();
        body.body[3] ^= 0x01;
        assert_eq!(check(&body, SECRET), Err(Error::Mismatch), "body byte");

        let mut longer = base.clone();
        longer.body.push(b' ');
        assert_eq!(check(&longer, SECRET), Err(Error::Mismatch), "body grown");

        let mut header = base.clone();
        header.headers.insert(
            "x-amz-target",
            HeaderValue::from_static("Timestream_20181101.WriteRecordZ"),
        );
        assert_eq!(
            check(&header, SECRET),
            Err(Error::Mismatch),
            "signed header"
        );

        let mut host = base.clone();
        host.headers.insert(
            "host",
            HeaderValue::from_static("ingest.timestream.us-east-1.amazonaws.co"),
        );
        assert_eq!(check(&host, SECRET), Err(Error::Mismatch), "host");

        let mut path = base.clone();
        path.path = path.path.replace("t%201", "t%202");
        assert_eq!(check(&path, SECRET), Err(Error::Mismatch), "path byte");

        let mut query = base.clone();
        query.query = query.query.replacen("a=1", "a=2", 1);
        assert_eq!(check(&query, SECRET), Err(Error::Mismatch), "query");

        let mut method = base.clone();
        method.method = "PUT".to_owned();
        assert_eq!(check(&method, SECRET), Err(Error::Mismatch), "method");

        // Not signed, so free to change: an extra header.
        let mut extra = base.clone();
        extra
            .headers
            .insert("user-agent", HeaderValue::from_static("curl/8"));
        assert!(check(&extra, SECRET).is_ok(), "unsigned header");

        // Equivalent paths normalize to the same canonical URI.
        let mut dotted = base.clone();
        dotted.path = "/tables/./x/../t%201//records".to_owned();
        assert!(check(&dotted, SECRET).is_ok(), "normalized path");
    }
}

#[test]
fn content_sha256_must_match_body() {
    let mut with_hash = spec();
    with_hash.headers.push((
        "x-amz-content-sha256".to_owned(),
        "9cd8c4b2ab4d1b2b2ed40e8e6b4c4c0e8a8ad9ef4bf5bd2ab48cf27d79fe1d22".to_owned(),
    ));
    let req = sign_request(&with_hash, &Signing::default());
    assert_eq!(
        check(&req, SECRET),
        Err(Error::Mismatch),
        "hash of another body"
    );

    let mut unsigned = spec();
    unsigned.headers.push((
        "x-amz-content-sha256".to_owned(),
        "UNSIGNED-PAYLOAD".to_owned(),
    ));
    let req = sign_request(&unsigned, &Signing::default());
    assert_eq!(
        check(&req, SECRET),
        Err(Error::Mismatch),
        "UNSIGNED-PAYLOAD"
    );

    let mut honest = spec();
    let hash = freshet_sigv4_sha256(&honest.body);
    honest
        .headers
        .push(("x-amz-content-sha256".to_owned(), hash));
    let req = sign_request(&honest, &Signing::default());
    assert!(check(&req, SECRET).is_ok(), "correct hash");
}

fn freshet_sigv4_sha256(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

#[test]
fn missing_and_malformed_header_auth() {
    const DATE: &str = "X-Amz-Date:20150830T123600Z\n";
    let cases: &[(&str, Result<Authorization, Error>)] = &[
        ("", Err(Error::Missing)),
        ("User-Agent:x\n", Err(Error::Missing)),
        (
            "Authorization:eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9\n",
            incomplete(
                "Authorization header requires 'Credential' parameter. \
                 Authorization header requires 'Signature' parameter. \
                 Authorization header requires 'SignedHeaders' parameter. \
                 Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
                 Authorization=eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9",
            ),
        ),
        (
            "Authorization:AWS4-HMAC-SHA256 Credential= AKID/20150830/us-east-1/timestream/aws4_request, SignedHeaders=host, Signature=abc\n",
            incomplete(
                "'AKID/20150830/us-east-1/timestream/aws4_request' not a valid key=value pair \
                 (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 Credential= \
                 AKID/20150830/us-east-1/timestream/aws4_request, SignedHeaders=host, Signature=abc'.",
            ),
        ),
    ];
    for (headers, expected) in cases {
        let req = raw(&format!("GET / HTTP/1.1\nHost:example.com\n{headers}\n"));
        assert_eq!(&check(&req, SECRET), expected, "headers {headers:?}");
    }

    let with_date: &[(&str, Result<Authorization, Error>)] = &[
        (
            "Authorization:AWS4-HMAC-SHA256 Credential=, SignedHeaders=host, Signature=abc\n",
            incomplete(
                "Authorization header requires 'Credential' parameter. \
                 Authorization=AWS4-HMAC-SHA256 Credential=, SignedHeaders=host, Signature=abc",
            ),
        ),
        (
            "Authorization:AWS4-HMAC-SHA256 Credential=ABCDEF\n",
            incomplete(
                "Authorization header requires 'Signature' parameter. \
                 Authorization header requires 'SignedHeaders' parameter. \
                 Authorization=AWS4-HMAC-SHA256 Credential=ABCDEF",
            ),
        ),
        (
            "Authorization:AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/timestream/aws4_request, SignedHeaders=x-amz-date, Signature=abc\n",
            incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."),
        ),
        (
            "Authorization:AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/timestream/aws4_request, SignedHeaders=, Signature=abc\n",
            incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."),
        ),
        (
            "Authorization:AWS4-HMAC-SHA512 Credential=AKID/20150830/us-east-1/timestream/aws4_request, SignedHeaders=host, Signature=abc\n",
            incomplete(
                "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now). ",
            ),
        ),
        (
            "Authorization:AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/timestream, SignedHeaders=host, Signature=abc\n",
            incomplete(
                "Credential must have exactly 5 slash-delimited elements, \
                 e.g. keyid/date/region/service/term, got 'AKID/20150830/us-east-1/timestream'",
            ),
        ),
    ];
    for (headers, expected) in with_date {
        let req = raw(&format!(
            "GET / HTTP/1.1\nHost:example.com\n{DATE}{headers}\n"
        ));
        assert_eq!(&check(&req, SECRET), expected, "headers {headers:?}");
    }

    let bad_date = raw(
        "GET / HTTP/1.1\nHost:example.com\nX-Amz-Date:2015-08-30T12:36:00Z\n\
         Authorization:AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/timestream/aws4_request, SignedHeaders=host, Signature=abc\n\n",
    );
    assert_eq!(
        check(&bad_date, SECRET),
        incomplete(
            "Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'. \
             See http://en.wikipedia.org/wiki/ISO_8601"
        )
    );

    // A `Date` header stands in for X-Amz-Date (it must then be in the same basic format).
    let date_header = raw("GET / HTTP/1.1\nHost:example.com\nDate:20150830T123600Z\n\
         Authorization:AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/timestream/aws4_request, SignedHeaders=date;host, Signature=abc\n\n");
    let r = date_header.as_request();
    let auth = parse(&r, SERVICES).expect("Date header accepted");
    assert_eq!(auth.amz_date, "20150830T123600Z");
    assert_eq!(auth.request_time, T);
}

#[test]
fn scope_errors_are_bad_scope() {
    let signing = Signing {
        service: "dynamodb".to_owned(),
        ..Signing::default()
    };
    let req = signed(&signing);
    assert_eq!(
        check(&req, SECRET),
        Err(Error::BadScope(
            "Credential should be scoped to correct service: 'timestream'. ".to_owned()
        ))
    );
    // Every accepted service works; any region does.
    for service in SERVICES {
        let req = signed(&Signing {
            service: (*service).to_owned(),
            region: "eu-west-3".to_owned(),
            ..Signing::default()
        });
        let auth = check(&req, SECRET).expect(service);
        assert_eq!(auth.service, *service);
        assert_eq!(auth.region, "eu-west-3");
    }

    let req = raw(
        "GET / HTTP/1.1\nHost:example.com\nX-Amz-Date:20150830T123600Z\n\
         Authorization:AWS4-HMAC-SHA256 Credential=AKID/20150831//s3/aws5_request, SignedHeaders=host, Signature=abc\n\n",
    );
    assert_eq!(
        check(&req, SECRET),
        Err(Error::BadScope(
            "Credential should be scoped to a valid region, not ''. \
             Credential should be scoped to correct service: 'timestream'. \
             Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. \
             Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
             '20150831' != '20150830', from '20150830T123600Z'."
                .to_owned()
        ))
    );

    let req = raw(
        "GET /?X-Amz-Algorithm=AWS4-HMAC-SHA256 HTTP/1.1\nHost:example.com\nAuthorization:AWS4-HMAC-SHA256 x=y\n\n",
    );
    assert_eq!(
        check(&req, SECRET),
        Err(Error::BadScope(
            "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
                .to_owned()
        ))
    );
}

#[test]
fn missing_and_malformed_query_auth() {
    let cases: &[(&str, Result<Authorization, Error>)] = &[
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a",
            incomplete(
                "AWS query-string parameters must include 'X-Amz-Signature'. \
                 AWS query-string parameters must include 'X-Amz-SignedHeaders'. \
                 AWS query-string parameters must include 'X-Amz-Date'. \
                 Re-examine the query-string parameters.",
            ),
        ),
        (
            "X-Amz-Algorithm=",
            incomplete(
                "AWS query-string parameters must include 'X-Amz-Algorithm'. \
                 AWS query-string parameters must include 'X-Amz-Credential'. \
                 AWS query-string parameters must include 'X-Amz-Signature'. \
                 AWS query-string parameters must include 'X-Amz-SignedHeaders'. \
                 AWS query-string parameters must include 'X-Amz-Date'. \
                 Re-examine the query-string parameters.",
            ),
        ),
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Ftimestream%2Faws4_request\
             &X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Signature=ab&X-Amz-Expires=604801",
            incomplete("X-Amz-Expires must be less than a week (in seconds) that is 604800"),
        ),
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Ftimestream%2Faws4_request\
             &X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Signature=ab&X-Amz-Expires=soon",
            incomplete("X-Amz-Expires should be a number"),
        ),
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Ftimestream%2Faws4_request\
             &X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Signature=ab&X-Amz-Expires=%FF",
            incomplete("AWS query-string parameter 'X-Amz-Expires' is not valid UTF-8."),
        ),
    ];
    for (query, expected) in cases {
        let req = raw(&format!("GET /?{query} HTTP/1.1\nHost:example.com\n\n"));
        assert_eq!(&check(&req, SECRET), expected, "query {query:?}");
    }

    // Without X-Amz-Expires a presigned request parses, with the skew window only.
    let req = raw(
        "GET /?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Ftimestream%2Faws4_request\
         &X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Signature=AB HTTP/1.1\nHost:example.com\n\n",
    );
    let r = req.as_request();
    let auth = parse(&r, SERVICES).expect("parse");
    assert_eq!(auth.kind, AuthKind::Presigned { expires_secs: 0 });
    assert_eq!(auth.signature, "ab", "signature is lowercased");
    assert_eq!(check_time(&auth, T + 900, 900), Ok(()));
    assert!(matches!(
        check_time(&auth, T + 901, 900),
        Err(Error::Expired(_))
    ));
    assert_eq!(verify(&r, &auth, SECRET), Err(Error::Mismatch));
}

#[test]
fn clock_skew_both_ways() {
    let req = signed(&Signing::default());
    let r = req.as_request();
    let auth = parse(&r, SERVICES).expect("parse");
    assert_eq!(auth.request_time, T);
    assert_eq!(
        check_time(&auth, T + 900, 900),
        Ok(()),
        "exactly 15 min late"
    );
    assert_eq!(
        check_time(&auth, T - 900, 900),
        Ok(()),
        "exactly 15 min early"
    );
    assert_eq!(
        check_time(&auth, T + 20 * 60, 900),
        Err(Error::Expired(
            "Signature expired: 20150830T123600Z is now earlier than 20150830T124100Z \
             (20150830T125600Z - 15 min.)"
                .to_owned()
        ))
    );
    assert_eq!(
        check_time(&auth, T - 30 * 60, 900),
        Err(Error::Expired(
            "Signature not yet current: 20150830T123600Z is still later than 20150830T122100Z \
             (20150830T120600Z + 15 min.)"
                .to_owned()
        ))
    );
    assert_eq!(
        check_time(&auth, T + 301, 300),
        Err(Error::Expired(
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z \
             (20150830T124101Z - 5 min.)"
                .to_owned()
        ))
    );
    // Extreme clocks neither panic nor pass.
    assert!(check_time(&auth, i64::MAX, 900).is_err());
    assert!(check_time(&auth, i64::MIN, 900).is_err());
    assert!(check_time(&auth, T, i64::MIN).is_ok());
}

#[test]
fn presigned_expiry() {
    let signing = Signing {
        presign_expires: Some(3600),
        ..Signing::default()
    };
    let req = signed(&signing);
    let r = req.as_request();
    let auth = parse(&r, SERVICES).expect("parse");
    assert_eq!(verify(&r, &auth, SECRET), Ok(()));
    assert_eq!(check_time(&auth, now(&signing), 900), Ok(()));
    assert_eq!(
        check_time(&auth, T + 3000, 900),
        Ok(()),
        "past the skew, before expiry"
    );
    assert_eq!(check_time(&auth, T + 3600, 900), Ok(()), "last second");
    assert_eq!(
        check_time(&auth, T + 3601, 900),
        Err(Error::Expired("Request has expired".to_owned()))
    );
    assert!(
        matches!(check_time(&auth, T - 901, 900), Err(Error::Expired(m)) if m.starts_with("Signature not yet current: ")),
        "signed in the future"
    );
    let forged = Authorization {
        kind: AuthKind::Presigned {
            expires_secs: 604_801,
        },
        ..auth
    };
    assert!(matches!(
        check_time(&forged, T, 900),
        Err(Error::Expired(_))
    ));
}

#[test]
fn session_tokens_are_reported() {
    for presign_expires in [None, Some(900)] {
        let signing = Signing {
            session_token: Some("FwoGZXIvYXdzEJr//////////wEaDA+token==".to_owned()),
            presign_expires,
            ..Signing::default()
        };
        let req = signed(&signing);
        let auth = check(&req, SECRET).expect("verify");
        assert_eq!(auth.security_token, signing.session_token);
    }
}

#[test]
fn odd_bytes_do_not_panic() {
    let mut req = signed(&Signing::default());
    req.headers.insert(
        "x-amz-target",
        HeaderValue::from_bytes(b"caf\xe9 \xff\xfe").expect("obs-text is a valid header value"),
    );
    let r = req.as_request();
    let auth = parse(&r, SERVICES).expect("parse");
    assert_eq!(verify(&r, &auth, SECRET), Err(Error::Mismatch));
    assert!(
        freshet_sigv4::canonical_request(&r, &auth)
            .contains("x-amz-target:caf\u{fffd} \u{fffd}\u{fffd}\n")
    );

    // Signed header names that no header can have, one of them huge.
    let long = "x".repeat(100_000);
    let weird = raw(&format!(
        "GET / HTTP/1.1\nHost:example.com\nX-Amz-Date:20150830T123600Z\n\
         Authorization:AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/timestream/aws4_request, \
         SignedHeaders=host;;%;ሴ;{long};, Signature=00\n\n"
    ));
    let r = weird.as_request();
    let auth = parse(&r, SERVICES).expect("parse");
    assert_eq!(auth.signed_headers.len(), 6);
    assert_eq!(verify(&r, &auth, SECRET), Err(Error::Mismatch));

    let mut bad_auth = signed(&Signing::default());
    bad_auth.headers.insert(
        "authorization",
        HeaderValue::from_bytes(b"AWS4-HMAC-SHA256 Credential=\xff").expect("value"),
    );
    assert!(matches!(
        parse(&bad_auth.as_request(), SERVICES),
        Err(Error::Incomplete(_))
    ));
}
