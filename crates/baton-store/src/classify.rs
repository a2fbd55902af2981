//! Which database failures are worth another attempt: each sqlx error becomes a
//! [`StoreError::Unavailable`] (the same operation may succeed if tried again) or a
//! [`StoreError::Backend`] (it will not).
//!
//! Worth another attempt: a connection that failed or was lost (I/O), the pool's timeout, a
//! SQLite connection's thread that died; SQLite's `SQLITE_BUSY` and `SQLITE_LOCKED` (another
//! connection holds the lock past the busy timeout); PostgreSQL's serialization failures and
//! deadlocks (class 40), a lock not available (`55P03`), a server shutting down or starting
//! (`57P01`–`57P03`), connection exceptions (class 08) and too many connections (`53300`).
//! Everything else — constraints, syntax, a refused login, a malformed URL, a closed pool — is
//! permanent.

use baton_core::error::StoreError;
use sqlx::error::ErrorKind;

/// The store's error for `error`, met while `doing`.
pub(crate) fn sql_error(doing: &str, error: &sqlx::Error) -> StoreError {
    let message = format!("{doing}: {error}");
    if is_retryable(error) {
        StoreError::Unavailable(message)
    } else {
        StoreError::Backend(message)
    }
}

/// Whether the operation that met `error` may succeed if run again.
pub(crate) fn is_retryable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| is_retryable_code(&code)),
        _ => false,
    }
}

/// Whether `error` says that two writers raced for one key: the loser's transaction wrote
/// nothing, and another attempt reads the winner's rows.
pub(crate) fn is_lost_race(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(error) if matches!(error.kind(), ErrorKind::UniqueViolation))
}

/// Whether a database's error `code` is worth another attempt.
///
/// PostgreSQL's codes are SQLSTATEs, always five characters; SQLite's are extended result codes,
/// decimal numbers of at most four digits whose low byte is the primary code.
fn is_retryable_code(code: &str) -> bool {
    /// SQLite's primary result codes for a database locked by another connection.
    const SQLITE_BUSY: i32 = 5;
    const SQLITE_LOCKED: i32 = 6;
    if code.len() == 5 {
        return code.starts_with("40")
            || code.starts_with("08")
            || matches!(code, "55P03" | "57P01" | "57P02" | "57P03" | "53300");
    }
    code.parse::<i32>()
        .is_ok_and(|code| matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_locked_and_transient_server_states_are_retryable() {
        for code in ["5", "6", "517", "261", "262"] {
            assert!(is_retryable_code(code), "SQLite {code}");
        }
        for code in [
            "40001", "40P01", "08006", "08001", "57P01", "57P03", "55P03", "53300",
        ] {
            assert!(is_retryable_code(code), "PostgreSQL {code}");
        }
    }

    #[test]
    fn constraints_syntax_and_refusals_are_permanent() {
        // SQLite: constraint (19, 2067 unique), corrupt (11), not a database (26), cannot open (14).
        for code in ["19", "2067", "11", "26", "14", "1"] {
            assert!(!is_retryable_code(code), "SQLite {code}");
        }
        // PostgreSQL: unique violation, syntax error, wrong password, disk full.
        for code in ["23505", "42601", "28P01", "53100"] {
            assert!(!is_retryable_code(code), "PostgreSQL {code}");
        }
    }

    #[test]
    fn pool_timeouts_and_lost_connections_are_unavailable() {
        let lost = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(matches!(
            sql_error("reading", &lost),
            StoreError::Unavailable(_)
        ));
        assert!(sql_error("reading", &sqlx::Error::PoolTimedOut).is_retryable());
        assert!(matches!(
            sql_error("reading", &sqlx::Error::PoolClosed),
            StoreError::Backend(_)
        ));
    }
}
