//! MCP client for Baton: the tools of [Model Context Protocol](https://modelcontextprotocol.io)
//! servers as Baton tools, on the official Rust SDK [`rmcp`].
//!
//! Describe a server with [`McpServer::stdio`] (a command speaking MCP on its standard input
//! and output) or [`McpServer::http`] (a streamable HTTP endpoint), [`connect`](McpServer::connect)
//! to it, and give its tools to an agent:
//!
//! ```no_run
//! use baton_core::agent::Agent;
//! use baton_mcp::McpServer;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let time = McpServer::stdio("time", "uvx", ["mcp-server-time"]).connect().await?;
//! let files = McpServer::stdio(
//!     "fs",
//!     "npx",
//!     ["-y", "@modelcontextprotocol/server-filesystem", "/srv/docs"],
//! )
//! .connect()
//! .await?;
//! let agent = Agent::builder("assistant")
//!     .tools(baton_mcp::registry(&[time, files])?)
//!     .build()?;
//! # let _ = agent;
//! # Ok(())
//! # }
//! ```
//!
//! How a call goes:
//! - The model's arguments are parsed as a JSON object and sent with `tools/call`; the result's
//!   text blocks, joined by newlines (and its structured content as JSON text, unless a text
//!   block already holds it), are the tool result. `isError: true` is an error result
//!   ([`ToolError::Failed`](baton_core::error::ToolError::Failed)) with the server's text.
//! - A call that takes longer than [`McpServer::call_timeout`] (60 s by default) is an error
//!   result; a call whose run is cancelled ends at once. Either way the request's future is
//!   dropped, and rmcp then sends `notifications/cancelled` for it, so the server can stop.
//! - A server that exits or closes its connection gives the calls in flight an error result,
//!   never a panic; so does one that hangs (its calls time out, and it does not answer the
//!   `ping` the next call sends first). The next call starts it again, waiting first 100 ms after one failure,
//!   doubling with each failure in a row, up to [`McpServer::max_backoff`].
//! - A tool's `readOnlyHint` annotation is its [`read_only`](baton_core::tool::DynTool::read_only).
//!
//! Tool names follow the rule of [`registry`]: a tool keeps its name unless two servers offer
//! it, then it is `{server}__{tool}`; invalid names are made valid by [`tool_name`].
//!
//! Changes of a server's tool list (`notifications/tools/list_changed`) are followed: see
//! [`McpTools`].

mod connection;
mod error;
mod http;
mod naming;
mod result;
mod server;
mod tool;
mod tools;

pub use error::McpError;
pub use naming::{qualified_tool_name, registry, tool_name};
pub use server::{DEFAULT_CALL_TIMEOUT, McpServer};
pub use tools::McpTools;
