use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions to the model.
    System,
    /// The person (or service) the agent works for.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call.
    Tool,
}

/// A call the model asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCall {
    /// The provider's id for the call; the tool result refers to it.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as the JSON text the model produced. Kept as text, not parsed, because a
    /// model can produce malformed JSON and the thread must hold what it actually said.
    pub arguments: String,
}

impl ToolCall {
    /// A tool call.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }
}

/// One message of a conversation.
///
/// Each variant is `#[non_exhaustive]`: a message gains fields (images, reasoning, cache hints)
/// without breaking code that reads it. Build messages with the constructors
/// ([`Message::user`], [`Message::assistant_calling`], …) and match them with `..`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    /// Instructions to the model.
    #[non_exhaustive]
    System {
        /// The instructions.
        content: String,
    },
    /// Input from the user.
    #[non_exhaustive]
    User {
        /// The text.
        content: String,
    },
    /// A model response: text, tool calls, or both.
    #[non_exhaustive]
    Assistant {
        /// The text (may be empty when the model only calls tools).
        content: String,
        /// Tool calls, in the order the model made them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// The result of one tool call.
    #[non_exhaustive]
    Tool {
        /// The id of the call this answers.
        tool_call_id: String,
        /// The tool's name.
        name: String,
        /// The result (or `"error: …"`).
        content: String,
        /// Whether the call failed.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::System {
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::User {
            content: content.into(),
        }
    }

    /// An assistant message with text only.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::Assistant {
            content: content.into(),
            tool_calls: Vec::new(),
        }
    }

    /// An assistant message with text (possibly empty) and tool calls.
    pub fn assistant_calling(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Self::Assistant {
            content: content.into(),
            tool_calls,
        }
    }

    /// The result of the call with id `tool_call_id` to tool `name`, failed or not; the text is
    /// taken as it is (see [`Message::tool_error`] for results that quote an error).
    pub fn tool(
        tool_call_id: impl Into<String>,
        name: impl Into<String>,
        content: impl Into<String>,
        is_error: bool,
    ) -> Self {
        Self::Tool {
            tool_call_id: tool_call_id.into(),
            name: name.into(),
            content: content.into(),
            is_error,
        }
    }

    /// A successful tool result.
    pub fn tool_result(call: &ToolCall, content: impl Into<String>) -> Self {
        Self::Tool {
            tool_call_id: call.id.clone(),
            name: call.name.clone(),
            content: content.into(),
            is_error: false,
        }
    }

    /// A failed tool result; the model sees `"error: <error>"`.
    ///
    /// The error's text is [redacted](crate::redact): a tool's error may quote a credential
    /// it was given, and this message goes to the model, the thread and the events.
    pub fn tool_error(call: &ToolCall, error: impl std::fmt::Display) -> Self {
        let mut content = format!("error: {error}");
        crate::redact::redact_string(&mut content);
        Self::Tool {
            tool_call_id: call.id.clone(),
            name: call.name.clone(),
            content,
            is_error: true,
        }
    }

    /// Who wrote the message.
    #[must_use]
    pub const fn role(&self) -> Role {
        match self {
            Self::System { .. } => Role::System,
            Self::User { .. } => Role::User,
            Self::Assistant { .. } => Role::Assistant,
            Self::Tool { .. } => Role::Tool,
        }
    }

    /// The text content.
    #[must_use]
    pub fn content(&self) -> &str {
        match self {
            Self::System { content }
            | Self::User { content }
            | Self::Assistant { content, .. }
            | Self::Tool { content, .. } => content,
        }
    }

    /// The tool calls of an assistant message (empty for other roles).
    #[must_use]
    pub fn tool_calls(&self) -> &[ToolCall] {
        match self {
            Self::Assistant { tool_calls, .. } => tool_calls,
            _ => &[],
        }
    }
}

impl From<&str> for Message {
    /// A user message.
    fn from(text: &str) -> Self {
        Self::user(text)
    }
}

impl From<String> for Message {
    /// A user message.
    fn from(text: String) -> Self {
        Self::user(text)
    }
}
