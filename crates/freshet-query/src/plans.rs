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
//!
//! After the optimizer, physical planning was the largest cost of such a query (a third of the server's CPU, most
//! of it in the physical optimizer's rules). A kept plan also keeps the physical plan of its last run, with the
//! snapshot each of its scans read ([`Read`]: data files and contested ranges). A later run uses it when a new scan
//! of each table would read exactly that snapshot with no rows in memory. Data files never change, so the plan
//! then reads the same rows it would if planned again; a table being written to, or whose files were flushed or
//! compacted since, is planned again. The physical plan is run again as DataFusion allows
//! ([`reset_plan_states`]): never with dynamic filters (a TopK's or a join's), which carry what one run saw into
//! the next, nor recursive queries or EXPLAIN ANALYZE. One run at a time holds it; a run that finds it taken
//! plans its own. Only plans that read a few data files are kept, for a few runs each ([`PHYSICAL_RUNS`]): a
//! file scan's metrics grow with every run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::execution_plan::reset_plan_states;
use hashlink::LruCache;

use crate::OutputNames;
use crate::table::{Read, TimestreamTable};

/// Plans kept, and the longest SQL whose plan is kept: a plan takes memory in proportion to its SQL.
const KEPT_PLANS: usize = 256;
const LONGEST_SQL: usize = 16 * 1024;

/// The tables a query names, each with the provider its run reads through.
pub(crate) type Tables = [(TableReference, Arc<TimestreamTable>)];

#[derive(Debug)]
pub(crate) struct PlanCache {
    plans: Mutex<LruCache<String, Arc<Kept>>>,
    reused: AtomicU64,
    physical_reused: AtomicU64,
}

/// An optimized plan, with what it was planned for.
#[derive(Debug)]
pub(crate) struct Kept {
    tables: Vec<TableKey>,
    plan: LogicalPlan,
    outputs: OutputNames,
    /// The physical plan of the last run, unless a run holds it.
    physical: Mutex<Option<KeptPhysical>>,
}

/// A physical plan, and the snapshots its scans read.
#[derive(Debug)]
struct KeptPhysical {
    reads: Vec<Read>,
    plan: Arc<dyn ExecutionPlan>,
    /// How many times it has run.
    runs: u32,
}

/// A physical plan runs at most this many times before it is planned again, and is kept only when its scans read
/// at most this many data files. DataFusion cannot reset a file scan's metrics: every run adds a few dozen for each
/// file it reads (about 4 KB), which a plan kept without end would accumulate without end (and reading progress
/// walks them). So a kept physical plan holds at most about 256 KB of them. Planning matters for small queries,
/// which read a few files.
const PHYSICAL_RUNS: u32 = 8;
const PHYSICAL_FILES: usize = 8;

impl Kept {
    /// The physical plan of the last run, ready to run again, if each of `tables` would still read what it read;
    /// with how many times it has run.
    async fn physical(
        &self,
        tables: &Tables,
    ) -> datafusion::error::Result<Option<(Arc<dyn ExecutionPlan>, u32)>> {
        let kept = self.lock().take();
        let Some(KeptPhysical { reads, plan, runs }) = kept else {
            return Ok(None);
        };
        if runs >= PHYSICAL_RUNS {
            return Ok(None);
        }
        let mut readers = Vec::with_capacity(reads.len());
        for read in &reads {
            let Some((_, table)) = tables.iter().find(|(_, t)| t.id() == read.table()) else {
                return Ok(None);
            };
            if !table.reads_again(read).await? {
                return Ok(None);
            }
            readers.push((table, read));
        }
        for (table, read) in readers {
            table.count(read);
        }
        Ok(Some((reset_plan_states(plan)?, runs)))
    }

    /// Keeps `plan`, which has just run and whose scans read `reads`, for the next run, if it can run again.
    /// `runs` is how many times it had run before if it came from [`Kept::physical`]; it was found reexecutable
    /// then. The check holds only for a plan fresh from the planner: DataFusion gives every `SortExec` it resets a
    /// dynamic filter of its own (not in any scan, so it carries nothing from run to run).
    pub fn keep_physical(&self, reads: Vec<Read>, plan: Arc<dyn ExecutionPlan>, runs: Option<u32>) {
        let runs = match runs {
            Some(before) => before + 1,
            None => {
                let files: usize = reads.iter().map(Read::files).sum();
                if files > PHYSICAL_FILES || !reexecutable(&plan) {
                    return;
                }
                1
            }
        };
        *self.lock() = Some(KeptPhysical { reads, plan, runs });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<KeptPhysical>> {
        self.physical.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether DataFusion can run `plan` again after [`reset_plan_states`]: no dynamic filter (their state outlives a
/// reset), no recursive query, and no EXPLAIN ANALYZE (whose output is the metrics of the run).
fn reexecutable(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let mut ok = true;
    let _ = plan.apply(|node| {
        if matches!(
            node.name(),
            "AnalyzeExec" | "RecursiveQueryExec" | "WorkTableExec"
        ) {
            ok = false;
        } else {
            node.apply_expressions(&mut |root| {
                root.apply(|e| {
                    ok &= !e.is::<DynamicFilterPhysicalExpr>();
                    Ok(if ok {
                        TreeNodeRecursion::Continue
                    } else {
                        TreeNodeRecursion::Stop
                    })
                })
            })?;
        }
        Ok(if ok {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    });
    ok
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
            physical_reused: AtomicU64::new(0),
        }
    }
}

impl PlanCache {
    /// The kept optimized plan of `sql` over `tables`, reading through their providers.
    pub fn get(&self, sql: &str, tables: &Tables) -> Option<(LogicalPlan, OutputNames, Arc<Kept>)> {
        let kept = self.lock().get(sql).cloned()?;
        // Compared in place: a lookup runs on every query and should not build the keys it compares with.
        let same = kept.tables.len() == tables.len()
            && kept.tables.iter().zip(tables).all(|(k, t)| k.is(t));
        if !same {
            return None;
        }
        let plan = reading_through(kept.plan.clone(), tables)?;
        self.reused.fetch_add(1, Ordering::Relaxed);
        Some((plan, kept.outputs.clone(), kept))
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
    ) -> Option<Arc<Kept>> {
        if sql.len() > LONGEST_SQL || !reusable(planned) {
            return None;
        }
        let kept = Arc::new(Kept {
            tables: tables.iter().map(TableKey::of).collect(),
            plan: plan.clone(),
            outputs: outputs.clone(),
            physical: Mutex::new(None),
        });
        self.lock().insert(sql.to_owned(), Arc::clone(&kept));
        Some(kept)
    }

    /// The physical plan of `kept`'s last run, if each of `tables` would still read what it read (see
    /// [`Kept::physical`]); counted as reused.
    pub async fn physical(
        &self,
        kept: &Kept,
        tables: &Tables,
    ) -> datafusion::error::Result<Option<(Arc<dyn ExecutionPlan>, u32)>> {
        let physical = kept.physical(tables).await?;
        if physical.is_some() {
            self.physical_reused.fetch_add(1, Ordering::Relaxed);
        }
        Ok(physical)
    }

    /// How many runs have used a kept plan.
    pub fn reused(&self) -> u64 {
        self.reused.load(Ordering::Relaxed)
    }

    /// How many of those runs have also used the physical plan of the last run.
    pub fn physical_reused(&self) -> u64 {
        self.physical_reused.load(Ordering::Relaxed)
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
