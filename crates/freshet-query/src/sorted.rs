//! Sorting what is already partly sorted. Data files are sorted by the table's partition key first, nulls last
//! (`freshet_storage::compact::sort_rows`), and each file's metadata says so; a table scan marks such files
//! (`table::SortedBy`). For a full sort whose first key is that dimension, over such a scan (through projections and
//! filters), this rule reads each file as a partition of its own, declares the files' order, and sorts with
//! DataFusion's [`PartialSortExec`]: each value's rows apart, giving the first rows after a few batches instead of
//! all of them, with no merge of runs of the whole input. DataFusion uses a partial sort only over unbounded inputs.
//!
//! Only sorts are rewritten: declaring the order on every scan changes other plans too (DataFusion then keeps the
//! order through repartitioning for a `GROUP BY hostname`, which made such aggregations slower).

use std::sync::Arc;

use datafusion::arrow::compute::SortOptions;
use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::sorts::partial_sort::PartialSortExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::{
    ExecutionPlan, ExecutionPlanProperties, replace_children_if_necessary,
};

use crate::table::SortedBy;

/// Replaces each full [`SortExec`] over data files sorted on its first key with a [`PartialSortExec`] over the
/// files read one a partition. Sorts with a fetch (`LIMIT`) are left alone: their top-k heap reads less.
#[derive(Debug, Default)]
pub struct PartialSorts;

impl PhysicalOptimizerRule for PartialSorts {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        crate::coop::replace_up(plan, |node| partial(node.as_ref()))
    }

    fn name(&self) -> &str {
        "partial_sorts"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

fn partial(plan: &dyn ExecutionPlan) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(sort) = plan.downcast_ref::<SortExec>() else {
        return Ok(None);
    };
    if sort.fetch().is_some() {
        return Ok(None);
    }
    let Some(input) = in_file_order(sort.input())? else {
        return Ok(None);
    };
    // As DataFusion's `replace_with_partial_sort`: the longest prefix of the keys the input is sorted on.
    let known = input.equivalence_properties();
    let keys = sort.expr();
    let mut prefix = 0;
    while prefix < keys.len() && known.ordering_satisfy(keys[..=prefix].to_vec())? {
        prefix += 1;
    }
    let sorted: Arc<dyn ExecutionPlan> = match prefix {
        0 => return Ok(None),
        p if p == keys.len() => input,
        p => {
            Arc::new(PartialSortExec::new(keys.clone(), input, p).with_preserve_partitioning(true))
        }
    };
    // The files are partitions now: a sort into one partition merges them.
    Ok(Some(if sort.preserve_partitioning() {
        sorted
    } else {
        Arc::new(SortPreservingMergeExec::new(keys.clone(), sorted))
    }))
}

/// `plan` reading its data files one a partition, in the order they are sorted in: when it is a scan of files that
/// all lead with the same dimension, under projections and filters (which keep each partition's order).
fn in_file_order(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if plan.is::<ProjectionExec>() || plan.is::<FilterExec>() {
        let [child] = plan.children()[..] else {
            return Ok(None);
        };
        return match in_file_order(child)? {
            Some(child) => Ok(Some(replace_children_if_necessary(
                Arc::clone(plan),
                vec![child],
            )?)),
            None => Ok(None),
        };
    }
    let Some(scan) = plan.downcast_ref::<DataSourceExec>() else {
        return Ok(None);
    };
    let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>() else {
        return Ok(None);
    };
    let Some(lead) = files_sorted_by(config) else {
        return Ok(None);
    };
    let files: Vec<&PartitionedFile> = config.file_groups.iter().flat_map(|g| g.iter()).collect();
    let Ok(i) = config.file_schema().index_of(lead) else {
        return Ok(None);
    };
    let order = PhysicalSortExpr::new(
        Arc::new(Column::new(lead, i)),
        SortOptions {
            descending: false,
            nulls_first: false,
        },
    );
    let config = FileScanConfigBuilder::from(config.clone())
        .with_file_groups(
            files
                .into_iter()
                .map(|f| FileGroup::new(vec![f.clone()]))
                .collect(),
        )
        .with_output_ordering(LexOrdering::new([order]).into_iter().collect())
        .build();
    Ok(Some(DataSourceExec::from_data_source(config)))
}

/// The dimension that every data file of `config` is sorted by first (`table::SortedBy`), if they share one.
pub(crate) fn files_sorted_by(config: &FileScanConfig) -> Option<&str> {
    let mut leads = config
        .file_groups
        .iter()
        .flat_map(|g| g.iter())
        .map(|f| f.extensions.get::<SortedBy>().map(|s| s.0.as_str()));
    let lead = leads.next()??;
    leads.all(|l| l == Some(lead)).then_some(lead)
}
