//! `calculator`: arithmetic on a model's expression, evaluated by `exmex`.

use baton_core::context::ToolContext;
use baton_core::error::ToolError;
use baton_core::tool::Tool;
use schemars::JsonSchema;
use serde::Deserialize;

/// Evaluates an arithmetic expression: `+ - * / ^`, parentheses, and functions such as
/// `sqrt`, `ln`, `log10`, `sin`, `cos`, `abs`, `round`.
///
/// ```
/// use baton_core::tool::Tool;
/// use baton_core::context::ToolContext;
/// use baton_topology::tools::{Calculator, CalculatorArgs};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let result = Calculator.call(CalculatorArgs { expression: "85 / (2025 - 2015)".into() }, ToolContext::standalone()).await;
/// assert_eq!(result.unwrap(), "8.5");
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Calculator;

/// Arguments of [`Calculator`].
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct CalculatorArgs {
    /// The expression, e.g. "(2 + 3) * 4 / 7" or "sqrt(2) ^ 2".
    pub expression: String,
}

impl Tool for Calculator {
    type Args = CalculatorArgs;

    fn name(&self) -> &str {
        "calculator"
    }

    fn description(&self) -> &str {
        "Evaluates an arithmetic expression (+ - * / ^, parentheses, sqrt, ln, log10, sin, cos, \
         abs, round) and returns the number."
    }

    /// It only computes.
    fn read_only(&self) -> bool {
        true
    }

    async fn call(
        &self,
        args: CalculatorArgs,
        _ctx: &ToolContext<'_>,
    ) -> Result<String, ToolError> {
        evaluate(&args.expression)
    }
}

/// The value of `expression`, formatted for a model: integers without a fraction, others with
/// at most ten decimals.
pub(crate) fn evaluate(expression: &str) -> Result<String, ToolError> {
    let value = exmex::eval_str::<f64>(expression)
        .map_err(|error| ToolError::failed(format!("cannot evaluate {expression:?}: {}", error)))?;
    if !value.is_finite() {
        return Err(ToolError::failed(format!(
            "{expression:?} has no finite value"
        )));
    }
    let text = format!("{value:.10}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    Ok(if text == "-0" { "0" } else { text }.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_evaluated_and_formatted() {
        assert_eq!(evaluate("1 + 2 * 3").unwrap(), "7");
        assert_eq!(evaluate("7 / 2").unwrap(), "3.5");
        assert_eq!(evaluate("(2 + 3) ^ 2").unwrap(), "25");
        assert_eq!(evaluate("0.1 + 0.2").unwrap(), "0.3");
        assert_eq!(evaluate("sqrt(16)").unwrap(), "4");
        assert_eq!(evaluate("1 / 3").unwrap(), "0.3333333333");
        assert_eq!(evaluate("-2 * 0").unwrap(), "0");
        assert_eq!(evaluate("-1.5 * 2").unwrap(), "-3");
        assert_eq!(evaluate("round(24 / 13 * 10) / 10").unwrap(), "1.8");
    }

    #[test]
    fn bad_expressions_are_tool_errors() {
        let error = evaluate("2 +").unwrap_err().to_string();
        assert!(error.starts_with("cannot evaluate \"2 +\""), "{error}");
        let error = evaluate("x + 1").unwrap_err().to_string();
        assert!(error.starts_with("cannot evaluate"), "{error}");
        let error = evaluate("1 / 0").unwrap_err().to_string();
        assert_eq!(error, "\"1 / 0\" has no finite value");
    }
}
