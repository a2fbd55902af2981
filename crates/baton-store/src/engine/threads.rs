//! Threads: compare-and-append on the thread's length, message rows, reads.

use super::Failure;
use crate::codec::{decode_message, encode_message, from_sql_int, to_sql_int};
use crate::error::corrupt;
use baton_core::error::StoreError;
use baton_core::ids::ThreadId;
use baton_core::llm::Message;
use baton_core::memory::Page;
use sqlx::AnyConnection;
use sqlx::any::{Any, AnyRow};
use sqlx::{Executor, Row};
use std::fmt::Write as _;
use std::sync::Arc;

/// Rows per `INSERT`: three parameters each, well under SQLite's and PostgreSQL's limits.
const ROWS_PER_INSERT: usize = 256;

/// The outcome of [`compare_and_extend`].
pub(crate) enum Extension {
    /// The thread's length went from `from` to `to`; the messages take positions `from..to`.
    Extended {
        /// The length before.
        from: u64,
        /// The length after.
        to: u64,
    },
    /// The thread does not hold the expected number of messages.
    Refused {
        /// The number it holds.
        actual: u64,
    },
}

/// Grows the thread by `count` messages if it holds `expected` of them (or whatever it holds,
/// with `None`), creating it if needed.
///
/// One upsert does the check and the update. On PostgreSQL it locks the thread's row until the
/// transaction ends, and a writer waiting on that lock evaluates the check against the winner's
/// committed length; on SQLite the transaction already holds the database's write lock. A new
/// thread is created only by a writer that expects it empty (or expects nothing).
pub(crate) async fn compare_and_extend(
    conn: &mut AnyConnection,
    thread: &str,
    expected: Option<u64>,
    count: usize,
) -> Result<Extension, Failure> {
    let count = to_sql_int(count as u64);
    let extended: Option<i64> = sqlx::query_scalar(
        "INSERT INTO threads (id, len) \
         SELECT $1, $2 \
         WHERE $3 IS NULL OR $3 = 0 OR EXISTS (SELECT 1 FROM threads WHERE id = $1) \
         ON CONFLICT (id) DO UPDATE SET len = threads.len + excluded.len \
         WHERE $3 IS NULL OR threads.len = $3 \
         RETURNING len",
    )
    .bind(thread)
    .bind(count)
    .bind(expected.map(to_sql_int))
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(to) = extended {
        let to = from_sql_int(to, "thread length")?;
        return Ok(Extension::Extended {
            from: to.saturating_sub(count as u64),
            to,
        });
    }
    let actual = length(conn, thread).await?;
    if expected == Some(actual) {
        // Created by another writer after this statement's snapshot (PostgreSQL): look again.
        return Err(Failure::Race);
    }
    Ok(Extension::Refused { actual })
}

/// How many messages `thread` holds (0 for an unknown thread).
async fn length(conn: &mut AnyConnection, thread: &str) -> Result<u64, Failure> {
    let len: Option<i64> = sqlx::query_scalar("SELECT len FROM threads WHERE id = $1")
        .bind(thread)
        .fetch_optional(conn)
        .await?;
    Ok(from_sql_int(len.unwrap_or(0), "thread length")?)
}

/// The JSON bodies of `messages`, encoded before any transaction starts.
pub(crate) fn encode_all(messages: &[Arc<Message>]) -> Result<Vec<String>, StoreError> {
    messages.iter().map(|m| encode_message(m)).collect()
}

/// Inserts `bodies` at positions `from..` of `thread`, a few hundred rows per statement.
pub(crate) async fn insert_messages(
    conn: &mut AnyConnection,
    thread: &str,
    from: u64,
    bodies: &[String],
) -> Result<(), Failure> {
    let mut seq = to_sql_int(from);
    for chunk in bodies.chunks(ROWS_PER_INSERT) {
        let sql = insert_sql(chunk.len());
        let mut query = sqlx::query(&sql).bind(thread);
        for body in chunk {
            query = query.bind(seq).bind(body.as_str());
            seq += 1;
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// `INSERT INTO messages … VALUES ($1, $2, $3), ($1, $4, $5), …` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from("INSERT INTO messages (thread_id, seq, body) VALUES ");
    for row in 0..rows {
        let first = 2 + 2 * row;
        let separator = if row == 0 { "" } else { ", " };
        // Writing to a String cannot fail.
        let _ = write!(sql, "{separator}($1, ${first}, ${})", first + 1);
    }
    sql
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
    fn insert_sql_numbers_parameters_after_the_thread() {
        assert_eq!(
            insert_sql(2),
            "INSERT INTO messages (thread_id, seq, body) VALUES ($1, $2, $3), ($1, $4, $5)"
        );
    }
}
