//! Trino aggregates that DataFusion lacks: `max_by(x, y)` and `min_by(x, y)`, the value of `x` at the row with the
//! largest (smallest) `y`. Rows whose `y` is null are ignored.
//!
//! The planner rewrites a plain call into DataFusion's `first_value(x ORDER BY y DESC|ASC) FILTER (WHERE y IS NOT
//! NULL)`, which has a vectorised per-group accumulator; the accumulator here serves the rest (DISTINCT, or an
//! ORDER BY inside the call).

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::functions_aggregate::first_last::first_value_udaf;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, ExprFunctionExt, Signature, Volatility,
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
        Ok(Box::new(ByAccumulator {
            wins: self.wins,
            kept: None,
            null_x: ScalarValue::try_from(x)?,
            null_key: ScalarValue::try_from(&key)?,
        }))
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        let descending = self.wins == Ordering::Greater;
        Some(Box::new(move |call: AggregateFunction, _| {
            let p = call.params;
            let plain = !p.distinct && p.order_by.is_empty() && p.args.len() == 2;
            if !plain {
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
        let key = args
            .input_fields
            .get(1)
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Null);
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
