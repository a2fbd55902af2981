//! The connections of a store: where its writes run, and where its reads run.

use sqlx::any::Any;
use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, AnyPool};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

/// Where the writes of a store get their connection.
#[derive(Debug, Clone)]
pub(crate) enum Writer {
    /// A pooled connection per write.
    Pooled,
    /// One connection, kept for every write of the store (taken from the pool at the first).
    ///
    /// SQLite drops a connection's page cache whenever another connection committed to the
    /// database since the connection's last transaction, and reads the pages back from the file.
    /// Writes that take turns on the pool's connections find their caches cold every time; a
    /// connection that makes every commit keeps its cache. It also keeps the pool's round trips
    /// (the check of a connection on its return) off every write.
    Kept(Arc<Mutex<Option<PoolConnection<Any>>>>),
}

impl Writer {
    /// A writer that keeps one connection.
    pub(crate) fn kept() -> Self {
        Self::Kept(Arc::new(Mutex::new(None)))
    }

    /// Closes the kept connection, if any, waiting for the write that uses it; for the store's
    /// close.
    ///
    /// Closed here, not dropped: a dropped connection goes back to the pool in a task of its own,
    /// which the pool's `close` does not wait for, so the store's close could return with the
    /// connection still open. On SQLite that also left the `-wal` and `-shm` files behind when
    /// the kept connection and the pool's last idle one closed at the same time, each leaving the
    /// checkpoint to the other.
    pub(crate) async fn release(&self) {
        if let Self::Kept(slot) = self {
            let kept = slot.lock().await.take();
            if let Some(conn) = kept {
                // A connection that fails to close is gone all the same.
                let _ = conn.close().await;
            }
        }
    }

    /// A connection to read on: the kept one when no write uses it — its page cache holds what
    /// the last writes touched — or else one from `pool`, so that reads never wait for a write.
    pub(crate) async fn reader<'a>(&'a self, pool: &AnyPool) -> Result<Reader<'a>, sqlx::Error> {
        if let Self::Kept(slot) = self
            && let Ok(idle) = slot.try_lock()
            && let Ok(conn) = MutexGuard::try_map(idle, Option::as_mut)
        {
            return Ok(Reader::Kept(conn));
        }
        Ok(Reader::Pooled(pool.acquire().await?))
    }
}

/// A connection to read on.
pub(crate) enum Reader<'a> {
    /// The writer's kept connection, idle.
    Kept(MappedMutexGuard<'a, PoolConnection<Any>>),
    /// A pooled connection.
    Pooled(PoolConnection<Any>),
}

impl Deref for Reader<'_> {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Self::Kept(conn) => conn,
            Self::Pooled(conn) => conn,
        }
    }
}

impl DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Self::Kept(conn) => conn,
            Self::Pooled(conn) => conn,
        }
    }
}
