//! The storage engine: writes go to the WAL (fsynced, group-committed) and into a per-table write buffer, which is
//! persisted as sorted Parquet files through `object_store`; queries read the buffer and the files together.
//!
//! Storage knows nothing of HTTP, wire formats or principals: it takes validated `WriteRow`s and answers with
//! per-row outcomes and Arrow batches.

mod buffer;
mod compact;
mod files;
mod record;
mod schema;

pub use files::{SORTED_BY_KEY, adapt};
pub use record::{Measures, ScalarType, Value, WalBatch, WalEncoder, WriteRow};
pub use schema::{
    MEASURE_NAME_COLUMN, MeasureKind, TIME_COLUMN, TableSchema, VERSION_COLUMN, arrow_type,
    value_column,
};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use freshet_meta::{FileRecord, MetadataStore, TableRecord};
use freshet_wal::{Entry, Wal};
use object_store::ObjectStore;

use buffer::{Applied, Buffer, Interner, SeriesKey};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The write buffer is full because persistence is behind: the client should retry later.
    #[error("the write buffer is full ({0} bytes buffered); retry later")]
    Throttled(usize),
    /// The WAL failed; nothing more can be acknowledged. A bug or a broken disk, never the caller's fault.
    #[error("write-ahead log failure: {0}")]
    Wal(#[from] freshet_wal::Error),
    #[error(transparent)]
    Meta(#[from] freshet_meta::Error),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("data file: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("storage is stopped after an earlier write-ahead log failure")]
    Failed,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Limits and thresholds of the engine.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Buffered bytes across all tables beyond which writes are throttled.
    pub buffer_limit_bytes: usize,
    /// A table's buffer is persisted once it holds this many bytes…
    pub persist_bytes: usize,
    /// …or once it is this old.
    pub persist_age: Duration,
    /// How often the background task looks for work.
    pub tick: Duration,
    /// Files replaced by compaction stay readable this long, for queries that listed them before the swap.
    pub replaced_file_grace: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            buffer_limit_bytes: 1 << 30,
            persist_bytes: 64 << 20,
            persist_age: Duration::from_secs(60),
            tick: Duration::from_millis(500),
            replaced_file_grace: Duration::from_secs(30),
        }
    }
}

/// The future ingestion period: records up to 15 minutes ahead of the clock are accepted.
pub const FUTURE_WINDOW_NS: i64 = 15 * 60 * 1_000_000_000;
const NS_PER_HOUR: i64 = 3_600 * 1_000_000_000;

/// Why a record was refused, in the form `RejectedRecords` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub index: usize,
    pub reason: String,
    pub existing_version: Option<i64>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    pub memory_store: usize,
    pub magnetic_store: usize,
    pub rejected: Vec<Rejection>,
}

/// What a query reads of a table: rows held in memory, and data files to read, together free of superseded versions.
#[derive(Debug)]
pub struct Snapshot {
    /// The table's current schema, with the hidden version column. Files written earlier may lack columns.
    pub schema: SchemaRef,
    pub table_schema: TableSchema,
    /// Buffered rows, and the resolved rows of the contested ranges, in `schema`.
    pub batches: Vec<RecordBatch>,
    /// Data files whose time range meets the scan's. Their rows in `contested` must be skipped.
    pub files: Vec<FileRecord>,
    /// Inclusive time ranges, sorted and disjoint, where sources overlapped: every row there is in `batches`.
    pub contested: Vec<(i64, i64)>,
}

pub(crate) struct TableState {
    id: String,
    schema: TableSchema,
    interner: Interner,
    active: Buffer,
    frozen: Vec<Buffer>,
    files: Vec<FileRecord>,
    /// Bumped whenever `files` changes, so a write that looked at files without the lock can tell.
    files_generation: u64,
    /// Time range per series of the rows persisted by this process.
    persisted_ranges: HashMap<u32, (i64, i64)>,
    /// Files from before this start carry no per-series ranges: times up to here may exist in them.
    unknown_before: i64,
}

impl TableState {
    /// The buffers: the active one, then the frozen ones being persisted.
    fn buffers(&self) -> impl Iterator<Item = &Buffer> {
        std::iter::once(&self.active).chain(&self.frozen)
    }

    /// Some key may be in more than one place (buffers or files), so reads must resolve versions: a buffer or
    /// file shadows a key stored elsewhere.
    fn may_overlap(&self) -> bool {
        self.buffers().any(|b| b.shadows) || self.files.iter().any(|f| f.shadows)
    }
}

impl std::fmt::Debug for TableState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableState")
            .field("id", &self.id)
            .field("rows", &self.active.rows.len())
            .finish()
    }
}

/// Sequence numbers whose rows are in a buffer: everything up to `frontier` has been applied.
#[derive(Debug)]
struct Frontier {
    frontier: u64,
    done: BTreeSet<u64>,
    truncated: u64,
}

impl Frontier {
    fn complete(&mut self, seq: u64) {
        self.done.insert(seq);
        while self.done.remove(&(self.frontier + 1)) {
            self.frontier += 1;
        }
    }
}

#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Storage")
    }
}

struct Inner {
    meta: Arc<dyn MetadataStore>,
    objects: Arc<dyn ObjectStore>,
    wal: Arc<dyn Wal>,
    config: StorageConfig,
    tables: Mutex<HashMap<String, Arc<Mutex<TableState>>>>,
    buffered_bytes: AtomicUsize,
    frontier: Mutex<Frontier>,
    failed: AtomicBool,
    next_generation: AtomicU64,
    /// Replaced data files and when they may be deleted.
    garbage: Mutex<Vec<(std::time::Instant, String)>>,
}

/// Whether `[lo, hi]` meets `[from, to]` (inclusive; `None` is unbounded).
fn overlaps(lo: i64, hi: i64, from: Option<i64>, to: Option<i64>) -> bool {
    from.is_none_or(|f| hi >= f) && to.is_none_or(|t| lo <= t)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Storage {
    /// Opens the engine and replays `replay` (the WAL entries not yet persisted, as `LocalWal::open` returns them).
    /// `first_seq` is the sequence number the WAL gives its next append.
    pub async fn open(
        meta: Arc<dyn MetadataStore>,
        objects: Arc<dyn ObjectStore>,
        wal: Arc<dyn Wal>,
        replay: Vec<Entry>,
        first_seq: u64,
        config: StorageConfig,
    ) -> Result<Self> {
        let storage = Self {
            inner: Arc::new(Inner {
                meta,
                objects,
                wal,
                config,
                tables: Mutex::default(),
                buffered_bytes: AtomicUsize::new(0),
                frontier: Mutex::new(Frontier {
                    frontier: first_seq.saturating_sub(1),
                    done: BTreeSet::new(),
                    truncated: 0,
                }),
                failed: AtomicBool::new(false),
                next_generation: AtomicU64::new(1),
                garbage: Mutex::default(),
            }),
        };
        for orphan in storage.inner.meta.orphaned_table_ids().await? {
            tracing::info!(table_id = %orphan, "removing the data of a deleted table");
            storage.remove_table_data(&orphan).await?;
        }
        storage.remove_unregistered_files().await?;
        // Tables with data files take part in retention and compaction from the start.
        for id in storage.inner.meta.table_ids_with_files().await? {
            storage.table_state(&id).await?;
        }
        let replayed = replay.len();
        for entry in replay {
            storage.replay(entry).await?;
        }
        if replayed > 0 {
            tracing::info!(entries = replayed, "replayed the write-ahead log");
        }
        Ok(storage)
    }

    async fn replay(&self, entry: Entry) -> Result<()> {
        let Some(batch) = WalBatch::decode(&entry.payload) else {
            tracing::warn!(
                seq = entry.seq,
                "skipping a write-ahead log entry this version cannot read"
            );
            return Ok(());
        };
        if self
            .inner
            .meta
            .table_by_id(&batch.table_id)
            .await?
            .is_none()
        {
            return Ok(()); // the table was deleted after this write
        }
        let state = self.table_state(&batch.table_id).await?;
        let added = {
            let mut st = lock(&state);
            let mut added = Vec::new();
            let mut bytes = 0;
            for row in batch.rows {
                if let Err(reason) = st.schema.admit(&row, &mut added) {
                    tracing::warn!(seq = entry.seq, %reason, "a replayed row no longer fits the schema; skipped");
                    continue;
                }
                // The row may be in a file already (persisted before the WAL was truncated), or may have replaced
                // one there: versions must be resolved from now on.
                if row.time <= st.unknown_before {
                    st.active.shadows = true;
                }
                let series = st.interner.intern(&row.dimensions, &row.measure_name);
                let size = row.approx_bytes();
                if st.active.apply(series, row) == Applied::Inserted {
                    bytes += size;
                }
            }
            st.active.note_seq(entry.seq);
            self.inner
                .buffered_bytes
                .fetch_add(bytes, Ordering::Relaxed);
            added
        };
        if !added.is_empty() {
            self.inner.meta.add_columns(&batch.table_id, &added).await?;
        }
        Ok(())
    }

    /// The state of a table, loaded from the metadata store on first use.
    async fn table_state(&self, table_id: &str) -> Result<Arc<Mutex<TableState>>> {
        if let Some(s) = lock(&self.inner.tables).get(table_id) {
            return Ok(Arc::clone(s));
        }
        let columns = self.inner.meta.columns(table_id).await?;
        let files = self.inner.meta.files(table_id).await?;
        // The partition key cannot change after the table is created, so it is read once.
        let partition_dimension = self
            .inner
            .meta
            .table_by_id(table_id)
            .await?
            .and_then(|t| t.partition_keys.into_iter().next())
            .filter(|k| k.kind == "DIMENSION")
            .and_then(|k| k.name);
        let unknown_before = files.iter().map(|f| f.max_time).max().unwrap_or(i64::MIN);
        let state = TableState {
            id: table_id.to_owned(),
            schema: TableSchema::from_records(&columns)
                .with_partition_dimension(partition_dimension),
            interner: Interner::default(),
            active: Buffer::new(self.inner.next_generation.fetch_add(1, Ordering::Relaxed)),
            frozen: Vec::new(),
            files,
            files_generation: 0,
            persisted_ranges: HashMap::new(),
            unknown_before,
        };
        let mut tables = lock(&self.inner.tables);
        Ok(Arc::clone(
            tables
                .entry(table_id.to_owned())
                .or_insert_with(|| Arc::new(Mutex::new(state))),
        ))
    }

    /// Bytes held in write buffers across all tables.
    pub fn buffered_bytes(&self) -> usize {
        self.inner.buffered_bytes.load(Ordering::Relaxed)
    }

    /// Writes validated rows (each with its index in the request) to `table`. Each row is accepted into the memory
    /// or magnetic store, or rejected with a reason. Returns once the accepted rows are durable.
    ///
    /// Not cancellation-safe: run it to completion (callers spawn it), or buffers wait for a WAL append that never
    /// finishes.
    pub async fn write(
        &self,
        table: &TableRecord,
        rows: Vec<(usize, WriteRow)>,
        now_ns: i64,
    ) -> Result<WriteOutcome> {
        if self.inner.failed.load(Ordering::Relaxed) {
            return Err(Error::Failed);
        }
        let buffered = self.buffered_bytes();
        if buffered >= self.inner.config.buffer_limit_bytes {
            return Err(Error::Throttled(buffered));
        }
        let mut outcome = WriteOutcome::default();
        let mut candidates = Vec::with_capacity(rows.len());
        for (index, row) in rows {
            match window(table, row.time, now_ns) {
                Ok(store) => match required_dimension(table, &row) {
                    None => candidates.push((index, row, store)),
                    Some(reason) => outcome.rejected.push(Rejection {
                        index,
                        reason,
                        existing_version: None,
                    }),
                },
                Err(reason) => outcome.rejected.push(Rejection {
                    index,
                    reason,
                    existing_version: None,
                }),
            }
        }

        let state = self.table_state(&table.id).await?;
        let (accepted, added, generation) = loop {
            // Phase 1: which rows may already be in a data file? Read those keys without holding the lock.
            let (lookups, files, files_generation, table_schema) = {
                let mut st = lock(&state);
                let st = &mut *st;
                let mut lookups = Vec::new();
                for (_, row, _) in &candidates {
                    let series = st.interner.intern(&row.dimensions, &row.measure_name);
                    let in_buffers = st.buffers().any(|b| b.rows.contains(series, row.time));
                    let maybe_in_files = row.time <= st.unknown_before
                        || st
                            .persisted_ranges
                            .get(&series)
                            .is_some_and(|(lo, hi)| (*lo..=*hi).contains(&row.time));
                    if !in_buffers && maybe_in_files {
                        lookups.push((st.interner.key(series).clone(), row.time));
                    }
                }
                (
                    lookups,
                    st.files.clone(),
                    st.files_generation,
                    st.schema.clone(),
                )
            };
            let persisted = if lookups.is_empty() {
                HashMap::new()
            } else {
                files::lookup(&self.inner.objects, &files, &table_schema, &lookups).await?
            };

            // Phase 2: decide and apply under the lock, unless the files changed meanwhile.
            let mut st = lock(&state);
            if st.files_generation != files_generation {
                continue;
            }
            let st = &mut *st;
            let mut added = Vec::new();
            // Accepted rows are encoded for the WAL as they are accepted, then moved into the buffer.
            let mut accepted = WalEncoder::new(&table.id);
            let mut bytes = 0;
            for (index, row, store) in std::mem::take(&mut candidates) {
                let series = st.interner.intern(&row.dimensions, &row.measure_name);
                let in_active = st.active.rows.contains(series, row.time);
                let existing = st
                    .active
                    .rows
                    .get(series, row.time)
                    .or_else(|| {
                        st.frozen
                            .iter()
                            .rev()
                            .find_map(|b| b.rows.get(series, row.time))
                    })
                    .or_else(|| {
                        if persisted.is_empty() {
                            return None;
                        }
                        persisted
                            .get(&(st.interner.key(series).clone(), row.time))
                            .cloned()
                    });
                if let Some((version, measures)) = &existing
                    && let Some(reason) = conflict(&row, *version, measures)
                {
                    outcome.rejected.push(Rejection {
                        index,
                        reason,
                        existing_version: Some(*version),
                    });
                    continue;
                }
                // A repeat of what is stored (the same measures, not a newer version) is acknowledged and changes
                // nothing. Applying it would put a lower version in front of the stored one, and the next write
                // would be checked against that lower version.
                let store_count = |o: &mut WriteOutcome| match store {
                    Store::Memory => o.memory_store += 1,
                    Store::Magnetic => o.magnetic_store += 1,
                };
                if existing.as_ref().is_some_and(|(v, _)| *v >= row.version) {
                    store_count(&mut outcome);
                    continue;
                }
                if let Err(reason) = st.schema.admit(&row, &mut added) {
                    outcome.rejected.push(Rejection {
                        index,
                        reason,
                        existing_version: None,
                    });
                    continue;
                }
                if existing.is_some() && !in_active {
                    st.active.shadows = true;
                }
                store_count(&mut outcome);
                accepted.push(&row);
                let size = row.approx_bytes();
                if st.active.apply(series, row) == Applied::Inserted {
                    bytes += size;
                }
            }
            if accepted.rows() > 0 {
                st.active.pending += 1;
            }
            self.inner
                .buffered_bytes
                .fetch_add(bytes, Ordering::Relaxed);
            break (accepted, added, st.active.generation);
        };
        outcome.rejected.sort_by_key(|r| r.index);
        if accepted.rows() == 0 {
            return Ok(outcome);
        }

        let payload = accepted.finish();
        let appended = self.inner.wal.append(payload).await;
        let seq = match appended {
            Ok(seq) => seq,
            Err(e) => {
                self.inner.failed.store(true, Ordering::Relaxed);
                tracing::error!(error = %e, "write-ahead log append failed; refusing further writes");
                return Err(e.into());
            }
        };
        {
            let mut st = lock(&state);
            let st = &mut *st;
            if let Some(b) = std::iter::once(&mut st.active)
                .chain(st.frozen.iter_mut())
                .find(|b| b.generation == generation)
            {
                b.pending -= 1;
                b.note_seq(seq);
            }
        }
        lock(&self.inner.frontier).complete(seq);
        if !added.is_empty() {
            self.inner.meta.add_columns(&table.id, &added).await?;
        }
        Ok(outcome)
    }

    /// For each measure name, the dimensions its rows have values for (`SHOW MEASURES`), from the data files'
    /// summaries and the buffered rows' series, without reading rows. A file written before summaries were kept
    /// has its `measure_name` and dimension columns read once, and its summary recorded.
    pub async fn measure_dimensions(
        &self,
        table: &TableRecord,
    ) -> Result<BTreeMap<String, BTreeSet<String>>> {
        let state = self.table_state(&table.id).await?;
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut add = |measures: &BTreeMap<String, Vec<String>>| {
            for (name, dims) in measures {
                out.entry(name.clone())
                    .or_default()
                    .extend(dims.iter().cloned());
            }
        };
        let (missing, dimensions) = {
            let st = lock(&state);
            let mut missing = Vec::new();
            for f in &st.files {
                match &f.measures {
                    Some(measures) => add(measures),
                    None => missing.push((f.id.clone(), f.path.clone())),
                }
            }
            let keys = st.interner.keys();
            let mut seen = vec![false; keys.len()];
            let mut buffered = BTreeMap::new();
            for buffer in st.buffers() {
                for &series in buffer.rows.series() {
                    let Some(key) = keys.get(series as usize) else {
                        continue;
                    };
                    if std::mem::replace(&mut seen[series as usize], true) {
                        continue;
                    }
                    buffered
                        .entry(key.measure_name.clone())
                        .or_insert_with(Vec::new)
                        .extend(key.dimensions.iter().map(|(d, _)| d.clone()));
                }
            }
            add(&buffered);
            (missing, st.schema.dimensions().to_vec())
        };
        let read = missing
            .iter()
            .map(|(_, path)| files::read_measures(&self.inner.objects, path, &dimensions));
        let summaries = futures::future::try_join_all(read).await?;
        let recorded: Vec<(String, BTreeMap<String, Vec<String>>)> = missing
            .into_iter()
            .map(|(id, _)| id)
            .zip(summaries)
            .collect();
        if !recorded.is_empty() {
            self.inner
                .meta
                .set_file_measures(&table.id, &recorded)
                .await?;
            let mut st = lock(&state);
            for f in st.files.iter_mut() {
                if let Some((_, m)) = recorded.iter().find(|(id, _)| *id == f.id) {
                    f.measures = Some(m.clone());
                }
            }
        }
        for (_, measures) in &recorded {
            add(measures);
        }
        Ok(out)
    }

    /// About how many rows a scan of `[from, to]` (as [`Self::scan`]) reads: every buffered row, and each data file's
    /// rows in proportion to the part of its time range inside. Cheap: it reads no rows.
    pub async fn estimate_rows(
        &self,
        table: &TableRecord,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<u64> {
        let state = self.table_state(&table.id).await?;
        let st = lock(&state);
        let buffered: usize = st.buffers().map(|b| b.rows.len()).sum();
        let in_files: f64 = st
            .files
            .iter()
            .filter(|f| overlaps(f.min_time, f.max_time, from, to))
            .map(|f| {
                let span = (f.max_time as f64 - f.min_time as f64) + 1.0;
                let (from, to) = (from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX));
                let inside = (f.max_time.min(to) as f64 - f.min_time.max(from) as f64) + 1.0;
                f.rows.max(0) as f64 * (inside / span).clamp(0.0, 1.0)
            })
            .sum();
        Ok(buffered as u64 + in_files.ceil() as u64)
    }

    /// The table's rows within `[from, to]` (nanoseconds, inclusive; `None` is unbounded), from buffers and files.
    pub async fn scan(
        &self,
        table: &TableRecord,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Snapshot> {
        let state = self.table_state(&table.id).await?;
        let in_range = |lo: i64, hi: i64| overlaps(lo, hi, from, to);
        let (table_schema, schema, mut buffered, frozen, keys, files, may_overlap) = {
            let st = lock(&state);
            let schema = st.schema.arrow_schema();
            // The active buffer changes with every write: gather it now. Frozen buffers no longer change and are
            // gathered after the lock is released.
            let active = st
                .active
                .rows
                .to_batch(&st.schema, &schema, st.interner.keys(), |t| in_range(t, t))?;
            let frozen: Vec<Arc<buffer::Rows>> =
                st.frozen.iter().map(|b| Arc::clone(&b.rows)).collect();
            let keys = (!frozen.is_empty()).then(|| st.interner.keys().to_vec());
            let files: Vec<FileRecord> = st
                .files
                .iter()
                .filter(|f| in_range(f.min_time, f.max_time))
                .cloned()
                .collect();
            (
                st.schema.clone(),
                schema,
                Vec::from_iter(active),
                frozen,
                keys,
                files,
                st.may_overlap(),
            )
        };
        for rows in &frozen {
            let keys = keys.as_deref().unwrap_or_default();
            buffered.extend(rows.to_batch(&table_schema, &schema, keys, |t| in_range(t, t))?);
        }
        let mut snapshot = Snapshot {
            schema,
            table_schema,
            batches: buffered,
            files,
            contested: Vec::new(),
        };
        if may_overlap {
            self.resolve_contested(&mut snapshot).await?;
        }
        Ok(snapshot)
    }

    /// Each buffer and each data file holds a key (series, time) at most once, so a key can be in two places only
    /// where their time ranges overlap. Rows in those contested ranges are read from every source, and only each
    /// key's highest version is kept, in memory; the files are then read for the rest of their rows only.
    async fn resolve_contested(&self, snapshot: &mut Snapshot) -> Result<()> {
        let mut ranges: Vec<(i64, i64)> = snapshot
            .files
            .iter()
            .map(|f| (f.min_time, f.max_time))
            .collect();
        ranges.extend(snapshot.batches.iter().filter_map(files::time_range));
        let contested = contested_ranges(&ranges);
        if contested.is_empty() {
            return Ok(());
        }
        let inside = |batch: &RecordBatch| files::time_mask(batch, &contested);
        let mut candidates = Vec::new();
        let mut clean = Vec::new();
        for batch in std::mem::take(&mut snapshot.batches) {
            let mask = inside(&batch)?;
            candidates.push(arrow::compute::filter_record_batch(&batch, &mask)?);
            let outside = arrow::compute::not(&mask)?;
            clean.push(arrow::compute::filter_record_batch(&batch, &outside)?);
        }
        for f in &snapshot.files {
            if !contested
                .iter()
                .any(|(lo, hi)| f.max_time >= *lo && f.min_time <= *hi)
            {
                continue;
            }
            for raw in files::read_where(&self.inner.objects, &f.path, &contested).await? {
                candidates.push(files::adapt(&raw, &snapshot.schema)?);
            }
        }
        clean.extend(files::resolve_versions(&snapshot.table_schema, candidates)?);
        clean.retain(|b| b.num_rows() > 0);
        snapshot.batches = clean;
        snapshot.contested = contested;
        Ok(())
    }

    /// Every row of a snapshot as batches in its schema: the in-memory rows, and the files' rows outside the
    /// contested ranges. For callers that want all of it at once (tests, tools); queries read files themselves.
    pub async fn read_snapshot(&self, snapshot: &Snapshot) -> Result<Vec<RecordBatch>> {
        let mut out = snapshot.batches.clone();
        for f in &snapshot.files {
            for raw in files::read(&self.inner.objects, &f.path).await? {
                let batch = files::adapt(&raw, &snapshot.schema)?;
                if snapshot.contested.is_empty() {
                    out.push(batch);
                } else {
                    let outside =
                        arrow::compute::not(&files::time_mask(&batch, &snapshot.contested)?)?;
                    out.push(arrow::compute::filter_record_batch(&batch, &outside)?);
                }
            }
        }
        Ok(out)
    }

    /// The object store that holds the data files named by [`Snapshot::files`].
    pub fn objects(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.inner.objects)
    }

    /// The table's schema as writes have shaped it.
    pub async fn schema(&self, table_id: &str) -> Result<TableSchema> {
        let state = self.table_state(table_id).await?;
        let st = lock(&state);
        Ok(st.schema.clone())
    }

    /// Deletes a table's buffered rows, data files and schema. Its WAL entries are skipped at replay.
    pub async fn drop_table(&self, table_id: &str) -> Result<()> {
        if let Some(state) = lock(&self.inner.tables).remove(table_id) {
            let st = lock(&state);
            let bytes: usize = st.buffers().map(|b| b.bytes).sum();
            self.inner
                .buffered_bytes
                .fetch_sub(bytes, Ordering::Relaxed);
        }
        self.remove_table_data(table_id).await
    }

    /// Deletes data files that the metadata store does not list: files replaced by compaction whose grace period
    /// a restart cut short, and files written by a persist or compaction that crashed before registering them
    /// (their rows are still in the WAL or in the files they were to replace). Runs before anything reads files.
    async fn remove_unregistered_files(&self) -> Result<()> {
        let mut by_table: HashMap<String, Vec<String>> = HashMap::new();
        for path in files::list(&self.inner.objects, files::TABLES_PREFIX).await? {
            if let Some(table) = path
                .strip_prefix(files::TABLES_PREFIX)
                .and_then(|rest| rest.split('/').next())
            {
                by_table.entry(table.to_owned()).or_default().push(path);
            }
        }
        for (table_id, paths) in by_table {
            let registered: BTreeSet<String> = self
                .inner
                .meta
                .files(&table_id)
                .await?
                .into_iter()
                .map(|f| f.path)
                .collect();
            for path in paths.iter().filter(|p| !registered.contains(*p)) {
                tracing::info!(%path, "removing a data file no table lists");
                files::delete(&self.inner.objects, path).await?;
            }
        }
        Ok(())
    }

    async fn remove_table_data(&self, table_id: &str) -> Result<()> {
        files::delete_prefix(&self.inner.objects, &files::table_prefix(table_id)).await?;
        self.inner.meta.forget_table_data(table_id).await?;
        Ok(())
    }

    /// Persists every table's buffer whose size or age calls for it; `force` persists every non-empty buffer.
    pub async fn persist(&self, force: bool) -> Result<()> {
        let tables: Vec<_> = lock(&self.inner.tables).values().cloned().collect();
        for state in tables {
            let due = {
                let st = lock(&state);
                !st.active.rows.is_empty()
                    && (force
                        || st.active.bytes >= self.inner.config.persist_bytes
                        || st.active.created.elapsed() >= self.inner.config.persist_age)
            };
            if due {
                self.persist_table(&state).await?;
            }
        }
        self.truncate_wal().await
    }

    async fn persist_table(&self, state: &Arc<Mutex<TableState>>) -> Result<()> {
        let generation = {
            let mut st = lock(state);
            let fresh = Buffer::new(self.inner.next_generation.fetch_add(1, Ordering::Relaxed));
            let old = std::mem::replace(&mut st.active, fresh);
            let g = old.generation;
            st.frozen.push(old);
            g
        };
        // Wait for writes applied to the frozen buffer to finish their WAL append.
        loop {
            let pending = {
                let st = lock(state);
                st.frozen
                    .iter()
                    .find(|b| b.generation == generation)
                    .map_or(0, |b| b.pending)
            };
            if pending == 0 {
                break;
            }
            if self.inner.failed.load(Ordering::Relaxed) {
                return Err(Error::Failed); // a WAL append failed: its write will never finish
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let (table_id, rows, table_schema, keys, shadows) = {
            let st = lock(state);
            let Some(frozen) = st.frozen.iter().find(|b| b.generation == generation) else {
                return Ok(()); // the table was dropped meanwhile
            };
            (
                st.id.clone(),
                Arc::clone(&frozen.rows),
                st.schema.clone(),
                st.interner.keys().to_vec(),
                frozen.shadows,
            )
        };
        let dimensions = table_schema.dimensions().to_vec();
        let lead = table_schema.lead_dimension().map(str::to_owned);
        // Sorting and gathering take a while on a large buffer: off the lock and off the async workers.
        let built = tokio::task::spawn_blocking(move || {
            let batch = rows.to_batch(&table_schema, &table_schema.arrow_schema(), &keys, |_| true);
            (batch, rows.time_ranges())
        })
        .await
        .map_err(|e| arrow::error::ArrowError::ExternalError(Box::new(e)))?;
        let (batch, ranges) = (built.0?, built.1);
        let file = match batch {
            Some(batch) => {
                let file = files::write(
                    &self.inner.objects,
                    &table_id,
                    &batch,
                    0,
                    shadows,
                    &dimensions,
                    lead.as_deref(),
                )
                .await?;
                self.inner
                    .meta
                    .replace_files(&table_id, std::slice::from_ref(&file), &[])
                    .await?;
                Some(file)
            }
            None => None, // an empty buffer: nothing to write
        };
        let mut st = lock(state);
        for (series, (lo, hi)) in ranges {
            let r = st.persisted_ranges.entry(series).or_insert((lo, hi));
            r.0 = r.0.min(lo);
            r.1 = r.1.max(hi);
        }
        if let Some(file) = file {
            st.files.push(file);
            st.files_generation += 1;
        }
        if let Some(pos) = st.frozen.iter().position(|b| b.generation == generation) {
            let done = st.frozen.remove(pos);
            self.inner
                .buffered_bytes
                .fetch_sub(done.bytes, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Truncates the WAL below the oldest entry whose rows are still only in a buffer.
    async fn truncate_wal(&self) -> Result<()> {
        let mut upto = lock(&self.inner.frontier).frontier;
        let tables: Vec<_> = lock(&self.inner.tables).values().cloned().collect();
        for state in tables {
            let st = lock(&state);
            for b in st.buffers() {
                if let Some(min) = b.min_seq {
                    upto = upto.min(min - 1);
                }
            }
        }
        let advanced = {
            let mut f = lock(&self.inner.frontier);
            let advanced = upto > f.truncated;
            f.truncated = f.truncated.max(upto);
            advanced
        };
        if advanced {
            self.inner.wal.truncate(upto).await?;
        }
        Ok(())
    }

    /// Applies retention and compaction to every table: rows older than the table's magnetic-store retention
    /// (as of `now_ns`) are deleted, and small files are merged.
    pub async fn maintain(&self, now_ns: i64) -> Result<()> {
        let tables: Vec<_> = lock(&self.inner.tables)
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        for (id, state) in tables {
            let Some(record) = self.inner.meta.table_by_id(&id).await? else {
                continue;
            };
            let cutoff =
                now_ns.saturating_sub(record.magnetic_store_days.saturating_mul(24 * NS_PER_HOUR));
            self.compact_table(&state, cutoff).await?;
        }
        self.collect_garbage().await
    }

    /// Runs persistence, retention and compaction in the background until the returned handle is aborted.
    pub fn start_background(
        &self,
        clock: Arc<dyn freshet_core::Clock>,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(this.inner.config.tick).await;
                if let Err(e) = this.persist(false).await {
                    tracing::error!(error = %e, "background persistence failed; will retry");
                }
                if let Err(e) = this.maintain(clock.now_nanos()).await {
                    tracing::error!(error = %e, "background compaction failed; will retry");
                }
            }
        })
    }
}

/// Where an accepted record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Memory,
    Magnetic,
}

/// Above this many contested ranges, they are merged into one covering range (a larger contested range is always
/// correct, only slower).
const MAX_CONTESTED_RANGES: usize = 64;

/// The inclusive time ranges covered by two or more of `ranges` (each inclusive), sorted and disjoint.
fn contested_ranges(ranges: &[(i64, i64)]) -> Vec<(i64, i64)> {
    // Sweep over half-open ends: +1 where a range starts, -1 after it ends.
    let mut events: Vec<(i128, i32)> = ranges
        .iter()
        .flat_map(|&(lo, hi)| [(i128::from(lo), 1), (i128::from(hi) + 1, -1)])
        .collect();
    events.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::new();
    let mut depth = 0;
    let mut start = 0i128;
    let mut i = 0;
    while i < events.len() {
        let at = events[i].0;
        let before = depth;
        while i < events.len() && events[i].0 == at {
            depth += events[i].1;
            i += 1;
        }
        if before < 2 && depth >= 2 {
            start = at;
        } else if before >= 2 && depth < 2 {
            // Both ends came from i64 values, so they fit back.
            let (lo, hi) = (start as i64, (at - 1) as i64);
            match out.last_mut() {
                Some(last) if last.1.checked_add(1) == Some(lo) => last.1 = hi,
                _ => out.push((lo, hi)),
            }
        }
    }
    if out.len() > MAX_CONTESTED_RANGES {
        let (lo, hi) = (out[0].0, out[out.len() - 1].1);
        out = vec![(lo, hi)];
    }
    out
}

fn format_ns(ns: i64) -> String {
    format!("{}Z", freshet_core::Civil::from_nanos(ns).format('T'))
}

/// Which store a record's time falls in, or why it falls in none.
fn window(table: &TableRecord, time: i64, now: i64) -> Result<Store, String> {
    let memory_start = now.saturating_sub(table.memory_store_hours.saturating_mul(NS_PER_HOUR));
    let end = now.saturating_add(FUTURE_WINDOW_NS);
    if time > end {
        return Err(format!(
            "The record timestamp {} is more than 15 minutes in the future (the ingestion window ends at {}).",
            format_ns(time),
            format_ns(end)
        ));
    }
    if time >= memory_start {
        return Ok(Store::Memory);
    }
    let magnetic_start =
        now.saturating_sub(table.magnetic_store_days.saturating_mul(24 * NS_PER_HOUR));
    if table.magnetic_store_write.enabled && time >= magnetic_start {
        return Ok(Store::Magnetic);
    }
    let start = if table.magnetic_store_write.enabled {
        magnetic_start
    } else {
        memory_start
    };
    Err(format!(
        "The record timestamp {} is outside the time range [{}, {}] of the table's {}.",
        format_ns(time),
        format_ns(start),
        format_ns(end),
        if table.magnetic_store_write.enabled {
            "magnetic store retention"
        } else {
            "memory store retention; enable magnetic store writes to write older records"
        }
    ))
}

/// The reason to reject a record with a `REQUIRED` partition-key dimension it does not have.
fn required_dimension(table: &TableRecord, row: &WriteRow) -> Option<String> {
    let key = table.partition_keys.first()?;
    if key.kind != "DIMENSION" || key.enforcement.as_deref() != Some("REQUIRED") {
        return None;
    }
    let name = key.name.as_deref()?;
    if row.dimensions.iter().any(|(d, _)| d == name) {
        return None;
    }
    Some(format!(
        "The record is missing the dimension {name}, which the table's composite partition key requires \
         (EnforcementInRecord is REQUIRED)."
    ))
}

/// AWS's rule: a higher version replaces; the same or a lower version is refused unless the values are identical.
fn conflict(row: &WriteRow, existing_version: i64, existing: &Measures) -> Option<String> {
    if row.version > existing_version || row.measures == *existing {
        return None;
    }
    if row.version == existing_version {
        Some(
            "A record already exists with the same time, dimensions, measure name, and record version. A higher \
             record version must be specified in order to update the measure value. Specifying record version is \
             supported by the latest SDKs."
                .to_owned(),
        )
    } else {
        Some(format!(
            "The record version {} is lower than the existing version {existing_version}. A higher version is \
             required to update the measure value.",
            row.version
        ))
    }
}

/// A key to look up in data files.
pub(crate) type FileKey = (SeriesKey, i64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contested_ranges_are_where_sources_overlap() {
        assert_eq!(contested_ranges(&[(0, 10), (20, 30)]), vec![]);
        assert_eq!(contested_ranges(&[(0, 10), (10, 30)]), vec![(10, 10)]);
        assert_eq!(
            contested_ranges(&[(0, 10), (5, 30), (25, 40), (50, 60)]),
            vec![(5, 10), (25, 30)]
        );
        // Three sources over one stretch, and ranges that touch merge.
        assert_eq!(
            contested_ranges(&[(0, 10), (0, 10), (0, 20), (11, 20)]),
            vec![(0, 20)]
        );
        assert_eq!(
            contested_ranges(&[(i64::MIN, i64::MAX), (i64::MAX, i64::MAX)]),
            vec![(i64::MAX, i64::MAX)]
        );
        let many: Vec<(i64, i64)> = (0..200)
            .flat_map(|i| [(i * 10, i * 10 + 5), (i * 10 + 5, i * 10 + 6)])
            .collect();
        assert_eq!(contested_ranges(&many), vec![(5, 1995)]);
    }

    #[test]
    fn timestamps_render_in_utc() {
        assert_eq!(format_ns(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            format_ns(1_655_487_883_771_000_678),
            "2022-06-17T17:44:43.771000678Z"
        );
        assert_eq!(format_ns(-1), "1969-12-31T23:59:59.999999999Z");
    }
}
