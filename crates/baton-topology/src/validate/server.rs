//! The `[server]` section: its address, limits, timeouts, approval sweep and tenants.

use super::{Validator, is_env_name};
use crate::error::ProblemKind;
use crate::limits;
use crate::raw::{RawServer, RawTenant};
use crate::server::{ServerDef, TenantDef};
use std::collections::{HashMap, HashSet};

impl Validator<'_> {
    /// The `[server]` section: each setting checked at its key, unset ones left to the server.
    pub(super) fn server(&mut self, raw: RawServer) -> ServerDef {
        let mut server = ServerDef::default();
        if let Some(bind) = &raw.bind {
            match bind.get_ref().parse() {
                Ok(address) => server.bind = Some(address),
                Err(_) => self.report(
                    &bind.span(),
                    ProblemKind::InvalidValue(format!(
                        "bind {:?} is not an address with a port, such as \"127.0.0.1:8080\"",
                        bind.get_ref()
                    )),
                ),
            }
        }
        if let Some(max) = &raw.max_body_bytes {
            if *max.get_ref() == 0 {
                self.report(
                    &max.span(),
                    ProblemKind::InvalidValue("max_body_bytes must be at least 1".into()),
                );
            } else {
                self.in_range("max_body_bytes", max, &limits::MAX_BODY_BYTES);
            }
            server.max_body_bytes = Some(*max.get_ref());
        }
        if let Some(max) = &raw.max_connections {
            self.in_range("max_connections", max, &limits::MAX_CONNECTIONS);
            server.max_connections = Some(*max.get_ref());
        }
        let durations = [
            (
                "shutdown_grace",
                &raw.shutdown_grace,
                &limits::SHUTDOWN_GRACE,
                &mut server.shutdown_grace,
            ),
            (
                "header_read_timeout",
                &raw.header_read_timeout,
                &limits::TIMEOUT,
                &mut server.header_read_timeout,
            ),
            (
                "idle_timeout",
                &raw.idle_timeout,
                &limits::TIMEOUT,
                &mut server.idle_timeout,
            ),
            (
                "body_read_timeout",
                &raw.body_read_timeout,
                &limits::TIMEOUT,
                &mut server.body_read_timeout,
            ),
            (
                "approval_sweep",
                &raw.approval_sweep,
                &limits::APPROVAL_SWEEP,
                &mut server.approval_sweep,
            ),
        ];
        for (key, value, range, setting) in durations {
            if let Some(value) = value {
                *setting = Some(self.duration(key, value, range));
            }
        }
        server.tenants = self.tenants(raw.tenants);
        server
    }

    /// The tenants, each with a valid, distinct name and a variable of its own.
    fn tenants(&mut self, raw: Vec<RawTenant>) -> Vec<TenantDef> {
        let mut tenants: Vec<TenantDef> = Vec::with_capacity(raw.len());
        let mut names: HashSet<String> = HashSet::new();
        // Each variable and the tenant that reads it first.
        let mut readers: HashMap<String, String> = HashMap::new();
        for tenant in raw {
            let name = tenant.name.get_ref();
            let owner = format!("tenant {name:?}");
            if let Some(token) = &tenant.token {
                self.report(
                    &token.span(),
                    ProblemKind::InlineSecret {
                        owner: owner.clone(),
                        field: "token",
                    },
                );
            }
            if !is_tenant_name(name) {
                self.report(
                    &tenant.name.span(),
                    ProblemKind::InvalidValue(format!(
                        "tenant name {name:?} is invalid: a tenant needs a name (its threads \
                         belong to it), without whitespace around it or control characters"
                    )),
                );
            } else if !names.insert(name.clone()) {
                self.report(
                    &tenant.name.span(),
                    ProblemKind::InvalidValue(format!("{owner} is defined twice")),
                );
            }
            match tenant.token_env {
                Some(variable) if is_env_name(variable.get_ref()) => {
                    if let Some(first) = readers.get(variable.get_ref()) {
                        self.report(
                            &variable.span(),
                            ProblemKind::InvalidValue(format!(
                                "{owner} reads its token from {}, as tenant {first:?} does: \
                                 give each tenant a variable of its own (two tenants with one \
                                 token cannot be told apart)",
                                variable.get_ref()
                            )),
                        );
                    } else {
                        readers.insert(variable.get_ref().clone(), name.clone());
                    }
                    tenants.push(TenantDef {
                        name: tenant.name.into_inner(),
                        token_env_span: variable.span(),
                        token_env: variable.into_inner(),
                    });
                }
                Some(variable) => self.report(
                    &variable.span(),
                    ProblemKind::InvalidValue(format!(
                        "token_env {:?} is not an environment variable name (use A-Z, 0-9 and '_')",
                        variable.get_ref()
                    )),
                ),
                // An inline token was already reported, with the advice to use token_env.
                None if tenant.token.is_some() => {}
                None => self.report(
                    &tenant.name.span(),
                    ProblemKind::Missing {
                        owner,
                        field: "token_env, the environment variable that holds its bearer token"
                            .into(),
                    },
                ),
            }
        }
        tenants
    }
}

/// Whether `name` can name a tenant: not empty, no whitespace around it, no control
/// characters (`baton-server` refuses blank names; the rest would be invisible in logs).
fn is_tenant_name(name: &str) -> bool {
    !name.trim().is_empty() && name.trim() == name && !name.contains(char::is_control)
}
