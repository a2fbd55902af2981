//! The conformance checks on `SqliteStore`: a database file per test, and two stores (two
//! pools) on one file for the racing-writers check.

mod common;

use baton_core::memory::Store;
use baton_store::SqliteStore;
use common::Owning;
use std::sync::Arc;
use tempfile::TempDir;

async fn fresh() -> Option<Arc<dyn Store>> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(dir.path().join("store.db"))
        .await
        .expect("open");
    Some(Owning::shared(store, dir))
}

async fn pair() -> Option<(Arc<dyn Store>, Arc<dyn Store>)> {
    let dir = Arc::new(tempfile::tempdir().expect("temporary directory"));
    let path = dir.path().join("store.db");
    let first = SqliteStore::open(&path).await.expect("open");
    let second = SqliteStore::open(&path).await.expect("open again");
    Some((
        Owning::<_, Arc<TempDir>>::shared(first, dir.clone()),
        Owning::shared(second, dir),
    ))
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
