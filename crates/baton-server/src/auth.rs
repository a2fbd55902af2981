//! Bearer-token authentication: which tenant is calling.

use crate::config::Tenant;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use baton_core::redact::Secret;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The tenant a request was authenticated as; handlers take it from the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub(crate) tenant: Arc<str>,
}

/// The tenant a run was started for: the server attaches it to every run it starts or
/// resumes, so the run's tools and guardrails know whom they act for
/// (`ctx.extension::<CallerTenant>()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerTenant(pub Arc<str>);

impl CallerTenant {
    /// The tenant's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// The tenants, each with the SHA-256 digest of its token.
///
/// Tokens are compared as digests: equal length whatever the token, so the comparison (done in
/// constant time, against every tenant) reveals neither a token's bytes nor its length.
///
/// The tokens themselves are held as [`Secret`]s for as long as the table lives, so that no
/// text this process writes (a log line, an error, a stored episode) can carry one.
#[derive(Debug)]
pub(crate) struct TenantTable {
    tenants: Vec<(Arc<str>, [u8; 32])>,
    _redacted: Vec<Secret>,
}

impl TenantTable {
    pub(crate) fn new(tenants: &[Tenant]) -> Self {
        Self {
            tenants: tenants
                .iter()
                .map(|t| (Arc::from(t.name.as_str()), digest(&t.token)))
                .collect(),
            _redacted: tenants
                .iter()
                .map(|t| Secret::new_unchecked(t.token.as_str()))
                .collect(),
        }
    }

    /// The tenant whose token is `token`, if any.
    pub(crate) fn authenticate(&self, token: &str) -> Option<Caller> {
        let presented = digest(token);
        let mut found = None;
        for (name, expected) in &self.tenants {
            let matches: bool = expected.ct_eq(&presented).into();
            if matches && found.is_none() {
                found = Some(Caller {
                    tenant: Arc::clone(name),
                });
            }
        }
        found
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Middleware around every route: a request under `/v1` gets through only with a known
/// bearer token (and its [`Caller`]), and 401 otherwise; other paths (probes, metrics) pass.
///
/// It runs before routing has any visible effect, so that without a token every request under
/// `/v1` gets the same 401, whether its path exists, its method fits or its body is readable:
/// 404 and 405 are answered only to a tenant.
pub(crate) async fn require_tenant(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    if !needs_token(request.uri().path()) {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token);
    let Some(token) = token else {
        return ApiError::unauthorized(
            "send the tenant's token as an `Authorization: Bearer <token>` header",
        )
        .into_response();
    };
    match state.tenants.authenticate(token) {
        Some(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        None => ApiError::unauthorized("the bearer token is not valid").into_response(),
    }
}

/// Whether `path` is part of the API, which needs a token: `/v1` and everything under it.
fn needs_token(path: &str) -> bool {
    path.strip_prefix("/v1")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The token of an `Authorization: Bearer <token>` value (the scheme is case-insensitive).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_their_own_tenant_only() {
        let table = TenantTable::new(&[Tenant::new("a", "token-a"), Tenant::new("b", "token-b")]);
        assert_eq!(table.authenticate("token-b").unwrap().tenant.as_ref(), "b");
        assert!(table.authenticate("token-").is_none());
        assert!(table.authenticate("").is_none());
    }

    #[test]
    fn tokens_are_redacted_while_the_table_lives() {
        let token = "tenant-token-5be1c0de";
        let table = TenantTable::new(&[Tenant::new("a", token)]);
        let line = format!("rejected {token}");
        assert_eq!(baton_core::redact::redact(&line), "rejected [redacted]");
        drop(table);
        assert_eq!(baton_core::redact::redact(&line), line);
    }

    #[test]
    fn everything_under_v1_needs_a_token_and_nothing_else_does() {
        for path in ["/v1", "/v1/", "/v1/threads", "/v1/no/such/route"] {
            assert!(needs_token(path), "{path}");
        }
        for path in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/v10",
            "/v1x/threads",
            "/",
        ] {
            assert!(!needs_token(path), "{path}");
        }
    }

    #[test]
    fn bearer_values_are_parsed_strictly() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }
}
