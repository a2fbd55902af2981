//! The built-in tools a topology file can give its agents, each a typed
//! [`Tool`] with a derived JSON Schema.
//!
//! | kind | tool | needs a `[tools.NAME]` table | cargo feature |
//! |---|---|---|---|
//! | `calculator` | `Calculator` | no | `calculator` (default) |
//! | `current_time` | [`CurrentTime`] | no | always built |
//! | `http_get` | `HttpGet` | yes: `allow_hosts` (and `max_bytes`, `timeout`) | `http-get` (default) |
//! | `kv_lookup` | [`KvLookup`] | yes: `entries` | always built |
//!
//! In a file, a tool is named by its table (`[tools.lookup_order]` with `kind = "kv_lookup"`
//! is called `lookup_order` by the model); `calculator` and `current_time` can be used without
//! a table. A file naming a kind this build leaves out is refused at that name, with the
//! feature to enable. Embedders can use the same tools in code.

#[cfg(feature = "calculator")]
mod calculator;
mod current_time;
#[cfg(feature = "http-get")]
mod http_get;
mod kv_lookup;

#[cfg(feature = "calculator")]
pub use calculator::{Calculator, CalculatorArgs};
pub use current_time::{CurrentTime, CurrentTimeArgs};
#[cfg(feature = "http-get")]
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
    #[cfg(feature = "calculator")]
    Calculator,
    CurrentTime,
    #[cfg(feature = "http-get")]
    HttpGet(HttpGetConfig),
    KvLookup(Vec<(String, serde_json::Value)>),
}

/// A tool ready to be given to agents; cloning shares it.
#[derive(Debug, Clone)]
pub(crate) enum BuiltTool {
    #[cfg(feature = "calculator")]
    Calculator(Renamed<Calculator>),
    CurrentTime(Renamed<CurrentTime>),
    #[cfg(feature = "http-get")]
    HttpGet(Renamed<HttpGet>),
    KvLookup(Renamed<KvLookup>),
}

/// Why a tool cannot be made: only `http_get` can fail, when its HTTP client cannot be.
#[cfg(feature = "http-get")]
pub(crate) type ToolBuildError = HttpGetError;
/// Why a tool cannot be made: without `http_get`, never.
#[cfg(not(feature = "http-get"))]
pub(crate) type ToolBuildError = std::convert::Infallible;

impl ToolDef {
    /// Creates the tool (for `http_get`, its HTTP client).
    #[cfg_attr(not(feature = "http-get"), allow(clippy::unnecessary_wraps))]
    pub(crate) fn build(&self) -> Result<BuiltTool, ToolBuildError> {
        Ok(match &self.kind {
            #[cfg(feature = "calculator")]
            ToolConfig::Calculator => BuiltTool::Calculator(self.rename(Calculator)),
            ToolConfig::CurrentTime => BuiltTool::CurrentTime(self.rename(CurrentTime)),
            #[cfg(feature = "http-get")]
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
            #[cfg(feature = "calculator")]
            Self::Calculator(tool) => agent.tool(tool),
            Self::CurrentTime(tool) => agent.tool(tool),
            #[cfg(feature = "http-get")]
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
