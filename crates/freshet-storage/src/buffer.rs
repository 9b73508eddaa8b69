//! The write buffer of one table, in columnar form: every row is a slot in typed column vectors (series id, time,
//! version, and one vector per measure column with a validity mask), with an index from (series, time) to the slot
//! for upsert-by-version. Sorted Arrow batches for queries and persistence are gathered column by column.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringBuilder,
    TimestampNanosecondArray, new_null_array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::SchemaRef;

use crate::record::{Measures, ScalarType, Value, WriteRow};
use crate::schema::{MEASURE_NAME_COLUMN, TIME_COLUMN, TableSchema, VERSION_COLUMN, arrow_type};

/// A series: the dimensions (sorted by name) and the measure name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub dimensions: Vec<(String, String)>,
    pub measure_name: String,
}

/// A series' value of dimension `lead`.
fn lead_value<'a>(key: &'a SeriesKey, lead: Option<&str>) -> Option<&'a str> {
    let lead = lead?;
    key.dimensions
        .iter()
        .find(|(name, _)| name == lead)
        .map(|(_, v)| v.as_str())
}

/// Interns series keys of one table to small ids. Looking a key up allocates nothing.
#[derive(Debug, Default)]
pub struct Interner {
    keys: Vec<Arc<SeriesKey>>,
    ids: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl Interner {
    fn hash(&self, dimensions: &[(String, String)], measure_name: &str) -> u64 {
        self.hasher.hash_one((dimensions, measure_name))
    }

    pub fn intern(&mut self, dimensions: &[(String, String)], measure_name: &str) -> u32 {
        let hash = self.hash(dimensions, measure_name);
        let keys = &self.keys;
        if let Some(id) = self.ids.find(hash, |&id| {
            let k = &keys[id as usize];
            k.measure_name == measure_name && k.dimensions == dimensions
        }) {
            return *id;
        }
        let id = self.keys.len() as u32;
        self.keys.push(Arc::new(SeriesKey {
            dimensions: dimensions.to_vec(),
            measure_name: measure_name.to_owned(),
        }));
        let (keys, hasher) = (&self.keys, &self.hasher);
        self.ids.insert_unique(hash, id, |&id| {
            let k = &keys[id as usize];
            hasher.hash_one((k.dimensions.as_slice(), k.measure_name.as_str()))
        });
        id
    }

    pub fn key(&self, id: u32) -> &SeriesKey {
        &self.keys[id as usize]
    }

    /// Every interned key, by id.
    pub fn keys(&self) -> &[Arc<SeriesKey>] {
        &self.keys
    }
}

/// What applying a row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Inserted,
    Replaced,
    /// The stored row has a higher version, or is identical: nothing changed.
    Kept,
}

/// One measure column of the buffer. Slots past the end of `valid` are null; a null slot holds a default value.
#[derive(Debug, Clone)]
struct Column {
    ty: ScalarType,
    values: ColumnValues,
    valid: Vec<bool>,
}

#[derive(Debug, Clone)]
enum ColumnValues {
    Double(Vec<f64>),
    Bigint(Vec<i64>),
    Varchar(Vec<String>),
    Boolean(Vec<bool>),
    Timestamp(Vec<i64>),
}

impl Column {
    fn new(t: ScalarType) -> Self {
        let values = match t {
            ScalarType::Double => ColumnValues::Double(Vec::new()),
            ScalarType::Bigint => ColumnValues::Bigint(Vec::new()),
            ScalarType::Varchar => ColumnValues::Varchar(Vec::new()),
            ScalarType::Boolean => ColumnValues::Boolean(Vec::new()),
            ScalarType::Timestamp => ColumnValues::Timestamp(Vec::new()),
        };
        Self {
            ty: t,
            values,
            valid: Vec::new(),
        }
    }

    /// Stores `value` in `slot`, padding earlier slots with nulls. A value of another type is stored as null (the
    /// schema keeps one type per column, so this does not happen).
    fn set(&mut self, slot: usize, value: Value) {
        if self.valid.len() <= slot {
            self.valid.resize(slot + 1, false);
            match &mut self.values {
                ColumnValues::Double(v) => v.resize(slot + 1, 0.0),
                ColumnValues::Bigint(v) | ColumnValues::Timestamp(v) => v.resize(slot + 1, 0),
                ColumnValues::Varchar(v) => v.resize(slot + 1, String::new()),
                ColumnValues::Boolean(v) => v.resize(slot + 1, false),
            }
        }
        self.valid[slot] = match (&mut self.values, value) {
            (ColumnValues::Double(v), Value::Double(x)) => {
                v[slot] = x;
                true
            }
            (ColumnValues::Bigint(v), Value::Bigint(x))
            | (ColumnValues::Timestamp(v), Value::Timestamp(x)) => {
                v[slot] = x;
                true
            }
            (ColumnValues::Varchar(v), Value::Varchar(x)) => {
                v[slot] = x;
                true
            }
            (ColumnValues::Boolean(v), Value::Boolean(x)) => {
                v[slot] = x;
                true
            }
            _ => false,
        };
    }

    fn clear(&mut self, slot: usize) {
        if let Some(v) = self.valid.get_mut(slot) {
            *v = false;
        }
        if let ColumnValues::Varchar(v) = &mut self.values
            && let Some(s) = v.get_mut(slot)
        {
            *s = String::new();
        }
    }

    fn get(&self, slot: usize) -> Option<Value> {
        if !self.valid.get(slot).copied().unwrap_or(false) {
            return None;
        }
        Some(match &self.values {
            ColumnValues::Double(v) => Value::Double(v[slot]),
            ColumnValues::Bigint(v) => Value::Bigint(v[slot]),
            ColumnValues::Varchar(v) => Value::Varchar(v[slot].clone()),
            ColumnValues::Boolean(v) => Value::Boolean(v[slot]),
            ColumnValues::Timestamp(v) => Value::Timestamp(v[slot]),
        })
    }

    /// The Arrow array of the slots in `order`.
    fn gather(&self, order: &[u32]) -> ArrayRef {
        let nulls = NullBuffer::from_iter(
            order
                .iter()
                .map(|&i| self.valid.get(i as usize).copied().unwrap_or(false)),
        );
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        fn pick<T: Copy + Default>(v: &[T], order: &[u32]) -> Vec<T> {
            order
                .iter()
                .map(|&i| v.get(i as usize).copied().unwrap_or_default())
                .collect()
        }
        match &self.values {
            ColumnValues::Double(v) => Arc::new(Float64Array::new(pick(v, order).into(), nulls)),
            ColumnValues::Bigint(v) => Arc::new(Int64Array::new(pick(v, order).into(), nulls)),
            ColumnValues::Timestamp(v) => {
                Arc::new(TimestampNanosecondArray::new(pick(v, order).into(), nulls))
            }
            ColumnValues::Boolean(v) => Arc::new(BooleanArray::new(
                pick(v, order).into_iter().collect(),
                nulls,
            )),
            ColumnValues::Varchar(v) => {
                let mut b = StringBuilder::with_capacity(order.len(), order.len() * 8);
                for &i in order {
                    let i = i as usize;
                    if self.valid.get(i).copied().unwrap_or(false) {
                        b.append_value(&v[i]);
                    } else {
                        b.append_null();
                    }
                }
                Arc::new(b.finish())
            }
        }
    }
}

/// The rows of one buffer, column by column.
/// Maps of the hot path use hashbrown's default hasher (foldhash, randomly seeded per process), several times faster
/// than SipHash on these short keys.
type HashMap<K, V> = hashbrown::HashMap<K, V>;

#[derive(Debug, Clone, Default)]
pub struct Rows {
    index: HashMap<(u32, i64), u32>,
    series: Vec<u32>,
    times: Vec<i64>,
    versions: Vec<i64>,
    /// The `measure_value::<type>` columns of single-measure rows.
    singles: HashMap<ScalarType, Column>,
    /// The columns of multi-measure values, by measure name.
    multi: HashMap<String, Column>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Each row's series id.
    pub fn series(&self) -> &[u32] {
        &self.series
    }

    pub fn contains(&self, series: u32, time: i64) -> bool {
        self.index.contains_key(&(series, time))
    }

    /// The stored version and measures of a key.
    pub fn get(&self, series: u32, time: i64) -> Option<(i64, Measures)> {
        let slot = *self.index.get(&(series, time))? as usize;
        let measures = match self.singles.values().find_map(|c| c.get(slot)) {
            Some(v) => Measures::Single(v),
            None => {
                let mut m: Vec<(String, Value)> = self
                    .multi
                    .iter()
                    .filter_map(|(n, c)| Some((n.clone(), c.get(slot)?)))
                    .collect();
                m.sort_by(|a, b| a.0.cmp(&b.0));
                Measures::Multi(m)
            }
        };
        Some((self.versions[slot], measures))
    }

    /// Upsert with "the higher version wins"; the outcome does not depend on the order rows arrive in.
    pub fn apply(&mut self, series: u32, row: WriteRow) -> Applied {
        let (slot, applied) = match self.index.get(&(series, row.time)) {
            Some(&slot) => {
                let slot = slot as usize;
                if self.versions[slot] >= row.version {
                    return Applied::Kept;
                }
                self.versions[slot] = row.version;
                for c in self.singles.values_mut().chain(self.multi.values_mut()) {
                    c.clear(slot);
                }
                (slot, Applied::Replaced)
            }
            None => {
                let slot = self.series.len();
                self.index.insert((series, row.time), slot as u32);
                self.series.push(series);
                self.times.push(row.time);
                self.versions.push(row.version);
                (slot, Applied::Inserted)
            }
        };
        match row.measures {
            Measures::Single(v) => self
                .singles
                .entry(v.scalar_type())
                .or_insert_with(|| Column::new(v.scalar_type()))
                .set(slot, v),
            Measures::Multi(m) => {
                for (name, v) in m {
                    match self.multi.get_mut(&name) {
                        Some(c) => c.set(slot, v),
                        None => {
                            let mut c = Column::new(v.scalar_type());
                            c.set(slot, v);
                            self.multi.insert(name, c);
                        }
                    }
                }
            }
        }
        applied
    }

    /// The slots whose time passes `keep`, sorted by series (the value of `lead`, the partition key's dimension,
    /// first, then the series key) and time.
    fn sorted_slots(
        &self,
        keys: &[Arc<SeriesKey>],
        lead: Option<&str>,
        keep: impl Fn(i64) -> bool,
    ) -> Vec<u32> {
        // Rank the series present by their keys once, then sort slots by (rank, time) as plain integers.
        let mut present = vec![false; keys.len()];
        for &s in &self.series {
            present[s as usize] = true;
        }
        let mut ids: Vec<u32> = (0..keys.len() as u32)
            .filter(|&s| present[s as usize])
            .collect();
        // The lead value ascending with nulls last, as `compact::sort_rows` sorts.
        ids.sort_unstable_by(|&a, &b| {
            let (a, b) = (&keys[a as usize], &keys[b as usize]);
            let (la, lb) = (lead_value(a, lead), lead_value(b, lead));
            (la.is_none(), la)
                .cmp(&(lb.is_none(), lb))
                .then_with(|| a.cmp(b))
        });
        let mut rank = vec![0u32; keys.len()];
        for (r, &id) in ids.iter().enumerate() {
            rank[id as usize] = r as u32;
        }
        let mut order: Vec<u32> = (0..self.len() as u32)
            .filter(|&i| keep(self.times[i as usize]))
            .collect();
        order.sort_unstable_by_key(|&i| {
            let i = i as usize;
            (rank[self.series[i] as usize], self.times[i])
        });
        order
    }

    /// Per series: its earliest and latest time.
    pub fn time_ranges(&self) -> std::collections::HashMap<u32, (i64, i64)> {
        let mut ranges = std::collections::HashMap::new();
        for (&s, &t) in self.series.iter().zip(&self.times) {
            let r = ranges.entry(s).or_insert((t, t));
            r.0 = r.0.min(t);
            r.1 = r.1.max(t);
        }
        ranges
    }

    /// One Arrow batch of the rows whose time passes `keep`, sorted by series then time, with columns following
    /// `schema`; `None` when no row passes. `keys` are the table's interned series keys.
    pub fn to_batch(
        &self,
        schema: &TableSchema,
        arrow_schema: &SchemaRef,
        keys: &[Arc<SeriesKey>],
        keep: impl Fn(i64) -> bool,
    ) -> Result<Option<RecordBatch>, arrow::error::ArrowError> {
        let order = self.sorted_slots(keys, schema.partition_dimension(), keep);
        if order.is_empty() {
            return Ok(None);
        }
        let n = order.len();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(arrow_schema.fields().len());
        for dim in schema.dimensions() {
            // Rows come grouped by series, so each series' value of this dimension is looked up once per run.
            let mut last: Option<(u32, Option<&str>)> = None;
            let mut b = StringBuilder::with_capacity(n, n * 8);
            for &i in &order {
                let s = self.series[i as usize];
                let v = match last {
                    Some((ls, v)) if ls == s => v,
                    _ => {
                        let key = &keys[s as usize];
                        let v = key
                            .dimensions
                            .binary_search_by(|(k, _)| k.as_str().cmp(dim))
                            .ok()
                            .map(|p| key.dimensions[p].1.as_str());
                        last = Some((s, v));
                        v
                    }
                };
                b.append_option(v);
            }
            columns.push(Arc::new(b.finish()));
        }
        let mut names = StringBuilder::with_capacity(n, n * 8);
        for &i in &order {
            names.append_value(&keys[self.series[i as usize] as usize].measure_name);
        }
        columns.push(Arc::new(names.finish()));
        let times: Vec<i64> = order.iter().map(|&i| self.times[i as usize]).collect();
        columns.push(Arc::new(TimestampNanosecondArray::new(times.into(), None)));
        let missing = |t: ScalarType| new_null_array(&arrow_type(t), n);
        for t in schema.single_types() {
            columns.push(
                self.singles
                    .get(&t)
                    .map_or_else(|| missing(t), |c| c.gather(&order)),
            );
        }
        for (name, t) in schema.multi_measures() {
            columns.push(match self.multi.get(name) {
                Some(c) if c.ty == *t => c.gather(&order),
                _ => missing(*t),
            });
        }
        let versions: Vec<i64> = order.iter().map(|&i| self.versions[i as usize]).collect();
        columns.push(Arc::new(Int64Array::new(versions.into(), None)));
        debug_assert_eq!(
            arrow_schema.field(arrow_schema.fields().len() - 1).name(),
            VERSION_COLUMN
        );
        debug_assert!(
            arrow_schema.index_of(MEASURE_NAME_COLUMN).is_ok()
                && arrow_schema.index_of(TIME_COLUMN).is_ok()
        );
        RecordBatch::try_new(Arc::clone(arrow_schema), columns).map(Some)
    }
}

/// Rows of one table not yet in a data file, with the bookkeeping of persistence. Once frozen, `rows` is shared
/// (never written again) so that persistence and queries can read it without holding the table's lock.
#[derive(Debug)]
pub struct Buffer {
    pub generation: u64,
    pub rows: Arc<Rows>,
    pub bytes: usize,
    pub created: Instant,
    /// WAL sequence numbers of the entries applied here.
    pub min_seq: Option<u64>,
    pub max_seq: u64,
    /// Writes applied here whose WAL append has not finished.
    pub pending: usize,
    /// Some row here replaced (or may duplicate) a key stored in another buffer or a file.
    pub shadows: bool,
}

impl Buffer {
    pub fn new(generation: u64) -> Self {
        Self {
            generation,
            rows: Arc::default(),
            bytes: 0,
            created: Instant::now(),
            min_seq: None,
            max_seq: 0,
            pending: 0,
            shadows: false,
        }
    }

    /// Applies a row to the active buffer (see [`Rows::apply`]).
    pub fn apply(&mut self, series: u32, row: WriteRow) -> Applied {
        let bytes = row.approx_bytes();
        let applied = Arc::make_mut(&mut self.rows).apply(series, row);
        if applied == Applied::Inserted {
            self.bytes += bytes;
        }
        applied
    }

    pub fn note_seq(&mut self, seq: u64) {
        self.min_seq = Some(self.min_seq.map_or(seq, |m| m.min(seq)));
        self.max_seq = self.max_seq.max(seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn row(time: i64, version: i64, value: f64) -> WriteRow {
        WriteRow {
            dimensions: vec![("host".into(), "a".into())],
            measure_name: "cpu".into(),
            time,
            version,
            measures: Measures::Single(Value::Double(value)),
        }
    }

    fn contents(r: &Rows) -> Vec<(i64, i64, Measures)> {
        let mut out: Vec<_> = r
            .index
            .keys()
            .map(|&(s, t)| {
                let (v, m) = r.get(s, t).expect("indexed");
                (t, v, m)
            })
            .collect();
        out.sort_by_key(|(t, v, _)| (*t, *v));
        out
    }

    proptest! {
        /// Upsert resolution is order-independent for distinct versions: any arrival order ends with the same rows.
        #[test]
        fn upsert_resolution_is_order_independent(
            writes in proptest::collection::vec((0i64..5, 0.0f64..10.0), 1..20),
            seed in any::<u64>(),
        ) {
            let rows: Vec<WriteRow> = writes.iter().enumerate().map(|(i, (t, v))| row(*t, i as i64 + 1, *v)).collect();
            let mut shuffled = rows.clone();
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let mut a = Buffer::new(0);
            let mut b = Buffer::new(0);
            rows.into_iter().for_each(|r| { a.apply(0, r); });
            shuffled.into_iter().for_each(|r| { b.apply(0, r); });
            prop_assert_eq!(contents(&a.rows), contents(&b.rows));
        }
    }

    #[test]
    fn higher_versions_replace_and_others_are_kept() {
        let mut b = Buffer::new(0);
        assert_eq!(b.apply(0, row(1, 1, 1.0)), Applied::Inserted);
        assert_eq!(b.apply(0, row(1, 1, 1.0)), Applied::Kept);
        assert_eq!(b.apply(0, row(1, 3, 2.0)), Applied::Replaced);
        assert_eq!(b.apply(0, row(1, 2, 9.0)), Applied::Kept);
        assert_eq!(
            b.rows.get(0, 1),
            Some((3, Measures::Single(Value::Double(2.0))))
        );
    }

    #[test]
    fn a_replacing_row_clears_the_measures_it_does_not_carry() {
        let multi = |version, m: Vec<(&str, Value)>| WriteRow {
            dimensions: vec![],
            measure_name: "m".into(),
            time: 5,
            version,
            measures: Measures::Multi(m.into_iter().map(|(n, v)| (n.to_owned(), v)).collect()),
        };
        let mut b = Buffer::new(0);
        b.apply(
            0,
            multi(
                1,
                vec![("a", Value::Bigint(1)), ("b", Value::Varchar("x".into()))],
            ),
        );
        assert_eq!(
            b.apply(0, multi(2, vec![("a", Value::Bigint(7))])),
            Applied::Replaced
        );
        assert_eq!(
            b.rows.get(0, 5),
            Some((2, Measures::Multi(vec![("a".into(), Value::Bigint(7))])))
        );
    }

    #[test]
    fn the_interner_finds_keys_without_copying_and_tells_series_apart() {
        let mut i = Interner::default();
        let d = |v: &str| vec![("host".to_owned(), v.to_owned())];
        let a = i.intern(&d("a"), "cpu");
        let b = i.intern(&d("b"), "cpu");
        let c = i.intern(&d("a"), "mem");
        assert_eq!((a, b, c), (0, 1, 2));
        for _ in 0..1000 {
            assert_eq!(i.intern(&d("b"), "cpu"), b);
        }
        for n in 0..5000 {
            i.intern(&d(&n.to_string()), "x");
        }
        assert_eq!(i.intern(&d("a"), "mem"), c);
        assert_eq!(i.key(b).dimensions, d("b"));
    }

    #[test]
    fn batches_sort_by_the_partition_dimension_first() {
        use arrow::array::AsArray;
        // `az` sorts before `host` by name, so without a partition key series are ordered by `az` first.
        let mut interner = Interner::default();
        let mut schema = TableSchema::default();
        let mut b = Buffer::new(0);
        for (az, host) in [("1", "b"), ("2", "a"), ("1", "c"), ("2", "d")] {
            let r = WriteRow {
                dimensions: vec![("az".into(), az.into()), ("host".into(), host.into())],
                measure_name: "cpu".into(),
                time: 1,
                version: 1,
                measures: Measures::Single(Value::Double(1.0)),
            };
            schema.admit(&r, &mut Vec::new()).expect("admitted");
            let id = interner.intern(&r.dimensions, &r.measure_name);
            b.apply(id, r);
        }
        let hosts = |schema: &TableSchema| -> Vec<String> {
            let batch = b
                .rows
                .to_batch(schema, &schema.arrow_schema(), interner.keys(), |_| true)
                .expect("batch")
                .expect("rows");
            let i = batch.schema().index_of("host").expect("host column");
            batch
                .column(i)
                .as_string::<i32>()
                .iter()
                .map(|v| v.unwrap_or("").to_owned())
                .collect()
        };
        assert_eq!(hosts(&schema), ["b", "c", "a", "d"]);
        let by_host = schema.clone().with_partition_dimension(Some("host".into()));
        assert_eq!(hosts(&by_host), ["a", "b", "c", "d"]);
        assert_eq!(by_host.sort_dimensions(), ["host", "az"]);
        // A partition key naming a dimension the table does not have changes nothing.
        let unknown = schema.with_partition_dimension(Some("rack".into()));
        assert_eq!(unknown.sort_dimensions(), ["az", "host"]);
    }
}
