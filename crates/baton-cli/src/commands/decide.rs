//! `baton runs resume|pending|approve|reject`: take recorded runs up again — interrupted
//! ones, and paused ones once their waiting calls are decided.

use super::next::NextCommands;
use super::run::{SHUTDOWN_GRACE, conclude, follow};
use super::store::store_spec;
use super::{Exit, load_with};
use crate::cli::{GoOnArgs, StoreArgs};
use crate::error::CliError;
use crate::interrupt::Interrupts;
use crate::render::{Printer, one_line, timestamp};
use baton_core::actor::{Decided, Supervisor, SupervisorError};
use baton_core::ids::RunId;
use baton_core::memory::Decision;
use baton_core::run::{PendingApproval, RunStream, pending_approvals};

/// How much of a call's arguments a listing shows.
const ARGUMENT_CHARS: usize = 120;

/// `baton runs resume`: continues an interrupted run from its last completed step.
pub(crate) async fn resume(id: RunId, args: &GoOnArgs) -> Result<Exit, CliError> {
    let (supervisor, next) = build(args, "resuming a run").await?;
    let mut printer = Printer::new().verbose(args.verbose);
    printer.note(&format!("resuming run {id}"))?;
    let stream = supervisor.resume(id).await;
    go_on(id, &supervisor, &next, &mut printer, stream).await
}

/// `baton runs approve` and `baton runs reject`: records the decision on call `call`; when no
/// call of the step waits any more, the run goes on here and is followed like `baton run`.
pub(crate) async fn decide(
    id: RunId,
    call: &str,
    decision: Decision,
    args: &GoOnArgs,
) -> Result<Exit, CliError> {
    let (supervisor, next) = build(args, "deciding a call").await?;
    let mut printer = Printer::new().verbose(args.verbose);
    let waiting = match supervisor.decide(id, call, decision.clone()).await {
        Ok(Decided::Resumed(stream)) => {
            printer.decision(call, &decision)?;
            printer.note(&format!("continuing run {id}: no call waits any more"))?;
            return go_on(id, &supervisor, &next, &mut printer, Ok(stream)).await;
        }
        Ok(Decided::Waiting { pending }) => Ok(Some(pending)),
        // An outcome this build does not know: nothing to follow here.
        Ok(_) => Ok(None),
        Err(error) => Err(CliError::Decision {
            error,
            next: Box::new(next.clone()),
        }),
    };
    supervisor.shutdown(SHUTDOWN_GRACE).await;
    let waiting = waiting?;
    printer.decision(call, &decision)?;
    match waiting {
        Some(pending) => Ok(next.paused(&mut printer, id, None, &pending)?),
        None => Ok(Exit::Success),
    }
}

/// `baton runs pending`: the calls of a paused run that wait for approval, one a line, and
/// how to decide each.
pub(crate) async fn pending(id: RunId, args: &StoreArgs) -> Result<Exit, CliError> {
    let spec = store_spec(args)?;
    let log = spec.open().await?.episodes(id).await?;
    if log.is_empty() {
        return Err(SupervisorError::UnknownRun(id).into());
    }
    let mut printer = Printer::new();
    let pending = pending_approvals(id, &log);
    if pending.is_empty() {
        let state = if log.iter().any(|record| record.episode.is_terminal()) {
            "it finished"
        } else {
            "it is not paused"
        };
        printer.note(&format!("no call of run {id} waits for approval: {state}"))?;
        return Ok(Exit::Success);
    }
    for call in &pending {
        printer.line(&pending_line(call))?;
    }
    NextCommands::new(args.file.as_deref(), args.store.as_ref(), None, &spec).how_to_decide(
        &mut printer,
        id,
        &pending,
    )?;
    Ok(Exit::Success)
}

/// A waiting call: `call_1  refund {"key":"A-1"}  step 2, expires …`.
fn pending_line(call: &PendingApproval) -> String {
    let expiry = call
        .expires_at_ms
        .map_or_else(String::new, |at| format!(", expires {}", timestamp(at)));
    format!(
        "{}  {} {}  step {}{expiry}",
        call.call_id,
        call.tool,
        one_line(&call.arguments, ARGUMENT_CHARS),
        call.step
    )
}

/// The topology of `--file` built, with `--store` and `--provider` applied, and the flags to
/// repeat in later commands; `doing` says what needs the file when it is missing.
async fn build(args: &GoOnArgs, doing: &str) -> Result<(Supervisor, NextCommands), CliError> {
    let Some(file) = &args.store.file else {
        return Err(CliError::Usage(format!(
            "{doing} needs its topology: add --file FILE"
        )));
    };
    let topology = load_with(file, args.store.store.as_ref(), args.provider.as_deref())?;
    let next = NextCommands::new(
        Some(file),
        args.store.store.as_ref(),
        args.provider.as_deref(),
        topology.store(),
    );
    Ok((topology.build().await?, next))
}

/// Follows run `id`, taken up on `stream`, to its end (or its next pause), then shuts the
/// supervisor down.
async fn go_on(
    id: RunId,
    supervisor: &Supervisor,
    next: &NextCommands,
    printer: &mut Printer,
    stream: Result<RunStream, SupervisorError>,
) -> Result<Exit, CliError> {
    let result = match (stream, Interrupts::new()) {
        (Ok(stream), Ok(mut interrupts)) => {
            follow(supervisor, stream, printer, &mut interrupts).await
        }
        (Err(error), _) => Err(error.into()),
        (_, Err(error)) => Err(error.into()),
    };
    supervisor.shutdown(SHUTDOWN_GRACE).await;
    let (_, outcome) = result?;
    conclude(outcome, id, None, printer, next)
}
