//! Sorting what is already partly sorted. Data files are sorted by the table's partition key first
//! (`freshet_storage::compact::sort_rows`), and a table scan says so when it can (`table.rs`). DataFusion then
//! still sorts a scan's whole output for `ORDER BY hostname, time`: it sorts in chunks of equal leading values
//! ([`PartialSortExec`]) only over unbounded inputs. A partial sort gives its first rows after reading a few
//! batches instead of all of them, and sorts small chunks instead of merging runs of the whole input.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::sorts::partial_sort::PartialSortExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};

/// Replaces each full [`SortExec`] whose input is already sorted on a prefix of its keys with a
/// [`PartialSortExec`]. Sorts with a fetch (`LIMIT`) are left alone: their top-k heap reads less.
#[derive(Debug, Default)]
pub struct PartialSorts;

impl PhysicalOptimizerRule for PartialSorts {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            Ok(match partial(node.as_ref())? {
                Some(partial) => Transformed::yes(partial),
                None => Transformed::no(node),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "partial_sorts"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// As DataFusion's `replace_with_partial_sort`, for bounded inputs too.
fn partial(plan: &dyn ExecutionPlan) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(sort) = plan.downcast_ref::<SortExec>() else {
        return Ok(None);
    };
    if sort.fetch().is_some() {
        return Ok(None);
    }
    let input = sort.input();
    let known = input.equivalence_properties();
    let keys = sort.expr();
    let mut prefix = 0;
    while prefix < keys.len() && known.ordering_satisfy(keys[..=prefix].to_vec())? {
        prefix += 1;
    }
    if prefix == 0 || prefix == keys.len() {
        return Ok(None);
    }
    Ok(Some(Arc::new(
        PartialSortExec::new(keys.clone(), Arc::clone(input), prefix)
            .with_preserve_partitioning(sort.preserve_partitioning()),
    )))
}
