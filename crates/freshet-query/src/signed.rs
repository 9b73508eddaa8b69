//! Counts and positions as BIGINT, as Trino types them. A few of DataFusion's functions answer unsigned integers
//! (`cardinality`, `array_position` and `approx_distinct` a UInt64), which Trino does not have: DataFusion's type
//! coercion then makes `cardinality(a) + 1` a DOUBLE, and `approx_distinct(x) * 100 / count(*)` a division of
//! doubles, where Trino's are of bigints. The analyzer rule [`SignedResults`], run before type coercion, casts each
//! such function call, and each column an aggregation or window answers that way, to BIGINT where it is used.
//!
//! A query that calls a higher-order function is left as it is, as [`crate::literals`] leaves it: its lambdas'
//! parameters were typed when it was planned.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, cast};
use datafusion::optimizer::AnalyzerRule;

use crate::checked::rewrite_keeping_names;
use crate::literals::has_lambda;

#[derive(Debug, Default)]
pub struct SignedResults;

impl AnalyzerRule for SignedResults {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        if has_lambda(&plan)? {
            return Ok(plan);
        }
        plan.transform_up_with_subqueries(|plan| {
            if !matches!(
                plan,
                LogicalPlan::Projection(_)
                    | LogicalPlan::Filter(_)
                    | LogicalPlan::Aggregate(_)
                    | LogicalPlan::Sort(_)
                    | LogicalPlan::Window(_)
            ) {
                return Ok(Transformed::no(plan));
            }
            let Some(schema) = plan
                .inputs()
                .first()
                .map(|input| Arc::clone(input.schema()))
            else {
                return Ok(Transformed::no(plan));
            };
            rewrite_keeping_names(plan, |e| e.transform_up(|e| signed(e, &schema)))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "signed_results"
    }
}

/// A function call or a column of an unsigned integer type, cast to BIGINT. An aggregate or window function's
/// own call is left (an aggregation's expressions must be its calls); its column is cast where it is read.
fn signed(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    if !matches!(e, Expr::ScalarFunction(_) | Expr::Column(_)) {
        return Ok(Transformed::no(e));
    }
    let unsigned = e.get_type(schema).is_ok_and(|t| {
        matches!(
            t,
            DataType::UInt64 | DataType::UInt32 | DataType::UInt16 | DataType::UInt8
        )
    });
    Ok(if unsigned {
        Transformed::yes(cast(e, DataType::Int64))
    } else {
        Transformed::no(e)
    })
}
