//! Shared fixtures of the run-loop tests: tools, agents and helpers.
#![allow(dead_code)]

use baton_core::memory::{EpisodeRecord, Page};
use baton_core::prelude::*;
use baton_testkit::ScriptedProvider;
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// Looks up a word; sleeps `delay_ms` first (virtual time in tests).
pub struct Lookup;

#[derive(Deserialize, JsonSchema)]
pub struct LookupArgs {
    /// The word.
    pub word: String,
    /// Milliseconds to take.
    #[serde(default)]
    pub delay_ms: u64,
}

impl Tool for Lookup {
    type Args = LookupArgs;
    fn name(&self) -> &str {
        "lookup"
    }
    fn description(&self) -> &str {
        "Looks up a word."
    }
    fn read_only(&self) -> bool {
        true
    }
    async fn call(&self, args: LookupArgs, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        if args.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(args.delay_ms)).await;
        }
        if args.word == "panic" {
            panic!("lookup exploded");
        }
        Ok(format!("definition of {}", args.word))
    }
}

pub struct Fixture {
    pub provider: Arc<ScriptedProvider>,
    pub store: Arc<InMemoryStore>,
    pub ctx: AgentContext,
    pub thread: ThreadId,
}

pub fn fixture(provider: ScriptedProvider) -> Fixture {
    fixture_with(
        provider,
        Agent::builder("helper")
            .instructions("Be helpful.")
            .tool(Lookup),
    )
}

pub fn fixture_with(provider: ScriptedProvider, agent: baton_core::agent::AgentBuilder) -> Fixture {
    let provider = Arc::new(provider);
    let store = InMemoryStore::shared();
    let agent = Arc::new(agent.build().unwrap());
    let ctx = AgentContext::new(agent, provider.clone(), store.clone());
    Fixture {
        provider,
        store,
        ctx,
        thread: ThreadId::new(),
    }
}

impl Fixture {
    pub async fn episodes(&self) -> Vec<Episode> {
        self.records()
            .await
            .into_iter()
            .map(|r| r.episode)
            .collect()
    }

    pub async fn records(&self) -> Vec<EpisodeRecord> {
        self.store.episodes(self.ctx.run_id).await.unwrap()
    }

    pub async fn thread_messages(&self) -> Vec<Message> {
        self.store
            .list(self.thread, Page::ALL)
            .await
            .unwrap()
            .iter()
            .map(|m| (**m).clone())
            .collect()
    }

    /// Waits, without time passing, until the run's log ends with a terminal episode.
    pub async fn terminal_episode(&self) -> Episode {
        for _ in 0..100_000 {
            if let Some(last) = self.episodes().await.pop()
                && last.is_terminal()
            {
                return last;
            }
            tokio::task::yield_now().await;
        }
        panic!(
            "the run never recorded a terminal episode: {:?}",
            self.episodes().await
        );
    }
}

pub fn kinds(episodes: &[Episode]) -> Vec<&'static str> {
    episodes
        .iter()
        .map(|e| match e {
            Episode::Started { .. } => "started",
            Episode::ToolCalled { .. } => "tool_called",
            Episode::StepCompleted { .. } => "step_completed",
            Episode::HandedOff { .. } => "handed_off",
            Episode::Completed { .. } => "completed",
            Episode::Failed { .. } => "failed",
            _ => "other",
        })
        .collect()
}

pub async fn collect(mut stream: RunStream) -> Vec<RunEvent> {
    let mut events = Vec::new();
    while let Some(event) = stream.next_event().await {
        events.push(event);
    }
    events
}

pub fn text_of(events: &[RunEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::TextDelta { delta } => Some(&**delta),
            _ => None,
        })
        .collect()
}
