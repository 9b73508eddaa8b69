//! Timestream dialect rewriting before DataFusion parses a query. For now: `measure_value::<type>` is a column
//! name, not a cast, so it is quoted wherever it appears outside string literals and quoted identifiers.

const TYPES: &[&str] = &["double", "bigint", "varchar", "boolean", "timestamp"];

/// Rewrites Timestream-only syntax into what DataFusion's parser reads the same way.
pub fn rewrite(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16);
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\'' || c == b'"' {
            // Copy a quoted literal or identifier verbatim (doubled quotes escape).
            let start = i;
            i += 1;
            while i < bytes.len() {
                if bytes[i] == c {
                    if i + 1 < bytes.len() && bytes[i + 1] == c {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i = (i + 1).min(bytes.len());
            out.push_str(&sql[start..i]);
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
                out.push_str(&format!("\"measure_value::{t}\""));
                i += prefix.len() + t.len();
                continue;
            }
        }
        let ch = sql[i..].chars().next().unwrap_or_default();
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
