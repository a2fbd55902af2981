//! Run leases: the writes that take, renew, hand over and release a run's lease, and the fence
//! of a write under one.
//!
//! A lease is a row of `run_leases` (migration 0004): the run, the thread it holds (unique),
//! the owner, the token of this taking and when it expires. A row stays the run's current
//! lease until it is released or an acquire replaces it, expired or not; it holds the run and
//! the thread only until it expires.
//!
//! # Taking a lease
//!
//! One statement ([`acquire`]), which clears the way and inserts: the expired leases of the run
//! and of the thread are deleted, if no live lease holds either (a refused acquire deletes
//! nothing, so an expired lease that nobody replaced stays current for its holder), and the new
//! lease is inserted if no live lease holds the run or the thread. On SQLite the insert says
//! when it takes the lease (`taken_at_ms`) and the migration's `BEFORE INSERT` trigger deletes
//! the expired leases in its way; on PostgreSQL a data-modifying `WITH` deletes them before the
//! insert reads on. When nothing was inserted, the report reads the run's current token, the
//! owner of a live lease on the run, and the run of a live lease on the thread.
//!
//! Two acquires that both find the way clear both insert, and the unique keys (the run, the
//! thread) make one of them fail; so does an acquire whose expired lease another transaction
//! renewed or deleted meanwhile. The failed one is run again, and sees the winner.
//!
//! # Fencing
//!
//! A commit under a lease extends its thread only if the lease is current: its first statement
//! checks ([`Fence`], in [`threads::extend`](super::threads::extend)), and its report tells a
//! lost lease from a conflict. On PostgreSQL the check locks the lease's row until the commit
//! ends (the dialect's `fence_lock`): an acquire that would replace the lease waits for the
//! commit, and a commit that waited for such an acquire finds the lease gone.
//!
//! A write of episodes under a lease ([`episodes::insert_leased`]) checks the lease the same
//! way, in the statement that inserts them.
//!
//! # Handing over
//!
//! A hand-over ([`hand_over`]) is one statement that replaces the current lease's row by one of
//! a new owner and token on the same thread, so the thread is held throughout. On PostgreSQL
//! the row is deleted and the new one inserted, in a data-modifying `WITH`: a delete waits for
//! the fence's `FOR KEY SHARE` lock, where an update that changes no key would not, so a
//! hand-over waits for the writes in flight under the lease it replaces, and a write that waited
//! for a hand-over finds its lease gone. On SQLite the row is updated in place, under the
//! database's write lock. Of two hand-overs with one lease, the second finds the lease gone.
//! When nothing was replaced, the report reads the run's current token, so an attempt whose
//! acknowledgement was lost, tried again, sees that it won.
//!
//! A release ([`release`]) is one statement too: the current lease's row is deleted, and the
//! terminal episode, if any, recorded only if it was — on PostgreSQL by the insert of a
//! data-modifying `WITH` that reads what the delete returned, on SQLite by the migration's
//! trigger on an update of the row that carries the episode, which then deletes the row.
//!
//! # Time
//!
//! Leases expire by the dialect's [`Clock`], read once per operation, before its write. A write
//! that then waits for the database's lock judges as of a moment earlier: a lease may look live
//! a little longer than it is, and a renewal may last a little less than asked; never the
//! reverse, so a lease is never taken early.

use super::commit::{EPISODE_FROM_JSON, Writes};
use super::retry::Failure;
use super::write::{Statement, Write};
use super::{SqlEngine, episodes};
use crate::codec::{EpisodeRow, corrupt, from_sql_int, to_sql_int};
use crate::engine::threads::column;
use baton_core::error::StoreError;
use baton_core::ids::{RunId, ThreadId};
use baton_core::memory::{Episode, Lease, LeaseToken, UnfinishedRun, now_ms};
use sqlx::any::AnyRow;
use std::time::Duration;

/// The clock that leases expire by, in milliseconds since the Unix epoch.
#[cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]
#[derive(Debug)]
pub(crate) enum Clock {
    /// This process's wall clock ([`now_ms`]).
    Process,
    /// The database server's, read by this query.
    Server(&'static str),
}

/// The lease a write is made under: it writes only if the lease is current.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fence<'a> {
    /// The run.
    pub(crate) run: &'a str,
    /// The lease's token.
    pub(crate) token: &'a str,
    /// What the check appends to lock the lease's row until the write ends (the dialect's
    /// `fence_lock`).
    pub(crate) lock: &'static str,
}

impl Fence<'_> {
    /// The condition that the lease is current, its run and its token the parameters `$first`
    /// and the one after; it locks the lease's row as the dialect says.
    pub(crate) fn condition(&self, first: usize) -> String {
        format!(
            "EXISTS (SELECT 1 FROM run_leases WHERE run_id = ${first} AND token = ${}{})",
            first + 1,
            self.lock
        )
    }
}

/// Whether the lease of `run` with `token` is current: one row, its count (0 or 1).
const CURRENT_SQL: &str = "SELECT COUNT(*) FROM run_leases WHERE run_id = $1 AND token = $2";

/// Whether the lease of `run` with `token` is current, read (it writes nothing).
pub(crate) async fn is_current<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::any::Any>,
    run: &str,
    token: &str,
) -> Result<bool, Failure> {
    let current: i64 = sqlx::query_scalar(CURRENT_SQL)
        .bind(run)
        .bind(token)
        .fetch_one(executor)
        .await?;
    Ok(current > 0)
}

/// When a lease taken or renewed at `now` for `ttl` expires; past what SQL holds, the latest
/// time it holds (a lease that never expires).
fn expiry(now: u64, ttl: Duration) -> u64 {
    let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    now.saturating_add(ttl).min(i64::MAX.unsigned_abs())
}

/// The write that takes the lease of `run` on `thread` for `owner` with `token`, until
/// `expires_at_ms`, unless a lease live at `now` holds the run or the thread.
fn acquire(
    writes: Writes,
    run: &str,
    thread: &str,
    owner: &str,
    token: &str,
    now: u64,
    expires_at_ms: u64,
) -> Write {
    let (now, expires_at_ms) = (to_sql_int(now), to_sql_int(expires_at_ms));
    let report = Statement::new(
        "SELECT (SELECT token FROM run_leases WHERE run_id = $1), \
         (SELECT owner FROM run_leases WHERE run_id = $1 AND expires_at_ms > $3), \
         (SELECT run_id FROM run_leases \
          WHERE thread_id = $2 AND run_id <> $1 AND expires_at_ms > $3)",
    )
    .bind(run)
    .bind(thread)
    .bind(now);
    // One statement, the insert running only if no live lease holds the run or the thread,
    // and the expired leases in its way deleted first: by the migration's trigger on SQLite
    // (the insert says when it takes the lease), by a `WITH` whose result the insert reads on
    // PostgreSQL (so the delete runs before it). A lease another writer took or renewed
    // meanwhile collides on a key, and the write runs again. Its row is the report's, as of a
    // taking.
    let sql = match writes {
        Writes::Carried => {
            "INSERT INTO run_leases (run_id, thread_id, owner, token, expires_at_ms, taken_at_ms) \
             SELECT $1, $2, $3, $4, $5, $6 \
             WHERE NOT EXISTS (SELECT 1 FROM run_leases \
                               WHERE (run_id = $1 OR thread_id = $2) AND expires_at_ms > $6) \
             RETURNING token, NULL, NULL"
        }
        Writes::With => {
            "WITH gone AS (\
                 DELETE FROM run_leases \
                 WHERE (run_id = $1 OR thread_id = $2) AND expires_at_ms <= $6 \
                 AND NOT EXISTS (SELECT 1 FROM run_leases \
                                 WHERE (run_id = $1 OR thread_id = $2) AND expires_at_ms > $6) \
                 RETURNING 1) \
             INSERT INTO run_leases (run_id, thread_id, owner, token, expires_at_ms) \
             SELECT $1, $2, $3, $4, $5 \
             WHERE (SELECT COUNT(*) FROM gone) >= 0 \
             AND NOT EXISTS (SELECT 1 FROM run_leases \
                             WHERE (run_id = $1 OR thread_id = $2) AND expires_at_ms > $6) \
             RETURNING token, NULL, NULL"
        }
    };
    Write::new(
        Statement::new(sql)
            .bind(run)
            .bind(thread)
            .bind(owner)
            .bind(token)
            .bind(expires_at_ms)
            .bind(now),
    )
    .reporting_refusals_with(report)
}

/// What an acquire's report says.
fn acquired(rows: &[AnyRow], run: RunId, thread: ThreadId, token: &str) -> Result<(), Failure> {
    let Some(row) = rows.first() else {
        return Err(Failure::Store(StoreError::Backend(
            "taking a lease reported nothing".to_owned(),
        )));
    };
    let current: Option<String> = column(row, 0, "lease token")?;
    let owner: Option<String> = column(row, 1, "lease owner")?;
    let holder: Option<String> = column(row, 2, "thread's lease holder")?;
    if current.as_deref() == Some(token) {
        return Ok(());
    }
    if let Some(owner) = owner {
        return Err(Failure::Store(StoreError::RunLeased { run, owner }));
    }
    if let Some(holder) = holder {
        let holder = holder
            .parse()
            .map_err(|e| corrupt(format_args!("run id of a lease: {e}")))?;
        return Err(Failure::Store(StoreError::ThreadBusy { thread, holder }));
    }
    // Neither taken nor refused: the report, read after the refused insert, found the way clear
    // (the lease in the way expired or was released meanwhile). Look again rather than guess.
    Err(Failure::Race)
}

/// The statement that extends `lease` to `expires_at_ms` if it is current; it returns a row if
/// it did.
fn renew(run: &str, token: &str, expires_at_ms: u64) -> Statement {
    Statement::new(
        "UPDATE run_leases SET expires_at_ms = $3 WHERE run_id = $1 AND token = $2 \
         RETURNING expires_at_ms",
    )
    .bind(run)
    .bind(token)
    .bind(to_sql_int(expires_at_ms))
}

/// The write that replaces the lease of `run` with `token`, if it is current, by one on the
/// same thread for `owner` with `new_token`, taken at `now` until `expires_at_ms`; its first row
/// holds the run's current token afterwards (`new_token` if it replaced the lease).
fn hand_over(
    writes: Writes,
    (run, token): (&str, &str),
    owner: &str,
    new_token: &str,
    now: u64,
    expires_at_ms: u64,
) -> Write {
    let (now, expires_at_ms) = (to_sql_int(now), to_sql_int(expires_at_ms));
    let report =
        Statement::new("SELECT (SELECT token FROM run_leases WHERE run_id = $1)").bind(run);
    // One statement, which returns the new token if it replaced the lease. On PostgreSQL the
    // row is deleted, so that the hand-over waits for the writes fenced by it (see the module's
    // docs), and the new row inserted from what the delete returned; on SQLite, updated.
    let statement = match writes {
        Writes::Carried => Statement::new(
            "UPDATE run_leases SET owner = $3, token = $4, expires_at_ms = $5, taken_at_ms = $6 \
             WHERE run_id = $1 AND token = $2 RETURNING token",
        )
        .bind(run)
        .bind(token)
        .bind(owner)
        .bind(new_token)
        .bind(expires_at_ms)
        .bind(now),
        Writes::With => Statement::new(
            "WITH old AS (\
                 DELETE FROM run_leases WHERE run_id = $1 AND token = $2 RETURNING thread_id) \
             INSERT INTO run_leases (run_id, thread_id, owner, token, expires_at_ms) \
             SELECT $1, old.thread_id, $3, $4, $5 FROM old \
             RETURNING token",
        )
        .bind(run)
        .bind(token)
        .bind(owner)
        .bind(new_token)
        .bind(expires_at_ms),
    };
    Write::new(statement).reporting_refusals_with(report)
}

/// The write that ends the lease of `run` with `token` if it is current, recording `terminal`
/// first; its first row holds 1 if it did, 0 if the lease was not current.
fn release(writes: Writes, run: &str, token: &str, terminal: Option<EpisodeRow>) -> Write {
    let report = Statement::new(CURRENT_SQL).bind(run).bind(token);
    // One statement. On SQLite the row is deleted, or marked with the terminal episode, which
    // the migration's trigger records before it deletes the row. On PostgreSQL the current
    // lease's row is deleted, and the terminal episode, if any, recorded only if it was (the
    // insert reads what the delete returned).
    let statement = match (writes, terminal) {
        (Writes::Carried, None) => {
            Statement::new("DELETE FROM run_leases WHERE run_id = $1 AND token = $2 RETURNING 1")
                .bind(run)
                .bind(token)
        }
        (Writes::Carried, Some(terminal)) => Statement::new(
            "UPDATE run_leases SET pending_terminal = $3 \
             WHERE run_id = $1 AND token = $2 RETURNING 1",
        )
        .bind(run)
        .bind(token)
        .bind(terminal.as_json().to_string()),
        (Writes::With, terminal) => Statement::new(format!(
            "WITH released AS (\
                 DELETE FROM run_leases WHERE run_id = $1 AND token = $2 RETURNING run_id), \
             terminal AS (\
                 INSERT INTO episodes (run_id, seq, at_ms, kind, completes_step, terminal, body) \
                 SELECT r.run_id, next.seq, {EPISODE_FROM_JSON} \
                 FROM released AS r, \
                      (SELECT COALESCE(MAX(seq) + 1, 0) AS seq FROM episodes WHERE run_id = $1) \
                      AS next, \
                      json_array_elements($3::json) AS x(value)) \
             SELECT 1 FROM released",
        ))
        .bind(run)
        .bind(token)
        .bind(
            terminal.map(|terminal| serde_json::Value::Array(vec![terminal.as_json()]).to_string()),
        ),
    };
    Write::new(statement).reporting_refusals_with(report)
}

impl SqlEngine {
    /// Now, by the clock that leases expire by.
    async fn lease_clock(&self) -> Result<u64, StoreError> {
        match self.dialect.clock {
            Clock::Process => Ok(now_ms()),
            Clock::Server(query) => {
                let now: i64 = self
                    .retrying("reading the server's clock", || async {
                        Ok(sqlx::query_scalar(query)
                            .fetch_one(self.connections.reads())
                            .await?)
                    })
                    .await?;
                from_sql_int(now, "server's clock")
            }
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.dialect.name, run_id = %run, thread_id = %thread))]
    pub(crate) async fn acquire_lease(
        &self,
        run: RunId,
        thread: ThreadId,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        let now = self.lease_clock().await?;
        let token = LeaseToken::new();
        let token_text = token.to_string();
        let expires_at_ms = expiry(now, ttl);
        let write = acquire(
            self.dialect.writes,
            &run.to_string(),
            &thread.to_string(),
            owner,
            &token_text,
            now,
            expires_at_ms,
        );
        self.retrying("taking a lease", || async {
            acquired(&self.run(&write).await?, run, thread, &token_text)
        })
        .await?;
        Ok(Lease {
            run,
            thread,
            owner: owner.into(),
            token,
            expires_at_ms,
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.dialect.name, run_id = %lease.run))]
    pub(crate) async fn renew_lease(
        &self,
        lease: &Lease,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        let now = self.lease_clock().await?;
        let expires_at_ms = expiry(now, ttl);
        let write = Write::new(renew(
            &lease.run.to_string(),
            &lease.token.to_string(),
            expires_at_ms,
        ));
        let renewed = self
            .retrying("renewing a lease", || async {
                Ok(!self.run(&write).await?.is_empty())
            })
            .await?;
        if !renewed {
            return Err(StoreError::LeaseLost { run: lease.run });
        }
        Ok(Lease {
            expires_at_ms,
            ..lease.clone()
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.dialect.name, run_id = %lease.run))]
    pub(crate) async fn hand_over_lease(
        &self,
        lease: &Lease,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        let now = self.lease_clock().await?;
        let token = LeaseToken::new();
        let token_text = token.to_string();
        let expires_at_ms = expiry(now, ttl);
        let write = hand_over(
            self.dialect.writes,
            (&lease.run.to_string(), &lease.token.to_string()),
            owner,
            &token_text,
            now,
            expires_at_ms,
        );
        let handed_over = self
            .retrying("handing a lease over", || async {
                let rows = self.run(&write).await?;
                let Some(first) = rows.first() else {
                    return Err(Failure::Store(StoreError::Backend(
                        "handing a lease over reported nothing".to_owned(),
                    )));
                };
                let current: Option<String> = column(first, 0, "lease token")?;
                Ok(current.as_deref() == Some(token_text.as_str()))
            })
            .await?;
        if !handed_over {
            return Err(StoreError::LeaseLost { run: lease.run });
        }
        Ok(Lease {
            run: lease.run,
            thread: lease.thread,
            owner: owner.into(),
            token,
            expires_at_ms,
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.dialect.name, run_id = %lease.run))]
    pub(crate) async fn release_lease(
        &self,
        lease: &Lease,
        terminal: Option<&Episode>,
    ) -> Result<(), StoreError> {
        let terminal = terminal.map(EpisodeRow::new).transpose()?;
        let write = release(
            self.dialect.writes,
            &lease.run.to_string(),
            &lease.token.to_string(),
            terminal,
        );
        let released = self
            .retrying("releasing a lease", || async {
                let rows = self.run(&write).await?;
                let Some(first) = rows.first() else {
                    return Err(Failure::Store(StoreError::Backend(
                        "releasing a lease reported nothing".to_owned(),
                    )));
                };
                let current: i64 = column(first, 0, "lease count")?;
                Ok(current > 0)
            })
            .await?;
        if released {
            Ok(())
        } else {
            Err(StoreError::LeaseLost { run: lease.run })
        }
    }

    pub(crate) async fn unfinished_runs(&self) -> Result<Vec<UnfinishedRun>, StoreError> {
        let now = self.lease_clock().await?;
        self.retrying("listing unfinished runs", || {
            episodes::unfinished(self.connections.reads(), now)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_past_what_sql_holds_saturates() {
        assert_eq!(expiry(1_000, Duration::from_millis(500)), 1_500);
        let latest = i64::MAX.unsigned_abs();
        assert_eq!(expiry(1_000, Duration::MAX), latest);
        assert_eq!(expiry(u64::MAX, Duration::ZERO), latest);
    }

    #[test]
    fn an_acquire_is_one_statement_and_a_report() {
        for writes in [Writes::With, Writes::Carried] {
            let write = acquire(writes, "r", "t", "owner", "token", 10, 20);
            let sql: Vec<&str> = write.statements().map(Statement::sql).collect();
            assert_eq!(sql.len(), 2, "{sql:#?}");
            assert!(sql[0].contains("INSERT INTO run_leases"), "{}", sql[0]);
            assert!(sql[1].starts_with("SELECT"), "{}", sql[1]);
        }
        let write = acquire(Writes::With, "r", "t", "owner", "token", 10, 20);
        let sql: Vec<&str> = write.statements().map(Statement::sql).collect();
        // The expired leases in the way go first, in the same statement.
        assert!(
            sql[0].starts_with("WITH gone AS (DELETE FROM run_leases"),
            "{}",
            sql[0]
        );
    }

    #[test]
    fn a_hand_over_is_one_statement_and_a_report() {
        let write = hand_over(Writes::With, ("r", "old"), "owner", "new", 10, 20);
        let sql: Vec<&str> = write.statements().map(Statement::sql).collect();
        assert_eq!(sql.len(), 2, "{sql:#?}");
        // A delete, which waits for the writes fenced by the lease, then the insert.
        assert!(
            sql[0].starts_with(
                "WITH old AS (DELETE FROM run_leases WHERE run_id = $1 AND token = $2"
            ),
            "{}",
            sql[0]
        );
        assert!(sql[0].contains("INSERT INTO run_leases"), "{}", sql[0]);
        assert!(sql[1].starts_with("SELECT (SELECT token"), "{}", sql[1]);
        assert_eq!(write.statements().next().map(Statement::bound), Some(5));

        let write = hand_over(Writes::Carried, ("r", "old"), "owner", "new", 10, 20);
        let sql: Vec<&str> = write.statements().map(Statement::sql).collect();
        assert_eq!(sql.len(), 2, "{sql:#?}");
        assert!(
            sql[0].starts_with("UPDATE run_leases SET owner"),
            "{}",
            sql[0]
        );
        assert!(sql[0].contains("taken_at_ms = $6"), "{}", sql[0]);
        assert_eq!(write.statements().next().map(Statement::bound), Some(6));
    }

    #[test]
    fn a_fence_checks_the_lease_with_the_dialects_lock() {
        let fence = Fence {
            run: "r",
            token: "lease",
            lock: " FOR KEY SHARE",
        };
        assert_eq!(
            fence.condition(3),
            "EXISTS (SELECT 1 FROM run_leases WHERE run_id = $3 AND token = $4 FOR KEY SHARE)"
        );
    }

    #[test]
    fn a_release_is_one_statement_and_a_report() {
        let terminal = EpisodeRow::new(&Episode::Completed {
            output: "done".into(),
            usage: baton_core::llm::Usage::new(1, 1),
        })
        .expect("encode");
        let write = release(Writes::With, "r", "token", Some(terminal.clone()));
        let sql: Vec<&str> = write.statements().map(Statement::sql).collect();
        assert_eq!(sql.len(), 2, "{sql:#?}");
        assert!(
            sql[0].starts_with("WITH released AS (DELETE FROM run_leases"),
            "{}",
            sql[0]
        );
        assert!(sql[0].contains("INSERT INTO episodes"), "{}", sql[0]);
        assert!(sql[1].starts_with("SELECT COUNT(*)"), "{}", sql[1]);

        // Carried: the row marked with the episode, in one statement, then the report.
        let write = release(Writes::Carried, "r", "token", Some(terminal));
        let sql: Vec<&str> = write.statements().map(Statement::sql).collect();
        assert_eq!(sql.len(), 2, "{sql:#?}");
        assert!(sql[0].contains("SET pending_terminal"), "{}", sql[0]);
        assert!(sql[1].starts_with("SELECT COUNT(*)"), "{}", sql[1]);
    }
}
