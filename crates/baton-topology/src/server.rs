//! The `[server]` section: where a topology is served and who may call it.

use crate::error::{Problem, ProblemKind};
use crate::source::Source;
use std::collections::HashMap;
use std::env::VarError;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

/// The `[server]` section as validated: settings the file leaves out are `None` (the
/// server's defaults), tokens are still environment variable names.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerDef {
    pub(crate) bind: Option<SocketAddr>,
    pub(crate) max_body_bytes: Option<usize>,
    pub(crate) shutdown_grace: Option<Duration>,
    pub(crate) header_read_timeout: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) body_read_timeout: Option<Duration>,
    pub(crate) max_connections: Option<usize>,
    /// Zero turns the sweep off, as it does in `baton-server`.
    pub(crate) approval_sweep: Option<Duration>,
    pub(crate) tenants: Vec<TenantDef>,
}

/// A tenant's name and the bearer token read for it. Never shown: it has no `Debug`.
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) struct Credential {
    pub(crate) tenant: String,
    pub(crate) token: String,
}

#[cfg(feature = "server")]
impl ServerDef {
    /// The server's configuration: `baton-server`'s defaults, with what the file sets and
    /// the tenants' tokens.
    pub(crate) fn config(&self, credentials: Vec<Credential>) -> baton_server::ServerConfig {
        let tenants = credentials
            .into_iter()
            .map(|credential| baton_server::Tenant::new(credential.tenant, credential.token))
            .collect();
        let mut config = baton_server::ServerConfig::new(tenants);
        let Self {
            bind,
            max_body_bytes,
            shutdown_grace,
            header_read_timeout,
            idle_timeout,
            body_read_timeout,
            max_connections,
            approval_sweep,
            tenants: _,
        } = *self;
        config.bind = bind.unwrap_or(config.bind);
        config.max_body_bytes = max_body_bytes.unwrap_or(config.max_body_bytes);
        config.shutdown_grace = shutdown_grace.unwrap_or(config.shutdown_grace);
        config.header_read_timeout = header_read_timeout.unwrap_or(config.header_read_timeout);
        config.idle_timeout = idle_timeout.unwrap_or(config.idle_timeout);
        config.body_read_timeout = body_read_timeout.unwrap_or(config.body_read_timeout);
        config.max_connections = max_connections.unwrap_or(config.max_connections);
        config.approval_sweep = approval_sweep.or(config.approval_sweep);
        config
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
    ) -> Result<Vec<Credential>, Vec<Problem>> {
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
            tenants.push(Credential {
                tenant: tenant.name.clone(),
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
