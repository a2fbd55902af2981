use crate::error::Error;
use crate::llm::{ChatRequest, ChatResponse};
use async_trait::async_trait;
use std::sync::Arc;

/// A guardrail's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on.
    Allow,
    /// Stop the run with [`Error::Refused`].
    Refuse(String),
}

/// A check on what goes to the model and what comes back.
///
/// Both checks default to [`Verdict::Allow`]; implement the ones you need.
///
/// ```
/// use baton_core::run::{Guardrail, Verdict};
/// use baton_core::llm::ChatRequest;
///
/// struct NoSecrets;
///
/// #[async_trait::async_trait]
/// impl Guardrail for NoSecrets {
///     fn name(&self) -> &str { "no-secrets" }
///     async fn check_request(&self, request: &ChatRequest) -> Verdict {
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
    async fn check_request(&self, _request: &ChatRequest) -> Verdict {
        Verdict::Allow
    }

    /// Checks a model's complete response, before its tool calls run or it is recorded.
    async fn check_response(&self, _request: &ChatRequest, _response: &ChatResponse) -> Verdict {
        Verdict::Allow
    }
}

impl std::fmt::Debug for dyn Guardrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Guardrail({})", self.name())
    }
}

/// Runs the request checks in order; the first refusal ends the run.
pub(crate) async fn check_pre_llm(
    guardrails: &[Arc<dyn Guardrail>],
    request: &ChatRequest,
) -> Result<(), Error> {
    for guardrail in guardrails {
        refuse_on(guardrail.as_ref(), guardrail.check_request(request).await)?;
    }
    Ok(())
}

/// Runs the response checks in order; the first refusal ends the run.
pub(crate) async fn check_post_llm(
    guardrails: &[Arc<dyn Guardrail>],
    request: &ChatRequest,
    response: &ChatResponse,
) -> Result<(), Error> {
    for guardrail in guardrails {
        refuse_on(
            guardrail.as_ref(),
            guardrail.check_response(request, response).await,
        )?;
    }
    Ok(())
}

fn refuse_on(guardrail: &dyn Guardrail, verdict: Verdict) -> Result<(), Error> {
    match verdict {
        Verdict::Allow => Ok(()),
        Verdict::Refuse(reason) => {
            tracing::info!(guardrail = guardrail.name(), %reason, "guardrail refused");
            Err(Error::Refused { reason })
        }
    }
}
