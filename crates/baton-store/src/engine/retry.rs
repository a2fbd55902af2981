//! The store's one retry policy: what an attempt of an operation can fail with, which failures
//! are tried again, and how long to wait between attempts.
//!
//! Another attempt is made after a lost race (another writer committed what this attempt read,
//! or took the key it inserted) and after a failure that [`classify`](crate::classify) calls
//! worth another attempt (a busy or locked database, a serialization failure or deadlock, a
//! lost connection), with a short exponential backoff, jittered so that the losers of one race
//! do not collide again, for at most [`MAX_ATTEMPTS`] attempts. The pool's timeout is not tried
//! again here: it already waited as long as the store was told to; the caller gets
//! [`StoreError::Unavailable`] at once. Refusals (a conflict, a lost lease) and permanent
//! failures end the operation at the first attempt.

use crate::classify::{is_lost_race, is_retryable, sql_error};
use backon::{ExponentialBuilder, Retryable as _};
use baton_core::error::StoreError;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Attempts of one operation before its last failure is reported.
///
/// Each lost race means another writer of the same run or thread committed, so this bounds the
/// number of concurrent writers of one run that are served without error, not only the time.
const MAX_ATTEMPTS: u32 = 32;

/// The wait before the first retry; each later one waits twice as long, up to [`MAX_DELAY`].
const MIN_DELAY: Duration = Duration::from_millis(1);

/// The longest wait between two attempts.
const MAX_DELAY: Duration = Duration::from_millis(50);

/// Why one attempt of an operation failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The database failed; some failures are worth another attempt.
    Sql(sqlx::Error),
    /// The store refused or could not read the data, or a failure already classified.
    Store(StoreError),
    /// Another writer changed what this attempt read; another attempt will see it.
    Race,
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        Self::Sql(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl Failure {
    /// Whether another attempt, made soon, may succeed.
    fn is_worth_another_attempt(&self) -> bool {
        match self {
            Self::Race => true,
            Self::Sql(sqlx::Error::PoolTimedOut) => false,
            Self::Sql(error) => is_lost_race(error) || is_retryable(error),
            Self::Store(error) => error.is_retryable(),
        }
    }

    /// The store's error for this failure, met while `doing` after `attempts` attempts.
    pub(crate) fn into_store_error(self, doing: &str, attempts: u32) -> StoreError {
        let gave_up = if attempts > 1 {
            format!(" (gave up after {attempts} attempts)")
        } else {
            String::new()
        };
        match self {
            Self::Store(error) => error,
            // A race lost again and again: another attempt, later, may still succeed.
            Self::Sql(error) if is_lost_race(&error) => StoreError::Unavailable(format!(
                "{doing}: lost a race with other writers{gave_up}: {error}"
            )),
            Self::Sql(error) => match sql_error(doing, &error) {
                StoreError::Unavailable(message) => {
                    StoreError::Unavailable(format!("{message}{gave_up}"))
                }
                error => error,
            },
            Self::Race => StoreError::Unavailable(format!(
                "{doing}: the data changed under the transaction{gave_up}"
            )),
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or has failed [`MAX_ATTEMPTS`] times,
/// waiting a little longer before each new attempt.
pub(crate) async fn retrying<T, F, Fut>(
    backend: &'static str,
    doing: &'static str,
    mut attempt: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let attempts = AtomicU32::new(0);
    let policy = ExponentialBuilder::new()
        .with_min_delay(MIN_DELAY)
        .with_max_delay(MAX_DELAY)
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(MAX_ATTEMPTS as usize - 1);
    let counted = || {
        attempts.fetch_add(1, Ordering::Relaxed);
        attempt()
    };
    counted
        .retry(policy)
        .when(Failure::is_worth_another_attempt)
        .notify(|failure, delay| {
            tracing::debug!(
                backend,
                doing,
                attempts = attempts.load(Ordering::Relaxed),
                ?delay,
                failure = ?failure,
                "trying again"
            );
        })
        .await
        .map_err(|failure| failure.into_store_error(doing, attempts.load(Ordering::Relaxed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lost_races_are_tried_again_until_one_succeeds() {
        let mut left = 3;
        let result = retrying("test", "testing", || {
            left -= 1;
            let race = left > 0;
            async move { if race { Err(Failure::Race) } else { Ok(7) } }
        })
        .await;
        assert_eq!(result, Ok(7));
    }

    #[tokio::test]
    async fn refusals_and_permanent_failures_end_at_the_first_attempt() {
        let mut calls = 0;
        let refused: Result<(), _> = retrying("test", "testing", || {
            calls += 1;
            async { Err(Failure::Store(StoreError::Backend("disk full".into()))) }
        })
        .await;
        assert_eq!(refused, Err(StoreError::Backend("disk full".into())));
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn a_pool_timeout_is_reported_at_once_as_unavailable() {
        let mut calls = 0;
        let result: Result<(), _> = retrying("test", "testing", || {
            calls += 1;
            async { Err(Failure::Sql(sqlx::Error::PoolTimedOut)) }
        })
        .await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn races_lost_every_time_give_up_as_unavailable() {
        let mut calls = 0;
        let result: Result<(), _> = retrying("test", "testing", || {
            calls += 1;
            async { Err(Failure::Race) }
        })
        .await;
        assert_eq!(calls, MAX_ATTEMPTS);
        let Err(StoreError::Unavailable(message)) = result else {
            panic!("{result:?}")
        };
        assert!(message.contains("gave up after 32 attempts"), "{message}");
    }
}
