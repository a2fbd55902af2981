use super::guardrails::Guardrail;
use std::sync::Arc;
use std::time::Duration;

/// Limits and policies of one run.
///
/// ```
/// use baton_core::run::RunOptions;
/// use std::time::Duration;
///
/// let options = RunOptions::default()
///     .with_max_steps(5)
///     .with_tool_timeout(Duration::from_secs(10));
/// assert_eq!(options.max_steps, 5);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RunOptions {
    /// Most model calls in one run (per agent, in the actor layer). `0` fails at once.
    pub max_steps: u32,
    /// Token budget of the history sent to the model, system message included. Older messages
    /// are cut first; a tool call and its results are never separated.
    pub max_history_tokens: u32,
    /// Most bytes of text and tool arguments in one model response.
    pub max_response_bytes: usize,
    /// How long one tool call may run.
    pub tool_timeout: Duration,
    /// Retry of provider calls that fail before the first chunk.
    pub retry: RetryPolicy,
    /// Checks before each provider call and on each response.
    pub guardrails: Arc<[Arc<dyn Guardrail>]>,
    /// How long the run's lease lasts unless renewed. The run renews it every third of this
    /// while it works; if the process dies, another may take the run over this long after.
    pub lease_ttl: Duration,
    /// How long a call waits for approval before it is rejected as expired; `None` (the
    /// default) waits as long as it takes.
    pub approval_timeout: Option<Duration>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            max_steps: 10,
            max_history_tokens: 100_000,
            max_response_bytes: 1024 * 1024,
            tool_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            guardrails: Arc::from([]),
            lease_ttl: Duration::from_secs(30),
            approval_timeout: None,
        }
    }
}

impl RunOptions {
    /// Sets [`max_steps`](Self::max_steps).
    #[must_use]
    pub fn with_max_steps(mut self, max_steps: u32) -> Self {
        self.max_steps = max_steps;
        self
    }

    /// Sets [`max_history_tokens`](Self::max_history_tokens).
    #[must_use]
    pub fn with_max_history_tokens(mut self, tokens: u32) -> Self {
        self.max_history_tokens = tokens;
        self
    }

    /// Sets [`max_response_bytes`](Self::max_response_bytes).
    #[must_use]
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Sets [`tool_timeout`](Self::tool_timeout).
    #[must_use]
    pub fn with_tool_timeout(mut self, timeout: Duration) -> Self {
        self.tool_timeout = timeout;
        self
    }

    /// Sets the [`retry`](Self::retry) policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets [`lease_ttl`](Self::lease_ttl) (at least one millisecond).
    #[must_use]
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// Sets [`approval_timeout`](Self::approval_timeout).
    #[must_use]
    pub fn with_approval_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.approval_timeout = timeout;
        self
    }

    /// Adds a guardrail.
    #[must_use]
    pub fn with_guardrail(mut self, guardrail: impl Guardrail) -> Self {
        let mut all = self.guardrails.to_vec();
        all.push(Arc::new(guardrail));
        self.guardrails = all.into();
        self
    }
}

/// Exponential backoff with jitter for provider calls that fail before their first chunk.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (`0` disables retrying).
    pub max_retries: u32,
    /// Delay before the first retry.
    pub initial_backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
    /// Whether delays are randomized, so that many runs do not retry in lockstep.
    pub jitter: bool,
    /// Longest `Retry-After` the run will wait for; a provider asking for more ends the run.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            jitter: true,
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    #[must_use]
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Sets [`max_retries`](Self::max_retries).
    #[must_use]
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets the first and longest delays.
    #[must_use]
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// Turns jitter on or off.
    #[must_use]
    pub fn with_jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }
}
