use super::{Approval, DynTool, OnInterrupt, Tool, ToolPolicy, TypedTool};
use crate::error::ConfigError;
use crate::llm::ToolSpec;
use std::collections::HashMap;
use std::sync::Arc;

/// The tools of one agent, by name, with their specs built once.
///
/// Cloning shares the tools.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: HashMap<Arc<str>, Entry>,
    specs: Vec<ToolSpec>,
}

/// A tool and how runs treat its calls.
#[derive(Clone)]
struct Entry {
    tool: Arc<dyn DynTool>,
    policy: ToolPolicy,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.specs.iter().map(|s| &s.name))
            .finish()
    }
}

impl ToolRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a typed tool (its schema is derived now, once).
    pub fn with<T: Tool>(self, tool: T) -> Result<Self, ConfigError> {
        self.with_dyn(Arc::new(TypedTool::new(tool)))
    }

    /// Adds an object-safe tool.
    pub fn with_dyn(mut self, tool: Arc<dyn DynTool>) -> Result<Self, ConfigError> {
        self.insert(tool)?;
        Ok(self)
    }

    /// Adds an object-safe tool in place.
    pub fn insert(&mut self, tool: Arc<dyn DynTool>) -> Result<(), ConfigError> {
        let spec = tool.spec().clone();
        validate_tool_name(&spec.name)?;
        if self.tools.contains_key(spec.name.as_str()) {
            return Err(ConfigError(format!(
                "tool {:?} is registered twice",
                spec.name
            )));
        }
        let policy = ToolPolicy::declared(tool.as_ref());
        self.tools
            .insert(Arc::from(spec.name.as_str()), Entry { tool, policy });
        self.specs.push(spec);
        Ok(())
    }

    /// The tool named `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Arc<dyn DynTool>> {
        self.tools.get(name).map(|entry| &entry.tool)
    }

    /// How runs treat calls of the tool named `name`.
    #[must_use]
    pub fn policy(&self, name: &str) -> Option<&ToolPolicy> {
        self.tools.get(name).map(|entry| &entry.policy)
    }

    /// Sets how runs treat the calls of the registered tool `name`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if no tool of that name is registered.
    pub fn with_policy(mut self, name: &str, policy: ToolPolicy) -> Result<Self, ConfigError> {
        self.entry(name)?.policy = policy;
        Ok(self)
    }

    /// Sets whether calls of the registered tool `name` wait for approval.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if no tool of that name is registered.
    pub fn with_approval(mut self, name: &str, approval: Approval) -> Result<Self, ConfigError> {
        self.entry(name)?.policy.approval = approval;
        Ok(self)
    }

    /// Sets what a resumed run does with an interrupted call of the registered tool `name`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if no tool of that name is registered.
    pub fn with_on_interrupt(
        mut self,
        name: &str,
        on_interrupt: OnInterrupt,
    ) -> Result<Self, ConfigError> {
        self.entry(name)?.policy.on_interrupt = on_interrupt;
        Ok(self)
    }

    /// Whether no call of these tools waits for approval or is tracked by the ledger: a step
    /// calling only them needs nothing but its commit.
    #[must_use]
    pub(crate) fn untracked(&self) -> bool {
        self.tools.values().all(|entry| {
            !entry.policy.tracked() && matches!(entry.policy.approval, Approval::Never)
        })
    }

    fn entry(&mut self, name: &str) -> Result<&mut Entry, ConfigError> {
        self.tools
            .get_mut(name)
            .ok_or_else(|| ConfigError(format!("no tool named {name:?} is registered")))
    }

    /// Whether a tool named `name` is registered.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.tools.contains_key(name)
    }

    /// Specs of all tools, in registration order.
    #[must_use]
    pub fn specs(&self) -> &[ToolSpec] {
        &self.specs
    }

    /// How many tools are registered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether no tool is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }
}

/// Whether `name` is a tool name model APIs accept: 1 to 64 characters from `[a-zA-Z0-9_-]`.
///
/// ```
/// assert!(baton_core::tool::is_tool_name("order_lookup-2"));
/// assert!(!baton_core::tool::is_tool_name("order lookup"));
/// ```
#[must_use]
pub fn is_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// [`is_tool_name`], as a configuration error that says the rule.
pub(crate) fn validate_tool_name(name: &str) -> Result<(), ConfigError> {
    if is_tool_name(name) {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "tool name {name:?} is invalid: use 1 to 64 characters from a-z, A-Z, 0-9, '_' and '-'"
        )))
    }
}
