//! Trino's `regexp_replace(string, pattern, function)` (planned as `regexp_replace_fn`): every match of `pattern`
//! in `string` is replaced by the function's result for the match's capturing groups, an array of varchar (group 1
//! first; null for a group that took no part in the match; no entry for the whole match). As in Trino, a null
//! result of the function makes the whole result null, and a null string or pattern gives null.
//!
//! The function is evaluated once per batch, over every match of every row.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListBuilder, StringBuilder, UInt32Array};
use datafusion::arrow::compute::{cast, take_arrays};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature,
    HigherOrderUDF, HigherOrderUDFImpl, LambdaParametersProgress, ValueOrLambda, Volatility,
};
use datafusion::prelude::SessionContext;

use crate::patterns::{Patterns, failed};

pub fn register(ctx: &SessionContext) {
    ctx.register_higher_order_function(Arc::new(HigherOrderUDF::new_from_impl(
        RegexpReplaceFn::default(),
    )));
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpReplaceFn {
    signature: HigherOrderSignature,
}

impl Default for RegexpReplaceFn {
    fn default() -> Self {
        use ValueOrLambda::{Lambda, Value};
        Self {
            signature: HigherOrderSignature::exact(
                vec![Value(()), Value(()), Lambda(())],
                Volatility::Immutable,
            ),
        }
    }
}

const USAGE: &str = "regexp_replace(varchar, varchar, function(array(varchar), varchar))";

fn groups_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

impl HigherOrderUDFImpl for RegexpReplaceFn {
    fn name(&self) -> &str {
        "regexp_replace_fn"
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let text = |t: &DataType| {
            matches!(
                t,
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
            )
        };
        if arg_types.len() == 2 && arg_types.iter().all(text) {
            return Ok(vec![DataType::Utf8, DataType::Utf8]);
        }
        plan_err!(
            "Unexpected parameters ({}) for function regexp_replace. Expected: {USAGE}",
            crate::functions::type_names(arg_types)
        )
    }

    fn lambda_parameters(
        &self,
        _step: usize,
        _fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>],
    ) -> Result<LambdaParametersProgress> {
        Ok(LambdaParametersProgress::Complete(vec![vec![Arc::new(
            Field::new("groups", groups_type(), true),
        )]]))
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        let [_, _, ValueOrLambda::Lambda(function)] = args.arg_fields else {
            return plan_err!("regexp_replace takes a string, a pattern and a function: {USAGE}");
        };
        if !matches!(
            function.data_type(),
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
        ) {
            return plan_err!(
                "regexp_replace: the function returns {}, not varchar. Expected: {USAGE}",
                crate::functions::type_name(function.data_type())
            );
        }
        Ok(Arc::new(Field::new(self.name(), DataType::Utf8, true)))
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let [
            ValueOrLambda::Value(text),
            ValueOrLambda::Value(pattern),
            ValueOrLambda::Lambda(function),
        ] = args.args.as_slice()
        else {
            return plan_err!("regexp_replace takes a string, a pattern and a function: {USAGE}");
        };
        let (text, pattern) = (text.to_array(n)?, pattern.to_array(n)?);
        let (text, pattern) = (text.as_string::<i32>(), pattern.as_string::<i32>());
        let mut patterns = Patterns::default();
        // Every match of every row: its row, its byte range, and its groups.
        let mut matches: Vec<(usize, usize, usize)> = Vec::new();
        let mut groups = ListBuilder::new(StringBuilder::new());
        for row in 0..n {
            if text.is_null(row) || pattern.is_null(row) {
                continue;
            }
            let re = patterns.get(pattern.value(row))?;
            for caps in re.captures_iter(text.value(row)) {
                let caps = caps.map_err(|e| failed(re, e))?;
                let whole = caps.get(0).expect("a match has group 0");
                matches.push((row, whole.start(), whole.end()));
                for g in caps.iter().skip(1) {
                    groups.values().append_option(g.map(|m| m.as_str()));
                }
                groups.append(true);
            }
        }
        let groups: ArrayRef = Arc::new(groups.finish());
        let rows = UInt32Array::from_iter_values(matches.iter().map(|&(row, ..)| row as u32));
        let replacements = if matches.is_empty() {
            None
        } else {
            let out = function
                .evaluate(&[&|| Ok(Arc::clone(&groups))], |captured| {
                    Ok(take_arrays(captured, &rows, None)?)
                })?
                .into_array(rows.len())?;
            Some(cast(&out, &DataType::Utf8)?)
        };
        let replacements = replacements.as_ref().map(|r| r.as_string::<i32>());

        let mut out = StringBuilder::new();
        let mut next = 0;
        for row in 0..n {
            if text.is_null(row) || pattern.is_null(row) {
                out.append_null();
                continue;
            }
            let s = text.value(row);
            let (mut replaced, mut from, mut null) = (String::new(), 0, false);
            while let Some(&(r, start, end)) = matches.get(next)
                && r == row
            {
                let by = replacements.expect("evaluated when there are matches");
                if by.is_null(next) {
                    null = true;
                } else {
                    replaced.push_str(&s[from..start]);
                    replaced.push_str(by.value(next));
                }
                from = end;
                next += 1;
            }
            replaced.push_str(&s[from..]);
            if null {
                out.append_null();
            } else {
                out.append_value(replaced);
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
