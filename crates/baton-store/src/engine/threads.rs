//! Threads: the statements that extend a thread and insert its messages, and the reads.

use super::leases::Fence;
use super::retry::Failure;
use super::write::Statement;
use crate::codec::{corrupt, decode_message, encode_message, from_sql_int, to_sql_int};
use baton_core::error::StoreError;
use baton_core::ids::ThreadId;
use baton_core::llm::Message;
use baton_core::memory::{Page, ThreadTail};
use sqlx::any::{Any, AnyRow};
use sqlx::{Executor, Row};
use std::sync::Arc;

/// Grows `thread` by `count` messages if it holds `expected` of them (or whatever it holds,
/// with `None`), `step` (run, number) is not committed, and the `fence`'s lease, if any, is
/// current, creating the thread if needed; the row it grows holds `token` afterwards, and
/// records `step` as the last committed to it. It returns a row when it grows the thread: the
/// new length, in the shape of the write's report (extended, not already committed, lease
/// current).
///
/// One upsert does the checks and the update. On PostgreSQL it locks the thread's row until the
/// transaction ends, and a writer waiting on that lock checks against the row the winner
/// committed — its length and its last step; on SQLite the statement takes the database's
/// write lock at its start. A new thread is created only by a writer that expects it empty (or
/// expects nothing), and has no step committed yet.
///
/// A run's steps commit in order, so a step is committed if the thread's last one, of the same
/// run, is not earlier. When the thread's last step belongs to another run (another run wrote
/// the thread since), the run's log says, where the step's `StepCompleted` episode is marked.
///
/// The lease is checked before anything is proposed, so a lost lease leaves the thread's row
/// as it was; the check locks the lease's row as the dialect says (see [`super::leases`]).
pub(crate) fn extend(
    thread: &str,
    count: usize,
    expected: Option<u64>,
    token: &str,
    step: Option<(&str, i64)>,
    fence: Option<Fence<'_>>,
    carried: Option<Carried>,
) -> Statement {
    // The carried writes are $7 and $8 when there are any; the fence's values come after.
    let (carried_columns, carried_values, carried_updates, first_fence) = if carried.is_some() {
        (
            ", pending_messages, pending_episodes",
            ", $7, $8",
            ", pending_messages = excluded.pending_messages, \
             pending_episodes = excluded.pending_episodes",
            9,
        )
    } else {
        ("", "", "", 7)
    };
    let fenced = fence.map_or(String::new(), |fence| {
        format!(" AND {}", fence.condition(first_fence))
    });
    let statement = Statement::new(format!(
        "INSERT INTO threads (id, len, extended_by, last_run, last_step{carried_columns}) \
         SELECT $1, $2, $4, $5, $6{carried_values} \
         WHERE ($3 IS NULL OR $3 = 0 OR EXISTS (SELECT 1 FROM threads WHERE id = $1)){fenced} \
         ON CONFLICT (id) DO UPDATE SET \
             len = threads.len + excluded.len, \
             extended_by = excluded.extended_by, \
             last_run = COALESCE(excluded.last_run, threads.last_run), \
             last_step = COALESCE(excluded.last_step, threads.last_step){carried_updates} \
         WHERE ($3 IS NULL OR threads.len = $3) \
         AND NOT COALESCE(threads.last_run = $5 AND threads.last_step >= $6, FALSE) \
         AND (threads.last_run = $5 \
              OR NOT EXISTS (SELECT 1 FROM episodes WHERE run_id = $5 AND completes_step = $6)) \
         RETURNING len, 1, 0, 1",
    ))
    .bind(thread)
    .bind(to_sql_int(count as u64))
    .bind(expected.map(to_sql_int))
    .bind(token)
    .bind(step.map(|(run, _)| run))
    .bind(step.map(|(_, step)| step));
    let statement = match carried {
        Some(carried) => statement.bind(carried.messages).bind(carried.episodes),
        None => statement,
    };
    match fence {
        Some(fence) => statement.bind(fence.run).bind(fence.token),
        None => statement,
    }
}

/// A write's messages and episodes, carried by the statement that extends the thread, for the
/// database's triggers to insert (SQLite: see its migration `0005_one_statement_writes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Carried {
    /// The messages' JSON texts as a JSON array of strings, or `None` for no messages.
    pub(crate) messages: Option<String>,
    /// The episodes as a JSON array of `[at_ms, kind, completes_step, terminal, body]`, or
    /// `None` for no episodes.
    pub(crate) episodes: Option<String>,
}

/// The JSON bodies of `messages`, encoded before any transaction starts.
pub(crate) fn encode_all(messages: &[Arc<Message>]) -> Result<Vec<String>, StoreError> {
    messages.iter().map(|m| encode_message(m)).collect()
}

/// The messages of `thread` in `page`, oldest first.
pub(crate) async fn list<'e>(
    executor: impl Executor<'e, Database = Any>,
    thread: ThreadId,
    page: Page,
) -> Result<Vec<Arc<Message>>, Failure> {
    let rows = sqlx::query(
        "SELECT seq, body FROM messages WHERE thread_id = $1 AND seq >= $2 \
         ORDER BY seq LIMIT $3",
    )
    .bind(thread.to_string())
    .bind(to_sql_int(page.offset))
    .bind(to_sql_int(page.limit))
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            let seq: i64 = column(row, 0, "message sequence number")?;
            let body: &str = column(row, 1, "message body")?;
            Ok(decode_message(body, thread, seq)?)
        })
        .collect()
}

/// The query of [`tail`]: the thread's length, and its messages from `len - limit` on, through
/// the messages' primary key (thread, position). One row per message, or one row with no
/// message for a thread that holds none; no row for a thread that does not exist.
pub(crate) const TAIL_SQL: &str = "SELECT t.len, m.seq, m.body FROM threads AS t \
     LEFT JOIN messages AS m \
         ON m.thread_id = t.id AND m.seq >= t.len - $2 AND m.seq < t.len \
     WHERE t.id = $1 ORDER BY m.seq";

/// The newest `limit` messages of `thread`, oldest first, and its length, read by one query:
/// both come from one snapshot, whatever commits meanwhile.
pub(crate) async fn tail<'e>(
    executor: impl Executor<'e, Database = Any>,
    thread: ThreadId,
    limit: u64,
) -> Result<ThreadTail, Failure> {
    let rows = sqlx::query(TAIL_SQL)
        .bind(thread.to_string())
        .bind(to_sql_int(limit))
        .fetch_all(executor)
        .await?;
    let Some(first) = rows.first() else {
        return Ok(ThreadTail::default());
    };
    let len: i64 = column(first, 0, "thread length")?;
    let len = from_sql_int(len, "thread length")?;
    let offset = len.saturating_sub(limit);
    let mut messages = Vec::with_capacity(rows.len());
    for (row, expected) in rows.iter().zip(offset..) {
        let seq: Option<i64> = column(row, 1, "message sequence number")?;
        let Some(seq) = seq else { continue };
        if u64::try_from(seq).ok() != Some(expected) {
            return Err(Failure::Store(corrupt(format_args!(
                "thread {thread} holds {len} messages but message {expected} is missing"
            ))));
        }
        let body: &str = column(row, 2, "message body")?;
        messages.push(decode_message(body, thread, seq)?);
    }
    if offset + messages.len() as u64 != len {
        let missing = offset + messages.len() as u64;
        return Err(Failure::Store(corrupt(format_args!(
            "thread {thread} holds {len} messages but message {missing} is missing"
        ))));
    }
    Ok(ThreadTail { len, messages })
}

/// The ids of threads that hold messages, in `page`, oldest first (UUIDv7 order).
pub(crate) async fn ids<'e>(
    executor: impl Executor<'e, Database = Any>,
    page: Page,
) -> Result<Vec<ThreadId>, Failure> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM threads WHERE len > 0 ORDER BY id LIMIT $1 OFFSET $2")
            .bind(to_sql_int(page.limit))
            .bind(to_sql_int(page.offset))
            .fetch_all(executor)
            .await?;
    ids.iter()
        .map(|id| {
            id.parse()
                .map_err(|e| Failure::Store(corrupt(format_args!("thread id: {e}"))))
        })
        .collect()
}

/// Column `index` of `row`; a value of the wrong type means the row is corrupt.
pub(crate) fn column<'r, T>(row: &'r AnyRow, index: usize, what: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(index)
        .map_err(|e| corrupt(format_args!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carried_rows_come_before_the_fence() {
        let fence = Fence {
            run: "r",
            token: "lease",
            lock: "",
        };
        let carried = Carried {
            messages: Some("[]".into()),
            episodes: None,
        };
        let statement = extend("t", 0, Some(0), "token", None, Some(fence), Some(carried));
        let sql = statement.sql();
        assert!(sql.contains("SELECT $1, $2, $4, $5, $6, $7, $8"), "{sql}");
        assert!(sql.contains("run_id = $9 AND token = $10"), "{sql}");
        assert_eq!(statement.bound(), 10);
    }
}
