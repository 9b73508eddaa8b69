//! The persisted records. Their on-disk form is the SQLite schema in `sqlite.rs`, versioned by its migrations;
//! nested parts stored as JSON text (magnetic-store writes, partition keys) derive serde for that purpose only.

use freshet_core::{AccessKeyId, AccountId, Region};
use serde::{Deserialize, Serialize};

/// Resources live in one account and one region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub account: AccountId,
    pub region: Region,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub id: AccountId,
    pub root_email: String,
    /// Argon2id PHC string of the root console password.
    pub root_password_hash: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKeyStatus {
    Active,
    Inactive,
}

impl AccessKeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Inactive => "Inactive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Active" => Some(Self::Active),
            "Inactive" => Some(Self::Inactive),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLastUsed {
    pub at_ms: i64,
    pub service: String,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub id: AccessKeyId,
    pub account: AccountId,
    /// `None` for the root user's keys.
    pub user_name: Option<String>,
    /// The secret, sealed by the identity engine's master key. The store never sees the plaintext.
    pub sealed_secret: Vec<u8>,
    pub status: AccessKeyStatus,
    pub created_ms: i64,
    pub last_used: Option<KeyLastUsed>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseRecord {
    pub scope: Scope,
    pub name: String,
    pub arn: String,
    pub kms_key_id: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableStatus {
    Active,
    Deleting,
    Restoring,
}

impl TableStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Deleting => "DELETING",
            Self::Restoring => "RESTORING",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(Self::Active),
            "DELETING" => Some(Self::Deleting),
            "RESTORING" => Some(Self::Restoring),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Location {
    pub bucket_name: Option<String>,
    pub object_key_prefix: Option<String>,
    pub encryption_option: Option<String>,
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MagneticStoreWrite {
    pub enabled: bool,
    pub rejected_data_location: Option<S3Location>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionKey {
    /// `DIMENSION` or `MEASURE`.
    pub kind: String,
    pub name: Option<String>,
    /// `REQUIRED`, `OPTIONAL`, or absent.
    pub enforcement: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRecord {
    /// Unique per incarnation: a table deleted and created again under the same name gets a new id, so data and
    /// log entries of the old one can never resurface in the new one.
    pub id: String,
    pub scope: Scope,
    pub database: String,
    pub name: String,
    pub arn: String,
    pub status: TableStatus,
    pub memory_store_hours: i64,
    pub magnetic_store_days: i64,
    pub magnetic_store_write: MagneticStoreWrite,
    pub partition_keys: Vec<PartitionKey>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// What a column of a table's data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// A dimension (always VARCHAR).
    Dimension,
    /// A `measure_name` value and the type of its data: a scalar type for single-measure records, or `MULTI`.
    MeasureName,
    /// A named measure inside multi-measure records; it is a column of its own.
    MultiMeasure,
}

impl ColumnKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dimension => "dimension",
            Self::MeasureName => "measure_name",
            Self::MultiMeasure => "multi_measure",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dimension" => Some(Self::Dimension),
            "measure_name" => Some(Self::MeasureName),
            "multi_measure" => Some(Self::MultiMeasure),
            _ => None,
        }
    }
}

/// One entry of a table's schema, which grows as writes bring new dimensions and measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRecord {
    pub name: String,
    pub kind: ColumnKind,
    /// `VARCHAR`, `DOUBLE`, `BIGINT`, `BOOLEAN`, `TIMESTAMP` or `MULTI`.
    pub data_type: String,
    /// Order of appearance; dimensions and multi-measure columns are shown in this order.
    pub ordinal: i64,
}

/// A persisted data file of a table, with the statistics queries prune by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub table_id: String,
    pub id: String,
    /// Object-store path.
    pub path: String,
    pub min_time: i64,
    pub max_time: i64,
    pub rows: i64,
    pub bytes: i64,
    /// Compaction level: 0 for files written from the write buffer, higher for merged files.
    pub level: i64,
    pub created_ms: i64,
    /// The file may hold a key (series, time) that another file or a buffer holds too: it was written from a buffer
    /// that replaced rows stored elsewhere, or merged from such files. Queries resolve versions only when a table
    /// has such a file or buffer. Files from before this was recorded count as shadowing.
    pub shadows: bool,
    /// The measure names of the file's rows and, for each, the dimensions its rows have values for (`SHOW
    /// MEASURES`). `None` for files written before this was recorded.
    pub measures: Option<std::collections::BTreeMap<String, Vec<String>>>,
}
