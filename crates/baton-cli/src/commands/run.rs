//! `baton run` and `baton chat`: start runs and follow their events in the terminal.

use super::next::NextCommands;
use super::{Exit, ask, load};
use crate::cli::{ChatArgs, ConversationArgs, RunArgs};
use crate::error::CliError;
use crate::interrupt::Interrupts;
use crate::render::Printer;
use baton_core::actor::Supervisor;
use baton_core::error::RunError;
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::Usage;
use baton_core::run::{PendingApproval, RunEvent, RunStream};
use baton_topology::Topology;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// How long runs get to finish when the command ends.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How a followed run ended.
pub(crate) enum Outcome {
    /// It answered, with the tokens it used.
    Completed(Usage),
    /// It paused: these calls wait for approval.
    Paused(Vec<PendingApproval>),
    /// It failed.
    Failed(RunError),
    /// The user interrupted it.
    Cancelled,
}

/// A topology built and running, ready for a conversation.
struct Conversation {
    supervisor: Supervisor,
    /// The agent each run starts with.
    agent: String,
    thread: ThreadId,
    /// How to decide the calls of a run that pauses.
    next: NextCommands,
}

/// `baton run`: one message, its run followed to its end or its pause.
pub(crate) async fn run(args: RunArgs) -> Result<Exit, CliError> {
    let Conversation {
        supervisor,
        agent,
        thread,
        next,
    } = start(&args.conversation).await?;
    let message = args.message.join(" ");
    let mut interrupts = Interrupts::new()?;
    let mut printer = Printer::new().verbose(args.conversation.verbose);
    printer.note(&format!("thread {thread}"))?;
    let result = match supervisor.run(&agent, thread, message).await {
        Ok(stream) => follow(&supervisor, stream, &mut printer, &mut interrupts).await,
        Err(error) => Err(error.into()),
    };
    supervisor.shutdown(SHUTDOWN_GRACE).await;
    let (run_id, outcome) = result?;
    let exit = conclude(outcome, run_id, Some(thread), &mut printer, &next)?;
    if exit == Exit::Success {
        printer.note(&format!("run {run_id} on thread {thread}"))?;
        printer.note(&format!(
            "continue with: baton run {} --thread {thread} \"…\"",
            args.conversation.topology.file.display()
        ))?;
    }
    Ok(exit)
}

/// The end of a command that followed run `run_id` (on `thread`, if known): its usage, the
/// calls to decide, or its error.
pub(crate) fn conclude(
    outcome: Outcome,
    run_id: RunId,
    thread: Option<ThreadId>,
    printer: &mut Printer,
    next: &NextCommands,
) -> Result<Exit, CliError> {
    match outcome {
        Outcome::Completed(usage) => {
            printer.usage(&usage)?;
            Ok(Exit::Success)
        }
        Outcome::Paused(pending) => Ok(next.paused(printer, run_id, thread, &pending)?),
        Outcome::Cancelled => {
            printer.note(&format!("cancelled run {run_id}"))?;
            Ok(Exit::Cancelled)
        }
        Outcome::Failed(error) => Err(CliError::RunFailed(error)),
    }
}

/// `baton chat`: a run per line of input on one thread, asking about the calls that wait.
pub(crate) async fn chat(args: ChatArgs) -> Result<Exit, CliError> {
    let conversation = start(&args.conversation).await?;
    let mut interrupts = Interrupts::new()?;
    let mut printer = Printer::new().verbose(args.conversation.verbose);
    printer.note(&format!(
        "thread {}: talking to {}; /quit or end of input to leave",
        conversation.thread, conversation.agent
    ))?;
    let result = converse(&conversation, &mut printer, &mut interrupts).await;
    conversation.supervisor.shutdown(SHUTDOWN_GRACE).await;
    result
}

async fn converse(
    conversation: &Conversation,
    printer: &mut Printer,
    interrupts: &mut Interrupts,
) -> Result<Exit, CliError> {
    let Conversation {
        supervisor,
        agent,
        thread,
        next,
    } = conversation;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        printer.prompt("you> ")?;
        let line = tokio::select! {
            line = lines.next_line() => line?,
            () = interrupts.next() => {
                printer.line("")?;
                return Ok(Exit::Cancelled);
            }
        };
        let Some(line) = line else {
            printer.line("")?;
            return Ok(Exit::Success);
        };
        let message = line.trim();
        if message.is_empty() {
            continue;
        }
        if message == "/quit" || message == "/exit" {
            return Ok(Exit::Success);
        }
        printer.reset();
        let stream = supervisor.run(agent, *thread, message).await?;
        let mut asking = ask::Asking::new(supervisor, printer, interrupts, &mut lines);
        if let Some(exit) = turn(stream, &mut asking, next, *thread).await? {
            return Ok(exit);
        }
    }
}

/// Follows one turn's run to its end, asking about the calls of each pause; the exit if the
/// chat ends with it (the operator left while calls waited).
async fn turn(
    stream: RunStream,
    asking: &mut ask::Asking<'_>,
    next: &NextCommands,
    thread: ThreadId,
) -> Result<Option<Exit>, CliError> {
    let (run_id, mut outcome) =
        follow(asking.supervisor, stream, asking.printer, asking.interrupts).await?;
    loop {
        let pending = match outcome {
            Outcome::Paused(pending) => pending,
            Outcome::Completed(usage) => {
                asking.printer.usage(&usage)?;
                return Ok(None);
            }
            Outcome::Cancelled => {
                asking.printer.note("cancelled")?;
                return Ok(None);
            }
            Outcome::Failed(error) => {
                let error = format!("error: the run failed: {error}");
                asking.printer.note(&error)?;
                return Ok(None);
            }
        };
        outcome = match asking.decide_all(run_id, pending).await {
            Ok(ask::Asked::Went(went_on)) => went_on,
            Ok(ask::Asked::Nothing) => return Ok(None),
            Ok(ask::Asked::Left(pending, exit)) => {
                next.paused(asking.printer, run_id, Some(thread), &pending)?;
                return Ok(Some(exit));
            }
            // A refused decision ends the turn, not the chat.
            Err(CliError::Supervisor(error)) => {
                asking.printer.note(&format!("error: {error}"))?;
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
    }
}

/// Prints a run's events until it ends. The first interrupt cancels the run and waits for it
/// to record its end; a second stops waiting.
pub(crate) async fn follow(
    supervisor: &Supervisor,
    mut stream: RunStream,
    printer: &mut Printer,
    interrupts: &mut Interrupts,
) -> Result<(RunId, Outcome), CliError> {
    let run_id = stream.run_id();
    let mut cancelling = false;
    loop {
        let event = tokio::select! {
            event = stream.next_event() => event,
            () = interrupts.next() => {
                if cancelling {
                    return Ok((run_id, Outcome::Cancelled));
                }
                cancelling = true;
                supervisor.cancel(run_id);
                printer.note("interrupted: cancelling the run…")?;
                continue;
            }
        };
        let Some(event) = event else {
            return Ok((run_id, Outcome::Cancelled));
        };
        printer.event(&event)?;
        match event {
            RunEvent::Completed { usage, .. } => return Ok((run_id, Outcome::Completed(usage))),
            RunEvent::Failed { .. } if cancelling => return Ok((run_id, Outcome::Cancelled)),
            RunEvent::Failed { error } => return Ok((run_id, Outcome::Failed(error))),
            RunEvent::Paused { pending, .. } => return Ok((run_id, Outcome::Paused(pending))),
            _ => {}
        }
    }
}

/// The topology built and running, the agent to start with and the thread, as `args` ask.
async fn start(args: &ConversationArgs) -> Result<Conversation, CliError> {
    let topology = load(&args.topology)?;
    let agent = start_agent(&topology, args.agent.as_deref())?;
    let next = NextCommands::new(
        Some(&args.topology.file),
        args.topology.store.as_ref(),
        args.topology.provider.as_deref(),
        topology.store(),
    );
    let supervisor = topology.build().await?;
    Ok(Conversation {
        supervisor,
        agent,
        thread: args.thread.unwrap_or_default(),
        next,
    })
}

/// The agent to start with: the one asked for, if the topology has it, or its entry.
pub(crate) fn start_agent(topology: &Topology, asked: Option<&str>) -> Result<String, CliError> {
    let Some(asked) = asked else {
        return Ok(topology.entry().to_string());
    };
    if topology.agent_names().any(|name| name.as_str() == asked) {
        return Ok(asked.to_owned());
    }
    let defined: Vec<&str> = topology.agent_names().map(|n| n.as_str()).collect();
    Err(CliError::Usage(format!(
        "the topology has no agent named {asked:?} (agents: {})",
        defined.join(", ")
    )))
}
