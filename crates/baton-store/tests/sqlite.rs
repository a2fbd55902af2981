//! The conformance checks on `SqliteStore`: a database file per test, and two stores (two
//! pools) on one file for the racing-writers check.

mod common;

use baton_core::memory::Store;
use baton_store::SqliteStore;
use std::sync::Arc;
use tempfile::TempDir;

/// A store on a new file, and the directory that holds it, removed after the store.
type OnFile = (Arc<dyn Store>, Arc<TempDir>);

async fn fresh() -> Option<OnFile> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(dir.path().join("store.db"))
        .await
        .expect("open");
    Some((Arc::new(store), Arc::new(dir)))
}

async fn pair() -> Option<(OnFile, OnFile)> {
    let dir = Arc::new(tempfile::tempdir().expect("temporary directory"));
    let path = dir.path().join("store.db");
    let first = SqliteStore::open(&path).await.expect("open");
    let second = SqliteStore::open(&path).await.expect("open again");
    Some(((Arc::new(first), dir.clone()), (Arc::new(second), dir)))
}

baton_store::conformance_tests!(fresh = fresh, pair = pair);
store_checks!(fresh = fresh);

mod in_memory_database {
    use baton_core::memory::Store;
    use baton_store::SqliteStore;
    use std::sync::Arc;

    async fn fresh() -> Option<Arc<dyn Store>> {
        Some(Arc::new(SqliteStore::open_in_memory().await.expect("open")))
    }

    /// A database in memory belongs to one store: both handles are the same store.
    async fn pair() -> Option<(Arc<dyn Store>, Arc<dyn Store>)> {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().await.expect("open"));
        Some((store.clone(), store))
    }

    baton_store::conformance_tests!(fresh = fresh, pair = pair);
}
