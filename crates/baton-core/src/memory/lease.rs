//! Run leases: who drives a run, and for how long.
//!
//! A run is driven by one owner at a time, across processes. Before it writes anything (its
//! `Started` episode, its input) the driver takes the run's lease from the store, which also
//! holds the run's thread: no other run takes that thread until the lease is released or
//! expires. The driver renews the lease while it works; each commit carries the lease's token
//! and the store refuses a token that is no longer current (fencing), so a driver that lost its
//! lease (it stalled past the expiry and another owner took the run) cannot write.

use crate::ids::{RunId, ThreadId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

/// The fencing token of one taking of a lease: fresh every time a lease is taken, so a stale
/// holder's token never matches again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LeaseToken(Uuid);

impl LeaseToken {
    /// A fresh token.
    #[must_use]
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// The token as a UUID.
    #[must_use]
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// The token of a stored UUID.
    #[must_use]
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl Default for LeaseToken {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for LeaseToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A run's lease, as its holder has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The run driven.
    pub run: RunId,
    /// The thread the run holds.
    pub thread: ThreadId,
    /// Who drives it (see [`LeaseOwner`]); shared, since a lease is copied where it is used.
    pub owner: Arc<str>,
    /// The fencing token of this taking.
    pub token: LeaseToken,
    /// When the lease expires unless renewed, in milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
}

impl Lease {
    /// The parked lease of a paused run, as its log records it: its token is what counts.
    pub(crate) fn parked(run: RunId, thread: ThreadId, token: LeaseToken) -> Self {
        Self {
            run,
            thread,
            owner: crate::run::PARKED_OWNER.into(),
            token,
            expires_at_ms: 0,
        }
    }
}

/// Who holds a run's lease, as [`unfinished_runs`](super::EpisodicStore::unfinished_runs)
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseHolder {
    /// The owner.
    pub owner: String,
    /// When its lease expires unless renewed, in milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
}

/// A run whose log has no terminal episode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnfinishedRun {
    /// The run.
    pub run: RunId,
    /// Who drives it, if its lease is live: `None` means nobody does — the run was abandoned
    /// (its driver crashed, or its lease expired) and may be resumed.
    pub driver: Option<LeaseHolder>,
}

impl UnfinishedRun {
    /// Whether nobody drives the run: it may be resumed.
    #[must_use]
    pub const fn is_abandoned(&self) -> bool {
        self.driver.is_none()
    }
}

/// A name for the driver of runs in this process: the host's name, the process id and a
/// random suffix, so two processes (or two supervisors in one) never share one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseOwner(std::sync::Arc<str>);

impl LeaseOwner {
    /// A fresh owner name for this process.
    #[must_use]
    pub fn for_this_process() -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
        // The random end of a v7 UUID (its start is the time).
        let suffix = Uuid::now_v7().simple().to_string();
        Self(format!("{host}:{}:{}", std::process::id(), &suffix[24..]).into())
    }

    /// This process's owner, made once ([`for_this_process`](Self::for_this_process)): the
    /// driver of the runs this process starts.
    #[must_use]
    pub fn process() -> &'static Self {
        static OWNER: std::sync::LazyLock<LeaseOwner> =
            std::sync::LazyLock::new(LeaseOwner::for_this_process);
        &OWNER
    }

    /// An owner with the given name.
    #[must_use]
    pub fn named(name: impl AsRef<str>) -> Self {
        Self(name.as_ref().into())
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LeaseOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Milliseconds since the Unix epoch, now.
#[must_use]
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
