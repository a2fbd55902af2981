//! `baton threads …` and `baton runs …`: read (and resume) what a store recorded.

use super::Exit;
use super::run::{Outcome, follow};
use crate::cli::{RunsCommand, StoreArgs, ThreadsCommand};
use crate::error::CliError;
use crate::interrupt::Interrupts;
use crate::render::{Printer, one_line};
use baton_core::ids::RunId;
use baton_core::llm::Message;
use baton_core::memory::{Episode, EpisodeRecord, Page, Store, UnfinishedRun};
use baton_topology::{StoreSpec, Topology};
use std::sync::Arc;
use std::time::Duration;

/// How much of a message a thread listing shows.
const PREVIEW_CHARS: usize = 60;

pub(crate) async fn threads(command: ThreadsCommand) -> Result<Exit, CliError> {
    let mut printer = Printer::new();
    match command {
        ThreadsCommand::List { store } => {
            let store = open(&store).await?;
            let threads = store.threads(Page::ALL).await?;
            if threads.is_empty() {
                printer.note("no threads")?;
            }
            for thread in threads {
                let messages = store.list(thread, Page::ALL).await?;
                let first = messages
                    .iter()
                    .find_map(|m| match &**m {
                        Message::User { content, .. } => Some(one_line(content, PREVIEW_CHARS)),
                        _ => None,
                    })
                    .unwrap_or_default();
                let count = messages.len();
                let plural = if count == 1 { "" } else { "s" };
                printer.line(&format!("{thread}  {count:>3} message{plural}  {first}"))?;
            }
        }
        ThreadsCommand::Show { id, store } => {
            let store = open(&store).await?;
            let messages = store.list(id, Page::ALL).await?;
            if messages.is_empty() {
                return Err(CliError::Usage(format!(
                    "thread {id} has no messages in this store"
                )));
            }
            for message in messages {
                show_message(&mut printer, &message)?;
            }
        }
    }
    Ok(Exit::Success)
}

fn show_message(printer: &mut Printer, message: &Message) -> Result<(), CliError> {
    match message {
        Message::System { content, .. } => printer.line(&format!("system: {content}"))?,
        Message::User { content, .. } => printer.line(&format!("user: {content}"))?,
        Message::Assistant {
            content,
            tool_calls,
            ..
        } => {
            if !content.is_empty() || tool_calls.is_empty() {
                printer.line(&format!("assistant: {content}"))?;
            }
            for call in tool_calls {
                printer.note(&format!("  → {} {}", call.name, call.arguments))?;
            }
        }
        Message::Tool {
            name,
            content,
            is_error,
            ..
        } => {
            let mark = if *is_error { "✗" } else { "←" };
            printer.note(&format!("  {mark} {name}: {content}"))?;
        }
    }
    Ok(())
}

pub(crate) async fn runs(command: RunsCommand) -> Result<Exit, CliError> {
    let mut printer = Printer::new();
    match command {
        RunsCommand::Show { id, store } => {
            let store = open(&store).await?;
            let log = store.episodes(id).await?;
            if log.is_empty() {
                return Err(CliError::Usage(format!(
                    "run {id} has no episodes in this store"
                )));
            }
            for record in &log {
                printer.line(&episode_line(record))?;
            }
            Ok(Exit::Success)
        }
        RunsCommand::Unfinished { store } => {
            let store = open(&store).await?;
            let runs = store.unfinished_runs().await?;
            if runs.is_empty() {
                printer.note("no unfinished runs")?;
            }
            for run in runs {
                printer.line(&unfinished_line(&run))?;
            }
            Ok(Exit::Success)
        }
        RunsCommand::Resume { id, store } => resume(id, &store, &mut printer).await,
    }
}

async fn resume(id: RunId, args: &StoreArgs, printer: &mut Printer) -> Result<Exit, CliError> {
    let Some(file) = &args.file else {
        return Err(CliError::Usage(
            "resuming a run needs its topology: add --file FILE".into(),
        ));
    };
    let mut topology = Topology::load(file)?;
    if let Some(store) = &args.store {
        topology.set_store(store.clone());
    }
    let supervisor = topology.build().await?;
    let mut interrupts = Interrupts::new()?;
    printer.note(&format!("resuming run {id}"))?;
    let result = match supervisor.resume(id).await {
        Ok(stream) => follow(&supervisor, stream, printer, &mut interrupts).await,
        Err(error) => Err(error.into()),
    };
    supervisor.shutdown(Duration::from_secs(5)).await;
    match result?.1 {
        Outcome::Completed(usage) => {
            printer.usage(&usage)?;
            Ok(Exit::Success)
        }
        Outcome::Cancelled => {
            printer.note(&format!("cancelled run {id}"))?;
            Ok(Exit::Cancelled)
        }
        Outcome::Failed(error) => Err(CliError::RunFailed(error)),
    }
}

/// The store named by `--store`, or else by the topology of `--file`.
async fn open(args: &StoreArgs) -> Result<Arc<dyn Store>, CliError> {
    let spec: StoreSpec = match (&args.store, &args.file) {
        (Some(store), _) => store.clone(),
        (None, Some(file)) => Topology::load(file)?.store().clone(),
        (None, None) => {
            return Err(CliError::Usage(
                "name the store with --store URL (e.g. sqlite:baton.db) or a topology with --file FILE"
                    .into(),
            ));
        }
    };
    Ok(spec.open().await?)
}

/// One unfinished run: abandoned (resumable), or in flight and by whom.
fn unfinished_line(run: &UnfinishedRun) -> String {
    match &run.driver {
        None => format!("{}  abandoned: resumable", run.run),
        Some(driver) => format!(
            "{}  in flight: driven by {}, lease until {}",
            run.run,
            driver.owner,
            timestamp(driver.expires_at_ms)
        ),
    }
}

/// Milliseconds since the Unix epoch as an RFC 3339 time (the number, if out of range).
fn timestamp(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(|| ms.to_string(), |t| format!("{t:.3}"))
}

/// One line of a run's log: position, time, and what happened.
fn episode_line(record: &EpisodeRecord) -> String {
    let at = timestamp(record.at_ms);
    let what = match &record.episode {
        Episode::Started { agent, thread } => format!("started    {agent} on thread {thread}"),
        Episode::ToolCalled {
            step,
            tool,
            ok,
            latency_ms,
            ..
        } => {
            let result = if *ok { "ok" } else { "failed" };
            format!("tool       step {step}: {tool} {result} in {latency_ms} ms")
        }
        Episode::StepCompleted {
            step,
            usage,
            latency_ms,
            finish_reason,
            tool_calls,
        } => format!(
            "step       step {step}: {} tokens ({} in, {} out) in {latency_ms} ms, {tool_calls} tool calls, finish {}",
            usage.total(),
            usage.input_tokens,
            usage.output_tokens,
            serde_json::to_value(finish_reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ),
        Episode::HandedOff { from, to, reason } => {
            format!(
                "handoff    {from} → {to}: {}",
                one_line(reason, PREVIEW_CHARS)
            )
        }
        Episode::Completed { output, usage } => format!(
            "completed  {} tokens: {}",
            usage.total(),
            one_line(output, PREVIEW_CHARS)
        ),
        Episode::Failed { kind, message } => format!("failed     {kind}: {message}"),
        other => serde_json::to_string(other).unwrap_or_default(),
    };
    format!("{:>3}  {at}  {what}", record.seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::ids::{AgentName, ThreadId};
    use baton_core::llm::{FinishReason, Usage};
    use baton_core::memory::LeaseHolder;

    #[test]
    fn episodes_read_as_one_line_each() {
        let record = |seq, episode| EpisodeRecord::new(seq, 1_777_627_800_123, episode);
        let thread = ThreadId::new();
        let started = record(
            0,
            Episode::Started {
                agent: AgentName::new("triage").unwrap(),
                thread,
            },
        );
        assert_eq!(
            episode_line(&started),
            format!("  0  2026-05-01T09:30:00.123Z  started    triage on thread {thread}")
        );
        let step = record(
            1,
            Episode::StepCompleted {
                step: 1,
                usage: Usage::new(10, 5),
                latency_ms: 12,
                finish_reason: FinishReason::ToolCalls,
                tool_calls: 2,
            },
        );
        assert!(
            episode_line(&step).ends_with(
                "step       step 1: 15 tokens (10 in, 5 out) in 12 ms, 2 tool calls, finish tool_calls"
            ),
            "{}",
            episode_line(&step)
        );
        let failed = record(
            2,
            Episode::failed(&baton_core::error::RunError::MaxSteps { steps: 3 }),
        );
        assert!(
            episode_line(&failed).ends_with("failed     max_steps: max steps exceeded: 3"),
            "{}",
            episode_line(&failed)
        );
        let run = RunId::new();
        assert_eq!(
            unfinished_line(&UnfinishedRun { run, driver: None }),
            format!("{run}  abandoned: resumable")
        );
        let driven = UnfinishedRun {
            run,
            driver: Some(LeaseHolder {
                owner: "host:7:ab".into(),
                expires_at_ms: 1_777_627_800_123,
            }),
        };
        assert_eq!(
            unfinished_line(&driven),
            format!("{run}  in flight: driven by host:7:ab, lease until 2026-05-01T09:30:00.123Z")
        );
    }
}
