//! A Timestream table as a DataFusion table provider. Its schema comes from the storage engine; a scan reads only the
//! buffered rows and data files whose time range can match the query's filters on `time`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use freshet_meta::TableRecord;
use freshet_storage::{Storage, TIME_COLUMN, VERSION_COLUMN};

#[derive(Debug)]
pub struct TimestreamTable {
    record: TableRecord,
    storage: Storage,
    /// The table's columns as the query sees them (without the hidden version column).
    schema: SchemaRef,
    /// Bytes of table data read by scans, shared by the tables of one query.
    scanned: Arc<AtomicU64>,
}

impl TimestreamTable {
    pub async fn new(
        record: TableRecord,
        storage: Storage,
        scanned: Arc<AtomicU64>,
    ) -> Result<Self, freshet_storage::Error> {
        let full = storage.schema(&record.id).await?.arrow_schema();
        let keep: Vec<usize> = (0..full.fields().len())
            .filter(|&i| full.field(i).name() != VERSION_COLUMN)
            .collect();
        let schema = Arc::new(full.project(&keep)?);
        Ok(Self {
            record,
            storage,
            schema,
            scanned,
        })
    }
}

#[async_trait]
impl TableProvider for TimestreamTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Filters on `time` narrow what is read; DataFusion still applies every filter to the rows.
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
        let mut range = TimeRange::default();
        for f in filters {
            range.narrow(f);
        }
        let snapshot = self
            .storage
            .scan(&self.record, range.from, range.to)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let batches = snapshot
            .batches
            .iter()
            .map(|b| freshet_storage::adapt(b, &self.schema))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        self.scanned.fetch_add(bytes as u64, Ordering::Relaxed);
        MemTable::try_new(Arc::clone(&self.schema), vec![batches])?
            .scan(state, projection, &[], limit)
            .await
    }
}

/// Inclusive bounds on `time` in nanoseconds implied by a conjunction of filters; `None` is unbounded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct TimeRange {
    from: Option<i64>,
    to: Option<i64>,
}

impl TimeRange {
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
    use datafusion::logical_expr::{col, lit};

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
