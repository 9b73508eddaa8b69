//! Query parameters: `@scheduled_runtime`, the time a scheduled query runs for, is the only one Timestream has. It
//! is a timestamp with a value only when a scheduled query runs: `PrepareQuery` lists it, and `Query` refuses a
//! query that uses it.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::variable::{VarProvider, VarType};

use crate::functions::TIMESTAMP;

pub const SCHEDULED_RUNTIME: &str = "@scheduled_runtime";

pub fn register(ctx: &SessionContext) {
    ctx.register_variable(VarType::UserDefined, Arc::new(Parameters));
}

#[derive(Debug)]
struct Parameters;

impl VarProvider for Parameters {
    fn get_value(&self, names: Vec<String>) -> Result<ScalarValue> {
        plan_err!(
            "The query parameter {} has a value only when a scheduled query runs",
            names.join(".")
        )
    }

    fn get_type(&self, names: &[String]) -> Option<DataType> {
        match names {
            [name] if name.eq_ignore_ascii_case(SCHEDULED_RUNTIME) => Some(TIMESTAMP),
            _ => None,
        }
    }
}

/// The parameters `plan` uses, each once, in order of appearance, with their types.
pub fn used(plan: &LogicalPlan) -> Vec<(String, DataType)> {
    let mut found: Vec<(String, DataType)> = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::ScalarVariable(field, names) = e {
                    let name = names.join(".");
                    if !found.iter().any(|(n, _)| *n == name) {
                        found.push((name, field.data_type().clone()));
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    found
}
