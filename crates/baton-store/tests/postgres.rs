//! The conformance checks on `PostgresStore`, against the server at `BATON_POSTGRES_URL`.
//!
//! Each test gets its own schema, so tests run in parallel on one database. Without the URL the
//! tests are skipped with a note, except under `CI=true`, where they fail: start a server with
//! `eval "$(bash crates/baton-store/ci/postgres.sh)"`.

mod common;

use baton_core::ids::ThreadId;
use baton_core::memory::Store;
use baton_store::PostgresStore;
use sqlx::{Connection, Executor, PgConnection};
use std::io::Write as _;
use std::sync::{Arc, Once};

/// The server's URL, or `None` (after saying so) when the tests should be skipped.
fn server_url() -> Option<String> {
    match std::env::var("BATON_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!(
            "BATON_POSTGRES_URL is not set and CI=true: PostgreSQL tests must run in CI; \
             start a server with `eval \"$(bash crates/baton-store/ci/postgres.sh)\"`"
        ),
        _ => {
            static NOTE: Once = Once::new();
            // Past the test harness's capture, so that the note shows when the tests pass.
            NOTE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "note: PostgreSQL tests skipped: BATON_POSTGRES_URL is not set \
                     (`eval \"$(bash crates/baton-store/ci/postgres.sh)\"` starts a server)"
                );
            });
            None
        }
    }
}

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
