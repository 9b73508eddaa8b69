//! Trino's string, math, array and bitwise functions that Timestream documents and DataFusion
//! lacks, as fixed-arity UDFs. Calls with another arity are rewritten onto these in `trino.rs` (`strpos(s, x, n)` →
//! `strpos_nth`, `split(s, d, n)` → `split_limit`, `strrpos(s, x)` → `strrpos(s, x, 1)`). The regular-expression
//! functions are in `patterns.rs`.
//!
//! Error texts follow Trino's where a documented example shows one (`bit_count`).

use std::fmt::Write;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, ListBuilder, StringArray, StringBuilder, UInt32Array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use rand::seq::SliceRandom;

use crate::functions::{Arg, FixedFn, Ret, on_arrays, type_name};

pub fn register(ctx: &SessionContext) {
    use Arg::*;
    let string_list = || DataType::new_list(DataType::Utf8, true);
    for f in [
        FixedFn::new(
            "hamming_distance",
            &[Varchar, Varchar],
            DataType::Int64,
            hamming_distance,
        ),
        FixedFn::new(
            "strpos_nth",
            &[Varchar, Varchar, Bigint],
            DataType::Int64,
            |a| nth_position(a, false),
        ),
        FixedFn::new(
            "strrpos",
            &[Varchar, Varchar, Bigint],
            DataType::Int64,
            |a| nth_position(a, true),
        ),
        FixedFn::new(
            "split_limit",
            &[Varchar, Varchar, Bigint],
            string_list(),
            split_limit,
        ),
        FixedFn::new("bit_count", &[Bigint, Bigint], DataType::Int64, bit_count),
        FixedFn::new("repeat_count", &[Bigint], DataType::Int64, repeat_count),
        FixedFn::new("pad_size", &[Bigint], DataType::Int64, pad_size),
        FixedFn::new("from_base", &[Varchar, Bigint], DataType::Int64, from_base),
        FixedFn::new("to_base", &[Bigint, Bigint], DataType::Utf8, to_base),
        FixedFn::new("shuffle", &[Array], Ret::LikeArg(0), shuffle),
        FixedFn::new(
            "trino_substr",
            &[Varchar, Bigint, Bigint],
            DataType::Utf8,
            substr,
        ),
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(f));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(FixedFn::new(
        "typeof",
        &[Any],
        DataType::Utf8,
        typeof_,
    )));
    ctx.register_udf(ScalarUDF::new_from_impl(Concat::default()));
    // Trino's ceiling, floor and sign keep their argument's type; DataFusion's return doubles. These replace
    // DataFusion's `ceil` and `floor` (which `CEIL(x)` and `FLOOR(x)` also plan to).
    for (name, eval) in [
        ("ceiling", ceiling as fn(&[ArrayRef]) -> Result<ArrayRef>),
        ("ceil", ceiling),
        ("floor", floor),
        ("sign", sign),
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(FixedFn::new(
            name,
            &[Numeric],
            Ret::LikeArg(0),
            eval,
        )));
    }
    // Trino's square root of a negative number is NaN (Java's Math.sqrt); DataFusion's fails the query.
    ctx.register_udf(ScalarUDF::new_from_impl(FixedFn::new(
        "sqrt",
        &[Arg::Double],
        Ret::Fixed(DataType::Float64),
        sqrt,
    )));
    ctx.register_udf(ScalarUDF::new_from_impl(FixedFn::new(
        "trino_reverse",
        &[Any],
        Ret::LikeArg(0),
        reverse,
    )));
    ctx.register_udf(ScalarUDF::new_from_impl(FixedFn::new(
        "distinct_key",
        &[Any],
        Ret::Fixed(DataType::Int64),
        distinct_key,
    )));
}

/// `op` on doubles, `int_op` on integers, keeping the type.
fn numeric(a: &ArrayRef, op: fn(f64) -> f64, int_op: fn(i64) -> i64) -> Result<ArrayRef> {
    use datafusion::arrow::compute::cast;
    let t = a.data_type().clone();
    let out: ArrayRef = if t.is_integer() {
        let v = cast(a, &DataType::Int64)?;
        Arc::new(ints(&v).unary::<_, Int64Type>(int_op))
    } else {
        let v = cast(a, &DataType::Float64)?;
        Arc::new(
            v.as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .unary::<_, datafusion::arrow::datatypes::Float64Type>(op),
        )
    };
    Ok(cast(&out, &t)?)
}

fn ceiling(a: &[ArrayRef]) -> Result<ArrayRef> {
    numeric(&a[0], f64::ceil, |v| v)
}

fn floor(a: &[ArrayRef]) -> Result<ArrayRef> {
    numeric(&a[0], f64::floor, |v| v)
}

/// -1, 0 or 1; for doubles NaN stays NaN and ±infinity gives ±1, as in Trino.
fn sign(a: &[ArrayRef]) -> Result<ArrayRef> {
    numeric(
        &a[0],
        |v| {
            if v.is_nan() || v == 0.0 {
                v
            } else {
                v.signum()
            }
        },
        i64::signum,
    )
}

/// The square root of a double (its argument is coerced to one), NaN for a negative number.
fn sqrt(a: &[ArrayRef]) -> Result<ArrayRef> {
    use datafusion::arrow::datatypes::Float64Type;
    Ok(Arc::new(
        a[0].as_primitive::<Float64Type>()
            .unary::<_, Float64Type>(f64::sqrt),
    ))
}

/// `reverse` of a string (its characters) or of an array (its elements).
fn reverse(a: &[ArrayRef]) -> Result<ArrayRef> {
    match a[0].data_type() {
        DataType::List(field) => {
            let list = a[0].as_list::<i32>();
            let offsets = list.value_offsets();
            let indices: UInt32Array = (0..list.len())
                .flat_map(|r| (offsets[r] as u32..offsets[r + 1] as u32).rev())
                .collect();
            Ok(Arc::new(datafusion::arrow::array::ListArray::try_new(
                Arc::clone(field),
                OffsetBuffer::from_lengths(list.iter().map(|v| v.map_or(0, |v| v.len()))),
                take(list.values(), &indices, None)?,
                list.nulls().cloned(),
            )?))
        }
        // `reverse(NULL)`: a null of no type, as its type was planned.
        DataType::Null => Ok(Arc::clone(&a[0])),
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
            let s = datafusion::arrow::compute::cast(&a[0], &DataType::Utf8)?;
            let out: StringArray = strings(&s)
                .iter()
                .map(|v| v.map(|v| v.chars().rev().collect::<String>()))
                .collect();
            Ok(Arc::new(out))
        }
        other => exec_err!(
            "Unexpected parameters ({}) for function reverse. Expected: reverse(varchar), reverse(array(E))",
            type_name(other)
        ),
    }
}

/// A 64-bit key with one value per distinct input value, for `approx_distinct`, whose sketch takes integers and
/// strings: a double's bits (with -0.0 as 0.0 and one NaN), an integer's value, a string's hash.
fn distinct_key(a: &[ArrayRef]) -> Result<ArrayRef> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let c = &a[0];
    let out: Int64Array = match c.data_type() {
        DataType::Float64 | DataType::Float32 => {
            let d = datafusion::arrow::compute::cast(c, &DataType::Float64)?;
            d.as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .iter()
                .map(|v| {
                    v.map(|v| {
                        let v = if v == 0.0 {
                            0.0
                        } else if v.is_nan() {
                            f64::NAN
                        } else {
                            v
                        };
                        v.to_bits() as i64
                    })
                })
                .collect()
        }
        t if t.is_integer() => {
            ints(&datafusion::arrow::compute::cast(c, &DataType::Int64)?).clone()
        }
        _ => {
            let text = datafusion::arrow::compute::cast(c, &DataType::Utf8)?;
            strings(&text)
                .iter()
                .map(|v| {
                    v.map(|v| {
                        let mut h = DefaultHasher::new();
                        v.hash(&mut h);
                        h.finish() as i64
                    })
                })
                .collect()
        }
    };
    Ok(Arc::new(out))
}

/// Trino's `substr(s, start [, length])`: `start` counts from 1, or from the end when negative; 0 gives ''.
fn substr(a: &[ArrayRef]) -> Result<ArrayRef> {
    let (s, start, len) = (strings(&a[0]), ints(&a[1]), ints(&a[2]));
    let mut out = StringBuilder::new();
    for i in 0..s.len() {
        if s.is_null(i) || start.is_null(i) || len.is_null(i) {
            out.append_null();
            continue;
        }
        let text = s.value(i);
        let n = text.chars().count() as i64;
        let from = match start.value(i) {
            0 => n + 1,
            k if k < 0 => n + k + 1,
            k => k,
        };
        if from < 1 || from > n || len.value(i) <= 0 {
            out.append_value("");
            continue;
        }
        let piece: String = text
            .chars()
            .skip(from as usize - 1)
            .take(len.value(i).min(n) as usize)
            .collect();
        out.append_value(piece);
    }
    Ok(Arc::new(out.finish()))
}

/// Trino's `concat`: of strings, or of arrays. Null when any argument is null (DataFusion's string `concat` skips
/// nulls instead).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Concat {
    signature: Signature,
}

impl Default for Concat {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Concat {
    fn name(&self) -> &str {
        "trino_concat"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let list = args.iter().find(|t| matches!(t, DataType::List(_)));
        match list {
            Some(first)
                if args
                    .iter()
                    .all(|t| matches!(t, DataType::List(_) | DataType::Null)) =>
            {
                Ok(vec![first.clone(); args.len()])
            }
            None if args.iter().all(|t| {
                matches!(
                    t,
                    DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
                )
            }) =>
            {
                Ok(vec![DataType::Utf8; args.len()])
            }
            _ => plan_err!(
                "Unexpected parameters ({}) for function concat. Expected: concat(varchar...), concat(array(E)...)",
                args.iter()
                    .map(crate::timeseries::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().cloned().unwrap_or(DataType::Utf8))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        on_arrays(&args.args, |a| {
            let rows = a.first().map_or(0, |c| c.len());
            if let Some(DataType::List(field)) = a.first().map(|c| c.data_type()) {
                // Row by row: the elements of every argument, in order.
                let lists: Vec<_> = a.iter().map(|c| c.as_list::<i32>()).collect();
                let mut lengths = Vec::with_capacity(rows);
                let mut valid = Vec::with_capacity(rows);
                let mut pieces: Vec<ArrayRef> = Vec::new();
                for r in 0..rows {
                    if lists.iter().any(|l| l.is_null(r)) {
                        lengths.push(0);
                        valid.push(false);
                        continue;
                    }
                    let mut n = 0;
                    for l in &lists {
                        let v = l.value(r);
                        n += v.len();
                        pieces.push(v);
                    }
                    lengths.push(n);
                    valid.push(true);
                }
                let refs: Vec<&dyn Array> = pieces.iter().map(|p| p.as_ref()).collect();
                let values = if refs.is_empty() {
                    datafusion::arrow::array::new_empty_array(field.data_type())
                } else {
                    datafusion::arrow::compute::concat(&refs)?
                };
                return Ok(Arc::new(datafusion::arrow::array::ListArray::try_new(
                    Arc::clone(field),
                    OffsetBuffer::from_lengths(lengths),
                    values,
                    Some(NullBuffer::from(valid)),
                )?) as ArrayRef);
            }
            let strs: Vec<&StringArray> = a.iter().map(strings).collect();
            let mut out = StringBuilder::new();
            for r in 0..rows {
                if strs.iter().any(|s| s.is_null(r)) {
                    out.append_null();
                } else {
                    for s in &strs {
                        out.write_str(s.value(r))
                            .map_err(|e| failed(e.to_string()))?;
                    }
                    out.append_value("");
                }
            }
            Ok(Arc::new(out.finish()) as ArrayRef)
        })
    }
}

fn strings(a: &ArrayRef) -> &StringArray {
    a.as_string::<i32>()
}

fn ints(a: &ArrayRef) -> &Int64Array {
    a.as_primitive::<Int64Type>()
}

fn failed(message: String) -> DataFusionError {
    DataFusionError::Execution(message)
}

/// The count of Trino's `repeat(x, n)`, checked as Trino checks it: at most 10,000 entries.
fn repeat_count(a: &[ArrayRef]) -> Result<ArrayRef> {
    let n = ints(&a[0]);
    for v in n.iter().flatten() {
        if v < 0 {
            return exec_err!(
                "count argument of repeat function must be greater than or equal to 0"
            );
        }
        if v > 10_000 {
            return exec_err!(
                "count argument of repeat function must be less than or equal to 10000"
            );
        }
    }
    Ok(Arc::clone(&a[0]))
}

/// The longest string `lpad` and `rpad` make, in characters. Trino allows up to 2^31 - 1, but a padded string is
/// built whole in memory for every row, and a result row holds at most 1 MB anyway.
const MAX_PAD: i64 = 16 << 20;

/// The target length of `lpad`/`rpad`, checked.
fn pad_size(a: &[ArrayRef]) -> Result<ArrayRef> {
    if ints(&a[0])
        .iter()
        .flatten()
        .any(|v| !(0..=MAX_PAD).contains(&v))
    {
        return exec_err!("Target length must be in the range [0..{MAX_PAD}]");
    }
    Ok(Arc::clone(&a[0]))
}

fn hamming_distance(a: &[ArrayRef]) -> Result<ArrayRef> {
    let (x, y) = (strings(&a[0]), strings(&a[1]));
    let out: Result<Int64Array> = x
        .iter()
        .zip(y.iter())
        .map(|pair| match pair {
            (Some(x), Some(y)) => {
                let (x, y): (Vec<char>, Vec<char>) = (x.chars().collect(), y.chars().collect());
                if x.len() != y.len() {
                    return Err(failed(
                        "The input strings to hamming_distance function must have the same length"
                            .into(),
                    ));
                }
                Ok(Some(x.iter().zip(&y).filter(|(a, b)| a != b).count() as i64))
            }
            _ => Ok(None),
        })
        .collect();
    Ok(Arc::new(out?))
}

/// The 1-based character position of the `n`-th occurrence of a substring, counted from the start or the end; 0
/// when there are fewer.
fn nth_position(a: &[ArrayRef], from_end: bool) -> Result<ArrayRef> {
    let (s, sub, n) = (strings(&a[0]), strings(&a[1]), ints(&a[2]));
    let mut out = Int64Array::builder(s.len());
    for i in 0..s.len() {
        if s.is_null(i) || sub.is_null(i) || n.is_null(i) {
            out.append_null();
            continue;
        }
        let (s, sub, n) = (s.value(i), sub.value(i), n.value(i));
        if n <= 0 {
            return exec_err!("'instance' must be a positive number.");
        }
        // Byte offsets of every occurrence, overlapping ones included.
        let starts: Vec<usize> = (0..=s.len())
            .filter(|&b| s.is_char_boundary(b) && s[b..].starts_with(sub))
            .collect();
        let hit = if from_end {
            starts.iter().rev().nth(n as usize - 1)
        } else {
            starts.get(n as usize - 1)
        };
        out.append_value(hit.map_or(0, |&b| s[..b].chars().count() as i64 + 1));
    }
    Ok(Arc::new(out.finish()))
}

fn split_limit(a: &[ArrayRef]) -> Result<ArrayRef> {
    let (s, d, n) = (strings(&a[0]), strings(&a[1]), ints(&a[2]));
    let mut out = ListBuilder::new(StringBuilder::new());
    for i in 0..s.len() {
        if s.is_null(i) || d.is_null(i) || n.is_null(i) {
            out.append_null();
            continue;
        }
        if n.value(i) <= 0 {
            return exec_err!("Limit must be positive");
        }
        if d.value(i).is_empty() {
            return exec_err!("The delimiter may not be the empty string");
        }
        for part in s.value(i).splitn(n.value(i) as usize, d.value(i)) {
            out.values().append_value(part);
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

fn bit_count(a: &[ArrayRef]) -> Result<ArrayRef> {
    let (x, bits) = (ints(&a[0]), ints(&a[1]));
    let out: Result<Int64Array> = x
        .iter()
        .zip(bits.iter())
        .map(|pair| {
            let (Some(x), Some(bits)) = pair else {
                return Ok(None);
            };
            if !(2..=64).contains(&bits) {
                return Err(failed(format!(
                    "Bits specified in bit_count must be between 2 and 64, got {bits}"
                )));
            }
            let (low, high) = if bits == 64 {
                (i64::MIN, i64::MAX)
            } else {
                (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
            };
            if x < low || x > high {
                return Err(failed(format!(
                    "Number must be representable with the bits specified. {x} can not be represented with {bits} bits"
                )));
            }
            let mask = if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            Ok(Some(((x as u64) & mask).count_ones() as i64))
        })
        .collect();
    Ok(Arc::new(out?))
}

fn check_radix(radix: i64) -> Result<u32> {
    if !(2..=36).contains(&radix) {
        return exec_err!("Radix must be between 2 and 36");
    }
    Ok(radix as u32)
}

fn from_base(a: &[ArrayRef]) -> Result<ArrayRef> {
    let (s, radix) = (strings(&a[0]), ints(&a[1]));
    let out: Result<Int64Array> = s
        .iter()
        .zip(radix.iter())
        .map(|pair| {
            let (Some(s), Some(radix)) = pair else {
                return Ok(None);
            };
            let r = check_radix(radix)?;
            i64::from_str_radix(s, r)
                .map(Some)
                .map_err(|_| failed(format!("Not a valid base-{radix} number: {s}")))
        })
        .collect();
    Ok(Arc::new(out?))
}

fn to_base(a: &[ArrayRef]) -> Result<ArrayRef> {
    let (x, radix) = (ints(&a[0]), ints(&a[1]));
    let mut out = StringBuilder::new();
    for (x, radix) in x.iter().zip(radix.iter()) {
        let (Some(x), Some(radix)) = (x, radix) else {
            out.append_null();
            continue;
        };
        let r = check_radix(radix)? as u64;
        let mut digits = Vec::new();
        let mut v = x.unsigned_abs();
        loop {
            digits.push(std::char::from_digit((v % r) as u32, r as u32).unwrap_or('?'));
            v /= r;
            if v == 0 {
                break;
            }
        }
        if x < 0 {
            digits.push('-');
        }
        out.append_value(digits.iter().rev().collect::<String>());
    }
    Ok(Arc::new(out.finish()))
}

fn shuffle(a: &[ArrayRef]) -> Result<ArrayRef> {
    let list = a[0].as_list::<i32>();
    let offsets = list.value_offsets();
    let mut order: Vec<u32> = (0..list.values().len() as u32).collect();
    let mut rng = rand::thread_rng();
    for i in 0..list.len() {
        order[offsets[i] as usize..offsets[i + 1] as usize].shuffle(&mut rng);
    }
    let values = take(list.values(), &UInt32Array::from(order), None)?;
    let DataType::List(field) = list.data_type() else {
        return exec_err!("shuffle takes an array");
    };
    Ok(Arc::new(datafusion::arrow::array::ListArray::try_new(
        Arc::clone(field),
        list.offsets().clone(),
        values,
        list.nulls().cloned(),
    )?))
}

/// Trino's name for a type.
pub(crate) fn trino_type(t: &DataType) -> String {
    if let Some(v) = crate::timeseries::value_type(t) {
        return format!("timeseries(row(time timestamp, value {}))", trino_type(v));
    }
    match t {
        DataType::List(f) => format!("array({})", trino_type(f.data_type())),
        DataType::Struct(fields) => format!(
            "row({})",
            fields
                .iter()
                .map(|f| format!("{} {}", f.name(), trino_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DataType::Int32 | DataType::Int16 | DataType::Int8 => "integer".into(),
        DataType::Time32(_) | DataType::Time64(_) => "time".into(),
        DataType::Null => "unknown".into(),
        other => type_name(other).into(),
    }
}

fn typeof_(a: &[ArrayRef]) -> Result<ArrayRef> {
    let name = trino_type(a[0].data_type());
    Ok(Arc::new(StringArray::from(vec![name; a[0].len()])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: fn(&[ArrayRef]) -> Result<ArrayRef>, args: Vec<ArrayRef>) -> Result<ArrayRef> {
        f(&args)
    }

    fn s(v: &str) -> ArrayRef {
        Arc::new(StringArray::from(vec![v]))
    }

    fn i(v: i64) -> ArrayRef {
        Arc::new(Int64Array::from(vec![v]))
    }

    #[test]
    fn documented_examples() {
        let count = run(bit_count, vec![i(19), i(8)]).unwrap();
        assert_eq!(ints(&count).value(0), 3);
        let err = run(bit_count, vec![i(19), i(2)]).unwrap_err().to_string();
        assert!(
            err.contains(
                "Number must be representable with the bits specified. 19 can not be represented with 2 bits"
            ),
            "{err}"
        );
        let pos = run(|a| nth_position(a, false), vec![s("abcabc"), s("c"), i(2)]).unwrap();
        assert_eq!(ints(&pos).value(0), 6);
        let pos = run(|a| nth_position(a, true), vec![s("abcabc"), s("c"), i(2)]).unwrap();
        assert_eq!(ints(&pos).value(0), 3);
        let b = run(to_base, vec![i(-255), i(16)]).unwrap();
        assert_eq!(strings(&b).value(0), "-ff");
        let n = run(from_base, vec![s("-ff"), i(16)]).unwrap();
        assert_eq!(ints(&n).value(0), -255);
    }
}
