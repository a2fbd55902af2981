//! The one place a run's end is recorded and told: a leased run ([`end_run`]: its failure
//! classified, redacted, logged and recorded with the lease's release; then the terminal
//! event) and a run that never took its lease ([`end_unstarted`]: only told).

use super::contain::contained_try;
use super::event::{EventSink, RunEvent, RunOutput};
use crate::error::{PanicSite, RunError, StoreError};
use crate::memory::{Episode, Lease, Store};

/// Ends a leased run; see [`RunLoop::end`](super::RunLoop::end).
pub(super) async fn end_run(
    store: &dyn Store,
    lease: &Lease,
    agent: &str,
    sink: Option<&EventSink>,
    outcome: Result<RunOutput, RunError>,
    released: impl FnOnce(),
) -> Result<RunOutput, RunError> {
    let outcome = outcome.map_err(|error| classify(error, sink));
    let terminal = match &outcome {
        Ok(_) => None,
        Err(error) => {
            tracing::warn!(run_id = %lease.run, %agent, kind = %error.kind(), %error, "run failed");
            Some(Episode::failed(error))
        }
    };
    match contained_try(
        PanicSite::Store,
        store.release_lease(lease, terminal.as_ref()),
    )
    .await
    {
        Ok(()) => {}
        Err(RunError::Store {
            error: StoreError::LeaseLost { .. },
        }) => {
            tracing::warn!(run_id = %lease.run, "the run's lease was lost: its new driver ends it");
        }
        Err(error) => {
            tracing::error!(run_id = %lease.run, %error, "could not end the run in the store");
        }
    }
    released();
    if let Some(sink) = sink {
        sink.end(terminal_event(&outcome));
    }
    outcome
}

/// Ends a run that never took its lease (it waited for its thread or a permit, or was
/// refused the lease): nothing was written, so nothing is recorded; the consumer is told.
pub(crate) fn end_unstarted(sink: &EventSink, run: crate::ids::RunId, error: RunError) -> RunError {
    let error = classify(error, Some(sink));
    tracing::info!(run_id = %run, kind = %error.kind(), %error, "run ended before it started");
    sink.end(RunEvent::Failed {
        error: error.clone(),
    });
    error
}

/// A cancellation seen after the consumer dropped its stream is the consumer leaving; every
/// failure's text is redacted on its way out.
fn classify(error: RunError, sink: Option<&EventSink>) -> RunError {
    match error {
        RunError::Cancelled if sink.is_some_and(EventSink::consumer_gone) => RunError::ConsumerGone,
        error => error.redacted(),
    }
}

fn terminal_event(outcome: &Result<RunOutput, RunError>) -> RunEvent {
    match outcome {
        Ok(output) => RunEvent::Completed {
            output: output.output.clone(),
            usage: output.usage,
        },
        Err(error) => RunEvent::Failed {
            error: error.clone(),
        },
    }
}
