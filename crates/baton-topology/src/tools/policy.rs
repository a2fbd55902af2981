//! How a file says runs treat a tool's calls: whether they wait for a person's approval,
//! whether the tool only reads, and what a call a crash interrupted does. What the file leaves
//! out, the tool declares.

use baton_core::agent::AgentBuilder;
use baton_core::tool::{Approval, OnInterrupt};

/// The words `approval` accepts, as [`Approval::named`] reads them.
pub(crate) const APPROVALS: &[&str] = &["never", "always"];

/// The words `on_interrupt` accepts, as [`OnInterrupt::named`] reads them.
pub(crate) const ON_INTERRUPT: &[&str] = &["retry", "fail", "ask"];

/// A `[tools.NAME]` table's `approval`, `read_only` and `on_interrupt`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallPolicy {
    pub(crate) approval: Approval,
    /// `None`: what the tool declares.
    pub(crate) read_only: Option<bool>,
    /// `None`: what the tool declares (for a `read_only` set in the file, what that implies).
    pub(crate) on_interrupt: Option<OnInterrupt>,
}

impl CallPolicy {
    /// Whether calls wait for a person's approval.
    pub(crate) const fn needs_approval(&self) -> bool {
        !matches!(self.approval, Approval::Never)
    }

    /// Sets the approval and interrupt policy of the tool `name`, added to `agent` before.
    pub(crate) fn apply_to(&self, name: &str, agent: AgentBuilder) -> AgentBuilder {
        let agent = agent.approval(name, self.approval.clone());
        match self.on_interrupt {
            Some(on_interrupt) => agent.on_interrupt(name, on_interrupt),
            None => agent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_a_file_may_write_is_one_core_reads() {
        for word in APPROVALS {
            assert!(Approval::named(word).is_some(), "{word}");
        }
        for word in ON_INTERRUPT {
            assert_eq!(
                OnInterrupt::named(word).map(OnInterrupt::as_str),
                Some(*word)
            );
        }
    }
}
