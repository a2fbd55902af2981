//! Rows to and from baton-core's types: messages and episodes are stored as their JSON text.

use baton_core::error::StoreError;
use baton_core::llm::Message;
use baton_core::memory::{Episode, EpisodeRecord, now_ms};
use std::sync::Arc;

/// A row that does not decode: the data is not what this store writes.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// The JSON text of a message.
pub(crate) fn encode_message(message: &Message) -> Result<String, StoreError> {
    serde_json::to_string(message)
        .map_err(|e| StoreError::Backend(format!("cannot encode a message as JSON: {e}")))
}

/// A message from its stored JSON text; `thread` and `seq` say where it was found.
pub(crate) fn decode_message(
    body: &str,
    thread: impl std::fmt::Display,
    seq: i64,
) -> Result<Arc<Message>, StoreError> {
    serde_json::from_str(body)
        .map(Arc::new)
        .map_err(|e| corrupt(format_args!("message {seq} of thread {thread}: {e}")))
}

/// An episode as the columns of its row.
#[derive(Debug, Clone)]
pub(crate) struct EpisodeRow {
    /// The episode's `type` tag (`"step_completed"`, …), kept apart for queries and humans.
    pub(crate) kind: String,
    /// The step a `StepCompleted` episode completes: how a commit finds its step committed
    /// when the thread's row does not tell (see the engine's `threads::extend`).
    pub(crate) completes_step: Option<i64>,
    /// Whether the episode ends the run.
    pub(crate) terminal: bool,
    /// The episode's JSON text.
    pub(crate) body: String,
    /// When it was recorded, in milliseconds since the Unix epoch.
    pub(crate) at_ms: i64,
}

impl EpisodeRow {
    /// The row of `episode`, stamped now.
    pub(crate) fn new(episode: &Episode) -> Result<Self, StoreError> {
        let encode_error =
            |e: serde_json::Error| StoreError::Backend(format!("cannot encode an episode: {e}"));
        let value = serde_json::to_value(episode).map_err(encode_error)?;
        let kind = value
            .get("type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let body = serde_json::to_string(&value).map_err(encode_error)?;
        let completes_step = match episode {
            Episode::StepCompleted { step, .. } => Some(i64::from(*step)),
            _ => None,
        };
        Ok(Self {
            kind,
            completes_step,
            terminal: episode.is_terminal(),
            body,
            at_ms: to_sql_int(now_ms()),
        })
    }
}

impl EpisodeRow {
    /// The row as the JSON array a carried write holds: `[at_ms, kind, completes_step,
    /// terminal, body]` (see the SQLite migration `0005_one_statement_writes`).
    pub(crate) fn as_json(&self) -> serde_json::Value {
        serde_json::json!([
            self.at_ms,
            self.kind,
            self.completes_step,
            i64::from(self.terminal),
            self.body
        ])
    }
}

/// An episode record from its stored columns.
pub(crate) fn decode_episode(
    seq: i64,
    at_ms: i64,
    body: &str,
    run: impl std::fmt::Display,
) -> Result<EpisodeRecord, StoreError> {
    let episode = serde_json::from_str(body)
        .map_err(|e| corrupt(format_args!("episode {seq} of run {run}: {e}")))?;
    Ok(EpisodeRecord::new(
        from_sql_int(seq, "episode sequence number")?,
        from_sql_int(at_ms, "episode timestamp")?,
        episode,
    ))
}

/// A count or position as the signed 64-bit integer SQL stores. Values past `i64::MAX` (which no
/// thread reaches) saturate, so a comparison with them fails as it should.
pub(crate) fn to_sql_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A count or position read back; a negative one means the row was not written by this store.
pub(crate) fn from_sql_int(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(format_args!("{what} is negative: {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::error::FailureKind;

    #[test]
    fn a_failure_round_trips_with_its_kind() {
        let failed = Episode::Failed {
            kind: FailureKind::MaxSteps,
            message: "max steps exceeded: 5".into(),
        };
        let row = EpisodeRow::new(&failed).expect("encode");
        assert_eq!(row.kind, "failed");
        assert!(row.terminal);
        assert_eq!(row.completes_step, None);
        let record = decode_episode(3, row.at_ms, &row.body, "run").expect("decode");
        assert_eq!((record.seq, record.episode), (3, failed));
    }

    #[test]
    fn a_failure_logged_before_kinds_were_kept_reads_back() {
        let body = r#"{"type":"failed","error":"run cancelled"}"#;
        let record = decode_episode(0, 0, body, "run").expect("decode");
        assert_eq!(
            record.episode,
            Episode::Failed {
                kind: FailureKind::Other,
                message: "run cancelled".into()
            }
        );
    }
}
