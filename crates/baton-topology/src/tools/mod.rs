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
//!
//! Every built-in tool only reads ([`Tool::read_only`]): its calls may run twice, so the
//! tool-call ledger does not track them. A table may say otherwise (`read_only = false`), make
//! calls wait for a person (`approval = "always"`) and choose what a call a crash interrupted
//! does (`on_interrupt = "fail"`).

#[cfg(feature = "calculator")]
mod calculator;
mod current_time;
#[cfg(feature = "http-get")]
mod http_get;
mod kv_lookup;
mod policy;

#[cfg(feature = "calculator")]
pub use calculator::{Calculator, CalculatorArgs};
pub use current_time::{CurrentTime, CurrentTimeArgs};
#[cfg(feature = "http-get")]
pub use http_get::{HttpGet, HttpGetArgs, HttpGetConfig, HttpGetError};
pub use kv_lookup::{KvLookup, KvLookupArgs};
pub(crate) use policy::{APPROVALS, CallPolicy, ON_INTERRUPT};

use baton_core::agent::AgentBuilder;
use baton_core::context::ToolContext;
use baton_core::error::ToolError;
use baton_core::tool::{OnInterrupt, Tool};

/// A tool as a file defines it: its kind, configuration, and the name the model uses.
#[derive(Debug, Clone)]
pub(crate) struct ToolDef {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) kind: ToolConfig,
    pub(crate) policy: CallPolicy,
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

/// A tool ready to be given to agents, with how runs treat its calls; cloning shares it.
#[derive(Debug, Clone)]
pub(crate) struct BuiltTool {
    name: String,
    tool: MadeTool,
    policy: CallPolicy,
}

/// A tool of each kind, under the file's name.
#[derive(Debug, Clone)]
enum MadeTool {
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
        let tool = match &self.kind {
            #[cfg(feature = "calculator")]
            ToolConfig::Calculator => MadeTool::Calculator(self.rename(Calculator)),
            ToolConfig::CurrentTime => MadeTool::CurrentTime(self.rename(CurrentTime)),
            #[cfg(feature = "http-get")]
            ToolConfig::HttpGet(config) => {
                MadeTool::HttpGet(self.rename(HttpGet::new(config.clone())?))
            }
            ToolConfig::KvLookup(entries) => {
                MadeTool::KvLookup(self.rename(KvLookup::new(entries.iter().cloned())))
            }
        };
        Ok(BuiltTool {
            name: self.name.clone(),
            tool,
            policy: self.policy.clone(),
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
            read_only: self.policy.read_only,
            tool,
        }
    }
}

impl BuiltTool {
    /// Gives the tool to the agent being built, its calls treated as the file says.
    pub(crate) fn add_to(self, agent: AgentBuilder) -> AgentBuilder {
        let agent = match self.tool {
            #[cfg(feature = "calculator")]
            MadeTool::Calculator(tool) => agent.tool(tool),
            MadeTool::CurrentTime(tool) => agent.tool(tool),
            #[cfg(feature = "http-get")]
            MadeTool::HttpGet(tool) => agent.tool(tool),
            MadeTool::KvLookup(tool) => agent.tool(tool),
        };
        self.policy.apply_to(&self.name, agent)
    }
}

/// A tool under the name and description the file gives it, read-only or not as the file
/// says.
#[derive(Debug, Clone)]
pub(crate) struct Renamed<T> {
    name: String,
    description: String,
    /// `None`: as the tool declares.
    read_only: Option<bool>,
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

    fn read_only(&self) -> bool {
        self.read_only.unwrap_or_else(|| self.tool.read_only())
    }

    fn on_interrupt(&self) -> OnInterrupt {
        match self.read_only {
            Some(read_only) => OnInterrupt::default_for(read_only),
            None => self.tool.on_interrupt(),
        }
    }

    async fn call(&self, args: T::Args, ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        self.tool.call(args, ctx).await
    }
}
