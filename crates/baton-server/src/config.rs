//! What a server is configured with: where it listens, who may call it, and its limits.

use crate::error::ServerError;
use std::collections::HashSet;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// A caller of the API: a name that owns threads, and the bearer token that proves it.
///
/// The token is compared in constant time and never shown by `Debug`.
///
/// ```
/// use baton_server::Tenant;
/// let tenant = Tenant::new("acme", "s3cret-token");
/// assert!(!format!("{tenant:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The tenant's name. Threads belong to it, so keep it stable: renaming a tenant orphans
    /// the threads it created.
    pub name: String,
    /// The bearer token the tenant sends (`Authorization: Bearer <token>`). It may be rotated
    /// freely: ownership follows the name, not the token.
    pub token: String,
}

impl Tenant {
    /// A tenant named `name` that authenticates with `token`.
    pub fn new(name: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            token: token.into(),
        }
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenant")
            .field("name", &self.name)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// How a server listens and what it accepts.
///
/// ```
/// use baton_server::{ServerConfig, Tenant};
/// let config = ServerConfig::new(vec![Tenant::new("acme", "token-1")]);
/// assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
/// assert_eq!(config.max_body_bytes, 1024 * 1024);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The address [`serve`](crate::serve) binds (default `127.0.0.1:8080`).
    pub bind: SocketAddr,
    /// Who may call the API. With none, every authenticated endpoint answers 401.
    pub tenants: Vec<Tenant>,
    /// The largest request body accepted (default 1 MiB); larger ones get 413.
    pub max_body_bytes: usize,
    /// How long runs in flight may go on after shutdown begins (default 10 s); the rest are
    /// cancelled and recorded as failed.
    pub shutdown_grace: Duration,
}

impl ServerConfig {
    /// The default bind address.
    pub const DEFAULT_BIND: SocketAddr = SocketAddr::new(
        std::net::IpAddr::V4(Ipv4Addr::LOCALHOST),
        Self::DEFAULT_PORT,
    );
    /// The default port.
    pub const DEFAULT_PORT: u16 = 8080;
    /// The default body limit: 1 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
    /// The default shutdown grace: 10 s.
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

    /// A configuration for `tenants` with every other setting at its default.
    #[must_use]
    pub fn new(tenants: Vec<Tenant>) -> Self {
        Self {
            bind: Self::DEFAULT_BIND,
            tenants,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
        }
    }

    /// Checks that tenants have non-empty, distinct names and tokens.
    ///
    /// [`serve`](crate::serve) calls this; an embedder calling [`router`](crate::router)
    /// should too, since a router built from an invalid configuration matches a token to the
    /// first tenant that has it.
    pub fn validate(&self) -> Result<(), ServerError> {
        let mut names = HashSet::new();
        let mut tokens = HashSet::new();
        for tenant in &self.tenants {
            if tenant.name.trim().is_empty() {
                return Err(ServerError::Config("a tenant has an empty name".into()));
            }
            if tenant.token.is_empty() {
                return Err(ServerError::Config(format!(
                    "tenant {:?} has an empty token",
                    tenant.name
                )));
            }
            if !names.insert(tenant.name.as_str()) {
                return Err(ServerError::Config(format!(
                    "tenant {:?} is defined twice",
                    tenant.name
                )));
            }
            if !tokens.insert(tenant.token.as_str()) {
                return Err(ServerError::Config(format!(
                    "tenant {:?} shares its token with another tenant; give each its own",
                    tenant.name
                )));
            }
        }
        if self.max_body_bytes == 0 {
            return Err(ServerError::Config(
                "max_body_bytes must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

impl Default for ServerConfig {
    /// No tenants, every other setting at its default.
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_tenants_are_refused_with_a_reason() {
        let twice = ServerConfig::new(vec![Tenant::new("a", "t1"), Tenant::new("a", "t2")]);
        assert!(twice.validate().unwrap_err().to_string().contains("twice"));
        let shared = ServerConfig::new(vec![Tenant::new("a", "t"), Tenant::new("b", "t")]);
        assert!(
            shared
                .validate()
                .unwrap_err()
                .to_string()
                .contains("shares")
        );
        let empty = ServerConfig::new(vec![Tenant::new("a", "")]);
        assert!(
            empty
                .validate()
                .unwrap_err()
                .to_string()
                .contains("empty token")
        );
    }

    #[test]
    fn tokens_stay_out_of_debug_output() {
        let config = ServerConfig::new(vec![Tenant::new("acme", "hunter2")]);
        let shown = format!("{config:?}");
        assert!(
            shown.contains("acme") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
