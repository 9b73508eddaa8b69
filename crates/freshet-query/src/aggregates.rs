//! Trino aggregates that DataFusion lacks: `max_by(x, y)` and `min_by(x, y)`, the value of `x` at the row with the
//! largest (smallest) `y`. Rows whose `y` is null are ignored.
//!
//! A plain call whose key is a number, a date, a time, a timestamp or a duration compares keys as `i64`s that keep
//! their order ([`ordered_keys`]): one pass per batch finds each group's winning row, and only a row that beats the
//! kept one is copied. A plain call with another key (a string, say) is rewritten into DataFusion's
//! `first_value(x ORDER BY y DESC|ASC) FILTER (WHERE y IS NOT NULL)`. [`ByAccumulator`] serves the rest (DISTINCT,
//! or an ORDER BY inside the call), a row at a time.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, new_empty_array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, DurationMicrosecondType, DurationMillisecondType,
    DurationNanosecondType, DurationSecondType, Field, FieldRef, Float32Type, Float64Type,
    Int8Type, Int16Type, Int32Type, Int64Type, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use datafusion::common::{Result, ScalarValue, internal_err, plan_err};
use datafusion::functions_aggregate::first_last::first_value_udaf;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, EmitTo, Expr, ExprFunctionExt,
    GroupsAccumulator, ReversedUDAF, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

pub fn register(ctx: &SessionContext) {
    ctx.register_udaf(AggregateUDF::new_from_impl(By::new(
        "max_by",
        Ordering::Greater,
    )));
    ctx.register_udaf(AggregateUDF::new_from_impl(By::new(
        "min_by",
        Ordering::Less,
    )));
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct By {
    name: &'static str,
    /// The comparison result of a new key against the kept one that replaces the kept row.
    wins: Ordering,
    signature: Signature,
}

impl By {
    fn new(name: &'static str, wins: Ordering) -> Self {
        Self {
            name,
            wins,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for By {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [x, _] => Ok(x.clone()),
            _ => plan_err!("{} takes two arguments", self.name),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let x = args.return_field.data_type();
        let key = args
            .expr_fields
            .get(1)
            .map_or(DataType::Null, |f| f.data_type().clone());
        if plain_ordered(&args) {
            return Ok(Box::new(OneGroup {
                groups: ByGroups::new(self.wins, x)?,
                zeros: Vec::new(),
            }));
        }
        Ok(Box::new(ByAccumulator {
            wins: self.wins,
            kept: None,
            null_x: ScalarValue::try_from(x)?,
            null_key: ScalarValue::try_from(&key)?,
        }))
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        plain_ordered(&args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(ByGroups::new(
            self.wins,
            args.return_field.data_type(),
        )?))
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        let descending = self.wins == Ordering::Greater;
        Some(Box::new(move |call: AggregateFunction, info| {
            let p = call.params;
            let plain = !p.distinct && p.order_by.is_empty() && p.args.len() == 2;
            // A plain call with an orderable key keeps its own accumulators; one whose key type is unknown here
            // is rewritten, which serves every key type.
            let own = plain && info.get_data_type(&p.args[1]).is_ok_and(|t| orderable(&t));
            if !plain || own {
                return Ok(Expr::AggregateFunction(AggregateFunction::new_udf(
                    call.func,
                    p.args,
                    p.distinct,
                    p.filter,
                    p.order_by,
                    p.null_treatment,
                )));
            }
            let mut args = p.args.into_iter();
            let (x, y) = (args.next(), args.next());
            let (Some(x), Some(y)) = (x, y) else {
                return plan_err!("max_by and min_by take two arguments");
            };
            let known = y.clone().is_not_null();
            let filter = match p.filter {
                Some(f) => known.and(*f),
                None => known,
            };
            first_value_udaf()
                .call(vec![x])
                .order_by(vec![y.sort(!descending, false)])
                .filter(filter)
                .build()
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let mut key = args
            .input_fields
            .get(1)
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Null);
        // The ordered-key accumulators keep the key as its order-keeping i64.
        if !args.is_distinct && args.ordering_fields.is_empty() && orderable(&key) {
            key = DataType::Int64;
        }
        Ok(vec![
            Arc::new(Field::new("value", args.return_type().clone(), true)),
            Arc::new(Field::new("key", key, true)),
        ])
    }
}

#[derive(Debug)]
struct ByAccumulator {
    wins: Ordering,
    /// (key, value) of the winning row so far.
    kept: Option<(ScalarValue, ScalarValue)>,
    null_x: ScalarValue,
    null_key: ScalarValue,
}

impl ByAccumulator {
    fn offer(&mut self, values: &ArrayRef, keys: &ArrayRef) -> Result<()> {
        for i in 0..keys.len() {
            if keys.is_null(i) {
                continue;
            }
            let key = ScalarValue::try_from_array(keys, i)?;
            let better = match &self.kept {
                None => true,
                Some((k, _)) => key.partial_cmp(k) == Some(self.wins),
            };
            if better {
                self.kept = Some((key, ScalarValue::try_from_array(values, i)?));
            }
        }
        Ok(())
    }
}

impl Accumulator for ByAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.offer(&values[0], &values[1])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.offer(&states[0], &states[1])
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(match &self.kept {
            Some((k, v)) => vec![v.clone(), k.clone()],
            None => vec![self.null_x.clone(), self.null_key.clone()],
        })
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self
            .kept
            .as_ref()
            .map_or_else(|| self.null_x.clone(), |(_, v)| v.clone()))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.kept.as_ref().map_or(0, |(k, v)| k.size() + v.size())
    }
}

/// Whether a call takes the ordered-key accumulators: no DISTINCT, no ORDER BY inside the call, and an orderable key.
fn plain_ordered(args: &AccumulatorArgs) -> bool {
    !args.is_distinct
        && args.order_bys.is_empty()
        && args
            .expr_fields
            .get(1)
            .is_some_and(|f| orderable(f.data_type()))
}

/// Whether [`ordered_keys`] takes keys of this type.
fn orderable(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float32
            | DataType::Float64
            | DataType::Date32
            | DataType::Date64
            | DataType::Time32(TimeUnit::Second | TimeUnit::Millisecond)
            | DataType::Time64(TimeUnit::Microsecond | TimeUnit::Nanosecond)
            | DataType::Timestamp(..)
            | DataType::Duration(_)
    )
}

/// The keys of an array as `i64`s in the same order: integers, dates, times, timestamps and durations as they are
/// (unsigned 64-bit ones with the top bit flipped), floats by IEEE 754's total order (as `f64::total_cmp`, which
/// Arrow's sort also follows: NaN above every number). Values at null slots are unspecified. `None` for any other
/// type.
fn ordered_keys(a: &dyn Array) -> Option<Cow<'_, [i64]>> {
    macro_rules! widen {
        ($t:ty) => {
            Cow::Owned(
                a.as_primitive::<$t>()
                    .values()
                    .iter()
                    .map(|&v| i64::from(v))
                    .collect(),
            )
        };
    }
    macro_rules! same {
        ($t:ty) => {
            Cow::Borrowed(&a.as_primitive::<$t>().values()[..])
        };
    }
    Some(match a.data_type() {
        DataType::Int8 => widen!(Int8Type),
        DataType::Int16 => widen!(Int16Type),
        DataType::Int32 => widen!(Int32Type),
        DataType::UInt8 => widen!(UInt8Type),
        DataType::UInt16 => widen!(UInt16Type),
        DataType::UInt32 => widen!(UInt32Type),
        DataType::Date32 => widen!(Date32Type),
        DataType::Time32(TimeUnit::Second) => widen!(Time32SecondType),
        DataType::Time32(TimeUnit::Millisecond) => widen!(Time32MillisecondType),
        DataType::Int64 => same!(Int64Type),
        DataType::Date64 => same!(Date64Type),
        DataType::Time64(TimeUnit::Microsecond) => same!(Time64MicrosecondType),
        DataType::Time64(TimeUnit::Nanosecond) => same!(Time64NanosecondType),
        DataType::Timestamp(TimeUnit::Second, _) => same!(TimestampSecondType),
        DataType::Timestamp(TimeUnit::Millisecond, _) => same!(TimestampMillisecondType),
        DataType::Timestamp(TimeUnit::Microsecond, _) => same!(TimestampMicrosecondType),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => same!(TimestampNanosecondType),
        DataType::Duration(TimeUnit::Second) => same!(DurationSecondType),
        DataType::Duration(TimeUnit::Millisecond) => same!(DurationMillisecondType),
        DataType::Duration(TimeUnit::Microsecond) => same!(DurationMicrosecondType),
        DataType::Duration(TimeUnit::Nanosecond) => same!(DurationNanosecondType),
        DataType::UInt64 => Cow::Owned(
            a.as_primitive::<UInt64Type>()
                .values()
                .iter()
                .map(|&v| (v ^ (1 << 63)) as i64)
                .collect(),
        ),
        DataType::Float32 => Cow::Owned(
            a.as_primitive::<Float32Type>()
                .values()
                .iter()
                .map(|&v| float_key(f64::from(v)))
                .collect(),
        ),
        DataType::Float64 => Cow::Owned(
            a.as_primitive::<Float64Type>()
                .values()
                .iter()
                .map(|&v| float_key(v))
                .collect(),
        ),
        _ => return None,
    })
}

/// An `i64` whose order is `f64::total_cmp`'s: a negative float's magnitude bits are flipped.
fn float_key(v: f64) -> i64 {
    let bits = v.to_bits() as i64;
    bits ^ (((bits >> 63) as u64) >> 1) as i64
}

/// Marks a group without a winning row in the current batch.
const NONE: usize = usize::MAX;

/// `max_by`/`min_by` for every group of a GROUP BY, with an orderable key. State: the value and the ordered key.
#[derive(Debug)]
struct ByGroups {
    wins: Ordering,
    /// A null of the value's type: the result of a group without a row.
    null_x: ScalarValue,
    x_type: DataType,
    /// Per group: the winning key so far, and whether there is one.
    keys: Vec<i64>,
    seen: Vec<bool>,
    /// Per group: the value at the winning row.
    values: Vec<ScalarValue>,
    /// Heap bytes held by `values` beyond their slots.
    value_heap: usize,
    /// Per group: its winning row in the batch being offered, or `NONE`.
    pending: Vec<usize>,
    /// The groups with a winning row in the batch being offered.
    touched: Vec<usize>,
}

impl ByGroups {
    fn new(wins: Ordering, x: &DataType) -> Result<Self> {
        Ok(Self {
            wins,
            null_x: ScalarValue::try_from(x)?,
            x_type: x.clone(),
            keys: Vec::new(),
            seen: Vec::new(),
            values: Vec::new(),
            value_heap: 0,
            pending: Vec::new(),
            touched: Vec::new(),
        })
    }

    /// Offers the rows of a batch (values `x`, keys `key`) to their groups. A row counts when its key is not null
    /// and the filter, if any, is true. Only the rows that end up winning in this batch are copied.
    fn offer(
        &mut self,
        x: &ArrayRef,
        key: &ArrayRef,
        groups: &[usize],
        filter: Option<&BooleanArray>,
        total: usize,
    ) -> Result<()> {
        self.keys.resize(total, 0);
        self.seen.resize(total, false);
        self.values.resize(total, self.null_x.clone());
        self.pending.resize(total, NONE);
        let (keys, nulls) = counted_keys(key, filter)?;
        let greater = self.wins == Ordering::Greater;
        let better = |k: i64, than: i64| if greater { k > than } else { k < than };
        // Rows come in runs of one group (data files are sorted by series): each run's best row is found first,
        // then offered to its group once. The first row with the best key wins, as when offered one by one.
        for_runs(groups, |g, start, end| {
            let run = (start..end).zip(keys[start..end].iter().copied());
            let best = match &nulls {
                None => first_best(run, better),
                Some(n) => first_best(run.filter(|&(row, _)| n.is_valid(row)), better),
            };
            if let Some((row, k)) = best
                && (!self.seen[g] || better(k, self.keys[g]))
            {
                self.keys[g] = k;
                self.seen[g] = true;
                if self.pending[g] == NONE {
                    self.touched.push(g);
                }
                self.pending[g] = row;
            }
        });
        for g in self.touched.drain(..) {
            let value = ScalarValue::try_from_array(x, self.pending[g])?;
            self.pending[g] = NONE;
            self.value_heap = self.value_heap + value.size() - self.values[g].size();
            self.values[g] = value;
        }
        Ok(())
    }

    fn take_values(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let values = emit_to.take_needed(&mut self.values);
        emit_to.take_needed(&mut self.pending);
        self.value_heap = self.values.iter().map(ScalarValue::size).sum();
        if values.is_empty() {
            return Ok(new_empty_array(&self.x_type));
        }
        ScalarValue::iter_to_array(values)
    }
}

/// Calls `f(group, from, to)` for each run of equal group indexes, in order.
pub(crate) fn for_runs(groups: &[usize], mut f: impl FnMut(usize, usize, usize)) {
    let mut from = 0;
    while from < groups.len() {
        let g = groups[from];
        let to = from + run_length(&groups[from..], g);
        f(g, from, to);
        from = to;
    }
}

/// How many indexes at the start of `groups` are `g`. Runs are long (files are sorted by series), so they are
/// checked eight at a time, with a fold that the compiler turns into vector instructions, then one at a time.
fn run_length(groups: &[usize], g: usize) -> usize {
    let mut n = 0;
    for chunk in groups.chunks_exact(8) {
        if chunk.iter().fold(0, |differ, &h| differ | (h ^ g)) != 0 {
            break;
        }
        n += 8;
    }
    n + groups[n..]
        .iter()
        .position(|&h| h != g)
        .unwrap_or(groups.len() - n)
}

/// The first (row, key) whose key no later one beats.
fn first_best(
    mut rows: impl Iterator<Item = (usize, i64)>,
    better: impl Fn(i64, i64) -> bool,
) -> Option<(usize, i64)> {
    let first = rows.next()?;
    Some(rows.fold(
        first,
        |best, (row, k)| {
            if better(k, best.1) { (row, k) } else { best }
        },
    ))
}

/// A batch's keys as ordered `i64`s ([`ordered_keys`]), and the rows that do not count: a null key, or a filter
/// that is not true.
fn counted_keys<'a>(
    key: &'a ArrayRef,
    filter: Option<&BooleanArray>,
) -> Result<(Cow<'a, [i64]>, Option<NullBuffer>)> {
    let Some(keys) = ordered_keys(key.as_ref()) else {
        return internal_err!(
            "max_by/min_by cannot order keys of type {}",
            key.data_type()
        );
    };
    let nulls = NullBuffer::union(key.logical_nulls().as_ref(), filter_nulls(filter).as_ref());
    Ok((keys, nulls))
}

/// A filter's false and null rows as nulls.
pub(crate) fn filter_nulls(filter: Option<&BooleanArray>) -> Option<NullBuffer> {
    let f = filter?;
    let keep = match f.nulls() {
        Some(n) => f.values() & n.inner(),
        None => f.values().clone(),
    };
    Some(NullBuffer::new(keep))
}

/// Where a value counts: it is not null and the filter (if any) is true there. `None` when every value counts.
pub(crate) fn counted(values: &dyn Array, filter: Option<&BooleanArray>) -> Option<NullBuffer> {
    let filter = filter_nulls(filter);
    NullBuffer::union(values.logical_nulls().as_ref(), filter.as_ref())
        .filter(|n| n.null_count() > 0)
}

/// Freshet's accumulators for some arguments of one of DataFusion's aggregate functions.
pub(crate) trait Accumulators:
    std::fmt::Debug + PartialEq + Eq + std::hash::Hash + Send + Sync + 'static
{
    /// The accumulator of one group for these arguments, if Freshet has its own.
    fn accumulator(&self, _args: &AccumulatorArgs) -> Option<Box<dyn Accumulator>> {
        None
    }

    /// The grouped accumulator for these arguments, if Freshet has its own.
    fn groups_accumulator(&self, _args: &AccumulatorArgs) -> Option<Box<dyn GroupsAccumulator>> {
        None
    }

    /// The accumulator over a sliding window frame (one that can retract rows), if Freshet has its own.
    fn sliding_accumulator(&self, _args: &AccumulatorArgs) -> Option<Box<dyn Accumulator>> {
        None
    }
}

/// One of DataFusion's aggregate functions, with Freshet's accumulators where `own` has them. Everything else (the
/// name, types, coercion, state's fields, documentation) is DataFusion's.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct WithAccumulators<A> {
    pub inner: Arc<AggregateUDF>,
    pub own: A,
}

impl<A: Accumulators> AggregateUDFImpl for WithAccumulators<A> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        match self.own.accumulator(&args) {
            Some(own) => Ok(own),
            None => self.inner.accumulator(args),
        }
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        match self.own.sliding_accumulator(&args) {
            Some(own) => Ok(own),
            None => self.inner.create_sliding_accumulator(args),
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner.state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        match self.own.groups_accumulator(&args) {
            Some(own) => Ok(own),
            None => self.inner.create_groups_accumulator(args),
        }
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.inner.inner().order_sensitivity()
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

impl GroupsAccumulator for ByGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.offer(
            &values[0],
            &values[1],
            group_indices,
            opt_filter,
            total_num_groups,
        )
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.offer(
            &values[0],
            &values[1],
            group_indices,
            None,
            total_num_groups,
        )
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        emit_to.take_needed(&mut self.keys);
        emit_to.take_needed(&mut self.seen);
        self.take_values(emit_to)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let keys = emit_to.take_needed(&mut self.keys);
        let seen = emit_to.take_needed(&mut self.seen);
        let keys = Int64Array::new(keys.into(), Some(NullBuffer::from(seen)));
        Ok(vec![self.take_values(emit_to)?, Arc::new(keys)])
    }

    /// Each row as a state of its own: its value, and its key where the key is not null and the filter true.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let (keys, nulls) = counted_keys(&values[1], opt_filter)?;
        let keys = Int64Array::new(keys.into_owned().into(), nulls);
        Ok(vec![values[0].clone(), Arc::new(keys)])
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.keys.capacity() * size_of::<i64>()
            + self.seen.capacity()
            + self.values.capacity() * size_of::<ScalarValue>()
            + self.value_heap
            + (self.pending.capacity() + self.touched.capacity()) * size_of::<usize>()
    }
}

/// [`ByGroups`] with one group, for a call without GROUP BY.
#[derive(Debug)]
struct OneGroup {
    groups: ByGroups,
    /// Group indexes of zero, as long as the longest batch so far.
    zeros: Vec<usize>,
}

impl OneGroup {
    fn offer(&mut self, x: &ArrayRef, key: &ArrayRef) -> Result<()> {
        if self.zeros.len() < key.len() {
            self.zeros.resize(key.len(), 0);
        }
        self.groups.offer(x, key, &self.zeros[..key.len()], None, 1)
    }

    /// The value at the winning row, or null.
    fn value(&self) -> ScalarValue {
        let g = &self.groups;
        g.values
            .first()
            .cloned()
            .unwrap_or_else(|| g.null_x.clone())
    }
}

impl Accumulator for OneGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.offer(&values[0], &values[1])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.offer(&states[0], &states[1])
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let g = &self.groups;
        let key = g.seen.first().copied().unwrap_or(false).then(|| g.keys[0]);
        Ok(vec![self.value(), ScalarValue::Int64(key)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.value())
    }

    fn size(&self) -> usize {
        self.groups.size() + self.zeros.capacity() * size_of::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Float64Array;

    #[test]
    fn runs_are_found_whatever_their_lengths() {
        for lengths in [
            vec![1],
            vec![8],
            vec![9, 1, 17, 8, 3, 64, 2],
            vec![1; 20],
            vec![100, 7, 16],
        ] {
            let mut groups = Vec::new();
            let mut expected = Vec::new();
            for (k, &n) in lengths.iter().enumerate() {
                // Neighbouring runs have different groups; a group comes back after others.
                expected.push((k % 3, groups.len(), groups.len() + n));
                groups.extend(std::iter::repeat_n(k % 3, n));
            }
            let mut found = Vec::new();
            for_runs(&groups, |g, from, to| found.push((g, from, to)));
            assert_eq!(found, expected, "{lengths:?}");
        }
        for_runs(&[], |_, _, _| panic!("no runs in no rows"));
    }

    #[test]
    fn float_keys_keep_the_total_order() {
        let mut xs = vec![
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            1.0,
            2.5,
            1e300,
            f64::INFINITY,
            f64::NAN,
        ];
        xs.sort_by(f64::total_cmp);
        let keys: Vec<i64> = xs.iter().map(|&v| float_key(v)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    }

    #[test]
    fn unsigned_keys_keep_their_order() {
        let a: ArrayRef = Arc::new(datafusion::arrow::array::UInt64Array::from(vec![
            0,
            1,
            u64::MAX / 2,
            u64::MAX / 2 + 1,
            u64::MAX,
        ]));
        let keys = ordered_keys(a.as_ref()).unwrap();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    }

    #[test]
    fn groups_keep_the_value_at_their_winning_row_across_batches_and_emits() {
        let mut acc = ByGroups::new(Ordering::Greater, &DataType::Utf8).unwrap();
        let x: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec![
            "a", "b", "c", "d", "e",
        ]));
        let key: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(1),
            Some(5),
            None,
            Some(3),
            Some(9),
        ]));
        let filter = BooleanArray::from(vec![Some(true), Some(true), Some(true), Some(true), None]);
        // Groups 0 and 1; row 4 (key 9) is filtered out, row 2 has no key.
        acc.update_batch(
            &[x.clone(), key.clone()],
            &[0, 1, 0, 0, 1],
            Some(&filter),
            3,
        )
        .unwrap();
        let key2: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(2),
            Some(4),
            Some(0),
            None,
            None,
        ]));
        acc.update_batch(&[x, key2], &[0, 1, 2, 2, 2], None, 3)
            .unwrap();
        let state = acc.state(EmitTo::First(1)).unwrap();
        assert_eq!(state[0].as_string::<i32>().value(0), "d");
        assert_eq!(state[1].as_primitive::<Int64Type>().value(0), 3);
        // What was group 1 is group 0 now.
        let out = acc.evaluate(EmitTo::All).unwrap();
        let out = out.as_string::<i32>();
        assert_eq!((out.value(0), out.value(1)), ("b", "c"));
    }

    #[test]
    fn one_group_states_merge_into_another() {
        let new = || OneGroup {
            groups: ByGroups::new(Ordering::Less, &DataType::Utf8).unwrap(),
            zeros: Vec::new(),
        };
        let x: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec!["a", "b"]));
        let (mut left, mut right, mut empty) = (new(), new(), new());
        let k: ArrayRef = Arc::new(Float64Array::from(vec![Some(-1.0), Some(f64::NAN)]));
        left.update_batch(&[x.clone(), k]).unwrap();
        let k: ArrayRef = Arc::new(Float64Array::from(vec![None, Some(-2.0)]));
        right.update_batch(&[x, k]).unwrap();
        assert_eq!(empty.state().unwrap()[1], ScalarValue::Int64(None));

        let arrays = |states: Vec<ScalarValue>| -> Vec<ArrayRef> {
            states.into_iter().map(|v| v.to_array().unwrap()).collect()
        };
        let state = arrays(right.state().unwrap());
        left.merge_batch(&state).unwrap();
        left.merge_batch(&arrays(empty.state().unwrap())).unwrap();
        assert_eq!(left.evaluate().unwrap(), ScalarValue::from("b"));
        assert_eq!(empty.evaluate().unwrap(), ScalarValue::Utf8(None));
    }

    #[test]
    fn groups_keep_their_first_best_row_and_replace_a_kept_key_only_when_better() {
        let mut acc = ByGroups::new(Ordering::Greater, &DataType::Utf8).unwrap();
        let x: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec![
            "a", "b", "c", "d", "e", "f",
        ]));
        let key: ArrayRef = Arc::new(Int64Array::from(vec![1, 5, 5, 2, 7, 0]));
        acc.update_batch(&[x.clone(), key], &[0, 0, 0, 0, 1, 1], None, 2)
            .unwrap();
        // Ties keep the row seen first (Trino leaves the choice open). In the second batch group 0 only ties its
        // kept key (row 0, "a"), and group 1 beats it (row 5, "f").
        let key: ArrayRef = Arc::new(Int64Array::from(vec![5, 4, 3, 6, 7, 8]));
        acc.update_batch(&[x, key], &[0, 0, 0, 1, 1, 1], None, 2)
            .unwrap();
        let out = acc.evaluate(EmitTo::All).unwrap();
        let out = out.as_string::<i32>();
        assert_eq!((out.value(0), out.value(1)), ("b", "f"));
    }

    /// Runs of one group are offered at once; the winners must be those of offering the rows one by one: for each
    /// group, the first row (across batches) with the best key, null keys and filtered rows left out.
    #[test]
    fn runs_of_a_group_pick_the_rows_that_rows_one_by_one_would() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) % n
        };
        for wins in [Ordering::Greater, Ordering::Less] {
            let mut acc = ByGroups::new(wins, &DataType::Int64).unwrap();
            // Per group: (best key, global row of the first row with it).
            let mut model: Vec<Option<(i64, i64)>> = vec![None; 6];
            let mut global = 0i64;
            for batch in 0..20 {
                // Every other batch has neither null keys nor a filter.
                let plain = batch % 2 == 0;
                let len = 1 + next(200) as usize;
                let mut groups = Vec::with_capacity(len);
                while groups.len() < len {
                    let g = next(6) as usize;
                    let run = 1 + next(30) as usize;
                    groups.extend(std::iter::repeat_n(g, run.min(len - groups.len())));
                }
                let keys: Vec<Option<i64>> = (0..len)
                    .map(|_| (plain || next(10) != 0).then(|| next(8) as i64))
                    .collect();
                let filter: Vec<bool> = (0..len).map(|_| plain || next(8) != 0).collect();
                let rows: Vec<i64> = (global..global + len as i64).collect();
                for (i, &g) in groups.iter().enumerate() {
                    if let (Some(k), true) = (keys[i], filter[i])
                        && model[g].is_none_or(|(best, _)| k.cmp(&best) == wins)
                    {
                        model[g] = Some((k, rows[i]));
                    }
                }
                let x: ArrayRef = Arc::new(Int64Array::from(rows));
                let key: ArrayRef = Arc::new(Int64Array::from(keys));
                let filter = (!plain).then(|| BooleanArray::from(filter));
                acc.update_batch(&[x, key], &groups, filter.as_ref(), 6)
                    .unwrap();
                global += len as i64;
            }
            let out = acc.evaluate(EmitTo::All).unwrap();
            let out = out.as_primitive::<Int64Type>();
            let got: Vec<Option<i64>> = (0..6)
                .map(|g| out.is_valid(g).then(|| out.value(g)))
                .collect();
            let expected: Vec<Option<i64>> = model.iter().map(|m| m.map(|(_, row)| row)).collect();
            assert_eq!(got, expected, "{wins:?}");
        }
    }
}
