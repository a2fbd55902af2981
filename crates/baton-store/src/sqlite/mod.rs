//! [`SqliteStore`]: the embedded backend, one database file (or memory) per store.

mod file;

use crate::SqliteOptions;
use crate::classify::sql_error;
use crate::engine::connections::{Connections, WriteConnections};
use crate::engine::leases::Clock;
use crate::engine::{Dialect, SqlEngine};
use baton_core::error::StoreError;
use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

static SQLITE: Dialect = Dialect {
    name: "sqlite",
    // The database is a file on this host: the processes that share it share its clock.
    clock: Clock::Process,
    // The write lock already keeps every other writer out until the commit ends.
    fence_lock: "",
    // Every statement is a round trip to the connection's thread: a write is one statement.
    writes: crate::engine::commit::Writes::Carried,
};

/// What each connection runs before its first use, in one call, for a busy timeout of
/// `busy_timeout`.
///
/// `journal_mode` is the first statement that reads the file; WAL mode persists in the file, so
/// on every connection but the first of a new database it changes nothing.
fn settings(busy_timeout: Duration) -> Arc<str> {
    format!(
        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
        busy_timeout.as_millis()
    )
    .into()
}

/// `pool` with every connection configured by `settings` when it connects, once `configure` is
/// set (see [`SqliteStore::connect`] for why the first one is not).
fn configured(
    pool: AnyPoolOptions,
    settings: &Arc<str>,
    configure: &Arc<AtomicBool>,
) -> AnyPoolOptions {
    let (settings, configure) = (Arc::clone(settings), Arc::clone(configure));
    pool.test_before_acquire(false)
        .after_connect(move |conn, _| {
            let settings = configure
                .load(Ordering::Acquire)
                .then(|| Arc::clone(&settings));
            Box::pin(async move {
                if let Some(settings) = settings {
                    conn.execute(&*settings).await?;
                }
                Ok(())
            })
        })
}

/// Threads and episodic logs in an SQLite database: durable, embedded, no server.
///
/// [`open`](Self::open) applies the schema's migrations and puts the database in WAL mode with
/// `synchronous=NORMAL`: readers never block the writer, and a commit costs no `fsync`. A
/// returned commit survives a crash of the process; a power loss or an operating-system crash
/// may take the last commits back, never corrupt the file. Several stores, in one process or
/// many, may open the same file; writes to one thread are serialized by compare-and-append.
///
/// A store keeps one connection for its writes, each one statement (what a commit carries is
/// inserted by the triggers of the migration `0005_one_statement_writes`, in that statement);
/// reads run beside it, on a pool of their own ([`SqliteOptions`] says how
/// large, and how long a connection waits for the database's lock).
///
/// ```
/// use baton_core::memory::{Page, ThreadStore};
/// use baton_core::{ids::ThreadId, llm::Message};
/// use baton_store::SqliteStore;
/// use std::sync::Arc;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("baton-doc-{}", ThreadId::new()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let store = SqliteStore::open(dir.join("memory.db")).await.unwrap();
/// let thread = ThreadId::new();
/// store.append(thread, Some(0), &[Arc::new(Message::user("hi"))]).await.unwrap();
/// assert_eq!(store.list(thread, Page::ALL).await.unwrap().len(), 1);
/// # store.close().await;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    engine: SqlEngine,
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file if it does not exist, and migrates it.
    ///
    /// A path that exists must name a regular file (symbolic links are followed); SQLite then
    /// judges its content. A file that SQLite refuses is left as it was.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`], naming the path and the reason, at once (no connection is
    /// retried), if the path names something other than a regular file (a directory, a device
    /// such as `/dev/null`, a FIFO), if the file cannot be opened or created (missing directory,
    /// permissions), if SQLite refuses its content ("file is not a database", "database disk
    /// image is malformed"), or if a migration fails; [`StoreError::Unavailable`] if the
    /// database stays locked by another connection past the busy timeout.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, &SqliteOptions::default()).await
    }

    /// Opens the database at `path` as [`open`](Self::open) does, with `options`.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: &SqliteOptions,
    ) -> Result<Self, StoreError> {
        let path = std::path::absolute(path.as_ref()).map_err(|e| {
            StoreError::Backend(format!("cannot resolve {}: {e}", path.as_ref().display()))
        })?;
        let location = path.display().to_string();
        let found = file::inspect(&path).map_err(|refusal| opening_failed(&location, &refusal))?;
        let url = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .to_url_lossy();
        let pool = || AnyPoolOptions::new().acquire_timeout(options.get_acquire_timeout());
        let writes = pool().max_connections(1);
        let reads = pool().max_connections(options.get_read_connections());
        let connect = AnyConnectOptions::from_url(&url);
        Self::connect(connect, writes, Some(reads), options.get_busy_timeout())
            .await
            .map_err(|failure| match failure {
                // SQLite's "unable to open database file" does not say why; the system does.
                OpenFailure::Opening(error)
                    if found == file::Found::RegularFile && file::is_cannot_open(&error) =>
                {
                    match file::why_unopenable(&path) {
                        Some(why) => opening_failed(&location, &format!("{error} ({why})")),
                        None => opening_failed(&location, &error),
                    }
                }
                failure => failure.into_store_error(&location),
            })
    }

    /// Opens a fresh database in memory: nothing survives the store. For tests and examples.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if SQLite cannot be initialized.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        // Each connection to `:memory:` has its own database, so the pool keeps exactly one,
        // for the life of the store.
        let pool = AnyPoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None);
        // Its one connection cannot be kept for writes: reads need it too.
        let location = ":memory:";
        let busy_timeout = SqliteOptions::new().get_busy_timeout();
        Self::connect(
            AnyConnectOptions::from_str("sqlite::memory:"),
            pool,
            None,
            busy_timeout,
        )
        .await
        .map_err(|failure| failure.into_store_error(location))
    }

    /// Connects the write pool, configures its first connection and migrates the database on
    /// it; then opens the read pool (none: reads share the write pool), whose connections
    /// connect when first needed. Connections are not tested before use: they live in this
    /// process and fail only with the file, which a test would not catch either.
    ///
    /// SQLite opens a file without reading it, so a file that is not a database (random bytes,
    /// a truncated database) fails only at the first statement that reads it, `journal_mode`
    /// in [`settings`]. Were that statement run by the pool's `after_connect`, the pool would
    /// retry the connection until its acquire timeout (30 s) and then report only "pool timed
    /// out". So the pool's first connection is configured here, outside the pool's retries, and
    /// SQLite's reason comes back at once; the pools configure each later connection
    /// themselves. SQLite reads the file before it would write it, so a refused file is left as
    /// it was; the pool is closed before the error is returned, so the files SQLite made beside
    /// it (`-wal`, `-shm`) are gone too.
    async fn connect(
        options: Result<AnyConnectOptions, sqlx::Error>,
        writes: AnyPoolOptions,
        reads: Option<AnyPoolOptions>,
        busy_timeout: Duration,
    ) -> Result<Self, OpenFailure> {
        sqlx::any::install_default_drivers();
        let options = options.map_err(OpenFailure::Opening)?;
        let settings = settings(busy_timeout);
        let first_configured = Arc::new(AtomicBool::new(false));
        let writes = configured(writes, &settings, &first_configured)
            .connect_with(options.clone())
            .await
            .map_err(OpenFailure::Opening)?;
        if let Err(failure) = Self::prepare(&writes, &settings, &first_configured).await {
            writes.close().await;
            return Err(failure);
        }
        let connections = match reads {
            None => Connections::shared(writes),
            Some(reads) => {
                let reads =
                    configured(reads, &settings, &first_configured).connect_lazy_with(options);
                Connections::new(WriteConnections::kept(writes), reads)
            }
        };
        Ok(Self {
            engine: SqlEngine::new(connections, &SQLITE),
        })
    }

    /// Configures the pool's one connection, then migrates the database on it, under the write
    /// lock: a second process opening the same new file waits, then finds the migrations
    /// applied.
    async fn prepare(
        pool: &AnyPool,
        settings: &str,
        first_configured: &AtomicBool,
    ) -> Result<(), OpenFailure> {
        let mut conn = pool.acquire().await.map_err(OpenFailure::Opening)?;
        if let Err(error) = conn.execute(settings).await {
            // Closed, not returned to the pool: it lacks its settings.
            let _ = conn.close().await;
            return Err(OpenFailure::Opening(error));
        }
        first_configured.store(true, Ordering::Release);
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| OpenFailure::Migrating(MigrateError::Execute(e)))?;
        // `run_direct` on the connection, not `run` on an `Acquire`: the latter's future cannot
        // be proven `Send`, which would keep `open` out of spawned tasks.
        MIGRATOR
            .run_direct(&mut *tx)
            .await
            .map_err(OpenFailure::Migrating)?;
        tx.commit()
            .await
            .map_err(|e| OpenFailure::Migrating(MigrateError::Execute(e)))
    }

    /// Closes the pool: waits for the connections in use to come back, then closes them all.
    pub async fn close(&self) {
        self.engine.close().await;
    }
}

/// Why a store did not open.
enum OpenFailure {
    /// SQLite could not open the database, or refused it.
    Opening(sqlx::Error),
    /// A migration failed.
    Migrating(MigrateError),
}

impl OpenFailure {
    fn into_store_error(self, location: &str) -> StoreError {
        match self {
            Self::Opening(error) => {
                sql_error(&format!("opening the SQLite database {location}"), &error)
            }
            Self::Migrating(MigrateError::Execute(error)) => {
                sql_error(&format!("migrating the SQLite database {location}"), &error)
            }
            Self::Migrating(error) => {
                StoreError::Backend(format!("migrating the SQLite database {location}: {error}"))
            }
        }
    }
}

/// The store's error when the database at `location` could not be opened, and why.
fn opening_failed(location: &str, why: &dyn std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("opening the SQLite database {location}: {why}"))
}

crate::memory_traits::forward_to_engine!(SqliteStore);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn debug_output_names_the_backend_only() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        let debug = format!("{store:?}");
        assert!(
            debug.contains("sqlite") && !debug.contains("memory:"),
            "{debug}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_and_reads_go_on_while_a_long_read_holds_its_snapshot() {
        use baton_core::ids::ThreadId;
        use baton_core::llm::Message;
        use baton_core::memory::{Page, ThreadStore};

        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_with(
            dir.path().join("store.db"),
            &SqliteOptions::new().read_connections(2),
        )
        .await
        .unwrap();
        let thread = ThreadId::new();
        let hi = [Arc::new(Message::user("hi"))];
        assert_eq!(store.append(thread, Some(0), &hi).await, Ok(1));

        // A read in progress on one of the read connections: its transaction holds a snapshot.
        let mut long_read = store.engine.connections().reads().acquire().await.unwrap();
        let mut snapshot = long_read.begin().await.unwrap();
        let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
            .fetch_one(&mut *snapshot)
            .await
            .unwrap();

        let write =
            tokio::time::timeout(Duration::from_secs(5), store.append(thread, Some(1), &hi));
        assert_eq!(write.await.expect("the write waits for no read"), Ok(2));
        let read = tokio::time::timeout(Duration::from_secs(5), store.list(thread, Page::ALL));
        assert_eq!(
            read.await.expect("nor does another read").map(|m| m.len()),
            Ok(2)
        );

        let still: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
            .fetch_one(&mut *snapshot)
            .await
            .unwrap();
        assert_eq!(still, before, "the long read sees its snapshot");
        snapshot.rollback().await.unwrap();
        drop(long_read);
        store.close().await;
    }

    #[tokio::test]
    async fn files_are_in_wal_mode_with_normal_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("store.db"))
            .await
            .unwrap();
        let pool = store.engine.connections().reads();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(sync, 1, "NORMAL");
        store.close().await;
    }

    #[tokio::test]
    async fn opening_again_finds_the_migrations_applied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        SqliteStore::open(&path).await.unwrap().close().await;
        let store = SqliteStore::open(&path).await.unwrap();
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(store.engine.connections().reads())
            .await
            .unwrap();
        assert_eq!(applied, MIGRATOR.iter().count() as i64);
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stores_opening_a_new_file_together_migrate_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let (first, second) = tokio::join!(SqliteStore::open(&path), SqliteStore::open(&path));
        let (first, second) = (first.unwrap(), second.unwrap());
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(second.engine.connections().reads())
            .await
            .unwrap();
        assert_eq!(applied, MIGRATOR.iter().count() as i64);
        first.close().await;
        second.close().await;
    }

    #[tokio::test]
    async fn rows_that_do_not_decode_are_corrupt() {
        use baton_core::ids::{RunId, ThreadId};
        use baton_core::memory::{EpisodicStore, Page, ThreadStore};

        let store = SqliteStore::open_in_memory().await.unwrap();
        let (thread, run) = (ThreadId::new(), RunId::new());
        sqlx::query("INSERT INTO messages (thread_id, seq, body) VALUES ($1, 0, '{\"role\":1}')")
            .bind(thread.to_string())
            .execute(store.engine.connections().reads())
            .await
            .unwrap();
        let err = store.list(thread, Page::ALL).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains(&format!("message 0 of thread {thread}"))),
            "{err}"
        );

        sqlx::query(
            "INSERT INTO episodes (run_id, seq, at_ms, kind, completes_step, terminal, body) \
             VALUES ($1, 0, 0, 'x', NULL, 0, 'not json')",
        )
        .bind(run.to_string())
        .execute(store.engine.connections().reads())
        .await
        .unwrap();
        let err = store.episodes(run).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    }

    #[tokio::test]
    async fn a_failure_logged_before_kinds_were_kept_reads_back_from_the_database() {
        use baton_core::error::FailureKind;
        use baton_core::ids::RunId;
        use baton_core::memory::{Episode, EpisodicStore};

        let store = SqliteStore::open_in_memory().await.unwrap();
        let run = RunId::new();
        sqlx::query(
            "INSERT INTO episodes (run_id, seq, at_ms, kind, completes_step, terminal, body) \
             VALUES ($1, 0, 0, 'failed', NULL, 1, '{\"type\":\"failed\",\"error\":\"boom\"}')",
        )
        .bind(run.to_string())
        .execute(store.engine.connections().reads())
        .await
        .unwrap();
        let log = store.episodes(run).await.unwrap();
        assert_eq!(
            log[0].episode,
            Episode::Failed {
                kind: FailureKind::Other,
                message: "boom".into()
            }
        );
        assert!(store.unfinished_runs().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_tail_of_a_thread_is_read_through_the_messages_index() {
        use sqlx::Row;

        let store = SqliteStore::open_in_memory().await.unwrap();
        let explain = format!("EXPLAIN QUERY PLAN {}", crate::engine::threads::TAIL_SQL);
        let plan: Vec<String> = sqlx::query(&explain)
            .bind("thread")
            .bind(5_i64)
            .fetch_all(store.engine.connections().reads())
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>(3))
            .collect();
        // Only the rows of the tail: a range of the messages' key, already in order.
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH m USING INDEX")
                    && step.contains("(thread_id=? AND seq>? AND seq<?)")),
            "{plan:#?}"
        );
        assert!(
            !plan
                .iter()
                .any(|step| step.starts_with("SCAN") || step.contains("TEMP B-TREE")),
            "{plan:#?}"
        );
    }

    #[tokio::test]
    async fn a_failed_write_is_rolled_back_and_the_store_goes_on() {
        use baton_core::ids::ThreadId;
        use baton_core::llm::Message;
        use baton_core::memory::{Page, ThreadStore};
        use std::sync::Arc;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = SqliteStore::open(&path).await.unwrap();
        // Fails the write at its second statement, inside its transaction.
        sqlx::query(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON messages WHEN NEW.body LIKE '%boom%' \
             BEGIN SELECT RAISE(ABORT, 'boom refused'); END",
        )
        .execute(store.engine.connections().reads())
        .await
        .unwrap();
        let thread = ThreadId::new();
        let user = |text: &str| [Arc::new(Message::user(text))];
        assert_eq!(store.append(thread, Some(0), &user("first")).await, Ok(1));

        let err = store
            .append(thread, Some(1), &user("boom"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Backend(m) if m.contains("boom refused")),
            "{err}"
        );
        // The thread's extension was rolled back with the messages.
        assert_eq!(store.list(thread, Page::ALL).await.unwrap().len(), 1);
        assert_eq!(store.append(thread, Some(1), &user("second")).await, Ok(2));
        // And the write lock was released: another store on the file writes too.
        let other = SqliteStore::open(&path).await.unwrap();
        assert_eq!(other.append(thread, Some(2), &user("third")).await, Ok(3));
        other.close().await;
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_whose_caller_stops_waiting_commits_whole_or_not_at_all_and_frees_the_connection()
     {
        use baton_core::ids::ThreadId;
        use baton_core::llm::Message;
        use baton_core::memory::{Page, ThreadStore};
        use std::sync::Arc;

        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("store.db"))
            .await
            .unwrap();
        let thread = ThreadId::new();
        let user = |text: &str| [Arc::new(Message::user(text))];
        let maybe = user("maybe");
        for _ in 0..20 {
            // Polled once, then dropped.
            let write = store.append(thread, None, &maybe);
            let _ = tokio::time::timeout(Duration::ZERO, write).await;
        }
        assert!(store.append(thread, None, &user("last")).await.is_ok());
        store.close().await;

        // Each dropped write committed whole or not at all, and the thread's length agrees.
        let store = SqliteStore::open(dir.path().join("store.db"))
            .await
            .unwrap();
        let texts: Vec<String> = store
            .list(thread, Page::ALL)
            .await
            .unwrap()
            .iter()
            .map(|m| m.content().to_owned())
            .collect();
        assert!(
            texts.iter().all(|t| t == "maybe" || t == "last"),
            "{texts:?}"
        );
        assert!(texts.iter().any(|t| t == "last"), "{texts:?}");
        let len = texts.len() as u64;
        assert_eq!(
            store.append(thread, Some(len), &user("more")).await,
            Ok(len + 1)
        );
        store.close().await;
    }

    #[tokio::test]
    async fn a_missing_directory_is_a_backend_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = SqliteStore::open(dir.path().join("missing/store.db"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Backend(m) if m.contains("opening the SQLite database")),
            "{err}"
        );
    }
}
