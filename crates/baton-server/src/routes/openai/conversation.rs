//! From an OpenAI message list to a thread: the history, and the user message that is the
//! run's input.

use super::wire::{ChatMessage, Content};
use crate::error::ApiError;
use baton_core::llm::{Message, ToolCall};

/// A request's messages as Baton messages: everything before the last message (the history
/// to put on the new thread), and the last one, which must be the user's.
#[derive(Debug, PartialEq)]
pub(crate) struct Conversation {
    pub(crate) history: Vec<Message>,
    pub(crate) input: Message,
}

impl Conversation {
    pub(crate) fn from_wire(messages: Vec<ChatMessage>) -> Result<Self, ApiError> {
        if !matches!(messages.last(), Some(ChatMessage::User { .. })) {
            return Err(invalid(if messages.is_empty() {
                "messages must not be empty".to_owned()
            } else {
                "the last message must have the role \"user\"".to_owned()
            }));
        }
        let mut converted: Vec<Message> = Vec::with_capacity(messages.len());
        for (index, message) in messages.into_iter().enumerate() {
            let message = convert(message, &converted)
                .map_err(|reason| invalid(format!("messages[{index}]: {reason}")))?;
            converted.push(message);
        }
        let input = converted
            .pop()
            .ok_or_else(|| invalid("messages must not be empty".to_owned()))?;
        Ok(Self {
            history: converted,
            input,
        })
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::bad_request("invalid_request_error", message)
}

fn convert(message: ChatMessage, earlier: &[Message]) -> Result<Message, String> {
    Ok(match message {
        ChatMessage::System { content } | ChatMessage::Developer { content } => {
            Message::system(text(content)?)
        }
        ChatMessage::User { content } => Message::user(text(content)?),
        ChatMessage::Assistant {
            content,
            tool_calls,
        } => Message::assistant_calling(
            content.map(text).transpose()?.unwrap_or_default(),
            tool_calls
                .unwrap_or_default()
                .into_iter()
                .map(|call| ToolCall::new(call.id, call.function.name, call.function.arguments))
                .collect(),
        ),
        ChatMessage::Tool {
            tool_call_id,
            content,
        } => {
            // Baton's tool results carry the tool's name; OpenAI's carry only the call's id.
            let name = earlier
                .iter()
                .rev()
                .flat_map(Message::tool_calls)
                .find(|call| call.id == tool_call_id)
                .map(|call| call.name.clone())
                .ok_or_else(|| {
                    format!("tool_call_id {tool_call_id:?} answers no earlier assistant tool call")
                })?;
            Message::tool(tool_call_id, name, text(content)?, false)
        }
    })
}

/// The text of `content`; parts other than text are refused rather than silently dropped.
fn text(content: Content) -> Result<String, String> {
    match content {
        Content::Text(text) => Ok(text),
        Content::Parts(parts) => {
            let mut texts = Vec::with_capacity(parts.len());
            for part in parts {
                match (part.kind.as_str(), part.text) {
                    ("text", Some(text)) => texts.push(text),
                    ("text", None) => return Err("a text part has no \"text\"".into()),
                    (kind, _) => {
                        return Err(format!("content parts of type {kind:?} are not supported"));
                    }
                }
            }
            Ok(texts.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(messages: serde_json::Value) -> Result<Conversation, ApiError> {
        Conversation::from_wire(serde_json::from_value(messages).unwrap())
    }

    #[test]
    fn history_and_input_are_split_with_tool_names_recovered() {
        let conversation = parse(json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "assistant", "content": "Sunny."},
            {"role": "user", "content": "Thanks!"}
        ]))
        .unwrap();
        assert_eq!(conversation.input, Message::user("Thanks!"));
        assert_eq!(conversation.history.len(), 5);
        assert_eq!(conversation.history[0], Message::system("Be brief."));
        assert_eq!(
            conversation.history[3],
            Message::tool("c1", "weather", "sunny", false)
        );
    }

    #[test]
    fn conversations_that_do_not_end_with_the_user_are_refused() {
        let empty = parse(json!([])).unwrap_err();
        assert!(empty.message.contains("must not be empty"));
        let assistant_last = parse(json!([{"role": "assistant", "content": "hi"}])).unwrap_err();
        assert!(assistant_last.message.contains("role \"user\""));
        let orphan = parse(json!([
            {"role": "tool", "tool_call_id": "nope", "content": "x"},
            {"role": "user", "content": "hi"}
        ]))
        .unwrap_err();
        assert!(
            orphan.message.starts_with("messages[0]"),
            "{}",
            orphan.message
        );
        let image =
            parse(json!([{"role": "user", "content": [{"type": "image_url"}]}])).unwrap_err();
        assert!(image.message.contains("image_url"));
    }
}
