//! `baton threads …` and `baton runs …`: read what a store recorded (going on with a run is
//! [`decide`]'s).

use super::log::{episode_line, unfinished_line};
use super::{Exit, decide};
use crate::cli::{DEFAULT_REJECTION, RunsCommand, StoreArgs, ThreadsCommand};
use crate::error::CliError;
use crate::render::{Printer, one_line};
use baton_core::llm::Message;
use baton_core::memory::{Decision, Page, Store};
use baton_topology::{StoreSpec, Topology};
use std::sync::Arc;

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
        RunsCommand::Resume { id, run } => decide::resume(id, &run).await,
        RunsCommand::Pending { id, store } => decide::pending(id, &store).await,
        RunsCommand::Approve {
            id,
            call,
            for_run,
            run,
        } => {
            let decision = if for_run {
                Decision::approve_for_run()
            } else {
                Decision::approve()
            };
            decide::decide(id, &call, decision, &run).await
        }
        RunsCommand::Reject {
            id,
            call,
            reason,
            run,
        } => {
            let reason = match reason.trim() {
                "" => DEFAULT_REJECTION,
                reason => reason,
            };
            decide::decide(id, &call, Decision::reject(reason), &run).await
        }
    }
}

/// The store named by `--store`, or else by the topology of `--file`.
pub(crate) fn store_spec(args: &StoreArgs) -> Result<StoreSpec, CliError> {
    match (&args.store, &args.file) {
        (Some(store), _) => Ok(store.clone()),
        (None, Some(file)) => Ok(Topology::load(file)?.store().clone()),
        (None, None) => Err(CliError::Usage(
            "name the store with --store URL (e.g. sqlite:baton.db) or a topology with --file FILE"
                .into(),
        )),
    }
}

/// The store [`store_spec`] names, open.
async fn open(args: &StoreArgs) -> Result<Arc<dyn Store>, CliError> {
    Ok(store_spec(args)?.open().await?)
}
