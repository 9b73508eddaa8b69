//! Integer arithmetic that fails on overflow, as Trino's does (`bigint addition overflow: 9223372036854775807 +
//! 1`), where DataFusion's wraps around silently. After type coercion, the analyzer rule [`CheckedArithmetic`]
//! turns `+`, `-` and `*` on integers into [`Checked`] calls, and a negation of a signed integer into a
//! [`CheckedNegate`] call (`bigint negation overflow: -9223372036854775808`), named as the operators were.

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, DataFusionError, Result, exec_err};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_expr_common::datum::apply;

/// Turns integer `+`, `-` and `*` into [`Checked`] calls, and integer negations into [`CheckedNegate`] calls.
#[derive(Debug, Default)]
pub struct CheckedArithmetic;

impl AnalyzerRule for CheckedArithmetic {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            // Expressions are typed against the plan's inputs (a table scan's against its own schema).
            let schema = match plan.inputs().as_slice() {
                [] => Arc::clone(plan.schema()),
                [input] => Arc::clone(input.schema()),
                inputs => {
                    let mut merged = DFSchema::empty();
                    for i in inputs {
                        merged.merge(i.schema());
                    }
                    Arc::new(merged)
                }
            };
            rewrite_keeping_names(plan, |e| e.transform_up(|e| checked(e, &schema)))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "checked_arithmetic"
    }
}

/// Rewrites each expression of `plan` (not of its inputs) with `f`, keeping the names the plan's output columns
/// had, and types the plan again if anything changed.
pub(crate) fn rewrite_keeping_names(
    plan: LogicalPlan,
    mut f: impl FnMut(Expr) -> Result<Transformed<Expr>>,
) -> Result<Transformed<LogicalPlan>> {
    let preserver = NamePreserver::new(&plan);
    let rewritten = plan.map_expressions(|e| {
        let name = preserver.save(&e);
        Ok(f(e)?.update_data(|e| name.restore(e)))
    })?;
    if rewritten.transformed {
        rewritten.map_data(|p| p.recompute_schema())
    } else {
        Ok(rewritten)
    }
}

fn checked(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    if let Expr::Negative(inner) = &e {
        if !inner.get_type(schema).is_ok_and(|t| t.is_signed_integer()) {
            return Ok(Transformed::no(e));
        }
        let func = Arc::new(ScalarUDF::new_from_impl(CheckedNegate::default()));
        let args = vec![(**inner).clone()];
        return Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction {
            func,
            args,
        })));
    }
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
        return Ok(Transformed::no(e));
    };
    if !matches!(op, Operator::Plus | Operator::Minus | Operator::Multiply) {
        return Ok(Transformed::no(e));
    }
    // An expression that cannot be typed here (an outer reference, say) is left to DataFusion.
    let (Ok(l), Ok(r)) = (left.get_type(schema), right.get_type(schema)) else {
        return Ok(Transformed::no(e));
    };
    if !(l.is_integer() && l == r) {
        return Ok(Transformed::no(e));
    }
    let func = Arc::new(ScalarUDF::new_from_impl(Checked::new(*op)));
    let args = vec![(**left).clone(), (**right).clone()];
    Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction {
        func,
        args,
    })))
}

/// Trino's name for an integer type, and its range. Unsigned integers (from DataFusion's own functions, such as
/// `cardinality`) are bigints to Trino.
fn trino_integer(t: &DataType) -> (&'static str, i64, i64) {
    match t {
        DataType::Int32 => ("integer", i64::from(i32::MIN), i64::from(i32::MAX)),
        DataType::Int16 => ("smallint", i64::from(i16::MIN), i64::from(i16::MAX)),
        DataType::Int8 => ("tinyint", i64::from(i8::MIN), i64::from(i8::MAX)),
        DataType::UInt32 => ("bigint", 0, i64::from(u32::MAX)),
        DataType::UInt16 => ("bigint", 0, i64::from(u16::MAX)),
        DataType::UInt8 => ("bigint", 0, i64::from(u8::MAX)),
        DataType::UInt64 => ("bigint", 0, i64::MAX),
        _ => ("bigint", i64::MIN, i64::MAX),
    }
}

/// An integer `+`, `-` or `*` that fails on overflow.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Checked {
    op: Operator,
    name: &'static str,
    signature: Signature,
}

impl Checked {
    fn new(op: Operator) -> Self {
        let name = match op {
            Operator::Plus => "checked_add",
            Operator::Minus => "checked_subtract",
            _ => "checked_multiply",
        };
        Self {
            op,
            name,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }

    /// Trino's message for the first pair of values (of `rows` rows) that overflows.
    fn overflow(
        &self,
        left: &ColumnarValue,
        right: &ColumnarValue,
        rows: usize,
    ) -> DataFusionError {
        let (word, symbol): (&str, &str) = match self.op {
            Operator::Plus => ("addition", "+"),
            Operator::Minus => ("subtraction", "-"),
            _ => ("multiplication", "*"),
        };
        let (kind, min, max) = trino_integer(&left.data_type());
        let unlocated = || DataFusionError::Execution(format!("{kind} {word} overflow"));
        let as_i64 = |v: &ColumnarValue| {
            v.to_array(rows)
                .and_then(|a| Ok(cast(&a, &DataType::Int64)?))
                .ok()
        };
        let (Some(l), Some(r)) = (as_i64(left), as_i64(right)) else {
            return unlocated();
        };
        let (l, r) = (l.as_primitive::<Int64Type>(), r.as_primitive::<Int64Type>());
        for (a, b) in l.iter().zip(r.iter()) {
            let (Some(a), Some(b)) = (a, b) else {
                continue;
            };
            let result = match self.op {
                Operator::Plus => a.checked_add(b),
                Operator::Minus => a.checked_sub(b),
                _ => a.checked_mul(b),
            };
            if !result.is_some_and(|v| (min..=max).contains(&v)) {
                return DataFusionError::Execution(format!(
                    "{kind} {word} overflow: {a} {symbol} {b}"
                ));
            }
        }
        unlocated()
    }
}

impl ScalarUDFImpl for Checked {
    fn name(&self) -> &str {
        self.name
    }

    /// The operator's own name (`a + b`), so that the plan's column names stay as they were.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        let [left, right] = args else {
            return exec_err!("{} takes two arguments", self.name);
        };
        Ok(format!(
            "{} {} {}",
            left.schema_name(),
            self.op,
            right.schema_name()
        ))
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        Ok(Arc::new(Field::new(
            self.name,
            args.arg_fields[0].data_type().clone(),
            nullable,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [left, right] = args.args.as_slice() else {
            return exec_err!("{} takes two arguments", self.name);
        };
        let kernel = match self.op {
            Operator::Plus => numeric::add,
            Operator::Minus => numeric::sub,
            _ => numeric::mul,
        };
        // Arrow's checked kernels fail on overflow, as DataFusion's operators (their wrapping twins) do not.
        apply(left, right, kernel).map_err(|_| self.overflow(left, right, args.number_rows))
    }
}

/// The negation of a signed integer, failing on the smallest value (which has no positive twin), as Trino's does.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CheckedNegate {
    signature: Signature,
}

impl Default for CheckedNegate {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for CheckedNegate {
    fn name(&self) -> &str {
        "checked_negate"
    }

    /// The operator's own name (`(- a)`), so that the plan's column names stay as they were.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        let [value] = args else {
            return exec_err!("checked_negate takes one argument");
        };
        Ok(format!("(- {})", value.schema_name()))
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            self.name(),
            args.arg_fields[0].data_type().clone(),
            args.arg_fields[0].is_nullable(),
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("checked_negate takes one argument");
        };
        let scalar = matches!(value, ColumnarValue::Scalar(_));
        let array = value.to_array(if scalar { 1 } else { args.number_rows })?;
        // Arrow's `neg` fails on overflow, as its wrapping twin (DataFusion's operator) does not.
        let negated = numeric::neg(&array).map_err(|_| {
            // The one value without a negation is the type's smallest.
            let (kind, smallest, _) = trino_integer(array.data_type());
            DataFusionError::Execution(format!("{kind} negation overflow: {smallest}"))
        })?;
        Ok(if scalar {
            ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(
                &negated, 0,
            )?)
        } else {
            ColumnarValue::Array(negated)
        })
    }
}
