//! The conformance checks on baton-core's `InMemoryStore`, the reference the durable stores
//! are measured against.

use baton_core::memory::{InMemoryStore, Store};
use std::sync::Arc;

async fn fresh() -> Option<Arc<dyn Store>> {
    Some(InMemoryStore::shared())
}

/// One store in memory cannot be opened twice: both handles are the same store.
async fn pair() -> Option<(Arc<dyn Store>, Arc<dyn Store>)> {
    let store: Arc<dyn Store> = InMemoryStore::shared();
    Some((store.clone(), store))
}

// Every check but the known failures below; a check added to the suite is added here too.
baton_store::conformance_tests!(
    fresh = fresh,
    pair = pair,
    checks = [
        appends_and_lists_in_order,
        pages_through_a_thread,
        unknown_threads_and_runs_are_empty,
        stale_writers_get_a_conflict_and_write_nothing,
        large_messages_round_trip,
        unicode_round_trips,
        threads_are_isolated,
        threads_lists_threads_with_messages_oldest_first,
        episodes_keep_order_and_number,
        unfinished_runs_are_runs_without_an_end,
        concurrent_records_number_episodes_densely,
        commit_step_writes_messages_and_episodes,
        a_refused_commit_writes_nothing,
        recommitting_a_step_writes_nothing,
        racing_recommits_write_once,
        unconditional_racing_recommits_write_once,
        concurrent_appends_with_expected_len,
        concurrent_appends_without_expected_len,
        racing_handles_on_one_thread,
    ]
);

/// Known failure: `InMemoryStore::append` creates the thread's entry before it checks the
/// expected length, so a refused or empty append leaves an empty thread that `threads` lists.
#[tokio::test]
#[ignore = "InMemoryStore lists threads that hold no messages (a fix belongs in baton-core)"]
async fn refused_and_empty_appends_list_no_thread() {
    baton_store::conformance::refused_and_empty_appends_list_no_thread(InMemoryStore::shared())
        .await;
}
