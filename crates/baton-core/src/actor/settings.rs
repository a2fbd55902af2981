//! What a caller says about one run request: [`RunSettings`], [`BusyThread`].

use crate::run::RunOptions;

/// What a run request does when its thread is busy with another run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BusyThread {
    /// Wait for the other run to end (the default).
    #[default]
    Wait,
    /// Fail at once with [`SupervisorError::ThreadBusy`](super::SupervisorError::ThreadBusy).
    Fail,
}

/// Per-request settings of [`Supervisor::run_with`](super::Supervisor::run_with).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RunSettings {
    /// Limits for this run instead of the agent's own.
    pub options: Option<RunOptions>,
    /// What to do when the thread is busy.
    pub busy_thread: BusyThread,
    /// Typed data for the run's tools, guardrails and provider (see
    /// [`RunContext::extension`](crate::context::RunContext::extension)).
    pub extensions: http::Extensions,
}

impl RunSettings {
    /// Uses `options` for this run.
    #[must_use]
    pub fn with_options(mut self, options: RunOptions) -> Self {
        self.options = Some(options);
        self
    }

    /// Attaches `value` to the run: its tools, guardrails and provider can read it (one value
    /// per type; a second of the same type replaces the first).
    #[must_use]
    pub fn with_extension<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.extensions.insert(value);
        self
    }

    /// Sets the busy-thread policy.
    #[must_use]
    pub fn with_busy_thread(mut self, busy: BusyThread) -> Self {
        self.busy_thread = busy;
        self
    }
}
