//! The conformance checks on `PostgresStore`, against the server at `BATON_POSTGRES_URL`.
//!
//! Each test gets its own schema, so tests run in parallel on one database. Without the URL the
//! tests are skipped with a note, except under `CI=true`, where they fail: start a server with
//! `eval "$(bash crates/baton-store/ci/postgres.sh)"`.

mod common;

use baton_core::ids::ThreadId;
use baton_core::memory::Store;
use baton_store::PostgresStore;
use common::postgres::server_url;
use sqlx::{Connection, Executor, PgConnection};
use std::sync::Arc;

/// A new schema on the server, and the URL of a connection that uses it.
async fn fresh_schema() -> Option<String> {
    let url = server_url()?;
    let schema = format!("test_{}", ThreadId::new().to_string().replace('-', ""));
    let mut admin = PgConnection::connect(&url)
        .await
        .expect("connect to PostgreSQL");
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .expect("create schema");
    admin.close().await.expect("close");
    let separator = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{separator}options=-csearch_path%3D{schema}"))
}

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
