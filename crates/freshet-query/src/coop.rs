//! Stopping queries. A cancelled query (or one past its time limit) stops when its task is aborted, and tokio
//! aborts a task only when the task yields. DataFusion makes a plan's leaves yield once their task has used up its
//! budget (`EnsureCooperative`), but a join or an `UNNEST` can produce rows for hours between two polls of a leaf:
//! a cross join of three 10,000-row `UNNEST`s never reads a leaf again once it has started. So their output
//! takes from the budget too.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::joins::{
    CrossJoinExec, HashJoinExec, NestedLoopJoinExec, SortMergeJoinExec, SymmetricHashJoinExec,
};
use datafusion::physical_plan::unnest::UnnestExec;

/// Puts a [`CooperativeExec`] above every operator whose output can outgrow its input.
#[derive(Debug, Default)]
pub struct YieldingOutput;

impl PhysicalOptimizerRule for YieldingOutput {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        replace_up(plan, |node| {
            Ok(multiplies(node.as_ref()).then(|| {
                Arc::new(CooperativeExec::new(Arc::clone(node))) as Arc<dyn ExecutionPlan>
            }))
        })
    }

    fn name(&self) -> &str {
        "yielding_output"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` with each node, from the leaves up, replaced by what `replace` gives for it, if anything.
pub(crate) fn replace_up(
    plan: Arc<dyn ExecutionPlan>,
    replace: impl Fn(&Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        Ok(match replace(&node)? {
            Some(new) => Transformed::yes(new),
            None => Transformed::no(node),
        })
    })
    .map(|t| t.data)
}

/// Joins and `UNNEST`: the operators that can give many rows for each row they read.
fn multiplies(plan: &dyn ExecutionPlan) -> bool {
    plan.is::<CrossJoinExec>()
        || plan.is::<NestedLoopJoinExec>()
        || plan.is::<HashJoinExec>()
        || plan.is::<SortMergeJoinExec>()
        || plan.is::<SymmetricHashJoinExec>()
        || plan.is::<UnnestExec>()
}
