//! `http_get`: fetches a URL, from an allowlist of hosts, with a size limit and a timeout.

use baton_core::context::ToolContext;
use baton_core::error::ToolError;
use baton_core::tool::Tool;
use reqwest::Url;
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// Most redirects followed (each to an allowed host).
const MAX_REDIRECTS: usize = 5;

/// How much of an error response's body a failed call shows.
const ERROR_BODY_CHARS: usize = 200;

/// What an [`HttpGet`] may fetch and how much.
///
/// ```
/// use baton_topology::tools::HttpGetConfig;
/// use std::time::Duration;
///
/// let config = HttpGetConfig::new(["docs.rs", "*.wikipedia.org"])
///     .with_max_bytes(256 * 1024)
///     .with_timeout(Duration::from_secs(5));
/// assert!(config.allows("en.wikipedia.org"));
/// assert!(!config.allows("example.com"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpGetConfig {
    /// Hosts that may be fetched: names or IP addresses (any port), or `*.example.com` for
    /// the subdomains of `example.com`. Compared without regard to case.
    pub allow_hosts: Vec<String>,
    /// Largest body returned (default 64 KiB); a larger one is an error.
    pub max_bytes: usize,
    /// How long a whole request may take, body included (default 10 s).
    pub timeout: Duration,
}

impl HttpGetConfig {
    /// Default [`max_bytes`](Self::max_bytes): 64 KiB.
    pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;
    /// Default [`timeout`](Self::timeout): 10 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A configuration allowing `hosts`, with the default limits.
    pub fn new(hosts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            allow_hosts: hosts
                .into_iter()
                .map(|h| h.into().trim().to_ascii_lowercase())
                .collect(),
            max_bytes: Self::DEFAULT_MAX_BYTES,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Sets [`max_bytes`](Self::max_bytes).
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Sets [`timeout`](Self::timeout).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether `host` may be fetched.
    #[must_use]
    pub fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.allow_hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix("*.") {
                Some(domain) => host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                None => *allowed == host,
            })
    }

    fn allows_url(&self, url: &Url) -> bool {
        url.host_str().is_some_and(|host| self.allows(host))
    }
}

/// Fetches a URL with `GET` and returns the body as text.
///
/// Only `http` and `https` URLs whose host is allowed are fetched, redirects included. A
/// body larger than the limit, a status other than 2xx, or a timeout is a tool error the
/// model sees.
#[derive(Debug, Clone)]
pub struct HttpGet {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    config: HttpGetConfig,
}

/// Arguments of [`HttpGet`].
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct HttpGetArgs {
    /// The absolute http or https URL to fetch.
    pub url: String,
}

/// The HTTP client of an [`HttpGet`] could not be created.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the HTTP client of http_get: {0}")]
pub struct HttpGetError(#[source] reqwest::Error);

impl HttpGet {
    /// A tool fetching what `config` allows.
    pub fn new(config: HttpGetConfig) -> Result<Self, HttpGetError> {
        let policy_config = config.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if policy_config.allows_url(attempt.url()) {
                attempt.follow()
            } else {
                let target = attempt.url().host_str().unwrap_or_default().to_owned();
                attempt.error(format!(
                    "redirect to {target}, which is not an allowed host"
                ))
            }
        });
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(redirects)
            .build()
            .map_err(HttpGetError)?;
        Ok(Self {
            inner: Arc::new(Inner { client, config }),
        })
    }

    /// What the tool may fetch.
    #[must_use]
    pub fn config(&self) -> &HttpGetConfig {
        &self.inner.config
    }

    async fn fetch(&self, url: &str) -> Result<String, ToolError> {
        let config = &self.inner.config;
        let url = Url::parse(url.trim())
            .map_err(|error| ToolError::failed(format!("invalid URL {url:?}: {error}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ToolError::failed(format!(
                "only http and https URLs can be fetched, not {}",
                url.scheme()
            )));
        }
        if !config.allows_url(&url) {
            return Err(ToolError::failed(format!(
                "{} is not an allowed host (allowed: {})",
                url.host_str().unwrap_or_default(),
                config.allow_hosts.join(", ")
            )));
        }
        let mut response = self
            .inner
            .client
            .get(url)
            .send()
            .await
            .map_err(|error| request_failed(&error))?;
        let too_large = || {
            ToolError::failed(format!(
                "the response is larger than the limit of {} bytes",
                config.max_bytes
            ))
        };
        if response
            .content_length()
            .is_some_and(|length| length > config.max_bytes as u64)
        {
            return Err(too_large());
        }
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| request_failed(&error))?
        {
            if body.len() + chunk.len() > config.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        if status.is_success() {
            Ok(text)
        } else {
            let shown: String = text.chars().take(ERROR_BODY_CHARS).collect();
            Err(ToolError::failed(format!("HTTP {status}: {shown}")))
        }
    }
}

/// A request error as the model should read it: what happened, with its cause.
fn request_failed(error: &reqwest::Error) -> ToolError {
    use std::error::Error as _;
    let mut message = if error.is_timeout() {
        "the request timed out".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ToolError::failed(message)
}

impl Tool for HttpGet {
    type Args = HttpGetArgs;

    fn name(&self) -> &str {
        "http_get"
    }

    fn description(&self) -> &str {
        "Fetches a web page or API response with HTTP GET and returns its body as text. Only \
         some hosts are allowed."
    }

    /// A GET only reads.
    fn read_only(&self) -> bool {
        true
    }

    async fn call(&self, args: HttpGetArgs, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        self.fetch(&args.url).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_exactly_or_as_subdomains() {
        let config = HttpGetConfig::new(["Example.com", "*.docs.rs", "127.0.0.1"]);
        assert!(config.allows("example.com"));
        assert!(config.allows("EXAMPLE.COM"));
        assert!(!config.allows("www.example.com"));
        assert!(config.allows("api.docs.rs"));
        assert!(config.allows("a.b.docs.rs"));
        assert!(!config.allows("docs.rs"));
        assert!(!config.allows("evildocs.rs"));
        assert!(config.allows("127.0.0.1"));
        assert!(!config.allows("127.0.0.2"));
    }
}
