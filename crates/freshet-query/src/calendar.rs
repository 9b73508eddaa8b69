//! Calendar functions of Timestream (Trino) that DataFusion lacks: `date_add`, `date_diff`, `last_day_of_month`,
//! `from_iso8601_timestamp`, `from_iso8601_date`, `current_timezone` and the field functions (`year`,
//! `day_of_week`, `week`, …). Everything is UTC; dates are Arrow `Date32`.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int64Array, StringArray, TimestampNanosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, DurationNanosecondType, Int64Type};
use datafusion::common::{DFSchema, DataFusionError, Result};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{Expr, ExprSchemable, ScalarUDF, ScalarUDFImpl, lit};
use datafusion::sql::sqlparser::ast::BinaryOperator;
use freshet_core::{Civil, days_in_month};

use crate::functions::{Arg, FixedFn, TIMESTAMP, timestamps};

pub(crate) const NS_PER_DAY: i64 = 86_400_000_000_000;

pub(crate) fn functions() -> Vec<FixedFn> {
    use Arg::{Bigint, TimestampOrDate, Varchar};
    let mut f = vec![
        FixedFn::new(
            "date_add",
            &[Varchar, Bigint, TimestampOrDate],
            crate::functions::Ret::LikeArg(2),
            date_add,
        ),
        FixedFn::new(
            "date_diff",
            &[Varchar, TimestampOrDate, TimestampOrDate],
            DataType::Int64,
            date_diff,
        ),
        FixedFn::new(
            "last_day_of_month",
            &[TimestampOrDate],
            DataType::Date32,
            last_day_of_month,
        ),
        FixedFn::new(
            "from_iso8601_timestamp",
            &[Varchar],
            TIMESTAMP,
            from_iso8601_timestamp,
        ),
        FixedFn::new(
            "from_iso8601_date",
            &[Varchar],
            DataType::Date32,
            from_iso8601_date,
        ),
        FixedFn::new("current_timezone", &[], DataType::Utf8, current_timezone),
        FixedFn::new(
            DATE_PLUS,
            &[TimestampOrDate, Arg::Interval, Bigint],
            DataType::Date32,
            date_plus,
        ),
    ];
    for (name, eval) in FIELDS {
        f.push(FixedFn::new(
            name,
            &[TimestampOrDate],
            DataType::Int64,
            *eval,
        ));
    }
    f
}

type Eval = fn(&[ArrayRef]) -> Result<ArrayRef>;

/// The field functions and their aliases.
const FIELDS: &[(&str, Eval)] = &[
    ("year", |a| field(a, |c| c.year)),
    ("quarter", |a| field(a, |c| (c.month - 1) / 3 + 1)),
    ("month", |a| field(a, |c| c.month)),
    ("day", |a| field(a, |c| c.day)),
    ("day_of_month", |a| field(a, |c| c.day)),
    ("day_of_week", |a| field(a, day_of_week)),
    ("dow", |a| field(a, day_of_week)),
    ("day_of_year", |a| field(a, day_of_year)),
    ("doy", |a| field(a, day_of_year)),
    ("week", |a| field(a, |c| iso_week(c).1)),
    ("week_of_year", |a| field(a, |c| iso_week(c).1)),
    ("year_of_week", |a| field(a, |c| iso_week(c).0)),
    ("yow", |a| field(a, |c| iso_week(c).0)),
    ("hour", |a| field(a, |c| c.hour)),
    ("minute", |a| field(a, |c| c.minute)),
    ("second", |a| field(a, |c| c.second)),
    ("millisecond", |a| field(a, |c| c.nanos / 1_000_000)),
];

/// Nanoseconds since the epoch of a timestamp or date array.
fn nanos(a: &ArrayRef) -> Vec<Option<i64>> {
    match a.data_type() {
        DataType::Date32 => a
            .as_primitive::<Date32Type>()
            .iter()
            .map(|d| d.map(|d| i64::from(d) * NS_PER_DAY))
            .collect(),
        _ => timestamps(a).iter().collect(),
    }
}

/// An array of the same kind as `like` (date or timestamp) from nanoseconds.
fn like(like: &ArrayRef, ns: Vec<Option<i64>>) -> ArrayRef {
    match like.data_type() {
        DataType::Date32 => Arc::new(Date32Array::from_iter(
            ns.into_iter()
                .map(|v| v.map(|v| v.div_euclid(NS_PER_DAY) as i32)),
        )),
        _ => Arc::new(TimestampNanosecondArray::from(ns)),
    }
}

fn field(a: &[ArrayRef], f: fn(&Civil) -> i64) -> Result<ArrayRef> {
    let out: Int64Array = nanos(&a[0])
        .into_iter()
        .map(|v| v.map(|ns| f(&Civil::from_nanos(ns))))
        .collect();
    Ok(Arc::new(out))
}

/// ISO day of the week: Monday 1 … Sunday 7.
pub(crate) fn day_of_week(c: &Civil) -> i64 {
    (c.days() + 3).rem_euclid(7) + 1
}

pub(crate) fn day_of_year(c: &Civil) -> i64 {
    c.days() - freshet_core::days_from_civil(c.year, 1, 1) + 1
}

/// The ISO 8601 week-numbering year and week of a date.
pub(crate) fn iso_week(c: &Civil) -> (i64, i64) {
    let days = c.days();
    // The Thursday of this date's week decides the year.
    let thursday = days - (day_of_week(c) - 1) + 3;
    let t = Civil::from_nanos(thursday * NS_PER_DAY);
    let week = (thursday - freshet_core::days_from_civil(t.year, 1, 1)) / 7 + 1;
    (t.year, week)
}

fn unit_error(unit: &str) -> DataFusionError {
    DataFusionError::Execution(format!("'{unit}' is not a valid TIMESTAMP field"))
}

/// A unit of fixed length in nanoseconds, or a number of months.
enum Step {
    Nanos(i64),
    Months(i64),
}

fn step(unit: &str) -> Result<Step> {
    Ok(match unit.to_ascii_lowercase().as_str() {
        "millisecond" => Step::Nanos(1_000_000),
        "second" => Step::Nanos(1_000_000_000),
        "minute" => Step::Nanos(60_000_000_000),
        "hour" => Step::Nanos(3_600_000_000_000),
        "day" => Step::Nanos(NS_PER_DAY),
        "week" => Step::Nanos(7 * NS_PER_DAY),
        "month" => Step::Months(1),
        "quarter" => Step::Months(3),
        "year" => Step::Months(12),
        _ => return Err(unit_error(unit)),
    })
}

/// Adds months, keeping the day unless the month is shorter (then its last day), as Trino does.
pub(crate) fn add_months(ns: i64, months: i64) -> Option<i64> {
    let c = Civil::from_nanos(ns);
    let total = c.year.checked_mul(12)? + (c.month - 1) + months;
    let (year, month) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    Civil {
        year,
        month,
        day: c.day.min(days_in_month(year, month)),
        ..c
    }
    .to_nanos()
}

fn overflow() -> DataFusionError {
    DataFusionError::Execution("The result is out of the range of timestamps".into())
}

fn date_add(a: &[ArrayRef]) -> Result<ArrayRef> {
    let units = a[0].as_string::<i32>();
    let counts = a[1].as_primitive::<Int64Type>();
    let base = nanos(&a[2]);
    let mut out = Vec::with_capacity(base.len());
    for (i, ns) in base.into_iter().enumerate() {
        if units.is_null(i) || counts.is_null(i) {
            out.push(None);
            continue;
        }
        let Some(ns) = ns else {
            out.push(None);
            continue;
        };
        let n = counts.value(i);
        let v = match step(units.value(i))? {
            Step::Nanos(per) => n.checked_mul(per).and_then(|d| ns.checked_add(d)),
            Step::Months(m) => n.checked_mul(m).and_then(|m| add_months(ns, m)),
        };
        out.push(Some(v.ok_or_else(overflow)?));
    }
    Ok(like(&a[2], out))
}

/// Whole months from `a` to `b`, truncated toward zero.
fn months_between(a: i64, b: i64) -> i64 {
    let (ca, cb) = (Civil::from_nanos(a), Civil::from_nanos(b));
    let mut months = (cb.year - ca.year) * 12 + (cb.month - ca.month);
    // Compare the rest (day and time of day) to see whether the last month is complete.
    let rest = |c: &Civil| (c.day, c.hour, c.minute, c.second, c.nanos);
    if months > 0 && rest(&cb) < rest(&ca) {
        months -= 1;
    } else if months < 0 && rest(&cb) > rest(&ca) {
        months += 1;
    }
    months
}

fn date_diff(a: &[ArrayRef]) -> Result<ArrayRef> {
    let units = a[0].as_string::<i32>();
    let (from, to) = (nanos(&a[1]), nanos(&a[2]));
    let mut out = Vec::with_capacity(from.len());
    for (i, (x, y)) in from.into_iter().zip(to).enumerate() {
        let (Some(x), Some(y)) = (x, y) else {
            out.push(None);
            continue;
        };
        if units.is_null(i) {
            out.push(None);
            continue;
        }
        out.push(Some(match step(units.value(i))? {
            Step::Nanos(per) => y.checked_sub(x).ok_or_else(overflow)? / per,
            Step::Months(m) => months_between(x, y) / m,
        }));
    }
    Ok(Arc::new(Int64Array::from(out)))
}

fn last_day_of_month(a: &[ArrayRef]) -> Result<ArrayRef> {
    let out: Date32Array = nanos(&a[0])
        .into_iter()
        .map(|v| {
            v.map(|ns| {
                let c = Civil::from_nanos(ns);
                freshet_core::days_from_civil(c.year, c.month, days_in_month(c.year, c.month))
                    as i32
            })
        })
        .collect();
    Ok(Arc::new(out))
}

fn from_iso8601_timestamp(a: &[ArrayRef]) -> Result<ArrayRef> {
    Ok(cast(&a[0], &TIMESTAMP)?)
}

fn from_iso8601_date(a: &[ArrayRef]) -> Result<ArrayRef> {
    Ok(cast(&a[0], &DataType::Date32)?)
}

/// The function `date ± interval day to second` plans as: (date, interval, +1 or -1).
const DATE_PLUS: &str = "date_plus_interval";

/// `date + 2d` and `date - 2d`: DataFusion cannot add a duration to a date, so these plan as [`DATE_PLUS`]. As in
/// Trino, only whole days may be added to a date.
#[derive(Debug)]
pub(crate) struct DateArithmetic;

impl ExprPlanner for DateArithmetic {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let sign = match expr.op {
            BinaryOperator::Plus => 1i64,
            BinaryOperator::Minus => -1,
            _ => return Ok(PlannerResult::Original(expr)),
        };
        let is_date = |e: &Expr| matches!(e.get_type(schema), Ok(DataType::Date32));
        let is_duration = |e: &Expr| matches!(e.get_type(schema), Ok(DataType::Duration(_)));
        let (date, interval) = if is_date(&expr.left) && is_duration(&expr.right) {
            (expr.left.clone(), expr.right.clone())
        } else if sign == 1 && is_duration(&expr.left) && is_date(&expr.right) {
            (expr.right.clone(), expr.left.clone())
        } else {
            return Ok(PlannerResult::Original(expr));
        };
        let udf = ScalarUDF::new_from_impl(
            functions()
                .into_iter()
                .find(|f| f.name() == DATE_PLUS)
                .ok_or_else(|| DataFusionError::Internal(format!("{DATE_PLUS} is missing")))?,
        );
        Ok(PlannerResult::Planned(udf.call(vec![
            date,
            interval,
            lit(sign),
        ])))
    }
}

fn date_plus(a: &[ArrayRef]) -> Result<ArrayRef> {
    let dates = a[0].as_primitive::<Date32Type>();
    let durations = a[1].as_primitive::<DurationNanosecondType>();
    let signs = a[2].as_primitive::<Int64Type>();
    let mut out = Vec::with_capacity(dates.len());
    for i in 0..dates.len() {
        if dates.is_null(i) || durations.is_null(i) || signs.is_null(i) {
            out.push(None);
            continue;
        }
        let ns = durations.value(i);
        if ns % NS_PER_DAY != 0 {
            return Err(DataFusionError::Execution(
                "Cannot add hour, minute or second fields to a date".into(),
            ));
        }
        let days = i64::from(dates.value(i)) + signs.value(i) * (ns / NS_PER_DAY);
        out.push(Some(i32::try_from(days).map_err(|_| overflow())?));
    }
    Ok(Arc::new(Date32Array::from(out)))
}

fn current_timezone(_a: &[ArrayRef]) -> Result<ArrayRef> {
    Ok(Arc::new(StringArray::from(vec!["UTC"])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(y: i64, m: i64, d: i64) -> i64 {
        freshet_core::days_from_civil(y, m, d) * NS_PER_DAY
    }

    #[test]
    fn months_clamp_and_count_whole_months() {
        assert_eq!(add_months(ns(2022, 1, 31), 1), Some(ns(2022, 2, 28)));
        assert_eq!(add_months(ns(2020, 1, 31), 1), Some(ns(2020, 2, 29)));
        assert_eq!(add_months(ns(2022, 3, 15), -3), Some(ns(2021, 12, 15)));
        assert_eq!(months_between(ns(2022, 1, 31), ns(2022, 2, 28)), 0);
        assert_eq!(months_between(ns(2022, 1, 15), ns(2022, 3, 15)), 2);
        assert_eq!(months_between(ns(2022, 3, 15), ns(2022, 1, 16)), -1);
    }

    #[test]
    fn iso_weeks() {
        let c = |y, m, d| Civil::from_nanos(ns(y, m, d));
        assert_eq!(iso_week(&c(2019, 10, 12)), (2019, 41));
        assert_eq!(iso_week(&c(2021, 1, 1)), (2020, 53));
        assert_eq!(iso_week(&c(2019, 12, 30)), (2020, 1));
        assert_eq!(day_of_week(&c(2019, 10, 12)), 6);
        assert_eq!(day_of_year(&c(2019, 10, 12)), 285);
    }
}
