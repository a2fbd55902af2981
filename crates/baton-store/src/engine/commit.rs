//! Appends and step commits: each one statement that decides for itself, and a report of why
//! it wrote nothing.
//!
//! A compare-and-append has to branch: extend the thread and write the messages and episodes,
//! or write nothing. One statement does both, in the database, under the lock it takes:
//!
//! 1. **Extend** ([`threads::extend`]) grows the thread's length if it holds the expected number
//!    of messages, the step is not committed yet and the writer's lease, if any, is current
//!    (creating the thread if needed), and leaves the write's token on the thread's row.
//! 2. **Messages and episodes**, carried by the same statement as JSON arrays, are inserted
//!    only for a thread it extended: on SQLite by the migration's triggers on the thread's row
//!    ([`Writes::Carried`]), on PostgreSQL by the other parts of a data-modifying `WITH`
//!    ([`Writes::With`]). Messages take their positions counted back from the new length;
//!    episodes are numbered after the run's last one.
//! 3. **Report**, when the statement wrote nothing: the thread's length, whether the step is
//!    committed, and whether the lease is current, read after it.
//!
//! The statement returns the thread's new length when it extends it, in the shape of the
//! report, so the first row a write returns is its [`Outcome`]. A report read after a refusal
//! may see another writer's commit made since; the engine tells that from a refusal (a thread
//! that holds the expected length after all is a race, looked at again).
//!
//! # A step commits once
//!
//! The first statement refuses a step already committed, and the thread's row is where it
//! looks: the row records the last step committed to the thread. That row is the one the
//! compare-and-append locks, so a commit and its retry are ordered by the same lock — on
//! PostgreSQL, a writer that waited for it checks the row the winner committed, not its own
//! snapshot. Only when another run wrote the thread since does the check read the run's log.

use super::leases::Fence;
use super::retry::Failure;
use super::threads;
use super::threads::Carried;
use super::write::{Statement, Write};
use crate::codec::{EpisodeRow, from_sql_int};
use crate::engine::threads::column;
use baton_core::error::StoreError;
use sqlx::any::AnyRow;
use uuid::Uuid;

/// The part of a step commit that goes to the run's log.
pub(crate) struct StepRecord {
    /// The run.
    pub(crate) run: String,
    /// The step committed.
    pub(crate) step: i64,
    /// The step's episodes.
    pub(crate) episodes: Vec<EpisodeRow>,
}

/// The write that appends `bodies` to `thread` if it holds `expected` messages (or whatever it
/// holds, with `None`) and, for a step, records the step's episodes unless it is committed;
/// under a `fence`, only if its lease is current.
pub(crate) fn write(
    writes: Writes,
    thread: &str,
    expected: Option<u64>,
    bodies: Vec<String>,
    step: Option<StepRecord>,
    fence: Option<Fence<'_>>,
) -> Write {
    let token = Uuid::now_v7().to_string();
    let key = step.as_ref().map(|s| (s.run.as_str(), s.step));
    let outcome = outcome(thread, &token, key, fence);
    let count = bodies.len();
    let carried = carried(bodies, step.as_ref());
    Write::new(match writes {
        Writes::Carried => {
            threads::extend(thread, count, expected, &token, key, fence, Some(carried))
        }
        Writes::With => with_inserts(
            threads::extend(thread, count, expected, &token, key, fence, None),
            carried,
        ),
    })
    .reporting_refusals_with(outcome)
}

/// A write's messages and episodes as the JSON arrays one statement carries.
fn carried(bodies: Vec<String>, step: Option<&StepRecord>) -> Carried {
    Carried {
        messages: (!bodies.is_empty()).then(|| {
            serde_json::Value::Array(bodies.into_iter().map(serde_json::Value::String).collect())
                .to_string()
        }),
        episodes: step.filter(|step| !step.episodes.is_empty()).map(|step| {
            serde_json::Value::Array(step.episodes.iter().map(EpisodeRow::as_json).collect())
                .to_string()
        }),
    }
}

/// `extend` (see [`threads::extend`]) as the first part of one statement whose other parts
/// insert what `carried` holds, only for a thread it extended: PostgreSQL's data-modifying
/// `WITH`, whose parts run once, to completion, as one statement. It returns what `extend`
/// returns.
///
/// The episodes are numbered from the run's log as the statement's snapshot saw it, taken
/// before the extension may wait for the thread's row: a writer of the same run that
/// committed meanwhile (only a run's new driver could, and the lease's fence keeps it out)
/// would collide on the log's key, and the write would run again.
///
/// The messages and episodes arrive as JSON text and are read with `json` (not `jsonb`, which
/// rejects a `\u0000` escape that a message may hold: each body is a string in the array, so
/// its escapes stay characters).
/// An episode's columns after its run and number (`at_ms, kind, completes_step, terminal,
/// body`), read on PostgreSQL from `x.value`, one array as [`EpisodeRow::as_json`] writes it.
pub(super) const EPISODE_FROM_JSON: &str = "(x.value->>0)::bigint, x.value->>1, \
     (x.value->>2)::bigint, (x.value->>3)::int = 1, x.value->>4";

fn with_inserts(extend: Statement, carried: Carried) -> Statement {
    let messages = extend.bound() + 1;
    let episodes = messages + 1;
    extend
        .rewritten(|sql| {
            format!(
                "WITH ext AS ({sql}), \
                 m AS (INSERT INTO messages (thread_id, seq, body) \
                       SELECT $1, ext.len - $2 + b.n - 1, b.value \
                       FROM ext, json_array_elements_text(${messages}::json) \
                            WITH ORDINALITY AS b(value, n)), \
                 e AS (INSERT INTO episodes \
                           (run_id, seq, at_ms, kind, completes_step, terminal, body) \
                       SELECT $5, next.seq + x.n - 1, {EPISODE_FROM_JSON} \
                       FROM ext, \
                            (SELECT COALESCE(MAX(seq) + 1, 0) AS seq FROM episodes \
                             WHERE run_id = $5) AS next, \
                            json_array_elements(${episodes}::json) WITH ORDINALITY AS x(value, n) \
                       ORDER BY x.n) \
                 SELECT * FROM ext"
            )
        })
        .bind(carried.messages)
        .bind(carried.episodes)
}

/// How a backend writes a step's messages and episodes within the statement that extends the
/// thread.
#[cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writes {
    /// The extending statement carries them and the database's triggers insert them: the whole
    /// write is one statement (SQLite, where every statement is a round trip to the
    /// connection's thread).
    Carried,
    /// One statement: the extending one inside a data-modifying `WITH` whose other parts
    /// insert them (PostgreSQL, where every statement is a round trip to the server).
    With,
}

/// The report of a write that wrote nothing, in the shape of the row [`threads::extend`]
/// returns when it extends: the thread's length (NULL for no thread), whether its row holds
/// `token`, whether `step` is committed (as [`threads::extend`] decides it; the run's log is
/// read only when the thread's row does not tell), and whether the `fence`'s lease is current
/// (1 without a fence).
fn outcome(
    thread: &str,
    token: &str,
    step: Option<(&str, i64)>,
    fence: Option<Fence<'_>>,
) -> Statement {
    let lease = if fence.is_some() {
        "CASE WHEN EXISTS (SELECT 1 FROM run_leases WHERE run_id = $5 AND token = $6) \
         THEN 1 ELSE 0 END"
    } else {
        "1"
    };
    let statement = Statement::new(format!(
        "SELECT (SELECT len FROM threads WHERE id = $1), \
         (SELECT COUNT(*) FROM threads WHERE id = $1 AND extended_by = $2), \
         CASE WHEN EXISTS (SELECT 1 FROM threads \
                           WHERE id = $1 AND last_run = $3 AND last_step >= $4) THEN 1 \
              WHEN EXISTS (SELECT 1 FROM episodes \
                           WHERE run_id = $3 AND completes_step = $4) THEN 1 \
              ELSE 0 END, \
         {lease}"
    ))
    .bind(thread)
    .bind(token)
    .bind(step.map(|(run, _)| run))
    .bind(step.map(|(_, step)| step));
    match fence {
        Some(fence) => statement.bind(fence.run).bind(fence.token),
        None => statement,
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It extended the thread, which now holds `len` messages.
    Extended {
        /// The thread's new length.
        len: u64,
    },
    /// Nothing: its step was already committed. The thread holds `len` messages.
    AlreadyCommitted {
        /// The thread's length.
        len: u64,
    },
    /// Nothing: the thread does not hold the expected number of messages.
    Refused {
        /// The number it holds.
        actual: u64,
    },
    /// Nothing: the writer's lease is not the run's current one.
    LeaseLost,
}

impl Outcome {
    /// The outcome a write's statements reported: the first row they returned.
    pub(crate) fn of(rows: &[AnyRow]) -> Result<Self, Failure> {
        let Some(row) = rows.first() else {
            return Err(Failure::Store(StoreError::Backend(
                "a write reported no outcome".to_owned(),
            )));
        };
        let len: Option<i64> = column(row, 0, "thread length")?;
        let len = from_sql_int(len.unwrap_or(0), "thread length")?;
        let extended: i64 = column(row, 1, "extension count")?;
        let committed: i64 = column(row, 2, "committed step count")?;
        let leased: i64 = column(row, 3, "current lease count")?;
        Ok(if extended > 0 {
            Self::Extended { len }
        } else if leased == 0 {
            Self::LeaseLost
        } else if committed > 0 {
            Self::AlreadyCommitted { len }
        } else {
            Self::Refused { actual: len }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step() -> StepRecord {
        StepRecord {
            run: "r".into(),
            step: 1,
            episodes: Vec::new(),
        }
    }

    #[test]
    fn a_carried_commit_is_one_statement_holding_the_rows_and_a_report() {
        let write = write(
            Writes::Carried,
            "t",
            Some(0),
            vec!["{\"role\":\"user\"}".into()],
            Some(step()),
            None,
        );
        let sql: Vec<&str> = write.statements().map(Statement::sql).collect();
        assert_eq!(sql.len(), 2, "{sql:#?}");
        assert!(sql[0].starts_with("INSERT INTO threads"), "{}", sql[0]);
        assert!(sql[0].contains("pending_messages"), "{}", sql[0]);
        assert!(sql[0].contains("completes_step = $6"), "{}", sql[0]);
        assert!(sql[1].starts_with("SELECT"), "{}", sql[1]);
    }

    #[test]
    fn a_commit_with_inserts_is_one_statement_extending_first_and_a_report() {
        let write = write(
            Writes::With,
            "t",
            Some(0),
            vec!["{}".into(), "{}".into()],
            Some(step()),
            None,
        );
        let sql: Vec<&str> = write.statements().map(Statement::sql).collect();
        assert_eq!(sql.len(), 2, "{sql:#?}");
        assert!(
            sql[0].starts_with("WITH ext AS (INSERT INTO threads"),
            "{}",
            sql[0]
        );
        assert!(sql[0].contains("INSERT INTO messages"), "{}", sql[0]);
        assert!(sql[0].contains("INSERT INTO episodes"), "{}", sql[0]);
        // Unfenced: the extension binds $1..$6, the rows come after.
        assert!(
            sql[0].contains("$7::json") && sql[0].contains("$8::json"),
            "{}",
            sql[0]
        );
        assert!(sql[1].starts_with("SELECT"), "{}", sql[1]);
    }

    #[test]
    fn a_fenced_commit_checks_its_lease_first_and_reports_it() {
        let fence = Fence {
            run: "r",
            token: "lease",
            lock: " FOR KEY SHARE",
        };
        let write = write(
            Writes::With,
            "t",
            Some(0),
            vec!["{}".into()],
            None,
            Some(fence),
        );
        let sql: Vec<&str> = write.statements().map(Statement::sql).collect();
        assert!(
            sql[0].contains(
                "AND EXISTS (SELECT 1 FROM run_leases WHERE run_id = $7 AND token = $8 FOR KEY SHARE) \
                 ON CONFLICT"
            ),
            "{}",
            sql[0]
        );
        assert!(
            sql[0].contains("$9::json") && sql[0].contains("$10::json"),
            "{}",
            sql[0]
        );
        let report = sql.last().expect("a report");
        assert!(report.contains("run_id = $5 AND token = $6"), "{report}");
    }
}
