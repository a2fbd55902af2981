//! Checks of run leases: a run is driven once, a thread is held by one run, an expired lease is
//! replaced and its holder fenced off, and `unfinished_runs` says who drives what.
//!
//! Expiry is tested without waiting: a lease taken for [`EXPIRED`] (zero) has expired by the
//! time anyone looks at it.

use super::fixtures::{agent, completed, ids, step_completed, texts, user};
use baton_core::error::StoreError;
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::Message;
use baton_core::memory::{
    Episode, Lease, LeaseHolder, Page, StepCommit, Store, UnfinishedRun, now_ms,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;

/// Longer than any check runs.
pub(super) const LIVE: Duration = Duration::from_secs(600);

/// Expired as soon as taken.
pub(super) const EXPIRED: Duration = Duration::ZERO;

/// How far a lease's expiry may stray from this process's clock: a backend may keep time by
/// its database server's.
const CLOCK_SLACK_MS: u64 = 1_000;

/// Asserts that `lease` expires `ttl` after some moment between `before` and `after`.
pub(super) fn assert_expires_in(lease: &Lease, ttl: Duration, before: u64, after: u64) {
    let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let earliest = before.saturating_add(ttl).saturating_sub(CLOCK_SLACK_MS);
    let latest = after.saturating_add(ttl).saturating_add(CLOCK_SLACK_MS);
    assert!(
        (earliest..=latest).contains(&lease.expires_at_ms),
        "a lease for {ttl} ms taken between {before} and {after} expires at {}",
        lease.expires_at_ms
    );
}

/// The refusal of a write under a lease that is no longer current.
pub(super) fn lost(run: RunId) -> StoreError {
    StoreError::LeaseLost { run }
}

/// A run's first episode.
pub(super) fn started(thread: ThreadId) -> Episode {
    Episode::Started {
        agent: agent("triage"),
        thread,
    }
}

/// The store under check, with the steps the checks repeat: new runs, leases taken that must
/// be granted, and acquires that must be refused.
pub(super) struct Leases<'a>(pub(super) &'a dyn Store);

impl Leases<'_> {
    /// A new run on a new thread, whose first episode is recorded.
    pub(super) async fn started_run(&self) -> (RunId, ThreadId) {
        let (run, thread) = (RunId::new(), ThreadId::new());
        self.0.record(run, started(thread)).await.expect("record");
        (run, thread)
    }

    /// The lease of `run` on `thread` for `owner`, for `ttl`, which must be granted.
    pub(super) async fn take(
        &self,
        run: RunId,
        thread: ThreadId,
        owner: &str,
        ttl: Duration,
    ) -> Lease {
        self.0
            .acquire_lease(run, thread, owner, ttl)
            .await
            .unwrap_or_else(|e| panic!("{owner} taking run {run} on thread {thread}: {e}"))
    }

    /// Asserts that `owner` taking `run` on `thread` is refused with `refusal`.
    pub(super) async fn assert_refused(
        &self,
        run: RunId,
        thread: ThreadId,
        owner: &str,
        refusal: StoreError,
    ) {
        assert_eq!(
            self.0.acquire_lease(run, thread, owner, LIVE).await,
            Err(refusal),
            "{owner} taking run {run} on thread {thread}"
        );
    }
}

/// The refusal of a run that `owner` drives.
pub(super) fn run_leased(run: RunId, owner: &str) -> StoreError {
    StoreError::RunLeased {
        run,
        owner: owner.into(),
    }
}

/// The refusal of a thread that the lease of `holder` holds.
pub(super) const fn thread_busy(thread: ThreadId, holder: RunId) -> StoreError {
    StoreError::ThreadBusy { thread, holder }
}

/// A commit of `step` of `run` on `thread`, under `lease`.
pub(super) fn commit<'a>(
    (run, thread): (RunId, ThreadId),
    step: u32,
    expected_len: Option<u64>,
    (messages, episodes): (&'a [Arc<Message>], &'a [Episode]),
    lease: Option<&'a Lease>,
) -> StepCommit<'a> {
    StepCommit {
        thread,
        expected_len,
        messages,
        run,
        step,
        episodes,
        lease,
    }
}

/// A lease holds what it was taken for, expires `ttl` after it was taken or renewed, keeps its
/// token when renewed, and once released, frees its run and its thread and can be neither
/// renewed nor released again. Each taking has a fresh token.
pub async fn leases_are_acquired_renewed_and_released(store: Arc<dyn Store>) {
    let leases = Leases(&*store);
    let (run, thread) = (RunId::new(), ThreadId::new());
    let before = now_ms();
    let lease = leases.take(run, thread, "driver-a", LIVE).await;
    let after = now_ms();
    assert_eq!(
        (lease.run, lease.thread, &*lease.owner),
        (run, thread, "driver-a")
    );
    assert_expires_in(&lease, LIVE, before, after);

    let before = now_ms();
    let renewed = store.renew_lease(&lease, 2 * LIVE).await.expect("renew");
    let after = now_ms();
    assert_eq!(renewed.token, lease.token, "a renewal keeps the token");
    assert_eq!(
        (renewed.run, renewed.thread, &*renewed.owner),
        (run, thread, "driver-a")
    );
    assert_expires_in(&renewed, 2 * LIVE, before, after);

    // The lease as first taken carries the same token: it is the current lease.
    store.release_lease(&lease, None).await.expect("release");
    assert_eq!(store.renew_lease(&renewed, LIVE).await, Err(lost(run)));
    assert_eq!(store.release_lease(&renewed, None).await, Err(lost(run)));

    // A released run and thread are free.
    let next = leases.take(run, thread, "driver-b", LIVE).await;
    assert_ne!(next.token, lease.token, "each taking has a fresh token");
    let other = leases
        .take(RunId::new(), ThreadId::new(), "driver-b", LIVE)
        .await;
    assert_ne!(other.token, next.token, "each taking has a fresh token");
}

/// A run under a live lease is refused to every acquirer, its own owner included and on any
/// thread, with [`StoreError::RunLeased`] naming the holder; the refusals write nothing.
pub async fn a_leased_run_is_driven_once(store: Arc<dyn Store>) {
    let leases = Leases(&*store);
    let (run, thread, elsewhere) = (RunId::new(), ThreadId::new(), ThreadId::new());
    let lease = leases.take(run, thread, "driver-a", LIVE).await;
    for (owner, on) in [
        ("driver-b", thread),
        ("driver-a", thread),
        ("driver-b", elsewhere),
    ] {
        leases
            .assert_refused(run, on, owner, run_leased(run, "driver-a"))
            .await;
    }
    // The lease is as it was, and still holds its thread; the refusal took no thread.
    let renewed = store.renew_lease(&lease, LIVE).await.expect("renew");
    assert_eq!(renewed.token, lease.token);
    leases
        .assert_refused(RunId::new(), thread, "driver-b", thread_busy(thread, run))
        .await;
    // A refused acquire holds no thread.
    leases.take(RunId::new(), elsewhere, "driver-b", LIVE).await;
}

/// A thread held by a run's live lease is refused to other runs with
/// [`StoreError::ThreadBusy`] naming the run, whoever asks; the refused run holds nothing, and
/// a released thread is free.
pub async fn a_held_thread_is_refused_to_other_runs(store: Arc<dyn Store>) {
    let leases = Leases(&*store);
    let (first, second, thread) = (RunId::new(), RunId::new(), ThreadId::new());
    let held = leases.take(first, thread, "driver-a", LIVE).await;
    for owner in ["driver-a", "driver-b"] {
        leases
            .assert_refused(second, thread, owner, thread_busy(thread, first))
            .await;
    }
    // A refused run is not leased.
    leases.take(second, ThreadId::new(), "driver-b", LIVE).await;
    store.release_lease(&held, None).await.expect("release");
    // A released thread is free.
    leases.take(RunId::new(), thread, "driver-c", LIVE).await;
}

/// An expired lease is replaced by the next acquire of its run or of its thread; its holder is
/// then fenced off: it can neither renew nor release (which records nothing), and the new lease
/// is untouched.
pub async fn an_expired_lease_is_replaced_and_its_holder_fenced_off(store: Arc<dyn Store>) {
    let leases = Leases(&*store);
    let (run, thread) = (RunId::new(), ThreadId::new());
    let stale = leases.take(run, thread, "driver-a", EXPIRED).await;
    // An expired lease is replaced.
    let fresh = leases.take(run, thread, "driver-b", LIVE).await;
    assert_ne!(fresh.token, stale.token);
    assert_eq!(store.renew_lease(&stale, LIVE).await, Err(lost(run)));
    assert_eq!(
        store
            .release_lease(&stale, Some(&completed("stale answer")))
            .await,
        Err(lost(run))
    );
    assert!(
        store.episodes(run).await.expect("episodes").is_empty(),
        "a refused release records nothing"
    );
    assert_eq!(
        store.renew_lease(&fresh, LIVE).await.map(|l| l.token),
        Ok(fresh.token)
    );
    leases
        .assert_refused(run, thread, "driver-a", run_leased(run, "driver-b"))
        .await;

    // An expired lease of another run no longer holds its thread.
    let (earlier, held) = (RunId::new(), ThreadId::new());
    let stale = leases.take(earlier, held, "driver-a", EXPIRED).await;
    leases.take(RunId::new(), held, "driver-b", LIVE).await;
    assert_eq!(store.renew_lease(&stale, LIVE).await, Err(lost(earlier)));
    // The replaced lease's run is free.
    leases
        .take(earlier, ThreadId::new(), "driver-a", LIVE)
        .await;
}

/// An expired lease that nobody replaced is still the run's current lease: an acquire that is
/// refused does not replace it, though it is in its way; it renews (keeping its token), and then
/// holds its run and its thread again.
pub async fn an_expired_lease_nobody_replaced_renews(store: Arc<dyn Store>) {
    let leases = Leases(&*store);
    let (run, thread) = (RunId::new(), ThreadId::new());
    let lease = leases.take(run, thread, "driver-a", EXPIRED).await;
    let (busy_run, busy_thread) = (RunId::new(), ThreadId::new());
    leases.take(busy_run, busy_thread, "driver-b", LIVE).await;
    // The expired lease's run, wanted on a busy thread; its thread, wanted by a leased run.
    leases
        .assert_refused(
            run,
            busy_thread,
            "driver-b",
            thread_busy(busy_thread, busy_run),
        )
        .await;
    leases
        .assert_refused(
            busy_run,
            thread,
            "driver-b",
            run_leased(busy_run, "driver-b"),
        )
        .await;
    let renewed = store
        .renew_lease(&lease, LIVE)
        .await
        .expect("an expired lease nobody replaced renews");
    assert_eq!(renewed.token, lease.token);
    leases
        .assert_refused(run, thread, "driver-b", run_leased(run, "driver-a"))
        .await;
    leases
        .assert_refused(RunId::new(), thread, "driver-b", thread_busy(thread, run))
        .await;
}

/// A commit under a lease goes through while the lease is current (expired, but not replaced);
/// under a replaced lease it is refused with [`StoreError::LeaseLost`] and writes nothing —
/// a new step, a retry of a committed step, an unconditional append, a new thread alike —
/// while the new driver commits.
pub async fn a_commit_under_a_stale_lease_writes_nothing(store: Arc<dyn Store>) {
    let leases = Leases(&*store);
    let (run, thread) = leases.started_run().await;
    let first = leases.take(run, thread, "driver-a", EXPIRED).await;
    let (one, one_done) = ([user("step 1")], [step_completed(1)]);
    assert_eq!(
        store
            .commit_step(commit(
                (run, thread),
                1,
                Some(0),
                (&one, &one_done),
                Some(&first)
            ))
            .await,
        Ok(1),
        "an expired lease that nobody replaced is current"
    );

    // Replaces the expired lease.
    let second = leases.take(run, thread, "driver-b", LIVE).await;
    let (two, two_done) = ([user("step 2")], [step_completed(2)]);
    let stale = [
        commit((run, thread), 2, Some(1), (&two, &two_done), Some(&first)),
        commit((run, thread), 2, None, (&two, &two_done), Some(&first)),
        commit((run, thread), 1, Some(0), (&one, &one_done), Some(&first)),
    ];
    for attempt in stale {
        assert_eq!(
            store.commit_step(attempt).await,
            Err(lost(run)),
            "a commit of step {} under a replaced lease",
            attempt.step
        );
    }
    let fresh_thread = ThreadId::new();
    assert_eq!(
        store
            .commit_step(commit(
                (run, fresh_thread),
                2,
                Some(0),
                (&two, &two_done),
                Some(&first)
            ))
            .await,
        Err(lost(run))
    );
    assert_eq!(texts(&*store, thread).await, ["step 1"]);
    assert_eq!(store.episodes(run).await.expect("episodes").len(), 2);
    let threads = store.threads(Page::ALL).await.expect("threads");
    assert_eq!(threads, [thread], "a refused commit creates no thread");

    assert_eq!(
        store
            .commit_step(commit(
                (run, thread),
                2,
                Some(1),
                (&two, &two_done),
                Some(&second)
            ))
            .await,
        Ok(2)
    );
    assert_eq!(texts(&*store, thread).await, ["step 1", "step 2"]);
    assert_eq!(store.episodes(run).await.expect("episodes").len(), 3);
}

/// Releasing a lease with the run's terminal episode records it (the run is then finished) and
/// frees the thread for another run; releasing without one records nothing, and the run is
/// left unfinished with nobody driving it.
pub async fn releasing_records_the_terminal_episode_and_frees_the_thread(store: Arc<dyn Store>) {
    let leases = Leases(&*store);
    let (run, thread) = leases.started_run().await;
    let lease = leases.take(run, thread, "driver-a", LIVE).await;
    let answer = completed("answer");
    store
        .release_lease(&lease, Some(&answer))
        .await
        .expect("release");
    let log = store.episodes(run).await.expect("episodes");
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].episode, answer);
    let unfinished = store.unfinished_runs().await.expect("unfinished");
    assert!(!ids(&unfinished).contains(&run), "{unfinished:?}");
    // A released thread is free.
    leases.take(RunId::new(), thread, "driver-b", LIVE).await;

    let (paused, other) = leases.started_run().await;
    let lease = leases.take(paused, other, "driver-a", LIVE).await;
    store.release_lease(&lease, None).await.expect("release");
    assert_eq!(store.episodes(paused).await.expect("episodes").len(), 1);
    let unfinished = store.unfinished_runs().await.expect("unfinished");
    assert!(
        unfinished.contains(&UnfinishedRun {
            run: paused,
            driver: None
        }),
        "{unfinished:?}"
    );
}

/// `unfinished_runs` gives each unfinished run the holder of its live lease, as last taken or
/// renewed, and no driver to a run whose lease expired or that has none; a finished run is not
/// listed, leased or not.
pub async fn unfinished_runs_say_who_drives_them(store: Arc<dyn Store>) {
    let leases = Leases(&*store);
    let mut runs: Vec<RunId> = (0..4).map(|_| RunId::new()).collect();
    runs.sort_unstable();
    let [driven, expired, abandoned, finished] = runs[..] else {
        unreachable!("four runs")
    };
    for &run in &runs {
        store
            .record(run, started(ThreadId::new()))
            .await
            .expect("record");
    }
    let live = leases.take(driven, ThreadId::new(), "driver-a", LIVE).await;
    leases
        .take(expired, ThreadId::new(), "driver-b", EXPIRED)
        .await;
    leases
        .take(finished, ThreadId::new(), "driver-c", LIVE)
        .await;
    store
        .record(finished, completed("done"))
        .await
        .expect("record");

    let holder = |lease: &Lease| {
        Some(LeaseHolder {
            owner: lease.owner.to_string(),
            expires_at_ms: lease.expires_at_ms,
        })
    };
    let unfinished = store.unfinished_runs().await.expect("unfinished");
    assert_eq!(
        unfinished,
        [
            UnfinishedRun {
                run: driven,
                driver: holder(&live)
            },
            UnfinishedRun {
                run: expired,
                driver: None
            },
            UnfinishedRun {
                run: abandoned,
                driver: None
            },
        ]
    );
    assert!(!unfinished[0].is_abandoned() && unfinished[1].is_abandoned());

    let renewed = store.renew_lease(&live, 2 * LIVE).await.expect("renew");
    let unfinished = store.unfinished_runs().await.expect("unfinished");
    assert_eq!(unfinished[0].driver, holder(&renewed));
}

/// A lease for the longest time there is (`Duration::MAX`) is taken and renewed without
/// overflowing, and is live.
pub async fn a_lease_without_end_is_live(store: Arc<dyn Store>) {
    let leases = Leases(&*store);
    let (run, thread) = leases.started_run().await;
    let lease = leases.take(run, thread, "driver-a", Duration::MAX).await;
    let renewed = store
        .renew_lease(&lease, Duration::MAX)
        .await
        .expect("renew");
    assert!(renewed.expires_at_ms >= lease.expires_at_ms);
    leases
        .assert_refused(run, thread, "driver-b", run_leased(run, "driver-a"))
        .await;
    let unfinished = store.unfinished_runs().await.expect("unfinished");
    assert_eq!(
        unfinished,
        [UnfinishedRun {
            run,
            driver: Some(LeaseHolder {
                owner: "driver-a".into(),
                expires_at_ms: renewed.expires_at_ms
            })
        }]
    );
}

/// Two handles on one database (two pools, as two processes hold) take leases at the same
/// moment: of two acquires of one run, or of two runs on one thread, or of one run whose lease
/// expired, exactly one wins and the other is refused, naming the winner.
pub async fn racing_acquires_on_two_handles(first: Arc<dyn Store>, second: Arc<dyn Store>) {
    const ROUNDS: usize = 10;
    for round in 0..ROUNDS {
        let (run, thread) = (RunId::new(), ThreadId::new());
        let results = race([&first, &second], [(run, thread), (run, thread)]).await;
        let (winner, refusal) = one_winner(&results, round);
        assert_eq!(
            refusal,
            &run_leased(run, &winner.owner),
            "round {round}: two acquires of one run"
        );

        let (one, two, thread) = (RunId::new(), RunId::new(), ThreadId::new());
        let results = race([&first, &second], [(one, thread), (two, thread)]).await;
        let (winner, refusal) = one_winner(&results, round);
        assert_eq!(
            refusal,
            &thread_busy(thread, winner.run),
            "round {round}: two runs on one thread"
        );

        let (run, thread) = (RunId::new(), ThreadId::new());
        let stale = Leases(&*first).take(run, thread, "stale", EXPIRED).await;
        let results = race([&second, &first], [(run, thread), (run, thread)]).await;
        let (winner, refusal) = one_winner(&results, round);
        assert_eq!(
            refusal,
            &run_leased(run, &winner.owner),
            "round {round}: two takeovers of an expired lease"
        );
        for store in [&first, &second] {
            assert_eq!(store.renew_lease(&stale, LIVE).await, Err(lost(run)));
        }
    }
}

/// Starts `claims[i]` (a run and a thread) on `stores[i]` at the same moment, owned by
/// `"first"` and `"second"`; their results.
async fn race(
    stores: [&Arc<dyn Store>; 2],
    claims: [(RunId, ThreadId); 2],
) -> [Result<Lease, StoreError>; 2] {
    let barrier = Arc::new(Barrier::new(2));
    let start = |store: &Arc<dyn Store>, (run, thread): (RunId, ThreadId), owner: &'static str| {
        let (store, barrier) = (store.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            store.acquire_lease(run, thread, owner, LIVE).await
        })
    };
    let one = start(stores[0], claims[0], "first");
    let two = start(stores[1], claims[1], "second");
    [
        one.await.expect("racer task"),
        two.await.expect("racer task"),
    ]
}

/// The lease of the one racer that won and the refusal of the other.
pub(super) fn one_winner(
    results: &[Result<Lease, StoreError>; 2],
    round: usize,
) -> (&Lease, &StoreError) {
    match results {
        [Ok(winner), Err(refusal)] | [Err(refusal), Ok(winner)] => (winner, refusal),
        _ => panic!("round {round}: exactly one racer must win: {results:?}"),
    }
}
