//! Tools: typed functions the model can call.
//!
//! Implement [`Tool`] with a typed argument struct that derives `serde::Deserialize` and
//! `schemars::JsonSchema`; the JSON Schema the model sees is derived from that type once, when
//! the tool is registered. A [`ToolRegistry`] holds an agent's tools and their specs.
//!
//! ```
//! use baton_core::context::ToolContext;
//! use baton_core::tool::{Tool, ToolRegistry};
//! use baton_core::error::ToolError;
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! /// Adds two numbers.
//! struct Add;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct AddArgs {
//!     /// First addend.
//!     a: f64,
//!     /// Second addend.
//!     b: f64,
//! }
//!
//! impl Tool for Add {
//!     type Args = AddArgs;
//!     fn name(&self) -> &str { "add" }
//!     fn description(&self) -> &str { "Adds two numbers." }
//!     async fn call(&self, args: AddArgs, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
//!         Ok((args.a + args.b).to_string())
//!     }
//! }
//!
//! let registry = ToolRegistry::new().with(Add).unwrap();
//! assert_eq!(registry.specs()[0].parameters["required"], serde_json::json!(["a", "b"]));
//! ```

mod execute;
mod policy;
mod registry;

pub use execute::{ToolOutcome, execute_call};
pub use policy::{Approval, ApprovalFn, OnInterrupt, ToolPolicy};
pub(crate) use registry::validate_tool_name;
pub use registry::{ToolRegistry, is_tool_name};

use crate::context::ToolContext;
use crate::error::ToolError;
use crate::llm::ToolSpec;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use std::future::Future;

/// A tool with typed arguments.
pub trait Tool: Send + Sync + 'static {
    /// The arguments; their JSON Schema is what the model sees.
    type Args: DeserializeOwned + JsonSchema + Send + 'static;

    /// The name the model calls the tool by (`[a-zA-Z0-9_-]`, at most 64 characters).
    fn name(&self) -> &str;

    /// What the tool does and when to use it, for the model.
    fn description(&self) -> &str;

    /// Whether the tool only reads (looks something up, computes): its calls may run twice,
    /// so the tool-call ledger does not record them. `false` by default: a tool's calls are
    /// taken to have side effects, so a call whose result was recorded never runs again.
    fn read_only(&self) -> bool {
        false
    }

    /// What a resumed run does with a call of this tool that a crash interrupted (its intent
    /// recorded, its result not): by default retried if the tool is read-only, else failed.
    fn on_interrupt(&self) -> OnInterrupt {
        OnInterrupt::default_for(self.read_only())
    }

    /// Runs the tool for the run and call `ctx` describes. An `Err` becomes a tool result
    /// `"error: …"` that the model sees.
    ///
    /// A tool with side effects can use [`ToolContext::idempotency_key`] (the run, step and call
    /// ids, stable across a resume) so that the service it calls does the work once.
    fn call(
        &self,
        args: Self::Args,
        ctx: &ToolContext<'_>,
    ) -> impl Future<Output = Result<String, ToolError>> + Send;
}

/// The object-safe form of a tool: a spec and a call on raw JSON arguments.
///
/// Every [`Tool`] is one through [`ToolRegistry::with`]; implement it directly for tools whose
/// schema is only known at run time (for example tools discovered from a remote server).
pub trait DynTool: Send + Sync + 'static {
    /// The tool as the model sees it.
    fn spec(&self) -> &ToolSpec;

    /// Whether the tool only reads; see [`Tool::read_only`].
    fn read_only(&self) -> bool {
        false
    }

    /// What an interrupted call does on resume; see [`Tool::on_interrupt`].
    fn on_interrupt(&self) -> OnInterrupt {
        OnInterrupt::default_for(self.read_only())
    }

    /// Runs the tool on the JSON text the model produced, for the call `ctx` describes.
    fn call_json<'a>(
        &'a self,
        arguments: &'a str,
        ctx: ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>>;
}

/// Adapts a typed [`Tool`] to [`DynTool`], with its spec built once.
struct TypedTool<T: Tool> {
    tool: T,
    spec: ToolSpec,
}

impl<T: Tool> TypedTool<T> {
    fn new(tool: T) -> Self {
        let spec = ToolSpec {
            name: tool.name().to_owned(),
            description: tool.description().to_owned(),
            parameters: schema_for::<T::Args>(),
        };
        Self { tool, spec }
    }
}

impl<T: Tool> DynTool for TypedTool<T> {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn read_only(&self) -> bool {
        self.tool.read_only()
    }

    fn on_interrupt(&self) -> OnInterrupt {
        self.tool.on_interrupt()
    }

    fn call_json<'a>(
        &'a self,
        arguments: &'a str,
        ctx: ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(async move {
            let args = parse_arguments::<T::Args>(&self.spec.name, arguments)?;
            self.tool.call(args, &ctx).await
        })
    }
}

/// Parses a model's argument text into `A`. Empty text is read as `{}`, as some models send
/// nothing for tools without parameters.
pub fn parse_arguments<A: DeserializeOwned>(tool: &str, arguments: &str) -> Result<A, ToolError> {
    let text = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    serde_json::from_str(text).map_err(|error| ToolError::InvalidArguments {
        tool: tool.to_owned(),
        reason: error.to_string(),
    })
}

/// The JSON Schema of `A` as tool parameters: an object schema without the `$schema` and
/// `title` keys that model APIs do not want.
#[must_use]
pub fn schema_for<A: JsonSchema>() -> serde_json::Value {
    let mut schema = serde_json::Value::from(schemars::schema_for!(A));
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
        object
            .entry("properties")
            .or_insert_with(|| serde_json::json!({}));
    }
    schema
}

#[cfg(test)]
mod tests;
