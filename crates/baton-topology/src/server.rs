//! The `[server]` section: where a topology is served and who may call it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::time::Duration;

/// How to serve a topology over HTTP, with the tenants' tokens read from the environment.
///
/// It carries what an HTTP server needs without depending on one; `baton serve` hands it to
/// `baton-server`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerSettings {
    /// The address to listen on (default `127.0.0.1:8080`).
    pub bind: SocketAddr,
    /// Who may call the API.
    pub tenants: Vec<TenantToken>,
    /// The largest request body accepted (default 1 MiB).
    pub max_body_bytes: usize,
    /// How long runs in flight may go on after shutdown begins (default 10 s).
    pub shutdown_grace: Duration,
}

impl ServerSettings {
    /// The default bind address.
    pub const DEFAULT_BIND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
    /// The default body limit: 1 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
    /// The default shutdown grace: 10 s.
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
}

/// A tenant's name and bearer token. The token never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantToken {
    /// The tenant's name.
    pub name: String,
    /// Its bearer token, from the environment variable the file names.
    pub token: String,
}

impl fmt::Debug for TenantToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantToken")
            .field("name", &self.name)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// The `[server]` section as validated: tokens are still environment variable names.
#[derive(Debug, Clone)]
pub(crate) struct ServerDef {
    pub(crate) bind: SocketAddr,
    pub(crate) max_body_bytes: usize,
    pub(crate) shutdown_grace: Duration,
    pub(crate) tenants: Vec<TenantDef>,
}

impl Default for ServerDef {
    fn default() -> Self {
        Self {
            bind: ServerSettings::DEFAULT_BIND,
            max_body_bytes: ServerSettings::DEFAULT_MAX_BODY_BYTES,
            shutdown_grace: ServerSettings::DEFAULT_SHUTDOWN_GRACE,
            tenants: Vec::new(),
        }
    }
}

/// A tenant as the file declares it.
#[derive(Debug, Clone)]
pub(crate) struct TenantDef {
    pub(crate) name: String,
    pub(crate) token_env: String,
    pub(crate) token_env_span: Range<usize>,
}
