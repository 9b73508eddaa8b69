//! Query: Timestream SQL run by Apache DataFusion over a table's write buffer and data files.
//!
//! Each query gets a fresh `SessionContext` in which every table it names is registered as a [`TimestreamTable`],
//! whose scans read only the buffers and data files that the query's time filters can match.

mod aggregates;
mod calendar;
mod checked;
mod checked_sum;
mod coop;
mod dialect;
mod errors;
mod file_cache;
mod formats;
mod functions;
mod insights;
mod lambdas;
mod lenient;
mod library;
mod literals;
mod moments;
mod parameters;
mod parser;
mod patterns;
mod plans;
mod progress;
mod reduce;
pub mod reference;
mod regexp_fn;
mod run_avg;
mod runs;
mod select_subqueries;
mod sequence;
mod show;
mod signed;
mod sorted;
mod streaming;
mod subscript;
mod table;
mod timeseries;
mod trino;
mod unnest;

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider, TableProvider,
};
use datafusion::common::TableReference;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SessionState, SessionStateBuilder, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use freshet_meta::{MetadataStore, Scope};
use freshet_storage::Storage;

use errors::{classify, classify_in, position, syntax_error};
use plans::PlanCache;

pub use dialect::rewrite;
pub use insights::Insights;
pub use progress::{Progress, Status};
pub use streaming::{Ended, Next, ResultStream, StreamHandle};
use table::Reads;
pub use table::{DataFiles, TimestreamTable};
pub use timeseries::value_type as timeseries_value_type;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query is not valid: syntax, unknown database, table or column. `ValidationException` on the wire.
    #[error("{0}")]
    Validation(String),
    /// The query is valid but failed while running. `QueryExecutionException` on the wire.
    #[error("{0}")]
    Execution(String),
    /// A bug or an engine failure.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A query's answer: Arrow batches in `schema`.
#[derive(Debug)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// Bytes of table data the query read.
    pub bytes_scanned: u64,
    /// Its insights, when they were asked for.
    pub insights: Option<Arc<Insights>>,
}

#[derive(Debug, Clone)]
pub struct QueryEngine {
    meta: Arc<dyn MetadataStore>,
    storage: Storage,
    /// DataFusion runs here, on its own CPU runtime, not on the I/O runtime that serves HTTP.
    runtime: tokio::runtime::Handle,
    files: DataFiles,
    /// Freshet's configuration and functions, and the runtime every query shares (the object store of data files and
    /// DataFusion's caches, such as Parquet footers), set up once: each query starts from a copy
    /// ([`QueryEngine::session`]), which costs less than registering some hundred functions again.
    session: Arc<SessionState>,
    plans: Arc<PlanCache>,
    /// The most bytes (of Arrow arrays) a query's result may hold.
    result_limit: usize,
}

/// The most a query's result may hold by default: Timestream's quota on query result data, 5 GB.
pub const DEFAULT_RESULT_LIMIT: usize = 5 << 30;

/// The bytes of data files kept in memory for queries by default.
pub const DEFAULT_FILE_CACHE_BYTES: u64 = 1 << 30;

/// DataFusion's analyzer rules, with Trino's integer literals and BIGINT results of unsigned functions before them
/// (ahead of type coercion) and, after them, checked integer arithmetic and `try`'s lenient calls.
fn analyzer_rules() -> Vec<Arc<dyn datafusion::optimizer::AnalyzerRule + Send + Sync>> {
    let mut rules: Vec<Arc<dyn datafusion::optimizer::AnalyzerRule + Send + Sync>> = vec![
        Arc::new(literals::IntegerLiterals),
        Arc::new(signed::SignedResults),
    ];
    rules.extend(datafusion::optimizer::Analyzer::new().rules);
    rules.push(Arc::new(checked::CheckedArithmetic));
    rules.push(Arc::new(lenient::TryCalls));
    rules
}

/// DataFusion's optimizer rules, with Freshet's subqueries outside filters right after DataFusion's rewrite of
/// quantified comparisons into `EXISTS` tests (and before its own decorrelation of filters' subqueries).
fn optimizer_rules() -> Vec<Arc<dyn datafusion::optimizer::OptimizerRule + Send + Sync>> {
    let mut rules = datafusion::optimizer::Optimizer::new().rules;
    let after = rules
        .iter()
        .position(|rule| rule.name() == "rewrite_set_comparison")
        .map_or(0, |i| i + 1);
    rules.insert(after, Arc::new(select_subqueries::SelectListSubqueries));
    rules
}

/// The session every query copies: DataFusion's and Freshet's functions, Timestream's date arithmetic.
fn session(env: &Arc<RuntimeEnv>) -> Result<SessionState> {
    let mut config = SessionConfig::new().with_information_schema(false);
    config.options_mut().sql_parser.enable_ident_normalization = false;
    // Trino's default null ordering: last, whichever the direction (DataFusion's, as PostgreSQL's, puts nulls
    // first in a descending order).
    config.options_mut().sql_parser.default_null_ordering = "nulls_last".into();
    // Tables spread their files over partitions themselves (`table::file_groups`); a data file holds one row
    // group unless it is very large, so splitting it into byte ranges only opens it twice.
    config.options_mut().optimizer.repartition_file_scans = false;
    // As `SessionContext::new_with_config_rt`, with Freshet's analyzer rules and one more physical optimizer rule.
    // (Rebuilding a state after the functions below are registered would register DataFusion's aliases again, over
    // Freshet's functions of the same names, such as `date_format`.)
    let mut builder = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(Arc::clone(env))
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(sorted::PartialSorts))
        .with_physical_optimizer_rule(Arc::new(runs::RunsAggregates))
        .with_physical_optimizer_rule(Arc::new(coop::YieldingOutput))
        .with_physical_optimizer_rule(Arc::new(lambdas::LambdaParameters))
        .with_analyzer_rules(analyzer_rules())
        .with_optimizer_rules(optimizer_rules());
    // Array subscripts are Trino's, asked before DataFusion's field-access planner.
    if let Some(planners) = builder.expr_planners() {
        planners.insert(0, Arc::new(subscript::Subscripts));
    }
    let state = builder.build();
    let mut ctx = SessionContext::new_with_state(state);
    functions::register(&ctx);
    datafusion::execution::FunctionRegistry::register_expr_planner(
        &mut ctx,
        Arc::new(calendar::DateArithmetic),
    )
    .map_err(internal)?;
    aggregates::register(&ctx);
    run_avg::register(&ctx);
    checked_sum::register(&ctx);
    moments::register(&ctx);
    timeseries::register(&ctx);
    reduce::register(&ctx);
    regexp_fn::register(&ctx);
    library::register(&ctx);
    patterns::register(&ctx);
    lenient::register(&ctx);
    parameters::register(&ctx);
    // DataFusion's functions that build arrays of any size asked for, which no Timestream function needs (Trino's
    // `sequence`, bounded, is `sequence.rs`): a call could take the server's memory. Trino does not have them either.
    for name in ["range", "generate_series", "array_resize"] {
        ctx.deregister_udf(name);
    }
    Ok(ctx.state())
}

impl QueryEngine {
    pub fn new(
        meta: Arc<dyn MetadataStore>,
        storage: Storage,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self> {
        let env = Arc::new(RuntimeEnv::default());
        let cache = file_cache::FileCache::new(DEFAULT_FILE_CACHE_BYTES);
        let files = DataFiles::register(&env, &storage, cache).map_err(internal)?;
        let session = Arc::new(session(&env)?);
        Ok(Self {
            meta,
            storage,
            runtime,
            files,
            session,
            plans: Arc::default(),
            result_limit: DEFAULT_RESULT_LIMIT,
        })
    }

    /// Keeps at most `bytes` of data files in memory for queries (none for 0), instead of
    /// [`DEFAULT_FILE_CACHE_BYTES`].
    pub fn with_file_cache(self, bytes: u64) -> Result<Self> {
        let cache = file_cache::FileCache::new(bytes);
        let files = DataFiles::register(self.session.runtime_env(), &self.storage, cache)
            .map_err(internal)?;
        Ok(Self { files, ..self })
    }

    /// Queries whose result holds more than `bytes` (of Arrow arrays) fail instead of running on.
    pub fn with_result_limit(self, bytes: usize) -> Self {
        Self {
            result_limit: bytes,
            ..self
        }
    }

    /// A fresh session for one query: a copy of the engine's session, with the query's own (empty) catalog.
    fn session(&self) -> SessionContext {
        let ctx = SessionContext::new_with_state(self.session.as_ref().clone());
        let catalogs = MemoryCatalogProviderList::new();
        let catalog = MemoryCatalogProvider::new();
        let _ = catalog.register_schema("public", Arc::new(MemorySchemaProvider::new()));
        catalogs.register_catalog("datafusion".into(), Arc::new(catalog));
        ctx.register_catalog_list(Arc::new(catalogs));
        ctx
    }

    /// Runs `sql` for the tables of `scope`, to its end.
    pub async fn run(&self, scope: &Scope, sql: &str) -> Result<QueryResult> {
        self.stream(scope, sql, Arc::default(), None, false)
            .await?
            .collect()
            .await
    }

    /// As [`QueryEngine::run`], as a boxed future: a query's end runs queries of its own (`insights.rs`), and the
    /// box keeps the compiler from following that cycle through the futures' types.
    pub(crate) fn run_boxed(
        &self,
        scope: Scope,
        sql: String,
    ) -> futures::future::BoxFuture<'static, Result<QueryResult>> {
        let this = self.clone();
        Box::pin(async move { this.run(&scope, &sql).await })
    }

    /// Starts `sql`, with its progress readable meanwhile through `progress`: its batches as they come, and at the
    /// end its insights when `insights` asks for them. The query fails once it has run for `time_limit`, and stops
    /// when the stream is dropped.
    pub async fn stream(
        &self,
        scope: &Scope,
        sql: &str,
        progress: Arc<Progress>,
        time_limit: Option<Duration>,
        insights: bool,
    ) -> Result<ResultStream> {
        let limits = streaming::Limits {
            deadline: time_limit.map(|limit| (tokio::time::Instant::now() + limit, limit)),
            result_bytes: self.result_limit,
        };
        let this = self.clone();
        let (scope, sql) = (scope.clone(), sql.to_owned());
        let start = self.on_query_runtime(async move {
            this.start_here(&scope, &sql, &progress, limits, insights)
                .await
        });
        limits.bound(start).await
    }

    /// Runs `work` on the query engine's CPU runtime. Dropping the returned future (a cancelled query, or one past
    /// its time limit) stops the work.
    async fn on_query_runtime<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let mut task = AbortOnDrop(self.runtime.spawn(work));
        (&mut task.0)
            .await
            .map_err(|e| Error::Internal(format!("query task failed: {e}")))?
    }

    async fn start_here(
        &self,
        scope: &Scope,
        original: &str,
        progress: &Progress,
        limits: streaming::Limits,
        insights: bool,
    ) -> Result<ResultStream> {
        let query = match self.plan(scope, original, true).await? {
            Planned::Show(result) => return Ok(ResultStream::whole(result)),
            Planned::Query(query) => *query,
        };
        let PlannedQuery {
            mut state,
            plan,
            mut kept,
            reads,
            outputs,
            sql,
            tables,
        } = query;
        let located = |e| classify_in(e, Some(original));
        let kept_physical = match &kept {
            Some(k) => self.plans.physical(k, &tables).await.map_err(located)?,
            None => None,
        };
        let runs = kept_physical.as_ref().map(|(_, runs)| *runs);
        let physical = match kept_physical {
            Some((physical, _)) => physical,
            None => {
                // As `DataFrame::collect`, with the partitions chosen by the plan's size in between.
                let plan = if kept.is_some() {
                    plan
                } else {
                    let optimized = state.optimize(&plan).map_err(located)?;
                    kept = self.plans.put(&sql, &tables, &plan, &optimized, &outputs);
                    optimized
                };
                if estimated_rows(&plan).await.map_err(located)? <= SMALL_QUERY_ROWS {
                    state.config_mut().options_mut().execution.target_partitions = 1;
                }
                state
                    .query_planner()
                    .create_physical_plan(&plan, &state)
                    .await
                    .map_err(located)?
            }
        };
        progress.watch(&physical, runs.is_some());
        let task = Arc::new(TaskContext::from(&state));
        let stream = datafusion::physical_plan::execute_stream(Arc::clone(&physical), task)
            .map_err(located)?;
        let schema = match &outputs.names {
            Some(names) => renamed_schema(&physical.schema(), names),
            None => physical.schema(),
        };
        // The insights, when asked for, are summed up by this engine for this scope once the plan has ended.
        let insights = insights.then(|| (self.clone(), scope.clone()));
        let end = move || {
            if tracing::enabled!(target: "freshet_query::plan", tracing::Level::DEBUG) {
                // A kept plan's metrics add up over every run of it.
                let plan = DisplayableExecutionPlan::with_metrics(physical.as_ref()).indent(true);
                tracing::debug!(target: "freshet_query::plan", "the plan and its metrics:\n{plan}");
            }
            if let Some(kept) = kept
                && let Some(snapshots) = reads.snapshots()
            {
                kept.keep_physical(snapshots, physical, runs);
            }
            let bytes_scanned = reads.bytes();
            let insights = insights.map(|(engine, scope)| (engine, scope, reads.scanned()));
            Box::pin(async move {
                let insights = match insights {
                    Some((engine, scope, scanned)) => {
                        Some(Arc::new(engine.insights(&scope, &scanned).await))
                    }
                    None => None,
                };
                Ended {
                    bytes_scanned,
                    insights,
                }
            }) as futures::future::BoxFuture<'static, Ended>
        };
        let original = original.to_owned();
        let located = move |e| classify_in(e, Some(&original));
        let renamed = outputs.names.is_some().then(|| Arc::clone(&schema));
        let stream = ResultStream::spawn(
            Arc::clone(&schema),
            stream,
            limits,
            move |batch| match &renamed {
                Some(schema) => RecordBatch::try_new(Arc::clone(schema), batch.columns().to_vec())
                    .map_err(internal),
                None => Ok(batch),
            },
            located,
            end,
        );
        if !functions::has_intervals(&schema) {
            return Ok(stream);
        }
        // An interval column's Timestream type depends on every value in it: the result is converted whole.
        let result = stream.collect().await?;
        let (schema, batches) = functions::timestream_intervals(result.schema, result.batches)?;
        Ok(ResultStream::whole(QueryResult {
            schema,
            batches,
            ..result
        }))
    }

    /// Validates and plans `sql` without running it (`PrepareQuery` with `ValidateOnly`): the columns it would
    /// return.
    pub async fn prepare(&self, scope: &Scope, sql: &str) -> Result<Prepared> {
        let this = self.clone();
        let (scope, sql) = (scope.clone(), sql.to_owned());
        self.on_query_runtime(async move {
            let planned = this.plan(&scope, &sql, false).await?;
            let parameters = match &planned {
                Planned::Query(query) => parameters::used(&query.plan),
                Planned::Show(_) => Vec::new(),
            };
            let columns = match planned {
                Planned::Show(result) => result
                    .schema
                    .fields()
                    .iter()
                    .map(|f| PreparedColumn {
                        name: f.name().clone(),
                        data_type: f.data_type().clone(),
                        source: None,
                        aliased: false,
                    })
                    .collect(),
                Planned::Query(query) => {
                    let PlannedQuery { plan, outputs, .. } = *query;
                    let OutputNames { aliased, names } = outputs;
                    let schema = plan.schema();
                    (0..schema.fields().len())
                        .map(|i| {
                            let (qualifier, field) = schema.qualified_field(i);
                            let source = qualifier.and_then(|q| match q {
                                TableReference::Partial { schema, table }
                                | TableReference::Full { schema, table, .. } => {
                                    Some((schema.to_string(), table.to_string()))
                                }
                                TableReference::Bare { .. } => None,
                            });
                            PreparedColumn {
                                name: names
                                    .as_ref()
                                    .and_then(|n| n.get(i).cloned())
                                    .unwrap_or_else(|| field.name().clone()),
                                data_type: field.data_type().clone(),
                                source,
                                aliased: aliased.get(i).copied().unwrap_or(false),
                            }
                        })
                        .collect()
                }
            };
            Ok(Prepared {
                columns,
                parameters,
            })
        })
        .await
    }

    /// Parses, checks and plans a statement: SHOW and DESCRIBE are answered at once, anything else becomes a
    /// DataFusion plan over the tables it names. With `reuse`, the plan may be a kept one, already optimized.
    async fn plan(&self, scope: &Scope, original: &str, reuse: bool) -> Result<Planned> {
        if let Some(statement) = show::parse(original) {
            return Ok(Planned::Show(show::run(self, scope, statement?).await?));
        }
        let (sql, offsets) = dialect::rewrite_mapped(original);
        let ctx = self.session();
        let state = ctx.state();
        let recursion_limit = state.config().options().sql_parser.recursion_limit.get();
        let mut statement = parser::parse_statement(&sql, recursion_limit)
            .map_err(|e| errors::syntax_error_in(&e, Some((original, &sql, &offsets))))?;
        if !parser::is_query(&statement) {
            return Err(Error::Validation(
                "The query syntax is invalid at line 1:1: only queries (SELECT, SHOW, DESCRIBE) can run".into(),
            ));
        }
        trino::rewrite_calls(&mut statement)
            .map_err(|e| Error::Validation(format!("The query syntax is invalid: {e}")))?;
        let references = state
            .resolve_table_references(&statement)
            .map_err(|e| syntax_error(&e))?;

        let reads = Arc::new(Reads::new());
        let mut tables = Vec::new();
        for reference in references {
            let (db, table) = match &reference {
                TableReference::Partial { schema, table }
                | TableReference::Full { schema, table, .. } => {
                    (schema.to_string(), table.to_string())
                }
                TableReference::Bare { table } => {
                    let table = table.to_string();
                    if ctx.table_exist(reference.clone()).unwrap_or(false) {
                        continue; // a CTE or an already registered name
                    }
                    return Err(Error::Validation(format!(
                        "Table {table} must be qualified with its database, as database.table{}",
                        position(original, &table)
                    )));
                }
            };
            if self
                .meta
                .database(scope, &db)
                .await
                .map_err(internal)?
                .is_none()
            {
                return Err(Error::Validation(format!(
                    "Requested database '{db}' not found for identifier '{db}.{table}'{}",
                    position(original, &db)
                )));
            }
            let Some(record) = self
                .meta
                .table(scope, &db, &table)
                .await
                .map_err(internal)?
            else {
                return Err(Error::Validation(format!(
                    "Requested table '{table}' not found for identifier '{db}.{table}'{}",
                    position(original, &table)
                )));
            };
            let provider = Arc::new(
                TimestreamTable::new(
                    record,
                    self.storage.clone(),
                    self.files.clone(),
                    Arc::clone(&reads),
                )
                .await
                .map_err(internal)?,
            );
            if ctx
                .catalog("datafusion")
                .and_then(|c| c.schema(&db))
                .is_none()
                && let Some(catalog) = ctx.catalog("datafusion")
            {
                catalog
                    .register_schema(&db, Arc::new(MemorySchemaProvider::new()))
                    .map_err(internal)?;
            }
            ctx.register_table(
                TableReference::partial(db.clone(), table.clone()),
                Arc::clone(&provider) as Arc<dyn TableProvider>,
            )
            .map_err(internal)?;
            tables.push((reference, provider));
        }

        let kept = if reuse {
            self.plans.get(&sql, &tables)
        } else {
            None
        };
        let (plan, kept, outputs) = match kept {
            Some((plan, outputs, kept)) => (plan, Some(kept), outputs),
            None => {
                unnest::name_unaliased(&mut statement, &ctx, recursion_limit).await;
                let outputs = name_unnamed_columns(&mut statement);
                (
                    state_plan(&state, statement, original).await?,
                    None,
                    outputs,
                )
            }
        };
        Ok(Planned::Query(Box::new(PlannedQuery {
            state,
            plan,
            kept,
            reads,
            outputs,
            sql,
            tables,
        })))
    }

    /// How many queries have run on a kept plan instead of planning their SQL again.
    pub fn plans_reused(&self) -> u64 {
        self.plans.reused()
    }

    /// How many of those runs also ran the physical plan of the kept plan's last run.
    pub fn physical_plans_reused(&self) -> u64 {
        self.plans.physical_reused()
    }

    /// How many data files queries have read whole into memory, and the bytes of those kept there.
    pub fn file_cache(&self) -> (u64, u64) {
        let cache = self.files.cache();
        (cache.loads(), cache.kept_bytes())
    }
}

/// Queries estimated to read at most this many rows run on one partition: for them, a parallel plan's
/// repartitioning, extra tasks and merging cost more than they save (about 0.4 ms of single-groupby-1-1-1's 4 ms).
const SMALL_QUERY_ROWS: u64 = 64 * 1024;

/// About how many rows a plan's table scans read (see `TimestreamTable::estimated_rows`); `u64::MAX` when it
/// scans a table Freshet cannot estimate.
async fn estimated_rows(plan: &LogicalPlan) -> datafusion::error::Result<u64> {
    let mut scans = Vec::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            scans.push((Arc::clone(&scan.source), scan.filters.clone()));
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    let mut rows = 0u64;
    for (source, filters) in scans {
        let provider = source_as_provider(&source)?;
        let Some(table) = provider.downcast_ref::<TimestreamTable>() else {
            return Ok(u64::MAX);
        };
        rows = rows.saturating_add(table.estimated_rows(&filters).await?);
    }
    Ok(rows)
}

/// A statement ready to run.
enum Planned {
    /// SHOW or DESCRIBE, answered already.
    Show(QueryResult),
    Query(Box<PlannedQuery>),
}

struct PlannedQuery {
    /// The query's session, with its tables registered.
    state: SessionState,
    plan: LogicalPlan,
    /// The kept plan `plan` is (optimized already), if it is one.
    kept: Option<Arc<plans::Kept>>,
    reads: Arc<Reads>,
    outputs: OutputNames,
    /// The SQL planned, after Freshet's rewrites.
    sql: String,
    /// The tables it names.
    tables: Vec<(TableReference, Arc<TimestreamTable>)>,
}

/// What `PrepareQuery` tells of a query: the columns it would return and the parameters it uses.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub columns: Vec<PreparedColumn>,
    /// Each parameter's name (`@scheduled_runtime`) and type.
    pub parameters: Vec<(String, datafusion::arrow::datatypes::DataType)>,
}

/// A column a query would return, as `PrepareQuery` describes it.
#[derive(Debug, Clone)]
pub struct PreparedColumn {
    pub name: String,
    pub data_type: datafusion::arrow::datatypes::DataType,
    /// The database and table of a column taken straight from a table.
    pub source: Option<(String, String)>,
    pub aliased: bool,
}

async fn state_plan(
    state: &SessionState,
    statement: datafusion::sql::parser::Statement,
    sql: &str,
) -> Result<datafusion::logical_expr::LogicalPlan> {
    let plan = state
        .statement_to_plan(statement)
        .await
        .map_err(|e| classify_in(e, Some(sql)))?;
    unnest::lateral_unnest(plan).map_err(classify)
}

/// Names output columns as Trino does: a column reference or an alias keeps its name, any other expression of the
/// outermost SELECT is `_col<i>`. The names are given as aliases before planning, which also keeps DataFusion from
/// refusing two identical unnamed expressions (`SELECT 1year, 12month`). A SELECT with `*` is left alone.
///
/// Trino also lets two output columns share a name (`SELECT a, a`), which DataFusion refuses: a repeated name is
/// planned under another and the names to give the result are returned, with which columns the query aliased.
fn name_unnamed_columns(statement: &mut datafusion::sql::parser::Statement) -> OutputNames {
    use datafusion::sql::sqlparser::ast::{
        Expr as SqlExpr, Ident, SelectItem, SetExpr, Statement as SqlStatement,
    };
    let datafusion::sql::parser::Statement::Statement(inner) = statement else {
        return OutputNames::default();
    };
    let SqlStatement::Query(query) = inner.as_mut() else {
        return OutputNames::default();
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return OutputNames::default();
    };
    if select.projection.iter().any(|i| {
        matches!(
            i,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    }) {
        return OutputNames::default();
    }
    let mut names = Vec::with_capacity(select.projection.len());
    let mut aliased = Vec::with_capacity(select.projection.len());
    let mut repeated = false;
    for (i, item) in select.projection.iter_mut().enumerate() {
        aliased.push(matches!(item, SelectItem::ExprWithAlias { .. }));
        if let SelectItem::UnnamedExpr(expr) = item
            && !matches!(
                expr,
                SqlExpr::Identifier(_) | SqlExpr::CompoundIdentifier(_)
            )
        {
            *item = SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: Ident::with_quote('"', format!("_col{i}")),
            };
        }
        let name = match item {
            SelectItem::UnnamedExpr(SqlExpr::Identifier(id)) => id.value.clone(),
            SelectItem::UnnamedExpr(SqlExpr::CompoundIdentifier(ids)) => {
                ids.last().map(|id| id.value.clone()).unwrap_or_default()
            }
            SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
            _ => String::new(),
        };
        if names.contains(&name) {
            repeated = true;
            let expr = match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e.clone(),
                _ => continue,
            };
            *item = SelectItem::ExprWithAlias {
                expr,
                alias: Ident::with_quote('"', format!("__freshet_column_{i}")),
            };
        }
        names.push(name);
    }
    OutputNames {
        aliased,
        names: repeated.then_some(names),
    }
}

/// The outermost SELECT's output columns (nothing for `SELECT *`).
#[derive(Debug, Clone, Default)]
struct OutputNames {
    /// Whether the query gives each an alias (`_colN` names given here do not count).
    aliased: Vec<bool>,
    /// Their names, when some repeat (planned under other names, which DataFusion requires).
    names: Option<Vec<String>>,
}

/// `schema` with its columns named `names`, in order.
fn renamed_schema(schema: &SchemaRef, names: &[String]) -> SchemaRef {
    use datafusion::arrow::datatypes::{Field, Schema};
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(names)
        .map(|(f, n)| f.as_ref().clone().with_name(n))
        .collect();
    Arc::new(Schema::new(fields))
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

/// A task that is aborted when this is dropped: a task's `JoinHandle` alone lets it run on.
#[derive(Debug)]
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
