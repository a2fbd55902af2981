//! How database failures become [`StoreError`]s, and which of them are worth another attempt.

use baton_core::error::StoreError;
use sqlx::error::ErrorKind;

/// A failure of the database (connection, I/O, constraint), with what the store was doing.
pub(crate) fn backend(doing: &str, error: &sqlx::Error) -> StoreError {
    StoreError::Backend(format!("{doing}: {error}"))
}

/// A row that does not decode: the data is not what this store writes.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// Whether running the same transaction again may succeed.
///
/// Two writers that allocate the same episode sequence number race on the primary key, and the
/// loser sees a unique violation; PostgreSQL may also report a serialization failure or a
/// deadlock. All three leave nothing behind, and a new attempt reads the winner's rows.
pub(crate) fn is_transient(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(error) = error else {
        return false;
    };
    matches!(error.kind(), ErrorKind::UniqueViolation)
        || matches!(
            error.code().as_deref(),
            // PostgreSQL: serialization_failure, deadlock_detected.
            Some("40001" | "40P01")
        )
}
