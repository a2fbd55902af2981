//! An MCP tool result as the text of a Baton tool result.

use baton_core::error::ToolError;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

/// The text of `result`: its text blocks joined by newlines (other blocks as their JSON), then
/// its structured content as JSON text unless a text block already holds that same JSON (or
/// the string a `{"result": "…"}` wraps).
/// `isError: true` becomes [`ToolError::Failed`] with that text.
pub(crate) fn call_result_text(result: CallToolResult) -> Result<String, ToolError> {
    let mut parts: Vec<String> = result.content.iter().map(block_text).collect();
    if let Some(structured) = &result.structured_content {
        let already_there = parts.iter().any(|part| {
            serde_json::from_str::<serde_json::Value>(part).is_ok_and(|v| &v == structured)
                || wrapped_text(structured) == Some(part.as_str())
        });
        if !already_there {
            parts.push(structured.to_string());
        }
    }
    let text = parts.join("\n");
    if result.is_error == Some(true) {
        let message = if text.is_empty() {
            "the tool reported an error without a message".to_owned()
        } else {
            text
        };
        return Err(ToolError::failed(message));
    }
    Ok(text)
}

/// The text of a wrapped primitive result, `{"result": "…"}`, as SDKs send for tools that
/// return a string: the text block already says it.
fn wrapped_text(structured: &serde_json::Value) -> Option<&str> {
    let object = structured.as_object()?;
    match (object.len(), object.get("result")) {
        (1, Some(serde_json::Value::String(text))) => Some(text),
        _ => None,
    }
}

fn block_text(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Resource(resource) => match &resource.resource {
            ResourceContents::TextResourceContents { text, .. } => text.clone(),
            other => serde_json::to_string(other).unwrap_or_default(),
        },
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(value: serde_json::Value) -> CallToolResult {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn text_blocks_are_joined_and_structured_content_is_added_once() {
        let text = call_result_text(result(json!({
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            "structuredContent": {"n": 1}
        })))
        .unwrap();
        assert_eq!(text, "a\nb\n{\"n\":1}");
        let same = call_result_text(result(json!({
            "content": [{"type": "text", "text": "{\"n\": 1}"}],
            "structuredContent": {"n": 1}
        })))
        .unwrap();
        assert_eq!(same, "{\"n\": 1}");
        let wrapped = call_result_text(result(json!({
            "content": [{"type": "text", "text": "slept"}],
            "structuredContent": {"result": "slept"}
        })))
        .unwrap();
        assert_eq!(wrapped, "slept");
    }

    #[test]
    fn an_error_result_is_a_failed_tool_with_the_servers_text() {
        let error = call_result_text(result(json!({
            "content": [{"type": "text", "text": "no such file"}],
            "isError": true
        })))
        .unwrap_err();
        assert_eq!(error.to_string(), "no such file");
    }
}
