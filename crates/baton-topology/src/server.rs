//! The `[server]` section: where a topology is served and who may call it.

use crate::error::{Problem, ProblemKind};
use crate::source::Source;
use std::collections::HashMap;
use std::env::VarError;
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
    /// How long a client may take to send a request's headers (default 10 s).
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may stay idle between requests (default 60 s).
    pub idle_timeout: Duration,
    /// How long a client may take to send a request's body (default 30 s).
    pub body_read_timeout: Duration,
    /// The most connections served at once (default 1024).
    pub max_connections: usize,
}

impl ServerSettings {
    /// The default bind address.
    pub const DEFAULT_BIND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
    /// The default body limit: 1 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
    /// The default shutdown grace: 10 s.
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
    /// The default time to read a request's headers: 10 s.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default idle time of a kept-alive connection: 60 s.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default time to read a request's body: 30 s.
    pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
    /// The default connection limit: 1024.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
}

/// A tenant's name and bearer token. The token never appears in `Debug` output.
///
/// The token is the variable's value with surrounding whitespace trimmed (clients' tokens
/// are trimmed too); a value that is empty after trimming, holds whitespace or control
/// characters inside, or characters outside ASCII, is refused with the variable's place in
/// the file.
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
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) body_read_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) tenants: Vec<TenantDef>,
}

impl Default for ServerDef {
    fn default() -> Self {
        Self {
            bind: ServerSettings::DEFAULT_BIND,
            max_body_bytes: ServerSettings::DEFAULT_MAX_BODY_BYTES,
            shutdown_grace: ServerSettings::DEFAULT_SHUTDOWN_GRACE,
            header_read_timeout: ServerSettings::DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: ServerSettings::DEFAULT_IDLE_TIMEOUT,
            body_read_timeout: ServerSettings::DEFAULT_BODY_READ_TIMEOUT,
            max_connections: ServerSettings::DEFAULT_MAX_CONNECTIONS,
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

/// Reads an environment variable (the process's, or a test's).
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Result<String, VarError>;

impl ServerDef {
    /// The tenants with their tokens read through `env`, or every problem with them, each at
    /// the `token_env` it is about. Values never appear in a problem.
    pub(crate) fn tenants(
        &self,
        source: &Source,
        env: Env<'_>,
    ) -> Result<Vec<TenantToken>, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut tenants = Vec::with_capacity(self.tenants.len());
        // Each token and the tenant that holds it first.
        let mut holders: HashMap<String, &TenantDef> = HashMap::new();
        for tenant in &self.tenants {
            let problem = |kind| source.problem(&tenant.token_env_span, kind);
            let owner = || format!("tenant {:?}", tenant.name);
            let token = match read_token(env(&tenant.token_env)) {
                Ok(token) => token,
                Err(None) => {
                    problems.push(problem(ProblemKind::MissingEnv {
                        owner: owner(),
                        what: "token",
                        variable: tenant.token_env.clone(),
                    }));
                    continue;
                }
                Err(Some(reason)) => {
                    problems.push(problem(ProblemKind::UnusableEnv {
                        owner: owner(),
                        what: "token",
                        variable: tenant.token_env.clone(),
                        reason,
                    }));
                    continue;
                }
            };
            if let Some(other) = holders.get(&token) {
                problems.push(problem(ProblemKind::SharedToken {
                    tenant: tenant.name.clone(),
                    variable: tenant.token_env.clone(),
                    other: other.name.clone(),
                }));
                continue;
            }
            holders.insert(token.clone(), tenant);
            tenants.push(TenantToken {
                name: tenant.name.clone(),
                token,
            });
        }
        if problems.is_empty() {
            Ok(tenants)
        } else {
            Err(problems)
        }
    }
}

/// The token in a variable's value, trimmed as clients' tokens are; `Err(None)` if the
/// variable is not set, else why its value cannot be a bearer token.
fn read_token(value: Result<String, VarError>) -> Result<String, Option<&'static str>> {
    let value = match value {
        Ok(value) => value,
        Err(VarError::NotPresent) => return Err(None),
        Err(VarError::NotUnicode(_)) => return Err(Some("does not hold UTF-8 text")),
    };
    let token = value.trim();
    if token.is_empty() {
        return Err(Some("is empty (or only whitespace)"));
    }
    if token.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(Some(
            "holds whitespace or control characters inside the token: a bearer token is one word",
        ));
    }
    if !token.is_ascii() {
        return Err(Some(
            "holds characters outside ASCII (HTTP headers carry only ASCII)",
        ));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(tenants: &[(&str, &str)]) -> (Source, ServerDef) {
        let mut text = String::from("[server]\n");
        let mut server = ServerDef::default();
        for (name, variable) in tenants {
            text.push_str(&format!(
                "[[server.tenants]]\nname = {name:?}\ntoken_env = "
            ));
            let start = text.len();
            text.push_str(&format!("{variable:?}\n"));
            server.tenants.push(TenantDef {
                name: (*name).to_owned(),
                token_env: (*variable).to_owned(),
                token_env_span: start..start + variable.len() + 2,
            });
        }
        (Source::new("t.toml", text), server)
    }

    /// The tenants' tokens or problems, with `values` as the environment.
    fn read(tenants: &[(&str, &str)], values: &[(&str, &str)]) -> Result<Vec<String>, Vec<String>> {
        let (source, server) = def(tenants);
        let env = |variable: &str| {
            values
                .iter()
                .find(|(name, _)| *name == variable)
                .map(|(_, value)| (*value).to_owned())
                .ok_or(VarError::NotPresent)
        };
        server
            .tenants(&source, &env)
            .map(|tenants| tenants.into_iter().map(|t| t.token).collect())
            .map_err(|problems| problems.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn tokens_are_trimmed() {
        assert_eq!(
            read(
                &[("acme", "ACME"), ("beta", "BETA")],
                &[("ACME", "  s3cret\n"), ("BETA", "\tother ")]
            ),
            Ok(vec!["s3cret".to_owned(), "other".to_owned()])
        );
    }

    #[test]
    fn unusable_tokens_are_refused_at_their_variable_without_the_value() {
        let refused = read(
            &[
                ("a", "A"),
                ("b", "B"),
                ("c", "C"),
                ("d", "D"),
                ("e", "E"),
                ("f", "F"),
            ],
            &[
                ("A", "   "),
                ("B", "two words"),
                ("C", "bell\u{7}"),
                ("D", " s3cret "),
                ("E", "s3cret"),
                ("F", "s3cr\u{e9}t"),
            ],
        )
        .unwrap_err();
        assert_eq!(
            refused,
            [
                "t.toml:4:13: tenant \"a\" reads its token from A, which is empty (or only whitespace)",
                "t.toml:7:13: tenant \"b\" reads its token from B, which holds whitespace or control \
                 characters inside the token: a bearer token is one word",
                "t.toml:10:13: tenant \"c\" reads its token from C, which holds whitespace or control \
                 characters inside the token: a bearer token is one word",
                "t.toml:16:13: tenant \"e\" reads from E the same token as tenant \"d\" has: give \
                 each tenant its own token",
                "t.toml:19:13: tenant \"f\" reads its token from F, which holds characters outside \
                 ASCII (HTTP headers carry only ASCII)",
            ]
        );
        assert!(!refused.concat().contains("s3cret") && !refused.concat().contains("words"));
        assert_eq!(
            read(&[("a", "A")], &[]).unwrap_err(),
            ["t.toml:4:13: tenant \"a\" reads its token from A, which is not set"]
        );
    }

    #[test]
    fn a_value_that_is_not_unicode_is_refused() {
        assert_eq!(
            read_token(Err(VarError::NotUnicode("x".into()))),
            Err(Some("does not hold UTF-8 text"))
        );
    }
}
