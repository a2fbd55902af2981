//! Behaviour the conformance suite does not pin down but these stores promise, checked on every
//! backend of this crate.

use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::{FinishReason, Message, Usage};
use baton_core::memory::{Episode, Page, StepCommit, Store};
use std::sync::Arc;

fn step_completed(step: u32) -> Episode {
    Episode::StepCompleted {
        step,
        usage: Usage::new(10, 2),
        latency_ms: 1,
        finish_reason: FinishReason::Stop,
        tool_calls: 0,
    }
}

fn completed() -> Episode {
    Episode::Completed {
        output: "done".into(),
        usage: Usage::new(10, 2),
    }
}

/// A retried commit of a step is found committed even after another run wrote the thread since
/// (the thread's last step then belongs to that run).
pub async fn a_retry_after_another_run_wrote_the_thread_writes_nothing(store: Arc<dyn Store>) {
    let thread = ThreadId::new();
    let (first, second) = (RunId::new(), RunId::new());
    let messages = [Arc::new(Message::assistant("one"))];
    let episodes = [step_completed(1)];
    let commit = |run, expected_len| StepCommit {
        thread,
        expected_len,
        messages: &messages,
        run,
        step: 1,
        episodes: &episodes,
        lease: None,
    };
    assert_eq!(store.commit_step(commit(first, Some(0))).await, Ok(1));
    assert_eq!(store.commit_step(commit(second, Some(1))).await, Ok(2));
    assert_eq!(store.commit_step(commit(first, Some(0))).await, Ok(2));
    assert_eq!(store.commit_step(commit(first, None)).await, Ok(2));
    assert_eq!(store.list(thread, Page::ALL).await.expect("list").len(), 2);
    assert_eq!(store.episodes(first).await.expect("episodes").len(), 1);
}

/// A commit whose episodes end a run and then go on leaves it unfinished; one whose last
/// episode ends it leaves it finished: the latest episode decides, within a commit too.
pub async fn the_last_episode_of_a_commit_decides_whether_its_run_is_finished(
    store: Arc<dyn Store>,
) {
    let thread = ThreadId::new();
    let (reopened, ended) = (RunId::new(), RunId::new());
    let goes_on = [completed(), step_completed(1)];
    let ends = [step_completed(1), completed()];
    for (run, episodes, expected_len) in [(reopened, &goes_on, 0), (ended, &ends, 1)] {
        let messages = [Arc::new(Message::assistant("answer"))];
        let commit = StepCommit {
            thread,
            expected_len: Some(expected_len),
            messages: &messages,
            run,
            step: 1,
            episodes,
            lease: None,
        };
        store.commit_step(commit).await.expect("commit");
    }
    let unfinished = store.unfinished_runs().await.expect("unfinished runs");
    let runs: Vec<RunId> = unfinished.iter().map(|u| u.run).collect();
    assert!(runs.contains(&reopened), "{unfinished:?}");
    assert!(!runs.contains(&ended), "{unfinished:?}");
}

/// Generates a test per check, on stores from `$fresh`, each with the `attributes` given (in
/// brackets), if any.
#[macro_export]
macro_rules! store_checks {
    (fresh = $fresh:path $(, attributes = [$(#[$attribute:meta])*])? $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($(#[$attribute])*)?
        async fn a_retry_after_another_run_wrote_the_thread_writes_nothing() {
            if let Some(subject) = $fresh().await {
                common::checks::a_retry_after_another_run_wrote_the_thread_writes_nothing(
                    baton_store::conformance::Subject::store(&subject),
                )
                .await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($(#[$attribute])*)?
        async fn the_last_episode_of_a_commit_decides_whether_its_run_is_finished() {
            if let Some(subject) = $fresh().await {
                common::checks::the_last_episode_of_a_commit_decides_whether_its_run_is_finished(
                    baton_store::conformance::Subject::store(&subject),
                )
                .await;
            }
        }
    };
}
