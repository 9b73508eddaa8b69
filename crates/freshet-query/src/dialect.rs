//! Timestream dialect rewriting before DataFusion parses a query, outside string literals and quoted identifiers:
//! - `measure_value::<type>` is a column name, not a cast, so it is quoted;
//! - interval literals (`1h`, `15m`, `50ns`, `10day`, `1year`, `8month`) and ANSI intervals (`INTERVAL '2' DAY`)
//!   become typed constants: `interval day to second` is an Arrow `Duration(Nanosecond)`, `interval year to month`
//!   an `Interval(YearMonth)`;
//! - Trino's `VALUES 1, 2, 3` (one column, no parentheses) and `VALUES (('a', 1)), …` (a parenthesized row) become
//!   `VALUES (1), (2), (3)` and `VALUES ('a', 1), …`; a list compared with `ANY`, `SOME` or `ALL` (`x = ANY
//!   (VALUES 1, 2)`) becomes an array (`x = ANY (ARRAY[1, 2])`), which DataFusion compares without a subquery.

use crate::functions::{duration_nanos, unit_nanos};

const TYPES: &[&str] = &["double", "bigint", "varchar", "boolean", "timestamp"];

/// Rewrites Timestream-only syntax into what DataFusion's parser reads the same way.
pub fn rewrite(sql: &str) -> String {
    rewrite_mapped(sql).0
}

/// [`rewrite`], with where each part of the rewritten query came from in `sql`.
pub(crate) fn rewrite_mapped(sql: &str) -> (String, Offsets) {
    let mut offsets = Offsets::default();
    let mut out = rewrite_tokens(sql, &mut offsets.edits[0]);
    if out
        .as_bytes()
        .windows(6)
        .any(|w| w.eq_ignore_ascii_case(b"values"))
    {
        out = values_rows(&out, &mut offsets.edits[1]);
    }
    (out, offsets)
}

/// One replacement: the byte range it has in a pass's output, and the range it replaced in the pass's input.
type Edit = (std::ops::Range<usize>, std::ops::Range<usize>);

/// The replacements of the two rewriting passes, to take a position in the rewritten query (a syntax error's)
/// back to the query as written.
#[derive(Debug, Default)]
pub(crate) struct Offsets {
    /// Each pass's replacements, in order.
    edits: [Vec<Edit>; 2],
}

impl Offsets {
    /// The byte offset in the query as written of byte `at` of the rewritten query: inside a replacement, where the
    /// replaced text starts.
    pub(crate) fn original(&self, mut at: usize) -> usize {
        for edits in self.edits.iter().rev() {
            let (mut out_end, mut in_end) = (0, 0);
            let mut inside = None;
            for (out, input) in edits {
                if at < out.start {
                    break;
                }
                if at < out.end {
                    inside = Some(input.start);
                    break;
                }
                (out_end, in_end) = (out.end, input.end);
            }
            at = inside.unwrap_or(in_end + (at - out_end));
        }
        at
    }
}

/// The end of the quoted literal or identifier starting at byte `i` (doubled quotes escape).
fn quoted_end(bytes: &[u8], i: usize) -> usize {
    let q = bytes[i];
    let mut j = i + 1;
    while j < bytes.len() {
        if bytes[j] == q {
            if bytes.get(j + 1) == Some(&q) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    bytes.len()
}

/// Keywords that end a VALUES list at its own nesting level.
const AFTER_VALUES: &[&str] = &[
    "order",
    "limit",
    "offset",
    "fetch",
    "union",
    "intersect",
    "except",
];

fn word_at(bytes: &[u8], i: usize) -> &[u8] {
    let end = bytes[i..]
        .iter()
        .position(|b| !is_word(*b))
        .map_or(bytes.len(), |n| i + n);
    &bytes[i..end]
}

/// The items of the VALUES list starting at byte `i`: their byte ranges, and where the list ends.
fn values_items(sql: &str, mut i: usize) -> (Vec<(usize, usize)>, usize) {
    let bytes = sql.as_bytes();
    let mut items = Vec::new();
    let mut start = i;
    let mut depth = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => {
                i = quoted_end(bytes, i);
                continue;
            }
            b'(' | b'[' => depth += 1,
            b')' | b']' if depth == 0 => break,
            b')' | b']' => depth -= 1,
            b',' if depth == 0 => {
                items.push((start, i));
                start = i + 1;
            }
            b';' if depth == 0 => break,
            b if depth == 0 && is_word(b) && (i == 0 || !is_word(bytes[i - 1])) => {
                let w = word_at(bytes, i);
                if AFTER_VALUES
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k.as_bytes()))
                {
                    break;
                }
                i += w.len();
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    items.push((start, i));
    (items, i)
}

/// Whether `item` is one parenthesized expression: `(…)` whose opening parenthesis closes at the end.
fn parenthesized(item: &str) -> bool {
    let bytes = item.as_bytes();
    if bytes.first() != Some(&b'(') || bytes.last() != Some(&b')') {
        return false;
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => {
                i = quoted_end(bytes, i);
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i == bytes.len() - 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// Whether the parenthesized `item` holds a row of several values (a comma at its first level).
fn holds_row(item: &str) -> bool {
    let inner = &item[1..item.len() - 1];
    values_items(inner, 0).0.len() > 1
}

/// Whether the VALUES at byte `i` is the list of a quantified comparison: `ANY (VALUES …)`, `SOME (…)`, `ALL (…)`.
fn quantified(sql: &str, i: usize) -> bool {
    let before = sql[..i].trim_end();
    let Some(before) = before.strip_suffix('(') else {
        return false;
    };
    let before = before.trim_end();
    let word_start = before
        .bytes()
        .rposition(|b| !is_word(b))
        .map_or(0, |p| p + 1);
    let word = &before[word_start..];
    ["any", "some", "all"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k))
}

/// Trino's VALUES rows written as DataFusion reads them; see the module documentation.
fn values_rows(sql: &str, edits: &mut Vec<Edit>) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16);
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => {
                i = quoted_end(bytes, i);
                continue;
            }
            b if is_word(b) && (i == 0 || !is_word(bytes[i - 1])) => {
                let w = word_at(bytes, i);
                let len = w.len();
                if !w.eq_ignore_ascii_case(b"values") {
                    i += len;
                    continue;
                }
                let (items, end) = values_items(sql, i + len);
                if quantified(sql, i) {
                    let values: Vec<&str> = items.iter().map(|&(a, b)| sql[a..b].trim()).collect();
                    out.push_str(&sql[copied..i]);
                    let from = out.len();
                    out.push_str(&format!("ARRAY[{}]", values.join(", ")));
                    edits.push((from..out.len(), i..end));
                    copied = end;
                    i = end;
                    continue;
                }
                let rows: Vec<String> = items
                    .iter()
                    .map(|&(a, b)| {
                        let item = sql[a..b].trim();
                        if !parenthesized(item) {
                            format!("({item})")
                        } else if parenthesized(item[1..item.len() - 1].trim())
                            && holds_row(item[1..item.len() - 1].trim())
                        {
                            item[1..item.len() - 1].trim().to_owned()
                        } else {
                            item.to_owned()
                        }
                    })
                    .collect();
                out.push_str(&sql[copied..i + len]);
                let from = out.len();
                out.push(' ');
                out.push_str(&rows.join(", "));
                let tail_space = sql[..end].len() - sql[..end].trim_end().len();
                out.push_str(&sql[end - tail_space..end]);
                edits.push((from..out.len(), i + len..end));
                copied = end;
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&sql[copied..]);
    out
}

fn rewrite_tokens(sql: &str, edits: &mut Vec<Edit>) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16);
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\'' || c == b'"' {
            // Copy a quoted literal or identifier verbatim.
            let end = quoted_end(bytes, i);
            out.push_str(&sql[i..end]);
            i = end;
            continue;
        }
        let prefix = b"measure_value::";
        let boundary_before =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if boundary_before
            && bytes[i..].len() >= prefix.len()
            && bytes[i..i + prefix.len()].eq_ignore_ascii_case(prefix)
        {
            let rest = &bytes[i + prefix.len()..];
            if let Some(t) = TYPES.iter().find(|t| {
                rest.len() >= t.len()
                    && rest[..t.len()].eq_ignore_ascii_case(t.as_bytes())
                    && rest
                        .get(t.len())
                        .is_none_or(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
            }) {
                let from = out.len();
                out.push_str(&format!("\"measure_value::{t}\""));
                let len = prefix.len() + t.len();
                edits.push((from..out.len(), i..i + len));
                i += len;
                continue;
            }
        }
        if boundary_before
            && let Some((len, replacement)) =
                timestamp_without_seconds_at(sql, i).or_else(|| interval_at(sql, i))
        {
            edits.push((out.len()..out.len() + replacement.len(), i..i + len));
            out.push_str(&replacement);
            i += len;
            continue;
        }
        let ch = sql[i..].chars().next().unwrap_or_default();
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn day_to_second(ns: i64) -> String {
    format!("arrow_cast({ns}, 'Duration(Nanosecond)')")
}

fn year_to_month(months: i64) -> String {
    format!("arrow_cast(arrow_cast({months}, 'Int32'), 'Interval(YearMonth)')")
}

/// Months in `n` units of `year`/`month`.
fn months(n: &str, unit: &str) -> Option<i64> {
    let n: i64 = n.parse().ok()?;
    match unit.to_ascii_lowercase().as_str() {
        "year" | "years" => n.checked_mul(12),
        "month" | "months" => Some(n),
        _ => None,
    }
}

/// `TIMESTAMP 'YYYY-MM-DD hh:mm'` (Timestream accepts a literal without seconds; DataFusion does not): the literal
/// with `:00` added, and its length.
fn timestamp_without_seconds_at(sql: &str, i: usize) -> Option<(usize, String)> {
    let keyword = "timestamp";
    let head = sql.get(i..i + keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = &sql[i + keyword.len()..];
    let spaces = rest.len() - rest.trim_start().len();
    let quoted = rest.trim_start().strip_prefix('\'')?;
    let close = quoted.find('\'')?;
    let text = &quoted[..close];
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let shape = b.len() == 16
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b' '
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16);
    if !shape {
        return None;
    }
    let len = keyword.len() + spaces + 1 + close + 1;
    Some((len, format!("{head} '{text}:00'")))
}

/// An interval literal starting at byte `i`: its length and its replacement.
fn interval_at(sql: &str, i: usize) -> Option<(usize, String)> {
    let bytes = sql.as_bytes();
    if bytes[i].is_ascii_digit() {
        // `t.1h` (or `t . 1h`) is a name, `0.5` a number.
        if sql[..i].trim_end().ends_with('.') {
            return None;
        }
        // `<number><unit>` with no space, ended by a non-word character.
        let digits = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'.')
            .count();
        let unit_len = bytes[i + digits..]
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        let end = i + digits + unit_len;
        if unit_len == 0 || bytes.get(end).is_some_and(|b| is_word(*b)) {
            return None;
        }
        let (number, unit) = (&sql[i..i + digits], &sql[i + digits..end]);
        if let Some(m) = months(number, unit) {
            return Some((end - i, year_to_month(m)));
        }
        return duration_nanos(&sql[i..end]).map(|ns| (end - i, day_to_second(ns)));
    }
    // ANSI: INTERVAL '<number>' <unit>
    let keyword = b"interval";
    if bytes.len() < i + keyword.len() || !bytes[i..i + keyword.len()].eq_ignore_ascii_case(keyword)
    {
        return None;
    }
    let mut j = i + keyword.len();
    let skip_space = |mut j: usize| {
        while bytes.get(j).is_some_and(|b| b.is_ascii_whitespace()) {
            j += 1;
        }
        j
    };
    j = skip_space(j);
    if bytes.get(j) != Some(&b'\'') {
        return None;
    }
    let close = j + 1 + sql[j + 1..].find('\'')?;
    let number = sql[j + 1..close].trim();
    j = skip_space(close + 1);
    let unit_len = bytes[j..]
        .iter()
        .take_while(|b| b.is_ascii_alphabetic())
        .count();
    let end = j + unit_len;
    if unit_len == 0 || bytes.get(end).is_some_and(|b| is_word(*b)) {
        return None;
    }
    let unit = &sql[j..end];
    if let Some(m) = months(number, unit) {
        return Some((end - i, year_to_month(m)));
    }
    unit_nanos(unit)?;
    duration_nanos(&format!("{number}{unit}")).map(|ns| (end - i, day_to_second(ns)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_lead_back_to_the_query_as_written() {
        let sql = "SELECT ago(1h), measure_value::double FROM t WHERE x IN (VALUES 1, 2) AND oops";
        let (out, offsets) = rewrite_mapped(sql);
        // Text after the replacements maps back to itself.
        let oops = out.find("oops").unwrap();
        assert_eq!(offsets.original(oops), sql.find("oops").unwrap());
        let from = out.find(" FROM").unwrap();
        assert_eq!(offsets.original(from), sql.find(" FROM").unwrap());
        // Inside a replacement: where the replaced text starts.
        let constant = out.find("arrow_cast").unwrap();
        assert_eq!(offsets.original(constant + 3), sql.find("1h").unwrap());
        assert_eq!(offsets.original(0), 0);
    }

    #[test]
    fn values_rows_take_trino_forms() {
        assert_eq!(
            rewrite("SELECT * FROM (VALUES 1, 2, 3) AS t(c)"),
            "SELECT * FROM (VALUES (1), (2), (3)) AS t(c)"
        );
        assert_eq!(
            rewrite("SELECT * FROM (VALUES (('a', 1)), (('b', 2))) AS t(c1, c2)"),
            "SELECT * FROM (VALUES ('a', 1), ('b', 2)) AS t(c1, c2)"
        );
        // Already DataFusion's form, or one column of parenthesized expressions: unchanged.
        for sql in [
            "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(c1, c2)",
            "SELECT * FROM (VALUES ((1)), ((2) + 1)) AS t(c)",
        ] {
            assert_eq!(rewrite(sql), sql);
        }
        assert_eq!(
            rewrite("SELECT 11.7 = ANY (VALUES 12.0, f(1, 2), 'x,y'), 1 < all(values 2)"),
            "SELECT 11.7 = ANY (ARRAY[12.0, f(1, 2), 'x,y']), 1 < all(ARRAY[2])"
        );
        assert_eq!(
            rewrite("VALUES 1, 2 ORDER BY 1 LIMIT 1"),
            "VALUES (1), (2) ORDER BY 1 LIMIT 1"
        );
    }

    #[test]
    fn measure_value_columns_are_quoted_elsewhere_untouched() {
        assert_eq!(
            rewrite("SELECT measure_value::double, avg(measure_value::BIGINT) FROM db.t"),
            "SELECT \"measure_value::double\", avg(\"measure_value::bigint\") FROM db.t"
        );
        assert_eq!(
            rewrite("SELECT 'measure_value::double'"),
            "SELECT 'measure_value::double'"
        );
        assert_eq!(
            rewrite("SELECT \"measure_value::double\""),
            "SELECT \"measure_value::double\""
        );
        assert_eq!(
            rewrite("SELECT x::double, my_measure_value::double"),
            "SELECT x::double, my_measure_value::double"
        );
        assert_eq!(rewrite("SELECT 'it''s' , é"), "SELECT 'it''s' , é");
        // Regression: a multi-byte character right after an unquoted position used to panic.
        assert_eq!(
            rewrite("SELECT x FROM db.t WHERE host = 字"),
            "SELECT x FROM db.t WHERE host = 字"
        );
        assert_eq!(
            rewrite("é measure_value::double é"),
            "é \"measure_value::double\" é"
        );
    }

    #[test]
    fn timestamp_literals_without_seconds_get_them() {
        assert_eq!(
            rewrite("SELECT timestamp '2022-06-17 01:00' - 1h"),
            format!(
                "SELECT timestamp '2022-06-17 01:00:00' - {}",
                "arrow_cast(3600000000000, 'Duration(Nanosecond)')"
            )
        );
        for same in [
            "SELECT TIMESTAMP '2022-06-17 01:00:00'",
            "SELECT '2022-06-17 01:00'",
            "SELECT my_timestamp '2022-06-17 01:00'",
        ] {
            assert_eq!(rewrite(same), same);
        }
    }

    #[test]
    fn interval_literals_become_typed_constants() {
        let d = |ns: i64| format!("arrow_cast({ns}, 'Duration(Nanosecond)')");
        let ym = |m: i64| format!("arrow_cast(arrow_cast({m}, 'Int32'), 'Interval(YearMonth)')");
        assert_eq!(
            rewrite("SELECT ago(1h)"),
            format!("SELECT ago({})", d(3_600_000_000_000))
        );
        assert_eq!(
            rewrite("bin(time, 15m)"),
            format!("bin(time, {})", d(900_000_000_000))
        );
        assert_eq!(
            rewrite("now() + (1h + 50ns)"),
            format!("now() + ({} + {})", d(3_600_000_000_000), d(50))
        );
        assert_eq!(
            rewrite("SELECT 1year, 8month"),
            format!("SELECT {}, {}", ym(12), ym(8))
        );
        assert_eq!(rewrite("INTERVAL '2' DAY"), d(2 * 86_400_000_000_000));
        assert_eq!(
            rewrite("interval '4' year + interval  '2'  month"),
            format!("{} + {}", ym(48), ym(2))
        );
        // Not literals: part of a name, a number with a space before its alias, text, unknown units.
        for same in [
            "SELECT x1h, t.1h FROM db.t",
            "SELECT 5 m",
            "SELECT '1h'",
            "SELECT 1e5, 12abc",
            "SELECT 1 day",
        ] {
            assert_eq!(rewrite(same), same);
        }
    }
}
