//! Identifiers: threads, runs and agent names.
//!
//! [`ThreadId`] and [`RunId`] are UUID v7 (time-ordered, so they sort by creation and index well
//! in databases). [`AgentName`] is a validated, cheaply cloneable name.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered identifier (UUID v7).
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID.
            #[must_use]
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| IdError::InvalidUuid {
                    kind: stringify!($name),
                    input: s.to_owned(),
                })
            }
        }
    };
}

uuid_id!(
    /// Identifies a conversation thread: the ordered messages of one conversation.
    ThreadId
);
uuid_id!(
    /// Identifies one run: one request to answer on a thread, across all agents it visits.
    RunId
);

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The string is not a UUID.
    #[error("{kind} must be a UUID, got {input:?}")]
    InvalidUuid {
        /// Which identifier was being parsed.
        kind: &'static str,
        /// The rejected input.
        input: String,
    },
    /// An agent name is empty, too long, or has characters outside `[a-z0-9_-]`.
    #[error(
        "agent name {input:?} is invalid: use 1 to {max} characters from a-z, 0-9, '_' and '-'",
        max = AgentName::MAX_LEN
    )]
    InvalidAgentName {
        /// The rejected input.
        input: String,
    },
}

/// The name of an agent: 1 to 64 characters from `[a-z0-9_-]`.
///
/// Names appear in tool names (`transfer_to_<name>`), URLs and logs, hence the narrow alphabet.
/// Cloning is a reference-count increment.
///
/// ```
/// use baton_core::ids::AgentName;
/// assert!(AgentName::new("billing").is_ok());
/// assert!(AgentName::new("Billing Team").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AgentName(Arc<str>);

impl AgentName {
    /// Longest accepted name, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Validates `name`.
    pub fn new(name: impl AsRef<str>) -> Result<Self, IdError> {
        let name = name.as_ref();
        let valid = !name.is_empty()
            && name.len() <= Self::MAX_LEN
            && name
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
        if valid {
            Ok(Self(Arc::from(name)))
        } else {
            Err(IdError::InvalidAgentName {
                input: name.to_owned(),
            })
        }
    }

    /// The name as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AgentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl FromStr for AgentName {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for AgentName {
    type Error = IdError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl std::borrow::Borrow<str> for AgentName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for AgentName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for AgentName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::new(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_round_trip_through_display_and_json() {
        let thread = ThreadId::new();
        assert_eq!(thread.as_uuid().get_version_num(), 7);
        assert_eq!(thread.to_string().parse::<ThreadId>().unwrap(), thread);
        let json = serde_json::to_string(&thread).unwrap();
        assert_eq!(serde_json::from_str::<ThreadId>(&json).unwrap(), thread);

        let run = RunId::new();
        assert_eq!(run.to_string().parse::<RunId>().unwrap(), run);
        assert!(RunId::new() > run, "v7 ids are time-ordered");
    }

    #[test]
    fn malformed_ids_are_typed_errors() {
        let err = "not-a-uuid".parse::<RunId>().unwrap_err();
        assert_eq!(
            err,
            IdError::InvalidUuid {
                kind: "RunId",
                input: "not-a-uuid".into()
            }
        );
        assert!(err.to_string().contains("RunId must be a UUID"));
    }

    #[test]
    fn agent_names_are_validated() {
        for ok in ["a", "billing", "tier-2_support", "x1"] {
            assert_eq!(AgentName::new(ok).unwrap().as_str(), ok);
        }
        let too_long = "a".repeat(AgentName::MAX_LEN + 1);
        for bad in [
            "",
            "Billing",
            "with space",
            "ünïcode",
            "a/b",
            too_long.as_str(),
        ] {
            assert!(
                matches!(AgentName::new(bad), Err(IdError::InvalidAgentName { .. })),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn agent_names_are_validated_when_deserialized() {
        let name: AgentName = serde_json::from_str("\"triage\"").unwrap();
        assert_eq!(name.as_str(), "triage");
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"triage\"");
        let err = serde_json::from_str::<AgentName>("\"Not Valid\"").unwrap_err();
        assert!(err.to_string().contains("is invalid"), "{err}");
    }
}
