//! A Timestream table as a DataFusion table provider. Its schema comes from the storage engine. A scan reads only the
//! buffered rows and data files whose time range can match the query's filters on `time`, and reads the files through
//! DataFusion's Parquet source: only the columns the query uses, skipping row groups and pages whose statistics cannot
//! match its filters (on dimensions and `measure_name` too), and filtering rows while decoding.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::config::TableParquetOptions;
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{
    Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown, col, lit,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::filter::FilterExecBuilder;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::union::UnionExec;
use datafusion_datasource_parquet::source::ParquetSource;
use datafusion_datasource_parquet::{CachedParquetFileReaderFactory, ParquetFileReaderFactory};
use freshet_meta::{FileRecord, TableRecord};
use freshet_storage::{SORTED_BY_KEY, Storage, TIME_COLUMN, VERSION_COLUMN};
use futures::future::BoxFuture;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};

use crate::file_cache::FileCache;
use crate::insights::Scanned;

/// How queries reach data files: the storage engine's object store, registered under one URL in the runtime that
/// every query shares, and a reader factory that caches Parquet footers across queries (file names never repeat)
/// and serves files kept in memory by the [`FileCache`].
#[derive(Debug, Clone)]
pub struct DataFiles {
    url: ObjectStoreUrl,
    readers: Arc<dyn ParquetFileReaderFactory>,
    cache: Arc<FileCache>,
}

impl DataFiles {
    pub fn register(env: &RuntimeEnv, storage: &Storage, cache: FileCache) -> Result<Self> {
        let url = ObjectStoreUrl::parse("freshet://data/")?;
        env.register_object_store(url.as_ref(), storage.objects());
        let cache = Arc::new(cache);
        let readers = Arc::new(Readers {
            footers: CachedParquetFileReaderFactory::new(
                storage.objects(),
                env.cache_manager.get_file_metadata_cache(),
            ),
            cache: Arc::clone(&cache),
        });
        Ok(Self {
            url,
            readers,
            cache,
        })
    }

    pub fn cache(&self) -> &FileCache {
        &self.cache
    }
}

/// Readers whose metadata always includes the page index, so that the footer cache keeps it too (DataFusion's opener
/// asks for the footer alone and loads the page index afterwards, outside the cache: every query would read and
/// parse it again), and whose data comes from the files kept in memory.
#[derive(Debug)]
struct Readers {
    footers: CachedParquetFileReaderFactory,
    cache: Arc<FileCache>,
}

impl ParquetFileReaderFactory for Readers {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> Result<Box<dyn AsyncFileReader + Send>> {
        let path = file.object_meta.location.to_string();
        let size = file.object_meta.size;
        let inner =
            self.footers
                .create_reader(partition_index, file, metadata_size_hint, metrics)?;
        Ok(Box::new(Reader {
            inner,
            path,
            size,
            cache: Arc::clone(&self.cache),
        }))
    }
}

struct Reader {
    inner: Box<dyn AsyncFileReader + Send>,
    path: String,
    size: u64,
    cache: Arc<FileCache>,
}

impl AsyncFileReader for Reader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        Box::pin(async move {
            let mut got = self.get_byte_ranges(vec![range]).await?;
            Ok(got.pop().unwrap_or_default())
        })
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        Box::pin(async move {
            let Self {
                inner,
                path,
                size,
                cache,
            } = self;
            let whole = async || inner.get_bytes(0..*size).await;
            match cache.ranges(path, *size, &ranges, whole).await {
                Some(got) => got,
                None => inner.get_byte_ranges(ranges).await,
            }
        })
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        let options = options
            .cloned()
            .unwrap_or_default()
            .with_page_index_policy(PageIndexPolicy::Optional);
        Box::pin(async move { self.inner.get_metadata(Some(&options)).await })
    }
}

#[derive(Debug)]
pub struct TimestreamTable {
    record: TableRecord,
    storage: Storage,
    files: DataFiles,
    /// The table's columns as the query sees them (without the hidden version column), strings as `Utf8View`:
    /// Parquet's dictionary-encoded strings decode to views without copying, and DataFusion groups views fastest.
    schema: SchemaRef,
    /// The same columns as the storage engine's batches have them (strings as `Utf8`).
    stored: SchemaRef,
    /// What the scans of the query read, shared by its tables.
    reads: Arc<Reads>,
}

/// What the scans of one query read.
#[derive(Debug)]
pub struct Reads {
    /// Bytes of table data: the data files' sizes and the in-memory rows' Arrow sizes.
    bytes: AtomicU64,
    /// Each scan's snapshot; `None` once a scan has read rows held in memory.
    scans: Mutex<Option<Vec<Read>>>,
    /// What each scan read, for `QueryInsights`.
    scanned: Mutex<Vec<Scanned>>,
}

/// The snapshot one scan read: its table, time range, data files and contested ranges, without rows in memory. A
/// physical plan holds the files it reads, so it can run again only while a new scan would read the same snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    table: String,
    range: TimeRange,
    files: Vec<String>,
    contested: Vec<(i64, i64)>,
    /// The bytes it counted as scanned.
    bytes: u64,
    scanned: Scanned,
}

impl Read {
    /// The id of the table it read.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// How many data files it read.
    pub fn files(&self) -> usize {
        self.files.len()
    }
}

impl Reads {
    pub fn new() -> Self {
        Self {
            bytes: AtomicU64::new(0),
            scans: Mutex::new(Some(Vec::new())),
            scanned: Mutex::default(),
        }
    }

    /// What each scan read.
    pub fn scanned(&self) -> Vec<Scanned> {
        self.scanned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The snapshots the query's scans read, if none read rows in memory.
    pub fn snapshots(&self) -> Option<Vec<Read>> {
        self.scans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn record(&self, read: Option<Read>, scanned: Scanned) {
        self.scanned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(scanned);
        let mut scans = self.scans.lock().unwrap_or_else(PoisonError::into_inner);
        match (read, scans.as_mut()) {
            (Some(read), Some(scans)) => scans.push(read),
            (None, _) => *scans = None,
            (Some(_), None) => {}
        }
    }
}

impl TimestreamTable {
    pub async fn new(
        record: TableRecord,
        storage: Storage,
        files: DataFiles,
        reads: Arc<Reads>,
    ) -> Result<Self, freshet_storage::Error> {
        let full = storage.schema(&record.id).await?.arrow_schema();
        let keep: Vec<usize> = (0..full.fields().len())
            .filter(|&i| full.field(i).name() != VERSION_COLUMN)
            .collect();
        let stored = Arc::new(full.project(&keep)?);
        let schema = Arc::new(Schema::new(
            stored
                .fields()
                .iter()
                .map(|f| match f.data_type() {
                    DataType::Utf8 => {
                        Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View))
                    }
                    _ => Arc::clone(f),
                })
                .collect::<Vec<_>>(),
        ));
        Ok(Self {
            record,
            storage,
            files,
            schema,
            stored,
            reads,
        })
    }

    /// Whether a scan of this table (the one `read` read) now would read exactly what `read` did, with no rows in
    /// memory.
    pub async fn reads_again(&self, read: &Read) -> Result<bool> {
        let now = self
            .storage
            .scan(&self.record, read.range.from, read.range.to)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(now.batches.iter().all(|b| b.num_rows() == 0)
            && now.contested == read.contested
            && now.files.len() == read.files.len()
            && now.files.iter().zip(&read.files).all(|(f, p)| f.path == *p))
    }

    /// Counts `read` as read by this query: the kept physical plan that holds it is about to run.
    pub fn count(&self, read: &Read) {
        self.reads.bytes.fetch_add(read.bytes, Ordering::Relaxed);
        self.reads.record(Some(read.clone()), read.scanned.clone());
    }

    /// The table's id: a table dropped and created again under its name has another.
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// About how many rows a scan with these filters reads: see `Storage::estimate_rows`.
    pub async fn estimated_rows(&self, filters: &[Expr]) -> Result<u64> {
        let range = TimeRange::of(filters);
        self.storage
            .estimate_rows(&self.record, range.from, range.to)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))
    }

    /// The dimension each of `files` is sorted by first, as its metadata names it (`None` for a file that names
    /// none). Reads their footers, all at once, through the cache that the scan reads them from.
    async fn sorted_by(&self, files: &[FileRecord]) -> Result<Vec<Option<String>>> {
        let metrics = ExecutionPlanMetricsSet::new();
        let leads = files.iter().map(|f| {
            let reader = self
                .files
                .readers
                .create_reader(0, partitioned(f), None, &metrics);
            async move {
                let metadata = reader?.get_metadata(None).await?;
                Ok::<_, DataFusionError>(
                    metadata
                        .file_metadata()
                        .key_value_metadata()
                        .and_then(|kv| kv.iter().find(|kv| kv.key == SORTED_BY_KEY))
                        .and_then(|kv| kv.value.clone()),
                )
            }
        });
        futures::future::try_join_all(leads).await
    }

    /// A batch of the storage engine in the query's schema: missing columns null, strings as views.
    fn in_query_schema(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let stored = freshet_storage::adapt(batch, &self.stored)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let columns = stored
            .columns()
            .iter()
            .zip(self.schema.fields())
            .map(|(c, f)| match c.data_type() == f.data_type() {
                true => Ok(Arc::clone(c)),
                false => cast(c, f.data_type()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }

    /// Reads `files` with DataFusion's Parquet source. Rows in `contested` time ranges are skipped (the storage
    /// engine has already resolved them into the in-memory rows).
    fn file_scan(
        &self,
        state: &dyn Session,
        files: &[FileRecord],
        contested: &[(i64, i64)],
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
        sorted_by: &[Option<String>],
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // The query's filters reach the Parquet source through DataFusion's own filter pushdown (the FilterExec it
        // keeps above this scan is pushed into it), where they prune row groups and pages and filter rows while
        // decoding.
        let mut options = TableParquetOptions::default();
        options.global.pushdown_filters = true;
        options.global.schema_force_view_types = true;
        options.global.reorder_filters = true;
        // Freshet writes no bloom filters (`freshet_storage::files`): looking for them costs about 75 µs a file.
        options.global.bloom_filter_on_read = false;
        let source = ParquetSource::new(Arc::clone(&self.schema))
            .with_table_parquet_options(options)
            .with_parquet_file_reader_factory(Arc::clone(&self.files.readers));

        // Skipping contested rows needs `time` even when the query does not.
        let time = self.schema.index_of(TIME_COLUMN)?;
        let (read, keep) = match projection {
            Some(p) if !contested.is_empty() && !p.contains(&time) => {
                let mut read = p.clone();
                read.push(time);
                (Some(read), Some((0..p.len()).collect::<Vec<_>>()))
            }
            Some(p) => (Some(p.clone()), None),
            None => (None, None),
        };
        let config = FileScanConfigBuilder::new(self.files.url.clone(), Arc::new(source))
            .with_file_groups(file_groups(
                files,
                sorted_by,
                state.config().target_partitions(),
            ))
            .with_projection_indices(read.clone())?
            .with_limit(limit.filter(|_| contested.is_empty()))
            .build();
        let scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
        if contested.is_empty() {
            return Ok(scan);
        }
        let outside = contested
            .iter()
            .map(|(lo, hi)| col(TIME_COLUMN).not_between(timestamp(*lo), timestamp(*hi)))
            .reduce(Expr::and)
            .unwrap_or(lit(true));
        let scanned_schema = DFSchema::try_from(scan.schema())?;
        let outside = state.create_physical_expr(outside, &scanned_schema)?;
        Ok(Arc::new(
            FilterExecBuilder::new(outside, scan)
                .apply_projection(keep)?
                .build()?,
        ))
    }
}

fn timestamp(ns: i64) -> Expr {
    lit(ScalarValue::TimestampNanosecond(Some(ns), None))
}

fn partitioned(f: &FileRecord) -> PartitionedFile {
    PartitionedFile::new(f.path.clone(), f.bytes.max(0) as u64)
}

/// The most data files a scan may read in their own order, each as a partition of its own (`sorted.rs`):
/// compaction keeps a table's files few.
const MAX_SORTED_FILES: usize = 16;

/// The dimension a data file is sorted by first, ascending with nulls last (`freshet_storage::SORTED_BY_KEY`), on
/// its `PartitionedFile`: a sort that starts with it may read each file as a partition of its own (`sorted.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SortedBy(pub String);

/// Spreads files over `partitions` groups of about equal bytes, so that they are read in parallel. `sorted_by` holds
/// what each file is sorted by, when known.
fn file_groups(
    files: &[FileRecord],
    sorted_by: &[Option<String>],
    partitions: usize,
) -> Vec<FileGroup> {
    let mut sorted: Vec<(&FileRecord, Option<&String>)> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f, sorted_by.get(i).and_then(Option::as_ref)))
        .collect();
    sorted.sort_by_key(|(f, _)| std::cmp::Reverse(f.bytes));
    let mut groups: Vec<(i64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); partitions.max(1)];
    for (f, lead) in sorted {
        let Some(smallest) = groups.iter_mut().min_by_key(|g| g.0) else {
            break;
        };
        smallest.0 += f.bytes;
        smallest.1.push(match lead {
            Some(lead) => partitioned(f).with_extension(SortedBy(lead.clone())),
            None => partitioned(f),
        });
    }
    groups
        .into_iter()
        .filter(|g| !g.1.is_empty())
        .map(|g| FileGroup::new(g.1))
        .collect()
}

#[async_trait]
impl TableProvider for TimestreamTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Filters narrow what is read; DataFusion still applies every filter to the rows.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let range = TimeRange::of(filters);
        let snapshot = self
            .storage
            .scan(&self.record, range.from, range.to)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let batches = snapshot
            .batches
            .iter()
            .map(|b| self.in_query_schema(b))
            .collect::<Result<Vec<_>>>()?;
        let memory: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        let stored = snapshot.files.iter().map(|f| f.bytes).sum::<i64>().max(0) as u64;
        self.reads
            .bytes
            .fetch_add(memory as u64 + stored, Ordering::Relaxed);
        let in_memory = batches.iter().any(|b| b.num_rows() > 0);
        let scanned = Scanned::new(&self.record, range.from, range.to, filters);
        let read = (!in_memory).then(|| Read {
            table: self.record.id.clone(),
            range,
            files: snapshot.files.iter().map(|f| f.path.clone()).collect(),
            contested: snapshot.contested.clone(),
            bytes: memory as u64 + stored,
            scanned: scanned.clone(),
        });
        self.reads.record(read, scanned);

        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        if !batches.is_empty() {
            inputs.push(MemorySourceConfig::try_new_exec(
                &[batches],
                Arc::clone(&self.schema),
                projection.cloned(),
            )?);
        }
        if !snapshot.files.is_empty() {
            // Only a scan without rows in memory can read its files in their order (`sorted.rs`).
            let sorted_by = if inputs.is_empty() && snapshot.files.len() <= MAX_SORTED_FILES {
                self.sorted_by(&snapshot.files).await?
            } else {
                Vec::new()
            };
            inputs.push(self.file_scan(
                state,
                &snapshot.files,
                &snapshot.contested,
                projection,
                limit,
                &sorted_by,
            )?);
        }
        if inputs.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        UnionExec::try_new(inputs)
    }
}

/// Inclusive bounds on `time` in nanoseconds implied by a conjunction of filters; `None` is unbounded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct TimeRange {
    from: Option<i64>,
    to: Option<i64>,
}

impl TimeRange {
    /// The bounds a conjunction of filters puts on `time`.
    fn of(filters: &[Expr]) -> Self {
        let mut range = Self::default();
        for f in filters {
            range.narrow(f);
        }
        range
    }

    fn at_least(&mut self, ns: i64) {
        self.from = Some(self.from.map_or(ns, |f| f.max(ns)));
    }

    fn at_most(&mut self, ns: i64) {
        self.to = Some(self.to.map_or(ns, |t| t.min(ns)));
    }

    /// Narrows the range by what `filter` requires of `time`. Anything it does not understand leaves it unchanged,
    /// which is always safe: the filter is applied to the rows afterwards.
    fn narrow(&mut self, filter: &Expr) {
        match filter {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::And,
                right,
            }) => {
                self.narrow(left);
                self.narrow(right);
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (op, value) = match (is_time(left), is_time(right)) {
                    (true, false) => (*op, nanos(right)),
                    (false, true) => match op.swap() {
                        Some(op) => (op, nanos(left)),
                        None => return,
                    },
                    _ => return,
                };
                let Some(ns) = value else { return };
                match op {
                    Operator::Gt | Operator::GtEq => self.at_least(ns),
                    Operator::Lt | Operator::LtEq => self.at_most(ns),
                    Operator::Eq => {
                        self.at_least(ns);
                        self.at_most(ns);
                    }
                    _ => {}
                }
            }
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) if is_time(expr) => {
                if let Some(ns) = nanos(low) {
                    self.at_least(ns);
                }
                if let Some(ns) = nanos(high) {
                    self.at_most(ns);
                }
            }
            _ => {}
        }
    }
}

fn is_time(e: &Expr) -> bool {
    matches!(e, Expr::Column(c) if c.name == TIME_COLUMN)
}

/// A timestamp literal in nanoseconds.
fn nanos(e: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = e else {
        return None;
    };
    match value {
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(v.saturating_mul(1_000)),
        ScalarValue::TimestampMillisecond(Some(v), _) => Some(v.saturating_mul(1_000_000)),
        ScalarValue::TimestampSecond(Some(v), _) => Some(v.saturating_mul(1_000_000_000)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ns: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(Some(ns), None))
    }

    fn range(filters: &[Expr]) -> TimeRange {
        let mut r = TimeRange::default();
        filters.iter().for_each(|f| r.narrow(f));
        r
    }

    #[test]
    fn time_filters_narrow_the_range() {
        let time = || col(TIME_COLUMN);
        assert_eq!(
            range(&[time().gt_eq(ts(10)), time().lt(ts(20))]),
            TimeRange {
                from: Some(10),
                to: Some(20)
            }
        );
        // Literal on the left, a conjunction in one filter, and BETWEEN.
        assert_eq!(
            range(&[ts(15).lt_eq(time()).and(time().between(ts(5), ts(30)))]),
            TimeRange {
                from: Some(15),
                to: Some(30)
            }
        );
        assert_eq!(
            range(&[time().eq(lit(ScalarValue::TimestampMillisecond(Some(7), None)))]),
            TimeRange {
                from: Some(7_000_000),
                to: Some(7_000_000)
            }
        );
    }

    #[test]
    fn other_filters_leave_the_range_open() {
        let time = || col(TIME_COLUMN);
        let open = TimeRange::default();
        assert_eq!(range(&[time().gt(ts(1)).or(time().lt(ts(0)))]), open);
        assert_eq!(range(&[time().not_between(ts(1), ts(2))]), open);
        assert_eq!(range(&[col("host").gt_eq(ts(1))]), open);
        assert_eq!(range(&[time().not_eq(ts(1))]), open);
        assert_eq!(range(&[time().gt_eq(lit(5i64))]), open);
    }
}
