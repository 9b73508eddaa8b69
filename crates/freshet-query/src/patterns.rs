//! Trino's regular-expression functions on `fancy-regex`, which takes Java's pattern syntax as Timestream documents
//! it (look-around, backreferences, atomic groups and possessive quantifiers, beyond what the `regex` crate takes),
//! and Java's replacement strings (`$1`, `${name}`, `\$`).
//!
//! - `regexp_like(s, p)`: whether `p` matches anywhere in `s`;
//! - `regexp_extract(s, p, g)`: group `g` of the first match, or null (`trino.rs` adds `g` = 0 when it is left out);
//! - `regexp_extract_all(s, p, g)`: group `g` of every match (ditto);
//! - `regexp_replace(s, p, r)`: every match replaced by `r` (`trino.rs` adds `r` = '');
//! - `regexp_split(s, p)`: the parts between the matches, trailing empty parts kept.
//!
//! The lambda form of `regexp_replace` is in `regexp_fn.rs`. These replace DataFusion's functions of the same names.
//! A pattern that backtracks too long (a million steps) fails the query instead of running on.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int64Array, ListBuilder, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;
use fancy_regex::Regex;

use crate::functions::{Arg, FixedFn};

pub fn register(ctx: &SessionContext) {
    use Arg::{Bigint, Varchar};
    let string_list = || DataType::new_list(DataType::Utf8, true);
    for f in [
        FixedFn::new(
            "regexp_like",
            &[Varchar, Varchar],
            DataType::Boolean,
            regexp_like,
        ),
        FixedFn::new(
            "regexp_extract",
            &[Varchar, Varchar, Bigint],
            DataType::Utf8,
            regexp_extract,
        ),
        FixedFn::new(
            "regexp_extract_all",
            &[Varchar, Varchar, Bigint],
            string_list(),
            regexp_extract_all,
        ),
        FixedFn::new(
            "regexp_replace",
            &[Varchar, Varchar, Varchar],
            DataType::Utf8,
            regexp_replace,
        ),
        FixedFn::new(
            "regexp_split",
            &[Varchar, Varchar],
            string_list(),
            regexp_split,
        ),
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(f));
    }
}

/// Compiles patterns, reusing the last one: a pattern is usually the same on every row.
#[derive(Default)]
pub(crate) struct Patterns {
    last: Option<(String, Regex)>,
}

impl Patterns {
    pub(crate) fn get(&mut self, pattern: &str) -> Result<&Regex> {
        if self.last.as_ref().is_none_or(|(p, _)| p != pattern) {
            let re = Regex::new(&unquote(pattern)).map_err(|e| {
                DataFusionError::Execution(format!("Invalid regular expression {pattern}: {e}"))
            })?;
            self.last = Some((pattern.to_owned(), re));
        }
        Ok(&self.last.as_ref().expect("just set").1)
    }
}

/// `pattern` with Java's quoting, `\Q…\E` (everything between taken literally, to the pattern's end without `\E`),
/// turned into escapes, which fancy-regex reads. An escaped backslash (`\\Q`) does not start a quote.
fn unquote(pattern: &str) -> Cow<'_, str> {
    if !pattern.contains("\\Q") {
        return Cow::Borrowed(pattern);
    }
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut rest = pattern;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.chars().next() {
            Some('Q') => {
                let quoted = &after[1..];
                let (literal, tail) = quoted.split_once("\\E").unwrap_or((quoted, ""));
                for c in literal.chars() {
                    if "\\.+*?()|[]{}^$#-&~".contains(c) {
                        out.push('\\');
                    }
                    out.push(c);
                }
                rest = tail;
            }
            Some(c) => {
                out.push('\\');
                out.push(c);
                rest = &after[c.len_utf8()..];
            }
            None => {
                out.push('\\');
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// A match that could not be completed (too much backtracking).
pub(crate) fn failed(re: &Regex, e: fancy_regex::Error) -> DataFusionError {
    DataFusionError::Execution(format!(
        "Regular expression {} could not be matched: {e}",
        re.as_str()
    ))
}

fn strings(a: &ArrayRef) -> &StringArray {
    a.as_string::<i32>()
}

fn ints(a: &ArrayRef) -> &Int64Array {
    a.as_primitive::<Int64Type>()
}

/// The group a call asks for, which the pattern must have.
fn group(re: &Regex, group: i64) -> Result<usize> {
    let groups = re.captures_len() - 1;
    match usize::try_from(group) {
        Ok(g) if g <= groups => Ok(g),
        _ => exec_err!("Pattern has {groups} groups. Cannot access group {group}"),
    }
}

/// A row's compiled pattern (argument 1) and text (argument 0), with its index; `None` for a row with a null
/// argument.
type Row<'a> = Option<(usize, &'a Regex, &'a str)>;

/// Calls `f` with each row of `a`.
fn each_row(a: &[ArrayRef], mut f: impl FnMut(Row<'_>) -> Result<()>) -> Result<()> {
    let (s, p) = (strings(&a[0]), strings(&a[1]));
    let mut patterns = Patterns::default();
    for i in 0..s.len() {
        if a.iter().any(|x| x.is_null(i)) {
            f(None)?;
        } else {
            f(Some((i, patterns.get(p.value(i))?, s.value(i))))?;
        }
    }
    Ok(())
}

fn regexp_like(a: &[ArrayRef]) -> Result<ArrayRef> {
    let mut out = BooleanBuilder::with_capacity(a[0].len());
    each_row(a, |row| {
        match row {
            None => out.append_null(),
            Some((_, re, s)) => out.append_value(re.is_match(s).map_err(|e| failed(re, e))?),
        }
        Ok(())
    })?;
    Ok(Arc::new(out.finish()))
}

fn regexp_extract(a: &[ArrayRef]) -> Result<ArrayRef> {
    let g = ints(&a[2]);
    let mut out = StringBuilder::new();
    each_row(a, |row| {
        let Some((i, re, s)) = row else {
            out.append_null();
            return Ok(());
        };
        let g = group(re, g.value(i))?;
        let found = if g == 0 {
            re.find(s).map_err(|e| failed(re, e))?
        } else {
            re.captures(s)
                .map_err(|e| failed(re, e))?
                .and_then(|c| c.get(g))
        };
        out.append_option(found.map(|m| m.as_str()));
        Ok(())
    })?;
    Ok(Arc::new(out.finish()))
}

fn regexp_extract_all(a: &[ArrayRef]) -> Result<ArrayRef> {
    let g = ints(&a[2]);
    let mut out = ListBuilder::new(StringBuilder::new());
    each_row(a, |row| {
        let Some((i, re, s)) = row else {
            out.append_null();
            return Ok(());
        };
        let g = group(re, g.value(i))?;
        for caps in re.captures_iter(s) {
            let caps = caps.map_err(|e| failed(re, e))?;
            out.values().append_option(caps.get(g).map(|m| m.as_str()));
        }
        out.append(true);
        Ok(())
    })?;
    Ok(Arc::new(out.finish()))
}

fn regexp_split(a: &[ArrayRef]) -> Result<ArrayRef> {
    let mut out = ListBuilder::new(StringBuilder::new());
    each_row(a, |row| {
        let Some((_, re, s)) = row else {
            out.append_null();
            return Ok(());
        };
        for part in re.split(s) {
            out.values().append_value(part.map_err(|e| failed(re, e))?);
        }
        out.append(true);
        Ok(())
    })?;
    Ok(Arc::new(out.finish()))
}

/// A piece of a replacement string.
#[derive(Debug, PartialEq)]
enum Piece {
    Text(String),
    Group(usize),
}

/// A replacement string as Java reads one: `$n` is group `n` (the first digit always, each further digit while the
/// number stays a group of the pattern), `${name}` a named group, and a backslash takes the next character as it
/// is.
fn replacement(text: &str, re: &Regex) -> Result<Vec<Piece>> {
    let illegal = || exec_err!("Illegal replacement sequence: {text}");
    let groups = re.captures_len() - 1;
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => literal.push(escaped),
                None => return illegal(),
            },
            '$' => {
                let g = if chars.next_if_eq(&'{').is_some() {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return illegal(),
                        }
                    }
                    let index = re.capture_names().position(|n| n == Some(name.as_str()));
                    match index {
                        Some(g) if !name.is_empty() => g,
                        _ => return illegal(),
                    }
                } else {
                    let Some(g) = chars.next().and_then(|c| c.to_digit(10)) else {
                        return illegal();
                    };
                    let mut g = g as usize;
                    if g > groups {
                        return illegal();
                    }
                    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                        let longer = g * 10 + d as usize;
                        if longer > groups {
                            break;
                        }
                        g = longer;
                        chars.next();
                    }
                    g
                };
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Group(g));
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

fn regexp_replace(a: &[ArrayRef]) -> Result<ArrayRef> {
    let r = strings(&a[2]);
    // The parsed replacement, for the pattern and replacement it was parsed for.
    let mut parsed: Option<(String, String, Vec<Piece>)> = None;
    let mut out = StringBuilder::new();
    let mut text = String::new();
    each_row(a, |row| {
        let Some((i, re, subject)) = row else {
            out.append_null();
            return Ok(());
        };
        let with = r.value(i);
        if parsed
            .as_ref()
            .is_none_or(|(p, r, _)| p != re.as_str() || r != with)
        {
            parsed = Some((
                re.as_str().to_owned(),
                with.to_owned(),
                replacement(with, re)?,
            ));
        }
        let pieces = &parsed.as_ref().expect("just set").2;
        text.clear();
        let mut last = 0;
        for caps in re.captures_iter(subject) {
            let caps = caps.map_err(|e| failed(re, e))?;
            let whole = caps.get(0).expect("a match has group 0");
            text.push_str(&subject[last..whole.start()]);
            for piece in pieces {
                match piece {
                    Piece::Text(t) => text.push_str(t),
                    Piece::Group(g) => text.push_str(caps.get(*g).map_or("", |m| m.as_str())),
                }
            }
            last = whole.end();
        }
        text.push_str(&subject[last..]);
        out.append_value(&text);
        Ok(())
    })?;
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replaced(s: &str, p: &str, r: &str) -> Result<String> {
        let arrays: Vec<ArrayRef> = [s, p, r]
            .iter()
            .map(|v| Arc::new(StringArray::from(vec![*v])) as ArrayRef)
            .collect();
        let out = regexp_replace(&arrays)?;
        Ok(strings(&out).value(0).to_owned())
    }

    #[test]
    fn replacements_read_group_references_as_java_does() {
        assert_eq!(replaced("abc", "(b)", "$1x").unwrap(), "abxc");
        assert_eq!(replaced("aaa", "a", "b").unwrap(), "bbb");
        assert_eq!(replaced("abc", "", "-").unwrap(), "-a-b-c-");
        // `$12` is group 1 then `2` when the pattern has fewer than 12 groups.
        assert_eq!(replaced("ab", "(a)(b)", "$12$2").unwrap(), "a2b");
        assert_eq!(replaced("ab", "(?<first>a)", "[${first}]").unwrap(), "[a]b");
        assert_eq!(replaced("a$b", "\\$", "\\$\\\\").unwrap(), "a$\\b");
        assert_eq!(replaced("ab", "(x)?a", "<$1>").unwrap(), "<>b");
        for bad in ["$2", "$", "$x", "${nope}", "${first", "a\\"] {
            let err = replaced("ab", "(?<first>a)", bad).unwrap_err().to_string();
            assert!(err.contains("Illegal replacement sequence"), "{bad}: {err}");
        }
    }

    #[test]
    fn patterns_take_java_s_look_around_and_backreferences() {
        let like = |s: &str, p: &str| {
            let a: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(vec![s])),
                Arc::new(StringArray::from(vec![p])),
            ];
            regexp_like(&a).map(|out| out.as_boolean().value(0))
        };
        assert!(like("foobar", "foo(?=bar)").unwrap());
        assert!(!like("foobaz", "foo(?=bar)").unwrap());
        assert!(like("abab", "(ab)\\1").unwrap());
        assert!(like("price: 10", "(?<=: )\\d+").unwrap());
        assert!(like("xaaa", "a++").unwrap());
        let err = like("a", "(").unwrap_err().to_string();
        assert!(err.contains("Invalid regular expression ("), "{err}");
    }

    #[test]
    fn java_quotes_are_literal_text() {
        assert_eq!(unquote(r"a\Q.*[\E+"), r"a\.\*\[+");
        assert_eq!(unquote(r"\Q(x)"), r"\(x\)");
        assert_eq!(unquote(r"\\Q.\d"), r"\\Q.\d");
        assert_eq!(unquote(r"[\Qa-z\E]"), r"[a\-z]");
        assert_eq!(unquote(r"é\Qé.\E\"), r"éé\.\");
        assert!(matches!(unquote(r"a.b"), Cow::Borrowed(_)));
    }
}
