//! Timestream's `timeseries` type and the functions over it.
//!
//! A timeseries is an array of `(time, value)` rows sorted by time: Arrow `List<Struct<time: Timestamp(ns), value:
//! T>>`. `create_time_series(t, v)` builds one (the planner spells it as an ordered `array_agg`, see `trino.rs`),
//! `UNNEST` takes it apart, `filter` keeps points with a lambda, and the functions here compute over it:
//!
//! - `interpolate_linear | interpolate_spline_cubic | interpolate_locf (ts, array[timestamp])` → timeseries, and
//!   `(ts, timestamp)` → the value at one time; `interpolate_fill(ts, …, fill)` likewise. Linear and cubic spline
//!   interpolation answer only between the first and last points; LOCF answers from the first point on; fill
//!   answers everywhere, with the fill value where the series has no point at that time;
//! - `derivative_linear(ts, interval)`: at each point after the first, the change since the previous point per
//!   `interval`; `non_negative_derivative_linear` keeps the points where it is not negative;
//! - `integral_trapezoidal(ts [, interval])`: the area under the series by the trapezoidal rule, time measured in
//!   `interval`s (1 second by default);
//! - `correlate_pearson(ts, ts)`, `correlate_spearman(ts, ts)`: correlation coefficients of two series with the
//!   same timestamps.
//!
//! Points with a null value are left out of every computation.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, ListArray, StructArray, TimestampNanosecondArray,
    new_null_array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Fields, Float64Type, TimeUnit, TimestampNanosecondType,
};
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::prelude::SessionContext;

use crate::functions::{DAY_TO_SECOND, TIMESTAMP, on_arrays, timestamp_like, type_name};

/// The value type of a timeseries type, or `None` for any other type.
pub fn value_type(t: &DataType) -> Option<&DataType> {
    let DataType::List(item) = t else {
        return None;
    };
    let DataType::Struct(fields) = item.data_type() else {
        return None;
    };
    match fields.iter().as_slice() {
        [time, value]
            if time.name() == "time"
                && value.name() == "value"
                && matches!(
                    time.data_type(),
                    DataType::Timestamp(TimeUnit::Nanosecond, _)
                ) =>
        {
            Some(value.data_type())
        }
        _ => None,
    }
}

fn point_fields(value: DataType) -> Fields {
    Fields::from(vec![
        Field::new("time", TIMESTAMP, true),
        Field::new("value", value, true),
    ])
}

/// The timeseries type with values of type `value`.
pub fn timeseries_type(value: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(point_fields(value)),
        true,
    )))
}

pub fn register(ctx: &SessionContext) {
    use Kind::*;
    use Method::*;
    for (name, kind) in [
        ("interpolate_linear", Interpolate(Linear)),
        ("interpolate_spline_cubic", Interpolate(SplineCubic)),
        ("interpolate_locf", Interpolate(Locf)),
        ("interpolate_fill", Interpolate(Fill)),
        (
            "derivative_linear",
            Derivative {
                non_negative: false,
            },
        ),
        (
            "non_negative_derivative_linear",
            Derivative { non_negative: true },
        ),
        ("integral_trapezoidal", Integral),
        ("correlate_pearson", Correlate { spearman: false }),
        ("correlate_spearman", Correlate { spearman: true }),
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(SeriesFn::new(name, kind)));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(RowFieldList::default()));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Method {
    Linear,
    SplineCubic,
    Locf,
    Fill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Interpolate(Method),
    Derivative { non_negative: bool },
    Integral,
    Correlate { spearman: bool },
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SeriesFn {
    name: &'static str,
    kind: Kind,
    signature: Signature,
}

impl SeriesFn {
    fn new(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn expected(&self) -> &'static str {
        match self.kind {
            Kind::Interpolate(Method::Fill) => {
                "interpolate_fill(timeseries, array(timestamp), double), interpolate_fill(timeseries, timestamp, double)"
            }
            Kind::Interpolate(_) => "(timeseries, array(timestamp)), (timeseries, timestamp)",
            Kind::Derivative { .. } => "(timeseries, interval day to second)",
            Kind::Integral => "(timeseries), (timeseries, interval day to second)",
            Kind::Correlate { .. } => "(timeseries, timeseries)",
        }
    }

    fn refuse<T>(&self, args: &[DataType]) -> Result<T> {
        plan_err!(
            "Unexpected parameters ({}) for function {}. Expected: {}",
            args.iter().map(describe).collect::<Vec<_>>().join(", "),
            self.name,
            self.expected()
        )
    }
}

/// A type as Timestream names it in messages.
pub(crate) fn describe(t: &DataType) -> String {
    if let Some(v) = value_type(t) {
        return format!("timeseries({})", describe(v));
    }
    match t {
        DataType::List(f) => format!("array({})", describe(f.data_type())),
        other => type_name(other).to_owned(),
    }
}

fn is_numeric(t: &DataType) -> bool {
    t.is_numeric() || matches!(t, DataType::Null)
}

fn is_interval(t: &DataType) -> bool {
    matches!(t, DataType::Duration(_) | DataType::Interval(_))
}

impl ScalarUDFImpl for SeriesFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let numeric_series = |t: &DataType| value_type(t).is_some_and(is_numeric);
        let series = |t: &DataType| value_type(t).is_some();
        let target = |t: &DataType| match t {
            DataType::List(f) if timestamp_like(f.data_type()) => {
                Some(DataType::new_list(TIMESTAMP, true))
            }
            t if timestamp_like(t) => Some(TIMESTAMP),
            _ => None,
        };
        let ok = match (self.kind, args) {
            (Kind::Interpolate(Method::Locf), [s, x]) if series(s) => {
                target(x).map(|x| vec![s.clone(), x])
            }
            (Kind::Interpolate(Method::Fill), [s, x, f]) if numeric_series(s) && is_numeric(f) => {
                target(x).map(|x| vec![s.clone(), x, DataType::Float64])
            }
            (Kind::Interpolate(Method::Linear | Method::SplineCubic), [s, x])
                if numeric_series(s) =>
            {
                target(x).map(|x| vec![s.clone(), x])
            }
            (Kind::Derivative { .. }, [s, i]) if numeric_series(s) && is_interval(i) => {
                Some(vec![s.clone(), DAY_TO_SECOND])
            }
            (Kind::Integral, [s]) if numeric_series(s) => Some(vec![s.clone()]),
            (Kind::Integral, [s, i]) if numeric_series(s) && is_interval(i) => {
                Some(vec![s.clone(), DAY_TO_SECOND])
            }
            (Kind::Correlate { .. }, [a, b]) if numeric_series(a) && numeric_series(b) => {
                Some(vec![a.clone(), b.clone()])
            }
            _ => None,
        };
        match ok {
            Some(types) => Ok(types),
            None => self.refuse(args),
        }
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let value = args.first().and_then(value_type).cloned();
        let Some(value) = value else {
            return self.refuse(args);
        };
        let one_time = matches!(args.get(1), Some(DataType::Timestamp(..)));
        Ok(match self.kind {
            Kind::Interpolate(method) => {
                let out = if method == Method::Locf {
                    value
                } else {
                    DataType::Float64
                };
                if one_time { out } else { timeseries_type(out) }
            }
            Kind::Derivative { .. } => timeseries_type(DataType::Float64),
            Kind::Integral | Kind::Correlate { .. } => DataType::Float64,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let kind = self.kind;
        let name = self.name;
        let out_type = args.return_field.data_type().clone();
        on_arrays(&args.args, |a| match kind {
            Kind::Interpolate(method) => interpolate(method, a, &out_type),
            Kind::Derivative { non_negative } => derivative(a, non_negative),
            Kind::Integral => integral(a),
            Kind::Correlate { spearman } => correlate(name, a, spearman),
        })
    }
}

/// The points of one row of a timeseries array with a non-null value: times and the row indices of the values in
/// the list's child arrays.
struct Points {
    times: Vec<i64>,
    rows: Vec<usize>,
}

/// Reads each row of a timeseries array.
struct Series<'a> {
    list: &'a ListArray,
    times: &'a TimestampNanosecondArray,
    values: &'a ArrayRef,
}

impl<'a> Series<'a> {
    fn new(a: &'a ArrayRef) -> Result<Self> {
        let list = a.as_list::<i32>();
        let points = list.values().as_struct();
        Ok(Self {
            list,
            times: points.column(0).as_primitive::<TimestampNanosecondType>(),
            values: points.column(1),
        })
    }

    /// The points of row `i`, or `None` for a null timeseries.
    fn points(&self, i: usize) -> Option<Points> {
        if self.list.is_null(i) {
            return None;
        }
        let offsets = self.list.value_offsets();
        let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
        let mut p = Points {
            times: Vec::with_capacity(end - start),
            rows: Vec::with_capacity(end - start),
        };
        for r in start..end {
            if self.times.is_valid(r) && self.values.is_valid(r) {
                p.times.push(self.times.value(r));
                p.rows.push(r);
            }
        }
        Some(p)
    }

    /// The values of the whole child array as doubles.
    fn doubles(&self) -> Result<Float64Array> {
        Ok(cast(self.values, &DataType::Float64)?
            .as_primitive::<Float64Type>()
            .clone())
    }
}

/// Builds a timeseries array row by row.
struct SeriesBuilder {
    lengths: Vec<usize>,
    valid: Vec<bool>,
    times: Vec<i64>,
    /// Row indices into `source` (when values are taken from a series) or computed doubles.
    taken: Vec<u64>,
    doubles: Vec<f64>,
}

impl SeriesBuilder {
    fn new() -> Self {
        Self {
            lengths: Vec::new(),
            valid: Vec::new(),
            times: Vec::new(),
            taken: Vec::new(),
            doubles: Vec::new(),
        }
    }

    fn null_row(&mut self) {
        self.lengths.push(0);
        self.valid.push(false);
    }

    /// Ends a row of the points pushed since the last row.
    fn end_row(&mut self) {
        let done: usize = self.lengths.iter().sum();
        self.lengths.push(self.times.len() - done);
        self.valid.push(true);
    }

    fn finish(self, values: ArrayRef) -> Result<ArrayRef> {
        let value_type = values.data_type().clone();
        let points = StructArray::try_new(
            point_fields(value_type.clone()),
            vec![Arc::new(TimestampNanosecondArray::from(self.times)), values],
            None,
        )?;
        let DataType::List(item) = timeseries_type(value_type) else {
            unreachable!("timeseries_type is a list");
        };
        Ok(Arc::new(ListArray::try_new(
            item,
            OffsetBuffer::from_lengths(self.lengths),
            Arc::new(points),
            Some(NullBuffer::from(self.valid)),
        )?))
    }

    fn finish_doubles(mut self) -> Result<ArrayRef> {
        let values = Arc::new(Float64Array::from(std::mem::take(&mut self.doubles)));
        self.finish(values)
    }
}

fn interpolate(method: Method, a: &[ArrayRef], out_type: &DataType) -> Result<ArrayRef> {
    let series = Series::new(&a[0])?;
    let doubles = series.doubles()?;
    let fill = a.get(2).map(|f| f.as_primitive::<Float64Type>().clone());
    let rows = a[0].len();
    // The value at time `t` of the row with points `p`, as an index into the series' values (LOCF and exact
    // matches of fill) or a computed double.
    enum At {
        Row(usize),
        Value(f64),
    }
    let at = |p: &Points, spline: &Option<Spline>, t: i64, row: usize| -> Option<At> {
        let n = p.times.len();
        let pos = p.times.partition_point(|&x| x < t);
        let exact = pos < n && p.times[pos] == t;
        match method {
            Method::Locf => {
                let last = p.times.partition_point(|&x| x <= t);
                (last > 0).then(|| At::Row(p.rows[last - 1]))
            }
            Method::Fill => Some(if exact {
                At::Value(doubles.value(p.rows[pos]))
            } else {
                let f = fill.as_ref()?;
                if f.is_null(row) {
                    return None;
                }
                At::Value(f.value(row))
            }),
            _ if exact => Some(At::Value(doubles.value(p.rows[pos]))),
            _ if pos == 0 || pos == n => None,
            Method::Linear => {
                let (t0, t1) = (p.times[pos - 1], p.times[pos]);
                let (v0, v1) = (doubles.value(p.rows[pos - 1]), doubles.value(p.rows[pos]));
                Some(At::Value(
                    v0 + (v1 - v0) * ((t - t0) as f64 / (t1 - t0) as f64),
                ))
            }
            Method::SplineCubic => spline.as_ref().map(|s| At::Value(s.at(t))),
        }
    };
    let spline_of = |p: &Points| {
        (method == Method::SplineCubic).then(|| {
            Spline::new(
                &p.times,
                &p.rows.iter().map(|&r| doubles.value(r)).collect::<Vec<_>>(),
            )
        })
    };

    if let DataType::Timestamp(..) = a[1].data_type() {
        // One time: one value per row.
        let times = a[1].as_primitive::<TimestampNanosecondType>();
        let mut taken: Vec<Option<u64>> = Vec::with_capacity(rows);
        let mut values: Vec<Option<f64>> = Vec::with_capacity(rows);
        for row in 0..rows {
            let found = match series.points(row) {
                Some(p) if times.is_valid(row) => at(&p, &spline_of(&p), times.value(row), row),
                _ => None,
            };
            match found {
                Some(At::Row(r)) => taken.push(Some(r as u64)),
                Some(At::Value(v)) => values.push(Some(v)),
                None => {
                    taken.push(None);
                    values.push(None);
                }
            }
        }
        return if method == Method::Locf {
            Ok(take(
                series.values,
                &taken
                    .into_iter()
                    .collect::<datafusion::arrow::array::UInt64Array>(),
                None,
            )?)
        } else {
            debug_assert_eq!(out_type, &DataType::Float64);
            Ok(Arc::new(Float64Array::from(values)))
        };
    }

    let targets = a[1].as_list::<i32>();
    let mut out = SeriesBuilder::new();
    for row in 0..rows {
        let Some(p) = series.points(row).filter(|_| targets.is_valid(row)) else {
            out.null_row();
            continue;
        };
        let spline = spline_of(&p);
        let wanted = targets.value(row);
        let wanted = wanted.as_primitive::<TimestampNanosecondType>();
        for t in wanted.iter().flatten() {
            match at(&p, &spline, t, row) {
                Some(At::Row(r)) => {
                    out.times.push(t);
                    out.taken.push(r as u64);
                }
                Some(At::Value(v)) => {
                    out.times.push(t);
                    out.doubles.push(v);
                }
                None => {}
            }
        }
        out.end_row();
    }
    if method == Method::Locf {
        let indices = datafusion::arrow::array::UInt64Array::from(std::mem::take(&mut out.taken));
        let values = take(series.values, &indices, None)?;
        out.finish(values)
    } else {
        out.finish_doubles()
    }
}

/// A natural cubic spline through points, with time in seconds from the first point.
struct Spline {
    x: Vec<f64>,
    y: Vec<f64>,
    /// Second derivatives at the points.
    m: Vec<f64>,
    origin: i64,
}

impl Spline {
    fn new(times: &[i64], y: &[f64]) -> Self {
        let origin = times.first().copied().unwrap_or(0);
        let x: Vec<f64> = times.iter().map(|&t| (t - origin) as f64 / 1e9).collect();
        let n = x.len();
        let mut m = vec![0.0; n];
        if n >= 3 {
            // Tridiagonal system for the interior second derivatives (Thomas algorithm).
            let h: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
            let mut diag = vec![0.0; n];
            let mut rhs = vec![0.0; n];
            for i in 1..n - 1 {
                diag[i] = 2.0 * (h[i - 1] + h[i]);
                rhs[i] = 6.0 * ((y[i + 1] - y[i]) / h[i] - (y[i] - y[i - 1]) / h[i - 1]);
            }
            for i in 2..n - 1 {
                let w = h[i - 1] / diag[i - 1];
                diag[i] -= w * h[i - 1];
                rhs[i] -= w * rhs[i - 1];
            }
            for i in (1..n - 1).rev() {
                m[i] = (rhs[i] - h[i] * m[i + 1]) / diag[i];
            }
        }
        Self {
            x,
            y: y.to_vec(),
            m,
            origin,
        }
    }

    /// The spline's value at `t`, which lies between the first and last points.
    fn at(&self, t: i64) -> f64 {
        let x = (t - self.origin) as f64 / 1e9;
        let i = self
            .x
            .partition_point(|&p| p <= x)
            .clamp(1, self.x.len() - 1)
            - 1;
        let h = self.x[i + 1] - self.x[i];
        let (a, b) = (self.x[i + 1] - x, x - self.x[i]);
        self.m[i] * a.powi(3) / (6.0 * h)
            + self.m[i + 1] * b.powi(3) / (6.0 * h)
            + (self.y[i] / h - self.m[i] * h / 6.0) * a
            + (self.y[i + 1] / h - self.m[i + 1] * h / 6.0) * b
    }
}

fn nanos(a: &ArrayRef, row: usize) -> Option<i64> {
    let d = a.as_primitive::<datafusion::arrow::datatypes::DurationNanosecondType>();
    d.is_valid(row).then(|| d.value(row))
}

fn positive_interval(ns: i64, name: &str) -> Result<f64> {
    if ns <= 0 {
        return exec_err!("{name}: the interval must be positive");
    }
    Ok(ns as f64)
}

fn derivative(a: &[ArrayRef], non_negative: bool) -> Result<ArrayRef> {
    let series = Series::new(&a[0])?;
    let v = series.doubles()?;
    let mut out = SeriesBuilder::new();
    let name = if non_negative {
        "non_negative_derivative_linear"
    } else {
        "derivative_linear"
    };
    for row in 0..a[0].len() {
        let (Some(p), Some(per)) = (series.points(row), nanos(&a[1], row)) else {
            out.null_row();
            continue;
        };
        let per = positive_interval(per, name)?;
        for k in 1..p.times.len() {
            let dt = p.times[k] - p.times[k - 1];
            if dt == 0 {
                continue;
            }
            let d = (v.value(p.rows[k]) - v.value(p.rows[k - 1])) * per / dt as f64;
            if non_negative && d < 0.0 {
                continue;
            }
            out.times.push(p.times[k]);
            out.doubles.push(d);
        }
        out.end_row();
    }
    out.finish_doubles()
}

fn integral(a: &[ArrayRef]) -> Result<ArrayRef> {
    let series = Series::new(&a[0])?;
    let v = series.doubles()?;
    let mut out = Vec::with_capacity(a[0].len());
    for row in 0..a[0].len() {
        let per = match a.get(1) {
            Some(i) => nanos(i, row),
            None => Some(1_000_000_000),
        };
        let (Some(p), Some(per)) = (series.points(row), per) else {
            out.push(None);
            continue;
        };
        let per = positive_interval(per, "integral_trapezoidal")?;
        let area: f64 = (1..p.times.len())
            .map(|k| {
                let dt = (p.times[k] - p.times[k - 1]) as f64 / per;
                (v.value(p.rows[k]) + v.value(p.rows[k - 1])) / 2.0 * dt
            })
            .sum();
        out.push(Some(area));
    }
    Ok(Arc::new(Float64Array::from(out)))
}

fn correlate(name: &str, a: &[ArrayRef], spearman: bool) -> Result<ArrayRef> {
    let (sa, sb) = (Series::new(&a[0])?, Series::new(&a[1])?);
    let (va, vb) = (sa.doubles()?, sb.doubles()?);
    let mut out = Vec::with_capacity(a[0].len());
    for row in 0..a[0].len() {
        let (Some(pa), Some(pb)) = (sa.points(row), sb.points(row)) else {
            out.push(None);
            continue;
        };
        if pa.times != pb.times {
            return Err(DataFusionError::Execution(format!(
                "{name}: both time series must have the same timestamps"
            )));
        }
        let mut x: Vec<f64> = pa.rows.iter().map(|&r| va.value(r)).collect();
        let mut y: Vec<f64> = pb.rows.iter().map(|&r| vb.value(r)).collect();
        if spearman {
            x = ranks(&x);
            y = ranks(&y);
        }
        out.push(pearson(&x, &y));
    }
    Ok(Arc::new(Float64Array::from(out)))
}

fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 2 {
        return None;
    }
    let (mx, my) = (
        x.iter().sum::<f64>() / n as f64,
        y.iter().sum::<f64>() / n as f64,
    );
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    let d = (sxx * syy).sqrt();
    (d > 0.0).then(|| sxy / d)
}

/// Ranks from 1, ties sharing the mean of their ranks.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// `row_field_list(rows, i)`: the `i`-th field (from 1) of every row of an array of rows, as an array. The planner
/// uses it to unnest an array of rows into one column per field.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RowFieldList {
    signature: Signature,
}

impl Default for RowFieldList {
    fn default() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl RowFieldList {
    fn field(list: &DataType, index: Option<i64>) -> Result<&FieldRef> {
        let DataType::List(item) = list else {
            return plan_err!(
                "UNNEST with several column names needs an array of rows, not {}",
                describe(list)
            );
        };
        let DataType::Struct(fields) = item.data_type() else {
            return plan_err!(
                "UNNEST with several column names needs an array of rows, not {}",
                describe(list)
            );
        };
        let Some(i) = index else {
            return plan_err!("row_field_list takes a constant field number");
        };
        match usize::try_from(i - 1).ok().and_then(|i| fields.get(i)) {
            Some(f) => Ok(f),
            None => plan_err!(
                "UNNEST names more columns than the {} fields of its rows",
                fields.len()
            ),
        }
    }
}

impl ScalarUDFImpl for RowFieldList {
    fn name(&self) -> &str {
        "row_field_list"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        plan_err!("row_field_list: the return type depends on its arguments")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let index = match args.scalar_arguments.get(1) {
            Some(Some(v)) => v.cast_to(&DataType::Int64)?.to_string().parse::<i64>().ok(),
            _ => None,
        };
        let field = Self::field(args.arg_fields[0].data_type(), index)?;
        Ok(Arc::new(Field::new(
            self.name(),
            DataType::new_list(field.data_type().clone(), true),
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let DataType::List(item) = args.return_field.data_type() else {
            return exec_err!("row_field_list returns a list");
        };
        let item = Arc::clone(item);
        let index = match &args.args[1] {
            ColumnarValue::Scalar(s) => s
                .cast_to(&DataType::Int64)?
                .to_string()
                .parse::<usize>()
                .ok(),
            ColumnarValue::Array(_) => None,
        };
        let Some(index) = index.filter(|&i| i >= 1) else {
            return exec_err!("row_field_list takes a constant field number");
        };
        let rows = args.args[0].clone().into_array(args.number_rows)?;
        if rows.data_type() == &DataType::Null {
            return Ok(ColumnarValue::Array(new_null_array(
                args.return_field.data_type(),
                args.number_rows,
            )));
        }
        let list = rows.as_list::<i32>();
        let column = Arc::clone(list.values().as_struct().column(index - 1));
        Ok(ColumnarValue::Array(Arc::new(ListArray::try_new(
            item,
            list.offsets().clone(),
            column,
            list.nulls().cloned(),
        )?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splines_pass_through_their_points_and_are_linear_on_lines() {
        let times = [0, 1_000_000_000, 3_000_000_000, 4_000_000_000];
        let s = Spline::new(&times, &[1.0, 2.0, 4.0, 5.0]);
        for (t, y) in times.iter().zip([1.0, 2.0, 4.0, 5.0]) {
            assert!((s.at(*t) - y).abs() < 1e-9);
        }
        assert!((s.at(2_000_000_000) - 3.0).abs() < 1e-9);
        // A natural spline through a curve bends with it.
        let s = Spline::new(&times, &[0.0, 1.0, 1.0, 0.0]);
        assert!(s.at(2_000_000_000) > 1.0);
    }

    #[test]
    fn ranks_share_ties() {
        assert_eq!(ranks(&[10.0, 30.0, 20.0, 30.0]), vec![1.0, 3.5, 2.0, 3.5]);
        assert_eq!(pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]), Some(1.0));
        assert_eq!(pearson(&[1.0, 1.0], &[2.0, 4.0]), None);
    }
}
