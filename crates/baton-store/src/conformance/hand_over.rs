//! Checks of [`Store::hand_over_lease`]: a current lease is replaced by a fresh one on the same
//! thread, which stays held; the lease handed over is fenced off; of two hand-overs with one
//! lease, one wins.

use super::fixtures::{step_completed, texts, tool_called, user};
use super::leases::{
    EXPIRED, LIVE, Leases, assert_expires_in, commit, lost, one_winner, run_leased, thread_busy,
};
use baton_core::error::StoreError;
use baton_core::ids::RunId;
use baton_core::memory::{Lease, LeaseHolder, Store, now_ms};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;

/// Hands `lease` over to `owner` for `ttl`, which must be granted.
async fn hand_over(store: &dyn Store, lease: &Lease, owner: &str, ttl: Duration) -> Lease {
    store
        .hand_over_lease(lease, owner, ttl)
        .await
        .unwrap_or_else(|e| panic!("handing run {} over to {owner}: {e}", lease.run))
}

/// A hand-over gives a fresh lease of the same run on the same thread to the new owner, for the
/// time asked. The thread and the run stay held: another run's acquire of the thread is
/// `ThreadBusy`, an acquire of the run is `RunLeased` by the new owner, whom `unfinished_runs`
/// names. The lease handed over is refused by every write under it; the new one commits,
/// renews (keeping its token) and releases, which frees the thread.
pub async fn a_handed_over_lease_is_fresh_and_keeps_the_thread(store: Arc<dyn Store>) {
    let leases = Leases(&*store);
    let (run, thread) = leases.started_run().await;
    let old = leases.take(run, thread, "driver-a", LIVE).await;
    let before = now_ms();
    let new = hand_over(&*store, &old, "approver", 2 * LIVE).await;
    let after = now_ms();
    assert_ne!(new.token, old.token, "a hand-over gives a fresh token");
    assert_eq!(
        (new.run, new.thread, &*new.owner),
        (run, thread, "approver")
    );
    assert_expires_in(&new, 2 * LIVE, before, after);

    leases
        .assert_refused(RunId::new(), thread, "driver-b", thread_busy(thread, run))
        .await;
    leases
        .assert_refused(run, thread, "driver-a", run_leased(run, "approver"))
        .await;
    let unfinished = store.unfinished_runs().await.expect("unfinished");
    let driver = unfinished.iter().find(|u| u.run == run).map(|u| &u.driver);
    assert_eq!(
        driver,
        Some(&Some(LeaseHolder {
            owner: "approver".into(),
            expires_at_ms: new.expires_at_ms
        }))
    );

    // The lease handed over is fenced off.
    let (one, one_done) = ([user("step 1")], [step_completed(1)]);
    let step = |lease| commit((run, thread), 1, Some(0), (&one, &one_done), Some(lease));
    assert_eq!(store.commit_step(step(&old)).await, Err(lost(run)));
    assert_eq!(store.renew_lease(&old, LIVE).await, Err(lost(run)));
    assert_eq!(
        store.record_leased(&old, &[tool_called(1)]).await,
        Err(lost(run))
    );
    assert_eq!(
        store.hand_over_lease(&old, "driver-a", LIVE).await,
        Err(lost(run))
    );
    assert_eq!(store.release_lease(&old, None).await, Err(lost(run)));
    assert!(texts(&*store, thread).await.is_empty());
    assert_eq!(store.episodes(run).await.expect("episodes").len(), 1);

    // The new lease is current.
    assert_eq!(store.commit_step(step(&new)).await, Ok(1));
    let renewed = store.renew_lease(&new, LIVE).await.expect("renew");
    assert_eq!(renewed.token, new.token);
    store.release_lease(&new, None).await.expect("release");
    leases.take(RunId::new(), thread, "driver-b", LIVE).await;
}

/// An expired lease that nobody replaced is current, and hands over: the new lease holds the
/// run and the thread again.
pub async fn an_expired_lease_nobody_replaced_hands_over(store: Arc<dyn Store>) {
    let leases = Leases(&*store);
    let (run, thread) = leases.started_run().await;
    let old = leases.take(run, thread, "driver-a", EXPIRED).await;
    let new = hand_over(&*store, &old, "approver", LIVE).await;
    assert_ne!(new.token, old.token);
    leases
        .assert_refused(RunId::new(), thread, "driver-b", thread_busy(thread, run))
        .await;
    leases
        .assert_refused(run, thread, "driver-b", run_leased(run, "approver"))
        .await;
}

/// A lease that is not current — replaced by an acquire after it expired, or released — is not
/// handed over: the hand-over is refused with `LeaseLost` and leaves the current lease as it
/// was.
pub async fn a_stale_lease_is_not_handed_over(store: Arc<dyn Store>) {
    let leases = Leases(&*store);
    let (run, thread) = leases.started_run().await;
    let replaced = leases.take(run, thread, "driver-a", EXPIRED).await;
    let current = leases.take(run, thread, "driver-b", LIVE).await;
    assert_eq!(
        store.hand_over_lease(&replaced, "approver", LIVE).await,
        Err(lost(run))
    );
    leases
        .assert_refused(run, thread, "driver-c", run_leased(run, "driver-b"))
        .await;
    let renewed = store.renew_lease(&current, LIVE).await.expect("renew");
    assert_eq!(renewed.token, current.token);

    store.release_lease(&current, None).await.expect("release");
    assert_eq!(
        store.hand_over_lease(&current, "approver", LIVE).await,
        Err(lost(run))
    );
    // The refused hand-over took nothing: the run and the thread are free.
    leases.take(RunId::new(), thread, "driver-c", LIVE).await;
    leases
        .take(run, baton_core::ids::ThreadId::new(), "driver-c", LIVE)
        .await;
}

/// Two handles on one database hand one lease over at the same moment (two deciders of a
/// paused run's approvals): exactly one wins and the other is refused with `LeaseLost`; the
/// winner's lease is the run's current one, seen alike from both handles.
pub async fn racing_hand_overs_on_two_handles(first: Arc<dyn Store>, second: Arc<dyn Store>) {
    const ROUNDS: usize = 10;
    for round in 0..ROUNDS {
        let leases = Leases(&*first);
        let (run, thread) = leases.started_run().await;
        let ttl = if round % 2 == 0 { LIVE } else { EXPIRED };
        let parked = leases.take(run, thread, "parked", ttl).await;
        let barrier = Arc::new(Barrier::new(2));
        let start = |store: &Arc<dyn Store>, owner: &'static str| {
            let (store, barrier, parked) = (store.clone(), barrier.clone(), parked.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.hand_over_lease(&parked, owner, LIVE).await
            })
        };
        let one = start(&first, "first");
        let two = start(&second, "second");
        let results = [
            one.await.expect("racer task"),
            two.await.expect("racer task"),
        ];
        let (winner, refusal) = one_winner(&results, round);
        assert_eq!(refusal, &lost(run), "round {round}: the loser's refusal");
        for store in [&first, &second] {
            assert_eq!(
                store.renew_lease(winner, LIVE).await.map(|l| l.token),
                Ok(winner.token),
                "round {round}: the winner's lease is current"
            );
            assert_eq!(
                store.acquire_lease(run, thread, "third", LIVE).await,
                Err(StoreError::RunLeased {
                    run,
                    owner: winner.owner.to_string()
                }),
                "round {round}"
            );
        }
    }
}
