//! Trino's `sequence`: `sequence(start, stop [, step])` over integers (step 1 by default), dates and timestamps
//! (one day by default; an `interval day to second` or `interval year to month` step), both ends included.
//! Timestream queries use it to build the timestamps of a regular series: `sequence(min(time), max(time), 15s)`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListBuilder, PrimitiveBuilder};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, DurationNanosecondType, Int64Type, IntervalUnit,
    IntervalYearMonthType, TimestampNanosecondType,
};
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::calendar::{NS_PER_DAY, add_months};
use crate::functions::{DAY_TO_SECOND, TIMESTAMP, YEAR_TO_MONTH, timestamp_like, timestamps};

/// Trino's limit on the length of one sequence.
const MAX_ENTRIES: i64 = 10_000;

#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Sequence {
    signature: Signature,
}

impl Default for Sequence {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Null)
}

impl ScalarUDFImpl for Sequence {
    fn name(&self) -> &str {
        "sequence"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let interval = |t: &DataType| matches!(t, DataType::Duration(_) | DataType::Interval(_));
        match args {
            [a, b] if is_integer(a) && is_integer(b) => Ok(vec![DataType::Int64; 2]),
            [a, b, s] if is_integer(a) && is_integer(b) && is_integer(s) => {
                Ok(vec![DataType::Int64; 3])
            }
            [DataType::Date32, DataType::Date32] => Ok(vec![DataType::Date32; 2]),
            [
                DataType::Date32,
                DataType::Date32,
                DataType::Interval(IntervalUnit::YearMonth),
            ] => Ok(vec![DataType::Date32, DataType::Date32, YEAR_TO_MONTH]),
            [DataType::Date32, DataType::Date32, s] if interval(s) => {
                Ok(vec![DataType::Date32, DataType::Date32, DAY_TO_SECOND])
            }
            [a, b, DataType::Interval(IntervalUnit::YearMonth)]
                if timestamp_like(a) && timestamp_like(b) =>
            {
                Ok(vec![TIMESTAMP, TIMESTAMP, YEAR_TO_MONTH])
            }
            [a, b, s] if timestamp_like(a) && timestamp_like(b) && interval(s) => {
                Ok(vec![TIMESTAMP, TIMESTAMP, DAY_TO_SECOND])
            }
            [a, b] if timestamp_like(a) && timestamp_like(b) => Ok(vec![TIMESTAMP, TIMESTAMP]),
            _ => plan_err!(
                "Unexpected parameters ({}) for function sequence. Expected: sequence(bigint, bigint), \
                 sequence(bigint, bigint, bigint), sequence(date, date), sequence(date, date, interval day to \
                 second), sequence(date, date, interval year to month), sequence(timestamp, timestamp), \
                 sequence(timestamp, timestamp, interval day to second), sequence(timestamp, timestamp, interval \
                 year to month)",
                args.iter()
                    .map(|t| crate::functions::type_name(t))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let item = match args.first() {
            Some(DataType::Date32) => DataType::Date32,
            Some(DataType::Timestamp(..)) => TIMESTAMP,
            _ => DataType::Int64,
        };
        Ok(DataType::new_list(item, true))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        crate::functions::on_arrays(&args.args, sequences)
    }
}

/// A sequence's step: a fixed amount (integers, nanoseconds) or a number of months.
#[derive(Debug, Clone, Copy)]
enum Step {
    Fixed(i64),
    Months(i64),
}

impl Step {
    fn is_zero(self) -> bool {
        matches!(self, Self::Fixed(0) | Self::Months(0))
    }

    fn rising(self) -> bool {
        matches!(self, Self::Fixed(s) | Self::Months(s) if s > 0)
    }
}

/// The values `start, start + step, …` up to `stop`, checked as Trino checks them.
fn steps(start: i64, stop: i64, step: Step) -> Result<Vec<i64>> {
    if step.is_zero() {
        return Err(DataFusionError::Execution("step must not be zero".into()));
    }
    if (step.rising() && stop < start) || (!step.rising() && stop > start) {
        return Err(DataFusionError::Execution(
            "sequence stop value should be greater than or equal to start value if step is greater than zero \
             otherwise stop should be less than or equal to start"
                .into(),
        ));
    }
    let too_many = || {
        DataFusionError::Execution(format!(
            "result of sequence function must not have more than {MAX_ENTRIES} entries"
        ))
    };
    match step {
        Step::Fixed(step) => {
            let count = (i128::from(stop) - i128::from(start)) / i128::from(step) + 1;
            if count > i128::from(MAX_ENTRIES) {
                return Err(too_many());
            }
            Ok((0..count as i64).map(|k| start + k * step).collect())
        }
        // Each value is `start` plus k steps of months (a day past the month's end becomes its last day).
        Step::Months(months) => {
            let mut out = Vec::new();
            for k in 0i64.. {
                let v = k
                    .checked_mul(months)
                    .and_then(|m| add_months(start, m))
                    .ok_or_else(|| {
                        DataFusionError::Execution("sequence value out of range".into())
                    })?;
                if (months > 0 && v > stop) || (months < 0 && v < stop) {
                    break;
                }
                if out.len() as i64 == MAX_ENTRIES {
                    return Err(too_many());
                }
                out.push(v);
            }
            Ok(out)
        }
    }
}

/// Row `i` of a step argument: an `interval day to second` in nanoseconds or an `interval year to month`.
fn step_at(step: &ArrayRef, i: usize) -> Step {
    match step.data_type() {
        DataType::Interval(_) => Step::Months(i64::from(
            step.as_primitive::<IntervalYearMonthType>().value(i),
        )),
        _ => Step::Fixed(step.as_primitive::<DurationNanosecondType>().value(i)),
    }
}

fn sequences(a: &[ArrayRef]) -> Result<ArrayRef> {
    match a[0].data_type() {
        DataType::Int64 => {
            let (start, stop) = (
                a[0].as_primitive::<Int64Type>(),
                a[1].as_primitive::<Int64Type>(),
            );
            let step = a.get(2).map(|s| s.as_primitive::<Int64Type>());
            build::<Int64Type>(
                a,
                |i| {
                    Ok((
                        start.value(i),
                        stop.value(i),
                        Step::Fixed(step.map_or(1, |s| s.value(i))),
                    ))
                },
                |v| v,
            )
        }
        DataType::Date32 => {
            // Computed in nanoseconds, as timestamps at midnight.
            let (start, stop) = (
                a[0].as_primitive::<Date32Type>(),
                a[1].as_primitive::<Date32Type>(),
            );
            build::<Date32Type>(
                a,
                |i| {
                    let step = match a.get(2).map(|s| step_at(s, i)) {
                        None => Step::Fixed(NS_PER_DAY),
                        Some(Step::Fixed(ns)) if ns % NS_PER_DAY != 0 => {
                            return Err(DataFusionError::Execution(
                                "sequence step must be a day interval if start and end values are dates"
                                    .into(),
                            ));
                        }
                        Some(step) => step,
                    };
                    let ns = |d: i32| i64::from(d) * NS_PER_DAY;
                    Ok((ns(start.value(i)), ns(stop.value(i)), step))
                },
                // Both ends are dates and the step is whole days or months, so every value is a date too.
                |ns| (ns / NS_PER_DAY) as i32,
            )
        }
        _ => {
            let (start, stop) = (timestamps(&a[0]), timestamps(&a[1]));
            build::<TimestampNanosecondType>(
                a,
                |i| {
                    let step = a.get(2).map_or(Step::Fixed(NS_PER_DAY), |s| step_at(s, i));
                    Ok((start.value(i), stop.value(i), step))
                },
                |t| t,
            )
        }
    }
}

/// One list per row: the steps from `bounds(row)` = (start, stop, step), each stored as `native(value)`; a row with
/// a null argument gives a null list.
fn build<T: ArrowPrimitiveType>(
    a: &[ArrayRef],
    bounds: impl Fn(usize) -> Result<(i64, i64, Step)>,
    native: impl Fn(i64) -> T::Native,
) -> Result<ArrayRef> {
    let mut out = ListBuilder::new(PrimitiveBuilder::<T>::new());
    for i in 0..a[0].len() {
        if a.iter().any(|c| c.is_null(i)) {
            out.append_null();
            continue;
        }
        let (start, stop, step) = bounds(i)?;
        for v in steps(start, stop, step)? {
            out.values().append_value(native(v));
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_follow_trino() {
        assert_eq!(steps(1, 10, Step::Fixed(4)).unwrap(), [1, 5, 9]);
        assert_eq!(steps(3, 1, Step::Fixed(-1)).unwrap(), [3, 2, 1]);
        assert!(steps(1, 3, Step::Fixed(0)).is_err());
        assert!(steps(3, 1, Step::Fixed(1)).is_err());
        assert!(steps(0, 10_000, Step::Fixed(1)).is_err(), "10,001 entries");
        assert_eq!(steps(1, 10_000, Step::Fixed(1)).unwrap().len(), 10_000);
        // Months from 2020-01-31: the day is kept where the month has it, else the month's last day.
        let day = |y, m, d| freshet_core::days_from_civil(y, m, d) * NS_PER_DAY;
        assert_eq!(
            steps(day(2020, 1, 31), day(2020, 4, 30), Step::Months(1)).unwrap(),
            [
                day(2020, 1, 31),
                day(2020, 2, 29),
                day(2020, 3, 31),
                day(2020, 4, 30)
            ]
        );
        assert!(steps(day(2020, 1, 1), day(2019, 1, 1), Step::Months(1)).is_err());
    }
}
