//! The conformance checks on `PostgresStore`, against the server at `BATON_POSTGRES_URL`.
//!
//! Each test gets its own schema, so tests run in parallel on one database. Without the URL the
//! tests are skipped with a note, except under `CI=true`, where they fail: start a server with
//! `eval "$(bash crates/baton-store/ci/postgres.sh)"`.

mod common;

use baton_core::memory::Store;
use baton_store::PostgresStore;
use common::postgres::fresh_schema;
use std::sync::Arc;

async fn fresh() -> Option<Arc<dyn Store>> {
    let url = fresh_schema().await?;
    Some(Arc::new(
        PostgresStore::connect(&url).await.expect("connect"),
    ))
}

async fn pair() -> Option<(Arc<dyn Store>, Arc<dyn Store>)> {
    let url = fresh_schema().await?;
    let first = PostgresStore::connect(&url).await.expect("connect");
    let second = PostgresStore::connect(&url).await.expect("connect again");
    Some((Arc::new(first), Arc::new(second)))
}

baton_store::conformance_tests!(fresh = fresh, pair = pair);
store_checks!(fresh = fresh);
