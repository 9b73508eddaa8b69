//! Identity: accounts, root users and access keys, with secrets sealed at rest under a master key.
//!
//! `Identity` turns an access key id into a `Principal` plus the plaintext secret that SigV4 verification needs.
//! The policy engine, IAM users, groups, roles, MFA and STS sessions build on this later.

mod bootstrap;
mod master_key;

pub use bootstrap::{Bootstrap, Generated};
pub use master_key::MasterKey;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use freshet_core::{AccessKeyId, Clock, Principal, PrincipalKind, Secret};
use freshet_meta::{AccessKeyStatus, KeyLastUsed, MetadataStore};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] freshet_meta::Error),
    /// The master key cannot open a sealed secret: the wrong key file, or a tampered store.
    #[error("cannot unseal a stored secret: the master key does not match this data directory")]
    Unseal,
    #[error("master key file {path}: {reason}")]
    MasterKeyFile { path: String, reason: String },
    #[error("invalid bootstrap setting: {0}")]
    Bootstrap(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A key that signed a request, resolved: who it belongs to and the secret to check the signature with.
#[derive(Debug)]
pub struct ResolvedKey {
    pub principal: Principal,
    pub secret: Secret,
}

#[derive(Debug, Clone)]
pub struct Identity {
    store: Arc<dyn MetadataStore>,
    master: Arc<MasterKey>,
    clock: Arc<dyn Clock>,
    /// When each key's use was last written to the store, so a busy key costs one store write a minute, not one per request.
    last_recorded: Arc<Mutex<HashMap<AccessKeyId, i64>>>,
    /// Recently resolved keys, so a busy key costs no store read and no unseal per request.
    resolved: Arc<Mutex<ResolvedCache>>,
}

/// Access key id → (when resolved, principal, secret).
type ResolvedCache = HashMap<String, (i64, Principal, Secret)>;

/// How long a resolved key is reused before the store is asked again, in nanoseconds. Changes to keys (deactivation,
/// deletion) take effect within this time, as IAM changes propagate on AWS.
const RESOLVED_KEY_TTL_NS: i64 = 5_000_000_000;

/// How stale `GetAccessKeyLastUsed` may be, in milliseconds.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

impl Identity {
    pub fn new(store: Arc<dyn MetadataStore>, master: MasterKey, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            master: Arc::new(master),
            clock,
            last_recorded: Arc::default(),
            resolved: Arc::default(),
        }
    }

    /// The principal and secret of an active access key; `None` when the key is unknown or inactive
    /// (AWS answers both the same way).
    pub async fn resolve_access_key(&self, id: &str) -> Result<Option<ResolvedKey>> {
        let now = self.clock.now_nanos();
        if let Some((at, principal, secret)) = self
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            && now - at < RESOLVED_KEY_TTL_NS
        {
            return Ok(Some(ResolvedKey {
                principal: principal.clone(),
                secret: secret.clone(),
            }));
        }
        let resolved = self.resolve_from_store(id).await?;
        let mut cache = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
        match &resolved {
            Some(k) => {
                cache.insert(id.to_owned(), (now, k.principal.clone(), k.secret.clone()));
            }
            None => {
                cache.remove(id);
            }
        }
        Ok(resolved)
    }

    async fn resolve_from_store(&self, id: &str) -> Result<Option<ResolvedKey>> {
        let Ok(id) = AccessKeyId::parse(id) else {
            return Ok(None);
        };
        let Some(rec) = self.store.access_key(&id).await? else {
            return Ok(None);
        };
        if rec.status != AccessKeyStatus::Active {
            return Ok(None);
        }
        let secret = self.master.open(
            &rec.sealed_secret,
            &aad(rec.account.as_str(), rec.id.as_str()),
        )?;
        let kind = match rec.user_name {
            None => PrincipalKind::Root,
            Some(name) => PrincipalKind::User {
                user_id: String::new(),
                name,
            },
        };
        Ok(Some(ResolvedKey {
            principal: Principal {
                account: rec.account,
                kind,
                access_key_id: rec.id,
            },
            secret,
        }))
    }

    /// Records when, where and for which service a key was last used (`GetAccessKeyLastUsed`), to the minute.
    pub async fn record_key_use(
        &self,
        id: &AccessKeyId,
        service: &str,
        region: &str,
    ) -> Result<()> {
        let at_ms = self.clock.now_nanos() / 1_000_000;
        {
            let mut last = self.last_recorded.lock().unwrap_or_else(|p| p.into_inner());
            match last.get(id) {
                Some(&prev) if at_ms - prev < LAST_USED_RESOLUTION_MS => return Ok(()),
                _ => last.insert(id.clone(), at_ms),
            };
        }
        let used = KeyLastUsed {
            at_ms,
            service: service.to_owned(),
            region: region.to_owned(),
        };
        Ok(self.store.record_key_use(id, &used).await?)
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}

/// Associated data binding a sealed secret to its owner, so a sealed blob copied to another key row fails to open.
fn aad(account: &str, key_id: &str) -> Vec<u8> {
    format!("freshet/access-key/v1|{account}|{key_id}").into_bytes()
}
