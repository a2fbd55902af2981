//! The PostgreSQL server the tests run against.

use std::io::Write as _;
use std::sync::Once;

/// The server's URL, or `None` (after saying so) when the tests should be skipped.
pub fn server_url() -> Option<String> {
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

/// A new, empty schema on the server, and the URL of a connection that uses it: tests get one
/// each, so they run in parallel on one database. `None` as for [`server_url`].
pub async fn fresh_schema() -> Option<String> {
    use sqlx::{Connection, Executor, PgConnection};
    let url = server_url()?;
    let schema = format!(
        "test_{}",
        baton_core::ids::ThreadId::new()
            .to_string()
            .replace('-', "")
    );
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
