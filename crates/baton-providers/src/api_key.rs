//! The API key a provider authenticates with: kept secret from every text Baton writes.

use baton_core::redact::{Secret, SecretError};
use std::fmt;

/// An API key. It never appears in `Debug` output, logs or errors, and its memory is wiped
/// when it is dropped.
///
/// The key is a [`Secret`]: while it lives, [`baton_core::redact`] removes it from every
/// text Baton writes, so a server echoing it back in an error cannot make it leak. A key
/// outside visible ASCII (a stray space, a non-breaking space, a character from a copied
/// web page) is refused when the provider is built: [`ConfigError::InvalidApiKey`](crate::ConfigError::InvalidApiKey).
///
/// ```
/// use baton_providers::ApiKey;
///
/// let key = ApiKey::new("sk-very-secret");
/// assert_eq!(format!("{key:?}"), "ApiKey([redacted])");
/// ```
#[derive(Clone)]
pub struct ApiKey(Secret);

impl ApiKey {
    /// Wraps `key`. It is checked when a provider is built with it.
    pub fn new(key: impl Into<String>) -> Self {
        Self(Secret::new_unchecked(key))
    }

    /// The key itself, for the one place that puts it in a request header.
    pub(crate) fn expose(&self) -> &str {
        self.0.expose()
    }

    /// Whether the key can be sent as is.
    pub(crate) fn check(&self) -> Result<(), SecretError> {
        self.0.check()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self::new(key)
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self::new(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_is_redacted_in_debug_and_text() {
        let key = ApiKey::new("live-key-123456");
        assert_eq!(format!("{key:?}"), "ApiKey([redacted])");
        assert_eq!(
            baton_core::redact::redact("Incorrect API key provided: live-key-123456."),
            "Incorrect API key provided: [redacted]."
        );
    }
}
