//! `avg` with DataFusion's semantics and arithmetic, faster on rows that arrive in runs of one group.
//!
//! Freshet's files are sorted by series and then time, so a `GROUP BY` on dimensions and `bin(time, …)` sees long
//! runs of rows of the same group. DataFusion's accumulator for `avg` over doubles updates the group's sum, count
//! and "seen" bit once per value; [`RunAvg`] finds each run and adds its values into a local sum in row order,
//! touching the group's state once per run. Values are still added to the group's sum one at a time in row order, so
//! every sum (and so every average) is bit for bit what DataFusion computes. Each group's additions form one chain
//! (each waits for the one before), so the runs of four different groups are added together ([`add_runs`]).
//!
//! Everything else (the other input types, DISTINCT, windows, coercion, the state's fields) is DataFusion's own
//! `avg` (`aggregates::WithAccumulators`).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, PrimitiveArray, UInt64Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Float64Type, UInt64Type};
use datafusion::common::Result;
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{AggregateUDF, EmitTo, GroupsAccumulator};
use datafusion::prelude::SessionContext;

use crate::aggregates::{Accumulators, WithAccumulators, counted};

/// Replaces DataFusion's `avg` with one whose grouped accumulator over doubles is [`RunAvg`].
pub fn register(ctx: &SessionContext) {
    ctx.register_udaf(AggregateUDF::new_from_impl(WithAccumulators {
        inner: avg_udaf(),
        own: Runs,
    }));
}

/// [`RunAvg`] for `avg` over doubles.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Runs;

impl Accumulators for Runs {
    fn groups_accumulator(&self, args: &AccumulatorArgs) -> Option<Box<dyn GroupsAccumulator>> {
        let applies = !args.is_distinct
            && args.expr_fields.len() == 1
            && args.expr_fields[0].data_type() == &DataType::Float64
            && args.return_field.data_type() == &DataType::Float64;
        applies.then(|| Box::<RunAvg>::default() as Box<dyn GroupsAccumulator>)
    }
}

/// The grouped state of `avg` over doubles: each group's sum and count. A group without values has count 0 and
/// averages to null, as DataFusion's does.
#[derive(Debug, Default)]
struct RunAvg {
    sums: Vec<f64>,
    counts: Vec<u64>,
    /// The runs of the batch being added: (group, first row, row after the last).
    runs: Vec<(usize, usize, usize)>,
}

/// Adds each run's values to its group's sum and count. A group's values are added one at a time in row order (as
/// DataFusion does, so its sums are the same bit for bit); four runs of four different groups are added together,
/// value by value, so that the processor works on four chains of additions at once instead of waiting on one.
fn add_runs(sums: &mut [f64], counts: &mut [u64], values: &[f64], runs: &[(usize, usize, usize)]) {
    for chunk in runs.chunks(4) {
        let distinct = chunk
            .iter()
            .enumerate()
            .all(|(i, a)| chunk[..i].iter().all(|b| b.0 != a.0));
        let together = match chunk {
            [r0, r1, r2, r3] if distinct => {
                let common = [r0, r1, r2, r3]
                    .iter()
                    .map(|r| r.2 - r.1)
                    .min()
                    .unwrap_or(0);
                let mut acc = [sums[r0.0], sums[r1.0], sums[r2.0], sums[r3.0]];
                let lane = |r: &(usize, usize, usize)| &values[r.1..r.1 + common];
                for (((x0, x1), x2), x3) in
                    lane(r0).iter().zip(lane(r1)).zip(lane(r2)).zip(lane(r3))
                {
                    acc[0] += x0;
                    acc[1] += x1;
                    acc[2] += x2;
                    acc[3] += x3;
                }
                for (r, a) in chunk.iter().zip(acc) {
                    sums[r.0] = a;
                }
                common
            }
            _ => 0,
        };
        // What is left of each run (all of it when the runs were not added together), in row order.
        for &(g, from, to) in chunk {
            let mut sum = sums[g];
            for x in &values[from + together..to] {
                sum += x;
            }
            sums[g] = sum;
            counts[g] += (to - from) as u64;
        }
    }
}

impl RunAvg {
    /// Takes the emitted groups' sums and counts, with nulls where a group has no values.
    fn take(&mut self, emit_to: EmitTo) -> (Vec<f64>, Vec<u64>, Option<NullBuffer>) {
        let sums = emit_to.take_needed(&mut self.sums);
        let counts = emit_to.take_needed(&mut self.counts);
        let nulls = NullBuffer::from_iter(counts.iter().map(|&c| c > 0));
        (sums, counts, (nulls.null_count() > 0).then_some(nulls))
    }
}

impl GroupsAccumulator for RunAvg {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let values = values[0].as_primitive::<Float64Type>();
        self.sums.resize(total_num_groups, 0.0);
        self.counts.resize(total_num_groups, 0);
        let v = values.values();
        match counted(values, opt_filter) {
            None => {
                self.runs.clear();
                crate::aggregates::for_runs(group_indices, |g, from, to| {
                    self.runs.push((g, from, to));
                });
                add_runs(&mut self.sums, &mut self.counts, v, &self.runs);
            }
            Some(valid) => {
                for (i, &g) in group_indices.iter().enumerate() {
                    if valid.is_valid(i) {
                        self.sums[g] += v[i];
                        self.counts[g] += 1;
                    }
                }
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
        let counts = values[0].as_primitive::<UInt64Type>();
        let sums = values[1].as_primitive::<Float64Type>();
        self.sums.resize(total_num_groups, 0.0);
        self.counts.resize(total_num_groups, 0);
        for (i, &g) in group_indices.iter().enumerate() {
            if counts.is_valid(i) {
                self.counts[g] += counts.value(i);
            }
            if sums.is_valid(i) {
                self.sums[g] += sums.value(i);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (sums, counts, nulls) = self.take(emit_to);
        let averages: Vec<f64> = sums
            .iter()
            .zip(&counts)
            .map(|(s, &c)| s / c as f64)
            .collect();
        Ok(Arc::new(Float64Array::new(averages.into(), nulls)))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (sums, counts, nulls) = self.take(emit_to);
        Ok(vec![
            Arc::new(UInt64Array::new(counts.into(), nulls.clone())),
            Arc::new(Float64Array::new(sums.into(), nulls)),
        ])
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let v = values[0].as_primitive::<Float64Type>();
        let nulls = counted(v, opt_filter);
        Ok(vec![
            Arc::new(UInt64Array::new(vec![1; v.len()].into(), nulls.clone())),
            Arc::new(PrimitiveArray::<Float64Type>::new(
                v.values().clone(),
                nulls,
            )),
        ])
    }

    fn size(&self) -> usize {
        self.sums.capacity() * size_of::<f64>() + self.counts.capacity() * size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Float64Array;
    use datafusion::arrow::datatypes::{Field, FieldRef, Schema};
    use datafusion::functions_aggregate::average::avg_udaf;
    use datafusion::logical_expr::function::AccumulatorArgs;
    use datafusion::physical_expr::expressions::col;

    /// DataFusion's own grouped accumulator for `avg(x)` over doubles.
    fn datafusion_avg() -> Box<dyn GroupsAccumulator> {
        let schema = Schema::new(vec![Field::new("x", DataType::Float64, true)]);
        let expr = col("x", &schema).unwrap();
        let return_field: FieldRef = Arc::new(Field::new("avg", DataType::Float64, true));
        let expr_field: FieldRef = Arc::new(Field::new("x", DataType::Float64, true));
        let args = AccumulatorArgs {
            return_field,
            schema: &schema,
            ignore_nulls: false,
            order_bys: &[],
            is_reversed: false,
            name: "avg(x)",
            is_distinct: false,
            exprs: &[expr],
            expr_fields: &[expr_field],
        };
        avg_udaf().create_groups_accumulator(args).unwrap()
    }

    /// One `update_batch`: values, group indexes and the filter.
    type Update = (Vec<Option<f64>>, Vec<usize>, Option<Vec<Option<bool>>>);

    /// Runs both accumulators through the same updates, a merge of their states and a final evaluation.
    fn both(batches: &[Update], groups: usize) -> [Vec<Option<u64>>; 2] {
        let mut out = Vec::new();
        for mut acc in [
            datafusion_avg(),
            Box::<RunAvg>::default() as Box<dyn GroupsAccumulator>,
        ] {
            for (values, group_indices, filter) in batches {
                let values: ArrayRef = Arc::new(Float64Array::from(values.clone()));
                let filter = filter.clone().map(BooleanArray::from);
                acc.update_batch(&[values], group_indices, filter.as_ref(), groups)
                    .unwrap();
            }
            // A final stage merges the partial state, as FinalPartitioned does.
            let state = acc.state(EmitTo::All).unwrap();
            let mut fin = Box::<RunAvg>::default();
            let identity: Vec<usize> = (0..groups).collect();
            fin.merge_batch(&state, &identity, groups).unwrap();
            let result = fin.evaluate(EmitTo::All).unwrap();
            let result = result.as_primitive::<Float64Type>();
            // Bits, so that the comparison is exact (NaN included).
            out.push(result.iter().map(|v| v.map(f64::to_bits)).collect());
        }
        [out.remove(0), out.remove(0)]
    }

    #[test]
    fn sums_are_bit_for_bit_datafusion_s_in_runs_with_nulls_and_filters() {
        // Values whose sums depend on the order of addition (large ones cancel small ones), in runs and scattered,
        // with a group left empty.
        let values: Vec<Option<f64>> = (0..2000)
            .map(|i| {
                let x = match i % 4 {
                    0 => 1e16,
                    1 => 1.0 + 0.001 * i as f64,
                    2 => -1e16,
                    _ => 0.1 * i as f64,
                };
                (i % 97 != 0).then_some(x)
            })
            .collect();
        let runs: Vec<usize> = (0..2000).map(|i| i / 300).collect();
        let scattered: Vec<usize> = (0..2000).map(|i| (i * 7) % 9).collect();
        let filter: Vec<Option<bool>> = (0..2000)
            .map(|i| match i % 5 {
                0 => None,
                1 => Some(false),
                _ => Some(true),
            })
            .collect();
        let no_nulls: Vec<Option<f64>> = values.iter().map(|v| Some(v.unwrap_or(2.5))).collect();
        let shifted: Vec<usize> = (0..2000).map(|i| (i + 150) / 300 % 9).collect();
        // Runs of uneven lengths whose groups repeat within four runs, and four different groups in a row.
        let (lengths, ids) = ([3, 1, 7, 2, 300, 5, 40], [0, 1, 0, 2, 3, 1, 4, 5, 6, 7, 8]);
        let mut uneven = Vec::new();
        for k in 0.. {
            uneven.extend(std::iter::repeat_n(
                ids[k % ids.len()],
                lengths[k % lengths.len()],
            ));
            if uneven.len() >= 2000 {
                break;
            }
        }
        uneven.truncate(2000);
        let batches = vec![
            (no_nulls.clone(), runs.clone(), None),
            (no_nulls.clone(), shifted, None),
            (no_nulls.clone(), uneven, None),
            (values.clone(), runs, None),
            (no_nulls, scattered.clone(), None),
            (values, scattered, Some(filter)),
        ];
        let [datafusion, ours] = both(&batches, 11);
        assert_eq!(ours, datafusion);
        assert_eq!(ours[10], None, "a group without values averages to null");
        assert!(ours[..9].iter().all(Option::is_some));
    }

    #[test]
    fn converted_state_merges_like_updates() {
        let values: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.5), None, Some(4.0)]));
        let filter = BooleanArray::from(vec![Some(true), Some(true), None]);
        let state = RunAvg::default()
            .convert_to_state(&[values], Some(&filter))
            .unwrap();
        let mut acc = RunAvg::default();
        acc.merge_batch(&state, &[0, 0, 1], 2).unwrap();
        let result = acc.evaluate(EmitTo::All).unwrap();
        let result = result.as_primitive::<Float64Type>();
        assert_eq!(result.iter().collect::<Vec<_>>(), [Some(1.5), None]);
    }
}
