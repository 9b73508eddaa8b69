//! Wire shapes of the Timestream control plane (the botocore model's members), and their JSON renderings.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use freshet_meta::{
    DatabaseRecord, MagneticStoreWrite, PartitionKey, S3Location, TableRecord, Tag,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ApiError;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WireTag {
    pub key: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetentionProperties {
    pub memory_store_retention_period_in_hours: Option<i64>,
    pub magnetic_store_retention_period_in_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3Configuration {
    pub bucket_name: Option<String>,
    pub object_key_prefix: Option<String>,
    pub encryption_option: Option<String>,
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RejectedDataLocation {
    pub s3_configuration: Option<S3Configuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MagneticStoreWriteProperties {
    pub enable_magnetic_store_writes: Option<bool>,
    pub magnetic_store_rejected_data_location: Option<RejectedDataLocation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WirePartitionKey {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub name: Option<String>,
    pub enforcement_in_record: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Schema {
    pub composite_partition_key: Option<Vec<WirePartitionKey>>,
}

/// Epoch seconds with millisecond fraction, as awsJson sends timestamps (`1601940687.325`).
pub fn epoch_seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

pub fn database_json(db: &DatabaseRecord, table_count: u64) -> Value {
    json!({
        "Arn": db.arn,
        "DatabaseName": db.name,
        "TableCount": table_count,
        "KmsKeyId": db.kms_key_id,
        "CreationTime": epoch_seconds(db.created_ms),
        "LastUpdatedTime": epoch_seconds(db.updated_ms),
    })
}

fn s3_json(s3: &S3Location) -> Value {
    let mut o = serde_json::Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            o.insert(k.into(), json!(v));
        }
    };
    put("BucketName", &s3.bucket_name);
    put("ObjectKeyPrefix", &s3.object_key_prefix);
    put("EncryptionOption", &s3.encryption_option);
    put("KmsKeyId", &s3.kms_key_id);
    Value::Object(o)
}

fn magnetic_json(m: &MagneticStoreWrite) -> Value {
    let mut v = json!({ "EnableMagneticStoreWrites": m.enabled });
    if let Some(s3) = &m.rejected_data_location {
        v["MagneticStoreRejectedDataLocation"] = json!({ "S3Configuration": s3_json(s3) });
    }
    v
}

fn partition_key_json(k: &PartitionKey) -> Value {
    let mut v = json!({ "Type": k.kind });
    if let Some(n) = &k.name {
        v["Name"] = json!(n);
    }
    if let Some(e) = &k.enforcement {
        v["EnforcementInRecord"] = json!(e);
    }
    v
}

pub fn table_json(t: &TableRecord) -> Value {
    json!({
        "Arn": t.arn,
        "TableName": t.name,
        "DatabaseName": t.database,
        "TableStatus": t.status.as_str(),
        "RetentionProperties": {
            "MemoryStoreRetentionPeriodInHours": t.memory_store_hours,
            "MagneticStoreRetentionPeriodInDays": t.magnetic_store_days,
        },
        "CreationTime": epoch_seconds(t.created_ms),
        "LastUpdatedTime": epoch_seconds(t.updated_ms),
        "MagneticStoreWriteProperties": magnetic_json(&t.magnetic_store_write),
        "Schema": { "CompositePartitionKey": t.partition_keys.iter().map(partition_key_json).collect::<Vec<_>>() },
    })
}

pub fn tags_json(tags: &[Tag]) -> Value {
    Value::Array(
        tags.iter()
            .map(|t| json!({ "Key": t.key, "Value": t.value }))
            .collect(),
    )
}

/// The content of a `NextToken`: which listing it continues and after which key. Opaque to clients.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PageToken {
    pub op: String,
    pub after: Vec<String>,
}

impl PageToken {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes a token that `op` issued; anything else is the client's error.
    pub fn decode(token: &str, op: &str, parts: usize) -> Result<Self, ApiError> {
        let invalid = || ApiError::Validation("The pagination token is invalid.".into());
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        let t: PageToken = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if t.op != op || t.after.len() != parts {
            return Err(invalid());
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_are_bound_to_their_listing() {
        let t = PageToken {
            op: "ListTables".into(),
            after: vec!["db".into(), "t".into()],
        };
        let s = t.encode();
        assert_eq!(PageToken::decode(&s, "ListTables", 2).unwrap(), t);
        assert!(PageToken::decode(&s, "ListDatabases", 1).is_err());
        assert!(PageToken::decode("garbage!", "ListTables", 2).is_err());
    }

    #[test]
    fn timestamps_are_epoch_seconds() {
        assert_eq!(
            epoch_seconds(1_601_940_687_325).to_string(),
            "1601940687.325"
        );
    }
}
