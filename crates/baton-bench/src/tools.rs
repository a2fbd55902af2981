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

    async fn call(&self, args: EchoArgs, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        Ok(args.text)
    }
}
