//! Optimized plans of recent queries, reused when the same SQL runs again over tables of the same schemas.
//!
//! Turning SQL into a plan and optimizing it took more than a quarter of the server's CPU in a profile of a query
//! that reads one host's hour (single-groupby-1-1-1), far more than running it; skipping both nearly halved that
//! query's server CPU. Applications send the same SQL again and again, so the optimized logical plan is kept,
//! keyed by the SQL text, and each later run only plans it physically against the tables' current files and
//! buffers. Queries with `ago()` or `now()` (most dashboards') are not kept yet: see below.
//!
//! A kept plan is used only when
//! - the query names the same tables (same ids: a table dropped and created again is another) with the same
//!   schemas (a new measure adds a column);
//! - it holds no function whose value depends on when it runs (`now()`, `ago()`, `current_date`…: the optimizer
//!   folds them into constants) or on anything but its arguments (`random()`), and no parameter.
//!
//! Its table scans then read through the providers of the new run, which take their snapshot of files and buffers
//! when they are scanned, and count that query's bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use hashlink::LruCache;

use crate::OutputNames;
use crate::table::TimestreamTable;

/// Plans kept, and the longest SQL whose plan is kept: a plan takes memory in proportion to its SQL.
const KEPT_PLANS: usize = 256;
const LONGEST_SQL: usize = 16 * 1024;

/// The tables a query names, each with the provider its run reads through.
pub(crate) type Tables = [(TableReference, Arc<TimestreamTable>)];

#[derive(Debug)]
pub(crate) struct PlanCache {
    plans: Mutex<LruCache<String, Arc<Kept>>>,
    reused: AtomicU64,
}

/// An optimized plan, with what it was planned for.
#[derive(Debug)]
struct Kept {
    tables: Vec<TableKey>,
    plan: LogicalPlan,
    outputs: OutputNames,
}

#[derive(Debug)]
struct TableKey {
    reference: TableReference,
    id: String,
    schema: SchemaRef,
}

impl TableKey {
    fn of((reference, table): &(TableReference, Arc<TimestreamTable>)) -> Self {
        Self {
            reference: reference.clone(),
            id: table.id().to_owned(),
            schema: table.schema(),
        }
    }

    /// Whether `table` is this one: same name, same id, same schema.
    fn is(&self, (reference, table): &(TableReference, Arc<TimestreamTable>)) -> bool {
        self.reference == *reference && self.id == table.id() && *self.schema == *table.schema()
    }
}

impl Default for PlanCache {
    fn default() -> Self {
        Self {
            plans: Mutex::new(LruCache::new(KEPT_PLANS)),
            reused: AtomicU64::new(0),
        }
    }
}

impl PlanCache {
    /// The kept optimized plan of `sql` over `tables`, reading through their providers.
    pub fn get(&self, sql: &str, tables: &Tables) -> Option<(LogicalPlan, OutputNames)> {
        let kept = self.lock().get(sql).cloned()?;
        // Compared in place: a lookup runs on every query and should not build the keys it compares with.
        let same = kept.tables.len() == tables.len()
            && kept.tables.iter().zip(tables).all(|(k, t)| k.is(t));
        if !same {
            return None;
        }
        let plan = reading_through(kept.plan.clone(), tables)?;
        self.reused.fetch_add(1, Ordering::Relaxed);
        Some((plan, kept.outputs.clone()))
    }

    /// Keeps the optimized `plan` of `sql` over `tables`. `planned` is the plan before optimization, where the
    /// functions that the optimizer folds can still be seen.
    pub fn put(
        &self,
        sql: &str,
        tables: &Tables,
        planned: &LogicalPlan,
        plan: &LogicalPlan,
        outputs: &OutputNames,
    ) {
        if sql.len() > LONGEST_SQL || !reusable(planned) {
            return;
        }
        let kept = Kept {
            tables: tables.iter().map(TableKey::of).collect(),
            plan: plan.clone(),
            outputs: outputs.clone(),
        };
        self.lock().insert(sql.to_owned(), Arc::new(kept));
    }

    /// How many runs have used a kept plan.
    pub fn reused(&self) -> u64 {
        self.reused.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Arc<Kept>>> {
        self.plans.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether a plan gives the same answer whenever it runs over the same data: only functions of their arguments,
/// and no parameters.
fn reusable(plan: &LogicalPlan) -> bool {
    let mut reusable = true;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                let volatility = match e {
                    Expr::ScalarFunction(f) => f.func.signature().volatility,
                    Expr::AggregateFunction(f) => f.func.signature().volatility,
                    Expr::WindowFunction(w) => w.fun.signature().volatility,
                    Expr::HigherOrderFunction(f) => f.func.signature().volatility,
                    Expr::ScalarVariable(..) | Expr::Placeholder(_) => Volatility::Volatile,
                    _ => Volatility::Immutable,
                };
                reusable &= volatility == Volatility::Immutable;
                Ok(if reusable {
                    TreeNodeRecursion::Continue
                } else {
                    TreeNodeRecursion::Stop
                })
            })
        })
    });
    reusable
}

/// `plan` with each table scan reading through the provider of its table in `tables`; `None` if a scan names a
/// table that is not there.
fn reading_through(plan: LogicalPlan, tables: &Tables) -> Option<LogicalPlan> {
    let swapped = plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::TableScan(mut scan) = node else {
            return Ok(Transformed::no(node));
        };
        let Some((_, table)) = tables.iter().find(|(r, _)| *r == scan.table_name) else {
            return datafusion::common::plan_err!(
                "{} is not a table of this query",
                scan.table_name
            );
        };
        scan.source = provider_as_source(Arc::clone(table) as Arc<dyn TableProvider>);
        Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
    });
    swapped.ok().map(|t| t.data)
}
