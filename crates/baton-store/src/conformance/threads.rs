//! Checks of [`ThreadStore`](baton_core::memory::ThreadStore): order, pages, tails, conflicts,
//! contents, listing.

use super::fixtures::{assert_conflict, every_role, failed, texts, user};
use baton_core::error::FailureKind;
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::{Message, ToolCall};
use baton_core::memory::{Page, Store, ThreadTail};
use std::sync::Arc;

/// Appends keep their order, return the new length, and messages read back equal to what was
/// written, whatever their role.
pub async fn appends_and_lists_in_order(store: Arc<dyn Store>) {
    let thread = ThreadId::new();
    assert_eq!(
        store.append(thread, Some(0), &[user("a"), user("b")]).await,
        Ok(2)
    );
    assert_eq!(store.append(thread, None, &[user("c")]).await, Ok(3));
    assert_eq!(texts(&*store, thread).await, ["a", "b", "c"]);

    let messages = every_role();
    let len = store
        .append(thread, Some(3), &messages)
        .await
        .expect("append");
    assert_eq!(len, 3 + messages.len() as u64);
    let stored = store.list(thread, Page::ALL).await.expect("list");
    assert_eq!(
        stored[3..],
        messages[..],
        "messages must read back as written"
    );
}

/// Pages select `limit` messages from `offset`; pages past the end are empty.
pub async fn pages_through_a_thread(store: Arc<dyn Store>) {
    let thread = ThreadId::new();
    let messages: Vec<_> = (0..10).map(|i| user(i.to_string())).collect();
    store
        .append(thread, Some(0), &messages)
        .await
        .expect("append");
    let page = async |offset, limit| -> Vec<String> {
        store
            .list(thread, Page::new(offset, limit))
            .await
            .expect("list")
            .iter()
            .map(|m| m.content().to_owned())
            .collect()
    };
    assert_eq!(page(0, 3).await, ["0", "1", "2"]);
    assert_eq!(page(3, 3).await, ["3", "4", "5"]);
    assert_eq!(page(8, 5).await, ["8", "9"]);
    assert!(page(10, 1).await.is_empty());
    assert!(page(1000, 10).await.is_empty());
    assert!(page(2, 0).await.is_empty());
    assert_eq!(page(9, u64::MAX).await, ["9"]);
    assert_eq!(page(0, u64::MAX).await.len(), 10);
}

/// The texts of a tail's messages.
fn tail_texts(tail: &ThreadTail) -> Vec<String> {
    tail.messages
        .iter()
        .map(|m| m.content().to_owned())
        .collect()
}

/// The tail of a thread is its newest messages, oldest first, with its length: all of them
/// when it holds fewer than asked; none, of length 0, for a thread the store never saw.
pub async fn tails_of_short_and_unknown_threads(store: Arc<dyn Store>) {
    let unknown = store.tail(ThreadId::new(), 10).await.expect("tail");
    assert_eq!(unknown, ThreadTail::default(), "an unknown thread is empty");

    let thread = ThreadId::new();
    let messages = every_role();
    store
        .append(thread, Some(0), &messages)
        .await
        .expect("append");
    let len = messages.len() as u64;
    for limit in [len, len + 1, 1000, u64::MAX] {
        let tail = store.tail(thread, limit).await.expect("tail");
        assert_eq!(tail.len, len, "tail({limit}) must say the thread's length");
        assert_eq!(
            tail.messages, messages,
            "tail({limit}) must hold every message"
        );
        assert_eq!(tail.offset(), 0);
    }
    let tail = store.tail(thread, 2).await.expect("tail");
    assert_eq!(tail.len, len);
    assert_eq!(tail.messages, messages[messages.len() - 2..]);
    assert_eq!(tail.offset(), len - 2);
    let none = store.tail(thread, 0).await.expect("tail");
    assert_eq!((none.len, none.messages.len()), (len, 0));

    // An append that carried nothing made no messages, and no length.
    let empty = ThreadId::new();
    assert_eq!(store.append(empty, Some(0), &[]).await, Ok(0));
    let tail = store.tail(empty, 5).await.expect("tail");
    assert_eq!(tail, ThreadTail::default());
}

/// The tail of a long thread is its last messages, exactly, and its length; a thread grown
/// since is read at its new end.
pub async fn the_tail_of_a_long_thread_is_its_last_messages(store: Arc<dyn Store>) {
    const LONG: u64 = 10_000;
    let thread = ThreadId::new();
    let messages: Vec<_> = (0..LONG).map(|i| user(i.to_string())).collect();
    store
        .append(thread, Some(0), &messages)
        .await
        .expect("append");
    let tail = store.tail(thread, 5).await.expect("tail");
    assert_eq!(tail.len, LONG);
    assert_eq!(tail_texts(&tail), ["9995", "9996", "9997", "9998", "9999"]);
    assert_eq!(tail.offset(), LONG - 5);
    let last = store.tail(thread, 1).await.expect("tail");
    assert_eq!(tail_texts(&last), ["9999"]);
    let all = store.tail(thread, LONG).await.expect("tail");
    assert_eq!(
        all.messages, messages,
        "a tail of the whole thread is the thread"
    );

    store
        .append(thread, Some(LONG), &[user("new")])
        .await
        .expect("append");
    let tail = store.tail(thread, 2).await.expect("tail");
    assert_eq!(tail.len, LONG + 1);
    assert_eq!(tail_texts(&tail), ["9999", "new"]);
}

/// A thread or run the store never saw reads as empty, not as an error.
pub async fn unknown_threads_and_runs_are_empty(store: Arc<dyn Store>) {
    let listed = store.list(ThreadId::new(), Page::ALL).await.expect("list");
    assert!(listed.is_empty());
    let log = store.episodes(RunId::new()).await.expect("episodes");
    assert!(log.is_empty());
    assert!(store.threads(Page::ALL).await.expect("threads").is_empty());
    assert!(
        store
            .unfinished_runs()
            .await
            .expect("unfinished")
            .is_empty()
    );
}

/// A writer with a stale expected length gets [`StoreError::Conflict`] carrying what it expected
/// and what the thread holds, and writes nothing.
///
/// [`StoreError::Conflict`]: baton_core::error::StoreError::Conflict
pub async fn stale_writers_get_a_conflict_and_write_nothing(store: Arc<dyn Store>) {
    let thread = ThreadId::new();
    store
        .append(thread, Some(0), &[user("a")])
        .await
        .expect("first append");
    assert_conflict(
        store.append(thread, Some(0), &[user("b")]).await,
        thread,
        0,
        1,
    );
    assert_conflict(
        store.append(thread, Some(5), &[user("b")]).await,
        thread,
        5,
        1,
    );
    assert_conflict(
        store.append(thread, Some(u64::MAX), &[user("b")]).await,
        thread,
        u64::MAX,
        1,
    );
    assert_eq!(texts(&*store, thread).await, ["a"]);
    assert_eq!(store.append(thread, Some(1), &[user("b")]).await, Ok(2));

    // A writer that expects messages on a thread that has none creates nothing.
    let unknown = ThreadId::new();
    assert_conflict(
        store.append(unknown, Some(2), &[user("x")]).await,
        unknown,
        2,
        0,
    );
    assert!(texts(&*store, unknown).await.is_empty());
}

/// A message of 1 MiB is stored and read back whole, in text and in tool-call arguments.
pub async fn large_messages_round_trip(store: Arc<dyn Store>) {
    const MIB: usize = 1 << 20;
    let thread = ThreadId::new();
    let text: String = "0123456789abcdef".repeat(MIB / 16);
    let arguments = format!(r#"{{"blob":"{}"}}"#, "x".repeat(MIB));
    let messages = vec![
        user(text.clone()),
        Arc::new(Message::assistant_calling(
            "",
            vec![ToolCall::new("c", "store", arguments)],
        )),
    ];
    store
        .append(thread, Some(0), &messages)
        .await
        .expect("append");
    let stored = store.list(thread, Page::ALL).await.expect("list");
    assert_eq!(stored[0].content().len(), MIB);
    assert_eq!(stored, messages, "large messages must read back as written");
}

/// Text outside ASCII, control characters and SQL-looking text are stored as written.
pub async fn unicode_round_trips(store: Arc<dyn Store>) {
    let samples = [
        "héllo wörld",
        "日本語のテキスト",
        "مرحبا بالعالم",
        "family: 👩‍👩‍👧‍👦, flags: 🇫🇷🇯🇵",
        "e\u{301} (combining accent)",
        "nul \u{0} byte, bell \u{7}, escape \u{1b}[0m",
        "line\nbreaks\r\nand\ttabs",
        r#"quotes ' " and backslashes \ \\"#,
        "'); DROP TABLE messages; --",
        "$1 ? :name @p",
        "\u{10FFFF} \u{FEFF}",
    ];
    let thread = ThreadId::new();
    let messages: Vec<_> = samples.iter().map(|s| user(*s)).collect();
    store
        .append(thread, Some(0), &messages)
        .await
        .expect("append");
    assert_eq!(texts(&*store, thread).await, samples);

    let run = RunId::new();
    let failed = failed(FailureKind::Other, samples.concat());
    store.record(run, failed.clone()).await.expect("record");
    let log = store.episodes(run).await.expect("episodes");
    assert_eq!(log[0].episode, failed);
}

/// Threads do not see each other's messages or lengths.
pub async fn threads_are_isolated(store: Arc<dyn Store>) {
    let (a, b) = (ThreadId::new(), ThreadId::new());
    store
        .append(a, Some(0), &[user("a1")])
        .await
        .expect("append a");
    store
        .append(b, Some(0), &[user("b1")])
        .await
        .expect("append b");
    store
        .append(a, Some(1), &[user("a2"), user("a3")])
        .await
        .expect("append a");
    assert_conflict(store.append(b, Some(3), &[user("b2")]).await, b, 3, 1);
    store
        .append(b, Some(1), &[user("b2")])
        .await
        .expect("append b");
    assert_eq!(texts(&*store, a).await, ["a1", "a2", "a3"]);
    assert_eq!(texts(&*store, b).await, ["b1", "b2"]);
}

/// `threads` lists the threads that hold messages, oldest (smallest UUIDv7) first, in pages.
pub async fn threads_lists_threads_with_messages_oldest_first(store: Arc<dyn Store>) {
    let mut ids: Vec<ThreadId> = (0..5).map(|_| ThreadId::new()).collect();
    ids.sort_unstable();
    // Written newest first: the order is the threads' age, not the order of writes.
    for (i, id) in ids.iter().enumerate().rev() {
        store
            .append(*id, Some(0), &[user(i.to_string())])
            .await
            .expect("append");
    }
    assert_eq!(store.threads(Page::ALL).await.expect("threads"), ids);
    assert_eq!(
        store.threads(Page::new(1, 2)).await.expect("threads"),
        ids[1..3]
    );
    assert_eq!(
        store.threads(Page::new(4, 10)).await.expect("threads"),
        ids[4..]
    );
    assert!(
        store
            .threads(Page::new(5, 10))
            .await
            .expect("threads")
            .is_empty()
    );
}

/// Only threads that hold messages are listed: an append that was refused, or that carried no
/// messages, does not make a thread appear.
pub async fn refused_and_empty_appends_list_no_thread(store: Arc<dyn Store>) {
    let (refused, empty) = (ThreadId::new(), ThreadId::new());
    assert_conflict(
        store.append(refused, Some(1), &[user("x")]).await,
        refused,
        1,
        0,
    );
    assert_eq!(store.append(empty, Some(0), &[]).await, Ok(0));
    assert_eq!(store.append(empty, None, &[]).await, Ok(0));
    assert!(
        store.threads(Page::ALL).await.expect("threads").is_empty(),
        "a thread that holds no messages must not be listed"
    );
    assert_eq!(store.append(empty, Some(0), &[user("a")]).await, Ok(1));
    assert_eq!(store.threads(Page::ALL).await.expect("threads"), [empty]);
}
