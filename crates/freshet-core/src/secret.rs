//! `Secret`: bytes that must never be printed, logged or left in memory after use.

use zeroize::Zeroizing;

/// A secret value (an access-key secret, a master key). `Debug` prints `***`; the bytes are zeroized on drop.
/// It deliberately implements neither `Display` nor `Serialize`.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(bytes.into()))
    }

    /// The secret bytes. Call sites are few and reviewed: signing, encryption, showing a new key once.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_bytes() {
        let s = Secret::new(b"wJalrXUtnFEMI".to_vec());
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(s)), "Some(***)");
    }
}
