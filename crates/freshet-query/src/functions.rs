//! Timestream's time functions that DataFusion lacks or defines differently, as DataFusion scalar UDFs.
//!
//! Types: Timestream's `interval day to second` is Arrow `Duration(Nanosecond)` and `interval year to month` is
//! `Interval(YearMonth)`; timestamps are `Timestamp(Nanosecond)` in UTC.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, DurationNanosecondArray, Float64Array, Int64Array, RecordBatch,
    TimestampNanosecondArray,
};
use datafusion::arrow::compute::kernels::arity::{try_binary, try_unary};
use datafusion::arrow::datatypes::{
    DataType, DurationNanosecondType, Field, Float64Type, Int64Type, IntervalMonthDayNanoType,
    IntervalUnit, IntervalYearMonthType, Schema, SchemaRef, TimeUnit, TimestampNanosecondType,
};
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use strength_reduce::StrengthReducedU64;

pub const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Nanosecond, None);
pub const DAY_TO_SECOND: DataType = DataType::Duration(TimeUnit::Nanosecond);
pub const YEAR_TO_MONTH: DataType = DataType::Interval(IntervalUnit::YearMonth);

/// Registers every function of this module in `ctx`, replacing DataFusion's functions of the same names.
pub fn register(ctx: &SessionContext) {
    for f in [
        FixedFn::new("bin", &[Arg::Timestamp, Arg::Interval], TIMESTAMP, bin)
            .with_fast(bin_by_constant),
        FixedFn::new(
            "from_milliseconds",
            &[Arg::Bigint],
            TIMESTAMP,
            from_milliseconds,
        ),
        FixedFn::new(
            "from_nanoseconds",
            &[Arg::Bigint],
            TIMESTAMP,
            from_nanoseconds,
        ),
        FixedFn::new("from_unixtime", &[Arg::Double], TIMESTAMP, from_unixtime),
        FixedFn::new(
            "to_milliseconds",
            &[Arg::TimestampOrInterval],
            DataType::Int64,
            to_milliseconds,
        ),
        FixedFn::new(
            "to_nanoseconds",
            &[Arg::TimestampOrInterval],
            DataType::Int64,
            to_nanoseconds,
        ),
        FixedFn::new(
            "to_unixtime",
            &[Arg::Timestamp],
            DataType::Float64,
            to_unixtime,
        ),
        FixedFn::new(
            "parse_duration",
            &[Arg::Varchar],
            DAY_TO_SECOND,
            parse_duration,
        ),
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(f));
    }
    for f in crate::calendar::functions()
        .into_iter()
        .chain(crate::formats::functions())
    {
        ctx.register_udf(ScalarUDF::new_from_impl(f));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(Ago::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(
        crate::sequence::Sequence::default(),
    ));
}

/// Whether a result in `schema` needs [`timestream_intervals`].
pub fn has_intervals(schema: &SchemaRef) -> bool {
    schema
        .fields()
        .iter()
        .any(|f| f.data_type() == &DataType::Interval(IntervalUnit::MonthDayNano))
}

/// Result columns of DataFusion's own interval type (`Interval(MonthDayNano)`, from SQL the dialect does not rewrite,
/// such as `INTERVAL '1 day'`) as one of Timestream's two interval types: `interval day to second` when no value has
/// months, else `interval year to month` when no value has days or time. A column mixing both cannot be expressed
/// in Timestream's types and is an execution error.
pub fn timestream_intervals(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> crate::Result<(SchemaRef, Vec<RecordBatch>)> {
    let mixed = || {
        crate::Error::Execution(
            "An interval with both months and days or time has no Timestream type; use separate intervals".into(),
        )
    };
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns: Vec<Vec<ArrayRef>> = batches.iter().map(|b| b.columns().to_vec()).collect();
    for (c, field) in fields.iter_mut().enumerate() {
        if field.data_type() != &DataType::Interval(IntervalUnit::MonthDayNano) {
            continue;
        }
        let values = || {
            columns.iter().flat_map(move |b| {
                b[c].as_primitive::<IntervalMonthDayNanoType>()
                    .iter()
                    .flatten()
            })
        };
        let has_months = values().any(|v| v.months != 0);
        let has_time = values().any(|v| v.days != 0 || v.nanoseconds != 0);
        if has_months && has_time {
            return Err(mixed());
        }
        for batch in &mut columns {
            let a = batch[c].as_primitive::<IntervalMonthDayNanoType>();
            batch[c] = if has_months {
                Arc::new(a.unary::<_, IntervalYearMonthType>(|v| v.months))
            } else {
                Arc::new(
                    a.try_unary::<_, DurationNanosecondType, _>(|v| {
                        i64::from(v.days)
                            .checked_mul(crate::calendar::NS_PER_DAY)
                            .and_then(|d| d.checked_add(v.nanoseconds))
                            .ok_or_else(|| {
                                datafusion::arrow::error::ArrowError::ComputeError(
                                    "interval out of range".into(),
                                )
                            })
                    })
                    .map_err(|e| crate::Error::Execution(e.to_string()))?,
                )
            };
        }
        *field = field.clone().with_data_type(if has_months {
            DataType::Interval(IntervalUnit::YearMonth)
        } else {
            DAY_TO_SECOND
        });
    }
    let schema: SchemaRef = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let batches = columns
        .into_iter()
        .map(|cols| RecordBatch::try_new(Arc::clone(&schema), cols))
        .collect::<Result<Vec<_>, _>>()
        .map_err(crate::internal)?;
    Ok((schema, batches))
}

/// What one argument of a [`FixedFn`] accepts; other types are a planning error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Arg {
    /// A timestamp, date or timestamp text, as a UTC nanosecond timestamp.
    Timestamp,
    /// An `interval day to second`.
    Interval,
    /// A timestamp (as above) or an interval, each kept as it is.
    TimestampOrInterval,
    /// A date kept as a date; a timestamp or timestamp text as a UTC nanosecond timestamp.
    TimestampOrDate,
    Bigint,
    Double,
    Varchar,
    /// An integer or a double, kept as it is.
    Numeric,
    /// An array of any element type, kept as it is.
    Array,
    /// Any type, kept as it is.
    Any,
}

/// A type Timestream takes where it wants a timestamp: a timestamp, a date, or timestamp text
/// (`day('2019-10-12 23:10:34.000000000')`).
pub(crate) fn timestamp_like(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(..)
            | DataType::Date32
            | DataType::Date64
            | DataType::Utf8
            | DataType::Utf8View
            | DataType::LargeUtf8
    )
}

impl Arg {
    fn coerce(self, name: &str, t: &DataType) -> Result<DataType> {
        let timestamp = timestamp_like(t) || *t == DataType::Null;
        let interval = matches!(
            t,
            DataType::Duration(_) | DataType::Interval(_) | DataType::Null
        );
        let integer = t.is_integer() || *t == DataType::Null;
        let ok = match self {
            Self::Timestamp if timestamp => TIMESTAMP,
            Self::Interval if interval => DAY_TO_SECOND,
            Self::TimestampOrInterval if interval => DAY_TO_SECOND,
            Self::TimestampOrInterval if timestamp => TIMESTAMP,
            Self::TimestampOrDate if matches!(t, DataType::Date32 | DataType::Date64) => {
                DataType::Date32
            }
            Self::TimestampOrDate if timestamp => TIMESTAMP,
            Self::Bigint if integer => DataType::Int64,
            Self::Double if integer || t.is_floating() || matches!(t, DataType::Decimal128(..)) => {
                DataType::Float64
            }
            Self::Varchar if matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::Null) => {
                DataType::Utf8
            }
            Self::Numeric if t.is_integer() || t.is_floating() => t.clone(),
            Self::Numeric if *t == DataType::Null => DataType::Float64,
            Self::Array if matches!(t, DataType::List(_)) => t.clone(),
            Self::Any => t.clone(),
            _ => {
                let wanted = match self {
                    Self::Timestamp => "timestamp",
                    Self::Interval => "interval day to second",
                    Self::TimestampOrInterval => "timestamp or interval day to second",
                    Self::TimestampOrDate => "timestamp or date",
                    Self::Bigint => "bigint",
                    Self::Double => "double",
                    Self::Varchar => "varchar",
                    Self::Numeric => "bigint or double",
                    Self::Array => "array",
                    Self::Any => "any",
                };
                return plan_err!(
                    "Unexpected parameters ({}) for function {name}. Expected: {name}({wanted})",
                    type_name(t)
                );
            }
        };
        Ok(ok)
    }
}

/// Argument types as Trino lists them in its messages: `bigint, varchar`.
pub(crate) fn type_names(types: &[DataType]) -> String {
    types.iter().map(type_name).collect::<Vec<_>>().join(", ")
}

/// A type as Timestream's messages name it.
pub(crate) fn type_name(t: &DataType) -> &'static str {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "varchar",
        DataType::Float64 | DataType::Float32 => "double",
        DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8 => "bigint",
        DataType::Boolean => "boolean",
        DataType::Timestamp(..) => "timestamp",
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Duration(_) => "interval day to second",
        DataType::Interval(_) => "interval year to month",
        _ => "unknown",
    }
}

/// The result type of a [`FixedFn`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Ret {
    Fixed(DataType),
    /// The (coerced) type of argument `i`.
    LikeArg(usize),
}

impl From<DataType> for Ret {
    fn from(t: DataType) -> Self {
        Self::Fixed(t)
    }
}

/// A function of fixed arity whose arguments are coerced per [`Arg`] and evaluated on whole arrays by `eval`.
#[derive(Debug)]
pub(crate) struct FixedFn {
    name: &'static str,
    args: &'static [Arg],
    ret: Ret,
    signature: Signature,
    eval: fn(&[ArrayRef]) -> Result<ArrayRef>,
    /// A faster `eval` for when the arguments are as it needs (`None` when they are not): an array and a constant,
    /// say, which `eval` would get with the constant expanded into an array.
    fast: Option<FastEval>,
}

/// See [`FixedFn`]'s `fast`.
type FastEval = fn(&[ColumnarValue]) -> Option<Result<ColumnarValue>>;

impl FixedFn {
    pub(crate) fn new(
        name: &'static str,
        args: &'static [Arg],
        ret: impl Into<Ret>,
        eval: fn(&[ArrayRef]) -> Result<ArrayRef>,
    ) -> Self {
        Self {
            name,
            args,
            ret: ret.into(),
            signature: Signature::user_defined(Volatility::Immutable),
            eval,
            fast: None,
        }
    }

    fn with_fast(mut self, fast: FastEval) -> Self {
        self.fast = Some(fast);
        self
    }
}

// Functions are identified by name: one implementation per name.
impl PartialEq for FixedFn {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for FixedFn {}

impl Hash for FixedFn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for FixedFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &self.ret {
            Ret::Fixed(t) => Ok(t.clone()),
            Ret::LikeArg(i) => args
                .get(*i)
                .cloned()
                .ok_or_else(|| DataFusionError::Plan(format!("{}: missing argument", self.name))),
        }
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != self.args.len() {
            return plan_err!(
                "Function {} expects {} arguments, got {}",
                self.name,
                self.args.len(),
                arg_types.len()
            );
        }
        self.args
            .iter()
            .zip(arg_types)
            .map(|(a, t)| a.coerce(self.name, t))
            .collect()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let Some(out) = self.fast.and_then(|fast| fast(&args.args)) {
            return out;
        }
        on_arrays(&args.args, self.eval)
    }
}

/// Runs `eval` over the arguments as arrays (scalars expanded), and gives back a scalar when every argument was one.
pub(crate) fn on_arrays(
    args: &[ColumnarValue],
    eval: impl FnOnce(&[ArrayRef]) -> Result<ArrayRef>,
) -> Result<ColumnarValue> {
    let all_scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let out = eval(&ColumnarValue::values_to_arrays(args)?)?;
    Ok(if all_scalar {
        ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
    } else {
        ColumnarValue::Array(out)
    })
}

pub(crate) fn timestamps(a: &ArrayRef) -> &TimestampNanosecondArray {
    a.as_primitive::<TimestampNanosecondType>()
}

fn durations(a: &ArrayRef) -> &DurationNanosecondArray {
    a.as_primitive::<DurationNanosecondType>()
}

fn overflow(what: &str) -> DataFusionError {
    DataFusionError::Execution(format!("{what} is out of the range of timestamps"))
}

/// `bin(t, i)`: `t` rounded down to a multiple of `i` since the epoch (not aligned to the calendar).
fn bin(a: &[ArrayRef]) -> Result<ArrayRef> {
    let out: TimestampNanosecondArray = try_binary(timestamps(&a[0]), durations(&a[1]), |t, i| {
        if i <= 0 {
            return Err(datafusion::arrow::error::ArrowError::ComputeError(
                "bin: the interval must be positive".into(),
            ));
        }
        Ok(t.div_euclid(i) * i)
    })?;
    Ok(Arc::new(out))
}

/// `bin(column, constant interval)`, as `GROUP BY bin(time, 1h)` has it: [`bin_by`].
fn bin_by_constant(args: &[ColumnarValue]) -> Option<Result<ColumnarValue>> {
    match args {
        [
            ColumnarValue::Array(t),
            ColumnarValue::Scalar(ScalarValue::DurationNanosecond(Some(i))),
        ] if *i > 0 => Some(bin_by(timestamps(t), *i).map(ColumnarValue::Array)),
        _ => None,
    }
}

/// `bin` of a column by one interval `i` (> 0), as `GROUP BY bin(time, 1h)` has it. The quotient is floored as
/// `div_euclid` does, by a division strength-reduced to multiplications: a hardware division by a value known only
/// when the query runs took 7% of double-groupby-1's server CPU.
fn bin_by(t: &TimestampNanosecondArray, i: i64) -> Result<ArrayRef> {
    let divisor = StrengthReducedU64::new(i as u64);
    let out: TimestampNanosecondArray = t.try_unary(|t| {
        let bins = if t >= 0 {
            (t as u64 / divisor) as i64
        } else {
            // floor(t / i) for t < 0; -(t + 1) does not overflow.
            -(((-(t + 1)) as u64 / divisor) as i64) - 1
        };
        bins.checked_mul(i).ok_or_else(|| {
            datafusion::arrow::error::ArrowError::ComputeError(
                "bin: the result is out of the range of timestamps".into(),
            )
        })
    })?;
    Ok(Arc::new(out.with_timezone_opt(t.timezone())))
}

fn from_milliseconds(a: &[ArrayRef]) -> Result<ArrayRef> {
    let out: TimestampNanosecondArray = try_unary(a[0].as_primitive::<Int64Type>(), |ms: i64| {
        ms.checked_mul(1_000_000).ok_or_else(|| {
            datafusion::arrow::error::ArrowError::ComputeError(
                "from_milliseconds: value out of range".into(),
            )
        })
    })?;
    Ok(Arc::new(out))
}

fn from_nanoseconds(a: &[ArrayRef]) -> Result<ArrayRef> {
    let ns = a[0].as_primitive::<Int64Type>();
    Ok(Arc::new(TimestampNanosecondArray::new(
        ns.values().clone(),
        ns.nulls().cloned(),
    )))
}

fn from_unixtime(a: &[ArrayRef]) -> Result<ArrayRef> {
    let secs = a[0].as_primitive::<Float64Type>();
    let mut out = Vec::with_capacity(secs.len());
    for s in secs.iter() {
        out.push(match s {
            Some(s) => {
                let ns = (s * 1e9).round();
                if !ns.is_finite() || ns.abs() >= i64::MAX as f64 {
                    return Err(overflow("from_unixtime: the value"));
                }
                Some(ns as i64)
            }
            None => None,
        });
    }
    Ok(Arc::new(TimestampNanosecondArray::from(out)))
}

/// Nanoseconds of a timestamp since the epoch, or of an interval.
fn nanos_of(a: &ArrayRef) -> Int64Array {
    match a.data_type() {
        DataType::Duration(_) => {
            let d = durations(a);
            Int64Array::new(d.values().clone(), d.nulls().cloned())
        }
        _ => {
            let t = timestamps(a);
            Int64Array::new(t.values().clone(), t.nulls().cloned())
        }
    }
}

fn to_milliseconds(a: &[ArrayRef]) -> Result<ArrayRef> {
    let ns = nanos_of(&a[0]);
    let out: Int64Array = ns.unary(|v| v.div_euclid(1_000_000));
    Ok(Arc::new(out))
}

fn to_nanoseconds(a: &[ArrayRef]) -> Result<ArrayRef> {
    Ok(Arc::new(nanos_of(&a[0])))
}

fn to_unixtime(a: &[ArrayRef]) -> Result<ArrayRef> {
    let out: Float64Array = timestamps(&a[0]).unary(|ns| ns as f64 / 1e9);
    Ok(Arc::new(out))
}

fn parse_duration(a: &[ArrayRef]) -> Result<ArrayRef> {
    let text = a[0].as_string::<i32>();
    let mut out = Vec::with_capacity(text.len());
    for s in text.iter() {
        out.push(match s {
            Some(s) => Some(duration_nanos(s.trim()).ok_or_else(|| {
                DataFusionError::Execution(format!("Invalid duration string: {s}"))
            })?),
            None => None,
        });
    }
    Ok(Arc::new(DurationNanosecondArray::from(out)))
}

/// The nanoseconds of a day-to-second unit, by any of Timestream's spellings.
pub fn unit_nanos(unit: &str) -> Option<i64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "ns" | "nanosecond" | "nanoseconds" => 1,
        "us" | "microsecond" | "microseconds" => 1_000,
        "ms" | "millisecond" | "milliseconds" => 1_000_000,
        "s" | "second" | "seconds" => 1_000_000_000,
        "m" | "minute" | "minutes" => 60_000_000_000,
        "h" | "hour" | "hours" => 3_600_000_000_000,
        "d" | "day" | "days" => 86_400_000_000_000,
        _ => return None,
    })
}

/// `42.8ms` → 42,800,000: a decimal number directly followed by a day-to-second unit, exactly (no float rounding).
pub fn duration_nanos(text: &str) -> Option<i64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|&i| i > 0)?;
    let (number, unit) = text.split_at(split);
    let per = unit_nanos(unit)?;
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut total = whole.checked_mul(per)?;
    // The fraction: digits × per / 10^len, truncated to whole nanoseconds.
    let mut scale = per;
    for d in frac.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        total = total.checked_add(i64::from(d - b'0') * scale)?;
    }
    Some(total)
}

/// `ago(i)` = `now() - i`, simplified at planning to the query's start time minus `i`, the same instant `now()`
/// gives in that query.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Ago {
    signature: Signature,
}

impl Default for Ago {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for Ago {
    fn name(&self) -> &str {
        "ago"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(TIMESTAMP)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] => Ok(vec![Arg::Interval.coerce("ago", t)?]),
            _ => plan_err!("Function ago expects 1 argument, got {}", arg_types.len()),
        }
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let Some(now) = info
            .query_execution_start_time()
            .and_then(|t| t.timestamp_nanos_opt())
        else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        let [interval]: [Expr; 1] = args
            .try_into()
            .map_err(|_| DataFusionError::Plan("ago expects one argument".into()))?;
        let now = Expr::Literal(ScalarValue::TimestampNanosecond(Some(now), None), None);
        Ok(ExprSimplifyResult::Simplified(now - interval))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(DataFusionError::Internal(
            "ago() is replaced by now() - interval at planning".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_by_one_interval_floors_as_div_euclid() {
        let times = [
            0,
            1,
            59,
            60,
            61,
            -1,
            -59,
            -60,
            -61,
            1_795_406_400_123_456_789,
            -1_795_406_400_123_456_789,
            i64::MAX,
            i64::MIN + 200 * 86_400_000_000_000,
        ];
        for i in [1, 7, 60, 3_600_000_000_000, 86_400_000_000_000, i64::MAX] {
            let t = TimestampNanosecondArray::from(times.to_vec());
            let binned = bin_by(&t, i).unwrap_or_else(|e| panic!("{i}: {e}"));
            let binned = timestamps(&binned);
            for (k, &x) in times.iter().enumerate() {
                assert_eq!(binned.value(k), x.div_euclid(i) * i, "bin({x}, {i})");
            }
        }
        let low = TimestampNanosecondArray::from(vec![i64::MIN]);
        assert!(bin_by(&low, 3_600_000_000_000).is_err());
    }

    #[test]
    fn durations_parse_exactly() {
        assert_eq!(duration_nanos("42.8ms"), Some(42_800_000));
        assert_eq!(duration_nanos("1h"), Some(3_600_000_000_000));
        assert_eq!(duration_nanos("50ns"), Some(50));
        assert_eq!(duration_nanos("10day"), Some(10 * 86_400_000_000_000));
        assert_eq!(duration_nanos("1.5s"), Some(1_500_000_000));
        assert_eq!(duration_nanos(".5s"), Some(500_000_000));
        for bad in [
            "",
            "h",
            "1",
            "1 h",
            "1.2.3s",
            "1year",
            "-1h",
            "99999999999999d",
        ] {
            assert_eq!(duration_nanos(bad), None, "{bad}");
        }
    }
}
