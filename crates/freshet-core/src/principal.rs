//! `Principal`: who made a request, as produced by the authentication layer.

use crate::{AccessKeyId, AccountId, Arn};

/// What kind of identity signed a request. Only the root user exists today; IAM users and role sessions
/// (with their session policy, MFA time and expiry) arrive with the IAM and STS work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    Root,
    User {
        user_id: String,
        name: String,
    },
    AssumedRole {
        role_id: String,
        role_arn: Arn,
        session_name: String,
        session_policy: Option<String>,
        mfa_authenticated_at: Option<i64>,
        expires_at: i64,
    },
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account: AccountId,
    pub kind: PrincipalKind,
    /// The access key that signed the request.
    pub access_key_id: AccessKeyId,
}

impl Principal {
    /// The ARN `sts:GetCallerIdentity` reports and policy evaluation matches against.
    pub fn arn(&self) -> Arn {
        match &self.kind {
            PrincipalKind::Root => Arn::root(&self.account),
            PrincipalKind::User { name, .. } => {
                Arn::from_wire(&format!("arn:aws:iam::{}:user/{name}", self.account))
            }
            PrincipalKind::AssumedRole {
                role_arn,
                session_name,
                ..
            } => {
                let role = role_arn.as_str().rsplit('/').next().unwrap_or_default();
                Arn::from_wire(&format!(
                    "arn:aws:sts::{}:assumed-role/{role}/{session_name}",
                    self.account
                ))
            }
        }
    }

    /// The `UserId` of `sts:GetCallerIdentity`: the account id for root, `AIDA…` for users, `AROA…:session` for roles.
    pub fn user_id(&self) -> String {
        match &self.kind {
            PrincipalKind::Root => self.account.to_string(),
            PrincipalKind::User { user_id, .. } => user_id.clone(),
            PrincipalKind::AssumedRole {
                role_id,
                session_name,
                ..
            } => format!("{role_id}:{session_name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_principal_answers_like_aws() {
        let p = Principal {
            account: AccountId::parse("123456789012").unwrap(),
            kind: PrincipalKind::Root,
            access_key_id: AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap(),
        };
        assert_eq!(p.arn().as_str(), "arn:aws:iam::123456789012:root");
        assert_eq!(p.user_id(), "123456789012");
    }

    #[test]
    fn role_session_arn() {
        let p = Principal {
            account: AccountId::parse("123456789012").unwrap(),
            kind: PrincipalKind::AssumedRole {
                role_id: "AROAEXAMPLE".into(),
                role_arn: Arn::from_wire("arn:aws:iam::123456789012:role/path/R"),
                session_name: "s".into(),
                session_policy: None,
                mfa_authenticated_at: None,
                expires_at: 0,
            },
            access_key_id: AccessKeyId::parse("ASIAIOSFODNN7EXAMPLE").unwrap(),
        };
        assert_eq!(
            p.arn().as_str(),
            "arn:aws:sts::123456789012:assumed-role/R/s"
        );
        assert_eq!(p.user_id(), "AROAEXAMPLE:s");
    }
}
