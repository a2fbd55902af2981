//! Checks of [`Store::record_leased`]: episodes recorded under a lease land after the run's log,
//! in order, while the lease is current, and not at all once it is not.

use super::fixtures::{step_completed, tool_called, user};
use super::leases::{EXPIRED, LIVE, Leases, commit, lost};
use baton_core::ids::RunId;
use baton_core::memory::{Episode, Lease, Store};
use std::sync::Arc;

/// The episodes of `run`'s log, oldest first, asserting that they are numbered densely from 0.
async fn log(store: &dyn Store, run: RunId) -> Vec<Episode> {
    let records = store.episodes(run).await.expect("episodes");
    let seqs: Vec<u64> = records.iter().map(|record| record.seq).collect();
    let dense: Vec<u64> = (0..records.len() as u64).collect();
    assert_eq!(seqs, dense, "a run's log is numbered densely from 0");
    records.into_iter().map(|record| record.episode).collect()
}

/// Asserts that `lease` is refused by `record_leased`, with episodes or without, and that the
/// refusals wrote nothing.
async fn assert_refused(store: &dyn Store, lease: &Lease, what: &str) {
    let before = log(store, lease.run).await;
    for episodes in [&[tool_called(9)][..], &[]] {
        assert_eq!(
            store.record_leased(lease, episodes).await,
            Err(lost(lease.run)),
            "recording {} episodes under {what}",
            episodes.len()
        );
    }
    assert_eq!(
        log(store, lease.run).await,
        before,
        "a refused record under {what} writes nothing"
    );
}

/// Episodes recorded under the run's current lease are appended after its log, in the order
/// given, each numbered after the last, whatever wrote before them (a record, a commit); an
/// empty record writes nothing and succeeds.
pub async fn records_under_a_lease_follow_the_log_in_order(store: Arc<dyn Store>) {
    let leases = Leases(&*store);
    let (run, thread) = leases.started_run().await;
    let lease = leases.take(run, thread, "driver-a", LIVE).await;
    let mut expected = log(&*store, run).await;

    let intents = [tool_called(1), tool_called(2), tool_called(3)];
    store
        .record_leased(&lease, &intents)
        .await
        .expect("record under the current lease");
    expected.extend(intents.iter().cloned());
    assert_eq!(log(&*store, run).await, expected);

    let (messages, done) = ([user("step 1")], [step_completed(1)]);
    let step = commit((run, thread), 1, Some(0), (&messages, &done), Some(&lease));
    assert_eq!(store.commit_step(step).await, Ok(1));
    expected.extend(done.iter().cloned());
    let more = [tool_called(4)];
    store
        .record_leased(&lease, &more)
        .await
        .expect("record after a commit");
    expected.extend(more.iter().cloned());
    assert_eq!(log(&*store, run).await, expected);

    store
        .record_leased(&lease, &[])
        .await
        .expect("an empty record under the current lease");
    assert_eq!(log(&*store, run).await, expected, "an empty record");
}

/// An expired lease that nobody replaced is still current: episodes recorded under it are
/// written.
pub async fn records_under_an_expired_lease_nobody_replaced_are_written(store: Arc<dyn Store>) {
    let leases = Leases(&*store);
    let (run, thread) = leases.started_run().await;
    let lease = leases.take(run, thread, "driver-a", EXPIRED).await;
    let intents = [tool_called(1), tool_called(2)];
    store
        .record_leased(&lease, &intents)
        .await
        .expect("an expired lease that nobody replaced is current");
    assert_eq!(log(&*store, run).await[1..], intents);
}

/// Under a lease that is no longer current — replaced by an acquire after it expired, handed
/// over, released — a record is refused with `LeaseLost` and writes nothing, while the
/// current lease records.
pub async fn records_under_a_stale_lease_write_nothing(store: Arc<dyn Store>) {
    let leases = Leases(&*store);
    let (run, thread) = leases.started_run().await;
    let replaced = leases.take(run, thread, "driver-a", EXPIRED).await;
    let current = leases.take(run, thread, "driver-b", LIVE).await;
    assert_refused(&*store, &replaced, "a lease replaced after it expired").await;

    let handed_over = current;
    let current = store
        .hand_over_lease(&handed_over, "approver", LIVE)
        .await
        .expect("hand over");
    assert_refused(&*store, &handed_over, "a lease handed over").await;

    let intents = [tool_called(1)];
    store
        .record_leased(&current, &intents)
        .await
        .expect("record under the lease handed over to");
    assert_eq!(log(&*store, run).await[1..], intents);

    store.release_lease(&current, None).await.expect("release");
    assert_refused(&*store, &current, "a released lease").await;
}
