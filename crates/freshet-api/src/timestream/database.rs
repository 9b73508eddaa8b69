//! Database operations: Create, Describe, List, Update, Delete.

use freshet_core::Arn;
use freshet_meta::{DatabaseRecord, Error as MetaError, Scope};
use serde::Deserialize;
use serde_json::{Value, json};

use super::tags::{self, validate_tags};
use super::validate::{Violations, is_resource_name};
use super::wire::{PageToken, WireTag, database_json};
use crate::AppState;
use crate::auth::VerifiedRequest;
use crate::error::ApiError;

pub fn scope(req: &VerifiedRequest) -> Scope {
    Scope {
        account: req.principal.account.clone(),
        region: req.region.clone(),
    }
}

pub fn not_found(name: &str) -> ApiError {
    ApiError::NotFound(format!("The database {name} does not exist."))
}

/// Checks a name given at creation: 3–256 characters of `[a-zA-Z0-9_.-]`.
pub fn check_create_name(v: &mut Violations, name: &str, path: &str) {
    v.pattern(name, path, "[a-zA-Z0-9_.-]+", is_resource_name(name));
    v.length(name, path, 3, 256);
}

/// The default AWS-managed key of an account's Timestream databases: one stable key id per account and region,
/// as AWS uses one `aws/timestream` key per account and region.
fn default_kms_key(scope: &Scope) -> String {
    // 128-bit FNV-1a of the scope, shaped as a UUID.
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in format!("{}/{}", scope.account, scope.region).bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    let hex = format!("{h:032x}");
    format!(
        "arn:aws:kms:{}:{}:key/{}-{}-{}-{}-{}",
        scope.region,
        scope.account,
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateDatabase {
    database_name: Option<String>,
    kms_key_id: Option<String>,
    tags: Option<Vec<WireTag>>,
}

pub async fn create(
    app: &AppState,
    req: &VerifiedRequest,
    r: CreateDatabase,
) -> Result<Value, ApiError> {
    let mut v = Violations::default();
    if let Some(name) = v.required(&r.database_name, "databaseName") {
        check_create_name(&mut v, name, "databaseName");
    }
    if let Some(k) = &r.kms_key_id {
        v.length(k, "kmsKeyId", 1, 2048);
    }
    let tags = validate_tags(&mut v, r.tags.as_deref().unwrap_or_default(), "tags");
    v.finish()?;
    let name = r.database_name.unwrap_or_default();

    let scope = scope(req);
    let now = app.clock.now_nanos() / 1_000_000;
    let record = DatabaseRecord {
        arn: Arn::timestream_database(&scope.region, &scope.account, &name).to_string(),
        kms_key_id: r.kms_key_id.unwrap_or_else(|| default_kms_key(&scope)),
        name,
        scope,
        created_ms: now,
        updated_ms: now,
    };
    app.store
        .create_database(&record)
        .await
        .map_err(|e| match e {
            MetaError::Conflict(_) => {
                ApiError::Conflict(format!("The database {} already exists.", record.name))
            }
            e => e.into(),
        })?;
    tags::apply(app, &record.arn, &tags).await?;
    Ok(json!({ "Database": database_json(&record, 0) }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatabaseNameOnly {
    database_name: Option<String>,
}

impl DatabaseNameOnly {
    fn name(self) -> Result<String, ApiError> {
        let mut v = Violations::default();
        v.required(&self.database_name, "databaseName");
        v.finish()?;
        Ok(self.database_name.unwrap_or_default())
    }
}

pub async fn describe(
    app: &AppState,
    req: &VerifiedRequest,
    r: DatabaseNameOnly,
) -> Result<Value, ApiError> {
    let name = r.name()?;
    let scope = scope(req);
    let db = app
        .store
        .database(&scope, &name)
        .await?
        .ok_or_else(|| not_found(&name))?;
    let count = app.store.table_count(&scope, &name).await?;
    Ok(json!({ "Database": database_json(&db, count) }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDatabases {
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub async fn list(
    app: &AppState,
    req: &VerifiedRequest,
    r: ListDatabases,
) -> Result<Value, ApiError> {
    let mut v = Violations::default();
    if let Some(m) = r.max_results {
        v.range(m, "maxResults", 1, 20);
    }
    v.finish()?;
    let after = match &r.next_token {
        Some(t) => PageToken::decode(t, "ListDatabases", 1)?.after.pop(),
        None => None,
    };
    let scope = scope(req);
    let page = app
        .store
        .list_databases(
            &scope,
            after.as_deref(),
            r.max_results.unwrap_or(20) as usize,
        )
        .await?;
    let mut dbs = Vec::with_capacity(page.items.len());
    for db in &page.items {
        dbs.push(database_json(
            db,
            app.store.table_count(&scope, &db.name).await?,
        ));
    }
    let mut out = json!({ "Databases": dbs });
    if page.more
        && let Some(last) = page.items.last()
    {
        out["NextToken"] = json!(
            PageToken {
                op: "ListDatabases".into(),
                after: vec![last.name.clone()]
            }
            .encode()
        );
    }
    Ok(out)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateDatabase {
    database_name: Option<String>,
    kms_key_id: Option<String>,
}

pub async fn update(
    app: &AppState,
    req: &VerifiedRequest,
    r: UpdateDatabase,
) -> Result<Value, ApiError> {
    let mut v = Violations::default();
    v.required(&r.database_name, "databaseName");
    if let Some(k) = v.required(&r.kms_key_id, "kmsKeyId") {
        v.length(k, "kmsKeyId", 1, 2048);
    }
    v.finish()?;
    let (name, kms) = (
        r.database_name.unwrap_or_default(),
        r.kms_key_id.unwrap_or_default(),
    );
    let scope = scope(req);
    let now = app.clock.now_nanos() / 1_000_000;
    let db = app
        .store
        .update_database_kms(&scope, &name, &kms, now)
        .await
        .map_err(|e| match e {
            MetaError::NotFound(_) => not_found(&name),
            e => e.into(),
        })?;
    let count = app.store.table_count(&scope, &name).await?;
    Ok(json!({ "Database": database_json(&db, count) }))
}

pub async fn delete(
    app: &AppState,
    req: &VerifiedRequest,
    r: DatabaseNameOnly,
) -> Result<Value, ApiError> {
    let name = r.name()?;
    app.store.delete_database(&scope(req), &name).await.map_err(|e| match e {
        MetaError::NotFound(_) => not_found(&name),
        MetaError::NotEmpty(_) => ApiError::Validation(format!(
            "Cannot delete database {name} because it still contains tables. Delete its tables first."
        )),
        e => e.into(),
    })?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_kms_key_is_a_stable_key_arn() {
        let scope = Scope {
            account: freshet_core::AccountId::parse("123456789012").unwrap(),
            region: freshet_core::Region::parse("us-east-1").unwrap(),
        };
        let k = default_kms_key(&scope);
        assert_eq!(k, default_kms_key(&scope));
        assert!(
            k.starts_with("arn:aws:kms:us-east-1:123456789012:key/"),
            "{k}"
        );
        let uuid = k.rsplit('/').next().unwrap();
        assert_eq!(uuid.len(), 36, "{uuid}");
        assert_eq!(uuid.matches('-').count(), 4);
    }
}
