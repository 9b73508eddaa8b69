//! Trino's array subscript: `a[i]` fails when `i` is outside the array (`Array subscript must be less than or equal
//! to array length: 5 > 2`), where DataFusion's `array_element` answers null. (`element_at`, null outside the array
//! in Trino too, stays `array_element`.) The planner [`Subscripts`] is asked before DataFusion's field-access
//! planner; it takes only subscripts of arrays, leaving maps and `array_agg(x)[i]` to DataFusion's.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{DFSchema, Result, exec_err};
use datafusion::functions_nested::extract::array_element_udf;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawFieldAccessExpr};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, GetFieldAccess, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature,
};

/// Plans `a[i]` of an array as [`Subscript`].
#[derive(Debug, Default)]
pub struct Subscripts;

impl ExprPlanner for Subscripts {
    fn plan_field_access(
        &self,
        expr: RawFieldAccessExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawFieldAccessExpr>> {
        let RawFieldAccessExpr { expr, field_access } = expr;
        let GetFieldAccess::ListIndex { key } = field_access else {
            return Ok(PlannerResult::Original(RawFieldAccessExpr {
                expr,
                field_access,
            }));
        };
        let is_list = matches!(
            expr.get_type(schema),
            Ok(DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..))
        );
        if !is_list || matches!(expr, Expr::AggregateFunction(_)) {
            return Ok(PlannerResult::Original(RawFieldAccessExpr {
                expr,
                field_access: GetFieldAccess::ListIndex { key },
            }));
        }
        let func = Arc::new(ScalarUDF::new_from_impl(Subscript::default()));
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction {
                func,
                args: vec![expr, *key],
            },
        )))
    }
}

/// `array_element` that fails for an index outside the array, with Trino's messages.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Subscript {
    element: Arc<ScalarUDF>,
}

impl Default for Subscript {
    fn default() -> Self {
        Self {
            element: array_element_udf(),
        }
    }
}

impl Subscript {
    /// Checks every index against its array's length (`arrays` and `index` of one length).
    fn check(arrays: &ArrayRef, index: &Int64Array) -> Result<()> {
        let lengths: Vec<Option<i64>> = match arrays.data_type() {
            DataType::List(_) => {
                let l = arrays.as_list::<i32>();
                (0..l.len())
                    .map(|i| l.is_valid(i).then(|| l.value_length(i) as i64))
                    .collect()
            }
            DataType::LargeList(_) => {
                let l = arrays.as_list::<i64>();
                (0..l.len())
                    .map(|i| l.is_valid(i).then(|| l.value_length(i)))
                    .collect()
            }
            DataType::FixedSizeList(_, n) => {
                let l = arrays.as_fixed_size_list();
                (0..l.len())
                    .map(|i| l.is_valid(i).then_some(i64::from(*n)))
                    .collect()
            }
            _ => return Ok(()),
        };
        for (i, length) in lengths.into_iter().enumerate() {
            let (Some(length), true) = (length, index.is_valid(i)) else {
                continue;
            };
            let k = index.value(i);
            if k == 0 {
                return exec_err!("SQL array indices start at 1");
            }
            if k < 0 {
                return exec_err!("Array subscript is negative: {k}");
            }
            if k > length {
                return exec_err!(
                    "Array subscript must be less than or equal to array length: {k} > {length}"
                );
            }
        }
        Ok(())
    }
}

impl ScalarUDFImpl for Subscript {
    fn name(&self) -> &str {
        self.element.name()
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.element.inner().schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.element.signature()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.element.coerce_types(arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.element.return_type(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let as_array = |v: &ColumnarValue| v.to_array(args.number_rows);
        let (arrays, index) = (as_array(&args.args[0])?, as_array(&args.args[1])?);
        let index = datafusion::arrow::compute::cast(&index, &DataType::Int64)?;
        Self::check(&arrays, index.as_primitive::<Int64Type>())?;
        self.element.invoke_with_args(args)
    }
}
