//! [`McpTool`]: one tool of an MCP server as a Baton [`DynTool`].

use crate::connection::Connection;
use baton_core::context::ToolContext;
use baton_core::error::ToolError;
use baton_core::llm::ToolSpec;
use baton_core::tool::DynTool;
use futures::future::BoxFuture;
use rmcp::model::{JsonObject, Tool};
use std::sync::Arc;

/// One tool of an MCP server: its spec is the server's (JSON Schema as given), its calls go to
/// the server over the connection shared by all of that server's tools.
pub(crate) struct McpTool {
    connection: Arc<Connection>,
    /// The name the server knows the tool by.
    mcp_name: String,
    spec: ToolSpec,
    read_only: bool,
}

impl McpTool {
    pub(crate) fn new(connection: Arc<Connection>, tool: &Tool, name: String) -> Self {
        let description = tool
            .description
            .as_deref()
            .or(tool.title.as_deref())
            .unwrap_or_default()
            .to_owned();
        Self {
            connection,
            mcp_name: tool.name.to_string(),
            spec: ToolSpec {
                name,
                description,
                parameters: serde_json::Value::Object((*tool.input_schema).clone()),
            },
            read_only: tool
                .annotations
                .as_ref()
                .and_then(|a| a.read_only_hint)
                .unwrap_or(false),
        }
    }

    async fn call(&self, arguments: &str, ctx: ToolContext<'_>) -> Result<String, ToolError> {
        let arguments = parse_object(&self.spec.name, arguments)?;
        let offered = self.connection.tools();
        if !offered.iter().any(|tool| tool.name == self.mcp_name) {
            return Err(ToolError::failed(format!(
                "MCP server {} no longer offers the tool {}",
                self.connection.server.name, self.mcp_name
            )));
        }
        self.connection
            .call(
                &self.spec.name,
                &self.mcp_name,
                arguments,
                ctx.run().cancel(),
            )
            .await
    }
}

impl DynTool for McpTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    /// The server's `readOnlyHint` annotation.
    fn read_only(&self) -> bool {
        self.read_only
    }

    fn call_json<'a>(
        &'a self,
        arguments: &'a str,
        ctx: ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(self.call(arguments, ctx))
    }
}

/// The model's argument text as a JSON object; empty text is `{}`.
fn parse_object(tool: &str, arguments: &str) -> Result<JsonObject, ToolError> {
    let invalid = |reason: String| ToolError::InvalidArguments {
        tool: tool.to_owned(),
        reason,
    };
    if arguments.trim().is_empty() {
        return Ok(JsonObject::new());
    }
    match serde_json::from_str(arguments) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(other) => Err(invalid(format!("expected a JSON object, got {other}"))),
        Err(error) => Err(invalid(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_must_be_an_object() {
        assert!(parse_object("t", "").unwrap().is_empty());
        assert_eq!(parse_object("t", r#"{"a":1}"#).unwrap()["a"], 1);
        assert!(matches!(
            parse_object("t", "[1]"),
            Err(ToolError::InvalidArguments { .. })
        ));
        assert!(matches!(
            parse_object("t", "{"),
            Err(ToolError::InvalidArguments { .. })
        ));
    }
}
