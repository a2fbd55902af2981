//! The one code path both backends run: every query, transaction and retry of the stores.
//!
//! # One code path, on `sqlx::Any`
//!
//! [`SqliteStore`](crate::SqliteStore) and [`PostgresStore`](crate::PostgresStore) differ in how
//! they connect and in their migrations; their queries are the same text. The SQL they need is
//! the common subset of both dialects — `$n` parameters, `INSERT … ON CONFLICT … DO UPDATE`,
//! `INSERT … SELECT` from a `VALUES` list, scalar subqueries, partial indexes — and the values
//! they bind are text, 64-bit integers and booleans. So the engine runs on sqlx's `Any` driver,
//! which forwards each query to the connection's real driver, instead of being written twice or
//! made generic over `sqlx::Database` (whose bounds every function would have to repeat). `Any`
//! costs no measurable time per call (`benches/costs.rs`): what costs is the number of calls.
//!
//! What differs lives outside the Rust queries:
//! - in the migrations (`migrations/{sqlite,postgres}`): column types, table layouts (SQLite's
//!   `WITHOUT ROWID`), bytewise collation of identifiers on PostgreSQL, and the trigger that
//!   keeps the `runs` table (SQL triggers are not portable);
//! - in [`Dialect`]: how a write transaction begins, and how its statements reach the database
//!   ([`write`](mod@write): one script per write on SQLite, one statement per call on PostgreSQL).
//!   SQLite takes the database's write lock at `BEGIN IMMEDIATE`, so two connections never both
//!   read and then fail to upgrade; PostgreSQL locks the thread's row with the first statement
//!   of every write. Also which clock leases expire by, and how a commit under a lease keeps
//!   the lease from being replaced until it ends ([`leases`]).
//!
//! # A write is one call
//!
//! A step's commit is a compare-and-append, an idempotency check, message and episode inserts,
//! and a report of what happened: a handful of statements in one transaction. On SQLite each
//! call to the connection's thread is a round trip that costs more than the statements, so
//! every write is one [`write::Write`] — statements that carry their own conditions
//! ([`commit`]) — sent as one script. On a file, the store keeps one connection for all its
//! writes ([`connections::Writer`]), whose page cache survives from one commit to the next, and
//! reads use it too when it is idle.
//!
//! # Consistency
//!
//! Every write that touches a thread starts with [`threads::extend`], which advances the
//! thread's length under a row (PostgreSQL) or database (SQLite) lock, so writers of one thread
//! are serialized and see each other's commits; the same row records the thread's last
//! committed step, so a commit and its retry are serialized by that lock too. Episodes take
//! their sequence number from the run's log in the statement that inserts them; two writers
//! racing on one run collide on the primary key, and the loser's transaction is run again.
//! Leases are rows keyed by run and by thread: two acquires racing for either collide on the
//! key, and the loser is run again ([`leases`]).

pub(crate) mod commit;
pub(crate) mod connections;
pub(crate) mod episodes;
pub(crate) mod leases;
pub(crate) mod threads;
pub(crate) mod write;

use crate::codec::EpisodeRow;
use crate::error::{backend, is_transient};
use baton_core::error::StoreError;
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::Message;
use baton_core::memory::{Episode, EpisodeRecord, Page, StepCommit, ThreadTail};
use commit::{Outcome, StepRecord};
use connections::Writer;
use sqlx::AnyPool;
use std::sync::Arc;
use write::{Batching, Isolation, Write};

/// What one backend does differently from the other, beyond its migrations.
#[derive(Debug)]
pub(crate) struct Dialect {
    /// The backend's name, for logs and errors.
    pub(crate) name: &'static str,
    /// The statement that opens a write transaction.
    pub(crate) begin_write: &'static str,
    /// The statement that opens a write transaction whose statements all see one snapshot
    /// ([`Isolation::OneSnapshot`]).
    pub(crate) begin_snapshot_write: &'static str,
    /// How the statements of a write reach the database.
    pub(crate) batching: Batching,
    /// The clock that leases expire by.
    pub(crate) clock: leases::Clock,
    /// What a commit's check of its lease appends to keep the lease's row from being replaced
    /// until the commit ends (see [`leases`]).
    pub(crate) fence_lock: &'static str,
}

impl Dialect {
    /// The statement that opens a write transaction of `isolation`.
    pub(crate) const fn begin(&self, isolation: Isolation) -> &'static str {
        match isolation {
            Isolation::PerStatement => self.begin_write,
            Isolation::OneSnapshot => self.begin_snapshot_write,
        }
    }
}

/// Attempts of one write before a transient failure is reported.
///
/// Each lost race means another writer of the same run committed, so this bounds the number of
/// concurrent writers of one run that are served without error, not the time waited.
const MAX_ATTEMPTS: u32 = 64;

/// Why one attempt of a transaction failed.
pub(crate) enum Failure {
    /// The database failed; some failures are worth another attempt.
    Sql(sqlx::Error),
    /// The store refused or could not read the data; final.
    Store(StoreError),
    /// Another writer changed what this attempt read; another attempt will see it.
    Race,
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        Self::Sql(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// A pool on one of the backends, where its writes go, and the store operations on it.
pub(crate) struct SqlEngine {
    pool: AnyPool,
    writer: Writer,
    dialect: &'static Dialect,
}

impl std::fmt::Debug for SqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the pool's options: they may hold the URL, and with it a password.
        f.debug_struct("SqlEngine")
            .field("backend", &self.dialect.name)
            .field("connections", &self.pool.size())
            .field("closed", &self.pool.is_closed())
            .finish()
    }
}

impl SqlEngine {
    /// An engine on `pool`, whose migrations have been applied, writing as `writer` says.
    pub(crate) const fn new(pool: AnyPool, writer: Writer, dialect: &'static Dialect) -> Self {
        Self {
            pool,
            writer,
            dialect,
        }
    }

    /// Closes the pool: waits for the write in progress and the connections in use, then closes
    /// them all.
    pub(crate) async fn close(&self) {
        self.writer.release().await;
        self.pool.close().await;
    }

    /// The pool, for tests that look at the database directly.
    #[cfg(test)]
    pub(crate) const fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Runs `attempt` until it succeeds, fails for good, or has lost [`MAX_ATTEMPTS`] races
    /// with other writers.
    async fn retrying<T, F>(
        &self,
        doing: &'static str,
        mut attempt: impl FnMut() -> F,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, Failure>>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(Failure::Store(error)) => return Err(error),
                Err(Failure::Sql(error)) if !is_transient(&error) => {
                    return Err(backend(doing, &error));
                }
                Err(Failure::Sql(error)) => error.to_string(),
                Err(Failure::Race) => "the data changed under the transaction".to_owned(),
            };
            if attempts >= MAX_ATTEMPTS {
                return Err(StoreError::Backend(format!(
                    "{doing}: gave up after losing {attempts} races with other writers ({error})"
                )));
            }
            tracing::debug!(
                backend = self.dialect.name,
                doing,
                attempts,
                %error,
                "lost a race with another writer; trying again"
            );
        }
    }

    /// A connection to read on.
    async fn reader(&self) -> Result<connections::Reader<'_>, StoreError> {
        self.writer
            .reader(&self.pool)
            .await
            .map_err(|e| backend("reading", &e))
    }

    /// Runs `write` once; what its statements returned.
    async fn run(&self, write: &Arc<Write>) -> Result<Vec<sqlx::any::AnyRow>, Failure> {
        write::run(&self.pool, &self.writer, self.dialect, write).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.dialect.name, thread_id = %thread, count = messages.len()))]
    pub(crate) async fn append(
        &self,
        thread: ThreadId,
        expected_len: Option<u64>,
        messages: &[Arc<Message>],
    ) -> Result<u64, StoreError> {
        let bodies = threads::encode_all(messages)?;
        let write = Arc::new(commit::write(
            &thread.to_string(),
            expected_len,
            bodies,
            None,
            None,
        ));
        self.retrying("appending to a thread", || async {
            match Outcome::of(&self.run(&write).await?)? {
                Outcome::Extended { len } | Outcome::AlreadyCommitted { len } => Ok(len),
                Outcome::Refused { actual } => Err(refusal(thread, expected_len, actual)),
                Outcome::LeaseLost => Err(Failure::Store(StoreError::Backend(
                    "an append, made under no lease, reported a lost lease".to_owned(),
                ))),
            }
        })
        .await
    }

    pub(crate) async fn list(
        &self,
        thread: ThreadId,
        page: Page,
    ) -> Result<Vec<Arc<Message>>, StoreError> {
        let mut conn = self.reader().await?;
        threads::list(&mut *conn, thread, page)
            .await
            .map_err(|e| failure("listing a thread", e))
    }

    pub(crate) async fn tail(
        &self,
        thread: ThreadId,
        limit: u64,
    ) -> Result<ThreadTail, StoreError> {
        let mut conn = self.reader().await?;
        threads::tail(&mut *conn, thread, limit)
            .await
            .map_err(|e| failure("reading the end of a thread", e))
    }

    pub(crate) async fn threads(&self, page: Page) -> Result<Vec<ThreadId>, StoreError> {
        let mut conn = self.reader().await?;
        threads::ids(&mut *conn, page)
            .await
            .map_err(|e| failure("listing threads", e))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.dialect.name, run_id = %run))]
    pub(crate) async fn record(&self, run: RunId, episode: &Episode) -> Result<(), StoreError> {
        let rows = vec![EpisodeRow::new(episode)?];
        let mut write = Write::default();
        for statement in episodes::insert(&run.to_string(), None, rows) {
            write.push(statement);
        }
        let write = Arc::new(write);
        self.retrying("recording an episode", || async {
            self.run(&write).await.map(drop)
        })
        .await
    }

    pub(crate) async fn episodes(&self, run: RunId) -> Result<Vec<EpisodeRecord>, StoreError> {
        let mut conn = self.reader().await?;
        episodes::log(&mut *conn, run)
            .await
            .map_err(|e| failure("reading a run's log", e))
    }

    /// Appends the step's messages and records its episodes in one write, unless the step is
    /// already committed (then it returns the thread's length and writes nothing) or the
    /// commit's lease is not current.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.dialect.name, thread_id = %commit.thread, run_id = %commit.run, step = commit.step))]
    pub(crate) async fn commit_step(&self, commit: StepCommit<'_>) -> Result<u64, StoreError> {
        let bodies = threads::encode_all(commit.messages)?;
        let step = StepRecord {
            run: commit.run.to_string(),
            step: i64::from(commit.step),
            episodes: commit
                .episodes
                .iter()
                .map(EpisodeRow::new)
                .collect::<Result<_, _>>()?,
        };
        let lease = commit
            .lease
            .map(|lease| (lease.run.to_string(), lease.token.to_string()));
        let fence = lease.as_ref().map(|(run, token)| leases::Fence {
            run,
            token,
            lock: self.dialect.fence_lock,
        });
        let write = Arc::new(commit::write(
            &commit.thread.to_string(),
            commit.expected_len,
            bodies,
            Some(step),
            fence,
        ));
        self.retrying("committing a step", || async {
            match Outcome::of(&self.run(&write).await?)? {
                Outcome::Extended { len } => Ok(len),
                Outcome::AlreadyCommitted { len } => {
                    tracing::debug!("step already committed");
                    Ok(len)
                }
                Outcome::Refused { actual } => {
                    Err(refusal(commit.thread, commit.expected_len, actual))
                }
                Outcome::LeaseLost => Err(Failure::Store(StoreError::LeaseLost {
                    run: commit.lease.map_or(commit.run, |lease| lease.run),
                })),
            }
        })
        .await
    }
}

/// Why a compare-and-append wrote nothing: a conflict, or a race to look at again.
fn refusal(thread: ThreadId, expected: Option<u64>, actual: u64) -> Failure {
    if expected == Some(actual) {
        // Created by another writer after the extension's snapshot (PostgreSQL): look again.
        return Failure::Race;
    }
    conflict(thread, expected, actual)
}

/// The refusal of a compare-and-append; only an expected length can be refused.
fn conflict(thread: ThreadId, expected: Option<u64>, actual: u64) -> Failure {
    Failure::Store(StoreError::Conflict {
        thread,
        expected: expected.unwrap_or(actual),
        actual,
    })
}

/// A failure of a read: reads are not retried.
fn failure(doing: &str, failure: Failure) -> StoreError {
    match failure {
        Failure::Sql(error) => backend(doing, &error),
        Failure::Store(error) => error,
        Failure::Race => StoreError::Backend(format!("{doing}: the data changed while read")),
    }
}
