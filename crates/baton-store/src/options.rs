//! How a store connects: the sizes of its pools and how long it waits, per backend.
//!
//! Each backend's options start from defaults that suit one service on one host and are
//! changed by builder methods; the constructors without options ([`SqliteStore::open`],
//! [`PostgresStore::connect`]) use the defaults.
//!
//! [`SqliteStore::open`]: crate::SqliteStore::open
//! [`PostgresStore::connect`]: crate::PostgresStore::connect

use std::time::Duration;

/// How long a store waits for a connection of its pool before it reports
/// [`StoreError::Unavailable`](baton_core::error::StoreError::Unavailable), by default: sqlx's.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// How a [`SqliteStore`](crate::SqliteStore) on a file connects.
///
/// A store writes on one connection (SQLite has one writer at a time), and reads on a pool of
/// their own, beside the writer: `read_connections` bounds the reads that run at once. A
/// database in memory ([`SqliteStore::open_in_memory`](crate::SqliteStore::open_in_memory))
/// lives in one connection, whatever these say.
///
/// ```
/// use baton_store::{SqliteOptions, SqliteStore};
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let options = SqliteOptions::new()
///     .read_connections(8)
///     .busy_timeout(Duration::from_secs(5));
/// assert_eq!(options.get_read_connections(), 8);
/// let dir = tempfile::tempdir()?;
/// let store = SqliteStore::open_with(dir.path().join("memory.db"), &options).await?;
/// store.close().await;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[cfg(feature = "sqlite")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    read_connections: u32,
    busy_timeout: Duration,
    acquire_timeout: Duration,
}

#[cfg(feature = "sqlite")]
impl Default for SqliteOptions {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "sqlite")]
impl SqliteOptions {
    /// The defaults: 3 read connections, a busy timeout of 30 s, and 30 s to wait for a
    /// connection of the pool.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            read_connections: 3,
            busy_timeout: Duration::from_secs(30),
            acquire_timeout: ACQUIRE_TIMEOUT,
        }
    }

    /// At most `count` reads at once, each on a connection of its own (at least one).
    #[must_use]
    pub const fn read_connections(mut self, count: u32) -> Self {
        self.read_connections = if count == 0 { 1 } else { count };
        self
    }

    /// How long a connection waits for another one (of this store, another store or another
    /// process) to release the database's lock before it gives up with `SQLITE_BUSY`, which
    /// the store retries a few times and then reports as
    /// [`StoreError::Unavailable`](baton_core::error::StoreError::Unavailable).
    #[must_use]
    pub const fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How long an operation waits for a connection of the store's pools before it reports
    /// [`StoreError::Unavailable`](baton_core::error::StoreError::Unavailable).
    #[must_use]
    pub const fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The number of read connections.
    #[must_use]
    pub const fn get_read_connections(&self) -> u32 {
        self.read_connections
    }

    /// The busy timeout.
    #[must_use]
    pub const fn get_busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    /// The time an operation waits for a connection.
    #[must_use]
    pub const fn get_acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }
}

/// How a [`PostgresStore`](crate::PostgresStore) connects.
///
/// Writes and reads draw from two pools, so that reads never take the connections writes wait
/// for: `write_connections` bounds the writes that run at once (writes of different threads
/// run in parallel), `read_connections` the reads. A store opens its connections when it first
/// needs them, up to the sum of both.
///
/// ```
/// use baton_store::PostgresOptions;
/// use std::time::Duration;
///
/// let options = PostgresOptions::new()
///     .write_connections(16)
///     .read_connections(4)
///     .connect_timeout(Duration::from_secs(5));
/// assert_eq!(options.get_write_connections(), 16);
/// // PostgresStore::connect_with("postgres://baton:baton@localhost/baton", &options).await?
/// ```
#[cfg(feature = "postgres")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    write_connections: u32,
    read_connections: u32,
    connect_timeout: Duration,
    acquire_timeout: Duration,
}

#[cfg(feature = "postgres")]
impl Default for PostgresOptions {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "postgres")]
impl PostgresOptions {
    /// The defaults: 6 write and 4 read connections, 30 s for the first connection to answer,
    /// and 30 s to wait for a connection of the pools.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            write_connections: 6,
            read_connections: 4,
            connect_timeout: Duration::from_secs(30),
            acquire_timeout: ACQUIRE_TIMEOUT,
        }
    }

    /// At most `count` writes at once, each on a connection of its own (at least one).
    #[must_use]
    pub const fn write_connections(mut self, count: u32) -> Self {
        self.write_connections = if count == 0 { 1 } else { count };
        self
    }

    /// At most `count` reads at once, each on a connection of its own (at least one).
    #[must_use]
    pub const fn read_connections(mut self, count: u32) -> Self {
        self.read_connections = if count == 0 { 1 } else { count };
        self
    }

    /// How long the first connection, which migrates the database, may take before the server
    /// is reported as not answering.
    #[must_use]
    pub const fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long an operation waits for a connection of the store's pools before it reports
    /// [`StoreError::Unavailable`](baton_core::error::StoreError::Unavailable).
    #[must_use]
    pub const fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The number of write connections.
    #[must_use]
    pub const fn get_write_connections(&self) -> u32 {
        self.write_connections
    }

    /// The number of read connections.
    #[must_use]
    pub const fn get_read_connections(&self) -> u32 {
        self.read_connections
    }

    /// The time the first connection may take.
    #[must_use]
    pub const fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The time an operation waits for a connection.
    #[must_use]
    pub const fn get_acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }
}
