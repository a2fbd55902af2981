//! Checks of many writers on one thread: nothing lost, nothing interleaved, stale writers refused.

use super::fixtures::{assert_conflict, texts, user};
use baton_core::error::StoreError;
use baton_core::ids::ThreadId;
use baton_core::memory::Store;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::Barrier;

/// Appends per writer.
const APPENDS: usize = 10;

/// Writers on one store that append with the length they last saw, retrying on conflict, lose
/// nothing and never interleave.
pub async fn concurrent_appends_with_expected_len(store: Arc<dyn Store>) {
    let thread = ThreadId::new();
    let lengths = hammer(&[store.clone(), store.clone()], thread, 4, true).await;
    assert_consistent(&*store, thread, 8, &lengths).await;
}

/// Writers on one store that append unconditionally lose nothing and never interleave.
pub async fn concurrent_appends_without_expected_len(store: Arc<dyn Store>) {
    let thread = ThreadId::new();
    let lengths = hammer(&[store.clone(), store.clone()], thread, 4, false).await;
    assert_consistent(&*store, thread, 8, &lengths).await;
}

/// Two handles on one database (two pools, as two processes hold) race on one thread: a stale
/// writer is refused whichever handle it uses, exactly one of two simultaneous writers wins,
/// and many writers on both lose nothing and never interleave.
pub async fn racing_handles_on_one_thread(first: Arc<dyn Store>, second: Arc<dyn Store>) {
    let thread = ThreadId::new();
    assert_eq!(first.append(thread, Some(0), &[user("first")]).await, Ok(1));
    assert_conflict(
        second.append(thread, Some(0), &[user("second")]).await,
        thread,
        0,
        1,
    );
    assert_eq!(
        second.append(thread, Some(1), &[user("second")]).await,
        Ok(2)
    );
    assert_eq!(texts(&*first, thread).await, ["first", "second"]);

    // Two writers expecting the same length, released together: one wins.
    let barrier = Arc::new(Barrier::new(2));
    let race = |store: Arc<dyn Store>, text: &'static str| {
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            store.append(thread, Some(2), &[user(text)]).await
        })
    };
    let one = race(first.clone(), "one");
    let two = race(second.clone(), "two");
    let results = [one.await.expect("task"), two.await.expect("task")];
    assert!(results.contains(&Ok(3)), "one writer must win: {results:?}");
    let refused = StoreError::Conflict {
        thread,
        expected: 2,
        actual: 3,
    };
    assert!(
        results.contains(&Err(refused)),
        "the other must be refused: {results:?}"
    );
    assert_eq!(texts(&*second, thread).await.len(), 3);

    for with_expected_len in [true, false] {
        let thread = ThreadId::new();
        let stores = [first.clone(), second.clone()];
        let lengths = hammer(&stores, thread, 3, with_expected_len).await;
        assert_consistent(&*first, thread, 6, &lengths).await;
    }
}

/// Runs `per_store` writers on each of `stores`, each appending [`APPENDS`] pairs of messages
/// to `thread` (with the length it last saw, or unconditionally); the lengths the appends
/// returned.
async fn hammer(
    stores: &[Arc<dyn Store>],
    thread: ThreadId,
    per_store: usize,
    with_expected_len: bool,
) -> Vec<u64> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut writer = 0;
    for store in stores {
        for _ in 0..per_store {
            let store = store.clone();
            tasks.spawn(async move {
                let mut lengths = Vec::new();
                let mut seen = 0;
                for i in 0..APPENDS {
                    let pair = [
                        user(format!("{writer}/{i}/a")),
                        user(format!("{writer}/{i}/b")),
                    ];
                    loop {
                        let expected = with_expected_len.then_some(seen);
                        match store.append(thread, expected, &pair).await {
                            Ok(len) => {
                                lengths.push(len);
                                seen = len;
                                break;
                            }
                            Err(StoreError::Conflict { actual, .. }) if with_expected_len => {
                                seen = actual;
                            }
                            Err(error) => panic!("writer {writer}: {error}"),
                        }
                    }
                }
                lengths
            });
            writer += 1;
        }
    }
    let mut lengths = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        lengths.extend(joined.expect("writer task"));
    }
    lengths
}

/// Asserts that `thread` holds every pair of [`hammer`]'s `writers` contiguously, each writer's
/// pairs in order, and that each append returned a distinct length.
async fn assert_consistent(store: &dyn Store, thread: ThreadId, writers: usize, lengths: &[u64]) {
    let texts = texts(store, thread).await;
    assert_eq!(texts.len(), writers * APPENDS * 2, "no message may be lost");
    let mut next = vec![0; writers];
    for pair in texts.chunks(2) {
        let (writer, i) = parse(&pair[0], "a");
        assert_eq!(
            parse(&pair[1], "b"),
            (writer, i),
            "pairs must not interleave: {pair:?}"
        );
        assert_eq!(
            i, next[writer],
            "writer {writer}'s appends must keep their order"
        );
        next[writer] += 1;
    }
    assert_eq!(lengths.len(), writers * APPENDS, "every append must return");
    let distinct: HashSet<u64> = lengths.iter().copied().collect();
    let expected: HashSet<u64> = (1..=writers * APPENDS).map(|n| (n * 2) as u64).collect();
    assert_eq!(
        distinct, expected,
        "each append must return its own new length"
    );
}

/// `(writer, index)` of a message `"{writer}/{index}/{half}"`.
fn parse(text: &str, half: &str) -> (usize, usize) {
    let parts: Vec<&str> = text.split('/').collect();
    assert_eq!(parts.len(), 3, "unexpected message {text:?}");
    assert_eq!(parts[2], half, "pairs must not interleave: {text:?}");
    let number = |s: &str| s.parse().expect("a number");
    (number(parts[0]), number(parts[1]))
}
