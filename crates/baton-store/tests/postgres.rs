//! The conformance checks on `PostgresStore`, against the server at `BATON_POSTGRES_URL`.
//!
//! Each test gets its own schema, so tests run in parallel on one database. Without the URL the
//! tests are ignored, with the reason, except under `CI=true`, where they fail: start a server
//! with `eval "$(bash crates/baton-store/ci/postgres.sh)"`.

mod common;

use baton_core::memory::Store;
use baton_store::PostgresStore;
use common::postgres::fresh_schema;
use std::sync::Arc;

async fn fresh() -> Option<Arc<dyn Store>> {
    let url = fresh_schema().await;
    Some(Arc::new(
        PostgresStore::connect(&url).await.expect("connect"),
    ))
}

async fn pair() -> Option<(Arc<dyn Store>, Arc<dyn Store>)> {
    let url = fresh_schema().await;
    let first = PostgresStore::connect(&url).await.expect("connect");
    let second = PostgresStore::connect(&url).await.expect("connect again");
    Some((Arc::new(first), Arc::new(second)))
}

baton_store::conformance_tests!(
    fresh = fresh,
    pair = pair,
    attributes = [#[cfg_attr(
        not(baton_postgres),
        ignore = "needs PostgreSQL: eval \"$(bash crates/baton-store/ci/postgres.sh)\" first"
    )]]
);
store_checks!(
    fresh = fresh,
    attributes = [#[cfg_attr(
        not(baton_postgres),
        ignore = "needs PostgreSQL: eval \"$(bash crates/baton-store/ci/postgres.sh)\" first"
    )]]
);

mod on_existing_pools {
    use super::common::postgres::fresh_schema;
    use baton_core::ids::ThreadId;
    use baton_core::llm::Message;
    use baton_core::memory::{Page, ThreadStore};
    use baton_store::{PostgresOptions, PostgresStore};
    use sqlx::any::AnyPoolOptions;
    use std::sync::Arc;

    crate::needs_postgres! {
        #[tokio::test]
        async fn a_store_runs_on_the_pools_it_is_given() {
            sqlx::any::install_default_drivers();
            let url = fresh_schema().await;
            let pool = AnyPoolOptions::new()
                .max_connections(2)
                .connect(&url)
                .await
                .expect("pool");
            let store = PostgresStore::with_pools(pool.clone(), pool.clone())
                .await
                .expect("a store on the pool");
            let thread = ThreadId::new();
            let hi = [Arc::new(Message::user("hi"))];
            assert_eq!(store.append(thread, Some(0), &hi).await, Ok(1));
            assert_eq!(store.list(thread, Page::ALL).await.map(|m| m.len()), Ok(1));
            // Another store, configured by options, on the same schema sees the message.
            let options = PostgresOptions::new().write_connections(1).read_connections(1);
            let other = PostgresStore::connect_with(&url, &options).await.expect("connect");
            assert_eq!(other.list(thread, Page::ALL).await.map(|m| m.len()), Ok(1));
            other.close().await;
            store.close().await;
            assert!(pool.is_closed(), "closing the store closes the pools it runs on");
        }
    }
}
