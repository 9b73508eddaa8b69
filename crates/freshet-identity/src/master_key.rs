//! The master key that seals secrets at rest (XChaCha20-Poly1305, random 24-byte nonces).

use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload};
use chacha20poly1305::{AeadCore, XChaCha20Poly1305, XNonce};
use freshet_core::Secret;

use crate::{Error, Result};

/// Sealed blob layout: version byte `1`, 24-byte nonce, ciphertext with its 16-byte tag.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

pub struct MasterKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }

    /// Reads a 32-byte key file, or creates one (mode 0600) when `create` is set and the file is missing.
    /// Refuses a key file that other users can read.
    pub fn load_or_create(path: &Path, create: bool) -> Result<Self> {
        let err = |reason: String| Error::MasterKeyFile {
            path: path.display().to_string(),
            reason,
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                check_private(path).map_err(err)?;
                let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    err(format!(
                        "must hold exactly 32 bytes, it holds {}",
                        bytes.len()
                    ))
                })?;
                Ok(Self::from_bytes(&key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let key: [u8; 32] = XChaCha20Poly1305::generate_key(&mut OsRng).into();
                write_private(path, &key).map_err(|e| err(e.to_string()))?;
                Ok(Self::from_bytes(&key))
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap_or_default(); // encryption of an in-memory buffer cannot fail
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Secret> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(Error::Unseal);
        }
        let nonce = XNonce::from_slice(&sealed[1..1 + NONCE_LEN]);
        let msg = &sealed[1 + NONCE_LEN..];
        self.cipher
            .decrypt(nonce, Payload { msg, aad })
            .map(Secret::new)
            .map_err(|_| Error::Unseal)
    }
}

/// Creates `path` with mode 0600 and writes `bytes`, fsynced. Fails if the file exists.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn check_private(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| e.to_string())?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "is readable by other users (mode {:o}); hint: run `chmod 600 {}`",
                mode & 0o777,
                path.display()
            ));
        }
    }
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = MasterKey::from_bytes(&[7; 32]);
        let sealed = k.seal(b"wJalrXUtnFEMI", b"a|1");
        assert_eq!(k.open(&sealed, b"a|1").unwrap().expose(), b"wJalrXUtnFEMI");
        assert!(
            matches!(k.open(&sealed, b"a|2"), Err(Error::Unseal)),
            "aad binds the owner"
        );
        let other = MasterKey::from_bytes(&[8; 32]);
        assert!(matches!(other.open(&sealed, b"a|1"), Err(Error::Unseal)));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(matches!(k.open(&tampered, b"a|1"), Err(Error::Unseal)));
        assert!(matches!(k.open(&[], b""), Err(Error::Unseal)));
        assert!(
            !sealed.windows(13).any(|w| w == b"wJalrXUtnFEMI"),
            "no plaintext in the blob"
        );
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        assert!(
            MasterKey::load_or_create(&path, false).is_err(),
            "missing and not allowed to create"
        );
        let a = MasterKey::load_or_create(&path, true).unwrap();
        let b = MasterKey::load_or_create(&path, true).unwrap();
        let sealed = a.seal(b"x", b"");
        assert_eq!(b.open(&sealed, b"").unwrap().expose(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = MasterKey::load_or_create(&path, true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
    }
}
