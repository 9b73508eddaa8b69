//! Grouping rows that come in runs. Data files are sorted by the table's partition key first (see `sorted.rs`), so a
//! `GROUP BY` that starts with that dimension sees each group's rows one after another. DataFusion's partial
//! aggregation still hashes and looks up every row's key (on the query benchmark's `lastpoint`, a third of the
//! server's CPU). Over such a scan, this rule puts [`RunsAggregateExec`] in its place: it finds where the keys
//! change (`arrow::compute::partition`, compared column by column), looks up one key per run, and hands the
//! aggregates' own `GroupsAccumulator`s the same group indexes DataFusion would. Its output is the aggregation's
//! it replaces (a partial one's states, for the final aggregation above it, or a single-stage one's values).
//!
//! Only plain partial or single-stage aggregations are replaced: no grouping sets, `FILTER`, `DISTINCT`, ordered
//! aggregates, limit or dynamic filter, every aggregate with a `GroupsAccumulator`, and group keys of scalar, string
//! or dictionary types. Runs are a matter of speed only: any input gives the same groups.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{partition, take};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::Result;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::config::ConfigOptions;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, InputOrderMode, PlanProperties,
    SendableRecordBatchStream, apply_expression_roots,
};
use futures::StreamExt;

/// Replaces each plain partial (or single-stage) [`AggregateExec`] whose first group key is the dimension its
/// input's data files are sorted by with a [`RunsAggregateExec`].
#[derive(Debug, Default)]
pub struct RunsAggregates;

impl PhysicalOptimizerRule for RunsAggregates {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        crate::coop::replace_up(plan, |node| Ok(runs(node)))
    }

    fn name(&self) -> &str {
        "runs_aggregates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

fn runs(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    let agg = plan.downcast_ref::<AggregateExec>()?;
    let group = agg.group_expr();
    let plain = matches!(
        agg.mode(),
        AggregateMode::Partial | AggregateMode::Single | AggregateMode::SinglePartitioned
    ) && *agg.input_order_mode() == InputOrderMode::Linear
        && !group.is_empty()
        && !group.has_grouping_set()
        && agg.limit_options().is_none()
        && plan.dynamic_expressions_produced().is_empty()
        && agg.filter_expr().iter().all(Option::is_none)
        && agg.aggr_expr().iter().all(|a| {
            !a.is_distinct() && a.order_bys().is_empty() && a.groups_accumulator_supported()
        });
    if !plain {
        return None;
    }
    // Keys that arrow's partition kernel and row format both handle: scalars, strings and dictionaries of them.
    let input = agg.input().schema();
    let scalar_keys = group.expr().iter().all(|(e, _)| {
        e.data_type(&input).is_ok_and(|t| match t {
            DataType::Dictionary(_, value) => scalar(&value),
            t => scalar(&t),
        })
    });
    if !scalar_keys {
        return None;
    }
    let first = group.expr()[0].0.downcast_ref::<Column>()?;
    (sorted_by(agg.input())? == first.name()).then(|| {
        Arc::new(RunsAggregateExec {
            agg: Arc::clone(plan),
            metrics: ExecutionPlanMetricsSet::new(),
        }) as Arc<dyn ExecutionPlan>
    })
}

fn scalar(t: &DataType) -> bool {
    t.is_primitive()
        || matches!(
            t,
            DataType::Boolean
                | DataType::Utf8
                | DataType::Utf8View
                | DataType::LargeUtf8
                | DataType::Binary
                | DataType::BinaryView
                | DataType::LargeBinary
        )
}

/// The dimension that every data file `plan` scans (under projections and filters) is sorted by first.
fn sorted_by(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    if plan.is::<ProjectionExec>() || plan.is::<FilterExec>() {
        let [child] = plan.children()[..] else {
            return None;
        };
        return sorted_by(child);
    }
    let scan = plan.downcast_ref::<DataSourceExec>()?;
    let config = scan.data_source().downcast_ref::<FileScanConfig>()?;
    crate::sorted::files_sorted_by(config).map(str::to_owned)
}

/// A partial aggregation that looks up each run of equal group keys once. It holds the [`AggregateExec`] it stands
/// for, whose schema, properties and expressions it shares.
#[derive(Debug)]
pub struct RunsAggregateExec {
    agg: Arc<dyn ExecutionPlan>,
    metrics: ExecutionPlanMetricsSet,
}

impl RunsAggregateExec {
    fn agg(&self) -> &AggregateExec {
        self.agg
            .downcast_ref::<AggregateExec>()
            .expect("a RunsAggregateExec stands for an AggregateExec")
    }
}

impl DisplayAs for RunsAggregateExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "RunsAggregateExec: ")?;
        self.agg().fmt_as(t, f)
    }
}

impl ExecutionPlan for RunsAggregateExec {
    fn name(&self) -> &str {
        "RunsAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.agg.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.agg().input()]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        let agg = self.agg();
        let args = agg.aggr_expr().iter().flat_map(|a| a.expressions());
        apply_expression_roots(agg.group_expr().input_exprs().into_iter().chain(args), f)
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self {
            agg: Arc::clone(&self.agg).with_new_children(children)?,
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let agg = self.agg();
        let input = agg.input().execute(partition, Arc::clone(&context))?;
        let input_schema = agg.input().schema();
        let group: Vec<Arc<dyn PhysicalExpr>> = agg
            .group_expr()
            .expr()
            .iter()
            .map(|(e, _)| Arc::clone(e))
            .collect();
        let fields = group
            .iter()
            .map(|e| Ok(SortField::new(e.data_type(&input_schema)?)))
            .collect::<Result<Vec<_>>>()?;
        let aggregates = agg
            .aggr_expr()
            .iter()
            .map(|a| Ok((a.expressions(), a.create_groups_accumulator()?)))
            .collect::<Result<Vec<_>>>()?;
        let groups = Groups {
            converter: RowConverter::new(fields)?,
            group,
            aggregates,
            schema: agg.schema(),
            partial: *agg.mode() == AggregateMode::Partial,
            batch_size: context.session_config().batch_size(),
            metrics: BaselineMetrics::new(&self.metrics, partition),
        };
        let batches = futures::stream::once(groups.run(input))
            .map(|batches| match batches {
                Ok(batches) => futures::stream::iter(batches.into_iter().map(Ok)).left_stream(),
                Err(e) => futures::stream::iter([Err(e)]).right_stream(),
            })
            .flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            agg.schema(),
            batches,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

type Accumulator = Box<dyn GroupsAccumulator>;

/// One partition's groups: their keys in group order, and the aggregates' accumulators.
struct Groups {
    converter: RowConverter,
    group: Vec<Arc<dyn PhysicalExpr>>,
    /// Each aggregate's arguments and accumulator.
    aggregates: Vec<(Vec<Arc<dyn PhysicalExpr>>, Accumulator)>,
    schema: SchemaRef,
    /// Whether it emits the aggregates' states (for a final aggregation) or their values.
    partial: bool,
    batch_size: usize,
    metrics: BaselineMetrics,
}

impl Groups {
    /// Aggregates all of `input` and returns the groups' keys and states, in batches of at most the batch size.
    async fn run(mut self, mut input: SendableRecordBatchStream) -> Result<Vec<RecordBatch>> {
        let mut keys = self.converter.empty_rows(0, 0);
        let mut index: HashMap<Box<[u8]>, usize> = HashMap::new();
        let mut group_indices = Vec::new();
        let elapsed = self.metrics.elapsed_compute().clone();
        while let Some(batch) = input.next().await {
            let batch = batch?;
            let _timer = elapsed.timer();
            self.add(&batch, &mut keys, &mut index, &mut group_indices)?;
        }
        let _timer = elapsed.timer();
        self.emit(&keys)
    }

    /// Adds a batch's rows to their groups.
    fn add(
        &mut self,
        batch: &RecordBatch,
        keys: &mut Rows,
        index: &mut HashMap<Box<[u8]>, usize>,
        group_indices: &mut Vec<usize>,
    ) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let columns = evaluate(&self.group, batch)?;
        let runs = partition(&columns)?.ranges();
        let starts = UInt32Array::from_iter_values(runs.iter().map(|r| r.start as u32));
        let firsts = columns
            .iter()
            .map(|c| take(c.as_ref(), &starts, None))
            .collect::<Result<Vec<_>, _>>()?;
        let firsts = self.converter.convert_columns(&firsts)?;
        group_indices.clear();
        for (run, key) in runs.iter().zip(firsts.iter()) {
            let g = match index.get(key.as_ref()) {
                Some(&g) => g,
                None => {
                    let g = keys.num_rows();
                    keys.push(key);
                    index.insert(key.as_ref().into(), g);
                    g
                }
            };
            group_indices.extend(std::iter::repeat_n(g, run.len()));
        }
        for (args, accumulator) in &mut self.aggregates {
            let values = evaluate(args, batch)?;
            accumulator.update_batch(&values, group_indices, None, keys.num_rows())?;
        }
        Ok(())
    }

    /// The groups' keys and their aggregates' states (or values), as the aggregation's output.
    fn emit(&mut self, keys: &Rows) -> Result<Vec<RecordBatch>> {
        if keys.num_rows() == 0 {
            return Ok(Vec::new());
        }
        let mut columns = self.converter.convert_rows(keys.iter())?;
        for (_, accumulator) in &mut self.aggregates {
            if self.partial {
                columns.extend(accumulator.state(EmitTo::All)?);
            } else {
                columns.push(accumulator.evaluate(EmitTo::All)?);
            }
        }
        let all = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        self.metrics.record_output(all.num_rows());
        let size = self.batch_size.max(1);
        Ok((0..all.num_rows())
            .step_by(size)
            .map(|offset| all.slice(offset, size.min(all.num_rows() - offset)))
            .collect())
    }
}

fn evaluate(exprs: &[Arc<dyn PhysicalExpr>], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    exprs
        .iter()
        .map(|e| e.evaluate(batch)?.into_array(batch.num_rows()))
        .collect()
}
