//! Episodes: the statements that append to a run's log, and the reads of logs and runs.

use super::retry::Failure;
use super::threads::column;
use super::write::Statement;
use crate::codec::{EpisodeRow, corrupt, decode_episode, from_sql_int, to_sql_int};
use baton_core::ids::RunId;
use baton_core::memory::{EpisodeRecord, LeaseHolder, UnfinishedRun};
use sqlx::Executor;
use sqlx::any::Any;
use std::fmt::Write as _;

/// Rows per `INSERT`: six parameters each, well under SQLite's and PostgreSQL's limits.
const ROWS_PER_INSERT: usize = 128;

/// Appends `rows` to the log of `run`, numbered after its last episode, a hundred-odd rows per
/// statement.
///
/// The next sequence number is read in the statement that inserts, so a concurrent writer of
/// the same run either waits for this one (SQLite) or collides with it on the primary key
/// (PostgreSQL), and then tries again.
pub(crate) fn insert(run: &str, rows: Vec<EpisodeRow>) -> Vec<Statement> {
    let mut statements = Vec::with_capacity(rows.len().div_ceil(ROWS_PER_INSERT));
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<EpisodeRow> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        let mut statement = Statement::new(insert_sql(chunk.len())).bind(run);
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
/// after the run (`$1`).
///
/// `VALUES` columns are named `column1`, `column2`, … by both SQLite and PostgreSQL.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO episodes (run_id, seq, at_ms, kind, completes_step, terminal, body) \
         SELECT $1, next.seq + v.column1, v.column2, v.column3, v.column4, v.column5, v.column6 \
         FROM (SELECT COALESCE(MAX(seq) + 1, 0) AS seq FROM episodes WHERE run_id = $1) AS next, \
         (VALUES ",
    );
    let parameters_before = 1;
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

/// Runs whose latest episode does not end them, oldest first (UUIDv7 order), each with the
/// holder of its lease if that lease is live at `now`.
pub(crate) async fn unfinished<'e>(
    executor: impl Executor<'e, Database = Any>,
    now: u64,
) -> Result<Vec<UnfinishedRun>, Failure> {
    let rows = sqlx::query(
        "SELECT r.id, l.owner, l.expires_at_ms FROM runs AS r \
         LEFT JOIN run_leases AS l ON l.run_id = r.id AND l.expires_at_ms > $1 \
         WHERE NOT r.finished ORDER BY r.id",
    )
    .bind(to_sql_int(now))
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            let id: &str = column(row, 0, "run id")?;
            let run = id
                .parse()
                .map_err(|e| Failure::Store(corrupt(format_args!("run id: {e}"))))?;
            let owner: Option<String> = column(row, 1, "lease owner")?;
            let expires_at_ms: Option<i64> = column(row, 2, "lease expiry")?;
            let driver = match (owner, expires_at_ms) {
                (Some(owner), Some(expires_at_ms)) => Some(LeaseHolder {
                    owner,
                    expires_at_ms: from_sql_int(expires_at_ms, "lease expiry")?,
                }),
                _ => None,
            };
            Ok(UnfinishedRun { run, driver })
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
            sql.ends_with(
                "(VALUES ($2, $3, $4, $5, $6, $7), ($8, $9, $10, $11, $12, $13)) AS v \
                 ORDER BY v.column1"
            ),
            "{sql}"
        );
    }
}
