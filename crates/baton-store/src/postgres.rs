//! [`PostgresStore`]: the shared backend, one database server for many processes.

use crate::PostgresOptions;
use crate::classify::sql_error;
use crate::engine::connections::{Connections, WriteConnections};
use crate::engine::leases::Clock;
use crate::engine::{Dialect, SqlEngine};
use baton_core::error::StoreError;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AnyConnection, AnyPool, Connection};
use std::str::FromStr;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

static POSTGRES: Dialect = Dialect {
    name: "postgres",
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
    // Every statement is a round trip to the server: a write is one statement.
    writes: crate::engine::commit::Writes::With,
};

/// Threads and episodic logs in a PostgreSQL database, shared by every process that connects.
///
/// [`connect`](Self::connect) applies the schema's migrations (under PostgreSQL's advisory lock,
/// so processes starting together migrate once). Tables go to the first schema of the
/// connection's `search_path`; to keep several stores apart in one database, give each its
/// own, e.g. `postgres://…/baton?options=-csearch_path%3Dtenant_a`.
///
/// Writes and reads draw from two pools ([`PostgresOptions`] says how large), so that reads
/// never take the connections that writes wait for.
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
    /// [`StoreError::Unavailable`] if the server cannot be reached or does not answer within
    /// 30 s (worth another attempt later), [`StoreError::Backend`] if the URL is malformed, the
    /// server refuses the login, or a migration fails.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, &PostgresOptions::default()).await
    }

    /// Connects to the database at `url` as [`connect`](Self::connect) does, with `options`.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect), with the connect timeout of `options`.
    pub async fn connect_with(url: &str, options: &PostgresOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let parsing = |e: &sqlx::Error| sql_error("parsing the PostgreSQL URL", e);
        let server = PgConnectOptions::from_str(url)
            .map(|options| Server(options).to_string())
            .map_err(|e| parsing(&e))?;
        let connect = AnyConnectOptions::from_str(url).map_err(|e| parsing(&e))?;
        let connecting = format!("connecting to PostgreSQL at {server}");
        let timeout = options.get_connect_timeout();
        let mut conn = tokio::time::timeout(timeout, AnyConnection::connect_with(&connect))
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "{connecting}: no answer within {} s",
                    timeout.as_secs_f64()
                ))
            })?
            .map_err(|e| sql_error(&connecting, &e))?;
        let migrated = migrate(&mut conn, &server).await;
        // A failed close loses nothing: the session ends when its socket closes.
        let _ = conn.close().await;
        migrated?;
        let pool = |size| {
            AnyPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(options.get_acquire_timeout())
                .connect_lazy_with(connect.clone())
        };
        let writes = pool(options.get_write_connections());
        let reads = pool(options.get_read_connections());
        Ok(Self::on(writes, reads))
    }

    /// A store on pools the application already has: `writes` for its writes, `reads` for its
    /// reads (the same pool, cloned, for both if they should share it; reads then may wait for
    /// the connections writes hold). It migrates the database on a connection of `writes`.
    ///
    /// The pools are sqlx's `Any` pools, on a PostgreSQL database; the store leaves their
    /// options as they are, and closes them when it is closed.
    ///
    /// ```no_run
    /// use baton_store::PostgresStore;
    /// use sqlx::any::AnyPoolOptions;
    ///
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// sqlx::any::install_default_drivers();
    /// let pool = AnyPoolOptions::new()
    ///     .max_connections(20)
    ///     .connect("postgres://baton:baton@localhost/baton")
    ///     .await?;
    /// let store = PostgresStore::with_pools(pool.clone(), pool).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] if no connection can be had, [`StoreError::Backend`] if the
    /// pool is not PostgreSQL's or a migration fails.
    pub async fn with_pools(writes: AnyPool, reads: AnyPool) -> Result<Self, StoreError> {
        let mut conn = writes
            .acquire()
            .await
            .map_err(|e| sql_error("connecting to PostgreSQL", &e))?;
        if conn.backend_name() != "PostgreSQL" {
            return Err(StoreError::Backend(format!(
                "a PostgresStore needs a PostgreSQL pool, not {}",
                conn.backend_name()
            )));
        }
        migrate(&mut conn, "the pool's server").await?;
        drop(conn);
        Ok(Self::on(writes, reads))
    }

    /// A store on `writes` and `reads`, whose database is migrated.
    fn on(writes: AnyPool, reads: AnyPool) -> Self {
        let connections = Connections::new(WriteConnections::Pooled(writes), reads);
        Self {
            engine: SqlEngine::new(connections, &POSTGRES),
        }
    }

    /// Closes the pool: waits for the connections in use to come back, then closes them all.
    pub async fn close(&self) {
        self.engine.close().await;
    }
}

crate::memory_traits::forward_to_engine!(PostgresStore);

/// Applies the migrations on `conn`, to the database at `server`.
///
/// `run_direct` on a connection, not `run` on an `Acquire`: the latter's future cannot be
/// proven `Send`, which would keep `connect` out of spawned tasks.
async fn migrate(conn: &mut AnyConnection, server: &str) -> Result<(), StoreError> {
    let doing = || format!("migrating the PostgreSQL database at {server}");
    match MIGRATOR.run_direct(conn).await {
        Ok(()) => Ok(()),
        Err(MigrateError::Execute(error)) => Err(sql_error(&doing(), &error)),
        Err(error) => Err(StoreError::Backend(format!("{}: {error}", doing()))),
    }
}

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
