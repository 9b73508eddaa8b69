//! Integer literals typed as Trino types them: INTEGER when the value fits in 32 bits, else BIGINT. DataFusion's
//! SQL planner makes every integer literal a BIGINT (Int64); the analyzer rule [`IntegerLiterals`], run before type
//! coercion, narrows those that fit, so that `SELECT 1` is an INTEGER column, `CASE … THEN 1 ELSE 0 END` too, and
//! `2147483647 + 1` overflows as in Trino. `LIMIT` and `OFFSET` counts stay BIGINT, as DataFusion needs them, and
//! so does every literal of a query that calls a higher-order function (`transform(array[1, 2], x -> x * 10)` is
//! an array of bigint, Trino's of integer).

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{ExprSchema, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::utils::merge_schema;
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
        .and_then(|t| retype_outer_references(t.data))
    }

    fn name(&self) -> &str {
        "integer_literals"
    }
}

/// A subquery's references to the query around it (`WHERE s.y > t.x`) keep the type their column had when the query
/// was planned. Where narrowing made that column an INTEGER, a reference still saying BIGINT would leave the
/// comparison uncast by type coercion, and it would fail at run time; so each subquery's references take their
/// column's type from the inputs of the node that holds the subquery.
fn retype_outer_references(plan: LogicalPlan) -> Result<LogicalPlan> {
    let mut subqueries = false;
    plan.apply_with_subqueries(|node| {
        subqueries = matches!(node, LogicalPlan::Subquery(_));
        Ok(if subqueries {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    if !subqueries {
        return Ok(plan);
    }
    plan.transform_up_with_subqueries(|node| {
        // Narrowing rebuilt VALUES lists with new schemas, which the nodes above them do not have yet; bottom up,
        // each node's inputs are recomputed before it.
        let node = node.recompute_schema()?;
        let outer = merge_schema(&node.inputs());
        node.map_subqueries(|subquery| {
            let LogicalPlan::Subquery(mut subquery) = subquery else {
                return Ok(Transformed::no(subquery));
            };
            let retype = |e: Expr| {
                e.transform(|e| match e {
                    Expr::OuterReferenceColumn(field, column) => {
                        match outer.field_from_column(&column) {
                            Ok(now) if now.data_type() != field.data_type() => {
                                Ok(Transformed::yes(Expr::OuterReferenceColumn(
                                    Arc::clone(now),
                                    column,
                                )))
                            }
                            _ => Ok(Transformed::no(Expr::OuterReferenceColumn(field, column))),
                        }
                    }
                    e => Ok(Transformed::no(e)),
                })
            };
            let plan = Arc::unwrap_or_clone(subquery.subquery)
                .transform_up(|p| p.map_expressions(&retype))?;
            if !plan.transformed {
                subquery.subquery = Arc::new(plan.data);
                return Ok(Transformed::no(LogicalPlan::Subquery(subquery)));
            }
            // Nodes above a retyped reference may carry its type in their schemas.
            let plan = plan
                .data
                .transform_up(|p| Ok(Transformed::yes(p.recompute_schema()?)))?;
            subquery.subquery = Arc::new(plan.data);
            subquery.outer_ref_columns = subquery
                .outer_ref_columns
                .into_iter()
                .map(|e| retype(e).map(|t| t.data))
                .collect::<Result<_>>()?;
            Ok(Transformed::yes(LogicalPlan::Subquery(subquery)))
        })
    })
    .map(|t| t.data)
}

/// Whether the plan calls a higher-order function anywhere. Its lambdas' parameters were typed when it was planned,
/// from its arguments and the columns it reads, which narrowing could change under it.
pub(crate) fn has_lambda(plan: &LogicalPlan) -> Result<bool> {
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
