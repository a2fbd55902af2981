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
/// assert_eq!(config.max_connections, ServerConfig::DEFAULT_MAX_CONNECTIONS);
/// assert_eq!(config.approval_sweep, Some(ServerConfig::DEFAULT_APPROVAL_SWEEP));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// How long a client may take to send a request's line and headers (default 10 s),
    /// counted from the connection's acceptance for its first request and from the first byte
    /// of each later one. A client that sent part of a head gets 408 and is disconnected; one
    /// that sent nothing is disconnected.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request (default 60 s) before
    /// the server closes it.
    pub idle_timeout: Duration,
    /// How long a client may take to send a request's body (default 30 s), counted from the
    /// end of its headers; a body that has not arrived by then gets 408.
    pub body_read_timeout: Duration,
    /// How many connections [`serve`](crate::serve) keeps open at once (default 1024). At
    /// the limit, a new connection closes the connection that has been idle the longest (no
    /// request in progress); when none is idle, new connections wait in the listen queue.
    pub max_connections: usize,
    /// How often [`serve`](crate::serve) takes up the paused runs whose approvals expired
    /// undecided (default 30 s), with
    /// [`Supervisor::resume_expired`](baton_core::actor::Supervisor::resume_expired): each
    /// goes on with its expired calls rejected as expired, whether or not anyone asks for it
    /// again. The first sweep comes one interval after serving begins. `None` or zero turns
    /// the sweep off; a run whose approval expired is then taken up only when resumed.
    /// [`router`](crate::router) does not sweep: an embedder calls `resume_expired` itself.
    pub approval_sweep: Option<Duration>,
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
    /// The default time to receive a request's head: 10 s.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default time a kept-alive connection waits for its next request: 60 s.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default time to receive a request's body: 30 s.
    pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
    /// The default bound on open connections: 1024.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
    /// The default interval between sweeps of expired approvals: 30 s.
    pub const DEFAULT_APPROVAL_SWEEP: Duration = Duration::from_secs(30);

    /// A configuration for `tenants` with every other setting at its default.
    #[must_use]
    pub fn new(tenants: Vec<Tenant>) -> Self {
        Self {
            bind: Self::DEFAULT_BIND,
            tenants,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            body_read_timeout: Self::DEFAULT_BODY_READ_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            approval_sweep: Some(Self::DEFAULT_APPROVAL_SWEEP),
        }
    }

    /// The interval between sweeps of expired approvals, if they are on (see
    /// [`approval_sweep`](Self::approval_sweep)).
    ///
    /// ```
    /// use baton_server::ServerConfig;
    /// use std::time::Duration;
    /// let mut config = ServerConfig::default();
    /// assert_eq!(config.approval_sweep_interval(), Some(Duration::from_secs(30)));
    /// config.approval_sweep = Some(Duration::ZERO);
    /// assert_eq!(config.approval_sweep_interval(), None);
    /// ```
    #[must_use]
    pub fn approval_sweep_interval(&self) -> Option<Duration> {
        self.approval_sweep.filter(|interval| !interval.is_zero())
    }

    /// Checks that tenants have names and tokens a request can match, distinct from each
    /// other's, and that every limit and timeout is above zero.
    ///
    /// A token must be one a bearer header can carry: no leading or trailing whitespace (the
    /// server trims what it receives) and only visible ASCII and inner spaces. Messages name
    /// the tenant, never its token.
    ///
    /// [`serve`](crate::serve) calls this; an embedder calling [`router`](crate::router)
    /// should too, since a router built from an invalid configuration matches a token to the
    /// first tenant that has it.
    ///
    /// ```
    /// use baton_server::{ServerConfig, Tenant};
    /// let config = ServerConfig::new(vec![Tenant::new("acme", "token-1 ")]);
    /// let refused = config.validate().unwrap_err().to_string();
    /// assert!(refused.contains("acme") && !refused.contains("token-1"));
    /// ```
    pub fn validate(&self) -> Result<(), ServerError> {
        let mut names = HashSet::new();
        let mut tokens = HashSet::new();
        for (index, tenant) in self.tenants.iter().enumerate() {
            check_tenant(index, tenant).map_err(ServerError::Config)?;
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
        if self.max_connections == 0 {
            return Err(ServerError::Config(
                "max_connections must be at least 1".into(),
            ));
        }
        for (name, timeout) in [
            ("header_read_timeout", self.header_read_timeout),
            ("idle_timeout", self.idle_timeout),
            ("body_read_timeout", self.body_read_timeout),
        ] {
            if timeout.is_zero() {
                return Err(ServerError::Config(format!(
                    "{name} must be longer than zero"
                )));
            }
        }
        Ok(())
    }
}

/// Why `tenant` (the `index`th, from 0) can never authenticate, if it cannot.
fn check_tenant(index: usize, tenant: &Tenant) -> Result<(), String> {
    if tenant.name.trim().is_empty() {
        return Err(format!(
            "tenant #{} has an empty name; give it one",
            index + 1
        ));
    }
    let name = &tenant.name;
    let token = &tenant.token;
    if token.is_empty() {
        return Err(format!("tenant {name:?} has an empty token"));
    }
    if token.trim() != token {
        return Err(format!(
            "tenant {name:?}'s token has leading or trailing whitespace, which a bearer \
             header cannot carry; remove it"
        ));
    }
    if token.chars().any(char::is_control) {
        return Err(format!(
            "tenant {name:?}'s token contains a control character; use visible ASCII"
        ));
    }
    if !token.is_ascii() {
        return Err(format!(
            "tenant {name:?}'s token contains a non-ASCII character, which a header cannot \
             carry; use visible ASCII"
        ));
    }
    Ok(())
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
    fn tokens_a_header_cannot_carry_are_refused_naming_the_tenant_only() {
        for token in [
            " s3cr3t",
            "s3cr3t\t",
            "s3cr3t\nline",
            "s3cr3t\0",
            "s3cr3t\u{7}",
            "s3cr3t\u{e9}",
        ] {
            let config = ServerConfig::new(vec![Tenant::new("acme", token)]);
            let refused = config.validate().unwrap_err().to_string();
            assert!(refused.contains("\"acme\""), "{refused}");
            assert!(!refused.contains("s3cr3t"), "{refused}");
        }
        let inner_space = ServerConfig::new(vec![Tenant::new("acme", "two words")]);
        assert!(inner_space.validate().is_ok());
    }

    #[test]
    fn blank_names_are_refused_by_position() {
        for name in ["", "   ", "\t"] {
            let config = ServerConfig::new(vec![Tenant::new("ok", "t0"), Tenant::new(name, "t1")]);
            let refused = config.validate().unwrap_err().to_string();
            assert!(refused.contains("tenant #2 has an empty name"), "{refused}");
        }
    }

    #[test]
    fn zero_limits_and_timeouts_are_refused_by_name() {
        let refused = |config: ServerConfig| config.validate().unwrap_err().to_string();
        let base = ServerConfig::new(vec![Tenant::new("acme", "t")]);
        let zero = ServerConfig {
            max_connections: 0,
            ..base.clone()
        };
        assert!(refused(zero).contains("max_connections"));
        for field in ["header_read_timeout", "idle_timeout", "body_read_timeout"] {
            let mut config = base.clone();
            match field {
                "header_read_timeout" => config.header_read_timeout = Duration::ZERO,
                "idle_timeout" => config.idle_timeout = Duration::ZERO,
                _ => config.body_read_timeout = Duration::ZERO,
            }
            assert!(refused(config).contains(field), "{field}");
        }
    }

    #[test]
    fn a_zero_or_absent_approval_sweep_is_off_and_valid() {
        for sweep in [None, Some(Duration::ZERO)] {
            let config = ServerConfig {
                approval_sweep: sweep,
                ..ServerConfig::default()
            };
            assert!(config.validate().is_ok());
            assert_eq!(config.approval_sweep_interval(), None);
        }
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
