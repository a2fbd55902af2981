//! [`PostgresStore`]: the shared backend, one database server for many processes.

use crate::engine::connections::Writer;
use crate::engine::leases::Clock;
use crate::engine::write::Batching;
use crate::engine::{Dialect, SqlEngine};
use crate::error::backend;
use baton_core::error::StoreError;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AnyConnection, Connection};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

static POSTGRES: Dialect = Dialect {
    name: "postgres",
    // READ COMMITTED: each write locks its thread's row first, which serializes the writers of
    // a thread without the retries that SERIALIZABLE would impose on every contended write.
    begin_write: "BEGIN",
    // For the writes whose statements decide on rows that none of them locks (taking a lease):
    // one snapshot for all of them, and a failure (run again) if a row they change was changed
    // by another transaction since.
    begin_snapshot_write: "BEGIN ISOLATION LEVEL REPEATABLE READ",
    batching: Batching::Statements,
    // Processes on many hosts share the database, and their clocks differ; they must agree on
    // when a lease expires, so the server's clock is the one they read. It costs a round trip
    // before each taking and renewal of a lease (and each listing of unfinished runs), which
    // happen once per run and once per renewal period, not per step.
    clock: Clock::Server(
        "SELECT CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT)",
    ),
    // Locks the lease's row until the commit ends without blocking renewals, which change no
    // key: an acquire that would replace the lease waits for the commit, and a commit that
    // waited for such an acquire finds the lease gone.
    fence_lock: " FOR KEY SHARE",
};

/// Connections per store.
const CONNECTIONS: u32 = 8;

/// How long the first connection may take before the server is reported as not answering: the
/// time sqlx's pool would have waited (its acquire timeout), but spent on one attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Threads and episodic logs in a PostgreSQL database, shared by every process that connects.
///
/// [`connect`](Self::connect) applies the schema's migrations (under PostgreSQL's advisory lock,
/// so processes starting together migrate once). Tables go to the first schema of the
/// connection's `search_path`; to keep several stores apart in one database, give each its
/// own, e.g. `postgres://…/baton?options=-csearch_path%3Dtenant_a`.
///
/// Writers of one thread are serialized by compare-and-append on the thread's row, whichever
/// process they run in. Run leases expire by the server's clock, so that processes on hosts
/// whose clocks differ agree on when a lease ends: the expiry a [`Lease`] carries is the
/// server's time.
///
/// [`Lease`]: baton_core::memory::Lease
#[derive(Debug)]
pub struct PostgresStore {
    engine: SqlEngine,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) and
    /// migrates it.
    ///
    /// The first connection is made directly, once: a server that refuses the connection or the
    /// login is reported at once, as the server or the system said it, with the server's address
    /// and the user (never the password). sqlx's pool would instead retry a refused connection
    /// (or a server still starting) until its acquire timeout, and then report only "pool timed
    /// out". The pool's own connections are opened when the store first needs them.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the URL is malformed, the server cannot be reached, does not
    /// answer within 30 s or refuses the login, or a migration fails.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let server = PgConnectOptions::from_str(url)
            .map(|options| Server(options).to_string())
            .map_err(|e| backend("parsing the PostgreSQL URL", &e))?;
        let options = AnyConnectOptions::from_str(url)
            .map_err(|e| backend("parsing the PostgreSQL URL", &e))?;
        let connecting = |e: &dyn std::fmt::Display| {
            StoreError::Backend(format!("connecting to PostgreSQL at {server}: {e}"))
        };
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, AnyConnection::connect_with(&options))
            .await
            .map_err(|_| {
                connecting(&format_args!(
                    "no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| connecting(&e))?;
        // `run_direct` on a connection, not `run` on an `Acquire`: the latter's future cannot be
        // proven `Send`, which would keep `connect` out of spawned tasks.
        let migrated = MIGRATOR.run_direct(&mut conn).await;
        // A failed close loses nothing: the session ends when its socket closes.
        let _ = conn.close().await;
        migrated.map_err(|e| {
            StoreError::Backend(format!(
                "migrating the PostgreSQL database at {server}: {e}"
            ))
        })?;
        let pool = AnyPoolOptions::new()
            .max_connections(CONNECTIONS)
            .connect_lazy_with(options);
        Ok(Self {
            engine: SqlEngine::new(pool, Writer::Pooled, &POSTGRES),
        })
    }

    /// Closes the pool: waits for the connections in use to come back, then closes them all.
    pub async fn close(&self) {
        self.engine.close().await;
    }
}

crate::delegate::store_via_engine!(PostgresStore);

/// Where a store connects, for its errors: the server's address (or socket), the database and
/// the user; never the password.
struct Server(PgConnectOptions);

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let options = &self.0;
        let port = options.get_port();
        match options.get_socket() {
            Some(dir) => write!(f, "{}/.s.PGSQL.{port}", dir.display())?,
            None if options.get_host().starts_with('/') => {
                write!(f, "{}/.s.PGSQL.{port}", options.get_host())?;
            }
            None => write!(f, "{}:{port}", options.get_host())?,
        }
        if let Some(database) = options.get_database() {
            write!(f, "/{database}")?;
        }
        write!(f, " as {}", options.get_username())
    }
}
