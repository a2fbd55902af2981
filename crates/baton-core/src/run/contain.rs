//! Containing panics: code a run calls (a provider, a guardrail, a store) may panic; the run
//! then fails with [`RunError::Panicked`] saying where, instead of its task dying silently.

use crate::error::{PanicSite, RunError};
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// Awaits `future`, turning a panic inside it into [`RunError::Panicked`] at `site`.
///
/// Unwind safety: a panicking callee leaves nothing of the run's half-updated (the run's state
/// changes only after the call returns), so asserting it is sound.
pub(crate) async fn contained<T>(
    site: PanicSite,
    future: impl Future<Output = T>,
) -> Result<T, RunError> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|payload| RunError::panicked(site, payload.as_ref()))
}

/// [`contained`], for a future that may also fail with an error of its own.
pub(crate) async fn contained_try<T, E: Into<RunError>>(
    site: PanicSite,
    future: impl Future<Output = Result<T, E>>,
) -> Result<T, RunError> {
    contained(site, future).await?.map_err(Into::into)
}
