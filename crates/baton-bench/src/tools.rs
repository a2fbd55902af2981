use baton_core::context::ToolContext;
use baton_core::error::ToolError;
use baton_core::tool::Tool;
use schemars::JsonSchema;
use serde::Deserialize;

/// A trivial tool: the cost measured is the orchestration around it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

/// Arguments of [`Echo`].
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EchoArgs {
    /// Text to echo.
    pub text: String,
}

impl Tool for Echo {
    type Args = EchoArgs;

    fn name(&self) -> &str {
        "echo"
    }

    fn description(&self) -> &str {
        "Echoes its text."
    }

    fn read_only(&self) -> bool {
        true
    }

    async fn call(&self, args: EchoArgs, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        Ok(args.text)
    }
}

/// [`Echo`] declared with side effects, as a tool that changes the world is: the tool-call
/// ledger records its intent and its result around each call.
#[derive(Debug, Clone, Copy, Default)]
pub struct Charge;

impl Tool for Charge {
    type Args = EchoArgs;

    fn name(&self) -> &str {
        "charge"
    }

    fn description(&self) -> &str {
        "Charges, and echoes its text."
    }

    async fn call(&self, args: EchoArgs, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        Ok(args.text)
    }
}
