//! What every handler shares.

use crate::auth::TenantTable;
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::ownership::ThreadOwners;
use baton_core::actor::Supervisor;
use baton_core::ids::RunId;
use dashmap::DashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The state behind a router.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) supervisor: Supervisor,
    pub(crate) tenants: TenantTable,
    pub(crate) threads: ThreadOwners,
    /// Runs started through this router and not finished yet, with the tenant that started
    /// each.
    pub(crate) runs: DashMap<RunId, Arc<str>>,
    pub(crate) metrics: Metrics,
    /// The body limit (enforced by layers; here for them and for error messages).
    pub(crate) max_body_bytes: usize,
    /// How long a request body may take to arrive.
    pub(crate) body_read_timeout: Duration,
    /// Set when [`serve`](crate::serve) begins shutting down.
    pub(crate) draining: Arc<AtomicBool>,
    /// When the router was built, in seconds since the Unix epoch (the `created` of models).
    pub(crate) started_at: u64,
}

impl AppState {
    pub(crate) fn new(
        supervisor: Supervisor,
        config: &ServerConfig,
        draining: Arc<AtomicBool>,
    ) -> Self {
        Self {
            supervisor,
            tenants: TenantTable::new(&config.tenants),
            threads: ThreadOwners::default(),
            runs: DashMap::new(),
            metrics: Metrics::new(),
            max_body_bytes: config.max_body_bytes,
            body_read_timeout: config.body_read_timeout,
            draining,
            started_at: unix_seconds(),
        }
    }

    /// Whether the server is shutting down or its supervisor no longer takes runs.
    pub(crate) fn shutting_down(&self) -> bool {
        self.draining.load(Ordering::Acquire) || !self.supervisor.status().accepting
    }
}

pub(crate) fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
