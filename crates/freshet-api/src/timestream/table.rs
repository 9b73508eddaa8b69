//! Table operations: Create, Describe, List, Update, Delete.

use freshet_core::Arn;
use freshet_meta::{
    Error as MetaError, MagneticStoreWrite, PartitionKey, S3Location, TableRecord, TableStatus,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::database::{self, check_create_name, scope};
use super::tags::{self, validate_tags};
use super::validate::Violations;
use super::wire::{
    MagneticStoreWriteProperties, PageToken, RetentionProperties, Schema, WireTag, table_json,
};
use crate::AppState;
use crate::auth::VerifiedRequest;
use crate::error::ApiError;

pub const DEFAULT_MEMORY_STORE_HOURS: i64 = 6;
pub const DEFAULT_MAGNETIC_STORE_DAYS: i64 = 73_000;

pub fn not_found(name: &str) -> ApiError {
    ApiError::NotFound(format!("The table {name} does not exist."))
}

fn check_retention(v: &mut Violations, r: &RetentionProperties) -> Option<(i64, i64)> {
    let mem = v.required(
        &r.memory_store_retention_period_in_hours,
        "retentionProperties.memoryStoreRetentionPeriodInHours",
    );
    let mag = v.required(
        &r.magnetic_store_retention_period_in_days,
        "retentionProperties.magneticStoreRetentionPeriodInDays",
    );
    if let Some(&h) = mem {
        v.range(
            h,
            "retentionProperties.memoryStoreRetentionPeriodInHours",
            1,
            8766,
        );
    }
    if let Some(&d) = mag {
        v.range(
            d,
            "retentionProperties.magneticStoreRetentionPeriodInDays",
            1,
            73_000,
        );
    }
    Some((*mem?, *mag?))
}

fn is_bucket_name(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-';
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    b.len() >= 3 && edge(b[0]) && edge(b[b.len() - 1]) && b.iter().all(|&c| inner(c))
}

fn is_key_prefix(s: &str) -> bool {
    let first = |c: char| c.is_ascii_alphanumeric() || "|!-_*'()".contains(c);
    let rest = |c: char| c.is_ascii_alphanumeric() || "!-_*'()/.".contains(c);
    let mut chars = s.chars();
    chars.next().is_some_and(first) && s.len() >= 2 && chars.all(rest)
}

fn check_magnetic(
    v: &mut Violations,
    m: &MagneticStoreWriteProperties,
) -> Option<MagneticStoreWrite> {
    const P: &str = "magneticStoreWriteProperties";
    let enabled = v
        .required(
            &m.enable_magnetic_store_writes,
            format!("{P}.enableMagneticStoreWrites"),
        )
        .copied();
    let location = m
        .magnetic_store_rejected_data_location
        .as_ref()
        .and_then(|l| l.s3_configuration.as_ref())
        .map(|s3| {
            let p = format!("{P}.magneticStoreRejectedDataLocation.s3Configuration");
            if let Some(b) = &s3.bucket_name {
                v.length(b, format!("{p}.bucketName"), 3, 63);
                v.pattern(
                    b,
                    format!("{p}.bucketName"),
                    "[a-z0-9][\\.\\-a-z0-9]{1,61}[a-z0-9]",
                    is_bucket_name(b),
                );
            }
            if let Some(k) = &s3.object_key_prefix {
                v.length(k, format!("{p}.objectKeyPrefix"), 1, 928);
                v.pattern(
                    k,
                    format!("{p}.objectKeyPrefix"),
                    "[a-zA-Z0-9|!\\-_*'\\(\\)]([a-zA-Z0-9]|[!\\-_*'\\(\\)\\/.])+",
                    is_key_prefix(k),
                );
            }
            if let Some(e) = &s3.encryption_option {
                v.one_of(e, format!("{p}.encryptionOption"), &["SSE_S3", "SSE_KMS"]);
            }
            if let Some(k) = &s3.kms_key_id {
                v.length(k, format!("{p}.kmsKeyId"), 1, 2048);
            }
            S3Location {
                bucket_name: s3.bucket_name.clone(),
                object_key_prefix: s3.object_key_prefix.clone(),
                encryption_option: s3.encryption_option.clone(),
                kms_key_id: s3.kms_key_id.clone(),
            }
        });
    Some(MagneticStoreWrite {
        enabled: enabled?,
        rejected_data_location: location,
    })
}

/// Checks a `Schema`; `None` when it has violations (already recorded) or rules broken (returned as errors).
fn check_schema(v: &mut Violations, s: &Schema) -> Result<Option<Vec<PartitionKey>>, ApiError> {
    let Some(keys) = &s.composite_partition_key else {
        return Ok(None);
    };
    v.count(keys, "schema.compositePartitionKey", 1, usize::MAX, || {
        "[]".into()
    });
    let mut out = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let p = format!("schema.compositePartitionKey.{}.member", i + 1);
        if let Some(t) = v.required(&k.kind, format!("{p}.type")) {
            v.one_of(t, format!("{p}.type"), &["DIMENSION", "MEASURE"]);
        }
        if let Some(n) = &k.name {
            v.length(n, format!("{p}.name"), 1, usize::MAX);
        }
        if let Some(e) = &k.enforcement_in_record {
            v.one_of(
                e,
                format!("{p}.enforcementInRecord"),
                &["REQUIRED", "OPTIONAL"],
            );
        }
        out.push(PartitionKey {
            kind: k.kind.clone().unwrap_or_default(),
            name: k.name.clone(),
            enforcement: k.enforcement_in_record.clone(),
        });
    }
    if keys.len() > 1 {
        return Err(ApiError::Validation(format!(
            "You have specified too many partition keys to be used in your composite partition key. \
             Only 1 partition keys can be specified. You specified {}.",
            keys.len()
        )));
    }
    if let Some(k) = out.first() {
        if k.kind == "DIMENSION" && k.name.is_none() {
            return Err(ApiError::Validation(
                "A partition key of type DIMENSION must have a Name: the dimension to partition by.".into(),
            ));
        }
        if k.kind == "MEASURE" && (k.name.is_some() || k.enforcement.is_some()) {
            return Err(ApiError::Validation(
                "A partition key of type MEASURE partitions by measure_name and takes no Name or EnforcementInRecord."
                    .into(),
            ));
        }
    }
    Ok(Some(out))
}

/// The settings CreateTable and UpdateTable share, each checked when given. `None` where absent or invalid.
#[allow(clippy::type_complexity)] // reason: a one-off triple of optional settings, named at both call sites
fn check_settings(
    v: &mut Violations,
    retention: Option<&RetentionProperties>,
    magnetic: Option<&MagneticStoreWriteProperties>,
    schema: Option<&Schema>,
) -> Result<
    (
        Option<(i64, i64)>,
        Option<MagneticStoreWrite>,
        Option<Vec<PartitionKey>>,
    ),
    ApiError,
> {
    let retention = retention.and_then(|p| check_retention(v, p));
    let magnetic = magnetic.and_then(|m| check_magnetic(v, m));
    let schema = match schema {
        Some(s) => check_schema(v, s)?,
        None => None,
    };
    Ok((retention, magnetic, schema))
}

fn default_partition_keys() -> Vec<PartitionKey> {
    vec![PartitionKey {
        kind: "MEASURE".into(),
        name: None,
        enforcement: None,
    }]
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateTable {
    database_name: Option<String>,
    table_name: Option<String>,
    retention_properties: Option<RetentionProperties>,
    tags: Option<Vec<WireTag>>,
    magnetic_store_write_properties: Option<MagneticStoreWriteProperties>,
    schema: Option<Schema>,
}

pub async fn create(
    app: &AppState,
    req: &VerifiedRequest,
    r: CreateTable,
) -> Result<Value, ApiError> {
    let mut v = Violations::default();
    if let Some(n) = v.required(&r.database_name, "databaseName") {
        check_create_name(&mut v, n, "databaseName");
    }
    if let Some(n) = v.required(&r.table_name, "tableName") {
        check_create_name(&mut v, n, "tableName");
    }
    let (retention, magnetic, schema) = check_settings(
        &mut v,
        r.retention_properties.as_ref(),
        r.magnetic_store_write_properties.as_ref(),
        r.schema.as_ref(),
    )?;
    let tags = validate_tags(&mut v, r.tags.as_deref().unwrap_or_default(), "tags");
    v.finish()?;

    let (db, name) = (
        r.database_name.unwrap_or_default(),
        r.table_name.unwrap_or_default(),
    );
    let (memory_store_hours, magnetic_store_days) =
        retention.unwrap_or((DEFAULT_MEMORY_STORE_HOURS, DEFAULT_MAGNETIC_STORE_DAYS));
    let scope = scope(req);
    let now = app.clock.now_nanos() / 1_000_000;
    let record = TableRecord {
        id: uuid::Uuid::new_v4().simple().to_string(),
        arn: Arn::timestream_table(&scope.region, &scope.account, &db, &name).to_string(),
        scope,
        database: db,
        name,
        status: TableStatus::Active,
        memory_store_hours,
        magnetic_store_days,
        magnetic_store_write: magnetic.unwrap_or(MagneticStoreWrite {
            enabled: false,
            rejected_data_location: None,
        }),
        partition_keys: schema.unwrap_or_else(default_partition_keys),
        created_ms: now,
        updated_ms: now,
    };
    app.store.create_table(&record).await.map_err(|e| match e {
        MetaError::NotFound(_) => database::not_found(&record.database),
        MetaError::Conflict(_) => {
            ApiError::Conflict(format!("The table {} already exists.", record.name))
        }
        e => e.into(),
    })?;
    tags::apply(app, &record.arn, &tags).await?;
    Ok(json!({ "Table": table_json(&record) }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableRef {
    database_name: Option<String>,
    table_name: Option<String>,
}

impl TableRef {
    fn names(self) -> Result<(String, String), ApiError> {
        let mut v = Violations::default();
        v.required(&self.database_name, "databaseName");
        v.required(&self.table_name, "tableName");
        v.finish()?;
        Ok((
            self.database_name.unwrap_or_default(),
            self.table_name.unwrap_or_default(),
        ))
    }
}

async fn existing(
    app: &AppState,
    req: &VerifiedRequest,
    db: &str,
    name: &str,
) -> Result<TableRecord, ApiError> {
    let scope = scope(req);
    if app.store.database(&scope, db).await?.is_none() {
        return Err(database::not_found(db));
    }
    app.store
        .table(&scope, db, name)
        .await?
        .ok_or_else(|| not_found(name))
}

pub async fn describe(
    app: &AppState,
    req: &VerifiedRequest,
    r: TableRef,
) -> Result<Value, ApiError> {
    let (db, name) = r.names()?;
    let t = existing(app, req, &db, &name).await?;
    Ok(json!({ "Table": table_json(&t) }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTables {
    database_name: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub async fn list(app: &AppState, req: &VerifiedRequest, r: ListTables) -> Result<Value, ApiError> {
    let mut v = Violations::default();
    if let Some(m) = r.max_results {
        v.range(m, "maxResults", 1, 20);
    }
    v.finish()?;
    let scope = scope(req);
    if let Some(db) = &r.database_name
        && app.store.database(&scope, db).await?.is_none()
    {
        return Err(database::not_found(db));
    }
    let after = match &r.next_token {
        Some(t) => {
            let mut a = PageToken::decode(t, "ListTables", 2)?.after;
            let name = a.pop().unwrap_or_default();
            Some((a.pop().unwrap_or_default(), name))
        }
        None => None,
    };
    let page = app
        .store
        .list_tables(
            &scope,
            r.database_name.as_deref(),
            after.as_ref().map(|(d, n)| (d.as_str(), n.as_str())),
            r.max_results.unwrap_or(20) as usize,
        )
        .await?;
    let mut out = json!({ "Tables": page.items.iter().map(table_json).collect::<Vec<_>>() });
    if page.more
        && let Some(last) = page.items.last()
    {
        out["NextToken"] = json!(
            PageToken {
                op: "ListTables".into(),
                after: vec![last.database.clone(), last.name.clone()]
            }
            .encode()
        );
    }
    Ok(out)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateTable {
    database_name: Option<String>,
    table_name: Option<String>,
    retention_properties: Option<RetentionProperties>,
    magnetic_store_write_properties: Option<MagneticStoreWriteProperties>,
    schema: Option<Schema>,
}

pub async fn update(
    app: &AppState,
    req: &VerifiedRequest,
    r: UpdateTable,
) -> Result<Value, ApiError> {
    let mut v = Violations::default();
    v.required(&r.database_name, "databaseName");
    v.required(&r.table_name, "tableName");
    let (retention, magnetic, schema) = check_settings(
        &mut v,
        r.retention_properties.as_ref(),
        r.magnetic_store_write_properties.as_ref(),
        r.schema.as_ref(),
    )?;
    v.finish()?;
    let (db, name) = (
        r.database_name.unwrap_or_default(),
        r.table_name.unwrap_or_default(),
    );
    let mut t = existing(app, req, &db, &name).await?;
    if let Some((h, d)) = retention {
        t.memory_store_hours = h;
        t.magnetic_store_days = d;
    }
    if let Some(m) = magnetic {
        t.magnetic_store_write = m;
    }
    if let Some(keys) = schema {
        let same_shape = keys.len() == t.partition_keys.len()
            && keys
                .iter()
                .zip(&t.partition_keys)
                .all(|(a, b)| a.kind == b.kind && a.name == b.name);
        if !same_shape {
            return Err(ApiError::Validation(
                "The name, type and order of the composite partition key cannot change after the table is created; \
                 only EnforcementInRecord can be updated."
                    .into(),
            ));
        }
        t.partition_keys = keys;
    }
    t.updated_ms = app.clock.now_nanos() / 1_000_000;
    app.store.update_table(&t).await.map_err(|e| match e {
        MetaError::NotFound(_) => not_found(&name),
        e => e.into(),
    })?;
    Ok(json!({ "Table": table_json(&t) }))
}

pub async fn delete(app: &AppState, req: &VerifiedRequest, r: TableRef) -> Result<Value, ApiError> {
    let (db, name) = r.names()?;
    let t = existing(app, req, &db, &name).await?;
    app.store
        .delete_table(&t.scope, &db, &name)
        .await
        .map_err(|e| match e {
            MetaError::NotFound(_) => not_found(&name),
            e => e.into(),
        })?;
    // The catalog entry is gone, so the data is unreachable; if this is interrupted, startup finishes the cleanup.
    app.storage
        .drop_table(&t.id)
        .await
        .map_err(super::records::storage_error)?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_patterns() {
        assert!(is_bucket_name("my-bucket.logs"));
        assert!(!is_bucket_name("My-Bucket"));
        assert!(!is_bucket_name("-bucket"));
        assert!(is_key_prefix("rejected/2024"));
        assert!(!is_key_prefix("/leading"));
        assert!(!is_key_prefix("x"));
    }
}
