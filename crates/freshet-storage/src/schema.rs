//! A table's schema as it grows with writes: dimensions, measure names and multi-measure columns, with the rules that
//! keep it consistent (one type per measure, one namespace for columns, Timestream's limits), and its Arrow form.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use freshet_meta::{ColumnKind, ColumnRecord};

use crate::record::{Measures, ScalarType, WriteRow};

pub const MAX_DIMENSIONS: usize = 128;
pub const MAX_MEASURE_NAMES: usize = 8192;
pub const MAX_MULTI_MEASURES: usize = 1024;

/// The hidden column that holds each row's version in data files.
pub const VERSION_COLUMN: &str = "ts_version";
pub const MEASURE_NAME_COLUMN: &str = "measure_name";
pub const TIME_COLUMN: &str = "time";

/// What a `measure_name` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasureKind {
    Single(ScalarType),
    Multi,
}

impl MeasureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Single(t) => t.as_str(),
            Self::Multi => "MULTI",
        }
    }
}

/// The column holding single-measure values of `t`.
pub fn value_column(t: ScalarType) -> &'static str {
    match t {
        ScalarType::Double => "measure_value::double",
        ScalarType::Bigint => "measure_value::bigint",
        ScalarType::Varchar => "measure_value::varchar",
        ScalarType::Boolean => "measure_value::boolean",
        ScalarType::Timestamp => "measure_value::timestamp",
    }
}

pub fn arrow_type(t: ScalarType) -> DataType {
    match t {
        ScalarType::Double => DataType::Float64,
        ScalarType::Bigint => DataType::Int64,
        ScalarType::Varchar => DataType::Utf8,
        ScalarType::Boolean => DataType::Boolean,
        ScalarType::Timestamp => DataType::Timestamp(TimeUnit::Nanosecond, None),
    }
}

#[derive(Debug, Clone, Default)]
pub struct TableSchema {
    dimensions: Vec<String>,
    measures: HashMap<String, MeasureKind>,
    multi: Vec<(String, ScalarType)>,
    multi_index: HashMap<String, ScalarType>,
    next_ordinal: i64,
    /// The dimension of the table's composite partition key, when it names one: data files are sorted by its value
    /// first, so that each page holds few of its values and queries filtering on it skip most pages.
    partition_dimension: Option<String>,
}

impl TableSchema {
    pub fn from_records(records: &[ColumnRecord]) -> Self {
        let mut s = Self::default();
        let mut sorted: Vec<&ColumnRecord> = records.iter().collect();
        sorted.sort_by_key(|c| c.ordinal);
        for c in sorted {
            s.next_ordinal = s.next_ordinal.max(c.ordinal + 1);
            match c.kind {
                ColumnKind::Dimension => s.dimensions.push(c.name.clone()),
                ColumnKind::MeasureName => {
                    let kind = match ScalarType::parse(&c.data_type) {
                        Some(t) => MeasureKind::Single(t),
                        None => MeasureKind::Multi,
                    };
                    s.measures.insert(c.name.clone(), kind);
                }
                ColumnKind::MultiMeasure => {
                    if let Some(t) = ScalarType::parse(&c.data_type) {
                        s.multi.push((c.name.clone(), t));
                        s.multi_index.insert(c.name.clone(), t);
                    }
                }
            }
        }
        s
    }

    pub fn dimensions(&self) -> &[String] {
        &self.dimensions
    }

    pub fn with_partition_dimension(mut self, name: Option<String>) -> Self {
        self.partition_dimension = name;
        self
    }

    pub fn partition_dimension(&self) -> Option<&str> {
        self.partition_dimension.as_deref()
    }

    /// The dimension data files are sorted by first, ascending with nulls last (as Trino's `ORDER BY` of it): the
    /// partition key's, once a record has it. Each data file names it in its metadata ([`crate::SORTED_BY_KEY`]).
    pub fn lead_dimension(&self) -> Option<&str> {
        self.partition_dimension().filter(|d| self.is_dimension(d))
    }

    /// The dimensions in the order data files are sorted by: the partition key's dimension first, then the others
    /// in schema order.
    pub fn sort_dimensions(&self) -> Vec<&str> {
        let lead = self.lead_dimension();
        lead.into_iter()
            .chain(
                self.dimensions
                    .iter()
                    .map(String::as_str)
                    .filter(|d| Some(*d) != lead),
            )
            .collect()
    }

    pub fn multi_measures(&self) -> &[(String, ScalarType)] {
        &self.multi
    }

    pub fn measure(&self, name: &str) -> Option<MeasureKind> {
        self.measures.get(name).copied()
    }

    pub fn measures(&self) -> impl Iterator<Item = (&str, MeasureKind)> {
        self.measures.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Single-measure value types present, in the fixed column order.
    pub fn single_types(&self) -> Vec<ScalarType> {
        [
            ScalarType::Double,
            ScalarType::Bigint,
            ScalarType::Varchar,
            ScalarType::Boolean,
        ]
        .into_iter()
        .filter(|t| {
            self.measures
                .values()
                .any(|k| *k == MeasureKind::Single(*t))
        })
        .collect()
    }

    fn is_dimension(&self, name: &str) -> bool {
        self.dimensions.iter().any(|d| d == name)
    }

    fn push(
        &mut self,
        added: &mut Vec<ColumnRecord>,
        name: &str,
        kind: ColumnKind,
        data_type: &str,
    ) {
        added.push(ColumnRecord {
            name: name.to_owned(),
            kind,
            data_type: data_type.to_owned(),
            ordinal: self.next_ordinal,
        });
        self.next_ordinal += 1;
    }

    /// Checks `row` against the schema and extends it with what the row brings. On refusal, returns the reason
    /// and leaves the schema unchanged.
    pub fn admit(&mut self, row: &WriteRow, added: &mut Vec<ColumnRecord>) -> Result<(), String> {
        let before = (
            self.dimensions.len(),
            self.measures.len(),
            self.multi.len(),
            self.next_ordinal,
            added.len(),
        );
        let result = self.admit_inner(row, added);
        if result.is_err() {
            self.dimensions.truncate(before.0);
            self.multi.truncate(before.2);
            self.next_ordinal = before.3;
            for c in added.drain(before.4..) {
                match c.kind {
                    ColumnKind::MeasureName => {
                        self.measures.remove(&c.name);
                    }
                    ColumnKind::MultiMeasure => {
                        self.multi_index.remove(&c.name);
                    }
                    ColumnKind::Dimension => {}
                }
            }
            debug_assert_eq!(self.measures.len(), before.1);
        }
        result
    }

    fn admit_inner(&mut self, row: &WriteRow, added: &mut Vec<ColumnRecord>) -> Result<(), String> {
        for (name, _) in &row.dimensions {
            if self.multi_index.contains_key(name) {
                return Err(format!(
                    "Dimension name {name} is already used by a measure of this table; dimension and measure names \
                     share one namespace."
                ));
            }
            if !self.is_dimension(name) {
                if self.dimensions.len() >= MAX_DIMENSIONS {
                    return Err(format!(
                        "The table already has the maximum of {MAX_DIMENSIONS} dimensions."
                    ));
                }
                self.dimensions.push(name.clone());
                self.push(added, name, ColumnKind::Dimension, "VARCHAR");
            }
        }
        let kind = match &row.measures {
            Measures::Single(v) => MeasureKind::Single(v.scalar_type()),
            Measures::Multi(_) => MeasureKind::Multi,
        };
        match self.measures.get(&row.measure_name) {
            Some(existing) if *existing != kind => {
                return Err(format!(
                    "Measure name {} already has the data type {} in this table; it cannot be written as {}.",
                    row.measure_name,
                    existing.as_str(),
                    kind.as_str()
                ));
            }
            Some(_) => {}
            None => {
                if self.measures.len() >= MAX_MEASURE_NAMES {
                    return Err(format!(
                        "The table already has the maximum of {MAX_MEASURE_NAMES} measure names."
                    ));
                }
                self.measures.insert(row.measure_name.clone(), kind);
                let name = row.measure_name.clone();
                self.push(added, &name, ColumnKind::MeasureName, kind.as_str());
            }
        }
        if let Measures::Multi(values) = &row.measures {
            for (name, v) in values {
                let t = v.scalar_type();
                if self.is_dimension(name) {
                    return Err(format!(
                        "Measure name {name} is already used by a dimension of this table; dimension and measure \
                         names share one namespace."
                    ));
                }
                match self.multi_index.get(name) {
                    Some(existing) if *existing != t => {
                        return Err(format!(
                            "Measure {name} already has the data type {} in this table; it cannot be written as {}.",
                            existing.as_str(),
                            t.as_str()
                        ));
                    }
                    Some(_) => {}
                    None => {
                        if self.multi.len() >= MAX_MULTI_MEASURES {
                            return Err(format!(
                                "The table already has the maximum of {MAX_MULTI_MEASURES} measures in multi-measure records."
                            ));
                        }
                        self.multi.push((name.clone(), t));
                        self.multi_index.insert(name.clone(), t);
                        self.push(added, name, ColumnKind::MultiMeasure, t.as_str());
                    }
                }
            }
        }
        Ok(())
    }

    /// The Arrow schema of the table's rows: dimensions, `measure_name`, `time`, single-measure value columns,
    /// multi-measure columns, and the hidden version column.
    pub fn arrow_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .dimensions
            .iter()
            .map(|d| Field::new(d, DataType::Utf8, true))
            .collect();
        fields.push(Field::new(MEASURE_NAME_COLUMN, DataType::Utf8, false));
        fields.push(Field::new(
            TIME_COLUMN,
            arrow_type(ScalarType::Timestamp),
            false,
        ));
        for t in self.single_types() {
            fields.push(Field::new(value_column(t), arrow_type(t), true));
        }
        for (name, t) in &self.multi {
            fields.push(Field::new(name, arrow_type(*t), true));
        }
        fields.push(Field::new(VERSION_COLUMN, DataType::Int64, false));
        Arc::new(Schema::new(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Value;

    fn row(dims: &[&str], name: &str, m: Measures) -> WriteRow {
        WriteRow {
            dimensions: dims
                .iter()
                .map(|d| (d.to_string(), "v".to_string()))
                .collect(),
            measure_name: name.into(),
            time: 0,
            version: 1,
            measures: m,
        }
    }

    #[test]
    fn types_are_fixed_and_names_share_a_namespace() {
        let mut s = TableSchema::default();
        let mut added = Vec::new();
        s.admit(
            &row(&["host"], "cpu", Measures::Single(Value::Double(1.0))),
            &mut added,
        )
        .unwrap();
        assert_eq!(added.len(), 2);
        let err = s
            .admit(
                &row(&["host"], "cpu", Measures::Single(Value::Bigint(1))),
                &mut added,
            )
            .unwrap_err();
        assert!(err.contains("DOUBLE"), "{err}");
        let multi = Measures::Multi(vec![("host".into(), Value::Double(1.0))]);
        assert!(
            s.admit(&row(&[], "stats", multi), &mut added)
                .unwrap_err()
                .contains("namespace")
        );
        assert_eq!(added.len(), 2, "a refused row adds nothing");
        assert!(s.measure("stats").is_none());

        let multi = Measures::Multi(vec![
            ("load".into(), Value::Double(1.0)),
            ("up".into(), Value::Boolean(true)),
        ]);
        s.admit(&row(&["region"], "stats", multi), &mut added)
            .unwrap();
        assert!(
            s.admit(
                &row(&["load"], "m2", Measures::Single(Value::Bigint(2))),
                &mut added
            )
            .is_err()
        );
        let names: Vec<_> = s
            .arrow_schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(
            names,
            [
                "host",
                "region",
                "measure_name",
                "time",
                "measure_value::double",
                "load",
                "up",
                "ts_version"
            ]
        );

        let back = TableSchema::from_records(&added);
        assert_eq!(back.arrow_schema(), s.arrow_schema());
    }

    #[test]
    fn dimension_limit() {
        let mut s = TableSchema::default();
        let mut added = Vec::new();
        for i in 0..MAX_DIMENSIONS {
            s.admit(
                &row(
                    &[&format!("d{i}")],
                    "m",
                    Measures::Single(Value::Double(0.0)),
                ),
                &mut added,
            )
            .unwrap();
        }
        let err = s
            .admit(
                &row(&["one_more"], "m", Measures::Single(Value::Double(0.0))),
                &mut added,
            )
            .unwrap_err();
        assert!(err.contains("128"), "{err}");
    }
}
