//! Trino's `try(x)`: an error while evaluating `x` gives null instead of failing the query.
//!
//! `trino.rs` rewrites `try(x)` into `trino_try(x')`, where `x'` has its casts turned into `TRY_CAST`s and its
//! divisions guarded against zero. `trino_try` itself only passes its argument on; after type coercion, the
//! analyzer rule [`TryCalls`] makes every function called inside it lenient: a [`Lenient`] function evaluates a
//! batch as the function does, and only when that fails evaluates it row by row, answering null for the rows that
//! fail. So `try(date_parse(s, '%Y'))` is null where `s` does not parse, as in Trino.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, new_null_array};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::SessionContext;

use crate::functions::{Arg, FixedFn, Ret};

/// The name `try(x)` is planned as.
pub const TRY: &str = "trino_try";

pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(FixedFn::new(
        TRY,
        &[Arg::Any],
        Ret::LikeArg(0),
        |a| Ok(Arc::clone(&a[0])),
    )));
}

/// Makes the functions called inside `trino_try` [`Lenient`].
#[derive(Debug, Default)]
pub struct TryCalls;

impl AnalyzerRule for TryCalls {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            plan.map_expressions(|e| e.transform_up(lenient_inside_try))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "try_calls"
    }
}

fn lenient_inside_try(e: Expr) -> Result<Transformed<Expr>> {
    match e {
        Expr::ScalarFunction(mut f) if f.func.name() == TRY => {
            f.args = f
                .args
                .into_iter()
                .map(|a| a.transform_up(make_lenient).map(|t| t.data))
                .collect::<Result<_>>()?;
            Ok(Transformed::yes(Expr::ScalarFunction(f)))
        }
        e => Ok(Transformed::no(e)),
    }
}

fn make_lenient(e: Expr) -> Result<Transformed<Expr>> {
    match e {
        Expr::ScalarFunction(ScalarFunction { func, args })
            // `arrow_cast` (an interval literal's constant) must stay itself for the simplifier to make it a cast,
            // and a cast cannot fail on a constant.
            if func.name() != TRY && func.name() != "arrow_cast" && !func.inner().is::<Lenient>() =>
        {
            let func = Arc::new(ScalarUDF::new_from_impl(Lenient { inner: func }));
            Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction {
                func,
                args,
            })))
        }
        e => Ok(Transformed::no(e)),
    }
}

/// A function whose failures are nulls, row by row. Named and typed as the function it wraps.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Lenient {
    inner: Arc<ScalarUDF>,
}

impl Lenient {
    fn call(
        &self,
        args: &[ColumnarValue],
        template: &ScalarFunctionArgs,
        rows: usize,
    ) -> Result<ColumnarValue> {
        self.inner.invoke_with_args(ScalarFunctionArgs {
            args: args.to_vec(),
            arg_fields: template.arg_fields.clone(),
            number_rows: rows,
            return_field: Arc::clone(&template.return_field),
            config_options: Arc::clone(&template.config_options),
        })
    }
}

/// Errors `try` turns into nulls: those of the data, not the engine running out of memory or failing itself.
fn of_the_data(e: &DataFusionError) -> bool {
    !matches!(
        e.find_root(),
        DataFusionError::ResourcesExhausted(_) | DataFusionError::Internal(_)
    )
}

impl ScalarUDFImpl for Lenient {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let field = self.inner.return_field_from_args(args)?;
        Ok(Arc::new(Field::clone(&field).with_nullable(true)))
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let whole = self.call(&args.args, &args, args.number_rows);
        match whole {
            Err(e) if of_the_data(&e) => {}
            other => return other,
        }
        if args
            .args
            .iter()
            .all(|v| matches!(v, ColumnarValue::Scalar(_)))
        {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from(
                args.return_type(),
            )?));
        }
        let mut rows: Vec<ArrayRef> = Vec::with_capacity(args.number_rows);
        for row in 0..args.number_rows {
            let one: Vec<ColumnarValue> = args
                .args
                .iter()
                .map(|v| match v {
                    ColumnarValue::Array(a) => ColumnarValue::Array(a.slice(row, 1)),
                    scalar => scalar.clone(),
                })
                .collect();
            rows.push(match self.call(&one, &args, 1) {
                Ok(v) => v.into_array(1)?,
                Err(e) if of_the_data(&e) => new_null_array(args.return_type(), 1),
                Err(e) => return Err(e),
            });
        }
        let rows: Vec<&dyn datafusion::arrow::array::Array> =
            rows.iter().map(|a| a.as_ref()).collect();
        if rows.is_empty() {
            return Ok(ColumnarValue::Array(new_null_array(args.return_type(), 0)));
        }
        Ok(ColumnarValue::Array(concat(&rows)?))
    }
}
