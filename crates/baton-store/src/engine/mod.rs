//! The one code path both backends run: every query and write of the stores.
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
//!   `WITHOUT ROWID`), bytewise collation of identifiers on PostgreSQL, the trigger that keeps
//!   the `runs` table, and SQLite's triggers that insert what a write's one statement carries
//!   (SQL triggers are not portable);
//! - in [`Dialect`]: how a write reaches the database ([`commit::Writes`]), which clock leases
//!   expire by, and how a commit under a lease keeps the lease from being replaced until it
//!   ends ([`leases`]).
//!
//! # Writes: one statement each
//!
//! A step's commit is a compare-and-append, an idempotency check, message and episode inserts,
//! and, when it wrote nothing, a report of why ([`commit`]). Each statement is a round trip (to
//! SQLite's connection thread, to PostgreSQL's server), so a commit is one statement: on SQLite
//! the extending statement carries the messages and episodes for the migration's triggers to
//! insert ([`commit::Writes::Carried`]), and taking, handing over or releasing a lease is one
//! statement too; on PostgreSQL the extending statement heads a data-modifying `WITH` that
//! inserts them ([`commit::Writes::With`]), and a lease's taking, hand-over and release are a
//! `WITH` too ([`write`] runs a write: its statement, and its report when it wrote nothing). On
//! a file, the store keeps one connection for all its writes, and reads draw from a pool of
//! their own ([`connections`]). A failure worth another attempt — a lost race, a busy database
//! — is retried by the one policy in [`retry`].
//!
//! # Consistency
//!
//! Every write that touches a thread starts with [`threads::extend`], which advances the
//! thread's length under a row (PostgreSQL) or database (SQLite) lock, so writers of one thread
//! are serialized and see each other's commits; the same row records the thread's last
//! committed step, so a commit and its retry are serialized by that lock too. Episodes take
//! their sequence number from the run's log in the statement that inserts them; two writers
//! racing on one run collide on the primary key, and the loser's transaction is run again.
//! Episodes recorded under a lease are inserted by one statement that checks the lease as a
//! commit does ([`episodes::insert_leased`]).
//! Leases are rows keyed by run and by thread: two acquires racing for either collide on the
//! key, and the loser is run again ([`leases`]).

pub(crate) mod commit;
pub(crate) mod connections;
pub(crate) mod episodes;
pub(crate) mod leases;
pub(crate) mod retry;
pub(crate) mod threads;
pub(crate) mod write;

use crate::codec::EpisodeRow;
use baton_core::error::StoreError;
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::Message;
use baton_core::memory::{Episode, EpisodeRecord, Lease, Page, StepCommit, ThreadTail};
use commit::{Outcome, StepRecord};
use connections::Connections;
use retry::{Failure, retrying};
use std::sync::Arc;
use write::Write;

/// What one backend does differently from the other, beyond its migrations.
#[derive(Debug)]
pub(crate) struct Dialect {
    /// The backend's name, for logs and errors.
    pub(crate) name: &'static str,
    /// The clock that leases expire by.
    pub(crate) clock: leases::Clock,
    /// What a commit's check of its lease appends to keep the lease's row from being replaced
    /// until the commit ends (see [`leases`]).
    pub(crate) fence_lock: &'static str,
    /// How a write's messages and episodes reach their tables (see [`commit::Writes`]).
    pub(crate) writes: commit::Writes,
}

/// The connections to one of the backends, and the store operations on them.
pub(crate) struct SqlEngine {
    connections: Connections,
    dialect: &'static Dialect,
}

impl std::fmt::Debug for SqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the pools' options: they may hold the URL, and with it a password.
        f.debug_struct("SqlEngine")
            .field("backend", &self.dialect.name)
            .field("connections", &self.connections.size())
            .field("closed", &self.connections.is_closed())
            .finish()
    }
}

impl SqlEngine {
    /// An engine on `connections`, whose database is migrated.
    pub(crate) const fn new(connections: Connections, dialect: &'static Dialect) -> Self {
        Self {
            connections,
            dialect,
        }
    }

    /// Closes the pools: waits for the write in progress and the connections in use, then
    /// closes them all.
    pub(crate) async fn close(&self) {
        self.connections.close().await;
    }

    /// The connections, for tests that look at the database directly.
    #[cfg(test)]
    pub(crate) const fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Runs `attempt` under the store's retry policy ([`retry`]).
    async fn retrying<T, F>(
        &self,
        doing: &'static str,
        attempt: impl FnMut() -> F,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, Failure>>,
    {
        retrying(self.dialect.name, doing, attempt).await
    }

    /// Runs `write` once, as one transaction; what its statements returned.
    async fn run(&self, write: &Write) -> Result<Vec<sqlx::any::AnyRow>, Failure> {
        self.connections.write(write).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.dialect.name, thread_id = %thread, count = messages.len()))]
    pub(crate) async fn append(
        &self,
        thread: ThreadId,
        expected_len: Option<u64>,
        messages: &[Arc<Message>],
    ) -> Result<u64, StoreError> {
        let bodies = threads::encode_all(messages)?;
        let write = commit::write(
            self.dialect.writes,
            &thread.to_string(),
            expected_len,
            bodies,
            None,
            None,
        );
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
        self.retrying("listing a thread", || {
            threads::list(self.connections.reads(), thread, page)
        })
        .await
    }

    pub(crate) async fn tail(
        &self,
        thread: ThreadId,
        limit: u64,
    ) -> Result<ThreadTail, StoreError> {
        self.retrying("reading the end of a thread", || {
            threads::tail(self.connections.reads(), thread, limit)
        })
        .await
    }

    pub(crate) async fn threads(&self, page: Page) -> Result<Vec<ThreadId>, StoreError> {
        self.retrying("listing threads", || {
            threads::ids(self.connections.reads(), page)
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.dialect.name, run_id = %run))]
    pub(crate) async fn record(&self, run: RunId, episode: &Episode) -> Result<(), StoreError> {
        let write = Write::new(episodes::insert(
            &run.to_string(),
            EpisodeRow::new(episode)?,
        ));
        self.retrying("recording an episode", || async {
            self.run(&write).await.map(drop)
        })
        .await
    }

    /// Records `episodes` in the log of `lease`'s run, in order, in one write, if `lease` is the
    /// run's current lease; with no episodes, only reads whether it is.
    #[tracing::instrument(level = "debug", skip_all, fields(backend = self.dialect.name, run_id = %lease.run, count = episodes.len()))]
    pub(crate) async fn record_leased(
        &self,
        lease: &Lease,
        episodes: &[Episode],
    ) -> Result<(), StoreError> {
        let rows = episodes
            .iter()
            .map(EpisodeRow::new)
            .collect::<Result<Vec<_>, _>>()?;
        let (run, token) = (lease.run.to_string(), lease.token.to_string());
        let recorded = if rows.is_empty() {
            self.retrying("checking a lease", || {
                leases::is_current(self.connections.reads(), &run, &token)
            })
            .await?
        } else {
            let fence = leases::Fence {
                run: &run,
                token: &token,
                lock: self.dialect.fence_lock,
            };
            let write = Write::new(episodes::insert_leased(fence, rows));
            self.retrying("recording episodes under a lease", || async {
                Ok(!self.run(&write).await?.is_empty())
            })
            .await?
        };
        if recorded {
            Ok(())
        } else {
            Err(StoreError::LeaseLost { run: lease.run })
        }
    }

    pub(crate) async fn episodes(&self, run: RunId) -> Result<Vec<EpisodeRecord>, StoreError> {
        self.retrying("reading a run's log", || {
            episodes::log(self.connections.reads(), run)
        })
        .await
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
        let write = commit::write(
            self.dialect.writes,
            &commit.thread.to_string(),
            commit.expected_len,
            bodies,
            Some(step),
            fence,
        );
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
        // The thread holds the expected length after all: another writer created or grew it
        // after the extension's snapshot (PostgreSQL), or between the extension and the report
        // read after it. Look again.
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
