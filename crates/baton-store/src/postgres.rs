//! [`PostgresStore`]: the shared backend, one database server for many processes.

use crate::engine::connections::Writer;
use crate::engine::write::Batching;
use crate::engine::{Dialect, SqlEngine};
use crate::error::backend;
use baton_core::error::StoreError;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use std::str::FromStr;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

static POSTGRES: Dialect = Dialect {
    name: "postgres",
    // READ COMMITTED: each write locks its thread's row first, which serializes the writers of
    // a thread without the retries that SERIALIZABLE would impose on every contended write.
    begin_write: "BEGIN",
    batching: Batching::Statements,
};

/// Connections per store.
const CONNECTIONS: u32 = 8;

/// Threads and episodic logs in a PostgreSQL database, shared by every process that connects.
///
/// [`connect`](Self::connect) applies the schema's migrations (under PostgreSQL's advisory lock,
/// so processes starting together migrate once). Tables go to the first schema of the
/// connection's `search_path`; to keep several stores apart in one database, give each its
/// own, e.g. `postgres://…/baton?options=-csearch_path%3Dtenant_a`.
///
/// Writers of one thread are serialized by compare-and-append on the thread's row, whichever
/// process they run in.
#[derive(Debug)]
pub struct PostgresStore {
    engine: SqlEngine,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) and
    /// migrates it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the URL is malformed, the server cannot be reached or refuses
    /// the login, or a migration fails.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(url)
            .map_err(|e| backend("parsing the PostgreSQL URL", &e))?;
        let pool = AnyPoolOptions::new()
            .max_connections(CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|e| backend("connecting to PostgreSQL", &e))?;
        let migrating = |e: &dyn std::fmt::Display| {
            StoreError::Backend(format!("migrating the PostgreSQL database: {e}"))
        };
        // `run_direct` on a connection, not `run` on an `Acquire`: the latter's future cannot be
        // proven `Send`, which would keep `connect` out of spawned tasks.
        let mut conn = pool.acquire().await.map_err(|e| migrating(&e))?;
        MIGRATOR
            .run_direct(&mut *conn)
            .await
            .map_err(|e| migrating(&e))?;
        drop(conn);
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
