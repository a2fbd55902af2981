//! Checks of [`EpisodicStore`](baton_core::memory::EpisodicStore): order, numbering, runs in
//! flight.

use super::fixtures::{self, agent, failed, ids, step_completed, tool_called};
use baton_core::error::FailureKind;
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::Usage;
use baton_core::memory::{Episode, Store};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Episodes read back in the order recorded, numbered from 0 without gaps, stamped when
/// recorded; each run has its own numbering.
pub async fn episodes_keep_order_and_number(store: Arc<dyn Store>) {
    let (run, other, thread) = (RunId::new(), RunId::new(), ThreadId::new());
    let episodes = vec![
        Episode::Started {
            agent: agent("triage"),
            thread,
        },
        tool_called(1),
        step_completed(1),
        Episode::HandedOff {
            from: agent("triage"),
            to: agent("billing"),
            reason: "refund".into(),
        },
        Episode::Started {
            agent: agent("billing"),
            thread,
        },
        step_completed(2),
        Episode::Completed {
            output: "done".into(),
            usage: Usage::new(200, 40),
        },
    ];
    let before = now_ms();
    for (i, episode) in episodes.iter().enumerate() {
        store.record(run, episode.clone()).await.expect("record");
        if i == 2 {
            store
                .record(other, failed(FailureKind::Provider, "x"))
                .await
                .expect("record");
        }
    }
    let after = now_ms();

    let log = store.episodes(run).await.expect("episodes");
    let read: Vec<_> = log.iter().map(|r| r.episode.clone()).collect();
    assert_eq!(
        read, episodes,
        "episodes must read back in the order recorded"
    );
    for (i, record) in log.iter().enumerate() {
        assert_eq!(
            record.seq, i as u64,
            "sequence numbers count from 0 without gaps"
        );
        assert!(
            (before..=after).contains(&record.at_ms),
            "episode {i} stamped {} outside {before}..={after}",
            record.at_ms
        );
    }
    let other_log = store.episodes(other).await.expect("episodes");
    assert_eq!(other_log.len(), 1);
    assert_eq!(other_log[0].seq, 0, "each run numbers its own episodes");
}

/// `unfinished_runs` lists the runs whose latest episode is not `Completed` or `Failed`,
/// oldest (smallest UUIDv7) first.
pub async fn unfinished_runs_are_runs_without_an_end(store: Arc<dyn Store>) {
    let mut runs: Vec<RunId> = (0..5).map(|_| RunId::new()).collect();
    runs.sort_unstable();
    let [started, completed, stepping, failed, reopened] = runs[..] else {
        unreachable!("five runs")
    };
    let thread = ThreadId::new();
    let start = Episode::Started {
        agent: agent("a"),
        thread,
    };
    let done = Episode::Completed {
        output: "ok".into(),
        usage: Usage::new(1, 1),
    };
    // Recorded newest run first: the order is the runs' age, not the order of writes.
    store.record(reopened, start.clone()).await.expect("record");
    store.record(reopened, done.clone()).await.expect("record");
    store.record(reopened, start.clone()).await.expect("record");
    store.record(failed, start.clone()).await.expect("record");
    store
        .record(
            failed,
            fixtures::failed(FailureKind::Cancelled, "run cancelled"),
        )
        .await
        .expect("record");
    store.record(stepping, start.clone()).await.expect("record");
    store
        .record(stepping, step_completed(1))
        .await
        .expect("record");
    store
        .record(completed, start.clone())
        .await
        .expect("record");
    store.record(completed, done.clone()).await.expect("record");
    store.record(started, start.clone()).await.expect("record");

    let unfinished = store.unfinished_runs().await.expect("unfinished");
    assert_eq!(ids(&unfinished), [started, stepping, reopened]);

    store.record(started, done).await.expect("record");
    let unfinished = store.unfinished_runs().await.expect("unfinished");
    assert_eq!(ids(&unfinished), [stepping, reopened]);
}

/// Episodes recorded concurrently on one run get distinct sequence numbers `0..n`, and each
/// writer's episodes keep their order.
pub async fn concurrent_records_number_episodes_densely(store: Arc<dyn Store>) {
    const WRITERS: u32 = 8;
    const EACH: u32 = 5;
    let run = RunId::new();
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..EACH {
                let episode = Episode::ToolCalled {
                    step: i,
                    call_id: format!("{writer}"),
                    tool: "t".into(),
                    ok: true,
                    latency_ms: 0,
                };
                store.record(run, episode).await.expect("record");
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("writer task");
    }

    let log = store.episodes(run).await.expect("episodes");
    assert_eq!(
        log.len(),
        (WRITERS * EACH) as usize,
        "no episode may be lost"
    );
    let seqs: HashSet<u64> = log.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..u64::from(WRITERS * EACH)).collect());
    for writer in 0..WRITERS {
        let steps: Vec<u32> = log
            .iter()
            .filter_map(|r| match &r.episode {
                Episode::ToolCalled { step, call_id, .. } if *call_id == writer.to_string() => {
                    Some(*step)
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            steps,
            (0..EACH).collect::<Vec<_>>(),
            "writer {writer}'s order"
        );
    }
}
