//! [`McpTools`]: the tools of one connected server.

use crate::connection::{Connection, ToolList};
use crate::error::McpError;
use crate::naming::tool_name;
use crate::tool::McpTool;
use baton_core::tool::{DynTool, ToolRegistry};
use std::sync::Arc;

/// The tools of one connected MCP server, following the server's list as it changes.
///
/// Each call of [`tools`](Self::tools) gives the server's current list; the tools share one
/// connection, restarted on a later call when it broke. When the server sends
/// `notifications/tools/list_changed` the list is fetched again: a tool an agent already holds
/// that the server no longer offers answers with an error result, and a new tool reaches an
/// agent once its tools are taken again from `tools()` (for example when the agent is built
/// anew); [`changed`](Self::changed) waits for such a change.
#[derive(Clone)]
pub struct McpTools {
    connection: Arc<Connection>,
}

impl std::fmt::Debug for McpTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpTools")
            .field("server", &self.server())
            .field("tools", &self.connection.tools().len())
            .finish()
    }
}

impl McpTools {
    pub(crate) fn new(connection: Arc<Connection>) -> Self {
        Self { connection }
    }

    /// The server's name.
    #[must_use]
    pub fn server(&self) -> &str {
        &self.connection.server.name
    }

    /// The server's tools now, named by [`tool_name`](crate::tool_name) (their MCP names when
    /// those are valid Baton tool names, as they almost always are).
    #[must_use]
    pub fn tools(&self) -> Vec<Arc<dyn DynTool>> {
        self.mcp_tools()
            .iter()
            .map(|tool| self.tool_named(tool, tool_name(&tool.name)))
            .collect()
    }

    /// The server's tools now, in a registry of their own.
    ///
    /// # Errors
    ///
    /// [`McpError::Naming`] if the server offers two tools of one name.
    pub fn into_registry(self) -> Result<ToolRegistry, McpError> {
        crate::registry(std::slice::from_ref(&self))
    }

    /// Waits until the server's tool list changes (after a `notifications/tools/list_changed`
    /// or a restart lists the tools again). A change after this call counts even when it comes
    /// before the returned future is first awaited.
    pub fn changed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.connection.subscribe();
        receiver.mark_unchanged();
        async move {
            // The sender lives in the connection, which outlives the tools that hold it; should
            // it go first, there is no change left to wait for.
            let _ = receiver.changed().await;
        }
    }

    /// The process id of the running stdio server, if one runs now (for monitoring).
    #[must_use]
    pub fn process_id(&self) -> Option<u32> {
        self.connection.process_id()
    }

    pub(crate) fn mcp_tools(&self) -> ToolList {
        self.connection.tools()
    }

    pub(crate) fn tool_named(&self, tool: &rmcp::model::Tool, name: String) -> Arc<dyn DynTool> {
        Arc::new(McpTool::new(self.connection.clone(), tool, name))
    }
}
