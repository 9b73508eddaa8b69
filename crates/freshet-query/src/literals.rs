//! Integer literals typed as Trino types them: INTEGER when the value fits in 32 bits, else BIGINT. DataFusion's
//! SQL planner makes every integer literal a BIGINT (Int64); the analyzer rule [`IntegerLiterals`], run before type
//! coercion, narrows those that fit, so that `SELECT 1` is an INTEGER column, `CASE … THEN 1 ELSE 0 END` too, and
//! `2147483647 + 1` overflows as in Trino. `LIMIT` and `OFFSET` counts stay BIGINT, as DataFusion needs them, and
//! so does every literal of a query that calls a higher-order function (`transform(array[1, 2], x -> x * 10)` is
//! an array of bigint, Trino's of integer).

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, Values};
use datafusion::optimizer::AnalyzerRule;

use crate::checked::rewrite_keeping_names;

#[derive(Debug, Default)]
pub struct IntegerLiterals;

impl AnalyzerRule for IntegerLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        if has_lambda(&plan)? {
            return Ok(plan);
        }
        plan.transform_up_with_subqueries(|plan| match plan {
            LogicalPlan::Limit(_) => Ok(Transformed::no(plan)),
            // A VALUES list's schema is typed from its rows when it is built.
            LogicalPlan::Values(Values { values, schema }) => {
                let mut changed = false;
                let narrowed = values
                    .into_iter()
                    .map(|row| {
                        row.into_iter()
                            .map(|e| {
                                let t = narrow(e)?;
                                changed |= t.transformed;
                                Ok(t.data)
                            })
                            .collect::<Result<Vec<_>>>()
                    })
                    .collect::<Result<Vec<_>>>()?;
                if !changed {
                    return Ok(Transformed::no(LogicalPlan::Values(Values {
                        values: narrowed,
                        schema,
                    })));
                }
                Ok(Transformed::yes(
                    LogicalPlanBuilder::values(narrowed)?.build()?,
                ))
            }
            plan => rewrite_keeping_names(plan, narrow),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "integer_literals"
    }
}

/// Whether the plan calls a higher-order function anywhere. Its lambdas' parameters were typed when it was planned,
/// from its arguments and the columns it reads, which narrowing could change under it.
fn has_lambda(plan: &LogicalPlan) -> Result<bool> {
    let mut found = false;
    plan.apply_with_subqueries(|p| {
        p.apply_expressions(|e| {
            found |= e.exists(|e| Ok(matches!(e, Expr::HigherOrderFunction(_))))?;
            Ok(if found {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        })
    })?;
    Ok(found)
}

fn narrow(e: Expr) -> Result<Transformed<Expr>> {
    e.transform_up(|e| match e {
        Expr::Literal(ScalarValue::Int64(Some(v)), metadata) if i32::try_from(v).is_ok() => Ok(
            Transformed::yes(Expr::Literal(ScalarValue::Int32(Some(v as i32)), metadata)),
        ),
        e => Ok(Transformed::no(e)),
    })
}
