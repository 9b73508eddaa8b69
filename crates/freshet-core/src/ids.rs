//! Identifier newtypes: account ids, access key ids, regions and ARNs, each validated on construction.

use rand::Rng;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("account id must be 12 digits, got {0:?}")]
    AccountId(String),
    #[error("access key id must be 16 to 128 word characters, got {0:?}")]
    AccessKeyId(String),
    #[error("region must be lowercase letters, digits and dashes, got {0:?}")]
    Region(String),
}

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::AccountId(s.to_owned()))
        }
    }

    /// A random account id that does not start with 0, like AWS's.
    pub fn generate() -> Self {
        let mut rng = rand::thread_rng();
        Self(
            rng.gen_range(100_000_000_000u64..1_000_000_000_000)
                .to_string(),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An access key id such as `AKIAIOSFODNN7EXAMPLE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessKeyId(String);

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

impl AccessKeyId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = (16..=128).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::AccessKeyId(s.to_owned()))
        }
    }

    /// A new long-term key id: `AKIA` and 16 characters of the base32 alphabet, as AWS issues them.
    pub fn generate_long_term() -> Self {
        Self::generate("AKIA")
    }

    fn generate(prefix: &str) -> Self {
        let mut rng = rand::thread_rng();
        let tail: String = (0..16)
            .map(|_| BASE32[rng.gen_range(0..32)] as char)
            .collect();
        Self(format!("{prefix}{tail}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccessKeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An AWS region name such as `us-east-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::Region(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Amazon Resource Name, kept as its text; built by the constructors below so its shape is right.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Arn(String);

impl Arn {
    pub fn root(account: &AccountId) -> Self {
        Self(format!("arn:aws:iam::{account}:root"))
    }

    pub fn timestream_database(region: &Region, account: &AccountId, db: &str) -> Self {
        Self(format!(
            "arn:aws:timestream:{region}:{account}:database/{db}"
        ))
    }

    pub fn timestream_table(region: &Region, account: &AccountId, db: &str, table: &str) -> Self {
        Self(format!(
            "arn:aws:timestream:{region}:{account}:database/{db}/table/{table}"
        ))
    }

    /// Wraps an ARN received from a client; callers parse it further where they need its parts.
    pub fn from_wire(s: &str) -> Self {
        Self(s.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Arn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        assert!(AccountId::parse("123456789012").is_ok());
        assert!(AccountId::parse("12345678901").is_err());
        assert!(AccountId::parse("12345678901a").is_err());
        for _ in 0..100 {
            let id = AccountId::generate();
            assert_eq!(AccountId::parse(id.as_str()), Ok(id.clone()));
            assert!(!id.as_str().starts_with('0'));
        }
    }

    #[test]
    fn generated_access_keys_look_like_aws() {
        let k = AccessKeyId::generate_long_term();
        assert_eq!(k.as_str().len(), 20);
        assert!(k.as_str().starts_with("AKIA"));
        assert!(k.as_str()[4..].bytes().all(|b| BASE32.contains(&b)));
        assert!(AccessKeyId::parse("short").is_err());
        assert!(AccessKeyId::parse("AKIA-not-word-chars!").is_err());
    }

    #[test]
    fn arns() {
        let a = AccountId::parse("123456789012").unwrap();
        let r = Region::parse("eu-west-1").unwrap();
        assert_eq!(Arn::root(&a).as_str(), "arn:aws:iam::123456789012:root");
        assert_eq!(
            Arn::timestream_table(&r, &a, "db", "t").as_str(),
            "arn:aws:timestream:eu-west-1:123456789012:database/db/table/t"
        );
        assert!(Region::parse("US-EAST-1").is_err());
    }
}
