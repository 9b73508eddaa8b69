//! First start: create the account and its root user on an empty data directory, and hand out what was generated.

use std::path::PathBuf;

use argon2::password_hash::{PasswordHasher, SaltString};
use freshet_core::{AccessKeyId, AccountId, Secret};
use freshet_meta::{AccessKeyRecord, AccessKeyStatus, AccountRecord};
use rand::Rng;
use rand::distributions::Alphanumeric;

use crate::master_key::write_private;
use crate::{Error, Identity, Result, aad};

/// What the operator fixed in advance (from `FRESHET_*` settings); anything left `None` is generated.
#[derive(Debug, Default)]
pub struct Bootstrap {
    pub account_id: Option<AccountId>,
    pub root_access_key: Option<(AccessKeyId, Secret)>,
    pub root_email: Option<String>,
    pub root_password: Option<Secret>,
    /// Where generated credentials are written, once, with mode 0600.
    pub credentials_file: PathBuf,
}

/// The outcome of bootstrap.
#[derive(Debug)]
pub struct Generated {
    pub account_id: AccountId,
    /// Set when this start created the account and wrote generated credentials to this file.
    pub credentials_file: Option<PathBuf>,
}

/// A 40-character secret access key from the base64 alphabet, as AWS issues them.
pub fn generate_secret_access_key() -> Secret {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::thread_rng();
    Secret::new(
        (0..40)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())])
            .collect::<Vec<u8>>(),
    )
}

fn generate_password() -> Secret {
    Secret::new(
        rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(24)
            .collect::<Vec<u8>>(),
    )
}

fn hash_password(password: &Secret) -> Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.expose(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Bootstrap(format!("hashing the root password: {e}")))
}

impl Identity {
    /// Creates the first account and its root user if the store has none; otherwise returns the existing account.
    pub async fn bootstrap(&self, b: Bootstrap) -> Result<Generated> {
        let accounts = self.store.accounts().await?;
        if let Some(first) = accounts.into_iter().next() {
            if let Some((id, _)) = &b.root_access_key {
                let known = self.store.access_key(id).await?.is_some();
                if !known {
                    tracing::warn!(
                        access_key_id = %id,
                        "FRESHET_ROOT_ACCESS_KEY_ID is set but the data directory was bootstrapped with other keys; \
                         the setting only applies to an empty data directory"
                    );
                }
            }
            return Ok(Generated {
                account_id: first.id,
                credentials_file: None,
            });
        }

        let now_ms = self.clock.now_nanos() / 1_000_000;
        let account_id = b.account_id.unwrap_or_else(AccountId::generate);
        let generated_key = b.root_access_key.is_none();
        let (key_id, secret) = b.root_access_key.unwrap_or_else(|| {
            (
                AccessKeyId::generate_long_term(),
                generate_secret_access_key(),
            )
        });
        let generated_email = b.root_email.is_none();
        let email = b
            .root_email
            .unwrap_or_else(|| "root@freshet.local".to_owned());
        let generated_password = b.root_password.is_none();
        let password = b.root_password.unwrap_or_else(generate_password);

        // Write what was generated before committing it, so a failed write leaves an empty store to retry on.
        let wrote_file = generated_key || generated_email || generated_password;
        if wrote_file {
            let mut csv = String::from(
                "User Name,Access key ID,Secret access key,Account ID,Console sign-in email,Console password\r\n",
            );
            let show = |generated: bool, s: &str| {
                if generated {
                    s.to_owned()
                } else {
                    String::new()
                }
            };
            csv.push_str(&format!(
                "root,{},{},{},{},{}\r\n",
                show(generated_key, key_id.as_str()),
                show(generated_key, &String::from_utf8_lossy(secret.expose())),
                account_id,
                show(generated_email, &email),
                show(
                    generated_password,
                    &String::from_utf8_lossy(password.expose())
                ),
            ));
            if b.credentials_file.exists() {
                std::fs::remove_file(&b.credentials_file)?;
            }
            write_private(&b.credentials_file, csv.as_bytes())?;
        }

        self.store
            .create_account(&AccountRecord {
                id: account_id.clone(),
                root_email: email,
                root_password_hash: hash_password(&password)?,
                created_ms: now_ms,
            })
            .await?;
        self.store
            .create_access_key(&AccessKeyRecord {
                sealed_secret: self
                    .master
                    .seal(secret.expose(), &aad(account_id.as_str(), key_id.as_str())),
                id: key_id,
                account: account_id.clone(),
                user_name: None,
                status: AccessKeyStatus::Active,
                created_ms: now_ms,
                last_used: None,
            })
            .await?;
        Ok(Generated {
            account_id,
            credentials_file: wrote_file.then_some(b.credentials_file),
        })
    }
}
