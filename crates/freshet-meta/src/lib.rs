//! The metadata store: accounts, access keys and the Timestream catalog, behind one narrow trait.
//!
//! `MetadataStore` is what the rest of Freshet sees; `SqliteStore` is the embedded implementation that lives in the
//! data directory. A PostgreSQL implementation for several nodes comes later and must pass the same tests.

mod records;
mod sqlite;

pub use records::{
    AccessKeyRecord, AccessKeyStatus, AccountRecord, ColumnKind, ColumnRecord, DatabaseRecord,
    FileRecord, KeyLastUsed, MagneticStoreWrite, PartitionKey, S3Location, Scope, TableRecord,
    TableStatus, Tag,
};
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use freshet_core::{AccessKeyId, AccountId};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing to create already exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// The thing to read or change does not exist.
    #[error("{0} does not exist")]
    NotFound(String),
    /// A database that still has tables cannot be deleted.
    #[error("database {0} still has tables")]
    NotEmpty(String),
    /// A bug or a broken store: never the caller's fault.
    #[error("metadata store failure: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Internal(e.to_string())
    }
}

/// One page of a listing: the items and, when more follow, the key to continue after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

#[async_trait]
pub trait MetadataStore: Send + Sync + std::fmt::Debug {
    // --- accounts and keys -----------------------------------------------------------------------------------
    async fn accounts(&self) -> Result<Vec<AccountRecord>>;
    async fn create_account(&self, account: &AccountRecord) -> Result<()>;
    async fn create_access_key(&self, key: &AccessKeyRecord) -> Result<()>;
    async fn access_key(&self, id: &AccessKeyId) -> Result<Option<AccessKeyRecord>>;
    async fn access_keys_of(
        &self,
        account: &AccountId,
        user: Option<&str>,
    ) -> Result<Vec<AccessKeyRecord>>;
    async fn record_key_use(&self, id: &AccessKeyId, used: &KeyLastUsed) -> Result<()>;

    // --- Timestream catalog ----------------------------------------------------------------------------------
    async fn create_database(&self, db: &DatabaseRecord) -> Result<()>;
    async fn database(&self, scope: &Scope, name: &str) -> Result<Option<DatabaseRecord>>;
    /// Databases ordered by name, starting after `after`.
    async fn list_databases(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<DatabaseRecord>>;
    async fn update_database_kms(
        &self,
        scope: &Scope,
        name: &str,
        kms_key_id: &str,
        now_ms: i64,
    ) -> Result<DatabaseRecord>;
    /// Refuses with `NotEmpty` while tables remain.
    async fn delete_database(&self, scope: &Scope, name: &str) -> Result<()>;
    async fn table_count(&self, scope: &Scope, database: &str) -> Result<u64>;

    /// Fails with `NotFound` when the database is missing and `Conflict` when the table exists.
    async fn create_table(&self, table: &TableRecord) -> Result<()>;
    async fn table(&self, scope: &Scope, database: &str, name: &str)
    -> Result<Option<TableRecord>>;
    /// The table with this incarnation id, if it still exists.
    async fn table_by_id(&self, id: &str) -> Result<Option<TableRecord>>;
    /// Tables ordered by (database, name), optionally of one database, starting after `after`.
    async fn list_tables(
        &self,
        scope: &Scope,
        database: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Page<TableRecord>>;
    /// Replaces the mutable fields (retention, magnetic writes, schema, last-updated time).
    async fn update_table(&self, table: &TableRecord) -> Result<()>;
    async fn delete_table(&self, scope: &Scope, database: &str, name: &str) -> Result<()>;

    // --- table data: schema and files, keyed by table id ------------------------------------------------------
    async fn columns(&self, table_id: &str) -> Result<Vec<ColumnRecord>>;
    /// Adds columns; a column that exists already is left as it is.
    async fn add_columns(&self, table_id: &str, columns: &[ColumnRecord]) -> Result<()>;
    async fn files(&self, table_id: &str) -> Result<Vec<FileRecord>>;
    /// Records the measure summaries (`FileRecord::measures`) of files written before summaries were kept, by file
    /// id, in one transaction.
    async fn set_file_measures(
        &self,
        table_id: &str,
        summaries: &[(String, std::collections::BTreeMap<String, Vec<String>>)],
    ) -> Result<()>;
    /// Registers `added` and forgets `removed` in one transaction (persistence and compaction).
    async fn replace_files(
        &self,
        table_id: &str,
        added: &[FileRecord],
        removed: &[String],
    ) -> Result<()>;
    /// Forgets the schema and file records of a deleted table (its files are deleted by the storage engine).
    async fn forget_table_data(&self, table_id: &str) -> Result<()>;
    /// Ids of tables that have data files.
    async fn table_ids_with_files(&self) -> Result<Vec<String>>;
    /// Ids of tables that still have schema or file records but no catalog entry (deleted tables to clean up).
    async fn orphaned_table_ids(&self) -> Result<Vec<String>>;

    // --- tags, keyed by resource ARN ---------------------------------------------------------------------------
    /// Adds or overwrites tags; fails with `Conflict` naming the limit when the resource would hold more than `max`.
    async fn tag_resource(&self, arn: &str, tags: &[Tag], max: usize) -> Result<()>;
    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<()>;
    async fn tags(&self, arn: &str) -> Result<Vec<Tag>>;
}
