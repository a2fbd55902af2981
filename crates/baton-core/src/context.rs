//! The run context: what a tool, a guardrail or a provider knows of the run it acts for.
//!
//! A run's fixed facts (its id, thread, agent and the caller's typed
//! [`Extensions`](http::Extensions)) live in one [`RunScope`], made once per agent's part of
//! the run and shared; the per-call views ([`RunContext`], [`ToolContext`]) borrow it, so
//! handing a context to every call costs nothing.
//!
//! The caller attaches extensions per run (the server attaches the tenant; an embedder its
//! user or request data); the type map is `http`'s, so a request's extensions can be passed on
//! as they are.
//!
//! ```
//! use baton_core::context::{RunScope, RunContext};
//! use baton_core::ids::{AgentName, RunId, ThreadId};
//! use tokio_util::sync::CancellationToken;
//!
//! #[derive(Clone)]
//! struct User(&'static str);
//!
//! let mut extensions = http::Extensions::new();
//! extensions.insert(User("ada"));
//! let agent = AgentName::new("helper").unwrap();
//! let scope = RunScope::new(RunId::new(), ThreadId::new(), agent, extensions.into(), CancellationToken::new());
//! let ctx = RunContext::new(&scope, 1);
//! assert_eq!(ctx.extension::<User>().map(|u| u.0), Some("ada"));
//! let tool = ctx.for_call("call_7");
//! assert_eq!(tool.idempotency_key(), format!("{}:1:call_7", scope.run_id()));
//! ```

use crate::ids::{AgentName, RunId, ThreadId};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What is fixed for one agent's part of a run: shared by every request, check and tool call
/// of it.
#[derive(Debug, Clone)]
pub struct RunScope {
    run_id: RunId,
    thread: ThreadId,
    agent: AgentName,
    extensions: Arc<http::Extensions>,
    cancel: CancellationToken,
}

impl RunScope {
    /// A scope for `agent`'s part of run `run_id` on `thread`, cancelled by `cancel`.
    #[must_use]
    pub fn new(
        run_id: RunId,
        thread: ThreadId,
        agent: AgentName,
        extensions: Arc<http::Extensions>,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            run_id,
            thread,
            agent,
            extensions,
            cancel,
        }
    }

    /// The context of step `step` (from 1).
    #[must_use]
    pub fn context(&self, step: u32) -> RunContext<'_> {
        RunContext::new(self, step)
    }

    /// The run's id.
    #[must_use]
    pub fn run_id(&self) -> RunId {
        self.run_id
    }

    /// The thread the run writes.
    #[must_use]
    pub fn thread(&self) -> ThreadId {
        self.thread
    }

    /// The agent working on the run.
    #[must_use]
    pub fn agent(&self) -> &AgentName {
        &self.agent
    }

    /// The typed extensions the caller attached to the run.
    #[must_use]
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }
}

/// The run as a guardrail sees it: the scope and the step.
#[derive(Debug, Clone, Copy)]
pub struct RunContext<'a> {
    scope: &'a RunScope,
    step: u32,
}

/// `extensions`, shared; no extensions (the common case) share one empty map, so a run that has
/// none allocates none.
pub(crate) fn share(extensions: http::Extensions) -> Arc<http::Extensions> {
    static EMPTY: std::sync::LazyLock<Arc<http::Extensions>> =
        std::sync::LazyLock::new(Arc::default);
    if extensions.is_empty() {
        Arc::clone(&EMPTY)
    } else {
        Arc::new(extensions)
    }
}

/// The scope of calls made outside any run.
static STANDALONE: std::sync::LazyLock<RunScope> = std::sync::LazyLock::new(|| {
    let agent = AgentName::new("standalone").expect("\"standalone\" is a valid agent name");
    RunScope::new(
        RunId::new(),
        ThreadId::new(),
        agent,
        Arc::default(),
        CancellationToken::new(),
    )
});

impl RunContext<'static> {
    /// A context for calling a guardrail outside any run (tests, scripts): one process-wide
    /// run id and thread, the agent `standalone`, step 1, no extensions, never cancelled.
    #[must_use]
    pub fn standalone() -> Self {
        STANDALONE.context(1)
    }
}

impl ToolContext<'static> {
    /// A context for calling a tool outside any run (tests, scripts): see
    /// [`RunContext::standalone`]; the call id is `standalone`, so every such call has the same
    /// idempotency key.
    ///
    /// ```
    /// use baton_core::context::ToolContext;
    ///
    /// let ctx = ToolContext::standalone();
    /// assert_eq!(ctx.run().agent().as_str(), "standalone");
    /// ```
    #[must_use]
    pub fn standalone() -> &'static Self {
        static CALL: std::sync::LazyLock<ToolContext<'static>> =
            std::sync::LazyLock::new(|| RunContext::standalone().for_call("standalone"));
        &CALL
    }
}

impl<'a> RunContext<'a> {
    /// The context of step `step` (from 1) of `scope`'s run.
    #[must_use]
    pub fn new(scope: &'a RunScope, step: u32) -> Self {
        Self { scope, step }
    }

    /// The run's id.
    #[must_use]
    pub fn run_id(&self) -> RunId {
        self.scope.run_id
    }

    /// The thread the run writes.
    #[must_use]
    pub fn thread(&self) -> ThreadId {
        self.scope.thread
    }

    /// The agent working on the run.
    #[must_use]
    pub fn agent(&self) -> &'a AgentName {
        &self.scope.agent
    }

    /// The step, from 1, counted over the whole run (across handoffs).
    #[must_use]
    pub fn step(&self) -> u32 {
        self.step
    }

    /// Fires when the run is cancelled: long work should stop then.
    #[must_use]
    pub fn cancel(&self) -> &'a CancellationToken {
        &self.scope.cancel
    }

    /// The extension of type `T` the caller attached, if any.
    #[must_use]
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&'a T> {
        self.scope.extensions.get::<T>()
    }

    /// The whole scope.
    #[must_use]
    pub fn scope(&self) -> &'a RunScope {
        self.scope
    }

    /// The context of one tool call of this step.
    #[must_use]
    pub fn for_call(self, call_id: &'a str) -> ToolContext<'a> {
        ToolContext { run: self, call_id }
    }
}

/// The run as a tool sees it: the [`RunContext`] and the id of the call being made.
#[derive(Debug, Clone, Copy)]
pub struct ToolContext<'a> {
    run: RunContext<'a>,
    call_id: &'a str,
}

impl<'a> ToolContext<'a> {
    /// The run's context.
    #[must_use]
    pub fn run(&self) -> &RunContext<'a> {
        &self.run
    }

    /// The id of this call, as the model gave it. Stored with the step, it stays the same when
    /// a run is resumed.
    #[must_use]
    pub fn call_id(&self) -> &'a str {
        self.call_id
    }

    /// A key unique to this call across runs, stable across a resume: the run id, the step
    /// and the call id (the step, because some models number their calls afresh in each
    /// response). A tool with side effects can hand it to the service it calls to make the
    /// call idempotent.
    #[must_use]
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}:{}", self.run.run_id(), self.run.step(), self.call_id)
    }

    /// The extension of type `T` the caller attached, if any.
    #[must_use]
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&'a T> {
        self.run.extension::<T>()
    }
}

/// What a provider may know of the request's run: shared with the run, so attaching it to
/// each request costs a reference count.
#[derive(Debug, Clone)]
pub struct RequestRun {
    /// The run's scope.
    pub scope: Arc<RunScope>,
    /// The step this request is for, from 1.
    pub step: u32,
}

/// Requests of the same run, agent and step are equal (extensions are not compared).
impl PartialEq for RequestRun {
    fn eq(&self, other: &Self) -> bool {
        self.step == other.step
            && self.scope.run_id == other.scope.run_id
            && self.scope.thread == other.scope.thread
            && self.scope.agent == other.scope.agent
    }
}
