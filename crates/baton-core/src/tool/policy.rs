//! What a tool's calls may do to the world, and what a run does about it: whether a call waits
//! for a person's approval ([`Approval`]), whether the tool-call ledger tracks it (tools not
//! declared read-only), and what a call that a crash interrupted does on resume
//! ([`OnInterrupt`]).

use crate::context::RunContext;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A function that decides, from a call's arguments and its run, whether the call waits for
/// approval.
pub type ApprovalFn = dyn Fn(&serde_json::Value, &RunContext<'_>) -> bool + Send + Sync;

/// Whether a call of a tool waits for a person's decision before it runs.
///
/// ```
/// use baton_core::tool::Approval;
/// // Refunds above 100 need a person.
/// let approval = Approval::when(|args, _run| args["amount"].as_f64().is_none_or(|a| a > 100.0));
/// # let _ = approval;
/// ```
#[derive(Clone, Default)]
pub enum Approval {
    /// Calls run without asking (the default).
    #[default]
    Never,
    /// Every call waits for approval.
    Always,
    /// A call waits when the function says so; it sees the call's arguments as JSON
    /// (`Null` when the model's text is not JSON) and the run's context.
    When(Arc<ApprovalFn>),
}

impl Approval {
    /// Calls wait when `decide` says so.
    pub fn when(
        decide: impl Fn(&serde_json::Value, &RunContext<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::When(Arc::new(decide))
    }

    /// Whether a call with `arguments` (the model's JSON text) waits for approval in `run`.
    #[must_use]
    pub fn needed(&self, arguments: &str, run: &RunContext<'_>) -> bool {
        match self {
            Self::Never => false,
            Self::Always => true,
            Self::When(decide) => {
                let value = serde_json::from_str(arguments).unwrap_or(serde_json::Value::Null);
                decide(&value, run)
            }
        }
    }

    /// Reads `"never"` or `"always"`, as topology files write them.
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "never" => Some(Self::Never),
            "always" => Some(Self::Always),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Approval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Never => f.write_str("Never"),
            Self::Always => f.write_str("Always"),
            Self::When(_) => f.write_str("When(..)"),
        }
    }
}

/// What a resumed run does with a call that a crash interrupted: its intent was committed,
/// its result was not, so the call may or may not have had its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnInterrupt {
    /// Run it again: for read-only and idempotent tools (the default for read-only tools).
    Retry,
    /// Do not run it again: the model gets a tool result saying the call was interrupted
    /// and not retried (the default for tools with side effects).
    Fail,
    /// Pause the run until a person approves running it again (or rejects it).
    Ask,
}

impl OnInterrupt {
    /// The default for a tool that is read-only or not.
    #[must_use]
    pub const fn default_for(read_only: bool) -> Self {
        if read_only { Self::Retry } else { Self::Fail }
    }

    /// The policy's name, as topology files and episodes write it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Fail => "fail",
            Self::Ask => "ask",
        }
    }

    /// Reads a policy's name.
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "retry" => Some(Self::Retry),
            "fail" => Some(Self::Fail),
            "ask" => Some(Self::Ask),
            _ => None,
        }
    }
}

impl std::fmt::Display for OnInterrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run treats one tool's calls: whether they wait for approval, whether the tool is
/// read-only (the ledger tracks every call of a tool that is not), and what an interrupted call
/// does. A tool declares the last two ([`DynTool::read_only`](super::DynTool::read_only),
/// [`DynTool::on_interrupt`](super::DynTool::on_interrupt)); whoever adds it to an agent may
/// override them and sets the approval ([`ToolRegistry::with_policy`](super::ToolRegistry)).
#[derive(Debug, Clone)]
pub struct ToolPolicy {
    /// Whether a call waits for approval.
    pub approval: Approval,
    /// Whether the tool only reads: its calls may run twice, so the ledger does not track them.
    pub read_only: bool,
    /// What a resumed run does with a call a crash interrupted.
    pub on_interrupt: OnInterrupt,
}

impl ToolPolicy {
    /// The policy a tool declares: no approval, its own read-only flag and interrupt policy.
    #[must_use]
    pub fn declared(tool: &dyn super::DynTool) -> Self {
        Self {
            approval: Approval::Never,
            read_only: tool.read_only(),
            on_interrupt: tool.on_interrupt(),
        }
    }

    /// Whether the ledger records this tool's calls: every tool that is not read-only, and
    /// every tool whose interrupted calls are not simply retried.
    #[must_use]
    pub const fn tracked(&self) -> bool {
        !self.read_only || !matches!(self.on_interrupt, OnInterrupt::Retry)
    }
}
