//! What the tests of several processes on one database share.

use baton_core::memory::Store;
use baton_store::{PostgresStore, SqliteStore};
use std::sync::Arc;

/// The store a child process is told to open: `sqlite:PATH` or `postgres:URL`.
pub async fn open(spec: &str) -> Arc<dyn Store> {
    match spec.split_once(':') {
        Some(("sqlite", path)) => Arc::new(SqliteStore::open(path).await.unwrap()),
        Some(("postgres", url)) => Arc::new(PostgresStore::connect(url).await.unwrap()),
        _ => panic!("unknown store {spec}"),
    }
}
