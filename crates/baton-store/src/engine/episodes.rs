//! Episodes: the statements that append to a run's log, and the reads of logs and runs.

use super::leases::Fence;
use super::retry::Failure;
use super::threads::column;
use super::write::Statement;
use crate::codec::{EpisodeRow, corrupt, decode_episode, from_sql_int, to_sql_int};
use baton_core::ids::RunId;
use baton_core::memory::{EpisodeRecord, LeaseHolder, UnfinishedRun};
use sqlx::Executor;
use sqlx::any::Any;
use std::fmt::Write as _;

/// Appends `row` to the log of `run`, numbered after its last episode.
///
/// The next sequence number is read in the statement that inserts, so a concurrent writer of
/// the same run either waits for this one (SQLite) or collides with it on the primary key
/// (PostgreSQL), and then tries again.
pub(crate) fn insert(run: &str, row: EpisodeRow) -> Statement {
    Statement::new(
        "INSERT INTO episodes (run_id, seq, at_ms, kind, completes_step, terminal, body) \
         SELECT $1, COALESCE(MAX(seq) + 1, 0), $2, $3, $4, $5, $6 \
         FROM episodes WHERE run_id = $1",
    )
    .bind(run)
    .bind(row.at_ms)
    .bind(row.kind)
    .bind(row.completes_step)
    .bind(row.terminal)
    .bind(row.body)
}

/// Appends `rows` (at least one) to the log of the `fence`'s run, in order, numbered after its
/// last episode, if the fence's lease is current; it returns a row per episode it inserts, and
/// none when the lease is not current.
///
/// One statement, the same text on both backends: the rows are a `VALUES` list, whose columns
/// both SQLite and PostgreSQL name `column1`, `column2`, …, the first the row's place in
/// `rows`. The lease is checked as a commit's is ([`Fence`]); the sequence numbers are read as
/// [`insert`] reads them. Past the parameters a statement may bind (some five thousand rows on
/// SQLite), the database refuses the statement, and nothing is written.
pub(crate) fn insert_leased(fence: Fence<'_>, rows: Vec<EpisodeRow>) -> Statement {
    const FIRST_ROW_PARAMETER: usize = 3;
    let mut values = String::new();
    for row in 0..rows.len() {
        let first = FIRST_ROW_PARAMETER + 6 * row;
        let separator = if row == 0 { "" } else { ", " };
        // Writing to a String cannot fail.
        let _ = write!(
            values,
            "{separator}(${first}, ${}, ${}, ${}, ${}, ${})",
            first + 1,
            first + 2,
            first + 3,
            first + 4,
            first + 5
        );
    }
    // In order: the trigger that tracks runs lets the latest episode decide.
    let statement = Statement::new(format!(
        "INSERT INTO episodes (run_id, seq, at_ms, kind, completes_step, terminal, body) \
         SELECT $1, next.seq + v.column1, v.column2, v.column3, v.column4, v.column5, v.column6 \
         FROM (SELECT COALESCE(MAX(seq) + 1, 0) AS seq FROM episodes WHERE run_id = $1) AS next, \
              (VALUES {values}) AS v \
         WHERE {} \
         ORDER BY v.column1 \
         RETURNING 1",
        fence.condition(1)
    ))
    .bind(fence.run)
    .bind(fence.token);
    (0_i64..)
        .zip(rows)
        .fold(statement, |statement, (offset, row)| {
            statement
                .bind(offset)
                .bind(row.at_ms)
                .bind(row.kind)
                .bind(row.completes_step)
                .bind(row.terminal)
                .bind(row.body)
        })
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
    fn an_episode_is_numbered_after_the_runs_last_in_its_insert() {
        let row = EpisodeRow::new(&baton_core::memory::Episode::Started {
            agent: baton_core::ids::AgentName::new("a").expect("a valid name"),
            thread: baton_core::ids::ThreadId::new(),
        })
        .expect("encode");
        let statement = insert("r", row);
        assert!(
            statement
                .sql()
                .contains("COALESCE(MAX(seq) + 1, 0), $2, $3, $4, $5, $6"),
            "{}",
            statement.sql()
        );
        assert_eq!(statement.bound(), 6);
    }

    #[test]
    fn episodes_under_a_lease_are_one_statement_checking_the_lease() {
        let row = |output: &str| {
            EpisodeRow::new(&baton_core::memory::Episode::Completed {
                output: output.into(),
                usage: baton_core::llm::Usage::new(1, 1),
            })
            .expect("encode")
        };
        let fence = Fence {
            run: "r",
            token: "lease",
            lock: " FOR KEY SHARE",
        };
        let statement = insert_leased(fence, vec![row("one"), row("two")]);
        let sql = statement.sql();
        assert!(
            sql.contains(
                "(VALUES ($3, $4, $5, $6, $7, $8), ($9, $10, $11, $12, $13, $14)) AS v \
                 WHERE EXISTS (SELECT 1 FROM run_leases WHERE run_id = $1 AND token = $2 \
                 FOR KEY SHARE) ORDER BY v.column1 RETURNING 1"
            ),
            "{sql}"
        );
        assert_eq!(statement.bound(), 2 + 2 * 6);
    }
}
