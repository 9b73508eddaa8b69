//! DataFusion's errors as Timestream reports them: `ValidationException` for the query's faults and
//! `QueryExecutionException` for failures while running, in Trino's wording where Timestream uses it (`line 1:8:
//! Column 'nope' does not exist`), and never with DataFusion's internal names or advice to file a DataFusion bug.

use datafusion::error::DataFusionError;

use crate::Error;
use crate::dialect::Offsets;

/// ` at line L:C` for the first occurrence of `needle` in `sql`, or nothing.
pub(crate) fn position(sql: &str, needle: &str) -> String {
    match line_col(sql, needle) {
        Some((line, col)) => format!(" at line {line}:{col}"),
        None => String::new(),
    }
}

/// The line and column (from 1) of the first occurrence of `needle` in `sql` as a whole word.
fn line_col(sql: &str, needle: &str) -> Option<(usize, usize)> {
    let word = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
    let bytes = sql.as_bytes();
    let offset = sql.match_indices(needle).map(|(i, _)| i).find(|&i| {
        !word(i.checked_sub(1).and_then(|p| bytes.get(p))) && !word(bytes.get(i + needle.len()))
    })?;
    let before = &sql[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    Some((line, col))
}

pub(crate) fn syntax_error(e: &DataFusionError) -> Error {
    syntax_error_in(e, None)
}

/// The query as written, the query DataFusion parsed (`dialect::rewrite_mapped`'s) and where its parts came from.
pub(crate) type Written<'a> = (&'a str, &'a str, &'a Offsets);

/// A syntax error of the rewritten query, located (and naming the token found there) in the query as written.
pub(crate) fn syntax_error_in(e: &DataFusionError, written: Option<Written<'_>>) -> Error {
    let text = e.to_string();
    // DataFusion's parser says "… at Line: 1, Column: 8"; Timestream says "at line 1:8".
    let loc = text.find("Line: ").and_then(|i| {
        let rest = &text[i + 6..];
        let (line, rest) = rest.split_once(", Column: ")?;
        let col: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some((line.parse::<usize>().ok()?, col.parse::<usize>().ok()?))
    });
    let detail = text
        .trim_start_matches("SQL error: ")
        .trim_start_matches("ParserError(\"")
        .trim_end_matches("\")");
    let mut detail = detail
        .split(" at Line:")
        .next()
        .unwrap_or(detail)
        .to_owned();
    if detail.contains("only supports a single SQL statement") {
        detail = "only one statement can run".into();
    }
    let mut at = loc;
    if let (Some((line, col)), Some((original, rewritten, offsets))) = (loc, written)
        && let Some(offset) = char_offset(rewritten, line, col)
    {
        let offset = offsets.original(offset).min(original.len());
        at = Some(line_col_of(original, offset));
        // A token the rewriting made (an interval literal's constant) is named as written.
        let written_token: String = original[offset..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '(' | ')'))
            .collect();
        if let Some(found) = detail.rsplit_once(", found: ").map(|(_, f)| f.to_owned())
            && !original[offset..].starts_with(&found)
        {
            // Inside a rewritten VALUES list only the list's start is known: the constant is named by its kind.
            let written_token = if !written_token.is_empty() {
                written_token
            } else if found == "arrow_cast" {
                "an interval literal".to_owned()
            } else {
                found.clone()
            };
            detail = format!("{}{written_token}", &detail[..detail.len() - found.len()]);
        }
    }
    let at = at
        .map(|(line, col)| format!(" at line {line}:{col}"))
        .unwrap_or_default();
    Error::Validation(format!("The query syntax is invalid{at}: {detail}"))
}

/// The byte offset of line `line`, column `col` (both from 1, columns in characters) of `sql`.
fn char_offset(sql: &str, line: usize, col: usize) -> Option<usize> {
    let start = if line == 1 {
        0
    } else {
        sql.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let rest = &sql[start..];
    Some(
        start
            + rest
                .char_indices()
                .nth(col.checked_sub(1)?)
                .map_or(rest.len(), |(i, _)| i),
    )
}

/// The line and column (from 1, columns in characters) of byte `offset` of `sql`.
fn line_col_of(sql: &str, offset: usize) -> (usize, usize) {
    let before = &sql[..offset];
    let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Plan errors are the query's fault; execution errors are `QueryExecutionException`. `sql`, when given, locates
/// the names a message is about (`line 1:8: …`).
pub(crate) fn classify_in(e: DataFusionError, sql: Option<&str>) -> Error {
    let text = e.to_string();
    // Our functions refuse argument types with Trino's wording; DataFusion wraps it in several layers.
    if let Some(start) = text.find("Unexpected parameters") {
        let rest = &text[start..];
        let end = rest
            .find(". Expected: ")
            .and_then(|e| rest[e..].find(')').map(|p| e + p + 1))
            .unwrap_or(rest.len());
        return Error::Validation(rest[..end].to_owned());
    }
    if let Some((message, name)) = trino_wording(&text) {
        let at = name
            .zip(sql)
            .and_then(|(name, sql)| line_col(sql, &name))
            .map(|(line, col)| format!("line {line}:{col}: "))
            .unwrap_or_default();
        // A type check that DataFusion raises as an execution error while it plans.
        let planning = text.contains("Cannot access field at argument 1")
            || text.contains("arrays_zip expects array arguments");
        return match e.find_root() {
            DataFusionError::Execution(_) | DataFusionError::ArrowError(..) if !planning => {
                Error::Execution(format!("{at}{message}"))
            }
            _ => Error::Validation(format!("{at}{message}")),
        };
    }
    match e.find_root() {
        DataFusionError::SQL(..) => syntax_error(&e),
        DataFusionError::SchemaError(..)
        | DataFusionError::Plan(..)
        | DataFusionError::NotImplemented(..) => {
            Error::Validation(clean(&e.find_root().to_string()))
        }
        DataFusionError::Execution(m) => Error::Execution(clean(m)),
        DataFusionError::ArrowError(a, _) => Error::Execution(clean(&a.to_string())),
        other => Error::Internal(clean(&other.to_string())),
    }
}

pub(crate) fn classify(e: DataFusionError) -> Error {
    classify_in(e, None)
}

/// Removes DataFusion's error prefixes and its advice to report a DataFusion bug, so the client sees the
/// condition, not the engine.
pub(crate) fn clean(text: &str) -> String {
    let text = text
        .split("\nThis issue was likely caused by a bug in DataFusion")
        .next()
        .unwrap_or(text);
    let mut text = text.trim();
    for prefix in [
        "Internal error: ",
        "Error during planning: ",
        "Schema error: ",
        "This feature is not implemented: ",
        "Execution error: ",
        "Arrow error: ",
        "Cast error: ",
        "Compute error: ",
    ] {
        text = text.strip_prefix(prefix).unwrap_or(text);
    }
    text.to_owned()
}

/// Trino's name for an Arrow type as DataFusion prints it.
fn sql_type(arrow: &str) -> &str {
    match arrow {
        "Utf8" | "Utf8View" | "LargeUtf8" | "String" => "varchar",
        "Int64" | "UInt64" | "UInt32" => "bigint",
        "Int32" | "Int16" | "Int8" | "UInt16" | "UInt8" => "integer",
        "Float64" | "Float32" => "double",
        "Boolean" => "boolean",
        "Date32" | "Date64" => "date",
        "Null" => "unknown",
        "Duration" | "Duration(ns)" | "Duration(Nanosecond)" => "interval day to second",
        "Interval" | "Interval(YearMonth)" => "interval year to month",
        "Interval(MonthDayNano)" | "Interval(DayTime)" => "interval",
        t if t.starts_with("Timestamp") => "timestamp",
        t if t.starts_with("Time64") || t.starts_with("Time32") => "time",
        t if t.starts_with("Decimal") => "decimal",
        t if t.starts_with("List") => "array",
        t if t.starts_with("Struct") => "row",
        t => t,
    }
}

/// Trino's names for the alternatives of a signature's argument (`Float64/Float32` → `double`), or for one type.
fn sql_types(arrow: &str) -> String {
    // A named parameter (`y: Float64`) is named by its type; a function of no arguments says `NullAry()`.
    let unnamed = |t: &'_ str| -> String {
        let t = match t.split_once(": ") {
            Some((name, t)) if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => t,
            _ => t,
        };
        if t == "NullAry()" {
            String::new()
        } else {
            sql_type(t).to_owned()
        }
    };
    if arrow.contains('(') {
        return unnamed(arrow);
    }
    let mut names: Vec<String> = arrow.split('/').map(unnamed).collect();
    names.dedup();
    names.join("/")
}

/// Trino's names of a comma-separated list of types (`Int32, Timestamp(ns)` → `integer, timestamp`).
fn type_list(list: &str) -> String {
    arguments(list)
        .into_iter()
        .map(sql_types)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The comma-separated arguments of a signature, a comma inside parentheses (`Struct("a": Int64, "b": Utf8)`)
/// not separating.
fn arguments(list: &str) -> Vec<&str> {
    arguments_split(list, ',')
}

/// `list` split at each `separator` outside parentheses, each part trimmed (empty parts of repeated spaces left
/// out when splitting at spaces).
fn arguments_split(list: &str, separator: char) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in list.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if c == separator && depth == 0 => {
                out.push(list[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(list[start..].trim());
    if separator == ' ' {
        out.retain(|part| !part.is_empty());
    }
    out
}

/// The rest of the line after the first `marker` in `text`, without a final full stop.
fn rest_of_line<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let rest = text.split_once(marker)?.1;
    Some(
        rest.lines()
            .next()
            .unwrap_or_default()
            .trim_end_matches('.'),
    )
}

/// The text between `start` and `end` in `text`, after the first `start`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let rest = &text[from..];
    Some(&rest[..rest.find(end)?])
}

/// The last part of a possibly qualified, possibly quoted column name: `corpus.metrics."x"` → `x`.
fn column_name(qualified: &str) -> String {
    qualified
        .trim_matches('"')
        .rsplit('.')
        .next()
        .unwrap_or(qualified)
        .trim_matches('"')
        .to_owned()
}

/// Timestream's (Trino's) message for a DataFusion error, and the name whose position in the query it is about.
fn trino_wording(text: &str) -> Option<(String, Option<String>)> {
    // Trino's `abs` refuses the smallest integer of its type (MathFunctions.abs).
    if let Some(at) = text.find(" overflow on abs(") {
        let array = text[..at].rsplit([' ', ':']).next().unwrap_or_default();
        let value = between(&text[at..], "abs(", ")")?;
        let sql = match array {
            "Int32Array" => "integer",
            "Int16Array" => "smallint",
            "Int8Array" => "tinyint",
            _ => "bigint",
        };
        return Some((
            format!("Value {value} is out of range for abs({sql})"),
            None,
        ));
    }
    if let Some(name) = between(text, "No field named ", ". ")
        .or_else(|| between(text, "No field named ", ".\n"))
        .or_else(|| {
            text.split("No field named ")
                .nth(1)
                .map(|r| r.trim_end_matches('.'))
        })
    {
        let name = column_name(name.split_whitespace().next().unwrap_or(name));
        return Some((format!("Column '{name}' does not exist"), Some(name)));
    }
    if let Some(name) = between(text, "variable [\"", "\"] has no type information") {
        return Some((
            format!(
                "Unknown query parameter {name}: the only one is {}",
                crate::parameters::SCHEDULED_RUNTIME
            ),
            Some(name.to_owned()),
        ));
    }
    if let Some(name) = between(text, "Invalid function '", "'") {
        return Some((
            format!("Function '{name}' not registered"),
            Some(name.to_owned()),
        ));
    }
    if text.contains("must appear in the GROUP BY clause or must be part of an aggregate function")
    {
        let name = between(text, "column \"", "\"").map(column_name)?;
        return Some((
            format!("'{name}' must be an aggregate expression or appear in GROUP BY clause"),
            Some(name),
        ));
    }
    if let Some(expr) = between(
        text,
        "Cannot coerce arithmetic expression ",
        " to valid types",
    ) {
        // The operator is the one outside parentheses: a row or array type has spaces and commas of its own.
        let parts: Vec<&str> = arguments_split(expr, ' ');
        if let [a, op, b] = parts.as_slice() {
            return Some((
                format!(
                    "Cannot apply operator: {} {op} {}",
                    sql_type(a),
                    sql_type(b)
                ),
                None,
            ));
        }
    }
    if let Some(call) = between(
        text,
        "No function matches the given name and argument types '",
        "'",
    ) {
        let (name, args) = call.split_once('(')?;
        let args: Vec<String> = arguments(args.strip_suffix(')').unwrap_or(args))
            .into_iter()
            .filter(|a| !a.is_empty())
            .map(sql_types)
            .collect();
        let mut expected: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter_map(|l| l.strip_prefix(&format!("{name}(")))
            .map(|l| {
                let l = l.trim_end_matches('.');
                let args: Vec<String> = arguments(l.strip_suffix(')').unwrap_or(l))
                    .into_iter()
                    .map(sql_types)
                    .collect();
                format!("{name}({})", args.join(", "))
            })
            .collect();
        expected.dedup();
        // A function that checks its own arguments has no signature to show.
        let expected = if expected.is_empty() || expected.iter().any(|e| e.contains("UserDefined"))
        {
            String::new()
        } else {
            format!(" Expected: {}", expected.join(", "))
        };
        return Some((
            format!(
                "Unexpected parameters ({}) for function {name}.{expected}",
                args.join(", ")
            ),
            Some(name.to_owned()),
        ));
    }
    // A field read from a value that is not a row: `t.x` where `t` is a column, not a table with a column `x`.
    if let Some(t) = between(
        text,
        "Cannot access field at argument 1: type ",
        " is not Struct",
    ) {
        return Some((
            format!("Expression of type {} is not of type ROW", sql_type(t)),
            None,
        ));
    }
    if let Some(first) = between(
        text,
        "Inconsistent data type across values list",
        " but found ",
    ) {
        let first = first.rsplit("Was ").next().unwrap_or(first);
        let other = rest_of_line(text, " but found ").unwrap_or_default();
        return Some((
            format!(
                "Values rows have mismatched types: {} vs {}",
                sql_type(first),
                sql_type(other)
            ),
            None,
        ));
    }
    if let Some(t) = rest_of_line(text, "Cannot create filter with non-boolean predicate ")
        .and_then(|rest| rest.split(" returning ").nth(1))
    {
        return Some((
            format!(
                "WHERE clause must evaluate to a boolean: actual type {}",
                sql_type(t)
            ),
            None,
        ));
    }
    for marker in [
        "Unsupported CAST from ",
        "Unsupported TRY_CAST from ",
        "Cannot automatically convert ",
        "Casting from ",
    ] {
        if let Some((from, to)) =
            rest_of_line(text, marker).and_then(|rest| rest.split_once(" to "))
        {
            let to = to.trim_end_matches(" not supported");
            return Some((
                format!("Cannot cast {} to {}", sql_type(from), sql_type(to)),
                None,
            ));
        }
    }
    // DataFusion's physical projection pushdown renumbers a lambda's captured columns but not its parameters, which
    // then point past the columns (seen where a VALUES list has columns the query does not use). `lambdas.rs`
    // numbers them again in projections; this is the message should another operator hold such a lambda.
    if text.contains("Field of physical LambdaVariable with index") {
        return Some((
            "Not supported: a lambda that reads a column of a VALUES list with columns the query does not use"
                .into(),
            None,
        ));
    }
    if let Some(t) = rest_of_line(text, "arrays_zip expects array arguments, got ") {
        return Some((
            format!(
                "Unexpected parameters for function zip: {} is not an array",
                sql_type(t)
            ),
            None,
        ));
    }
    if let Some(value) = between(text, "Can not find compatible types to compare ", " with [") {
        let items = between(text, " with [", "]").unwrap_or_default();
        return Some((
            format!(
                "IN value and list items must be the same type: {} vs {}",
                sql_type(value),
                type_list(items)
            ),
            None,
        ));
    }
    if let Some(comparison) = rest_of_line(
        text,
        "Cannot infer common argument type for comparison operation ",
    ) && let [a, op, b] = arguments_split(comparison, ' ').as_slice()
    {
        return Some((
            format!(
                "Cannot apply operator: {} {op} {}",
                sql_type(a),
                sql_type(b)
            ),
            None,
        ));
    }
    if let Some(operation) = rest_of_line(
        text,
        "Cannot infer common string type for string concat operation ",
    ) && let Some((a, b)) = operation.split_once(" || ")
    {
        return Some((
            format!("Cannot apply operator: {} || {}", sql_type(a), sql_type(b)),
            None,
        ));
    }
    if let Some(operand) = between(text, "Failed to coerce case (", ") and when (") {
        let when = between(text, ") and when (", ") to common types").unwrap_or_default();
        return Some((
            format!(
                "CASE operand type does not match WHEN clause expression type: {} vs {}",
                type_list(operand),
                type_list(when)
            ),
            None,
        ));
    }
    if let Some(value) = between(text, "expr type ", " can't cast to ")
        && let Some(result) = between(text, " can't cast to ", " in InSubquery")
    {
        return Some((
            format!(
                "Value expression and result of subquery must be of the same type for IN expression: {} vs {}",
                sql_type(value),
                sql_type(result)
            ),
            None,
        ));
    }
    if let Some(t) = rest_of_line(text, "Invalid arithmetic operation: !") {
        return Some((format!("Cannot negate {}", sql_type(t)), None));
    }
    if text.contains("Granularity of `date_trunc` must be non-null scalar") {
        return Some((
            "The unit of date_trunc must be a string that is not null".into(),
            None,
        ));
    }
    if let Some(operation) = rest_of_line(text, "Cannot infer common type for bitwise operation ") {
        let operator = [" & ", " | ", " BIT_XOR ", " << ", " >> "]
            .into_iter()
            .find(|op| operation.contains(op));
        if let Some(operator) = operator
            && let Some((a, b)) = operation.split_once(operator)
        {
            let symbol = if operator == " BIT_XOR " {
                "^"
            } else {
                operator.trim()
            };
            return Some((
                format!(
                    "Cannot apply operator: {} {symbol} {}",
                    sql_type(a),
                    sql_type(b)
                ),
                None,
            ));
        }
    }
    if let Some(then) = between(text, "Failed to coerce then (", ") and else (") {
        let other = between(text, ") and else (", ") to common types").unwrap_or_default();
        return Some((
            format!(
                "All CASE results must be the same type or coercible to a common type. Cannot find common type \
                 between {} and {}",
                type_list(then),
                type_list(other)
            ),
            None,
        ));
    }
    if text.contains("Projections require unique expression names")
        && let Some(first) = text.split("\" at position ").next()
    {
        let name = first
            .rsplit(" AS ")
            .next()
            .unwrap_or_default()
            .trim_matches('"');
        return Some((
            format!("Column name '{name}' specified more than once"),
            None,
        ));
    }
    if let Some(operation) = between(text, "Cannot get result type for temporal operation ", ": ")
        && let [a, op, b] = arguments_split(operation, ' ').as_slice()
    {
        return Some((
            format!(
                "Cannot apply operator: {} {op} {}",
                sql_type(a),
                sql_type(b)
            ),
            None,
        ));
    }
    for clause in ["LIMIT", "OFFSET"] {
        let marker = format!("Expected {clause} to be an integer or null, but got ");
        if let Some(t) = rest_of_line(text, &marker) {
            return Some((
                format!("The {clause} count must be an integer, not {}", sql_type(t)),
                None,
            ));
        }
    }
    if let Some(got) = between(
        text,
        "Percentile value for 'APPROX_PERCENTILE_CONT' must be ",
        ")",
    ) {
        let got = got.rsplit("(got ").next().unwrap_or(got);
        return Some((
            format!("approx_percentile's percentage must be a double between 0 and 1, not {got}"),
            None,
        ));
    }
    if text.contains("Aggregate function calls cannot be nested") {
        return Some(("Cannot nest aggregations inside aggregation".into(), None));
    }
    // DataFusion prints the parsed argument's syntax tree after this.
    if text.contains("Unsupported interval argument. Expected string literal or number") {
        return Some((
            "Unsupported interval argument: expected a string literal or a number".into(),
            None,
        ));
    }
    // Trino's wording for a correlated subquery it cannot plan.
    if text.contains(crate::select_subqueries::NOT_DECORRELATED) {
        return Some(("Given correlated subquery is not supported".into(), None));
    }
    if text.contains("subquery can only be used in") && text.contains("but was used in [Sort") {
        return Some((
            "IN, EXISTS and ANY/SOME/ALL with a subquery are not supported in ORDER BY".into(),
            None,
        ));
    }
    if text.contains("Physical plan does not support logical expression InSubquery")
        || text.contains("Physical plan does not support logical expression Exists")
        || text.contains("subquery can only be used in")
    {
        return Some((
            "IN, EXISTS and ANY/SOME/ALL with a subquery are not supported here".into(),
            None,
        ));
    }
    if let Some(what) = between(
        text,
        "Physical plan does not support logical expression ",
        "(",
    ) {
        return Some((format!("Unsupported expression here: {what}"), None));
    }
    if let Some(value) = between(text, "Cannot cast string '", "' to value of ") {
        let to = between(text, "' to value of ", " type").unwrap_or("");
        return Some((
            format!("Cannot cast '{value}' to {}", sql_type(to).to_uppercase()),
            None,
        ));
    }
    // A narrowing cast of a number out of the target type's range (Trino: `Out of range for integer: …`).
    if let Some(value) = between(text, "Can't cast value ", " to type ") {
        let to: String = text
            .split(" to type ")
            .nth(1)
            .unwrap_or("")
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        let name = match to.as_str() {
            "Int32" => Some("integer"),
            "Int16" => Some("smallint"),
            "Int8" => Some("tinyint"),
            "Int64" => Some("bigint"),
            _ => None,
        };
        if let Some(name) = name {
            return Some((format!("Out of range for {name}: {value}"), None));
        }
    }
    if text.contains("Unsupported ast node in sqltorel: Lambda") {
        return Some((
            "A lambda expression (x -> …) can only be an argument of a function such as filter, transform, \
             any_match or reduce"
                .into(),
            None,
        ));
    }
    if let Some(what) = between(text, "Unsupported ast node in sqltorel: ", "(") {
        return Some((format!("Unsupported syntax: {what}"), None));
    }
    for (internal_name, name) in [
        ("array_filter", "filter"),
        ("array_transform", "transform"),
        ("array_any_match", "any_match"),
    ] {
        if text.contains(&format!("{internal_name} expected a list")) {
            return Some((
                format!(
                    "Unexpected parameters for function {name}: its first argument must be an array"
                ),
                Some(name.to_owned()),
            ));
        }
    }
    if text.contains("Divide by zero error") {
        return Some(("Division by zero".into(), None));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validation(e: DataFusionError, sql: &str) -> String {
        match classify_in(e, Some(sql)) {
            Error::Validation(m) => m,
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn errors_read_as_timestream_reports_them() {
        let plan = |m: &str| DataFusionError::Plan(m.into());
        assert_eq!(
            validation(
                DataFusionError::SchemaError(
                    Box::new(datafusion::common::SchemaError::FieldNotFound {
                        field: Box::new(datafusion::common::Column::new_unqualified("nope")),
                        valid_fields: vec![],
                    }),
                    Box::new(None),
                ),
                "SELECT nope FROM t"
            ),
            "line 1:8: Column 'nope' does not exist"
        );
        assert_eq!(
            validation(
                plan("Invalid function 'nope'.\nDid you mean 'now'?"),
                "SELECT\n  nope(1)"
            ),
            "line 2:3: Function 'nope' not registered"
        );
        assert_eq!(
            validation(
                plan("Cannot coerce arithmetic expression Int64 + Utf8 to valid types"),
                "SELECT 1 + 'a'"
            ),
            "Cannot apply operator: bigint + varchar"
        );
        assert_eq!(
            validation(
                DataFusionError::Internal(
                    "Function 'sum' failed to match any signature.\nThis issue was likely caused by a bug in \
                     DataFusion's code. No function matches the given name and argument types 'sum(Utf8View)'.\n\
                     \tCandidate functions:\n\tsum(Decimal)\n\tsum(Int64)\n\tsum(Float64)"
                        .into()
                ),
                "SELECT sum(x) FROM t"
            ),
            "line 1:8: Unexpected parameters (varchar) for function sum. Expected: sum(decimal), sum(bigint), \
             sum(double)"
        );
        assert_eq!(
            clean(
                "Internal error: x.\nThis issue was likely caused by a bug in DataFusion's code. Please"
            ),
            "x."
        );
    }
}
