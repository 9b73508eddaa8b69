//! `… CROSS JOIN UNNEST(x) AS t (a, …)` where `x` is a column of the left side: the way Timestream queries take a
//! timeseries or an array apart, one row per element.
//!
//! DataFusion plans the UNNEST as a relation of its own whose argument is an outer reference to the left side,
//! which it cannot run. Here such a join becomes an unnest of the left side itself: every left row is repeated once
//! per element, next to that element's columns. As in Trino, a row whose array is empty or null produces no rows.
//!
//! Before planning, an UNNEST of rows without column names gets the rows' field names (`name_unaliased`).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{NullHandling, Result, UnnestOptions};
use datafusion::logical_expr::{
    Expr, JoinType, LogicalPlan, LogicalPlanBuilder, Projection, Unnest,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{
    Ident, Query, SetExpr, Statement as SqlStatement, TableFactor,
};
use datafusion::sql::sqlparser::parser::Parser;

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

/// Names the columns of an UNNEST of rows written without column names, as Trino does: a timeseries unnests into
/// `time` and `value`, an array of rows into its fields. Which it is depends on the argument's type, so each such
/// UNNEST's argument is planned on its own first, over the relations to its left (`SELECT x FROM left`).
pub async fn name_unaliased(
    statement: &mut Statement,
    ctx: &SessionContext,
    recursion_limit: usize,
) {
    let mut skip = 0;
    loop {
        let mut nth = 0;
        let mut probe = None;
        walk_statement(statement, &mut |_, sql| {
            if nth == skip {
                probe = Some(sql);
            }
            nth += 1;
        });
        let Some(probe) = probe else {
            return;
        };
        let fields = row_fields(ctx, &probe, recursion_limit).await;
        let mut nth = 0;
        walk_statement(statement, &mut |factor, _| {
            if nth == skip
                && let Some(fields) = &fields
                && let Some(named) = named_unnest(factor, fields)
            {
                *factor = named;
            }
            nth += 1;
        });
        if fields.is_none() {
            skip += 1; // not rows, or not plannable on its own: left as written
        }
    }
}

/// The field names of the rows that the first column of `probe` holds, if it holds arrays of rows.
async fn row_fields(
    ctx: &SessionContext,
    probe: &str,
    recursion_limit: usize,
) -> Option<Vec<String>> {
    let statement = crate::parser::parse_statement(probe, recursion_limit).ok()?;
    let plan = ctx.state().statement_to_plan(statement).await.ok()?;
    let field = plan.schema().fields().first()?.clone();
    let DataType::List(item) = field.data_type() else {
        return None;
    };
    let DataType::Struct(fields) = item.data_type() else {
        return None;
    };
    Some(fields.iter().map(|f| f.name().clone()).collect())
}

/// `UNNEST(rows)` as `UNNEST(row_field_list(rows, 1), …) AS unnest (field1, …)`.
fn named_unnest(factor: &TableFactor, fields: &[String]) -> Option<TableFactor> {
    let TableFactor::UNNEST { array_exprs, .. } = factor else {
        return None;
    };
    let [rows] = array_exprs.as_slice() else {
        return None;
    };
    let columns: Vec<String> = fields
        .iter()
        .map(|f| Ident::with_quote('"', f).to_string())
        .collect();
    let exprs: Vec<String> = (1..=fields.len())
        .map(|i| format!("row_field_list({rows}, {i})"))
        .collect();
    let sql = format!(
        "UNNEST({}) AS \"unnest\" ({})",
        exprs.join(", "),
        columns.join(", ")
    );
    Parser::new(&crate::parser::TimestreamDialect)
        .try_with_sql(&sql)
        .ok()?
        .parse_table_factor()
        .ok()
}

/// Calls `visit` with each UNNEST of one argument without an alias, in a fixed order, and the query that plans its
/// argument over the relations to its left.
fn walk_statement(statement: &mut Statement, visit: &mut dyn FnMut(&mut TableFactor, String)) {
    if let Statement::Statement(inner) = statement
        && let SqlStatement::Query(query) = inner.as_mut()
    {
        walk_query(query, "", visit);
    }
}

fn walk_query(
    query: &mut Query,
    outer_with: &str,
    visit: &mut dyn FnMut(&mut TableFactor, String),
) {
    let mut with_prefix = outer_with.to_owned();
    if let Some(with) = &mut query.with {
        for i in 0..with.cte_tables.len() {
            let earlier: Vec<String> = with.cte_tables[..i].iter().map(|c| c.to_string()).collect();
            let prefix = if earlier.is_empty() {
                outer_with.to_owned()
            } else {
                format!("WITH {} ", earlier.join(", "))
            };
            walk_query(&mut with.cte_tables[i].query, &prefix, visit);
        }
        with_prefix = format!("{with} ");
    }
    walk_set_expr(&mut query.body, &with_prefix, visit);
}

fn walk_set_expr(
    body: &mut SetExpr,
    prefix: &str,
    visit: &mut dyn FnMut(&mut TableFactor, String),
) {
    match body {
        SetExpr::Select(select) => {
            for from in &mut select.from {
                if let TableFactor::Derived { subquery, .. } = &mut from.relation {
                    walk_query(subquery, prefix, visit);
                }
                for k in 0..from.joins.len() {
                    let left = format!(
                        "{}{}",
                        from.relation,
                        from.joins[..k]
                            .iter()
                            .map(|j| j.to_string())
                            .collect::<String>()
                    );
                    match &mut from.joins[k].relation {
                        TableFactor::UNNEST {
                            alias: None,
                            array_exprs,
                            with_offset: false,
                            with_ordinality: false,
                            ..
                        } if array_exprs.len() == 1 => {
                            let probe = format!("{prefix}SELECT {} FROM {left}", array_exprs[0]);
                            visit(&mut from.joins[k].relation, probe);
                        }
                        TableFactor::Derived { subquery, .. } => {
                            walk_query(subquery, prefix, visit)
                        }
                        _ => {}
                    }
                }
            }
        }
        SetExpr::Query(q) => walk_query(q, prefix, visit),
        SetExpr::SetOperation { left, right, .. } => {
            walk_set_expr(left, prefix, visit);
            walk_set_expr(right, prefix, visit);
        }
        _ => {}
    }
}
