//! The behaviour every [`Store`] must show, written once and run against every backend.
//!
//! Each check is an async function that takes a fresh, empty store and panics (with a message
//! that says what broke) when the store misbehaves; [`racing_handles_on_one_thread`],
//! [`racing_acquires_on_two_handles`] and [`racing_hand_overs_on_two_handles`] take two handles
//! on one database, as two processes would hold.
//! [`conformance_tests!`](crate::conformance_tests) turns the checks into one `#[tokio::test]`
//! each:
//!
//! ```
//! use baton_core::memory::{InMemoryStore, Store};
//! use std::sync::Arc;
//!
//! async fn fresh() -> Option<Arc<dyn Store>> {
//!     Some(InMemoryStore::shared())
//! }
//!
//! async fn pair() -> Option<(Arc<dyn Store>, Arc<dyn Store>)> {
//!     let store: Arc<dyn Store> = InMemoryStore::shared();
//!     Some((store.clone(), store))
//! }
//!
//! baton_store::conformance_tests!(fresh = fresh, pair = pair);
//! # fn main() {}
//! ```
//!
//! A factory returns `None` to skip (a backend that is not available here); it says why itself.
//! The generated tests run on Tokio's multi-threaded runtime, so the crate that expands the
//! macro needs `tokio` with the `macros` and `rt-multi-thread` features.

mod commit;
mod concurrency;
mod episodes;
mod fixtures;
mod hand_over;
mod leased_records;
mod leases;
mod threads;

pub use commit::{
    a_refused_commit_writes_nothing, commit_step_writes_messages_and_episodes,
    racing_recommits_write_once, recommitting_a_step_writes_nothing,
    unconditional_racing_recommits_write_once,
};
pub use concurrency::{
    concurrent_appends_with_expected_len, concurrent_appends_without_expected_len,
    racing_handles_on_one_thread,
};
pub use episodes::{
    concurrent_records_number_episodes_densely, episodes_keep_order_and_number,
    unfinished_runs_are_runs_without_an_end,
};
pub use hand_over::{
    a_handed_over_lease_is_fresh_and_keeps_the_thread, a_stale_lease_is_not_handed_over,
    an_expired_lease_nobody_replaced_hands_over, racing_hand_overs_on_two_handles,
};
pub use leased_records::{
    records_under_a_lease_follow_the_log_in_order, records_under_a_stale_lease_write_nothing,
    records_under_an_expired_lease_nobody_replaced_are_written,
};
pub use leases::{
    a_commit_under_a_stale_lease_writes_nothing, a_held_thread_is_refused_to_other_runs,
    a_lease_without_end_is_live, a_leased_run_is_driven_once,
    an_expired_lease_is_replaced_and_its_holder_fenced_off,
    an_expired_lease_nobody_replaced_renews, leases_are_acquired_renewed_and_released,
    racing_acquires_on_two_handles, releasing_records_the_terminal_episode_and_frees_the_thread,
    unfinished_runs_say_who_drives_them,
};
pub use threads::{
    appends_and_lists_in_order, large_messages_round_trip, pages_through_a_thread,
    refused_and_empty_appends_list_no_thread, stale_writers_get_a_conflict_and_write_nothing,
    tails_of_short_and_unknown_threads, the_tail_of_a_long_thread_is_its_last_messages,
    threads_are_isolated, threads_lists_threads_with_messages_oldest_first, unicode_round_trips,
    unknown_threads_and_runs_are_empty,
};

use baton_core::memory::Store;
use std::sync::Arc;

/// What a factory of [`conformance_tests!`](crate::conformance_tests) gives a check: a store, or
/// a store and something that must outlive it (a temporary directory), dropped after the check.
pub trait Subject {
    /// The store to check.
    fn store(&self) -> Arc<dyn Store>;
}

impl Subject for Arc<dyn Store> {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(self)
    }
}

impl<G> Subject for (Arc<dyn Store>, G) {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.0)
    }
}

/// Generates one `#[tokio::test]` per conformance check.
///
/// - `fresh`: an async function returning `Option<S>`, a new empty store per call (`None` skips
///   the test), where `S` is a [`Subject`]: an `Arc<dyn Store>`, or one with a guard that must
///   outlive it, `(Arc<dyn Store>, G)`;
/// - `pair`: an async function returning `Option<(S, S)>`, two handles (two pools) on one new
///   empty database, each a [`Subject`];
/// - `checks` (optional): the checks to generate, by name; all of them when omitted;
/// - `attributes` (optional): attributes added to every generated test, in brackets, e.g.
///   `attributes = [#[ignore = "needs a server"]]` for a backend that is not always there.
///
/// See the [module documentation](crate::conformance) for an example.
#[macro_export]
macro_rules! conformance_tests {
    (fresh = $fresh:path, pair = $pair:path $(, attributes = $attributes:tt)? $(,)?) => {
        $crate::conformance_tests!(
            fresh = $fresh,
            pair = $pair,
            checks = [
                appends_and_lists_in_order,
                pages_through_a_thread,
                tails_of_short_and_unknown_threads,
                the_tail_of_a_long_thread_is_its_last_messages,
                unknown_threads_and_runs_are_empty,
                stale_writers_get_a_conflict_and_write_nothing,
                large_messages_round_trip,
                unicode_round_trips,
                threads_are_isolated,
                threads_lists_threads_with_messages_oldest_first,
                refused_and_empty_appends_list_no_thread,
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
                leases_are_acquired_renewed_and_released,
                a_leased_run_is_driven_once,
                a_held_thread_is_refused_to_other_runs,
                an_expired_lease_is_replaced_and_its_holder_fenced_off,
                an_expired_lease_nobody_replaced_renews,
                a_commit_under_a_stale_lease_writes_nothing,
                releasing_records_the_terminal_episode_and_frees_the_thread,
                unfinished_runs_say_who_drives_them,
                a_lease_without_end_is_live,
                racing_acquires_on_two_handles,
                records_under_a_lease_follow_the_log_in_order,
                records_under_an_expired_lease_nobody_replaced_are_written,
                records_under_a_stale_lease_write_nothing,
                a_handed_over_lease_is_fresh_and_keeps_the_thread,
                an_expired_lease_nobody_replaced_hands_over,
                a_stale_lease_is_not_handed_over,
                racing_hand_overs_on_two_handles,
            ]
            $(, attributes = $attributes)?
        );
    };
    (fresh = $fresh:path, pair = $pair:path, checks = [$($check:ident),* $(,)?] $(,)?) => {
        $crate::conformance_tests!(
            fresh = $fresh,
            pair = $pair,
            checks = [$($check),*],
            attributes = []
        );
    };
    (
        fresh = $fresh:path,
        pair = $pair:path,
        checks = [$($check:ident),* $(,)?],
        attributes = $attributes:tt $(,)?
    ) => {
        $(
            $crate::conformance_tests!(@one $fresh, $pair, $check, $attributes);
        )*
    };
    (@one $fresh:path, $pair:path, racing_handles_on_one_thread, [$(#[$attribute:meta])*]) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn racing_handles_on_one_thread() {
            if let Some((first, second)) = $pair().await {
                $crate::conformance::racing_handles_on_one_thread(
                    $crate::conformance::Subject::store(&first),
                    $crate::conformance::Subject::store(&second),
                )
                .await;
            }
        }
    };
    (@one $fresh:path, $pair:path, racing_acquires_on_two_handles, [$(#[$attribute:meta])*]) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn racing_acquires_on_two_handles() {
            if let Some((first, second)) = $pair().await {
                $crate::conformance::racing_acquires_on_two_handles(
                    $crate::conformance::Subject::store(&first),
                    $crate::conformance::Subject::store(&second),
                )
                .await;
            }
        }
    };
    (@one $fresh:path, $pair:path, racing_hand_overs_on_two_handles, [$(#[$attribute:meta])*]) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn racing_hand_overs_on_two_handles() {
            if let Some((first, second)) = $pair().await {
                $crate::conformance::racing_hand_overs_on_two_handles(
                    $crate::conformance::Subject::store(&first),
                    $crate::conformance::Subject::store(&second),
                )
                .await;
            }
        }
    };
    (@one $fresh:path, $pair:path, $check:ident, [$(#[$attribute:meta])*]) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attribute])*
        async fn $check() {
            if let Some(subject) = $fresh().await {
                $crate::conformance::$check($crate::conformance::Subject::store(&subject)).await;
            }
        }
    };
}
