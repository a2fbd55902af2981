//! Errors of the core layer: one enum for provider failures ([`LlmError`]), one for stores
//! ([`StoreError`]), one for tools ([`ToolError`]), and [`RunError`] for a run as a whole.
//!
//! | file | what it holds |
//! |---|---|
//! | `llm.rs` | [`LlmError`] |
//! | `store.rs` | [`StoreError`] |
//! | `tool.rs` | [`ToolError`] |
//! | `run.rs` | [`RunError`], [`FailureKind`], [`GuardStage`], [`PanicSite`] |
//! | `config.rs` | [`ConfigError`] |

mod config;
mod llm;
mod run;
mod store;
mod tool;

pub use config::ConfigError;
pub use llm::LlmError;
pub use run::{FailureKind, GuardStage, PanicSite, RunError};
pub use store::StoreError;
pub use tool::ToolError;

/// A panic payload's message, when it was a string.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{RunId, ThreadId};
    use std::time::Duration;

    #[test]
    fn retryable_classification() {
        let status = |status| LlmError::Status {
            status,
            message: String::new(),
            retry_after: None,
        };
        for code in [408, 409, 429, 500, 502, 503, 529] {
            assert!(status(code).is_retryable(), "{code}");
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(!status(code).is_retryable(), "{code}");
        }
        assert!(LlmError::Timeout("idle".into()).is_retryable());
        assert!(!LlmError::MalformedStream("x".into()).is_retryable());
        assert!(!LlmError::Cancelled.is_retryable());
    }

    #[test]
    fn retry_after_hint_is_carried() {
        let err = LlmError::Status {
            status: 429,
            message: "slow down".into(),
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        let json = serde_json::to_string(&err).unwrap();
        assert_eq!(serde_json::from_str::<LlmError>(&json).unwrap(), err);
    }

    #[test]
    fn every_run_error_round_trips_through_json() {
        let run = RunId::new();
        let thread = ThreadId::new();
        let errors = [
            RunError::Cancelled,
            RunError::ConsumerGone,
            LlmError::Timeout("first byte".into()).into(),
            LlmError::Status {
                status: 429,
                message: "slow".into(),
                retry_after: Some(Duration::from_secs(2)),
            }
            .into(),
            RunError::MaxSteps { steps: 3 },
            RunError::Refused {
                guardrail: "g".into(),
                stage: GuardStage::Response,
                reason: "r".into(),
            },
            RunError::routing("no"),
            StoreError::Backend("disk full".into()).into(),
            StoreError::Corrupt("bad row".into()).into(),
            StoreError::ThreadBusy {
                thread,
                holder: run,
            }
            .into(),
            StoreError::LeaseLost { run }.into(),
            ToolError::failed("broken").into(),
            RunError::Panicked {
                site: PanicSite::Store,
                message: "boom".into(),
            },
            RunError::Lost {
                reason: "gone".into(),
            },
            RunError::invalid("bad"),
        ];
        for error in errors {
            let json = serde_json::to_string(&error).unwrap();
            assert_eq!(
                serde_json::from_str::<RunError>(&json).unwrap(),
                error,
                "{json}"
            );
        }
        assert_eq!(
            serde_json::to_value(RunError::from(StoreError::Backend("disk full".into()))).unwrap(),
            serde_json::json!({"kind": "store", "error": {"kind": "backend", "detail": "disk full"}})
        );
    }

    #[test]
    fn messages_say_what_happened() {
        assert_eq!(
            RunError::MaxSteps { steps: 3 }.to_string(),
            "max steps exceeded: 3"
        );
        let refused = RunError::Refused {
            guardrail: "pii".into(),
            stage: GuardStage::Response,
            reason: "an email address".into(),
        };
        assert_eq!(
            refused.to_string(),
            "refused by guardrail pii (response): an email address"
        );
        assert_eq!(
            ToolError::UnknownTool {
                name: "nope".into()
            }
            .to_string(),
            "unknown tool \"nope\""
        );
    }
}
