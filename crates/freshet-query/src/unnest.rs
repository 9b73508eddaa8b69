//! `… CROSS JOIN UNNEST(x) AS t (a, …)` where `x` is a column of the left side: the way Timestream queries take a
//! timeseries or an array apart, one row per element.
//!
//! DataFusion plans the UNNEST as a relation of its own whose argument is an outer reference to the left side,
//! which it cannot run. Here such a join becomes an unnest of the left side itself: every left row is repeated once
//! per element, next to that element's columns. As in Trino, a row whose array is empty or null produces no rows.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{NullHandling, Result, UnnestOptions};
use datafusion::logical_expr::{
    Expr, JoinType, LogicalPlan, LogicalPlanBuilder, Projection, Unnest,
};

/// Rewrites every join of a relation with an UNNEST of its own columns.
pub fn lateral_unnest(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::Join(join) = &node else {
            return Ok(Transformed::no(node));
        };
        if join.join_type != JoinType::Inner || !join.on.is_empty() || join.filter.is_some() {
            return Ok(Transformed::no(node));
        }
        match unnest_of(&join.left, &join.right)? {
            Some(plan) => Ok(Transformed::yes(plan)),
            None => Ok(Transformed::no(node)),
        }
    })
    .map(|t| t.data)
}

/// `left` joined with `right`, when `right` is an UNNEST of expressions over `left`'s columns, as one plan.
fn unnest_of(left: &Arc<LogicalPlan>, right: &Arc<LogicalPlan>) -> Result<Option<LogicalPlan>> {
    // right: [SubqueryAlias] → [Subquery] → Projection* → Unnest → Projection(arguments) → EmptyRelation
    let mut node = right.as_ref();
    if let LogicalPlan::SubqueryAlias(a) = node {
        node = a.input.as_ref();
    }
    if let LogicalPlan::Subquery(s) = node {
        node = s.subquery.as_ref();
    }
    let mut above: Vec<&Projection> = Vec::new();
    while let LogicalPlan::Projection(p) = node {
        above.push(p);
        node = p.input.as_ref();
    }
    let LogicalPlan::Unnest(Unnest {
        input,
        exec_columns,
        options,
        schema: unnest_schema,
        ..
    }) = node
    else {
        return Ok(None);
    };
    let LogicalPlan::Projection(arguments) = input.as_ref() else {
        return Ok(None);
    };
    if !matches!(arguments.input.as_ref(), LogicalPlan::EmptyRelation(_)) {
        return Ok(None);
    }
    let mut outer = false;
    let argument_exprs = arguments
        .expr
        .iter()
        .map(|e| {
            e.clone()
                .transform_up(|e| match e {
                    Expr::OuterReferenceColumn(_, column) => {
                        outer = true;
                        Ok(Transformed::yes(Expr::Column(column)))
                    }
                    other => Ok(Transformed::no(other)),
                })
                .map(|t| t.data)
        })
        .collect::<Result<Vec<_>>>()?;
    if !outer {
        return Ok(None);
    }

    // The right side's output columns, as expressions over the unnest's output.
    let mut outputs: Vec<Expr> = match above.first() {
        Some(top) => top.expr.iter().map(|e| e.clone().unalias()).collect(),
        None => unnest_schema
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect(),
    };
    for below in above.iter().skip(1) {
        outputs = outputs
            .into_iter()
            .map(|e| inline(e, below))
            .collect::<Result<_>>()?;
    }

    let left_columns: Vec<Expr> = left
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let options = UnnestOptions {
        null_handling: NullHandling::Drop,
        ..options.clone()
    };
    let named = right
        .schema()
        .iter()
        .zip(outputs)
        .map(|((qualifier, field), e)| e.alias_qualified(qualifier.cloned(), field.name()));
    let plan = LogicalPlanBuilder::from(left.as_ref().clone())
        .project(left_columns.iter().cloned().chain(argument_exprs))?
        .unnest_columns_with_options(exec_columns.clone(), options)?
        .project(left_columns.into_iter().chain(named))?
        .build()?;
    Ok(Some(plan))
}

/// `expr` with each column of `below`'s output replaced by the expression that computes it.
fn inline(expr: Expr, below: &Projection) -> Result<Expr> {
    expr.transform_up(|e| match e {
        Expr::Column(c) => {
            let i = below.schema.index_of_column(&c)?;
            Ok(Transformed::yes(below.expr[i].clone().unalias()))
        }
        other => Ok(Transformed::no(other)),
    })
    .map(|t| t.data)
}
