//! Episodes: the run's log, the committed-step check, and the runs still in flight.

use super::Failure;
use super::threads::column;
use crate::codec::{EpisodeRow, decode_episode};
use crate::error::corrupt;
use baton_core::ids::RunId;
use baton_core::memory::EpisodeRecord;
use sqlx::AnyConnection;
use sqlx::Executor;
use sqlx::any::Any;
use std::fmt::Write as _;

/// Rows per `INSERT`: six parameters each, well under SQLite's and PostgreSQL's limits.
const ROWS_PER_INSERT: usize = 128;

/// Appends `rows` to the log of `run`, numbered after its last episode, a hundred-odd rows per
/// statement.
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    run: &str,
    rows: &[EpisodeRow],
) -> Result<(), Failure> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        insert_statement(&mut *conn, run, chunk).await?;
    }
    Ok(())
}

/// Appends `rows` (at most [`ROWS_PER_INSERT`]) to the log of `run` in one statement.
///
/// The next sequence number is read in the statement that inserts, so a concurrent writer of
/// the same run either waits for this one (SQLite) or collides with it on the primary key
/// (PostgreSQL), and then tries again.
pub(crate) async fn insert_statement<'e>(
    executor: impl Executor<'e, Database = Any>,
    run: &str,
    rows: &[EpisodeRow],
) -> Result<(), Failure> {
    let sql = insert_sql(rows.len());
    let mut query = sqlx::query(&sql).bind(run);
    for (offset, row) in rows.iter().enumerate() {
        query = query
            .bind(offset as i64)
            .bind(row.at_ms)
            .bind(row.kind.as_str())
            .bind(row.completes_step)
            .bind(row.terminal)
            .bind(row.body.as_str());
    }
    query.execute(executor).await?;
    Ok(())
}

/// `INSERT INTO episodes … SELECT … FROM (next sequence number), (VALUES …)` for `rows` rows.
///
/// `VALUES` columns are named `column1`, `column2`, … by both SQLite and PostgreSQL.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO episodes (run_id, seq, at_ms, kind, completes_step, terminal, body) \
         SELECT $1, next.seq + v.column1, v.column2, v.column3, v.column4, v.column5, v.column6 \
         FROM (SELECT COALESCE(MAX(seq) + 1, 0) AS seq FROM episodes WHERE run_id = $1) AS next, \
         (VALUES ",
    );
    for row in 0..rows {
        let first = 2 + 6 * row;
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
    sql
}

/// Whether the log of `run` holds a `StepCompleted` episode for `step`.
pub(crate) async fn step_committed<'e>(
    executor: impl Executor<'e, Database = Any>,
    run: &str,
    step: i64,
) -> Result<bool, Failure> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM episodes \
         WHERE run_id = $1 AND completes_step IS NOT NULL AND completes_step = $2 LIMIT 1",
    )
    .bind(run)
    .bind(step)
    .fetch_optional(executor)
    .await?;
    Ok(found.is_some())
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
        let sql = insert_sql(2);
        assert!(
            sql.ends_with("(VALUES ($2, $3, $4, $5, $6, $7), ($8, $9, $10, $11, $12, $13)) AS v"),
            "{sql}"
        );
    }
}
