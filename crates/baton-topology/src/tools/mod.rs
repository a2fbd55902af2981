//! The built-in tools a topology file can give its agents, each a typed
//! [`Tool`] with a derived JSON Schema.
//!
//! | kind | tool | needs a `[tools.NAME]` table |
//! |---|---|---|
//! | `calculator` | [`Calculator`] | no |
//! | `current_time` | [`CurrentTime`] | no |
//! | `http_get` | [`HttpGet`] | yes: `allow_hosts` (and `max_bytes`, `timeout`) |
//! | `kv_lookup` | [`KvLookup`] | yes: `entries` |
//!
//! In a file, a tool is named by its table (`[tools.lookup_order]` with `kind = "kv_lookup"`
//! is called `lookup_order` by the model); `calculator` and `current_time` can be used without
//! a table. Embedders can use the same tools in code.

mod calculator;
mod current_time;
mod http_get;
mod kv_lookup;

pub use calculator::{Calculator, CalculatorArgs};
pub use current_time::{CurrentTime, CurrentTimeArgs};
pub use http_get::{HttpGet, HttpGetArgs, HttpGetConfig, HttpGetError};
pub use kv_lookup::{KvLookup, KvLookupArgs};

use baton_core::agent::AgentBuilder;
use baton_core::context::ToolContext;
use baton_core::error::ToolError;
use baton_core::tool::Tool;

/// A tool as a file defines it: its kind, configuration, and the name the model uses.
#[derive(Debug, Clone)]
pub(crate) struct ToolDef {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) kind: ToolConfig,
}

/// The configuration of each kind of tool.
#[derive(Debug, Clone)]
pub(crate) enum ToolConfig {
    Calculator,
    CurrentTime,
    HttpGet(HttpGetConfig),
    KvLookup(Vec<(String, serde_json::Value)>),
}

/// A tool ready to be given to agents; cloning shares it.
#[derive(Debug, Clone)]
pub(crate) enum BuiltTool {
    Calculator(Renamed<Calculator>),
    CurrentTime(Renamed<CurrentTime>),
    HttpGet(Renamed<HttpGet>),
    KvLookup(Renamed<KvLookup>),
}

impl ToolDef {
    /// Creates the tool (for `http_get`, its HTTP client).
    pub(crate) fn build(&self) -> Result<BuiltTool, HttpGetError> {
        Ok(match &self.kind {
            ToolConfig::Calculator => BuiltTool::Calculator(self.rename(Calculator)),
            ToolConfig::CurrentTime => BuiltTool::CurrentTime(self.rename(CurrentTime)),
            ToolConfig::HttpGet(config) => {
                BuiltTool::HttpGet(self.rename(HttpGet::new(config.clone())?))
            }
            ToolConfig::KvLookup(entries) => {
                BuiltTool::KvLookup(self.rename(KvLookup::new(entries.iter().cloned())))
            }
        })
    }

    fn rename<T: Tool>(&self, tool: T) -> Renamed<T> {
        let description = self
            .description
            .clone()
            .unwrap_or_else(|| tool.description().to_owned());
        Renamed {
            name: self.name.clone(),
            description,
            tool,
        }
    }
}

impl BuiltTool {
    /// Gives the tool to the agent being built.
    pub(crate) fn add_to(self, agent: AgentBuilder) -> AgentBuilder {
        match self {
            Self::Calculator(tool) => agent.tool(tool),
            Self::CurrentTime(tool) => agent.tool(tool),
            Self::HttpGet(tool) => agent.tool(tool),
            Self::KvLookup(tool) => agent.tool(tool),
        }
    }
}

/// A tool under the name and description the file gives it.
#[derive(Debug, Clone)]
pub(crate) struct Renamed<T> {
    name: String,
    description: String,
    tool: T,
}

impl<T: Tool> Tool for Renamed<T> {
    type Args = T::Args;

    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    async fn call(&self, args: T::Args, ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        self.tool.call(args, ctx).await
    }
}
