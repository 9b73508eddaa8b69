//! Trino's `sequence`: `sequence(start, stop [, step])` over integers (step 1 by default), dates (one day by
//! default) and timestamps (an `interval day to second` step), both ends included. Timestream queries use it to
//! build the timestamps of a regular series: `sequence(min(time), max(time), 15s)`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListBuilder, PrimitiveBuilder};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, DurationNanosecondType, Int64Type,
    TimestampNanosecondType,
};
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::calendar::NS_PER_DAY;
use crate::functions::{DAY_TO_SECOND, TIMESTAMP, timestamp_like, timestamps};

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
            [DataType::Date32, DataType::Date32, s] if interval(s) => {
                Ok(vec![DataType::Date32, DataType::Date32, DAY_TO_SECOND])
            }
            [a, b, s] if timestamp_like(a) && timestamp_like(b) && interval(s) => {
                Ok(vec![TIMESTAMP, TIMESTAMP, DAY_TO_SECOND])
            }
            [a, b] if timestamp_like(a) && timestamp_like(b) => Ok(vec![TIMESTAMP, TIMESTAMP]),
            _ => plan_err!(
                "Unexpected parameters ({}) for function sequence. Expected: sequence(bigint, bigint), \
                 sequence(bigint, bigint, bigint), sequence(date, date), sequence(date, date, interval day to \
                 second), sequence(timestamp, timestamp), sequence(timestamp, timestamp, interval day to second)",
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

/// The values `start, start + step, …` up to `stop`, checked as Trino checks them.
fn steps(start: i64, stop: i64, step: i64) -> Result<impl Iterator<Item = i64>> {
    if step == 0 {
        return Err(DataFusionError::Execution("step must not be zero".into()));
    }
    if (step > 0 && stop < start) || (step < 0 && stop > start) {
        return Err(DataFusionError::Execution(
            "sequence stop value should be greater than or equal to start value if step is greater than zero \
             otherwise stop should be less than or equal to start"
                .into(),
        ));
    }
    let count = (i128::from(stop) - i128::from(start)) / i128::from(step) + 1;
    if count > i128::from(MAX_ENTRIES) {
        return Err(DataFusionError::Execution(format!(
            "result of sequence function must not have more than {MAX_ENTRIES} entries"
        )));
    }
    Ok((0..count as i64).map(move |k| start + k * step))
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
                        step.map_or(1, |s| s.value(i)),
                    ))
                },
                |v| v,
            )
        }
        DataType::Date32 => {
            let (start, stop) = (
                a[0].as_primitive::<Date32Type>(),
                a[1].as_primitive::<Date32Type>(),
            );
            let step = a.get(2).map(|s| s.as_primitive::<DurationNanosecondType>());
            build::<Date32Type>(
                a,
                |i| {
                    let step = match step.map(|s| s.value(i)) {
                        None => 1,
                        Some(ns) if ns % NS_PER_DAY == 0 => ns / NS_PER_DAY,
                        Some(_) => {
                            return Err(DataFusionError::Execution(
                                "sequence step must be a day interval if start and end values are dates"
                                    .into(),
                            ));
                        }
                    };
                    Ok((i64::from(start.value(i)), i64::from(stop.value(i)), step))
                },
                // Both ends are dates and the step is whole days, so every value is a date too.
                |d| d as i32,
            )
        }
        _ => {
            let (start, stop) = (timestamps(&a[0]), timestamps(&a[1]));
            // One day by default.
            let step = a.get(2).map(|s| s.as_primitive::<DurationNanosecondType>());
            build::<TimestampNanosecondType>(
                a,
                |i| {
                    Ok((
                        start.value(i),
                        stop.value(i),
                        step.map_or(NS_PER_DAY, |s| s.value(i)),
                    ))
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
    bounds: impl Fn(usize) -> Result<(i64, i64, i64)>,
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
        assert_eq!(steps(1, 10, 4).unwrap().collect::<Vec<_>>(), [1, 5, 9]);
        assert_eq!(steps(3, 1, -1).unwrap().collect::<Vec<_>>(), [3, 2, 1]);
        assert!(steps(1, 3, 0).is_err());
        assert!(steps(3, 1, 1).is_err());
        assert!(steps(0, 10_000, 1).is_err(), "10,001 entries");
        assert_eq!(steps(1, 10_000, 1).unwrap().count(), 10_000);
    }
}
