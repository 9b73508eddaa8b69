//! `SqliteStore`: the embedded metadata store, one SQLite file in the data directory.
//!
//! Schema changes are numbered migrations applied in order on open; `PRAGMA user_version` records how far a file
//! has come, so a newer binary upgrades an older data directory and an older binary refuses a newer one.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use freshet_core::{AccessKeyId, AccountId, Region};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::{
    AccessKeyRecord, AccessKeyStatus, AccountRecord, ColumnKind, ColumnRecord, DatabaseRecord,
    Error, FileRecord, KeyLastUsed, MetadataStore, Page, Result, Scope, TableRecord, TableStatus,
    Tag,
};

/// Each entry moves the schema from version `i` to `i + 1`. Never edit a released entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: accounts, access keys, Timestream catalog, tags.
    r#"
    CREATE TABLE account (
        id TEXT PRIMARY KEY,
        root_email TEXT NOT NULL,
        root_password_hash TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE access_key (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL REFERENCES account(id),
        user_name TEXT,
        sealed_secret BLOB NOT NULL,
        status TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        last_used_ms INTEGER,
        last_used_service TEXT,
        last_used_region TEXT
    );
    CREATE INDEX access_key_by_owner ON access_key(account, user_name);
    CREATE TABLE ts_database (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        arn TEXT NOT NULL,
        kms_key_id TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (account, region, name)
    );
    CREATE TABLE ts_table (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        database TEXT NOT NULL,
        name TEXT NOT NULL,
        arn TEXT NOT NULL,
        status TEXT NOT NULL,
        memory_store_hours INTEGER NOT NULL,
        magnetic_store_days INTEGER NOT NULL,
        magnetic_store_write TEXT NOT NULL,
        partition_keys TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (account, region, database, name),
        FOREIGN KEY (account, region, database) REFERENCES ts_database(account, region, name)
    );
    CREATE TABLE tag (
        arn TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (arn, key)
    );
    "#,
    // 2: table incarnation ids, the growing schema of each table, and its data files.
    r#"
    ALTER TABLE ts_table ADD COLUMN id TEXT NOT NULL DEFAULT '';
    UPDATE ts_table SET id = lower(hex(randomblob(16))) WHERE id = '';
    CREATE UNIQUE INDEX ts_table_by_id ON ts_table(id);
    CREATE TABLE ts_column (
        table_id TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        data_type TEXT NOT NULL,
        ordinal INTEGER NOT NULL,
        PRIMARY KEY (table_id, kind, name)
    );
    CREATE TABLE ts_file (
        table_id TEXT NOT NULL,
        id TEXT NOT NULL,
        path TEXT NOT NULL,
        min_time INTEGER NOT NULL,
        max_time INTEGER NOT NULL,
        rows INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        level INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (table_id, id)
    );
    "#,
    // 3: whether a data file may hold keys that other files hold too (unknown, so yes, for older files).
    r#"
    ALTER TABLE ts_file ADD COLUMN shadows INTEGER NOT NULL DEFAULT 1;
    "#,
    // 4: each data file's measures with the dimensions their rows have values for, as JSON (unknown for older
    // files).
    r#"
    ALTER TABLE ts_file ADD COLUMN measures TEXT;
    "#,
];

#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        Self::init(Connection::open(path)?)
    }

    /// A private in-memory store, for tests.
    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection off the async runtime's worker threads.
    async fn with<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| Error::Internal("metadata connection lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| Error::Internal(format!("metadata task failed: {e}")))?
    }

    /// Runs a lookup by key: at once when the connection is free (such a read takes microseconds, less than handing
    /// it to another thread and back), else as [`Self::with`] does.
    async fn lookup<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        if let Ok(mut guard) = self.conn.try_lock() {
            return f(&mut guard);
        }
        self.with(f).await
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let current: usize =
        conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if current > MIGRATIONS.len() {
        return Err(Error::Internal(format!(
            "the metadata store has schema version {current} but this freshet knows only up to {}; \
             use a newer freshet with this data directory",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

fn parse_err(what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("bad {what} {value:?} in metadata store").into(),
    )
}

fn account_id(s: String) -> rusqlite::Result<AccountId> {
    AccountId::parse(&s).map_err(|_| parse_err("account id", &s))
}

fn scope_of(row: &Row<'_>) -> rusqlite::Result<Scope> {
    let region: String = row.get("region")?;
    Ok(Scope {
        account: account_id(row.get("account")?)?,
        region: Region::parse(&region).map_err(|_| parse_err("region", &region))?,
    })
}

fn access_key_of(row: &Row<'_>) -> rusqlite::Result<AccessKeyRecord> {
    let id: String = row.get("id")?;
    let status: String = row.get("status")?;
    let last_used = match row.get::<_, Option<i64>>("last_used_ms")? {
        Some(at_ms) => Some(KeyLastUsed {
            at_ms,
            service: row.get("last_used_service")?,
            region: row.get("last_used_region")?,
        }),
        None => None,
    };
    Ok(AccessKeyRecord {
        id: AccessKeyId::parse(&id).map_err(|_| parse_err("access key id", &id))?,
        account: account_id(row.get("account")?)?,
        user_name: row.get("user_name")?,
        sealed_secret: row.get("sealed_secret")?,
        status: AccessKeyStatus::parse(&status).ok_or_else(|| parse_err("key status", &status))?,
        created_ms: row.get("created_ms")?,
        last_used,
    })
}

fn database_of(row: &Row<'_>) -> rusqlite::Result<DatabaseRecord> {
    Ok(DatabaseRecord {
        scope: scope_of(row)?,
        name: row.get("name")?,
        arn: row.get("arn")?,
        kms_key_id: row.get("kms_key_id")?,
        created_ms: row.get("created_ms")?,
        updated_ms: row.get("updated_ms")?,
    })
}

fn json_col<T: serde::de::DeserializeOwned>(row: &Row<'_>, col: &str) -> rusqlite::Result<T> {
    let text: String = row.get(col)?;
    serde_json::from_str(&text).map_err(|_| parse_err(col, &text))
}

fn table_of(row: &Row<'_>) -> rusqlite::Result<TableRecord> {
    let status: String = row.get("status")?;
    Ok(TableRecord {
        id: row.get("id")?,
        scope: scope_of(row)?,
        database: row.get("database")?,
        name: row.get("name")?,
        arn: row.get("arn")?,
        status: TableStatus::parse(&status).ok_or_else(|| parse_err("table status", &status))?,
        memory_store_hours: row.get("memory_store_hours")?,
        magnetic_store_days: row.get("magnetic_store_days")?,
        magnetic_store_write: json_col(row, "magnetic_store_write")?,
        partition_keys: json_col(row, "partition_keys")?,
        created_ms: row.get("created_ms")?,
        updated_ms: row.get("updated_ms")?,
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))
}

/// A primary-key or unique violation means the thing exists already: `Conflict`, named by `what`.
fn conflict_if_exists(e: rusqlite::Error, what: impl FnOnce() -> String) -> Error {
    if is_unique_violation(&e) {
        Error::Conflict(what())
    } else {
        e.into()
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

/// `Connection::query_row` through the connection's statement cache: the statements on a query's path (database,
/// table, files, access key) are parsed once, not on every request.
fn query_row<T, P: rusqlite::Params>(
    c: &Connection,
    sql: &str,
    params: P,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.prepare_cached(sql)?.query_row(params, f)
}

fn get_database(conn: &Connection, scope: &Scope, name: &str) -> Result<Option<DatabaseRecord>> {
    Ok(query_row(
        conn,
        "SELECT * FROM ts_database WHERE account = ?1 AND region = ?2 AND name = ?3",
        params![scope.account.as_str(), scope.region.as_str(), name],
        database_of,
    )
    .optional()?)
}

#[async_trait]
impl MetadataStore for SqliteStore {
    async fn accounts(&self) -> Result<Vec<AccountRecord>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT * FROM account ORDER BY created_ms, id")?;
            let rows = stmt.query_map([], |r| {
                Ok(AccountRecord {
                    id: account_id(r.get("id")?)?,
                    root_email: r.get("root_email")?,
                    root_password_hash: r.get("root_password_hash")?,
                    created_ms: r.get("created_ms")?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn create_account(&self, account: &AccountRecord) -> Result<()> {
        let a = account.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO account (id, root_email, root_password_hash, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![a.id.as_str(), a.root_email, a.root_password_hash, a.created_ms],
            )
            .map_err(|e| conflict_if_exists(e, || format!("account {}", a.id)))?;
            Ok(())
        })
        .await
    }

    async fn create_access_key(&self, key: &AccessKeyRecord) -> Result<()> {
        let k = key.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO access_key (id, account, user_name, sealed_secret, status, created_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    k.id.as_str(),
                    k.account.as_str(),
                    k.user_name,
                    k.sealed_secret,
                    k.status.as_str(),
                    k.created_ms
                ],
            )
            .map_err(|e| conflict_if_exists(e, || format!("access key {}", k.id)))?;
            Ok(())
        })
        .await
    }

    async fn access_key(&self, id: &AccessKeyId) -> Result<Option<AccessKeyRecord>> {
        let id = id.clone();
        self.lookup(move |c| {
            Ok(query_row(
                c,
                "SELECT * FROM access_key WHERE id = ?1",
                [id.as_str()],
                access_key_of,
            )
            .optional()?)
        })
        .await
    }

    async fn access_keys_of(
        &self,
        account: &AccountId,
        user: Option<&str>,
    ) -> Result<Vec<AccessKeyRecord>> {
        let (account, user) = (account.clone(), user.map(str::to_owned));
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT * FROM access_key WHERE account = ?1 AND user_name IS ?2 ORDER BY created_ms, id",
            )?;
            let rows = stmt.query_map(params![account.as_str(), user], access_key_of)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn record_key_use(&self, id: &AccessKeyId, used: &KeyLastUsed) -> Result<()> {
        let (id, u) = (id.clone(), used.clone());
        self.with(move |c| {
            c.execute(
                "UPDATE access_key SET last_used_ms = ?2, last_used_service = ?3, last_used_region = ?4 WHERE id = ?1",
                params![id.as_str(), u.at_ms, u.service, u.region],
            )?;
            Ok(())
        })
        .await
    }

    async fn create_database(&self, db: &DatabaseRecord) -> Result<()> {
        let d = db.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO ts_database (account, region, name, arn, kms_key_id, created_ms, updated_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    d.scope.account.as_str(),
                    d.scope.region.as_str(),
                    d.name,
                    d.arn,
                    d.kms_key_id,
                    d.created_ms,
                    d.updated_ms
                ],
            )
            .map_err(|e| conflict_if_exists(e, || format!("database {}", d.name)))?;
            Ok(())
        })
        .await
    }

    async fn database(&self, scope: &Scope, name: &str) -> Result<Option<DatabaseRecord>> {
        let (scope, name) = (scope.clone(), name.to_owned());
        self.lookup(move |c| get_database(c, &scope, &name)).await
    }

    async fn list_databases(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<DatabaseRecord>> {
        let (scope, after) = (scope.clone(), after.unwrap_or("").to_owned());
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT * FROM ts_database WHERE account = ?1 AND region = ?2 AND name > ?3 ORDER BY name LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![scope.account.as_str(), scope.region.as_str(), after, (limit + 1) as i64],
                database_of,
            )?;
            let mut items = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            let more = items.len() > limit;
            items.truncate(limit);
            Ok(Page { items, more })
        })
        .await
    }

    async fn update_database_kms(
        &self,
        scope: &Scope,
        name: &str,
        kms_key_id: &str,
        now_ms: i64,
    ) -> Result<DatabaseRecord> {
        let (scope, name, kms) = (scope.clone(), name.to_owned(), kms_key_id.to_owned());
        self.with(move |c| {
            let n = c.execute(
                "UPDATE ts_database SET kms_key_id = ?4, updated_ms = ?5 WHERE account = ?1 AND region = ?2 AND name = ?3",
                params![scope.account.as_str(), scope.region.as_str(), name, kms, now_ms],
            )?;
            if n == 0 {
                return Err(Error::NotFound(format!("database {name}")));
            }
            get_database(c, &scope, &name)?.ok_or_else(|| Error::NotFound(format!("database {name}")))
        })
        .await
    }

    async fn delete_database(&self, scope: &Scope, name: &str) -> Result<()> {
        let (scope, name) = (scope.clone(), name.to_owned());
        self.with(move |c| {
            let tx = c.transaction()?;
            let Some(db) = get_database(&tx, &scope, &name)? else {
                return Err(Error::NotFound(format!("database {name}")));
            };
            let tables: i64 = query_row(
                &tx,
                "SELECT count(*) FROM ts_table WHERE account = ?1 AND region = ?2 AND database = ?3",
                params![scope.account.as_str(), scope.region.as_str(), name],
                |r| r.get(0),
            )?;
            if tables > 0 {
                return Err(Error::NotEmpty(name));
            }
            tx.execute(
                "DELETE FROM ts_database WHERE account = ?1 AND region = ?2 AND name = ?3",
                params![scope.account.as_str(), scope.region.as_str(), name],
            )?;
            tx.execute("DELETE FROM tag WHERE arn = ?1", [db.arn])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn table_count(&self, scope: &Scope, database: &str) -> Result<u64> {
        let (scope, database) = (scope.clone(), database.to_owned());
        self.with(move |c| {
            let n: i64 = query_row(
                c,
                "SELECT count(*) FROM ts_table WHERE account = ?1 AND region = ?2 AND database = ?3",
                params![scope.account.as_str(), scope.region.as_str(), database],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn create_table(&self, table: &TableRecord) -> Result<()> {
        let t = table.clone();
        self.with(move |c| {
            let tx = c.transaction()?;
            if get_database(&tx, &t.scope, &t.database)?.is_none() {
                return Err(Error::NotFound(format!("database {}", t.database)));
            }
            tx.execute(
                "INSERT INTO ts_table (account, region, database, name, arn, status, memory_store_hours, \
                 magnetic_store_days, magnetic_store_write, partition_keys, created_ms, updated_ms, id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    t.scope.account.as_str(),
                    t.scope.region.as_str(),
                    t.database,
                    t.name,
                    t.arn,
                    t.status.as_str(),
                    t.memory_store_hours,
                    t.magnetic_store_days,
                    to_json(&t.magnetic_store_write)?,
                    to_json(&t.partition_keys)?,
                    t.created_ms,
                    t.updated_ms,
                    t.id
                ],
            )
            .map_err(|e| conflict_if_exists(e, || format!("table {}", t.name)))?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn table(
        &self,
        scope: &Scope,
        database: &str,
        name: &str,
    ) -> Result<Option<TableRecord>> {
        let (scope, database, name) = (scope.clone(), database.to_owned(), name.to_owned());
        self.lookup(move |c| {
            Ok(query_row(
                c,
                "SELECT * FROM ts_table WHERE account = ?1 AND region = ?2 AND database = ?3 AND name = ?4",
                params![scope.account.as_str(), scope.region.as_str(), database, name],
                table_of,
            )
            .optional()?)
        })
        .await
    }

    async fn table_by_id(&self, id: &str) -> Result<Option<TableRecord>> {
        let id = id.to_owned();
        self.lookup(move |c| {
            Ok(query_row(c, "SELECT * FROM ts_table WHERE id = ?1", [id], table_of).optional()?)
        })
        .await
    }

    async fn list_tables(
        &self,
        scope: &Scope,
        database: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Page<TableRecord>> {
        let scope = scope.clone();
        let database = database.map(str::to_owned);
        let (after_db, after_name) = after
            .map(|(d, n)| (d.to_owned(), n.to_owned()))
            .unwrap_or_default();
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT * FROM ts_table WHERE account = ?1 AND region = ?2 AND (?3 IS NULL OR database = ?3) \
                 AND (database, name) > (?4, ?5) ORDER BY database, name LIMIT ?6",
            )?;
            let rows = stmt.query_map(
                params![
                    scope.account.as_str(),
                    scope.region.as_str(),
                    database,
                    after_db,
                    after_name,
                    (limit + 1) as i64
                ],
                table_of,
            )?;
            let mut items = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            let more = items.len() > limit;
            items.truncate(limit);
            Ok(Page { items, more })
        })
        .await
    }

    async fn update_table(&self, table: &TableRecord) -> Result<()> {
        let t = table.clone();
        self.with(move |c| {
            let n = c.execute(
                "UPDATE ts_table SET memory_store_hours = ?5, magnetic_store_days = ?6, magnetic_store_write = ?7, \
                 partition_keys = ?8, updated_ms = ?9, status = ?10 \
                 WHERE account = ?1 AND region = ?2 AND database = ?3 AND name = ?4",
                params![
                    t.scope.account.as_str(),
                    t.scope.region.as_str(),
                    t.database,
                    t.name,
                    t.memory_store_hours,
                    t.magnetic_store_days,
                    to_json(&t.magnetic_store_write)?,
                    to_json(&t.partition_keys)?,
                    t.updated_ms,
                    t.status.as_str()
                ],
            )?;
            if n == 0 {
                return Err(Error::NotFound(format!("table {}", t.name)));
            }
            Ok(())
        })
        .await
    }

    async fn delete_table(&self, scope: &Scope, database: &str, name: &str) -> Result<()> {
        let (scope, database, name) = (scope.clone(), database.to_owned(), name.to_owned());
        self.with(move |c| {
            let tx = c.transaction()?;
            let arn: Option<String> = query_row(
                &tx,
                "SELECT arn FROM ts_table WHERE account = ?1 AND region = ?2 AND database = ?3 AND name = ?4",
                params![scope.account.as_str(), scope.region.as_str(), database, name],
                |r| r.get(0),
            )
            .optional()?;
            let Some(arn) = arn else {
                return Err(Error::NotFound(format!("table {name}")));
            };
            tx.execute(
                "DELETE FROM ts_table WHERE account = ?1 AND region = ?2 AND database = ?3 AND name = ?4",
                params![scope.account.as_str(), scope.region.as_str(), database, name],
            )?;
            tx.execute("DELETE FROM tag WHERE arn = ?1", [arn])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn columns(&self, table_id: &str) -> Result<Vec<ColumnRecord>> {
        let table_id = table_id.to_owned();
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT name, kind, data_type, ordinal FROM ts_column WHERE table_id = ?1 ORDER BY ordinal, name",
            )?;
            let rows = stmt.query_map([table_id], |r| {
                let kind: String = r.get(1)?;
                Ok(ColumnRecord {
                    name: r.get(0)?,
                    kind: ColumnKind::parse(&kind).ok_or_else(|| parse_err("column kind", &kind))?,
                    data_type: r.get(2)?,
                    ordinal: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn add_columns(&self, table_id: &str, columns: &[ColumnRecord]) -> Result<()> {
        let (table_id, columns) = (table_id.to_owned(), columns.to_vec());
        self.with(move |c| {
            let tx = c.transaction()?;
            for col in &columns {
                tx.execute(
                    "INSERT INTO ts_column (table_id, name, kind, data_type, ordinal) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT DO NOTHING",
                    params![table_id, col.name, col.kind.as_str(), col.data_type, col.ordinal],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn files(&self, table_id: &str) -> Result<Vec<FileRecord>> {
        let table_id = table_id.to_owned();
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT * FROM ts_file WHERE table_id = ?1 ORDER BY min_time, id",
            )?;
            let rows = stmt.query_map([table_id], |r| {
                Ok(FileRecord {
                    table_id: r.get("table_id")?,
                    id: r.get("id")?,
                    path: r.get("path")?,
                    min_time: r.get("min_time")?,
                    max_time: r.get("max_time")?,
                    rows: r.get("rows")?,
                    bytes: r.get("bytes")?,
                    level: r.get("level")?,
                    created_ms: r.get("created_ms")?,
                    shadows: r.get("shadows")?,
                    // Written by this store from the same type; text that does not parse counts as unknown.
                    measures: r
                        .get::<_, Option<String>>("measures")?
                        .and_then(|m| serde_json::from_str(&m).ok()),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn set_file_measures(
        &self,
        table_id: &str,
        summaries: &[(String, std::collections::BTreeMap<String, Vec<String>>)],
    ) -> Result<()> {
        let table_id = table_id.to_owned();
        let summaries = summaries
            .iter()
            .map(|(id, m)| Ok((id.clone(), serde_json::to_string(m)?)))
            .collect::<serde_json::Result<Vec<_>>>()
            .map_err(|e| Error::Internal(format!("encoding a file's measures: {e}")))?;
        self.with(move |c| {
            let tx = c.transaction()?;
            for (id, measures) in &summaries {
                tx.prepare_cached(
                    "UPDATE ts_file SET measures = ?1 WHERE table_id = ?2 AND id = ?3",
                )?
                .execute(params![measures, table_id, id])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn replace_files(
        &self,
        table_id: &str,
        added: &[FileRecord],
        removed: &[String],
    ) -> Result<()> {
        let (table_id, added, removed) = (table_id.to_owned(), added.to_vec(), removed.to_vec());
        self.with(move |c| {
            let tx = c.transaction()?;
            for f in &added {
                tx.execute(
                    "INSERT INTO ts_file (table_id, id, path, min_time, max_time, rows, bytes, level, created_ms, shadows, measures) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        table_id, f.id, f.path, f.min_time, f.max_time, f.rows, f.bytes, f.level, f.created_ms,
                        f.shadows,
                        // A map of strings to lists of strings always serializes.
                        f.measures.as_ref().and_then(|m| serde_json::to_string(m).ok()),
                    ],
                )?;
            }
            for id in &removed {
                tx.execute("DELETE FROM ts_file WHERE table_id = ?1 AND id = ?2", params![table_id, id])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn forget_table_data(&self, table_id: &str) -> Result<()> {
        let table_id = table_id.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM ts_column WHERE table_id = ?1", [&table_id])?;
            tx.execute("DELETE FROM ts_file WHERE table_id = ?1", [&table_id])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn table_ids_with_files(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let mut stmt =
                c.prepare_cached("SELECT DISTINCT table_id FROM ts_file ORDER BY table_id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn orphaned_table_ids(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT table_id FROM ts_column UNION SELECT table_id FROM ts_file \
                 EXCEPT SELECT id FROM ts_table",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn tag_resource(&self, arn: &str, tags: &[Tag], max: usize) -> Result<()> {
        let (arn, tags) = (arn.to_owned(), tags.to_vec());
        self.with(move |c| {
            let tx = c.transaction()?;
            for t in &tags {
                tx.execute(
                    "INSERT INTO tag (arn, key, value) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value",
                    params![arn, t.key, t.value],
                )?;
            }
            let n: i64 = query_row(
                &tx,
                "SELECT count(*) FROM tag WHERE arn = ?1",
                [&arn],
                |r| r.get(0),
            )?;
            if n as usize > max {
                return Err(Error::Conflict(format!("more than {max} tags on {arn}")));
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<()> {
        let (arn, keys) = (arn.to_owned(), keys.to_vec());
        self.with(move |c| {
            let tx = c.transaction()?;
            for k in &keys {
                tx.execute(
                    "DELETE FROM tag WHERE arn = ?1 AND key = ?2",
                    params![arn, k],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn tags(&self, arn: &str) -> Result<Vec<Tag>> {
        let arn = arn.to_owned();
        self.with(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT key, value FROM tag WHERE arn = ?1 ORDER BY key")?;
            let rows = stmt.query_map([arn], |r| {
                Ok(Tag {
                    key: r.get(0)?,
                    value: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}
