//! The PostgreSQL server the tests run against, and the mark of the tests that need it.

/// Why a test that needs PostgreSQL is ignored: the build saw no `BATON_POSTGRES_URL`.
///
/// Expands to the test with `#[cfg_attr(not(baton_postgres), ignore = …)]` added (see
/// `build.rs`); literal, as `ignore` takes only a literal.
#[macro_export]
macro_rules! needs_postgres {
    ($(#[$attr:meta])* async fn $name:ident() $body:block) => {
        $(#[$attr])*
        #[cfg_attr(
            not(baton_postgres),
            ignore = "needs PostgreSQL: eval \"$(bash crates/baton-store/ci/postgres.sh)\" first"
        )]
        async fn $name() $body
    };
}

/// The server's URL.
///
/// The tests that call it are ignored when the build saw no `BATON_POSTGRES_URL` (and no
/// `CI=true`); run anyway, or under `CI=true` without the URL, they fail here, saying how to
/// start a server. A server that does not answer fails them too, where they connect.
pub fn server_url() -> String {
    match std::env::var("BATON_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "BATON_POSTGRES_URL is not set, and this test needs PostgreSQL (under CI=true every \
             PostgreSQL test must run): start a server with \
             `eval \"$(bash crates/baton-store/ci/postgres.sh)\"`, then build the tests again"
        ),
    }
}

/// A new, empty schema on the server, and the URL of a connection that uses it: tests get one
/// each, so they run in parallel on one database.
pub async fn fresh_schema() -> String {
    use sqlx::{Connection, Executor, PgConnection};
    let url = server_url();
    let schema = format!(
        "test_{}",
        baton_core::ids::ThreadId::new()
            .to_string()
            .replace('-', "")
    );
    let mut admin = PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at BATON_POSTGRES_URL: {e}"));
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .expect("create schema");
    admin.close().await.expect("close");
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{schema}")
}
