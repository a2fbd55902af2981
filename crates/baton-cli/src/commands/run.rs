//! `baton run` and `baton chat`: start runs and follow their events in the terminal.

use super::{Exit, load};
use crate::cli::{ChatArgs, ConversationArgs, RunArgs};
use crate::error::CliError;
use crate::interrupt::Interrupts;
use crate::render::Printer;
use baton_core::actor::Supervisor;
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::Usage;
use baton_core::run::{RunEvent, RunStream};
use baton_topology::Topology;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// How long runs get to finish when the command ends.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How a followed run ended.
pub(crate) enum Outcome {
    Completed(Usage),
    Failed(baton_core::error::RunError),
    Cancelled,
}

pub(crate) async fn run(args: RunArgs) -> Result<Exit, CliError> {
    let (supervisor, agent, thread) = start(&args.conversation).await?;
    let message = args.message.join(" ");
    let mut interrupts = Interrupts::new()?;
    let mut printer = Printer::new();
    printer.note(&format!("thread {thread}"))?;
    let result = match supervisor.run(&agent, thread, message).await {
        Ok(stream) => follow(&supervisor, stream, &mut printer, &mut interrupts).await,
        Err(error) => Err(error.into()),
    };
    supervisor.shutdown(SHUTDOWN_GRACE).await;
    let (run_id, outcome) = result?;
    match outcome {
        Outcome::Completed(usage) => {
            printer.usage(&usage)?;
            printer.note(&format!("run {run_id} on thread {thread}"))?;
            printer.note(&format!(
                "continue with: baton run {} --thread {thread} \"…\"",
                args.conversation.topology.file.display()
            ))?;
            Ok(Exit::Success)
        }
        Outcome::Cancelled => {
            printer.note(&format!("cancelled run {run_id}"))?;
            Ok(Exit::Cancelled)
        }
        Outcome::Failed(error) => Err(CliError::RunFailed(error)),
    }
}

pub(crate) async fn chat(args: ChatArgs) -> Result<Exit, CliError> {
    let (supervisor, agent, thread) = start(&args.conversation).await?;
    let mut interrupts = Interrupts::new()?;
    let mut printer = Printer::new();
    printer.note(&format!(
        "thread {thread}: talking to {agent}; /quit or end of input to leave"
    ))?;
    let result = converse(&supervisor, &agent, thread, &mut printer, &mut interrupts).await;
    supervisor.shutdown(SHUTDOWN_GRACE).await;
    result
}

async fn converse(
    supervisor: &Supervisor,
    agent: &str,
    thread: ThreadId,
    printer: &mut Printer,
    interrupts: &mut Interrupts,
) -> Result<Exit, CliError> {
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
        let stream = supervisor.run(agent, thread, message).await?;
        match follow(supervisor, stream, printer, interrupts).await?.1 {
            Outcome::Completed(usage) => printer.usage(&usage)?,
            Outcome::Cancelled => printer.note("cancelled")?,
            Outcome::Failed(error) => printer.note(&format!("error: the run failed: {error}"))?,
        }
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
            _ => {}
        }
    }
}

/// The topology built and running, the agent to start with and the thread, as `args` ask.
async fn start(args: &ConversationArgs) -> Result<(Supervisor, String, ThreadId), CliError> {
    let topology = load(&args.topology)?;
    let agent = start_agent(&topology, args.agent.as_deref())?;
    let supervisor = topology.build().await?;
    Ok((supervisor, agent, args.thread.unwrap_or_default()))
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
