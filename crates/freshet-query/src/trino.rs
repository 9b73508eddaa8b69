//! Trino spellings that DataFusion has under other names or forms, rewritten in the parsed statement before
//! planning, so that DataFusion's planner types them as it types its own:
//!
//! - `if(c, a [, b])` → `CASE WHEN c THEN a [ELSE b] END`;
//! - `date(x)` → `CAST(x AS DATE)`; `mod(a, b)` → `a % b`;
//! - `count_if(c)` → `count(CASE WHEN c THEN 1 END)`;
//! - `approx_percentile(x, p)` → `approx_percentile_cont(p) WITHIN GROUP (ORDER BY x)`;
//! - `regexp_extract(s, p [, g])` → group `g` (default 0, the whole match) of `regexp_match`;
//! - renamed: `is_nan` → `isnan`, `element_at` → `array_element`, `split` → `string_to_array`, `ceiling` → `ceil`,
//!   `truncate` → `trunc`, `sign` → `signum`, `every` → `bool_and`, `arbitrary` → `first_value`, `codepoint` →
//!   `ascii`, `levenshtein_distance` → `levenshtein`;
//! - `localtime`, `localtimestamp` → `current_time`, `current_timestamp` (all times are UTC).

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

/// Rewrites the Trino spellings in `statement`.
pub fn rewrite_calls(statement: &mut Statement) -> Result<(), ParserError> {
    let Statement::Statement(inner) = statement else {
        return Ok(());
    };
    let outcome = visit_expressions_mut(inner.as_mut(), |expr| match replacement(expr) {
        Ok(Some(new)) => {
            *expr = new;
            ControlFlow::Continue(())
        }
        Ok(None) => ControlFlow::Continue(()),
        Err(e) => ControlFlow::Break(e),
    });
    match outcome {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn parse(sql: &str) -> Result<Expr, ParserError> {
    Parser::new(&GenericDialect {})
        .try_with_sql(sql)?
        .parse_expr()
}

/// The plain positional arguments of a call, or `None` if it has anything else (named arguments, DISTINCT…).
fn plain_args(f: &Function) -> Option<Vec<String>> {
    let list = match &f.args {
        FunctionArguments::None => return Some(Vec::new()),
        FunctionArguments::Subquery(_) => return None,
        FunctionArguments::List(list) => list,
    };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return None;
    }
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.to_string()),
            _ => None,
        })
        .collect()
}

fn replacement(expr: &Expr) -> Result<Option<Expr>, ParserError> {
    let f = match expr {
        Expr::Identifier(ident) if ident.quote_style.is_none() => {
            return match ident.value.to_ascii_lowercase().as_str() {
                "localtime" => parse("current_time").map(Some),
                "localtimestamp" => parse("current_timestamp").map(Some),
                _ => Ok(None),
            };
        }
        Expr::Function(f) if f.name.0.len() == 1 => f,
        _ => return Ok(None),
    };
    let name = f.name.to_string().to_ascii_lowercase();
    let renamed = match name.as_str() {
        "is_nan" => Some("isnan"),
        "element_at" => Some("array_element"),
        "split" => Some("string_to_array"),
        "ceiling" => Some("ceil"),
        "truncate" => Some("trunc"),
        "sign" => Some("signum"),
        "every" => Some("bool_and"),
        "arbitrary" => Some("first_value"),
        "codepoint" => Some("ascii"),
        "levenshtein_distance" => Some("levenshtein"),
        "localtime" => Some("current_time"),
        "localtimestamp" => Some("current_timestamp"),
        _ => None,
    };
    if let Some(new) = renamed {
        let mut f = f.clone();
        f.name = datafusion::sql::sqlparser::ast::ObjectName::from(vec![
            datafusion::sql::sqlparser::ast::Ident::new(new),
        ]);
        return Ok(Some(Expr::Function(f)));
    }
    let Some(args) = plain_args(f) else {
        return Ok(None);
    };
    let plain = f.filter.is_none() && f.over.is_none() && f.within_group.is_empty();
    let sql = match (name.as_str(), args.as_slice()) {
        ("if", [c, a]) if plain => format!("CASE WHEN {c} THEN {a} END"),
        ("if", [c, a, b]) if plain => format!("CASE WHEN {c} THEN {a} ELSE {b} END"),
        ("date", [x]) if plain => format!("CAST({x} AS DATE)"),
        ("mod", [a, b]) if plain => format!("(({a}) % ({b}))"),
        ("regexp_extract", [s, p]) if plain => {
            format!("array_element(regexp_match({s}, concat('(', {p}, ')')), 1)")
        }
        ("regexp_extract", [s, p, g]) if plain => {
            format!("array_element(regexp_match({s}, concat('(', {p}, ')')), ({g}) + 1)")
        }
        ("count_if", [c]) => {
            // FILTER and OVER carry over to the rewritten call.
            let Expr::Function(mut new) = parse(&format!("count(CASE WHEN {c} THEN 1 END)"))?
            else {
                return Ok(None);
            };
            new.filter.clone_from(&f.filter);
            new.over.clone_from(&f.over);
            return Ok(Some(Expr::Function(new)));
        }
        ("approx_percentile", [x, p]) if f.within_group.is_empty() => {
            let Expr::Function(mut new) = parse(&format!(
                "approx_percentile_cont({p}) WITHIN GROUP (ORDER BY {x})"
            ))?
            else {
                return Ok(None);
            };
            new.filter.clone_from(&f.filter);
            new.over.clone_from(&f.over);
            return Ok(Some(Expr::Function(new)));
        }
        _ => return Ok(None),
    };
    parse(&sql).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParser;

    fn rewritten(sql: &str) -> String {
        let mut statements = DFParser::parse_sql(sql).unwrap();
        let mut s = statements.pop_front().unwrap();
        rewrite_calls(&mut s).unwrap();
        s.to_string()
    }

    #[test]
    fn trino_spellings_become_datafusion_ones() {
        assert_eq!(
            rewritten("SELECT if(x > 1, 'a', 'b'), if(y, 2) FROM t"),
            "SELECT CASE WHEN x > 1 THEN 'a' ELSE 'b' END, CASE WHEN y THEN 2 END FROM t"
        );
        assert_eq!(
            rewritten("SELECT count_if(x > 1) FILTER (WHERE y), date(t), localtimestamp FROM t"),
            "SELECT count(CASE WHEN x > 1 THEN 1 END) FILTER (WHERE y), CAST(t AS DATE), current_timestamp FROM t"
        );
        assert_eq!(
            rewritten("SELECT approx_percentile(v, 0.9), is_nan(v), element_at(a, 2) FROM t"),
            "SELECT approx_percentile_cont(0.9) WITHIN GROUP (ORDER BY v), isnan(v), array_element(a, 2) FROM t"
        );
        // Nested calls are rewritten inside out; quoted names are left alone.
        assert_eq!(
            rewritten("SELECT if(is_nan(v), date(\"localtime\")) FROM t"),
            "SELECT CASE WHEN isnan(v) THEN CAST(\"localtime\" AS DATE) END FROM t"
        );
    }
}
