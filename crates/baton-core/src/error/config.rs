//! Invalid definitions.

use super::RunError;
use crate::ids::IdError;
use serde::{Deserialize, Serialize};

/// A definition is invalid: an agent, a tool registry, an option. Returned by builders, before
/// any run starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    /// A configuration error saying `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

impl From<IdError> for ConfigError {
    fn from(error: IdError) -> Self {
        Self(error.to_string())
    }
}

impl From<ConfigError> for RunError {
    fn from(error: ConfigError) -> Self {
        Self::Invalid { reason: error.0 }
    }
}
