//! `sum` of bigints that fails on overflow, as Trino's does (`LongSumAggregation` adds with
//! `BigintOperators.add`: `bigint addition overflow: 9223372036854775807 + 1`), where DataFusion's wraps around
//! silently.
//!
//! Over a sliding window frame, a frame whose sum does not fit fails too. Everything else (the other
//! input types, `DISTINCT` over a sliding frame, coercion, the state's fields) is DataFusion's own `sum`
//! (`aggregates::WithAccumulators`). Integer arguments are coerced to bigint before they reach it, as Trino sums
//! them.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, BooleanArray, Int64Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{Accumulator, AggregateUDF, EmitTo, GroupsAccumulator};
use datafusion::prelude::SessionContext;

use crate::aggregates::{Accumulators, WithAccumulators, counted};

/// Replaces DataFusion's `sum` with one that adds bigints with overflow checks.
pub fn register(ctx: &SessionContext) {
    ctx.register_udaf(AggregateUDF::new_from_impl(WithAccumulators {
        inner: sum_udaf(),
        own: Checked,
    }));
}

/// [`CheckedSum`] and [`CheckedSums`] for `sum` of bigints, and [`CheckedDistinctSum`] with DISTINCT.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Checked;

impl Checked {
    fn applies(args: &AccumulatorArgs) -> bool {
        !args.is_distinct && Self::bigints(args)
    }

    /// Whether it sums bigints into a bigint.
    fn bigints(args: &AccumulatorArgs) -> bool {
        args.expr_fields.len() == 1
            && args.expr_fields[0].data_type() == &DataType::Int64
            && args.return_field.data_type() == &DataType::Int64
    }
}

impl Accumulators for Checked {
    fn accumulator(&self, args: &AccumulatorArgs) -> Option<Box<dyn Accumulator>> {
        if Self::bigints(args) && args.is_distinct {
            return Some(Box::<CheckedDistinctSum>::default());
        }
        Self::applies(args).then(|| Box::<CheckedSum>::default() as Box<dyn Accumulator>)
    }

    fn groups_accumulator(&self, args: &AccumulatorArgs) -> Option<Box<dyn GroupsAccumulator>> {
        Self::applies(args).then(|| Box::<CheckedSums>::default() as Box<dyn GroupsAccumulator>)
    }

    fn sliding_accumulator(&self, args: &AccumulatorArgs) -> Option<Box<dyn Accumulator>> {
        Self::applies(args).then(|| Box::<CheckedSlidingSum>::default() as Box<dyn Accumulator>)
    }
}

/// `sum + value`, or Trino's error.
fn add(sum: i64, value: i64) -> Result<i64> {
    match sum.checked_add(value) {
        Some(s) => Ok(s),
        None => exec_err!("bigint addition overflow: {sum} + {value}"),
    }
}

/// The sum of bigints over a sliding window frame, which fails where the frame's sum does not fit in a bigint.
///
/// DataFusion adds the rows entering the frame before it retracts those leaving it, so checked bigint steps could
/// fail where the frame's own sum fits; the sum is kept in 128 bits instead. Where it does not fit, the frame's
/// values are added again from its first row, as Trino adds a frame anew, to name the addition that fails. (Trino
/// keeps a frame's sum and removes rows from it only when most of the frame stays, so its message can name another
/// step, or a subtraction.)
#[derive(Debug, Default)]
struct CheckedSlidingSum {
    /// The frame's non-null values, in row order: rows leave from the front.
    values: VecDeque<i64>,
    sum: i128,
}

impl Accumulator for CheckedSlidingSum {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for v in values[0].as_primitive::<Int64Type>().iter().flatten() {
            self.values.push_back(v);
            self.sum += i128::from(v);
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for v in values[0].as_primitive::<Int64Type>().iter().flatten() {
            self.values.pop_front();
            self.sum -= i128::from(v);
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.values.is_empty() {
            return Ok(ScalarValue::Int64(None));
        }
        if let Ok(sum) = i64::try_from(self.sum) {
            return Ok(ScalarValue::Int64(Some(sum)));
        }
        let mut sum = 0;
        for &v in &self.values {
            sum = add(sum, v)?;
        }
        Ok(ScalarValue::Int64(Some(sum)))
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.values.capacity() * size_of::<i64>()
    }
}

/// One sum of bigints (`None` until a value comes).
#[derive(Debug, Default)]
struct CheckedSum(Option<i64>);

/// The distinct bigints of a `sum(DISTINCT …)`, summed with overflow checks in ascending order (Trino adds them in
/// the order they come, which no query can rely on). Its state is DataFusion's: a list of the values.
#[derive(Debug, Default)]
struct CheckedDistinctSum(HashSet<i64>);

impl Accumulator for CheckedDistinctSum {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.0
            .extend(values[0].as_primitive::<Int64Type>().iter().flatten());
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for list in states[0].as_list::<i32>().iter().flatten() {
            self.update_batch(&[list])?;
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mut values: Vec<i64> = self.0.iter().copied().collect();
        values.sort_unstable();
        let mut sum = None;
        for v in values {
            sum = Some(add(sum.unwrap_or(0), v)?);
        }
        Ok(ScalarValue::Int64(sum))
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values: Vec<ScalarValue> = self
            .0
            .iter()
            .map(|v| ScalarValue::Int64(Some(*v)))
            .collect();
        Ok(vec![ScalarValue::List(ScalarValue::new_list_nullable(
            &values,
            &DataType::Int64,
        ))])
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.0.capacity() * size_of::<i64>()
    }
}

impl Accumulator for CheckedSum {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for v in values[0].as_primitive::<Int64Type>().iter().flatten() {
            self.0 = Some(add(self.0.unwrap_or(0), v)?);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(self.0))
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }
}

/// The sums of bigints of many groups; a group without values sums to null.
#[derive(Debug, Default)]
struct CheckedSums {
    sums: Vec<i64>,
    seen: Vec<bool>,
}

impl CheckedSums {
    /// The sums (and nulls) of the groups `emit_to` takes.
    fn take(&mut self, emit_to: EmitTo) -> ArrayRef {
        let sums = emit_to.take_needed(&mut self.sums);
        let seen = emit_to.take_needed(&mut self.seen);
        Arc::new(Int64Array::new(sums.into(), Some(NullBuffer::from(seen))))
    }
}

impl GroupsAccumulator for CheckedSums {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.sums.resize(total_num_groups, 0);
        self.seen.resize(total_num_groups, false);
        let values = values[0].as_primitive::<Int64Type>();
        let counted = counted(values, opt_filter);
        for (row, (&group, &value)) in group_indices.iter().zip(values.values()).enumerate() {
            if counted.as_ref().is_none_or(|c| c.is_valid(row)) {
                self.sums[group] = add(self.sums[group], value)?;
                self.seen[group] = true;
            }
        }
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.update_batch(values, group_indices, None, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(self.take(emit_to))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.take(emit_to)])
    }

    /// Each row as a group's partial sum of itself: its value, or null where it does not count.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let v = values[0].as_primitive::<Int64Type>();
        Ok(vec![Arc::new(Int64Array::new(
            v.values().clone(),
            counted(v, opt_filter),
        ))])
    }

    fn size(&self) -> usize {
        self.sums.capacity() * size_of::<i64>() + self.seen.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bigints(values: &[Option<i64>]) -> ArrayRef {
        Arc::new(Int64Array::from(values.to_vec()))
    }

    /// Partial distinct sums travel as lists of their values, and a final one merges them: each value once.
    #[test]
    fn distinct_sums_merge_their_states() {
        let mut final_sum = CheckedDistinctSum::default();
        for part in [
            [Some(1), Some(2), None, Some(2)],
            [Some(2), Some(3), Some(i64::MAX - 10), None],
        ] {
            let mut partial = CheckedDistinctSum::default();
            partial.update_batch(&[bigints(&part)]).unwrap();
            let state = ScalarValue::iter_to_array(partial.state().unwrap()).unwrap();
            final_sum.merge_batch(&[state]).unwrap();
        }
        assert_eq!(
            final_sum.evaluate().unwrap(),
            ScalarValue::Int64(Some(i64::MAX - 4))
        );
        final_sum.update_batch(&[bigints(&[Some(5)])]).unwrap();
        let err = final_sum.evaluate().unwrap_err().to_string();
        assert!(
            err.contains("bigint addition overflow: 11 + 9223372036854775797"),
            "{err}"
        );
        let mut empty = CheckedDistinctSum::default();
        assert_eq!(empty.evaluate().unwrap(), ScalarValue::Int64(None));
    }
}
