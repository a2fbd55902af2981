//! Episodes: the statements that append to a run's log, and the reads of logs and runs.

use super::Failure;
use super::threads::column;
use super::write::Statement;
use crate::codec::{EpisodeRow, decode_episode};
use crate::error::corrupt;
use baton_core::ids::RunId;
use baton_core::memory::EpisodeRecord;
use sqlx::Executor;
use sqlx::any::Any;
use std::fmt::Write as _;

/// Rows per `INSERT`: six parameters each, well under SQLite's and PostgreSQL's limits.
const ROWS_PER_INSERT: usize = 128;

/// The condition of a step's episodes: the thread's row holds the write's token (see
/// [`super::commit`]).
pub(crate) struct Guard<'a> {
    /// The thread the step extends.
    pub(crate) thread: &'a str,
    /// The write's token.
    pub(crate) token: &'a str,
}

/// Appends `rows` to the log of `run`, numbered after its last episode, a hundred-odd rows per
/// statement; with a `guard`, only if it holds.
///
/// The next sequence number is read in the statement that inserts, so a concurrent writer of
/// the same run either waits for this one (SQLite) or collides with it on the primary key
/// (PostgreSQL), and then tries again.
pub(crate) fn insert(run: &str, guard: Option<Guard<'_>>, rows: Vec<EpisodeRow>) -> Vec<Statement> {
    let mut statements = Vec::with_capacity(rows.len().div_ceil(ROWS_PER_INSERT));
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<EpisodeRow> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        let mut statement = Statement::new(insert_sql(chunk.len(), guard.is_some())).bind(run);
        if let Some(guard) = &guard {
            statement = statement.bind(guard.thread).bind(guard.token);
        }
        for (offset, row) in (0_i64..).zip(chunk) {
            statement = statement
                .bind(offset)
                .bind(row.at_ms)
                .bind(row.kind)
                .bind(row.completes_step)
                .bind(row.terminal)
                .bind(row.body);
        }
        statements.push(statement);
    }
    statements
}

/// `INSERT INTO episodes … SELECT … FROM (next sequence number), (VALUES …)` for `rows` rows,
/// after the run (`$1`) and, when `guarded`, the thread and token (`$2`, `$3`).
///
/// `VALUES` columns are named `column1`, `column2`, … by both SQLite and PostgreSQL.
fn insert_sql(rows: usize, guarded: bool) -> String {
    let mut sql = String::from(
        "INSERT INTO episodes (run_id, seq, at_ms, kind, completes_step, terminal, body) \
         SELECT $1, next.seq + v.column1, v.column2, v.column3, v.column4, v.column5, v.column6 \
         FROM (SELECT COALESCE(MAX(seq) + 1, 0) AS seq FROM episodes WHERE run_id = $1) AS next, \
         (VALUES ",
    );
    let parameters_before = if guarded { 3 } else { 1 };
    for row in 0..rows {
        let first = parameters_before + 1 + 6 * row;
        let separator = if row == 0 { "" } else { ", " };
        // Writing to a String cannot fail.
        let _ = write!(
            sql,
            "{separator}(${first}, ${}, ${}, ${}, ${}, ${})",
            first + 1,
            first + 2,
            first + 3,
            first + 4,
            first + 5
        );
    }
    sql.push_str(") AS v");
    if guarded {
        sql.push_str(" WHERE EXISTS (SELECT 1 FROM threads WHERE id = $2 AND extended_by = $3)");
    }
    // In order: the trigger that tracks runs lets the latest episode decide.
    sql.push_str(" ORDER BY v.column1");
    sql
}

/// The log of `run`, oldest first.
pub(crate) async fn log<'e>(
    executor: impl Executor<'e, Database = Any>,
    run: RunId,
) -> Result<Vec<EpisodeRecord>, Failure> {
    let rows = sqlx::query("SELECT seq, at_ms, body FROM episodes WHERE run_id = $1 ORDER BY seq")
        .bind(run.to_string())
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|row| {
            let seq: i64 = column(row, 0, "episode sequence number")?;
            let at_ms: i64 = column(row, 1, "episode timestamp")?;
            let body: &str = column(row, 2, "episode body")?;
            Ok(decode_episode(seq, at_ms, body, run)?)
        })
        .collect()
}

/// Runs whose latest episode does not end them, oldest first (UUIDv7 order).
pub(crate) async fn unfinished<'e>(
    executor: impl Executor<'e, Database = Any>,
) -> Result<Vec<RunId>, Failure> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM runs WHERE NOT finished ORDER BY id")
        .fetch_all(executor)
        .await?;
    ids.iter()
        .map(|id| {
            id.parse()
                .map_err(|e| Failure::Store(corrupt(format_args!("run id: {e}"))))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_sql_numbers_parameters_after_the_run() {
        let sql = insert_sql(2, false);
        assert!(
            sql.ends_with(
                "(VALUES ($2, $3, $4, $5, $6, $7), ($8, $9, $10, $11, $12, $13)) AS v \
                 ORDER BY v.column1"
            ),
            "{sql}"
        );
    }

    #[test]
    fn guarded_insert_sql_numbers_rows_after_the_guard() {
        let sql = insert_sql(1, true);
        assert!(
            sql.ends_with(
                "(VALUES ($4, $5, $6, $7, $8, $9)) AS v \
                 WHERE EXISTS (SELECT 1 FROM threads WHERE id = $2 AND extended_by = $3) \
                 ORDER BY v.column1"
            ),
            "{sql}"
        );
    }
}
