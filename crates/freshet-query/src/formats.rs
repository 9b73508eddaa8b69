//! Formatting and parsing of times: `date_format`/`date_parse` with MySQL's `%` specifiers, and
//! `format_datetime`/`parse_datetime` with Joda-style pattern letters, as Trino (and so Timestream) has them, and
//! `to_iso8601`. Everything is UTC; a parsed zone or offset is converted to UTC.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, TimestampNanosecondArray};
use datafusion::arrow::datatypes::{DataType, Date32Type};
use datafusion::common::{DataFusionError, Result};
use freshet_core::{Civil, days_from_civil, days_in_month};

use crate::calendar::{NS_PER_DAY, day_of_week, day_of_year, iso_week};
use crate::functions::{Arg, FixedFn, TIMESTAMP, timestamps};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

pub(crate) fn functions() -> Vec<FixedFn> {
    use Arg::{Timestamp, TimestampOrDate, Varchar};
    vec![
        FixedFn::new(
            "date_format",
            &[Timestamp, Varchar],
            DataType::Utf8,
            date_format,
        ),
        FixedFn::new("date_parse", &[Varchar, Varchar], TIMESTAMP, date_parse),
        FixedFn::new(
            "format_datetime",
            &[Timestamp, Varchar],
            DataType::Utf8,
            format_datetime,
        ),
        FixedFn::new(
            "parse_datetime",
            &[Varchar, Varchar],
            TIMESTAMP,
            parse_datetime,
        ),
        FixedFn::new("to_iso8601", &[TimestampOrDate], DataType::Utf8, to_iso8601),
    ]
}

fn execution(message: String) -> DataFusionError {
    DataFusionError::Execution(message)
}

/// One piece of a pattern: literal text, or a field with its width (the letter count of a Joda pattern).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Year,
    /// Two-digit year (`%y`); parsed into 1970 … 2069.
    Year2,
    Month,
    MonthName,
    MonthAbbrev,
    Day,
    /// `%D`: day with an English suffix (`1st`).
    DaySuffix,
    DayOfYear,
    WeekdayName,
    WeekdayAbbrev,
    Hour24,
    Hour12,
    Minute,
    Second,
    /// Fraction of a second in as many digits as the width.
    Fraction,
    HalfDay,
    /// A zone name (`UTC`, `PST`…); formats as `UTC`.
    ZoneName,
    /// A zone offset (`+0800`, `Z`); formats as `+0000`.
    ZoneOffset,
    /// `%v`/`%x`: ISO week and its year.
    IsoWeek,
    IsoWeekYear,
}

impl Field {
    fn numeric(self) -> bool {
        !matches!(
            self,
            Field::MonthName
                | Field::MonthAbbrev
                | Field::DaySuffix
                | Field::WeekdayName
                | Field::WeekdayAbbrev
                | Field::HalfDay
                | Field::ZoneName
                | Field::ZoneOffset
        )
    }
}

fn text(pieces: &mut Vec<Piece>, s: &str) {
    match pieces.last_mut() {
        Some(Piece::Text(t)) => t.push_str(s),
        _ => pieces.push(Piece::Text(s.to_owned())),
    }
}

/// Compiles a MySQL-style format (`%Y-%m-%d %H:%i:%s`).
fn mysql(format: &str) -> Result<Vec<Piece>> {
    use Field::*;
    let mut pieces = Vec::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            text(&mut pieces, c.encode_utf8(&mut [0; 4]));
            continue;
        }
        let Some(spec) = chars.next() else {
            text(&mut pieces, "%");
            break;
        };
        let field = |f, w| Piece::Field(f, w);
        match spec {
            'a' => pieces.push(field(WeekdayAbbrev, 3)),
            'b' => pieces.push(field(MonthAbbrev, 3)),
            'c' => pieces.push(field(Month, 1)),
            'D' => pieces.push(field(DaySuffix, 1)),
            'd' => pieces.push(field(Day, 2)),
            'e' => pieces.push(field(Day, 1)),
            'f' => pieces.push(field(Fraction, 6)),
            'H' => pieces.push(field(Hour24, 2)),
            'h' | 'I' => pieces.push(field(Hour12, 2)),
            'i' => pieces.push(field(Minute, 2)),
            'j' => pieces.push(field(DayOfYear, 3)),
            'k' => pieces.push(field(Hour24, 1)),
            'l' => pieces.push(field(Hour12, 1)),
            'M' => pieces.push(field(MonthName, 4)),
            'm' => pieces.push(field(Month, 2)),
            'p' => pieces.push(field(HalfDay, 1)),
            'r' => pieces.extend(mysql("%h:%i:%s %p")?),
            'S' | 's' => pieces.push(field(Second, 2)),
            'T' => pieces.extend(mysql("%H:%i:%s")?),
            'v' => pieces.push(field(IsoWeek, 2)),
            'W' => pieces.push(field(WeekdayName, 4)),
            'x' => pieces.push(field(IsoWeekYear, 4)),
            'Y' => pieces.push(field(Year, 4)),
            'y' => pieces.push(field(Year2, 2)),
            'U' | 'u' | 'V' | 'w' | 'X' => {
                return Err(execution(format!(
                    "%{spec} not supported in date format string"
                )));
            }
            other => text(&mut pieces, other.encode_utf8(&mut [0; 4])),
        }
    }
    Ok(pieces)
}

/// Compiles a Joda-style pattern (`yyyy-MM-dd HH:mm:ss.SSS z`); `u` and `L` are taken as `y` and `M`, as
/// java.time has them. Text in single quotes is literal, and `''` is a quote.
fn joda(pattern: &str) -> Result<Vec<Piece>> {
    use Field::*;
    let mut pieces = Vec::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let mut j = i + 1;
            let mut literal = String::new();
            if chars.get(j) == Some(&'\'') {
                text(&mut pieces, "'");
                i += 2;
                continue;
            }
            while j < chars.len() {
                if chars[j] == '\'' {
                    if chars.get(j + 1) == Some(&'\'') {
                        literal.push('\'');
                        j += 2;
                        continue;
                    }
                    break;
                }
                literal.push(chars[j]);
                j += 1;
            }
            if j >= chars.len() {
                return Err(execution(format!(
                    "Illegal pattern component: unterminated quote in {pattern}"
                )));
            }
            text(&mut pieces, &literal);
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            text(&mut pieces, c.encode_utf8(&mut [0; 4]));
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        let piece = match c {
            'y' | 'u' | 'Y' if n == 2 => Piece::Field(Year2, 2),
            'y' | 'u' | 'Y' => Piece::Field(Year, n),
            'M' | 'L' if n >= 4 => Piece::Field(MonthName, n),
            'M' | 'L' if n == 3 => Piece::Field(MonthAbbrev, n),
            'M' | 'L' => Piece::Field(Month, n),
            'd' => Piece::Field(Day, n),
            'D' => Piece::Field(DayOfYear, n),
            'E' if n >= 4 => Piece::Field(WeekdayName, n),
            'E' => Piece::Field(WeekdayAbbrev, n),
            'H' => Piece::Field(Hour24, n),
            'h' => Piece::Field(Hour12, n),
            'm' => Piece::Field(Minute, n),
            's' => Piece::Field(Second, n),
            'S' => Piece::Field(Fraction, n),
            'a' => Piece::Field(HalfDay, n),
            'z' => Piece::Field(ZoneName, n),
            'Z' => Piece::Field(ZoneOffset, n),
            'w' => Piece::Field(IsoWeek, n),
            'x' => Piece::Field(IsoWeekYear, n),
            other => {
                return Err(execution(format!(
                    "Illegal pattern component: {}",
                    other.to_string().repeat(n)
                )));
            }
        };
        pieces.push(piece);
        i += n;
    }
    Ok(pieces)
}

fn pad(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        out.push('-');
    }
    out.push_str(&format!("{:0width$}", v.unsigned_abs()));
}

fn format(pieces: &[Piece], ns: i64) -> String {
    let c = Civil::from_nanos(ns);
    // Monday 0 … Sunday 6.
    let weekday = (day_of_week(&c) - 1) as usize;
    let hour12 = if c.hour % 12 == 0 { 12 } else { c.hour % 12 };
    let mut out = String::new();
    for p in pieces {
        let (field, width) = match p {
            Piece::Text(t) => {
                out.push_str(t);
                continue;
            }
            Piece::Field(f, w) => (*f, *w),
        };
        match field {
            Field::Year => pad(&mut out, c.year, width),
            Field::Year2 => pad(&mut out, c.year.rem_euclid(100), 2),
            Field::Month => pad(&mut out, c.month, width),
            Field::MonthName => out.push_str(MONTHS[(c.month - 1) as usize]),
            Field::MonthAbbrev => out.push_str(&MONTHS[(c.month - 1) as usize][..3]),
            Field::Day => pad(&mut out, c.day, width),
            Field::DaySuffix => {
                let suffix = match (c.day % 10, c.day / 10) {
                    (_, 1) => "th",
                    (1, _) => "st",
                    (2, _) => "nd",
                    (3, _) => "rd",
                    _ => "th",
                };
                out.push_str(&format!("{}{suffix}", c.day));
            }
            Field::DayOfYear => pad(&mut out, day_of_year(&c), width),
            Field::WeekdayName => out.push_str(WEEKDAYS[weekday]),
            Field::WeekdayAbbrev => out.push_str(&WEEKDAYS[weekday][..3]),
            Field::Hour24 => pad(&mut out, c.hour, width),
            Field::Hour12 => pad(&mut out, hour12, width),
            Field::Minute => pad(&mut out, c.minute, width),
            Field::Second => pad(&mut out, c.second, width),
            Field::Fraction => {
                let digits = format!("{:09}", c.nanos);
                let w = width.min(9);
                out.push_str(&digits[..w]);
                out.push_str(&"0".repeat(width - w));
            }
            Field::HalfDay => out.push_str(if c.hour < 12 { "AM" } else { "PM" }),
            Field::ZoneName => out.push_str("UTC"),
            Field::ZoneOffset => out.push_str(if width >= 2 { "+00:00" } else { "+0000" }),
            Field::IsoWeek => pad(&mut out, iso_week(&c).1, width),
            Field::IsoWeekYear => pad(&mut out, iso_week(&c).0, width),
        }
    }
    out
}

/// Zone abbreviations a pattern's `z` accepts, with their offsets in minutes.
const ZONES: &[(&str, i64)] = &[
    ("UTC", 0),
    ("GMT", 0),
    ("UT", 0),
    ("Z", 0),
    ("EST", -300),
    ("EDT", -240),
    ("CST", -360),
    ("CDT", -300),
    ("MST", -420),
    ("MDT", -360),
    ("PST", -480),
    ("PDT", -420),
    ("AKST", -540),
    ("AKDT", -480),
    ("HST", -600),
    ("CET", 60),
    ("CEST", 120),
    ("EET", 120),
    ("EEST", 180),
    ("BST", 60),
    ("IST", 330),
    ("JST", 540),
];

struct Parsed {
    year: i64,
    month: i64,
    day: i64,
    day_of_year: Option<i64>,
    hour: i64,
    pm: Option<bool>,
    minute: i64,
    second: i64,
    nanos: i64,
    offset_minutes: i64,
}

fn parse(pieces: &[Piece], input: &str, source: &str) -> Result<i64> {
    let malformed = |rest: &str| {
        execution(format!(
            "Invalid format: \"{input}\" is malformed at \"{rest}\" (format \"{source}\")"
        ))
    };
    let mut p = Parsed {
        year: 1970,
        month: 1,
        day: 1,
        day_of_year: None,
        hour: 0,
        pm: None,
        minute: 0,
        second: 0,
        nanos: 0,
        offset_minutes: 0,
    };
    let mut rest = input;
    for (k, piece) in pieces.iter().enumerate() {
        let (field, width) = match piece {
            Piece::Text(t) => {
                rest = rest
                    .strip_prefix(t.as_str())
                    .ok_or_else(|| malformed(rest))?;
                continue;
            }
            Piece::Field(f, w) => (*f, *w),
        };
        if field.numeric() {
            // A field followed directly by another number takes exactly its width; otherwise every digit.
            let adjacent = matches!(pieces.get(k + 1), Some(Piece::Field(f, _)) if f.numeric());
            let negative = matches!(field, Field::Year) && rest.starts_with('-');
            let digits_from = usize::from(negative);
            let available = rest[digits_from..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            let take = if adjacent {
                width.min(available)
            } else {
                available.min(if field == Field::Fraction { 9 } else { 10 })
            };
            if take == 0 {
                return Err(malformed(rest));
            }
            let text = &rest[digits_from..digits_from + take];
            let mut v: i64 = text.parse().map_err(|_| malformed(rest))?;
            if negative {
                v = -v;
            }
            match field {
                Field::Year | Field::IsoWeekYear => p.year = v,
                Field::Year2 => p.year = if v < 70 { 2000 + v } else { 1900 + v },
                Field::Month => p.month = v,
                Field::Day => p.day = v,
                Field::DayOfYear => p.day_of_year = Some(v),
                Field::Hour24 => p.hour = v,
                Field::Hour12 => p.hour = v % 12,
                Field::Minute => p.minute = v,
                Field::Second => p.second = v,
                Field::Fraction => p.nanos = v * 10_i64.pow(9 - take as u32),
                _ => {} // the ISO week alone does not fix a date
            }
            rest = &rest[digits_from + take..];
            continue;
        }
        match field {
            Field::MonthName | Field::MonthAbbrev => {
                let (i, len) = MONTHS
                    .iter()
                    .enumerate()
                    .find_map(|(i, m)| {
                        [m.len(), 3]
                            .into_iter()
                            .find(|&l| starts_with_ignore_case(rest, &m[..l]))
                            .map(|l| (i, l))
                    })
                    .ok_or_else(|| malformed(rest))?;
                p.month = i as i64 + 1;
                rest = &rest[len..];
            }
            Field::WeekdayName | Field::WeekdayAbbrev => {
                let len = WEEKDAYS
                    .iter()
                    .find_map(|d| {
                        [d.len(), 3]
                            .into_iter()
                            .find(|&l| starts_with_ignore_case(rest, &d[..l]))
                    })
                    .ok_or_else(|| malformed(rest))?;
                rest = &rest[len..];
            }
            Field::HalfDay => {
                let pm = if starts_with_ignore_case(rest, "PM") {
                    true
                } else if starts_with_ignore_case(rest, "AM") {
                    false
                } else {
                    return Err(malformed(rest));
                };
                p.pm = Some(pm);
                rest = &rest[2..];
            }
            Field::DaySuffix => {
                let n = rest.bytes().take_while(u8::is_ascii_digit).count();
                p.day = rest[..n].parse().map_err(|_| malformed(rest))?;
                rest = rest[n..]
                    .get(2..)
                    .filter(|_| n > 0)
                    .ok_or_else(|| malformed(rest))?;
            }
            Field::ZoneName => {
                let (name, minutes) = ZONES
                    .iter()
                    .filter(|(z, _)| rest.starts_with(z))
                    .max_by_key(|(z, _)| z.len())
                    .ok_or_else(|| malformed(rest))?;
                p.offset_minutes = *minutes;
                rest = &rest[name.len()..];
            }
            Field::ZoneOffset => {
                if let Some(r) = rest.strip_prefix('Z') {
                    rest = r;
                    continue;
                }
                let sign = match rest.as_bytes().first() {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return Err(malformed(rest)),
                };
                let body = &rest[1..];
                let digits: String = body
                    .chars()
                    .take(5)
                    .take_while(|c| c.is_ascii_digit() || *c == ':')
                    .collect();
                let clean: String = digits.chars().filter(char::is_ascii_digit).collect();
                if clean.len() != 4 {
                    return Err(malformed(rest));
                }
                let hours: i64 = clean[..2].parse().map_err(|_| malformed(rest))?;
                let minutes: i64 = clean[2..].parse().map_err(|_| malformed(rest))?;
                p.offset_minutes = sign * (hours * 60 + minutes);
                rest = &body[digits.len()..];
            }
            _ => return Err(malformed(rest)),
        }
    }
    if !rest.is_empty() {
        return Err(malformed(rest));
    }
    if p.pm == Some(true) {
        p.hour = p.hour % 12 + 12;
    }
    let out_of_range = |what: &str, v: i64| {
        execution(format!(
            "Cannot parse \"{input}\": Value {v} for {what} must be in the range allowed"
        ))
    };
    if !(1..=12).contains(&p.month) {
        return Err(out_of_range("monthOfYear", p.month));
    }
    let days = match p.day_of_year {
        Some(d) => days_from_civil(p.year, 1, 1) + d - 1,
        None => {
            if !(1..=days_in_month(p.year, p.month)).contains(&p.day) {
                return Err(out_of_range("dayOfMonth", p.day));
            }
            days_from_civil(p.year, p.month, p.day)
        }
    };
    for (what, v, max) in [
        ("hourOfDay", p.hour, 23),
        ("minuteOfHour", p.minute, 59),
        ("secondOfMinute", p.second, 59),
    ] {
        if !(0..=max).contains(&v) {
            return Err(out_of_range(what, v));
        }
    }
    let seconds = days * 86_400 + p.hour * 3_600 + p.minute * 60 + p.second - p.offset_minutes * 60;
    seconds
        .checked_mul(1_000_000_000)
        .and_then(|s| s.checked_add(p.nanos))
        .ok_or_else(|| execution(format!("Cannot parse \"{input}\": out of range")))
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Applies `f` row by row with the pattern of each row, compiled once per distinct pattern in a row.
fn per_row<T>(
    patterns: &ArrayRef,
    compile: fn(&str) -> Result<Vec<Piece>>,
    rows: usize,
    mut f: impl FnMut(usize, &[Piece], &str) -> Result<Option<T>>,
) -> Result<Vec<Option<T>>> {
    let patterns = patterns.as_string::<i32>();
    let mut compiled: Option<(String, Vec<Piece>)> = None;
    let mut out = Vec::with_capacity(rows);
    for i in 0..rows {
        if patterns.is_null(i) {
            out.push(None);
            continue;
        }
        let source = patterns.value(i);
        if compiled.as_ref().is_none_or(|(s, _)| s != source) {
            compiled = Some((source.to_owned(), compile(source)?));
        }
        let pieces = compiled.as_ref().map_or(&[][..], |(_, p)| p.as_slice());
        out.push(f(i, pieces, source)?);
    }
    Ok(out)
}

fn format_with(a: &[ArrayRef], compile: fn(&str) -> Result<Vec<Piece>>) -> Result<ArrayRef> {
    let times = timestamps(&a[0]);
    let out = per_row(&a[1], compile, times.len(), |i, pieces, _| {
        Ok(times.is_valid(i).then(|| format(pieces, times.value(i))))
    })?;
    Ok(Arc::new(StringArray::from(out)))
}

fn parse_with(a: &[ArrayRef], compile: fn(&str) -> Result<Vec<Piece>>) -> Result<ArrayRef> {
    let inputs = a[0].as_string::<i32>();
    let out = per_row(&a[1], compile, inputs.len(), |i, pieces, source| {
        inputs
            .is_valid(i)
            .then(|| parse(pieces, inputs.value(i), source))
            .transpose()
    })?;
    Ok(Arc::new(TimestampNanosecondArray::from(out)))
}

fn date_format(a: &[ArrayRef]) -> Result<ArrayRef> {
    format_with(a, mysql)
}

fn date_parse(a: &[ArrayRef]) -> Result<ArrayRef> {
    parse_with(a, mysql)
}

fn format_datetime(a: &[ArrayRef]) -> Result<ArrayRef> {
    format_with(a, joda)
}

fn parse_datetime(a: &[ArrayRef]) -> Result<ArrayRef> {
    parse_with(a, joda)
}

/// `2022-06-17` for a date; `2022-06-17T17:44:43.771000000` for a timestamp (Trino's form for a timestamp of
/// nanosecond precision without a zone).
fn to_iso8601(a: &[ArrayRef]) -> Result<ArrayRef> {
    let out: StringArray = match a[0].data_type() {
        DataType::Date32 => a[0]
            .as_primitive::<Date32Type>()
            .iter()
            .map(|d| {
                d.map(|d| Civil::from_nanos(i64::from(d) * NS_PER_DAY).format(' ')[..10].to_owned())
            })
            .collect(),
        _ => timestamps(&a[0])
            .iter()
            .map(|t| t.map(|t| Civil::from_nanos(t).format('T')))
            .collect(),
    };
    Ok(Arc::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> i64 {
        (days_from_civil(y, mo, d) * 86_400 + h * 3_600 + mi * 60 + s) * 1_000_000_000
    }

    #[test]
    fn mysql_formats_and_parses_as_the_docs_show() {
        let t = ns(2019, 10, 20, 10, 20, 20);
        let f = mysql("%Y-%m-%d %H:%i:%s").unwrap();
        assert_eq!(format(&f, t), "2019-10-20 10:20:20");
        assert_eq!(parse(&f, "2019-10-20 10:20:20", "").unwrap(), t);
        let all = mysql("%a %b %c %D %e %f %h %I %j %k %l %M %p %r %T %W %y %v %x %% %q").unwrap();
        assert_eq!(
            format(&all, t + 123_456_789),
            "Sun Oct 10 20th 20 123456 10 10 293 10 10 October AM 10:20:20 AM 10:20:20 Sunday 19 42 2019 % q"
        );
        assert!(mysql("%U").is_err());
        let f = mysql("%d/%m/%y %h:%i %p").unwrap();
        assert_eq!(
            parse(&f, "05/01/21 01:30 PM", "").unwrap(),
            ns(2021, 1, 5, 13, 30, 0)
        );
        assert!(parse(&f, "05/13/21 01:30 PM", "").is_err(), "month 13");
        assert!(parse(&f, "05/01/21 01:30", "").is_err(), "half day missing");
    }

    #[test]
    fn joda_patterns_with_zones() {
        let f = joda("uuuu-LL-dd HH:mm z").unwrap();
        assert_eq!(
            parse(&f, "2019-12-29 10:10 PST", "").unwrap(),
            ns(2019, 12, 29, 18, 10, 0)
        );
        let f = joda("yyyy-MM-dd'T'HH:mm:ss.SSSZ").unwrap();
        let t = ns(2022, 6, 17, 3, 4, 5) + 120_000_000;
        assert_eq!(format(&f, t), "2022-06-17T03:04:05.120+0000");
        assert_eq!(parse(&f, "2022-06-17T08:04:05.120+0500", "").unwrap(), t);
        let f = joda("EEEE, MMMM d, yyyy h:mm a").unwrap();
        assert_eq!(format(&f, t), "Friday, June 17, 2022 3:04 AM");
        assert_eq!(
            parse(&f, "Friday, June 17, 2022 3:04 AM", "").unwrap(),
            t - 5_120_000_000
        );
        assert!(joda("yyyy-MM-dd 'unterminated").is_err());
        assert!(joda("qqq").is_err());
        assert_eq!(format(&joda("''yy''").unwrap(), t), "'22'");
    }

    #[test]
    fn iso8601_text() {
        let t: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![Some(
            ns(2022, 6, 17, 17, 44, 43) + 771_000_000,
        )]));
        let out = to_iso8601(&[t]).unwrap();
        assert_eq!(
            out.as_string::<i32>().value(0),
            "2022-06-17T17:44:43.771000000"
        );
    }
}
