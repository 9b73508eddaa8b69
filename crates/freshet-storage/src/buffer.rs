//! The write buffer of one table: rows keyed by (series, time) with upsert-by-version, turned into sorted Arrow
//! batches for queries and persistence.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampNanosecondBuilder,
};
use arrow::datatypes::SchemaRef;

use crate::record::{Measures, ScalarType, Value, WriteRow};
use crate::schema::{MEASURE_NAME_COLUMN, TIME_COLUMN, TableSchema, VERSION_COLUMN};

/// A series: the dimensions (sorted by name) and the measure name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub dimensions: Vec<(String, String)>,
    pub measure_name: String,
}

/// Interns series keys of one table to small ids.
#[derive(Debug, Default)]
pub struct Interner {
    keys: Vec<Arc<SeriesKey>>,
    ids: HashMap<Arc<SeriesKey>, u32>,
}

impl Interner {
    pub fn intern(&mut self, dimensions: &[(String, String)], measure_name: &str) -> u32 {
        let key = SeriesKey {
            dimensions: dimensions.to_vec(),
            measure_name: measure_name.to_owned(),
        };
        if let Some(id) = self.ids.get(&key) {
            return *id;
        }
        let id = self.keys.len() as u32;
        let key = Arc::new(key);
        self.keys.push(Arc::clone(&key));
        self.ids.insert(key, id);
        id
    }

    pub fn key(&self, id: u32) -> &SeriesKey {
        &self.keys[id as usize]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub version: i64,
    pub measures: Measures,
}

/// What applying a row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Inserted,
    Replaced,
    /// The stored row has a higher version, or is identical: nothing changed.
    Kept,
}

/// Rows of one table not yet in a data file.
#[derive(Debug)]
pub struct Buffer {
    pub generation: u64,
    pub rows: HashMap<(u32, i64), Stored>,
    pub bytes: usize,
    pub created: Instant,
    /// WAL sequence numbers of the entries applied here.
    pub min_seq: Option<u64>,
    pub max_seq: u64,
    /// Writes applied here whose WAL append has not finished.
    pub pending: usize,
}

impl Buffer {
    pub fn new(generation: u64) -> Self {
        Self {
            generation,
            rows: HashMap::new(),
            bytes: 0,
            created: Instant::now(),
            min_seq: None,
            max_seq: 0,
            pending: 0,
        }
    }

    /// Upsert with "the higher version wins"; the outcome does not depend on the order rows arrive in.
    pub fn apply(&mut self, series: u32, row: &WriteRow) -> Applied {
        let stored = Stored {
            version: row.version,
            measures: row.measures.clone(),
        };
        match self.rows.get_mut(&(series, row.time)) {
            Some(existing) if existing.version >= row.version => Applied::Kept,
            Some(existing) => {
                *existing = stored;
                Applied::Replaced
            }
            None => {
                self.bytes += row.approx_bytes();
                self.rows.insert((series, row.time), stored);
                Applied::Inserted
            }
        }
    }

    pub fn note_seq(&mut self, seq: u64) {
        self.min_seq = Some(self.min_seq.map_or(seq, |m| m.min(seq)));
        self.max_seq = self.max_seq.max(seq);
    }
}

/// Builds one Arrow batch, sorted by series then time, from buffered rows. Columns follow `schema`.
pub fn to_batch(
    schema: &TableSchema,
    arrow_schema: &SchemaRef,
    interner: &Interner,
    rows: &[(&(u32, i64), &Stored)],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| {
        let (ka, kb) = (rows[a].0, rows[b].0);
        interner
            .key(ka.0)
            .cmp(interner.key(kb.0))
            .then(ka.1.cmp(&kb.1))
    });
    let n = rows.len();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(arrow_schema.fields().len());

    for dim in schema.dimensions() {
        let mut b = StringBuilder::with_capacity(n, n * 8);
        for &i in &order {
            let key = interner.key(rows[i].0.0);
            match key
                .dimensions
                .binary_search_by(|(k, _)| k.as_str().cmp(dim))
            {
                Ok(p) => b.append_value(&key.dimensions[p].1),
                Err(_) => b.append_null(),
            }
        }
        columns.push(Arc::new(b.finish()));
    }
    let mut names = StringBuilder::with_capacity(n, n * 8);
    let mut times = TimestampNanosecondBuilder::with_capacity(n);
    for &i in &order {
        names.append_value(&interner.key(rows[i].0.0).measure_name);
        times.append_value(rows[i].0.1);
    }
    columns.push(Arc::new(names.finish()));
    columns.push(Arc::new(times.finish()));

    let single = |i: usize| match &rows[i].1.measures {
        Measures::Single(v) => Some(v),
        Measures::Multi(_) => None,
    };
    for t in schema.single_types() {
        columns.push(column(
            t,
            order
                .iter()
                .map(|&i| single(i).filter(|v| v.scalar_type() == t)),
        ));
    }
    for (name, t) in schema.multi_measures() {
        columns.push(column(
            *t,
            order.iter().map(|&i| match &rows[i].1.measures {
                Measures::Multi(m) => m
                    .binary_search_by(|(k, _)| k.as_str().cmp(name))
                    .ok()
                    .map(|p| &m[p].1)
                    .filter(|v| v.scalar_type() == *t),
                Measures::Single(_) => None,
            }),
        ));
    }
    let mut versions = Int64Builder::with_capacity(n);
    for &i in &order {
        versions.append_value(rows[i].1.version);
    }
    columns.push(Arc::new(versions.finish()));
    debug_assert_eq!(
        arrow_schema.field(arrow_schema.fields().len() - 1).name(),
        VERSION_COLUMN
    );
    debug_assert!(
        arrow_schema.index_of(MEASURE_NAME_COLUMN).is_ok()
            && arrow_schema.index_of(TIME_COLUMN).is_ok()
    );
    RecordBatch::try_new(Arc::clone(arrow_schema), columns)
}

fn column<'a>(t: ScalarType, values: impl Iterator<Item = Option<&'a Value>>) -> ArrayRef {
    match t {
        ScalarType::Double => {
            let mut b = Float64Builder::new();
            values.for_each(|v| {
                b.append_option(if let Some(Value::Double(d)) = v {
                    Some(*d)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        ScalarType::Bigint => {
            let mut b = Int64Builder::new();
            values.for_each(|v| {
                b.append_option(if let Some(Value::Bigint(d)) = v {
                    Some(*d)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        ScalarType::Varchar => {
            let mut b = StringBuilder::new();
            values.for_each(|v| {
                b.append_option(if let Some(Value::Varchar(d)) = v {
                    Some(d)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        ScalarType::Boolean => {
            let mut b = BooleanBuilder::new();
            values.for_each(|v| {
                b.append_option(if let Some(Value::Boolean(d)) = v {
                    Some(*d)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        ScalarType::Timestamp => {
            let mut b = TimestampNanosecondBuilder::new();
            values.for_each(|v| {
                b.append_option(if let Some(Value::Timestamp(d)) = v {
                    Some(*d)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
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
            rows.iter().for_each(|r| { a.apply(0, r); });
            shuffled.iter().for_each(|r| { b.apply(0, r); });
            prop_assert_eq!(a.rows, b.rows);
        }
    }

    #[test]
    fn higher_versions_replace_and_others_are_kept() {
        let mut b = Buffer::new(0);
        assert_eq!(b.apply(0, &row(1, 1, 1.0)), Applied::Inserted);
        assert_eq!(b.apply(0, &row(1, 1, 1.0)), Applied::Kept);
        assert_eq!(b.apply(0, &row(1, 3, 2.0)), Applied::Replaced);
        assert_eq!(b.apply(0, &row(1, 2, 9.0)), Applied::Kept);
        assert_eq!(
            b.rows[&(0, 1)],
            Stored {
                version: 3,
                measures: Measures::Single(Value::Double(2.0))
            }
        );
    }
}
