use super::contain::contained;
use crate::context::RunContext;
use crate::error::{GuardStage, PanicSite, RunError};
use crate::llm::{ChatRequest, ChatResponse};
use async_trait::async_trait;
use std::sync::Arc;

/// A guardrail's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on.
    Allow,
    /// Stop the run with [`RunError::Refused`], giving the reason.
    Refuse(String),
}

/// A check on what goes to the model and what comes back.
///
/// Both checks default to [`Verdict::Allow`]; implement the ones you need. Each gets the
/// [`RunContext`]: the run, thread, agent and step it checks, and the caller's extensions.
///
/// ```
/// use baton_core::context::RunContext;
/// use baton_core::run::{Guardrail, Verdict};
/// use baton_core::llm::ChatRequest;
///
/// struct NoSecrets;
///
/// #[async_trait::async_trait]
/// impl Guardrail for NoSecrets {
///     fn name(&self) -> &str { "no-secrets" }
///     async fn check_request(&self, request: &ChatRequest, _run: &RunContext<'_>) -> Verdict {
///         match request.last_user_text() {
///             Some(text) if text.contains("password") => Verdict::Refuse("asks for a password".into()),
///             _ => Verdict::Allow,
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait Guardrail: Send + Sync + 'static {
    /// A short name for logs.
    fn name(&self) -> &str;

    /// Checks a request before it is sent to the model.
    async fn check_request(&self, _request: &ChatRequest, _run: &RunContext<'_>) -> Verdict {
        Verdict::Allow
    }

    /// Checks a model's complete response, before its tool calls run or it is recorded.
    async fn check_response(
        &self,
        _request: &ChatRequest,
        _response: &ChatResponse,
        _run: &RunContext<'_>,
    ) -> Verdict {
        Verdict::Allow
    }
}

impl std::fmt::Debug for dyn Guardrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Guardrail({})", self.name())
    }
}

/// Runs the request checks in order; the first refusal ends the run. A guardrail that panics
/// fails the run with [`RunError::Panicked`].
pub(crate) async fn check_pre_llm(
    guardrails: &[Arc<dyn Guardrail>],
    request: &ChatRequest,
    run: &RunContext<'_>,
) -> Result<(), RunError> {
    for guardrail in guardrails {
        let verdict =
            contained(PanicSite::Guardrail, guardrail.check_request(request, run)).await?;
        refuse_on(guardrail.as_ref(), GuardStage::Request, verdict)?;
    }
    Ok(())
}

/// Runs the response checks in order; the first refusal ends the run.
pub(crate) async fn check_post_llm(
    guardrails: &[Arc<dyn Guardrail>],
    request: &ChatRequest,
    response: &ChatResponse,
    run: &RunContext<'_>,
) -> Result<(), RunError> {
    for guardrail in guardrails {
        let verdict = contained(
            PanicSite::Guardrail,
            guardrail.check_response(request, response, run),
        )
        .await?;
        refuse_on(guardrail.as_ref(), GuardStage::Response, verdict)?;
    }
    Ok(())
}

fn refuse_on(
    guardrail: &dyn Guardrail,
    stage: GuardStage,
    verdict: Verdict,
) -> Result<(), RunError> {
    match verdict {
        Verdict::Allow => Ok(()),
        Verdict::Refuse(reason) => {
            tracing::info!(guardrail = guardrail.name(), %stage, %reason, "guardrail refused");
            Err(RunError::Refused {
                guardrail: guardrail.name().to_owned(),
                stage,
                reason,
            })
        }
    }
}
