//! Checks of [`Store::commit_step`]: one transaction, written once.

use super::fixtures::{assert_conflict, failed, ids, step_completed, texts, tool_called, user};
use baton_core::error::{FailureKind, StoreError};
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::{Message, ToolCall};
use baton_core::memory::{Episode, Page, StepCommit, Store};
use std::sync::Arc;
use tokio::sync::Barrier;

/// A step as the run loop commits it: the assistant's tool call and the tool's result, then
/// the tool-call and step-completed episodes.
fn step(n: u32) -> (Vec<Arc<Message>>, Vec<Episode>) {
    let call = ToolCall::new(format!("call_{n}"), "lookup", r#"{"word":"baton"}"#);
    let messages = vec![
        Arc::new(Message::assistant_calling(
            format!("step {n}"),
            vec![call.clone()],
        )),
        Arc::new(Message::tool_result(&call, format!("result {n}"))),
    ];
    (messages, vec![tool_called(n), step_completed(n)])
}

/// A commit of step `n` of `run` on `thread`, with no lease.
fn commit<'a>(
    thread: ThreadId,
    run: RunId,
    n: u32,
    expected_len: Option<u64>,
    (messages, episodes): &'a (Vec<Arc<Message>>, Vec<Episode>),
) -> StepCommit<'a> {
    StepCommit {
        thread,
        expected_len,
        messages,
        run,
        step: n,
        episodes,
        lease: None,
    }
}

/// A run on a thread of the store under check: its commits, and what they wrote.
struct Subject<'a> {
    store: &'a dyn Store,
    thread: ThreadId,
    run: RunId,
}

impl<'a> Subject<'a> {
    /// A new run on a new thread of `store`.
    fn new(store: &'a dyn Store) -> Self {
        Self {
            store,
            thread: ThreadId::new(),
            run: RunId::new(),
        }
    }

    /// Commits step `n`, as `step` holds it, expecting `expected_len` messages.
    async fn commit(
        &self,
        n: u32,
        expected_len: Option<u64>,
        step: &(Vec<Arc<Message>>, Vec<Episode>),
    ) -> Result<u64, StoreError> {
        self.store
            .commit_step(commit(self.thread, self.run, n, expected_len, step))
            .await
    }

    /// The number of messages of the thread and of episodes of the run.
    async fn written(&self) -> (usize, usize) {
        let messages = self.store.list(self.thread, Page::ALL).await.expect("list");
        let episodes = self.store.episodes(self.run).await.expect("episodes");
        (messages.len(), episodes.len())
    }
}

/// A commit appends the step's messages and records its episodes after the run's earlier ones.
pub async fn commit_step_writes_messages_and_episodes(store: Arc<dyn Store>) {
    let subject = Subject::new(&*store);
    let (thread, run) = (subject.thread, subject.run);
    store
        .record(run, failed(FailureKind::Lost, "placeholder"))
        .await
        .expect("record");
    let first = step(1);
    assert_eq!(subject.commit(1, Some(0), &first).await, Ok(2));
    assert_eq!(store.list(thread, Page::ALL).await.expect("list"), first.0);
    let log = store.episodes(run).await.expect("episodes");
    let seqs: Vec<u64> = log.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [0, 1, 2]);
    assert_eq!(log[1].episode, first.1[0]);
    assert_eq!(log[2].episode, first.1[1]);

    let second = step(2);
    assert_eq!(subject.commit(2, Some(2), &second).await, Ok(4));
    assert_eq!(store.episodes(run).await.expect("episodes").len(), 5);
}

/// A commit refused for a stale expected length writes neither messages nor episodes.
pub async fn a_refused_commit_writes_nothing(store: Arc<dyn Store>) {
    let subject = Subject::new(&*store);
    let (thread, run) = (subject.thread, subject.run);
    store
        .append(thread, Some(0), &[user("other writer")])
        .await
        .expect("append");
    let refused = subject.commit(1, Some(0), &step(1)).await;
    assert_conflict(refused, thread, 0, 1);
    assert_eq!(texts(&*store, thread).await, ["other writer"]);
    assert!(store.episodes(run).await.expect("episodes").is_empty());
    let unfinished = store.unfinished_runs().await.expect("unfinished");
    assert!(!ids(&unfinished).contains(&run), "{unfinished:?}");
}

/// Committing a step again (a retry after a lost acknowledgement) writes nothing and returns
/// the thread's current length, whatever length the retry expects.
pub async fn recommitting_a_step_writes_nothing(store: Arc<dyn Store>) {
    let subject = Subject::new(&*store);
    let first = step(1);
    for expected_len in [Some(0), Some(0), None] {
        assert_eq!(
            subject.commit(1, expected_len, &first).await,
            Ok(2),
            "step 1 expecting {expected_len:?} messages"
        );
    }
    assert_eq!(subject.written().await, (2, 2), "(messages, episodes)");

    let second = step(2);
    assert_eq!(subject.commit(2, Some(2), &second).await, Ok(4));
    assert_eq!(subject.commit(1, Some(0), &first).await, Ok(4));
    assert_eq!(subject.written().await, (4, 4), "(messages, episodes)");
}

/// Commits of one step racing each other (the original and its retry) write it once.
///
/// Each racer expects the empty thread; a racer that loses may see the step committed (and get
/// the length) or see the thread grown (and get a conflict).
pub async fn racing_recommits_write_once(store: Arc<dyn Store>) {
    let (subject, results) = race_commits(&store, Some(0)).await;
    let conflict = StoreError::Conflict {
        thread: subject.thread,
        expected: 0,
        actual: 2,
    };
    for result in results {
        assert!(
            result == Ok(2) || result == Err(conflict.clone()),
            "{result:?}"
        );
    }
    assert_eq!(subject.written().await, (2, 2), "(messages, episodes)");
}

/// Commits of one step racing each other without an expected length write it once, and all
/// return the thread's length.
pub async fn unconditional_racing_recommits_write_once(store: Arc<dyn Store>) {
    let (subject, results) = race_commits(&store, None).await;
    assert!(results.iter().all(|r| *r == Ok(2)), "{results:?}");
    assert_eq!(subject.written().await, (2, 2), "(messages, episodes)");
}

/// Starts several commits of step 1 of a new run at once; their results.
async fn race_commits(
    store: &Arc<dyn Store>,
    expected_len: Option<u64>,
) -> (Subject<'_>, Vec<Result<u64, StoreError>>) {
    const RACERS: usize = 4;
    let subject = Subject::new(&**store);
    let (thread, run) = (subject.thread, subject.run);
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..RACERS {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.spawn(async move {
            let first = step(1);
            barrier.wait().await;
            store
                .commit_step(commit(thread, run, 1, expected_len, &first))
                .await
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.expect("racer task"));
    }
    assert!(
        results.contains(&Ok(2)),
        "one racer must commit: {results:?}"
    );
    (subject, results)
}
