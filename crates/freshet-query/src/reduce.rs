//! Trino's `reduce(array, initial, (s, x) -> s, s -> r)`: folds an array (or a timeseries) from `initial`, applying
//! the input lambda to the state and each element in order, then the output lambda to the final state.
//!
//! The state has the type of `initial`: the input lambda's results are cast to it. A null array gives null; an
//! empty one gives the output lambda applied to `initial`.
//!
//! The lambdas are evaluated once per element position over every row long enough to have that position, so a
//! batch costs as many lambda evaluations as its longest array has elements.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use datafusion::arrow::compute::{cast, interleave, is_null, nullif, take, take_arrays};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature,
    HigherOrderUDF, HigherOrderUDFImpl, LambdaArgument, LambdaParametersProgress, ValueOrLambda,
    Volatility,
};
use datafusion::prelude::SessionContext;

pub fn register(ctx: &SessionContext) {
    ctx.register_higher_order_function(Arc::new(HigherOrderUDF::new_from_impl(Reduce::default())));
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Reduce {
    signature: HigherOrderSignature,
}

impl Default for Reduce {
    fn default() -> Self {
        use ValueOrLambda::{Lambda, Value};
        Self {
            signature: HigherOrderSignature::exact(
                vec![Value(()), Value(()), Lambda(()), Lambda(())],
                Volatility::Immutable,
            ),
        }
    }
}

const USAGE: &str = "reduce(array(T), S, function(S, T, S), function(S, R))";

impl HigherOrderUDFImpl for Reduce {
    fn name(&self) -> &str {
        "reduce"
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [DataType::List(_), _] => Ok(arg_types.to_vec()),
            [DataType::LargeList(f) | DataType::FixedSizeList(f, _), init] => {
                Ok(vec![DataType::List(Arc::clone(f)), init.clone()])
            }
            _ => plan_err!(
                "Unexpected parameters ({}) for function reduce. Expected: {USAGE}",
                crate::functions::type_names(arg_types)
            ),
        }
    }

    fn lambda_parameters(
        &self,
        _step: usize,
        fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>],
    ) -> Result<LambdaParametersProgress> {
        let [ValueOrLambda::Value(list), ValueOrLambda::Value(init), ..] = fields else {
            return plan_err!("reduce takes an array, an initial state and two lambdas: {USAGE}");
        };
        let DataType::List(item) = list.data_type() else {
            return plan_err!("reduce takes an array, not {}", list.data_type());
        };
        Ok(LambdaParametersProgress::Complete(vec![
            vec![Arc::clone(init), Arc::clone(item)],
            vec![Arc::clone(init)],
        ]))
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        let [
            _,
            ValueOrLambda::Value(init),
            ValueOrLambda::Lambda(input),
            ValueOrLambda::Lambda(output),
        ] = args.arg_fields
        else {
            return plan_err!("reduce takes an array, an initial state and two lambdas: {USAGE}");
        };
        // The input lambda's result becomes the next state: it must have the state's type, or widen to it.
        let (state, next) = (init.data_type(), input.data_type());
        let widens = next == state
            || next == &DataType::Null
            || (state.is_integer() && next.is_integer())
            || (state.is_floating() && next.is_numeric());
        if !widens {
            return plan_err!(
                "reduce: the input function returns {}, but the state is {}. Expected: {USAGE}",
                crate::functions::type_name(next),
                crate::functions::type_name(state)
            );
        }
        Ok(Arc::clone(output))
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let [
            ValueOrLambda::Value(list),
            ValueOrLambda::Value(init),
            ValueOrLambda::Lambda(input),
            ValueOrLambda::Lambda(output),
        ] = args.args.as_slice()
        else {
            return plan_err!("reduce takes an array, an initial state and two lambdas: {USAGE}");
        };
        let list = list.to_array(n)?;
        let mut state = init.to_array(n)?;
        let state_type = state.data_type().clone();
        let list = list.as_list::<i32>();
        let offsets = list.value_offsets();
        let values = list.values();
        let longest = (0..n)
            .map(|r| (offsets[r + 1] - offsets[r]) as usize)
            .max()
            .unwrap_or(0);
        for j in 0..longest {
            // The rows that have an element at position j, and where that element is.
            let rows: Vec<u32> = (0..n as u32)
                .filter(|&r| (offsets[r as usize + 1] - offsets[r as usize]) as usize > j)
                .collect();
            let rows = UInt32Array::from(rows);
            let at = UInt32Array::from_iter_values(
                rows.values()
                    .iter()
                    .map(|&r| offsets[r as usize] as u32 + j as u32),
            );
            let s = take(&state, &rows, None)?;
            let x = take(values, &at, None)?;
            let next = step(input, &s, &x, &rows)?;
            let next = if next.data_type() == &state_type {
                next
            } else {
                cast(&next, &state_type)?
            };
            // Rows with an element at j take the new state; the others keep theirs.
            let mut from = Vec::with_capacity(n);
            let mut k = 0;
            for r in 0..n {
                if k < rows.len() && rows.value(k) as usize == r {
                    from.push((1, k));
                    k += 1;
                } else {
                    from.push((0, r));
                }
            }
            state = interleave(&[state.as_ref(), next.as_ref()], &from)?;
        }
        let result = output
            .evaluate(&[&|| Ok(Arc::clone(&state))], |captured| {
                Ok(captured.to_vec())
            })?
            .into_array(n)?;
        Ok(ColumnarValue::Array(nullif(&result, &is_null(list)?)?))
    }
}

/// The input lambda over the states `s` and elements `x` of the rows `rows` of the batch.
fn step(
    input: &LambdaArgument,
    s: &ArrayRef,
    x: &ArrayRef,
    rows: &UInt32Array,
) -> Result<ArrayRef> {
    input
        .evaluate(
            &[&|| Ok(Arc::clone(s)), &|| Ok(Arc::clone(x))],
            |captured| Ok(take_arrays(captured, rows, None)?),
        )?
        .into_array(rows.len())
}
