//! The connections of a store: where its writes run, and where its reads run.
//!
//! Reads and writes draw from two pools, so that reads never wait for a write's connection and
//! one long read never holds up the writes: SQLite in WAL mode lets readers run beside its one
//! writer, each on a snapshot of its own, and PostgreSQL serves both. (A database in memory is
//! the exception: it lives in its one connection, which reads and writes share.)
//!
//! On a SQLite file, every write of the store runs on one connection, taken from the write pool
//! at the first write and kept ([`WriteConnections::Kept`]). SQLite drops a connection's page
//! cache whenever another connection committed since its last transaction; a connection that
//! makes every commit keeps its cache, and the statements sqlx prepared on it. It also keeps
//! the pool's round trips (the check of a connection on its return) off every write. SQLite
//! serializes writers anyway, so the store loses no parallelism.

use super::retry::Failure;
use super::write::{self, Write};
use sqlx::AnyPool;
use sqlx::any::{Any, AnyRow};
use sqlx::pool::PoolConnection;
use tokio::sync::Mutex;

/// Where the writes of a store get their connection.
#[derive(Debug)]
#[cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) enum WriteConnections {
    /// A connection from this pool per write.
    Pooled(AnyPool),
    /// One connection, kept for every write of the store, taken from the pool at the first
    /// (and again after a failure that left the connection unusable).
    Kept {
        /// The pool the connection comes from.
        pool: AnyPool,
        /// The kept connection, once taken.
        slot: Mutex<Option<PoolConnection<Any>>>,
    },
}

impl WriteConnections {
    /// Writes that keep one connection from `pool`.
    #[cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn kept(pool: AnyPool) -> Self {
        Self::Kept {
            pool,
            slot: Mutex::new(None),
        }
    }

    /// The pool the writes draw from.
    pub(crate) const fn pool(&self) -> &AnyPool {
        match self {
            Self::Pooled(pool) | Self::Kept { pool, .. } => pool,
        }
    }
}

/// The connections of a store.
#[derive(Debug)]
pub(crate) struct Connections {
    writes: WriteConnections,
    reads: AnyPool,
    /// Whether reads and writes draw from one pool.
    shared: bool,
}

impl Connections {
    /// Writes as `writes` says, reads on `reads`, a pool of their own.
    pub(crate) const fn new(writes: WriteConnections, reads: AnyPool) -> Self {
        Self {
            writes,
            reads,
            shared: false,
        }
    }

    /// Reads and writes on one `pool`.
    #[cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn shared(pool: AnyPool) -> Self {
        Self {
            writes: WriteConnections::Pooled(pool.clone()),
            reads: pool,
            shared: true,
        }
    }

    /// The pool that reads draw from.
    pub(crate) const fn reads(&self) -> &AnyPool {
        &self.reads
    }

    /// The connections in use and idle, for the store's `Debug`.
    pub(crate) fn size(&self) -> u32 {
        let writes = self.writes.pool().size();
        if self.shared {
            writes
        } else {
            writes + self.reads.size()
        }
    }

    /// Whether the store is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.reads.is_closed()
    }

    /// Runs `write` on a connection for writes: the kept one (waiting for the write that uses
    /// it), or one from the write pool; the rows its statements returned.
    pub(crate) async fn write(&self, write: &Write) -> Result<Vec<AnyRow>, Failure> {
        match &self.writes {
            WriteConnections::Pooled(pool) => {
                // A connection that a failure left unusable fails the pool's check on its return.
                let mut conn = pool.acquire().await?;
                write::run(&mut conn, write).await
            }
            WriteConnections::Kept { pool, slot } => {
                let mut slot = slot.lock().await;
                let conn = match slot.as_mut() {
                    Some(conn) => conn,
                    None => slot.insert(pool.acquire().await?),
                };
                let result = write::run(conn, write).await;
                if let Err(Failure::Sql(error)) = &result
                    && !matches!(error, sqlx::Error::Database(_))
                    && let Some(mut unusable) = slot.take()
                {
                    // Not a refusal of the database: the connection itself failed (I/O, its
                    // thread, the protocol). The next write takes a new one.
                    unusable.close_on_drop();
                }
                result
            }
        }
    }

    /// Closes every connection, waiting for the write in progress and the reads in use.
    ///
    /// The kept connection is closed here, not dropped: a dropped connection goes back to the
    /// pool in a task of its own, which the pool's `close` does not wait for, so the store's
    /// close could return with the connection still open. On SQLite that also left the `-wal`
    /// and `-shm` files behind when the kept connection and the pool's last idle one closed at
    /// the same time, each leaving the checkpoint to the other.
    pub(crate) async fn close(&self) {
        if let WriteConnections::Kept { slot, .. } = &self.writes {
            let kept = slot.lock().await.take();
            if let Some(conn) = kept {
                // A connection that fails to close is gone all the same.
                let _ = conn.close().await;
            }
        }
        self.reads.close().await;
        self.writes.pool().close().await;
    }
}
