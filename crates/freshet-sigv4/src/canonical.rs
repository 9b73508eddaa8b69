//! The canonical request (SigV4 task 1) as AWS builds it for non-S3 services.
//!
//! Everything here works on bytes so that header values which are not UTF-8 are signed exactly as
//! received; the public `canonical_request` converts to a `String` only for display.

use crate::{AuthKind, Authorization, Request};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// Bytes that URI encoding escapes: all but the unreserved `A–Z a–z 0–9 - _ . ~`.
const ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// As [`ENCODE_SET`], but keeping `/` (for whole paths).
const ENCODE_SET_PATH: &AsciiSet = &ENCODE_SET.remove(b'/');

/// The header that carries a precomputed payload hash.
pub(crate) const CONTENT_SHA256: &str = "x-amz-content-sha256";

/// SigV4 URI encoding of `input`: every byte but the unreserved ones becomes `%XX` (uppercase hex).
pub(crate) fn uri_encode(input: &[u8]) -> String {
    percent_encoding::percent_encode(input, ENCODE_SET).to_string()
}

/// Removes dot segments (RFC 3986 §5.2.4) and empty segments (duplicate slashes) from an
/// absolute path. Empty input gives `/`; a missing leading `/` is added. A trailing slash, or a
/// trailing `.`/`..` segment, leaves a trailing slash. Works on the still-encoded path, so `%2E`
/// is not a dot and `%2F` is not a separator.
pub(crate) fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    out.push('/');
    out.push_str(&segments.join("/"));
    let trailing_slash = ["/", "/.", "/..", "/./", "/../"]
        .iter()
        .any(|end| path.ends_with(end));
    if trailing_slash && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// The canonical URI for a non-S3 service: the normalized path, URI-encoded once more (the path on
/// the wire is already encoded, so `%3D` becomes `%253D`).
pub(crate) fn canonical_uri(path: &str) -> String {
    let normalized = normalize_path(path);
    percent_encoding::utf8_percent_encode(&normalized, ENCODE_SET_PATH).to_string()
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte;
/// malformed escapes are kept literally.
pub(crate) fn form_decode(raw: &[u8]) -> Vec<u8> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&plus_as_space).collect()
}

/// Splits a raw query string into decoded `(name, value)` pairs, in order. Empty pieces
/// (`a=1&&b=2`) are skipped; a piece without `=` has an empty value.
pub(crate) fn query_pairs(query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    query
        .as_bytes()
        .split(|&b| b == b'&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| match piece.iter().position(|&b| b == b'=') {
            Some(i) => (form_decode(&piece[..i]), form_decode(&piece[i + 1..])),
            None => (form_decode(piece), Vec::new()),
        })
        .collect()
}

/// The canonical query string: every parameter decoded, re-encoded, sorted by encoded name then
/// encoded value, joined as `k=v` with `&`. Presigned requests leave out `X-Amz-Signature`.
pub(crate) fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .into_iter()
        .filter(|(name, _)| !(presigned && name.as_slice() == b"X-Amz-Signature"))
        .map(|(name, value)| (uri_encode(&name), uri_encode(&value)))
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len());
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Appends `value` with leading and trailing spaces removed and every inner run of spaces
/// collapsed to one (AWS's "trimall"; like the AWS SDKs, only the space character counts).
fn push_trimmed(value: &[u8], out: &mut Vec<u8>) {
    let mut previous_space = false;
    let start = out.len();
    for &b in value {
        if b == b' ' {
            previous_space = true;
            continue;
        }
        if previous_space && out.len() > start {
            out.push(b' ');
        }
        previous_space = false;
        out.push(b);
    }
}

/// The canonical header block: one `name:value\n` line per signed header, in the order given.
/// Repeated headers are joined with `,` in the order received; a signed header that is absent
/// gets an empty value (the signature then simply does not match).
fn push_canonical_headers(req: &Request<'_>, signed_headers: &[String], out: &mut Vec<u8>) {
    for name in signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        for (i, value) in req.headers.get_all(name.as_str()).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_trimmed(value.as_bytes(), out);
        }
        out.push(b'\n');
    }
}

/// Lowercase hex SHA-256.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The payload hash line: the `x-amz-content-sha256` header as sent, else the body's SHA-256.
fn payload_hash(req: &Request<'_>) -> Vec<u8> {
    match req.headers.get(CONTENT_SHA256) {
        Some(value) => value.as_bytes().to_vec(),
        None => sha256_hex(req.body).into_bytes(),
    }
}

/// Builds the canonical request bytes.
pub(crate) fn build(req: &Request<'_>, auth: &Authorization) -> Vec<u8> {
    let presigned = matches!(auth.kind, AuthKind::Presigned { .. });
    let mut out = Vec::with_capacity(256 + req.query.len() + req.path.len());
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(req.path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(req.query, presigned).as_bytes());
    out.push(b'\n');
    push_canonical_headers(req, &auth.signed_headers, &mut out);
    out.push(b'\n');
    out.extend_from_slice(auth.signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&payload_hash(req));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_encode_keeps_only_unreserved() {
        assert_eq!(
            uri_encode(b"AZaz09-_.~"),
            "AZaz09-_.~",
            "unreserved characters are kept"
        );
        assert_eq!(
            uri_encode(b" !\"#$%&'()*+,/:;<=>?@[\\]^`{|}"),
            "%20%21%22%23%24%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E%60%7B%7C%7D"
        );
        assert_eq!(uri_encode("ሴ".as_bytes()), "%E1%88%B4", "UTF-8 bytes");
        assert_eq!(
            uri_encode(&[0x00, 0x7f, 0xff]),
            "%00%7F%FF",
            "controls, raw bytes"
        );
        assert_eq!(uri_encode(b""), "");
    }

    #[test]
    fn normalize_path_edge_cases() {
        for (input, expected) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("///", "/"),
            ("/.", "/"),
            ("/..", "/"),
            ("/./", "/"),
            ("/../", "/"),
            ("/../..", "/"),
            ("/../../a", "/a"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/a/b/../c", "/a/c"),
            ("/a/./b", "/a/b"),
            ("/a/b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("//example//", "/example/"),
            ("/a//b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("a/b", "/a/b"),
            ("/.a/..b/...", "/.a/..b/..."),
            ("/%2E%2E/a", "/%2E%2E/a"),
            ("/a%2Fb/../c", "/c"),
        ] {
            assert_eq!(normalize_path(input), expected, "normalize_path({input:?})");
        }
    }

    #[test]
    fn canonical_uri_double_encodes() {
        assert_eq!(
            canonical_uri("/test/@connections/JBDvjfGEIAMCERw%3D"),
            "/test/%40connections/JBDvjfGEIAMCERw%253D"
        );
        assert_eq!(canonical_uri("/example%20space/"), "/example%2520space/");
        assert_eq!(canonical_uri("/example space/"), "/example%20space/");
        assert_eq!(canonical_uri("/ሴ"), "/%E1%88%B4");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/a/./b/../c//d"), "/a/c/d");
        assert_eq!(
            canonical_uri("/a%2Fb"),
            "/a%252Fb",
            "encoded slash is not a separator"
        );
    }

    #[test]
    fn canonical_query_rules() {
        assert_eq!(canonical_query("", false), "");
        assert_eq!(
            canonical_query("Param2=value2&Param1=value1", false),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(canonical_query("b=2&a", false), "a=&b=2", "bare key");
        assert_eq!(canonical_query("a=2&a=1&a=10", false), "a=1&a=10&a=2");
        assert_eq!(canonical_query("&&a=1&", false), "a=1", "empty pieces");
        assert_eq!(
            canonical_query("a=x+y%2Bz", false),
            "a=x%20y%2Bz",
            "+ is a space"
        );
        assert_eq!(canonical_query("k=%7e%2f%zz", false), "k=~%2F%25zz");
        assert_eq!(canonical_query("ሴ=bar", false), "%E1%88%B4=bar");
        assert_eq!(
            canonical_query("X-Amz-Signature=abc&b=1", true),
            "b=1",
            "presigned drops the signature"
        );
        assert_eq!(
            canonical_query("X-Amz-Signature=abc&b=1", false),
            "X-Amz-Signature=abc&b=1"
        );
        // Sorting is on the encoded names: `%E1…` sorts before letters.
        assert_eq!(
            canonical_query("Param-3=Value3&Param=Value2&%E1%88%B4=Value1", false),
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"
        );
    }

    #[test]
    fn trimall_collapses_spaces_only() {
        for (input, expected) in [
            ("  a   b  c  ", "a b c"),
            ("", ""),
            ("   ", ""),
            ("a", "a"),
            ("a\tb", "a\tb"),
            ("value1  value2     value3", "value1 value2 value3"),
        ] {
            let mut out = Vec::new();
            push_trimmed(input.as_bytes(), &mut out);
            assert_eq!(out, expected.as_bytes(), "trimall({input:?})");
        }
    }
}
