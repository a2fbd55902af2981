//! The streamable HTTP transport's configuration, with header values read from the environment.

use crate::error::McpError;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use std::collections::HashMap;

/// The transport configuration for `url`, with each `(header, variable)` of `headers` sent as
/// `header: $variable`. An `Authorization: Bearer …` value becomes rmcp's bearer token.
pub(crate) fn transport_config(
    server: &str,
    url: &str,
    headers: &[(String, String)],
) -> Result<StreamableHttpClientTransportConfig, McpError> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    let mut custom = HashMap::new();
    for (header, variable) in headers {
        let error = |reason: String| McpError::Header {
            server: server.to_owned(),
            header: header.clone(),
            variable: variable.clone(),
            reason,
        };
        let value = std::env::var(variable).map_err(|e| error(e.to_string()))?;
        let name = http::HeaderName::try_from(header.as_str()).map_err(|e| error(e.to_string()))?;
        if name == http::header::AUTHORIZATION
            && let Some(token) = value.strip_prefix("Bearer ")
        {
            config.auth_header = Some(token.to_owned());
            continue;
        }
        let mut value = http::HeaderValue::try_from(value)
            .map_err(|_| error("not a valid header value".into()))?;
        value.set_sensitive(true);
        custom.insert(name, value);
    }
    config.custom_headers = custom;
    Ok(config)
}
