//! Durable memory for Baton: [`ThreadStore`], [`EpisodicStore`] and [`Store`] on SQLite
//! ([`SqliteStore`], embedded, the default) and PostgreSQL ([`PostgresStore`], shared by many
//! processes).
//!
//! Both keep the guarantees of baton-core's memory traits across processes:
//! - **One writer per thread.** [`ThreadStore::append`] is an atomic compare-and-append on the
//!   thread's length: of two writers that expect the same length, one appends and the other gets
//!   [`StoreError::Conflict`] and writes nothing. Unconditional appends (`expected_len = None`)
//!   never interleave or lose messages either.
//! - **Steps commit whole, once.** [`Store::commit_step`] writes a step's messages and episodes in
//!   one transaction; a commit of a step already committed (a retry after a lost
//!   acknowledgement) writes nothing and returns the thread's length.
//! - **Crashed runs are found.** [`EpisodicStore::unfinished_runs`] reads a table kept in the same
//!   transactions as the log, not the log itself, and says which runs a live lease drives.
//! - **A run is driven once.** [`Store::acquire_lease`] takes a run's lease, which also holds its
//!   thread; of two processes taking the same run (or two runs on one thread) at once, one gets
//!   the lease and the other [`StoreError::RunLeased`] (or [`StoreError::ThreadBusy`]). An
//!   expired lease is replaced, and its holder is fenced off: a commit, renewal, record
//!   ([`Store::record_leased`]), hand-over or release under it gets [`StoreError::LeaseLost`]
//!   and writes nothing, checked in the write's transaction. A lease handed over
//!   ([`Store::hand_over_lease`]) is replaced by a fresh one on the same thread, in one write;
//!   of two hand-overs of one lease, one wins.
//! - **A thread's end is read at its cost.** [`ThreadStore::tail`] reads the newest messages and
//!   the thread's length in one query, through the messages' key.
//!
//! Messages and episodes are stored as their JSON text; the schema is applied by versioned
//! migrations (`migrations/sqlite`, `migrations/postgres`) when a store opens. A failure of the
//! database that another attempt may get past — a lost connection, a busy or locked database,
//! a serialization failure, the pool's timeout — is [`StoreError::Unavailable`]
//! ([`StoreError::is_retryable`]); one that it will not is [`StoreError::Backend`]; rows that do
//! not decode are [`StoreError::Corrupt`]. The store itself tries lost races and most
//! unavailable databases again, a few times, after a short jittered backoff, before it reports
//! them.
//!
//! Both backends run one code path: the queries are written once, in the SQL that SQLite and
//! PostgreSQL share, and run through sqlx's `Any` driver. What differs is kept out of the Rust
//! code — column types, table layouts and the triggers live in each backend's migrations —
//! except how a write reaches the database, and two things about leases: the clock they expire
//! by (this process's on SQLite, the server's on PostgreSQL, which processes on many hosts
//! share) and how a commit under a lease keeps it from being replaced until the commit ends (on
//! PostgreSQL, by locking the lease's row). The statement that extends a thread decides a write:
//! it grows the thread only if it holds the expected length, the step is not committed and the
//! lease is current, and it returns a row only when it does; a write that wrote nothing reads
//! why afterwards.
//!
//! - **PostgreSQL**: every write is one statement — a step's commit and an append are the
//!   extending statement inside a data-modifying `WITH` whose other parts insert the messages
//!   and episodes it carries as JSON, and taking and releasing a lease are a `WITH` that
//!   deletes and then inserts (a statement is atomic, its parts included).
//! - **SQLite**: every write is one statement. The extending statement carries the write's
//!   messages and episodes as JSON in two columns of the thread's row, and the triggers of
//!   migration `0005_one_statement_writes` insert them (and clear the columns) within that
//!   statement; taking and releasing a lease are one statement each the same way. A statement
//!   and the triggers it fires are atomic in SQLite: they commit together or not at all, under
//!   the database's write lock from the statement's start. This relies on nothing but SQL:
//!   one prepared statement per call, which every driver supports.
//!
//! Reads never borrow a write's connection: they draw from a pool of their own, beside the
//! writes (SQLite in WAL mode lets readers run alongside its writer), so a long read does not
//! hold up a commit. [`SqliteOptions`] and [`PostgresOptions`] size the pools and say how long
//! to wait; [`PostgresStore::with_pools`] runs on pools the application already has.
//!
//! # Durability and speed
//!
//! A step is durable when [`Store::commit_step`] returns. [`SqliteStore`] runs in WAL mode with
//! `synchronous=NORMAL`: a commit is in the write-ahead log, safe from a crash of the process,
//! but not synced to the disk, so a power loss or an operating-system crash may take the last
//! commits back (never corrupt the file). [`PostgresStore`] gets whatever the server promises
//! (with its default `synchronous_commit=on`, a returned commit survives a power loss).
//!
//! What a step costs is mostly the database's own work — on SQLite, the pages a commit writes
//! to the log (about six for a tool step) — and the calls that reach it: each call to a SQLite
//! connection's thread is a round trip between threads, which on a busy host costs more than
//! the statement (25–40 µs against a few). So on SQLite every write is one call, on one
//! connection the store keeps for its writes, whose page cache and prepared statements (sqlx
//! caches them per connection) survive from one commit to the next. `benches/costs.rs` prints
//! where the time goes. Measured on a shared two-core machine whose load moves every figure
//! (ranges over repeated runs), for three designs of the write: one multi-statement script
//! (`BEGIN IMMEDIATE; …; COMMIT` as one prepared query, which sqlx supports on SQLite alone and
//! means to drop, launchbadge/sqlx#3108), ordinary transactions of separate statements, and
//! one statement with triggers (this one):
//!
//! | SQLite in a file | one script | transactions | one statement |
//! |---|---|---|---|
//! | `commit_step` (a tool step), µs | 148–164 | 167–405 | 145 |
//! | `append`, µs | 88–133 | 140–323 | 101 |
//! | `record`, µs | 94–121 | 91–214 | 95 |
//! | the run loop's store operations alone, steps/s | 4,700–5,250 | 2,000–4,600 | 5,260 |
//! | `baton-bench store` (the loop through the supervisor), steps/s | 3,180–3,730 | 1,430–1,700 | 3,670–3,950 |
//!
//! On PostgreSQL each statement is a round trip to the server: with every write one statement
//! instead of a transaction of four or five, `baton-bench store` runs at 1,230–1,310 steps/s
//! against 700–900 before.
//!
//! | feature | what it adds |
//! |---|---|
//! | `sqlite` (default) | [`SqliteStore`] |
//! | `postgres` (default) | [`PostgresStore`] |
//! | `conformance` | [`conformance`]: the checks every `Store` must pass, for any backend |
//!
//! # Example
//!
//! A step committed to SQLite in memory, then committed again as a retry would:
//!
//! ```
//! use baton_core::ids::{AgentName, RunId, ThreadId};
//! use baton_core::llm::{FinishReason, Message, Usage};
//! use baton_core::memory::{Episode, EpisodicStore, Page, StepCommit, Store, ThreadStore};
//! # #[cfg(feature = "sqlite")]
//! use baton_store::SqliteStore;
//! use std::sync::Arc;
//!
//! # #[cfg(feature = "sqlite")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = SqliteStore::open_in_memory().await?;
//! let (thread, run) = (ThreadId::new(), RunId::new());
//! store
//!     .record(run, Episode::Started { agent: AgentName::new("triage")?, thread })
//!     .await?;
//!
//! let messages = [Arc::new(Message::user("hi")), Arc::new(Message::assistant("hello"))];
//! let episodes = [Episode::StepCompleted {
//!     step: 1,
//!     usage: Usage::new(12, 3),
//!     latency_ms: 250,
//!     finish_reason: FinishReason::Stop,
//!     tool_calls: 0,
//! }];
//! let commit = StepCommit {
//!     thread,
//!     expected_len: Some(0),
//!     messages: &messages,
//!     run,
//!     step: 1,
//!     episodes: &episodes,
//!     lease: None,
//! };
//! assert_eq!(store.commit_step(commit).await?, 2);
//! // The acknowledgement was lost and the step is committed again: nothing is duplicated.
//! assert_eq!(store.commit_step(commit).await?, 2);
//!
//! assert_eq!(store.list(thread, Page::ALL).await?.len(), 2);
//! assert_eq!(store.episodes(run).await?.len(), 2);
//! assert_eq!(store.unfinished_runs().await?[0].run, run);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # PostgreSQL
//!
//! [`PostgresStore::connect`] takes a URL. The crate's tests read it from `BATON_POSTGRES_URL`
//! (when the build sees no such variable, the tests that need the server are ignored, saying
//! so; under `CI=true` they fail instead); `ci/postgres.sh` installs and starts a local server
//! and prints the `export` line:
//!
//! ```text
//! eval "$(bash crates/baton-store/ci/postgres.sh)"
//! CI=true cargo test -p baton-store --all-features
//! ```
//!
//! [`ThreadStore`]: baton_core::memory::ThreadStore
//! [`ThreadStore::append`]: baton_core::memory::ThreadStore::append
//! [`EpisodicStore`]: baton_core::memory::EpisodicStore
//! [`EpisodicStore::unfinished_runs`]: baton_core::memory::EpisodicStore::unfinished_runs
//! [`Store`]: baton_core::memory::Store
//! [`Store::commit_step`]: baton_core::memory::Store::commit_step
//! [`Store::acquire_lease`]: baton_core::memory::Store::acquire_lease
//! [`Store::record_leased`]: baton_core::memory::Store::record_leased
//! [`Store::hand_over_lease`]: baton_core::memory::Store::hand_over_lease
//! [`ThreadStore::tail`]: baton_core::memory::ThreadStore::tail
//! [`StoreError::RunLeased`]: baton_core::error::StoreError::RunLeased
//! [`StoreError::ThreadBusy`]: baton_core::error::StoreError::ThreadBusy
//! [`StoreError::LeaseLost`]: baton_core::error::StoreError::LeaseLost
//! [`StoreError::Conflict`]: baton_core::error::StoreError::Conflict
//! [`StoreError::Backend`]: baton_core::error::StoreError::Backend
//! [`StoreError::Unavailable`]: baton_core::error::StoreError::Unavailable
//! [`StoreError::is_retryable`]: baton_core::error::StoreError::is_retryable
//! [`StoreError::Corrupt`]: baton_core::error::StoreError::Corrupt
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod classify;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod codec;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod engine;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod memory_traits;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod options;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "conformance")]
pub mod conformance;

#[cfg(feature = "postgres")]
pub use options::PostgresOptions;
#[cfg(feature = "sqlite")]
pub use options::SqliteOptions;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
