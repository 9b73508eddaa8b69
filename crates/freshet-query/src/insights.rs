//! `QueryInsights`: how much of each table a query's scans covered, in time and across the partition key.
//!
//! Each scan records what it read ([`Scanned`]): its table, the time range (its bounds on `time`, or where it has
//! none, the oldest time the table keeps and the time of the scan), and the values of the partition key its filters
//! allow, when they name them (`=`, `IN`). Once the query has ended, [`QueryEngine::insights`] sums them up:
//! - the number of tables read;
//! - the longest time range read, and its table (`QueryTemporalRange`);
//! - the largest share of a table's partition-key values read, and its table and key (`QuerySpatialCoverage`).
//!   A scan that names no values reads them all (1.0). One that names some reads the share of the key's distinct
//!   values in its time range that are among them, counted by a query of its own.

use std::collections::BTreeSet;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use freshet_core::{Clock, SystemClock};
use freshet_meta::{Scope, TableRecord};

use crate::QueryEngine;

/// What one scan read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    database: String,
    table: String,
    arn: String,
    /// The scan's bounds on `time`, in nanoseconds, both ends included.
    from: Option<i64>,
    to: Option<i64>,
    /// How far back the table keeps rows, in nanoseconds: the start of a range without a lower bound.
    kept_ns: i64,
    /// The partition key's column: the customer-defined dimension, or `measure_name`.
    partition_key: String,
    /// The partition-key values the scan's filters allow, when they name them.
    keys: Option<BTreeSet<String>>,
}

impl Scanned {
    /// A scan of `table` over `from..=to` (`None`: unbounded) with `filters`.
    pub(crate) fn new(
        table: &TableRecord,
        from: Option<i64>,
        to: Option<i64>,
        filters: &[Expr],
    ) -> Self {
        let kept_ns = (table.memory_store_hours * 3_600 + table.magnetic_store_days * 86_400)
            .saturating_mul(1_000_000_000);
        let partition_key = table
            .partition_keys
            .iter()
            .find(|k| k.kind == "DIMENSION")
            .and_then(|k| k.name.clone())
            .unwrap_or_else(|| "measure_name".into());
        let keys = filters
            .iter()
            .filter_map(|f| named_values(f, &partition_key))
            .min_by_key(BTreeSet::len);
        Self {
            database: table.database.clone(),
            table: table.name.clone(),
            arn: table.arn.clone(),
            from,
            to,
            kept_ns,
            partition_key,
            keys,
        }
    }

    /// The time range read at `now_ns`: where the scan has no bound, the oldest time the table keeps, or now.
    fn range(&self, now_ns: i64) -> (i64, i64) {
        (
            self.from.unwrap_or(now_ns.saturating_sub(self.kept_ns)),
            self.to.unwrap_or(now_ns),
        )
    }
}

/// The values `filter` allows `column`, when it is `column = 'v'` or `column IN ('v', …)`.
fn named_values(filter: &Expr, column: &str) -> Option<BTreeSet<String>> {
    let text = |e: &Expr| match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(v))
            | ScalarValue::Utf8View(Some(v))
            | ScalarValue::LargeUtf8(Some(v)),
            _,
        ) => Some(v.clone()),
        _ => None,
    };
    let is_column = |e: &Expr| matches!(e, Expr::Column(c) if c.name == column);
    match filter {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            let value = if is_column(left) {
                text(right)
            } else if is_column(right) {
                text(left)
            } else {
                None
            }?;
            Some(BTreeSet::from([value]))
        }
        Expr::InList(list) if !list.negated && is_column(&list.expr) => {
            list.list.iter().map(text).collect()
        }
        _ => None,
    }
}

/// A query's insights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Insights {
    /// The number of tables the query read.
    pub table_count: u64,
    /// The table read over the longest time range, and that range in nanoseconds.
    pub temporal: Option<(String, i64)>,
    /// The table whose scan read the largest share of its partition key's values, that share, and the key.
    pub spatial: Option<(String, f64, String)>,
}

impl QueryEngine {
    /// The insights of a query whose scans read `scanned`, for `scope`. Shares that cannot be counted (the table
    /// is gone meanwhile) are left out.
    pub(crate) async fn insights(&self, scope: &Scope, scanned: &[Scanned]) -> Insights {
        let now_ns = SystemClock.now_nanos();
        let tables: BTreeSet<&str> = scanned.iter().map(|s| s.arn.as_str()).collect();
        let temporal = scanned
            .iter()
            .map(|s| {
                let (from, to) = s.range(now_ns);
                (s.arn.clone(), to.saturating_sub(from).max(0))
            })
            .max_by_key(|(_, range)| *range);
        let mut spatial: Option<(String, f64, String)> = None;
        for s in scanned {
            let Some(share) = self.share(scope, s, now_ns).await else {
                continue;
            };
            if spatial.as_ref().is_none_or(|(_, best, _)| share > *best) {
                spatial = Some((s.arn.clone(), share, s.partition_key.clone()));
            }
        }
        Insights {
            table_count: tables.len() as u64,
            temporal,
            spatial,
        }
    }

    /// The share of the partition key's distinct values in the scan's time range that its filters allow.
    async fn share(&self, scope: &Scope, s: &Scanned, now_ns: i64) -> Option<f64> {
        let Some(keys) = &s.keys else {
            return Some(1.0);
        };
        let (from, to) = s.range(now_ns);
        let ident = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
        let literal = |v: &str| format!("'{}'", v.replace('\'', "''"));
        let key = ident(&s.partition_key);
        let listed = keys
            .iter()
            .map(|k| literal(k))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT count(DISTINCT {key}), count(DISTINCT CASE WHEN {key} IN ({listed}) THEN {key} END) \
             FROM {}.{} WHERE time BETWEEN from_nanoseconds({}) AND from_nanoseconds({})",
            ident(&s.database),
            ident(&s.table),
            from,
            to
        );
        let result = match self.run_boxed(scope.clone(), sql).await {
            Ok(result) => result,
            Err(e) => {
                tracing::warn!(error = %e, "QueryInsights could not count the partition key's values");
                return None;
            }
        };
        let row = result.batches.iter().find(|b| b.num_rows() > 0)?;
        let count = |i: usize| {
            let c = row.column(i).as_primitive_opt::<Int64Type>()?;
            (!c.is_null(0)).then(|| c.value(0))
        };
        let (all, named) = (count(0)?, count(1)?);
        Some(if all == 0 {
            0.0
        } else {
            named as f64 / all as f64
        })
    }
}
