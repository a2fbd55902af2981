//! Failures of stores.

use crate::ids::{RunId, ThreadId};
use serde::{Deserialize, Serialize};

/// A failure of a [`ThreadStore`](crate::memory::ThreadStore) or
/// [`EpisodicStore`](crate::memory::EpisodicStore).
///
/// In JSON, `{"kind": "backend", "detail": "disk full"}`: the kind and what the variant holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StoreError {
    /// Another writer appended to the thread since this writer last read it.
    #[error(
        "thread {thread} was written concurrently: expected {expected} messages, found {actual}"
    )]
    Conflict {
        /// The thread.
        thread: ThreadId,
        /// The length the writer expected.
        expected: u64,
        /// The length found.
        actual: u64,
    },
    /// The backend could not serve the operation for a reason that may pass: the connection
    /// was refused or lost, the pool had no connection in time, the database was busy or
    /// locked, a transaction lost to a concurrent one. Nothing was written; the same operation
    /// may succeed if tried again ([`StoreError::is_retryable`]).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend failed for good (a constraint, a full disk, a query it refused): trying the
    /// same operation again will fail the same way.
    #[error("store backend error: {0}")]
    Backend(String),
    /// Stored data could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Another run holds the thread (in this process or another): nothing was written.
    #[error("thread {thread} is busy with run {holder}")]
    ThreadBusy {
        /// The thread.
        thread: ThreadId,
        /// The run holding it.
        holder: RunId,
    },
    /// The run is being driven elsewhere: another owner holds its lease, which has not expired.
    #[error("run {run} is being driven elsewhere (by {owner})")]
    RunLeased {
        /// The run.
        run: RunId,
        /// Who holds the lease.
        owner: String,
    },
    /// The writer's lease on the run is no longer current (it expired and another owner took
    /// the run, or it was released): the write was refused.
    #[error("run {run} lost its lease: another owner drives it now")]
    LeaseLost {
        /// The run.
        run: RunId,
    },
}

impl StoreError {
    /// Whether the same operation, tried again unchanged, may succeed: true only for
    /// [`StoreError::Unavailable`]. A [`StoreError::Conflict`] is not: the writer must read the
    /// thread again first.
    ///
    /// ```
    /// use baton_core::error::StoreError;
    /// assert!(StoreError::Unavailable("database is locked".into()).is_retryable());
    /// assert!(!StoreError::Backend("disk full".into()).is_retryable());
    /// ```
    #[must_use]
    pub const fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// This error with its message [`redact`](crate::redact::redact)ed.
    #[must_use]
    pub fn redacted(mut self) -> Self {
        if let Self::Unavailable(message) | Self::Backend(message) | Self::Corrupt(message) =
            &mut self
        {
            crate::redact::redact_string(message);
        }
        self
    }
}
