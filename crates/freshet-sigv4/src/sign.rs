//! The string to sign, the signing key and the signature (SigV4 tasks 2–4), and the comparison.

use crate::canonical::{self, CONTENT_SHA256};
use crate::{Authorization, Error, Request};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The only algorithm accepted.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The credential scope terminator.
pub(crate) const TERMINATOR: &str = "aws4_request";

/// HMAC-SHA256 of `data` under `key`.
///
/// HMAC pads a key up to the hash's 64-byte block with zeros, after hashing it first when it is
/// longer than a block; doing that here lets us use the infallible fixed-size constructor.
fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub(crate) fn signing_key(
    secret: &[u8],
    scope_date: &str,
    region: &str,
    service: &str,
) -> [u8; 32] {
    let mut k_secret = Vec::with_capacity(4 + secret.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret);
    let k_date = hmac_sha256(&k_secret, scope_date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, TERMINATOR.as_bytes())
}

/// The string to sign for the canonical request given as bytes.
pub(crate) fn string_to_sign(auth: &Authorization, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}/{}/{}/{TERMINATOR}\n{}",
        auth.amz_date,
        auth.scope_date,
        auth.region,
        auth.service,
        canonical::sha256_hex(canonical_request)
    )
}

/// Recomputes the signature and compares it with the one given, in constant time.
pub(crate) fn verify(req: &Request<'_>, auth: &Authorization, secret: &[u8]) -> Result<(), Error> {
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(Error::Incomplete(
            crate::parse::MSG_HOST_NOT_SIGNED.to_owned(),
        ));
    }
    // A client-declared payload hash is signed in place of the body; it must then be the body's,
    // or the body would not be covered at all (UNSIGNED-PAYLOAD is an S3-only convention).
    if let Some(declared) = req.headers.get(CONTENT_SHA256) {
        let actual = canonical::sha256_hex(req.body);
        if !declared.as_bytes().eq_ignore_ascii_case(actual.as_bytes()) {
            return Err(Error::Mismatch);
        }
    }
    let canonical_request = canonical::build(req, auth);
    let string_to_sign = string_to_sign(auth, &canonical_request);
    let key = signing_key(secret, &auth.scope_date, &auth.region, &auth.service);
    let expected = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    let given = auth.signature.to_ascii_lowercase();
    if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        Ok(())
    } else {
        Err(Error::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231() {
        // RFC 4231 test case 2 (short key) and 6 (key longer than a block).
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn signing_key_matches_aws_docs_example() {
        // From the AWS General Reference "Examples of how to derive a signing key".
        let key = signing_key(
            b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }
}
