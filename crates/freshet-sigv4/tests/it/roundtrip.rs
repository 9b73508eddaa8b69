//! Property tests: random requests signed by the real `aws-sigv4` signer verify with ours (and a
//! changed body does not); arbitrary junk never makes the verifier panic.

use crate::http_text::OwnedRequest;
use crate::signer::{Signing, Spec, now, sign_request};
use freshet_sigv4::{Error, Request, canonical_request, check_time, parse, verify};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

const SERVICES: &[&str] = &["timestream", "iam", "sts"];

/// A path segment as a client puts it on the wire: unreserved and sub-delims, `%XX` escapes,
/// and dot segments.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9._~!$&'()*+,;=:@-]{0,8}",
        2 => "(%[0-9A-F]{2}|[a-z]){1,4}",
        1 => Just(".".to_owned()),
        1 => Just("..".to_owned()),
        1 => Just(String::new()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 0..5).prop_map(|segs| {
        let mut p = String::new();
        for s in segs {
            p.push('/');
            p.push_str(&s);
        }
        if p.is_empty() { "/".to_owned() } else { p }
    })
}

/// Encodes one query component the way some client might: fully, with lowercase escapes, or with
/// `+` for spaces.
fn encode_component(text: &str, style: u8) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-_.~".contains(&b);
        if keep {
            out.push(char::from(b));
        } else if b == b' ' && style == 2 {
            out.push('+');
        } else if style == 1 {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn query() -> impl Strategy<Value = String> {
    let text = "[a-zA-Z0-9 +&=/%~._ሴé-]{0,6}";
    prop::collection::vec((text, text, 0u8..3, any::<bool>()), 0..4).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v, style, bare)| {
                let k = encode_component(&k, style);
                if bare && v.is_empty() {
                    k
                } else {
                    format!("{k}={}", encode_component(&v, style))
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop_oneof![
                Just("x-test-a"),
                Just("x-test-b"),
                Just("content-type"),
                Just("x-amz-target")
            ],
            "[ -~\t]{0,12}|ሴ é",
        ),
        0..5,
    )
    .prop_map(|hs| hs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

prop_compose! {
    fn spec()(
        method in prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE"), Just("PATCH"), Just("HEAD")],
        host in prop_oneof![
            Just("ingest.timestream.us-east-1.amazonaws.com".to_owned()),
            Just("127.0.0.1:8086".to_owned()),
            Just("localhost:9443".to_owned()),
        ],
        path in path(),
        query in query(),
        headers in headers(),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) -> Spec {
        Spec { method: method.to_owned(), host, path, query, headers, body }
    }
}

prop_compose! {
    fn signing()(
        access_key_id in "AKIA[A-Z0-9]{16}",
        secret in "[A-Za-z0-9/+]{40}",
        session_token in prop::option::weighted(0.4, "[A-Za-z0-9/+=]{16,64}"),
        region in prop_oneof![Just("us-east-1"), Just("eu-west-1"), Just("ap-southeast-2")],
        service in prop::sample::select(SERVICES),
        unix_time in 1_400_000_000u64..2_000_000_000,
        presign_expires in prop::option::weighted(0.4, 1u64..=604_800),
    ) -> Signing {
        Signing {
            access_key_id,
            secret,
            session_token,
            region: region.to_owned(),
            service: service.to_owned(),
            unix_time,
            presign_expires,
        }
    }
}

proptest! {
    // 64 cases keeps the suite fast; set PROPTEST_CASES for a longer run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn aws_sigv4_signatures_verify(spec in spec(), signing in signing(), flip in any::<prop::sample::Index>()) {
        // A client never sends X-Amz-* auth parameters of its own in a header-signed request.
        prop_assume!(!spec.query.contains("X-Amz-"));
        let req = sign_request(&spec, &signing);
        let r = req.as_request();
        let auth = parse(&r, SERVICES).map_err(|e| TestCaseError::fail(format!("parse: {e:?}")))?;
        prop_assert_eq!(&auth.access_key_id, &signing.access_key_id);
        prop_assert_eq!(&auth.region, &signing.region);
        prop_assert_eq!(&auth.service, &signing.service);
        prop_assert_eq!(&auth.security_token, &signing.session_token);
        prop_assert_eq!(check_time(&auth, now(&signing), 900), Ok(()));
        prop_assert_eq!(
            verify(&r, &auth, signing.secret.as_bytes()),
            Ok(()),
            "canonical request:\n{}",
            canonical_request(&r, &auth)
        );

        let mut tampered: OwnedRequest = req.clone();
        if tampered.body.is_empty() {
            tampered.body.push(b'x');
        } else {
            let i = flip.index(tampered.body.len());
            tampered.body[i] ^= 0x20;
        }
        prop_assert_eq!(verify(&tampered.as_request(), &auth, signing.secret.as_bytes()), Err(Error::Mismatch));
    }

    #[test]
    fn junk_never_panics(
        method in "\\PC{0,8}",
        path in "\\PC{0,40}",
        query in "(X-Amz-[A-Za-z]{0,12}=\\PC{0,30}&?){0,6}|\\PC{0,60}",
        authorization in prop::option::of(prop::collection::vec(any::<u8>(), 0..120)),
        amz_date in prop::option::of("[0-9TZ]{0,18}|\\PC{0,20}"),
        headers in prop::collection::vec(("[a-z][a-z0-9-]{0,10}", prop::collection::vec(any::<u8>(), 0..20)), 0..4),
        body in prop::collection::vec(any::<u8>(), 0..32),
        now_unix in any::<i64>(),
        skew in any::<i64>(),
    ) {
        let mut map = HeaderMap::new();
        let mut add = |name: &str, value: &[u8]| {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value)) {
                map.append(n, v);
            }
        };
        add("host", b"example.com");
        if let Some(a) = &authorization {
            add("authorization", a);
        }
        if let Some(d) = &amz_date {
            add("x-amz-date", d.as_bytes());
        }
        for (n, v) in &headers {
            add(n, v);
        }
        let r = Request { method: &method, path: &path, query: &query, headers: &map, body: &body };
        if let Ok(auth) = parse(&r, SERVICES) {
            let _ = check_time(&auth, now_unix, skew);
            let _ = canonical_request(&r, &auth);
            prop_assert_eq!(verify(&r, &auth, b"secret"), Err(Error::Mismatch));
        }
    }
}
