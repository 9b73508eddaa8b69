//! `IN`, `EXISTS` and quantified comparisons (`x > ALL (…)`) with a subquery outside `WHERE` and `HAVING`: in the
//! `SELECT` list, a `GROUP BY`, an aggregate's arguments and a window's definition.
//!
//! DataFusion decorrelates such subqueries only in filters (`DecorrelatePredicateSubquery`), where a semi or anti
//! join decides which rows stay; elsewhere the physical planner refuses them. There, the value itself is the
//! answer, with SQL's three-valued logic. This rule runs after DataFusion's `RewriteSetComparison`, which turns a
//! quantified comparison into `EXISTS` tests, and rewrites a projection's or an aggregation's expressions:
//! - each `EXISTS (…)` becomes the mark column of a left mark join of the node's input with the subquery: true where
//!   the subquery has a row for that input row. The subquery's correlated predicates are pulled up into the join's
//!   filter by DataFusion's `PullUpCorrelatedExpr`, as `DecorrelatePredicateSubquery` does. An uncorrelated
//!   subquery is joined with at most one of its rows;
//! - `x IN (SELECT c …)` becomes `CASE WHEN <a c equals x> THEN true WHEN (x IS NULL AND EXISTS (…)) OR
//!   EXISTS (… WHERE c IS NULL) THEN null ELSE false END`, each test a mark join (the `x IS NULL` and `c IS NULL`
//!   tests only where they can be null), and `x NOT IN (…)` its negation, which is Trino's `NOT (x IN (…))`.
//!
//! Expressions keep their names, so the columns are named as the query wrote them. `EXISTS` of an aggregation
//! without `GROUP BY` is true wherever it is, filters included (see [`one_row_exists`]).

use std::collections::BTreeSet;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, Result, ScalarValue, plan_err};
use datafusion::logical_expr::expr::{Exists, InSubquery};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    Expr, ExprSchemable, JoinType, LogicalPlan, LogicalPlanBuilder, lit, when,
};
use datafusion::optimizer::decorrelate::PullUpCorrelatedExpr;
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// The rule; see the module's documentation.
#[derive(Debug, Default)]
pub(crate) struct SelectListSubqueries;

/// The text of the error for a subquery whose correlation cannot become a join's filter (under an aggregation or a
/// limit, say), which `errors.rs` words for the user.
pub(crate) const NOT_DECORRELATED: &str = "freshet: subquery outside WHERE cannot be decorrelated";

impl OptimizerRule for SelectListSubqueries {
    fn name(&self) -> &str {
        "freshet_select_list_subqueries"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        if !has_predicate_subquery(&plan) {
            return Ok(Transformed::no(plan));
        }
        let plan = plan.map_expressions(|e| e.transform_up(one_row_exists))?;
        if !matches!(
            plan.data,
            LogicalPlan::Projection(_) | LogicalPlan::Aggregate(_) | LogicalPlan::Window(_)
        ) || !has_predicate_subquery(&plan.data)
        {
            return Ok(plan);
        }
        let plan = plan.data;
        let names = NamePreserver::new(&plan);
        let mut marks = Marks {
            input: plan.inputs()[0].clone(),
            config,
        };
        let mut exprs = Vec::new();
        for expr in plan.expressions() {
            let saved = names.save(&expr);
            let marked = expr.transform_up(|e| marks.replace(e))?;
            exprs.push(if marked.transformed {
                saved.restore(marked.data)
            } else {
                marked.data
            });
        }
        let rewritten = plan.with_new_exprs(exprs, vec![marks.input])?;
        // A window keeps its input's columns, the marks among them: they are left out again.
        if rewritten.schema().fields().len() == plan.schema().fields().len() {
            return Ok(Transformed::yes(rewritten));
        }
        let columns = plan.schema().columns().into_iter().map(Expr::Column);
        Ok(Transformed::yes(
            LogicalPlanBuilder::from(rewritten)
                .project(columns)?
                .build()?,
        ))
    }
}

/// `EXISTS` of a subquery that always has exactly one row, an aggregation without `GROUP BY`, is true (and `NOT
/// EXISTS` false), wherever it is. Decorrelating it would group the aggregation by the correlated columns, and
/// leave out the rows for which the subquery reads no rows, as DataFusion does in filters.
fn one_row_exists(expr: Expr) -> Result<Transformed<Expr>> {
    match expr {
        Expr::Exists(Exists { subquery, negated }) if one_row(&subquery.subquery) => {
            Ok(Transformed::yes(lit(!negated)))
        }
        e => Ok(Transformed::no(e)),
    }
}

fn one_row(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Projection(p) => one_row(&p.input),
        LogicalPlan::SubqueryAlias(a) => one_row(&a.input),
        LogicalPlan::Aggregate(a) => a.group_expr.is_empty(),
        _ => false,
    }
}

/// Whether an aggregation without `GROUP BY` reads correlated rows: decorrelated, it would answer nothing where it
/// reads no rows, where SQL answers the aggregates of no rows (a count of 0, a null maximum).
fn correlated_global_aggregate(plan: &LogicalPlan) -> bool {
    plan.exists(|node| {
        Ok(
            matches!(node, LogicalPlan::Aggregate(a) if a.group_expr.is_empty())
                && node.inputs()[0]
                    .exists(|inner| Ok(inner.expressions().iter().any(|e| e.contains_outer())))?,
        )
    })
    .unwrap_or(true)
}

/// Whether the node's expressions test a subquery with `IN` or `EXISTS` (not looking into the subqueries).
fn has_predicate_subquery(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_expressions(|e| {
        found = e.exists(|e| Ok(matches!(e, Expr::InSubquery(_) | Expr::Exists(_))))?;
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// A node's input, with a mark join more for each subquery test of its expressions.
struct Marks<'a> {
    input: LogicalPlan,
    config: &'a dyn OptimizerConfig,
}

impl Marks<'_> {
    /// `expr` with its `IN` or `EXISTS` test (not those below it) answered by mark columns.
    fn replace(&mut self, expr: Expr) -> Result<Transformed<Expr>> {
        let test = match expr {
            Expr::Exists(Exists { subquery, negated }) => {
                let exists = self.mark(&subquery.subquery, None)?;
                if negated { !exists } else { exists }
            }
            Expr::InSubquery(InSubquery {
                expr,
                subquery,
                negated,
            }) => {
                let plan = subquery.subquery.as_ref();
                let Some((qualifier, field)) = plan.schema().iter().next() else {
                    return plan_err!("single expression required.");
                };
                let value = Expr::Column(Column::from((qualifier, field)));
                let expr = *expr;
                let matched = self.mark(plan, Some(&expr))?;
                // No match: null where the subquery has a null, or where x is null and the subquery has rows.
                let mut unknown = lit(false);
                if field.is_nullable() {
                    let nulls = LogicalPlanBuilder::from(plan.clone())
                        .filter(value.is_null())?
                        .build()?;
                    unknown = self.mark(&nulls, None)?;
                }
                if expr.nullable(self.input.schema().as_ref())? {
                    unknown = expr.is_null().and(self.mark(plan, None)?).or(unknown);
                }
                let test = when(matched, lit(true))
                    .when(unknown, lit(ScalarValue::Boolean(None)))
                    .otherwise(lit(false))?;
                if negated { !test } else { test }
            }
            e => return Ok(Transformed::no(e)),
        };
        Ok(Transformed::yes(test))
    }

    /// Joins `subquery` to the input with a left mark join and returns the mark column: whether the subquery has a
    /// row for the input row, where `x` (for `x IN`) equals its value. The subquery's correlated predicates become
    /// the join's filter, as in `DecorrelatePredicateSubquery`; an uncorrelated subquery is joined with at most one
    /// of its rows.
    fn mark(&mut self, subquery: &LogicalPlan, x: Option<&Expr>) -> Result<Expr> {
        if correlated_global_aggregate(subquery) {
            return plan_err!("{NOT_DECORRELATED}");
        }
        let alias = self.config.alias_generator().next("__select_sq");
        let head = subquery.schema().iter().next().map(|(qualifier, field)| {
            (
                Expr::Column(Column::from((qualifier, field))),
                Column::new(Some(alias.as_str()), field.name()),
            )
        });
        let in_predicate = x
            .zip(head.clone())
            .map(|(x, (value, _))| x.clone().eq(value));
        let mut pull_up = PullUpCorrelatedExpr::new()
            .with_in_predicate_opt(in_predicate)
            .with_exists_sub_query(x.is_none());
        let right = subquery.clone().rewrite(&mut pull_up)?.data;
        if !pull_up.can_pull_up {
            return plan_err!("{NOT_DECORRELATED}");
        }
        let correlated: BTreeSet<&Column> = pull_up
            .correlated_subquery_cols_map
            .values()
            .flatten()
            .collect();
        let mut filters = Vec::new();
        // x equals the subquery's value, as the subquery's parent (the alias) names it.
        if let Some((x, (_, aliased))) = x.zip(head) {
            filters.push(x.clone().eq(Expr::Column(aliased)));
        }
        for filter in std::mem::take(&mut pull_up.join_filters) {
            filters.push(
                filter
                    .transform(|e| match e {
                        Expr::Column(c) if correlated.contains(&c) => Ok(Transformed::yes(
                            Expr::Column(Column::new(Some(alias.as_str()), c.name)),
                        )),
                        e => Ok(Transformed::no(e)),
                    })?
                    .data,
            );
        }
        let mut right = LogicalPlanBuilder::from(right);
        if filters.is_empty() {
            right = right.limit(0, Some(1))?;
        }
        self.input = LogicalPlanBuilder::from(self.input.clone())
            .join_on(
                right.alias(alias.as_str())?.build()?,
                JoinType::LeftMark,
                Some(conjunction(filters).unwrap_or_else(|| lit(true))),
            )?
            .build()?;
        Ok(Expr::Column(Column::new(Some(alias), "mark")))
    }
}
