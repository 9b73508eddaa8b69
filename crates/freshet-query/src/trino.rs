//! Trino spellings that DataFusion has under other names or forms, rewritten in the parsed statement before
//! planning, so that DataFusion's planner types them as it types its own:
//!
//! - `if(c, a [, b])` → `CASE WHEN c THEN a [ELSE b] END`;
//! - `date(x)` → `CAST(x AS DATE)`; `mod(a, b)` → `a % b`;
//! - `count_if(c)` → `count(CASE WHEN c THEN 1 END)`;
//! - `approx_percentile(x, p)` → `approx_percentile_cont(p) WITHIN GROUP (ORDER BY x)`;
//! - `regexp_extract(s, p)` → `regexp_extract(s, p, 0)` and `regexp_replace(s, p)` → `regexp_replace(s, p, '')`
//!   (`patterns.rs`), `regexp_replace(s, p, x -> …)` → `regexp_replace_fn` (`regexp_fn.rs`);
//! - renamed (see `replacement` for the full list): `is_nan` → `isnan`, `element_at` → `array_element`, `every` → `bool_and`, `arbitrary` → `first_value`, `zip` → `arrays_zip`, `repeat` →
//!   `array_repeat` (with a count of at most 10,000), `variance` → `var_samp`, `bitwise_and_agg` → `bit_and`…; `localtime`, `localtimestamp` →
//!   `current_time`, `current_timestamp` (all times are UTC);
//! - other arities or semantics onto DataFusion's functions or Freshet's (`library.rs`): `split(s, d [, n])`,
//!   `strpos(s, x [, n])`, `strrpos`, 2-argument `replace`, `slice`, the
//!   `bitwise_*` functions as operators, `e()`, `nan()`, `infinity()`, `is_finite`, `random(n)`, `nanosecond`,
//!   `geometric_mean`, `max_by`/`min_by`/`max`/`min` with a count, `try` (see `try_of`), `reverse`, `concat`,
//!   `substr` (negative starts) and `approx_distinct` of doubles; `length`, `strpos`, `position`, `extract` and
//!   `levenshtein_distance` as BIGINT;
//! - `filter`, `transform`, `any_match` → `array_filter`, `array_transform`, `array_any_match`; inside a lambda,
//!   a row field of a parameter (`x.value`) → `get_field(x, 'value')`;
//! - `create_time_series(t, v)` → `array_agg(named_struct('time', t, 'value', v) ORDER BY t) FILTER (WHERE v IS
//!   NOT NULL AND t IS NOT NULL)`: a timeseries is an array of `(time, value)` rows (see `timeseries.rs`);
//! - `UNNEST(rows) AS t(a, b…)`, one array of rows unnested into several columns → `UNNEST(row_field_list(rows,
//!   1), row_field_list(rows, 2)…)`, one array per row field, which DataFusion unnests side by side.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, LambdaFunction,
    OneOrManyWithParens, TableFactor, VisitMut, VisitorMut, visit_expressions_mut,
};
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
    if let ControlFlow::Break(e) = outcome {
        return Err(e);
    }
    match inner.visit(&mut UnnestColumns) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Splits an UNNEST of one array of rows, aliased with several column names, into one array per row field.
struct UnnestColumns;

impl VisitorMut for UnnestColumns {
    type Break = ParserError;

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<ParserError> {
        let TableFactor::UNNEST {
            alias: Some(alias),
            array_exprs,
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        if let [rows] = array_exprs.as_slice()
            && alias.columns.len() > 1
        {
            let split = (1..=alias.columns.len())
                .map(|i| parse(&format!("row_field_list({rows}, {i})")))
                .collect::<Result<Vec<_>, _>>();
            match split {
                Ok(split) => *array_exprs = split,
                Err(e) => return ControlFlow::Break(e),
            }
        }
        ControlFlow::Continue(())
    }
}

/// `try(x)`: Trino answers null where `x` fails. Casts become `TRY_CAST` and a division or remainder by zero gives
/// null; the rest is `trino_try(x)`, whose functions fail row by row into nulls (`lenient.rs`).
fn try_of(f: &Function) -> Option<Expr> {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, CastKind};
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(inner))] = list.args.as_slice() else {
        return None;
    };
    let mut inner = inner.clone();
    let _ = visit_expressions_mut(&mut inner, |e| {
        match e {
            Expr::Cast { kind, .. }
                if *kind == CastKind::Cast || *kind == CastKind::DoubleColon =>
            {
                *kind = CastKind::TryCast;
            }
            Expr::BinaryOp {
                op: BinaryOperator::Divide | BinaryOperator::Modulo,
                right,
                ..
            } => {
                if let Ok(guarded) = parse(&format!("NULLIF({right}, 0)")) {
                    **right = guarded;
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    parse(&format!("{}({inner})", crate::lenient::TRY)).ok()
}

/// `x.f.g` on a lambda parameter `x` → `get_field(get_field(x, 'f'), 'g')`: DataFusion resolves dotted names
/// against tables only.
fn lambda_fields(lambda: &LambdaFunction) -> Option<Expr> {
    let params: Vec<&Ident> = match &lambda.params {
        OneOrManyWithParens::One(p) => vec![&p.name],
        OneOrManyWithParens::Many(ps) => ps.iter().map(|p| &p.name).collect(),
    };
    let mut body = (*lambda.body).clone();
    let mut changed = false;
    let _ = visit_expressions_mut(&mut body, |e| {
        if let Expr::CompoundIdentifier(ids) = e
            && let [first, fields @ ..] = ids.as_slice()
            && params.iter().any(|p| p.value == first.value)
        {
            let mut sql = first.to_string();
            for f in fields {
                sql = format!("get_field({sql}, '{}')", f.value.replace('\'', "''"));
            }
            if let Ok(new) = parse(&sql) {
                *e = new;
                changed = true;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    changed.then(|| {
        Expr::Lambda(LambdaFunction {
            params: lambda.params.clone(),
            body: Box::new(body),
            syntax: lambda.syntax,
        })
    })
}

fn parse(sql: &str) -> Result<Expr, ParserError> {
    Parser::new(&crate::parser::TimestreamDialect)
        .try_with_sql(sql)?
        .parse_expr()
}

/// Whether a call's last argument is a lambda (`x -> …`).
fn last_is_lambda(f: &Function) -> bool {
    let FunctionArguments::List(list) = &f.args else {
        return false;
    };
    matches!(
        list.args.last(),
        Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Lambda(_))))
    )
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
        Expr::Lambda(lambda) => return Ok(lambda_fields(lambda)),
        // Trino's substr counts a negative start from the end; DataFusion's does not.
        Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            let from = substring_from
                .as_ref()
                .map_or("1".to_owned(), |f| f.to_string());
            let len = substring_for
                .as_ref()
                .map_or("9223372036854775807".to_owned(), |l| l.to_string());
            return parse(&format!("trino_substr({expr}, {from}, {len})")).map(Some);
        }
        // Trino's extract is a bigint; DataFusion's an integer.
        Expr::Extract { .. } => return parse(&format!("CAST({expr} AS BIGINT)")).map(Some),
        Expr::Position { expr, r#in } => {
            return parse(&format!("CAST(instr({in}, {expr}) AS BIGINT)")).map(Some);
        }
        _ => return Ok(None),
    };
    let name = f.name.to_string().to_ascii_lowercase();
    let renamed = match name.as_str() {
        "is_nan" => Some("isnan"),
        "element_at" => Some("array_element"),
        "truncate" => Some("trunc"),
        "every" => Some("bool_and"),
        "arbitrary" => Some("first_value"),
        "codepoint" => Some("ascii"),
        "localtime" => Some("current_time"),
        "localtimestamp" => Some("current_timestamp"),
        "filter" => Some("array_filter"),
        "transform" => Some("array_transform"),
        "any_match" => Some("array_any_match"),
        "zip" => Some("arrays_zip"),
        "arrays_overlap" => Some("array_has_any"),
        "rand" => Some("random"),
        "bitwise_and_agg" => Some("bit_and"),
        "bitwise_or_agg" => Some("bit_or"),
        "variance" => Some("var_samp"),
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
        ("split", [a, b]) => format!("string_to_array({a}, {b})"),
        ("split", [a, b, n]) => format!("split_limit({a}, {b}, {n})"),
        ("strpos", [a, b, n]) => format!("strpos_nth({a}, {b}, {n})"),
        // Trino's lengths and positions are bigints; DataFusion's are integers.
        ("strpos", [a, b]) => format!("CAST(instr({a}, {b}) AS BIGINT)"),
        ("length", [x]) => format!("CAST(character_length({x}) AS BIGINT)"),
        ("levenshtein_distance", [a, b]) => format!("CAST(levenshtein({a}, {b}) AS BIGINT)"),
        ("concat", args) if args.len() > 1 => format!("trino_concat({})", args.join(", ")),
        ("strrpos", [a, b]) => format!("strrpos({a}, {b}, 1)"),
        ("replace", [a, b]) => format!("replace({a}, {b}, '')"),
        // Trino's repeat makes at most 10,000 entries; DataFusion's would allocate whatever it is asked.
        ("repeat", [x, n]) => format!("array_repeat({x}, repeat_count({n}))"),
        // A padded string is built in memory whole: its length is bounded (Trino's bound is 2^31 - 1).
        ("lpad", [s, n, p]) => format!("lpad({s}, pad_size({n}), {p})"),
        ("rpad", [s, n, p]) => format!("rpad({s}, pad_size({n}), {p})"),
        // DataFusion's own forms (padding with spaces; an array of n copies) are bounded the same way.
        ("lpad", [s, n]) => format!("lpad({s}, pad_size({n}))"),
        ("rpad", [s, n]) => format!("rpad({s}, pad_size({n}))"),
        ("array_repeat" | "list_repeat", [x, n]) => format!("array_repeat({x}, repeat_count({n}))"),
        ("regexp_replace", [s, p]) => format!("regexp_replace({s}, {p}, '')"),
        ("regexp_replace", [s, p, r]) if last_is_lambda(f) => {
            format!("regexp_replace_fn({s}, {p}, {r})")
        }
        ("regexp_extract_all", [s, p]) => format!("regexp_extract_all({s}, {p}, 0)"),
        ("slice", [x, start, len]) => {
            format!("array_slice({x}, {start}, ({start}) + ({len}) - 1)")
        }
        ("bitwise_and", [a, b]) => format!("(({a}) & ({b}))"),
        ("bitwise_or", [a, b]) => format!("(({a}) | ({b}))"),
        ("bitwise_xor", [a, b]) => format!("(({a}) ^ ({b}))"),
        ("bitwise_not", [x]) => format!("(-({x}) - 1)"),
        ("e", []) => "exp(1.0)".into(),
        ("infinity", []) => "CAST('Infinity' AS DOUBLE)".into(),
        ("nan", []) => "CAST('NaN' AS DOUBLE)".into(),
        // Comparisons order NaN above infinity, so a NaN is neither finite nor infinite.
        ("is_finite", [x]) => format!("(abs(CAST({x} AS DOUBLE)) < CAST('Infinity' AS DOUBLE))"),
        ("is_infinite", [x]) => format!("(abs(CAST({x} AS DOUBLE)) = CAST('Infinity' AS DOUBLE))"),
        ("random", [n]) => format!("CAST(floor(random() * ({n})) AS BIGINT)"),
        ("current_timezone", []) => "'UTC'".into(),
        ("nanosecond", [x]) => format!("(to_nanoseconds({x}) % 1000000000)"),
        ("geometric_mean", [x]) if plain => format!("exp(avg(ln({x})))"),
        // The ordering key is parenthesized: a bare integer would be taken as a column position.
        ("max_by", [x, y, n]) if plain => format!(
            "array_slice(array_agg({x} ORDER BY ({y}) DESC) FILTER (WHERE ({y}) IS NOT NULL), 1, {n})"
        ),
        ("min_by", [x, y, n]) if plain => format!(
            "array_slice(array_agg({x} ORDER BY ({y}) ASC) FILTER (WHERE ({y}) IS NOT NULL), 1, {n})"
        ),
        ("max", [x, n]) if plain => format!(
            "array_slice(array_agg({x} ORDER BY ({x}) DESC) FILTER (WHERE ({x}) IS NOT NULL), 1, {n})"
        ),
        ("min", [x, n]) if plain => format!(
            "array_slice(array_agg({x} ORDER BY ({x}) ASC) FILTER (WHERE ({x}) IS NOT NULL), 1, {n})"
        ),
        ("try", [_]) => return Ok(try_of(f)),
        ("reverse", [x]) => format!("trino_reverse({x})"),
        // DataFusion's sketch takes integers and strings; Trino's second argument (the error) is not needed.
        ("approx_distinct", [x] | [x, _]) if plain => format!("approx_distinct(distinct_key({x}))"),
        ("create_time_series", [t, v]) if plain => format!(
            "array_agg(named_struct('time', {t}, 'value', {v}) ORDER BY {t}) FILTER (WHERE ({v}) IS NOT NULL AND ({t}) IS \
             NOT NULL)"
        ),
        ("regexp_extract", [s, p]) => format!("regexp_extract({s}, {p}, 0)"),
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

    fn rewritten(sql: &str) -> String {
        let mut s = crate::parser::parse_statement(sql, 50).unwrap();
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
        assert_eq!(
            rewritten("SELECT filter(ts, x -> x.value > 1), create_time_series(time, v) FROM t"),
            "SELECT array_filter(ts, x -> get_field(x, 'value') > 1), array_agg(named_struct('time', time, \
             'value', v) ORDER BY time) FILTER (WHERE (v) IS NOT NULL AND (time) IS NOT NULL) FROM t"
        );
        assert_eq!(
            rewritten(
                "SELECT * FROM s CROSS JOIN UNNEST(ts) AS t (a, b) CROSS JOIN UNNEST(xs) AS u (x)"
            ),
            "SELECT * FROM s CROSS JOIN UNNEST(row_field_list(ts, 1), row_field_list(ts, 2)) AS t (a, b) \
             CROSS JOIN UNNEST(xs) AS u (x)"
        );
        // Nested calls are rewritten inside out; quoted names are left alone.
        assert_eq!(
            rewritten("SELECT if(is_nan(v), date(\"localtime\")) FROM t"),
            "SELECT CASE WHEN isnan(v) THEN CAST(\"localtime\" AS DATE) END FROM t"
        );
    }
}
