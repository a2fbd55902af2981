//! The one code path both backends run: every query, transaction and retry of the stores.
//!
//! # One code path, on `sqlx::Any`
//!
//! [`SqliteStore`](crate::SqliteStore) and [`PostgresStore`](crate::PostgresStore) differ in how
//! they connect and in their migrations; their queries are the same text. The SQL they need is
//! the common subset of both dialects — `$n` parameters, `INSERT … ON CONFLICT … DO UPDATE …
//! RETURNING`, `INSERT … SELECT` from a `VALUES` list, partial indexes — and the values they bind
//! are text, 64-bit integers and booleans. So the engine runs on sqlx's `Any` driver, which
//! forwards each query to the connection's real driver, instead of being written twice or made
//! generic over `sqlx::Database` (whose bounds every function would have to repeat).
//!
//! What differs lives outside the Rust queries:
//! - in the migrations (`migrations/{sqlite,postgres}`): column types, bytewise collation of
//!   identifiers on PostgreSQL, and the trigger that keeps the `runs` table (SQL triggers are
//!   not portable);
//! - in [`Dialect`]: how a write transaction begins. SQLite takes the database's write lock at
//!   `BEGIN IMMEDIATE`, so two connections never both read and then fail to upgrade; PostgreSQL
//!   locks the thread's row with the first statement of every write.
//!
//! The price is small: `Any` copies each row once more and cannot bind backend-specific types
//! (UUID, JSONB), which this schema does not use.
//!
//! # Consistency
//!
//! Every write that touches a thread starts with [`threads::compare_and_extend`], which
//! advances the thread's length under a row (PostgreSQL) or database (SQLite) lock, so writers
//! of one thread are serialized and see each other's commits. Episodes take their sequence
//! number from the run's log in the same statement that inserts them; two writers racing on one
//! run collide on the primary key, and the loser's transaction is run again.

pub(crate) mod episodes;
pub(crate) mod threads;

use crate::codec::EpisodeRow;
use crate::error::{backend, is_transient};
use baton_core::error::StoreError;
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::Message;
use baton_core::memory::{Episode, EpisodeRecord, Page, StepCommit};
use sqlx::any::Any;
use sqlx::{AnyPool, Transaction};
use std::sync::Arc;
use threads::Extension;

/// What one backend does differently from the other, beyond its migrations.
#[derive(Debug)]
pub(crate) struct Dialect {
    /// The backend's name, for logs and errors.
    pub(crate) name: &'static str,
    /// The statement that opens a write transaction.
    pub(crate) begin_write: &'static str,
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

/// A pool on one of the backends, and the store operations on it.
pub(crate) struct SqlEngine {
    pool: AnyPool,
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
    /// An engine on `pool`, whose migrations have been applied.
    pub(crate) const fn new(pool: AnyPool, dialect: &'static Dialect) -> Self {
        Self { pool, dialect }
    }

    /// The pool, for backend-specific maintenance.
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

    /// Opens a write transaction.
    async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        self.pool.begin_with(self.dialect.begin_write).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.dialect.name, thread_id = %thread, count = messages.len()))]
    pub(crate) async fn append(
        &self,
        thread: ThreadId,
        expected_len: Option<u64>,
        messages: &[Arc<Message>],
    ) -> Result<u64, StoreError> {
        let bodies = threads::encode_all(messages)?;
        let id = thread.to_string();
        self.retrying("appending to a thread", || {
            self.try_append(thread, &id, expected_len, &bodies)
        })
        .await
    }

    async fn try_append(
        &self,
        thread: ThreadId,
        id: &str,
        expected_len: Option<u64>,
        bodies: &[String],
    ) -> Result<u64, Failure> {
        let mut tx = self.begin().await?;
        match threads::compare_and_extend(&mut tx, id, expected_len, bodies.len()).await? {
            Extension::Extended { from, to } => {
                threads::insert_messages(&mut tx, id, from, bodies).await?;
                tx.commit().await?;
                Ok(to)
            }
            Extension::Refused { actual } => {
                tx.rollback().await?;
                Err(conflict(thread, expected_len, actual))
            }
        }
    }

    pub(crate) async fn list(
        &self,
        thread: ThreadId,
        page: Page,
    ) -> Result<Vec<Arc<Message>>, StoreError> {
        threads::list(&self.pool, thread, page)
            .await
            .map_err(|e| failure("listing a thread", e))
    }

    pub(crate) async fn threads(&self, page: Page) -> Result<Vec<ThreadId>, StoreError> {
        threads::ids(&self.pool, page)
            .await
            .map_err(|e| failure("listing threads", e))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.dialect.name, run_id = %run))]
    pub(crate) async fn record(&self, run: RunId, episode: &Episode) -> Result<(), StoreError> {
        let rows = [EpisodeRow::new(episode)?];
        let id = run.to_string();
        // One statement: its implicit transaction is enough.
        self.retrying("recording an episode", || {
            episodes::insert_statement(&self.pool, &id, &rows)
        })
        .await
    }

    pub(crate) async fn episodes(&self, run: RunId) -> Result<Vec<EpisodeRecord>, StoreError> {
        episodes::log(&self.pool, run)
            .await
            .map_err(|e| failure("reading a run's log", e))
    }

    pub(crate) async fn unfinished_runs(&self) -> Result<Vec<RunId>, StoreError> {
        episodes::unfinished(&self.pool)
            .await
            .map_err(|e| failure("listing unfinished runs", e))
    }

    /// Appends the step's messages and records its episodes in one transaction, unless the step
    /// is already committed.
    ///
    /// The check for a committed step runs after the thread's row is locked, so a retried
    /// commit that races with the original still finds it; when it does, the transaction is
    /// rolled back and the thread's length returned.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.dialect.name, thread_id = %commit.thread, run_id = %commit.run, step = commit.step))]
    pub(crate) async fn commit_step(&self, commit: StepCommit<'_>) -> Result<u64, StoreError> {
        let bodies = threads::encode_all(commit.messages)?;
        let rows = commit
            .episodes
            .iter()
            .map(EpisodeRow::new)
            .collect::<Result<Vec<_>, _>>()?;
        self.retrying("committing a step", || {
            self.try_commit_step(&commit, &bodies, &rows)
        })
        .await
    }

    async fn try_commit_step(
        &self,
        commit: &StepCommit<'_>,
        bodies: &[String],
        rows: &[EpisodeRow],
    ) -> Result<u64, Failure> {
        let (thread, run) = (commit.thread.to_string(), commit.run.to_string());
        let step = i64::from(commit.step);
        let mut tx = self.begin().await?;
        match threads::compare_and_extend(&mut tx, &thread, commit.expected_len, bodies.len())
            .await?
        {
            Extension::Extended { from, to } => {
                if episodes::step_committed(&mut *tx, &run, step).await? {
                    tracing::debug!("step already committed");
                    tx.rollback().await?;
                    return Ok(from);
                }
                threads::insert_messages(&mut tx, &thread, from, bodies).await?;
                episodes::insert(&mut tx, &run, rows).await?;
                tx.commit().await?;
                Ok(to)
            }
            Extension::Refused { actual } => {
                let committed = episodes::step_committed(&mut *tx, &run, step).await?;
                tx.rollback().await?;
                if committed {
                    tracing::debug!("step already committed");
                    return Ok(actual);
                }
                Err(conflict(commit.thread, commit.expected_len, actual))
            }
        }
    }
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
