//! Lambda parameters numbered again after DataFusion's physical projection pushdown.
//!
//! In a lambda's physical body, a captured column is a `Column` numbered among the input's columns, and a parameter
//! is a `LambdaVariable` numbered after them: the input's column count plus its place among the parameters of the
//! lambdas around it. When projection pushdown takes columns out of a projection's input (a `VALUES` list's unused
//! columns), it renumbers the `Column`s but not the `LambdaVariable`s, which then point past the columns, and the
//! query fails (`Field of physical LambdaVariable with index 1 doesn't match batch field`). This rule, run after
//! DataFusion's, numbers each projection's lambda parameters from its input's column count again.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::Transformed;
use datafusion::config::ConfigOptions;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{LambdaExpr, LambdaVariable};
use datafusion::physical_expr::projection::ProjectionExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;

use crate::coop::replace_up;

/// The rule; see the module's documentation.
#[derive(Debug, Default)]
pub struct LambdaParameters;

impl PhysicalOptimizerRule for LambdaParameters {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        replace_up(plan, |node| {
            let Some(projection) = node.downcast_ref::<ProjectionExec>() else {
                return Ok(None);
            };
            let columns = projection.input().schema().fields().len();
            let mut changed = false;
            let exprs = projection
                .expr()
                .iter()
                .map(|e| {
                    let numbered = renumber(&e.expr, columns, &mut Vec::new())?;
                    changed |= numbered.transformed;
                    Ok(ProjectionExpr {
                        expr: numbered.data,
                        alias: e.alias.clone(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            if !changed {
                return Ok(None);
            }
            let input = Arc::clone(projection.input());
            Ok(Some(Arc::new(ProjectionExec::try_new(exprs, input)?)))
        })
    }

    fn name(&self) -> &str {
        "lambda_parameters"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `expr` with each lambda parameter numbered `columns` plus its place in `scope`, the parameters of the lambdas
/// around it (outermost first; an inner parameter shadows an outer one of the same name).
fn renumber(
    expr: &Arc<dyn PhysicalExpr>,
    columns: usize,
    scope: &mut Vec<String>,
) -> Result<Transformed<Arc<dyn PhysicalExpr>>> {
    if let Some(variable) = expr.downcast_ref::<LambdaVariable>() {
        let Some(place) = scope.iter().rposition(|p| p == variable.name()) else {
            return Ok(Transformed::no(Arc::clone(expr)));
        };
        if columns + place == variable.index() {
            return Ok(Transformed::no(Arc::clone(expr)));
        }
        return Ok(Transformed::yes(Arc::new(LambdaVariable::new(
            columns + place,
            Arc::clone(variable.field()),
        ))));
    }
    let own = match expr.downcast_ref::<LambdaExpr>() {
        Some(lambda) => {
            scope.extend(lambda.params().iter().cloned());
            lambda.params().len()
        }
        None => 0,
    };
    let mut changed = false;
    let children = expr
        .children()
        .into_iter()
        .map(|child| {
            let numbered = renumber(child, columns, scope)?;
            changed |= numbered.transformed;
            Ok(numbered.data)
        })
        .collect::<Result<Vec<_>>>();
    scope.truncate(scope.len() - own);
    let children = children?;
    if !changed {
        return Ok(Transformed::no(Arc::clone(expr)));
    }
    Ok(Transformed::yes(
        Arc::clone(expr).with_new_children(children)?,
    ))
}
