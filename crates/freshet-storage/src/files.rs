//! Data files: sorted Parquet files in the object store, one directory per table incarnation.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, TimestampNanosecondArray,
    new_null_array,
};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{
    DataType, Float64Type, Int32Type, Int64Type, Schema, SchemaRef, TimestampNanosecondType,
};
use bytes::Bytes;
use freshet_meta::FileRecord;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
    RowFilter,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::buffer::SeriesKey;
use crate::record::{Measures, ScalarType, Value};
use crate::schema::{
    MEASURE_NAME_COLUMN, MeasureKind, TIME_COLUMN, TableSchema, VERSION_COLUMN, value_column,
};
use crate::{FileKey, Result};

/// Where data files live: `tables/<table id>/<file id>.parquet`.
pub const TABLES_PREFIX: &str = "tables/";

pub fn table_prefix(table_id: &str) -> String {
    format!("{TABLES_PREFIX}{table_id}/")
}

/// The key, in a data file's metadata, of the dimension its rows are sorted by first, ascending with nulls last.
pub const SORTED_BY_KEY: &str = "freshet.sorted_by";

/// Writes a sorted batch as a new Parquet file and returns its record (not yet registered). `dimensions` are the
/// table's dimension columns, for the record's measure summary; `sorted_by` is the dimension the batch is sorted by
/// first ([`crate::TableSchema::lead_dimension`]), named in the file's metadata.
pub async fn write(
    objects: &Arc<dyn ObjectStore>,
    table_id: &str,
    batch: &RecordBatch,
    level: i64,
    shadows: bool,
    dimensions: &[String],
    sorted_by: Option<&str>,
) -> Result<FileRecord> {
    let times = times(batch)?;
    let min_time = arrow::compute::min(times).unwrap_or(0);
    let max_time = arrow::compute::max(times).unwrap_or(0);
    let rows = batch.num_rows() as i64;
    let (batch, dimensions) = (batch.clone(), dimensions.to_vec());
    let sorted_by = sorted_by.map(|d| KeyValue::new(SORTED_BY_KEY.to_owned(), d.to_owned()));
    let (bytes, measures) = tokio::task::spawn_blocking(move || -> Result<_> {
        // Batches in table schema always have `measure_name`; without it the summary is unknown, not an error.
        let measures = measure_dimensions(&batch, &dimensions).ok();
        let props = writer_properties(&batch.schema(), sorted_by);
        let mut out = Vec::new();
        let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props))?;
        w.write(&batch)?;
        w.close()?;
        Ok((out, measures))
    })
    .await
    .map_err(|e| arrow::error::ArrowError::ExternalError(Box::new(e)))??;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let path = format!("{}{id}.parquet", table_prefix(table_id));
    let size = bytes.len() as i64;
    objects
        .put(&Path::from(path.as_str()), Bytes::from(bytes).into())
        .await?;
    Ok(FileRecord {
        table_id: table_id.to_owned(),
        id,
        path,
        min_time,
        max_time,
        rows,
        bytes: size,
        level,
        created_ms: 0,
        shadows,
        measures,
    })
}

/// Strings as [`measure_dimensions`] takes them without a cast, and as [`read_measures`] reads them.
fn string_dictionary() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// For each measure name of a batch in table schema, the dimensions (in `dimensions`' order) that its rows have
/// values for.
pub fn measure_dimensions(
    batch: &RecordBatch,
    dimensions: &[String],
) -> Result<BTreeMap<String, Vec<String>>> {
    let names = batch.column_by_name(MEASURE_NAME_COLUMN).ok_or_else(|| {
        arrow::error::ArrowError::SchemaError("batch without a measure_name column".into())
    })?;
    // As a dictionary (files read for their summary already give one): runs compare keys, not strings.
    let names = if names.data_type() == &string_dictionary() {
        Arc::clone(names)
    } else {
        arrow::compute::cast(names, &string_dictionary())?
    };
    let names = names.as_dictionary::<Int32Type>();
    let (keys, values) = (names.keys(), names.values().as_string::<i32>());
    let key = |row: usize| keys.is_valid(row).then(|| keys.value(row));
    let columns: Vec<(&String, &ArrayRef)> = dimensions
        .iter()
        .filter_map(|d| Some((d, batch.column_by_name(d)?)))
        .collect();
    // Rows come sorted by series, so a measure's rows follow one another in runs: each run's dimensions are found
    // from the null counts of its slice of each column.
    let mut present: HashMap<&str, Vec<bool>> = HashMap::new();
    let mut from = 0;
    while from < batch.num_rows() {
        let k = key(from);
        let mut to = from + 1;
        while to < batch.num_rows() && key(to) == k {
            to += 1;
        }
        if let Some(k) = k {
            let flags = present
                .entry(values.value(k as usize))
                .or_insert_with(|| vec![false; columns.len()]);
            for (flag, (_, column)) in flags.iter_mut().zip(&columns) {
                *flag = *flag || column.slice(from, to - from).null_count() < to - from;
            }
        }
        from = to;
    }
    Ok(present
        .into_iter()
        .map(|(name, flags)| {
            let dims = columns
                .iter()
                .zip(flags)
                .filter(|(_, f)| *f)
                .map(|((d, _), _)| (*d).clone())
                .collect();
            (name.to_owned(), dims)
        })
        .collect())
}

/// Rows per data page, at most.
pub const DATA_PAGE_ROWS: usize = 8192;

/// Parquet settings for data files. Columns start dictionary-encoded (dimensions, measure names, versions and
/// low-cardinality values collapse to run-length encoded indexes on data sorted by series); when a column's
/// dictionary grows too large, doubles fall back to byte-stream-split and integers and timestamps to delta encoding.
/// `time` is delta-encoded from the start: a dictionary of times costs about two bytes a row, deltas less than one.
///
/// Strings are compressed with LZ4 (`LZ4_RAW`). Numbers and times are not compressed: on the query benchmark's
/// data, decompressing them took about a tenth of a full scan's CPU, and compression saved about a quarter of
/// their size (files 28% larger without it; 1.05 to 1.35 bytes per stored value on the benchmarks' data). zstd,
/// used before LZ4, cost a fifth of a scan's CPU.
fn writer_properties(schema: &SchemaRef, sorted_by: Option<KeyValue>) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_key_value_metadata(sorted_by.map(|kv| vec![kv]))
        .set_compression(Compression::LZ4_RAW)
        .set_max_row_group_row_count(Some(1 << 20))
        // Small pages let a query for a few series read only their pages: files are sorted by series, and the
        // page index holds each page's min and max.
        .set_data_page_row_count_limit(DATA_PAGE_ROWS);
    for field in schema.fields() {
        let fallback = match field.data_type() {
            DataType::Float64 => Encoding::BYTE_STREAM_SPLIT,
            DataType::Int64 | DataType::Timestamp(..) => Encoding::DELTA_BINARY_PACKED,
            _ => continue,
        };
        let column = ColumnPath::from(field.name().as_str());
        b = b
            .set_column_encoding(column.clone(), fallback)
            .set_column_compression(column.clone(), Compression::UNCOMPRESSED);
        if field.name() == TIME_COLUMN {
            b = b.set_column_dictionary_enabled(column, false);
        }
    }
    b.build()
}

pub async fn read(objects: &Arc<dyn ObjectStore>, path: &str) -> Result<Vec<RecordBatch>> {
    let bytes = objects.get(&Path::from(path)).await?.bytes().await?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?
        .with_batch_size(64 * 1024)
        .build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}

/// The measure summary of a stored file (see [`measure_dimensions`]), reading only its `measure_name` and dimension
/// columns: for files written before summaries were kept.
pub async fn read_measures(
    objects: &Arc<dyn ObjectStore>,
    path: &str,
    dimensions: &[String],
) -> Result<BTreeMap<String, Vec<String>>> {
    let bytes = objects.get(&Path::from(path)).await?.bytes().await?;
    let dimensions = dimensions.to_vec();
    tokio::task::spawn_blocking(move || -> Result<BTreeMap<String, Vec<String>>> {
        // Strings as dictionaries: only whether a value is there matters, and dictionary pages decode to keys
        // without copying each row's string.
        let metadata = ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::default())?;
        let as_dictionaries = Schema::new(
            metadata
                .schema()
                .fields()
                .iter()
                .map(|f| match f.data_type() {
                    DataType::Utf8 => {
                        Arc::new(f.as_ref().clone().with_data_type(string_dictionary()))
                    }
                    _ => Arc::clone(f),
                })
                .collect::<Vec<_>>(),
        );
        let options = ArrowReaderOptions::default().with_schema(Arc::new(as_dictionaries));
        let metadata = ArrowReaderMetadata::try_new(Arc::clone(metadata.metadata()), options)?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(bytes, metadata);
        let wanted =
            std::iter::once(MEASURE_NAME_COLUMN).chain(dimensions.iter().map(String::as_str));
        let mask = ProjectionMask::columns(builder.parquet_schema(), wanted);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(64 * 1024)
            .build()?;
        let mut summary: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for batch in reader {
            for (measure, dims) in measure_dimensions(&batch?, &dimensions)? {
                let known = summary.entry(measure).or_default();
                known.extend(dims);
                known.sort_by_key(|d| dimensions.iter().position(|x| x == d));
                known.dedup();
            }
        }
        Ok(summary)
    })
    .await
    .map_err(|e| arrow::error::ArrowError::ExternalError(Box::new(e)))?
}

/// The time column of a batch in table schema.
pub fn times(batch: &RecordBatch) -> Result<&TimestampNanosecondArray> {
    Ok(batch
        .column_by_name(TIME_COLUMN)
        .and_then(|c| c.as_any().downcast_ref::<TimestampNanosecondArray>())
        .ok_or_else(|| {
            arrow::error::ArrowError::SchemaError("batch without a time column".into())
        })?)
}

/// The smallest and largest time of a batch in table schema; `None` when it has no rows.
pub fn time_range(batch: &RecordBatch) -> Option<(i64, i64)> {
    let times = times(batch).ok()?;
    Some((arrow::compute::min(times)?, arrow::compute::max(times)?))
}

/// Which rows of a batch in table schema have a time inside one of `ranges` (inclusive).
pub fn time_mask(batch: &RecordBatch, ranges: &[(i64, i64)]) -> Result<BooleanArray> {
    Ok(times(batch)?
        .iter()
        .map(|t| Some(t.is_some_and(|t| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&t)))))
        .collect())
}

/// Reads only the rows of a file whose time falls in one of `ranges` (inclusive). The time column is decoded first
/// and the other columns only where it matches.
pub async fn read_where(
    objects: &Arc<dyn ObjectStore>,
    path: &str,
    ranges: &[(i64, i64)],
) -> Result<Vec<RecordBatch>> {
    let bytes = objects.get(&Path::from(path)).await?.bytes().await?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
    let time = ProjectionMask::columns(builder.parquet_schema(), [TIME_COLUMN]);
    let ranges = ranges.to_vec();
    let predicate = ArrowPredicateFn::new(time, move |batch| {
        time_mask(&batch, &ranges).map_err(|e| arrow::error::ArrowError::ExternalError(Box::new(e)))
    });
    let reader = builder
        .with_row_filter(RowFilter::new(vec![Box::new(predicate)]))
        .with_batch_size(64 * 1024)
        .build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}

/// Reshapes a batch to `schema`: columns by name, missing ones (or ones of another type) null, others dropped. Used
/// for files written with an older schema, and by queries planned before the table gained columns.
pub fn adapt(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema() == *schema {
        return Ok(batch.clone());
    }
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Arc::clone(c),
            _ => new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect();
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Deletes every object under a directory-like prefix (`tables/<id>/`).
pub async fn delete_prefix(objects: &Arc<dyn ObjectStore>, prefix: &str) -> Result<()> {
    for path in list(objects, prefix).await? {
        delete(objects, &path).await?;
    }
    Ok(())
}

/// Paths of the objects under a directory-like prefix.
pub async fn list(objects: &Arc<dyn ObjectStore>, prefix: &str) -> Result<Vec<String>> {
    let listed: Vec<_> = objects
        .list(Some(&Path::from(prefix)))
        .try_collect()
        .await?;
    Ok(listed.into_iter().map(|m| m.location.to_string()).collect())
}

/// Deletes one object; one that is already gone is fine.
pub async fn delete(objects: &Arc<dyn ObjectStore>, path: &str) -> Result<()> {
    match objects.delete(&Path::from(path)).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The series key of row `i` of a batch in table schema.
fn series_of(dims: &[(String, &StringArray)], names: &StringArray, i: usize) -> SeriesKey {
    let mut dimensions: Vec<(String, String)> = dims
        .iter()
        .filter(|(_, a)| a.is_valid(i))
        .map(|(n, a)| (n.clone(), a.value(i).to_owned()))
        .collect();
    dimensions.sort();
    SeriesKey {
        dimensions,
        measure_name: names.value(i).to_owned(),
    }
}

fn value_at(col: &ArrayRef, t: ScalarType, i: usize) -> Option<Value> {
    if col.is_null(i) {
        return None;
    }
    Some(match t {
        ScalarType::Double => Value::Double(col.as_primitive::<Float64Type>().value(i)),
        ScalarType::Bigint => Value::Bigint(col.as_primitive::<Int64Type>().value(i)),
        ScalarType::Varchar => Value::Varchar(col.as_string::<i32>().value(i).to_owned()),
        ScalarType::Boolean => Value::Boolean(col.as_boolean().value(i)),
        ScalarType::Timestamp => {
            Value::Timestamp(col.as_primitive::<TimestampNanosecondType>().value(i))
        }
    })
}

/// Reconstructs the measures of row `i` of a batch in table schema.
fn measures_at(
    batch: &RecordBatch,
    schema: &TableSchema,
    measure_name: &str,
    i: usize,
) -> Option<Measures> {
    match schema.measure(measure_name)? {
        MeasureKind::Single(t) => {
            value_at(batch.column_by_name(value_column(t))?, t, i).map(Measures::Single)
        }
        MeasureKind::Multi => {
            let mut m: Vec<(String, Value)> = schema
                .multi_measures()
                .iter()
                .filter_map(|(n, t)| Some((n.clone(), value_at(batch.column_by_name(n)?, *t, i)?)))
                .collect();
            m.sort_by(|a, b| a.0.cmp(&b.0));
            Some(Measures::Multi(m))
        }
    }
}

struct Columns<'a> {
    dims: Vec<(String, &'a StringArray)>,
    names: &'a StringArray,
    times: &'a TimestampNanosecondArray,
    versions: &'a arrow::array::Int64Array,
}

fn columns<'a>(batch: &'a RecordBatch, schema: &TableSchema) -> Option<Columns<'a>> {
    Some(Columns {
        dims: schema
            .dimensions()
            .iter()
            .filter_map(|d| {
                Some((
                    d.clone(),
                    batch
                        .column_by_name(d)?
                        .as_any()
                        .downcast_ref::<StringArray>()?,
                ))
            })
            .collect(),
        names: batch
            .column_by_name(MEASURE_NAME_COLUMN)?
            .as_any()
            .downcast_ref()?,
        times: batch.column_by_name(TIME_COLUMN)?.as_any().downcast_ref()?,
        versions: batch
            .column_by_name(VERSION_COLUMN)?
            .as_any()
            .downcast_ref()?,
    })
}

/// Finds the stored version and measures of `keys` in the data files that may hold them. File rows are read in the
/// table's current schema (`table`), which covers every column a file can have.
pub async fn lookup(
    objects: &Arc<dyn ObjectStore>,
    files: &[FileRecord],
    table: &TableSchema,
    keys: &[FileKey],
) -> Result<HashMap<FileKey, (i64, Measures)>> {
    let wanted: std::collections::HashSet<&FileKey> = keys.iter().collect();
    let times: std::collections::HashSet<i64> = keys.iter().map(|(_, t)| *t).collect();
    let schema = table.arrow_schema();
    let mut found: HashMap<FileKey, (i64, Measures)> = HashMap::new();
    for f in files {
        if !times.iter().any(|t| (f.min_time..=f.max_time).contains(t)) {
            continue;
        }
        for raw in read(objects, &f.path).await? {
            let batch = adapt(&raw, &schema)?;
            let Some(cols) = columns(&batch, table) else {
                continue;
            };
            for i in 0..batch.num_rows() {
                let t = cols.times.value(i);
                if !times.contains(&t) {
                    continue;
                }
                let key = (series_of(&cols.dims, cols.names, i), t);
                if !wanted.contains(&key) {
                    continue;
                }
                let version = cols.versions.value(i);
                if found.get(&key).is_some_and(|(v, _)| *v >= version) {
                    continue;
                }
                if let Some(m) = measures_at(&batch, table, &key.0.measure_name, i) {
                    found.insert(key, (version, m));
                }
            }
        }
    }
    Ok(found)
}

/// Keeps, for every (series, time), only the row with the highest version. Batches are all in `table`'s schema.
pub fn resolve_versions(
    table: &TableSchema,
    batches: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>> {
    let mut best: HashMap<(SeriesKey, i64), (usize, usize, i64)> = HashMap::new();
    for (b, batch) in batches.iter().enumerate() {
        let Some(cols) = columns(batch, table) else {
            continue;
        };
        for i in 0..batch.num_rows() {
            let key = (series_of(&cols.dims, cols.names, i), cols.times.value(i));
            let v = cols.versions.value(i);
            match best.get(&key) {
                Some((_, _, bv)) if *bv >= v => {}
                _ => {
                    best.insert(key, (b, i, v));
                }
            }
        }
    }
    let mut keep: Vec<Vec<bool>> = batches.iter().map(|b| vec![false; b.num_rows()]).collect();
    for (b, i, _) in best.into_values() {
        keep[b][i] = true;
    }
    batches
        .iter()
        .zip(keep)
        .map(|(batch, k)| Ok(filter_record_batch(batch, &BooleanArray::from(k))?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Float64Array;
    use arrow::datatypes::{Field, Schema, TimeUnit};
    use object_store::memory::InMemory;
    use parquet::basic::ZstdLevel;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                TIME_COLUMN,
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                false,
            ),
            Field::new("cpu", DataType::Float64, true),
        ]));
        let times = TimestampNanosecondArray::from_iter_values(0..1000);
        let values = Float64Array::from_iter_values((0..1000).map(|i| f64::from(i % 7)));
        RecordBatch::try_new(schema, vec![Arc::new(times), Arc::new(values)]).unwrap()
    }

    #[test]
    fn each_measure_lists_the_dimensions_its_rows_have() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("host", DataType::Utf8, true),
            Field::new("region", DataType::Utf8, true),
            Field::new("rack", DataType::Utf8, true),
            Field::new(MEASURE_NAME_COLUMN, DataType::Utf8, false),
        ]));
        let column = |v: &[Option<&str>]| Arc::new(StringArray::from(v.to_vec())) as ArrayRef;
        let b = RecordBatch::try_new(
            schema,
            vec![
                column(&[Some("a"), Some("a"), None, Some("b")]),
                column(&[None, None, Some("eu"), None]),
                column(&[None, None, None, None]),
                column(&[Some("cpu"), Some("cpu"), Some("mem"), Some("cpu")]),
            ],
        )
        .unwrap();
        let dims: Vec<String> = ["host", "region", "rack"].map(String::from).into();
        let found = measure_dimensions(&b, &dims).unwrap();
        let expected: BTreeMap<String, Vec<String>> = [
            ("cpu".to_owned(), vec!["host".to_owned()]),
            ("mem".to_owned(), vec!["region".to_owned()]),
        ]
        .into();
        assert_eq!(found, expected);
    }

    #[tokio::test]
    async fn numbers_are_stored_uncompressed_strings_with_lz4_and_older_zstd_files_still_read() {
        let objects: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let plain = batch();
        let mut fields = plain.schema().fields().to_vec();
        fields.push(Arc::new(Field::new("host", DataType::Utf8, true)));
        let mut columns = plain.columns().to_vec();
        columns.push(Arc::new(StringArray::from_iter_values(
            (0..1000).map(|i| format!("host-{}", i / 100)),
        )));
        let b = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let rec = write(&objects, "t", &b, 0, false, &[], None).await.unwrap();
        let bytes = objects
            .get(&Path::from(rec.path.as_str()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let meta = SerializedFileReader::new(bytes).unwrap().metadata().clone();
        let column = |name: &str| {
            meta.row_group(0)
                .columns()
                .iter()
                .find(|c| c.column_path().string() == name)
                .unwrap()
                .clone()
        };
        let (time, cpu, host) = (column(TIME_COLUMN), column("cpu"), column("host"));
        assert_eq!(time.compression(), Compression::UNCOMPRESSED);
        assert_eq!(cpu.compression(), Compression::UNCOMPRESSED);
        assert_eq!(host.compression(), Compression::LZ4_RAW);
        // Times are delta-encoded, never a dictionary; the others start as one.
        assert!(time.dictionary_page_offset().is_none());
        assert!(time.encodings().any(|e| e == Encoding::DELTA_BINARY_PACKED));
        assert!(cpu.dictionary_page_offset().is_some());
        assert!(host.dictionary_page_offset().is_some());
        assert_eq!(read(&objects, &rec.path).await.unwrap(), vec![b.clone()]);

        // A file written before LZ4 (zstd, as Freshet wrote them until 2026-11-23).
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap()))
            .build();
        let mut out = Vec::new();
        let mut w = ArrowWriter::try_new(&mut out, b.schema(), Some(props)).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
        objects
            .put(&Path::from("old.parquet"), Bytes::from(out).into())
            .await
            .unwrap();
        assert_eq!(read(&objects, "old.parquet").await.unwrap(), vec![b]);
    }
}
