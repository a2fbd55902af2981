//! The one home of the history cut: which messages of a thread go into a request.
//!
//! A run loads its thread once and keeps it here, appending what it writes, so requests share
//! the thread's `Arc<Message>`s instead of re-reading or copying them. The window sent to the
//! model is the newest messages that fit the token budget; its start only moves forward during
//! a run, and never lands between an assistant's tool calls and their results.

use crate::agent::Agent;
use crate::llm::{ChatRequest, Message, Role, tokens};
use std::sync::Arc;

struct Entry {
    message: Arc<Message>,
    /// Upper bound of the token count, from byte lengths (free to compute).
    bound: u32,
    /// Exact token count, computed at most once and only when the bound is not enough.
    exact: Option<u32>,
}

impl Entry {
    fn new(message: Arc<Message>) -> Self {
        Self {
            bound: tokens::message_tokens_upper_bound(&message),
            message,
            exact: None,
        }
    }

    fn exact(&mut self) -> u32 {
        *self
            .exact
            .get_or_insert_with(|| tokens::message_tokens(&self.message))
    }

    /// A window may start here: tool results belong to the assistant message before them.
    fn starts_group(&self) -> bool {
        self.message.role() != Role::Tool
    }
}

/// A thread's messages as one run sees them, with the current window.
pub(crate) struct History {
    /// Position in the thread of `entries[0]`: a run reads only its thread's tail.
    base: u64,
    entries: Vec<Entry>,
    start: usize,
    window_bound: u64,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("messages", &self.entries.len())
            .field("window_start", &self.start)
            .finish()
    }
}

impl History {
    #[cfg(test)]
    pub(crate) fn new(messages: Vec<Arc<Message>>) -> Self {
        Self::from_tail(0, messages)
    }

    /// The history of a thread whose newest `messages` start at position `base`. A window never
    /// starts on a tool result whose call was not read, so leading tool results stay out.
    pub(crate) fn from_tail(base: u64, messages: Vec<Arc<Message>>) -> Self {
        let mut history = Self {
            base,
            entries: Vec::with_capacity(messages.len() + 8),
            start: 0,
            window_bound: 0,
        };
        for message in messages {
            history.push(message);
        }
        history.skip_orphaned_results();
        history
    }

    fn skip_orphaned_results(&mut self) {
        if self.base == 0 {
            return;
        }
        let orphans = self
            .entries
            .iter()
            .take_while(|entry| !entry.starts_group())
            .count();
        if orphans < self.entries.len() {
            let dropped: u64 = self.entries[..orphans]
                .iter()
                .map(|e| u64::from(e.bound))
                .sum();
            self.window_bound -= dropped;
            self.start = orphans;
        }
    }

    /// How many of a thread's newest messages a run needs to read for a window of `max_tokens`:
    /// every message costs at least [`tokens::MESSAGE_OVERHEAD`], so no more can fit.
    pub(crate) fn read_limit(max_tokens: u32) -> u64 {
        u64::from(max_tokens / tokens::MESSAGE_OVERHEAD) + 1
    }

    /// Forgets the window, for a run that moves to another agent (whose budget and system
    /// message differ): the next request is cut afresh from the whole thread.
    pub(crate) fn rewind(&mut self) {
        self.start = 0;
        self.window_bound = self.entries.iter().map(|e| u64::from(e.bound)).sum();
        self.skip_orphaned_results();
    }

    /// The thread's length, as the store counts it.
    pub(crate) fn len(&self) -> u64 {
        self.base + self.entries.len() as u64
    }

    pub(crate) fn push(&mut self, message: Arc<Message>) {
        let entry = Entry::new(message);
        self.window_bound += u64::from(entry.bound);
        self.entries.push(entry);
    }

    /// Moves the window start forward until the window and the system message fit
    /// `max_tokens`, keeping at least the newest message group.
    fn cut(&mut self, max_tokens: u32, agent: &Agent) {
        let max_tokens = u64::from(max_tokens);
        if self.window_bound + u64::from(agent.system_tokens_upper_bound()) <= max_tokens {
            return;
        }
        let budget = max_tokens.saturating_sub(u64::from(agent.system_tokens()));
        let mut total = 0u64;
        let mut new_start = None;
        for index in (self.start..self.entries.len()).rev() {
            let entry = &mut self.entries[index];
            total += u64::from(entry.exact());
            if entry.starts_group() {
                if total > budget && new_start.is_some() {
                    break;
                }
                new_start = Some(index);
            }
        }
        let new_start = new_start.unwrap_or(self.start);
        let dropped: u64 = self.entries[self.start..new_start]
            .iter()
            .map(|e| u64::from(e.bound))
            .sum();
        self.window_bound -= dropped;
        self.start = new_start;
    }

    /// The request for the next model call: the agent's system message, then the window.
    pub(crate) fn build_request(&mut self, agent: &Agent, max_tokens: u32) -> ChatRequest {
        self.cut(max_tokens, agent);
        let window = &self.entries[self.start..];
        let mut messages = Vec::with_capacity(window.len() + 1);
        messages.extend(agent.system_message().cloned());
        messages.extend(window.iter().map(|e| Arc::clone(&e.message)));
        ChatRequest {
            messages,
            tools: Arc::clone(agent.tool_specs()),
            settings: Arc::clone(agent.settings()),
            run: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolCall;

    fn contents(request: &ChatRequest) -> Vec<&str> {
        request.messages.iter().map(|m| m.content()).collect()
    }

    #[test]
    fn everything_fits_without_counting() {
        let agent = Agent::builder("a").instructions("sys").build().unwrap();
        let mut history = History::new(vec![
            Arc::new(Message::user("one")),
            Arc::new(Message::assistant("two")),
        ]);
        let request = history.build_request(&agent, 1_000);
        assert_eq!(contents(&request), ["sys", "one", "two"]);
        assert!(
            history.entries.iter().all(|e| e.exact.is_none()),
            "no tokenizer needed"
        );
    }

    #[test]
    fn oldest_messages_are_cut_and_tool_results_stay_with_their_call() {
        let agent = Agent::builder("a").build().unwrap();
        let call = ToolCall::new("c1", "lookup", r#"{"q":"x"}"#);
        let long = "word ".repeat(200);
        let mut history = History::new(vec![
            Arc::new(Message::user(long.clone())),
            Arc::new(Message::Assistant {
                content: String::new(),
                tool_calls: vec![call.clone()],
            }),
            Arc::new(Message::tool_result(&call, long.clone())),
            Arc::new(Message::user("short question")),
        ]);
        // Room for the tool group and the question, not for the first long message.
        let group = tokens::message_tokens(&history.entries[1].message)
            + tokens::message_tokens(&history.entries[2].message);
        let question = tokens::message_tokens(&history.entries[3].message);
        let request = history.build_request(&agent, group + question);
        assert_eq!(request.messages.len(), 3);
        assert_eq!(request.messages[0].tool_calls(), &[call]);
        assert_eq!(request.messages[2].content(), "short question");

        // A budget that fits the question and the tool result but not the call drops both.
        let mut history2 =
            History::new(history.entries.iter().map(|e| e.message.clone()).collect());
        let request = history2.build_request(&agent, question + group - 1);
        assert_eq!(contents(&request), ["short question"]);
    }

    #[test]
    fn the_newest_group_is_kept_even_over_budget() {
        let agent = Agent::builder("a").build().unwrap();
        let mut history = History::new(vec![Arc::new(Message::user("far too long ".repeat(50)))]);
        assert_eq!(history.build_request(&agent, 1).messages.len(), 1);
    }

    #[test]
    fn a_rewound_history_is_cut_afresh_for_the_next_agent() {
        let agent = Agent::builder("a").build().unwrap();
        let words = "many words here ".repeat(30);
        let mut history = History::new(vec![
            Arc::new(Message::user(words.clone())),
            Arc::new(Message::user(words)),
        ]);
        assert_eq!(history.build_request(&agent, 150).messages.len(), 1);
        history.rewind();
        assert_eq!(history.build_request(&agent, 10_000).messages.len(), 2);
    }

    #[test]
    fn the_system_message_counts_against_the_budget() {
        let agent = Agent::builder("a")
            .instructions("x ".repeat(100))
            .build()
            .unwrap();
        let mut history = History::new(vec![
            Arc::new(Message::user("first")),
            Arc::new(Message::user("second")),
        ]);
        let second = tokens::message_tokens(&Message::user("second"));
        let request = history.build_request(&agent, agent.system_tokens() + second);
        assert_eq!(request.messages.len(), 2);
        assert_eq!(request.messages[1].content(), "second");
    }
}
