//! A raw HTTP/1.1 request as text (the test-suite format) turned into an owned request.

use freshet_sigv4::Request;
use http::{HeaderMap, HeaderName, HeaderValue};

/// An owned request that lends out a [`Request`].
#[derive(Debug, Clone)]
pub struct OwnedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl OwnedRequest {
    pub fn as_request(&self) -> Request<'_> {
        Request {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }

    /// Splits `target` (`/path?query`) into path and query.
    pub fn set_target(&mut self, target: &str) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        self.path = path.to_owned();
        self.query = query.to_owned();
    }
}

/// Parses `METHOD target HTTP/1.1`, header lines (`Name:value`; lines starting with whitespace
/// continue the previous value, joined by a space as RFC 7230 says for obs-fold), a blank line,
/// then the body. The target may contain spaces (`get-space-unnormalized`); the version may be
/// missing.
pub fn parse(raw: &[u8]) -> OwnedRequest {
    let (head, body) = split_head(raw);
    let head = std::str::from_utf8(head).expect("request head is UTF-8");
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().expect("request line");
    let (method, rest) = request_line.split_once(' ').expect("method");
    // The legacy `double-url-encode` signed request has no HTTP version on its request line.
    let target = match rest.rsplit_once(' ') {
        Some((target, version)) if version.starts_with("HTTP/") => target,
        _ => rest,
    };

    let mut fields: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let last = fields.last_mut().expect("continuation after a header");
            last.1.push(' ');
            last.1.push_str(line);
            continue;
        }
        let (name, value) = line.split_once(':').expect("header line has a colon");
        fields.push((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()));
    }
    let mut headers = HeaderMap::new();
    for (name, value) in fields {
        headers.append(
            HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).expect("header name"),
            HeaderValue::from_str(value.trim_end_matches([' ', '\t'])).expect("header value"),
        );
    }
    let mut req = OwnedRequest {
        method: method.to_owned(),
        path: String::new(),
        query: String::new(),
        headers,
        body: body.to_vec(),
    };
    req.set_target(target);
    req
}

/// Head and body, split at the first empty line.
fn split_head(raw: &[u8]) -> (&[u8], &[u8]) {
    for (i, window) in raw.windows(2).enumerate() {
        if window == b"\n\n" {
            return (&raw[..i], &raw[i + 2..]);
        }
        if window == b"\n\r" && raw.get(i + 2) == Some(&b'\n') {
            return (&raw[..i], &raw[i + 3..]);
        }
    }
    (raw, &[])
}

#[test]
fn parses_folded_headers_and_body() {
    let req = parse(b"POST /a%20b?x=1&y HTTP/1.1\r\nHost:h:8080\r\nMy-H: one\r\n  two\r\nMy-H:three\r\n\r\nbody\n");
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/a%20b");
    assert_eq!(req.query, "x=1&y");
    assert_eq!(req.headers["host"], "h:8080");
    let my: Vec<_> = req.headers.get_all("my-h").iter().collect();
    assert_eq!(my, ["one   two", "three"]);
    assert_eq!(req.body, b"body\n");
}
