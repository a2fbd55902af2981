//! The model of one agent: the chunks answering a request, from the first turn that holds.

use super::Turn;
use super::seen::Seen;
use baton_core::error::LlmError;
use baton_core::llm::{ChatChunk, ChatRequest, FinishReason, LlmProvider, ToolCallDelta, Usage};
use baton_testkit::{Script, ScriptedProvider};
use std::sync::Arc;
use std::time::Duration;

/// The model of one agent: its turns.
#[derive(Debug, Clone)]
pub(crate) struct ScriptedModel {
    pub(crate) agent: String,
    pub(crate) turns: Arc<[Turn]>,
}

impl ScriptedModel {
    /// A provider answering with this model, `chunk_delay` between streamed chunks.
    pub(crate) fn into_provider(self, chunk_delay: Duration) -> Arc<dyn LlmProvider> {
        let provider = ScriptedProvider::from_fn(move |request| match self.respond(request) {
            Ok(chunks) if chunk_delay.is_zero() => Script::chunks(chunks),
            Ok(chunks) => Script::chunks(chunks).with_chunk_delay(chunk_delay),
            Err(error) => Script::error(error),
        })
        .without_recording();
        Arc::new(provider)
    }

    /// The chunks answering `request`, or why no turn applies.
    pub(crate) fn respond(&self, request: &ChatRequest) -> Result<Vec<ChatChunk>, LlmError> {
        let seen = Seen::new(&self.agent, &request.messages);
        let turn = self
            .turns
            .iter()
            .find(|turn| turn.when.holds(&seen))
            .ok_or_else(|| {
                LlmError::InvalidRequest(format!(
                    "no scripted turn of agent {} applies to its call {} (last user message: {:?})",
                    self.agent, seen.call, seen.user
                ))
            })?;
        let mut chunks = Vec::new();
        let mut output_bytes = 0;
        if let Some(text) = &turn.text {
            let text = seen.render(text);
            output_bytes += text.len();
            chunks.extend(text.split_inclusive(' ').map(ChatChunk::text));
        }
        for (index, call) in turn.calls.iter().enumerate() {
            let arguments = seen.render_json(&call.arguments).to_string();
            output_bytes += call.tool.len() + arguments.len();
            chunks.push(ChatChunk::ToolCall(ToolCallDelta {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                id: Some(format!("call_{}_{}", seen.call, index + 1)),
                name: Some(call.tool.clone()),
                arguments,
            }));
        }
        let input_bytes: usize = request
            .messages
            .iter()
            .map(|m| {
                m.content().len()
                    + m.tool_calls()
                        .iter()
                        .map(|c| c.name.len() + c.arguments.len())
                        .sum::<usize>()
            })
            .sum();
        chunks.push(ChatChunk::usage(Usage::new(
            estimate_tokens(input_bytes),
            estimate_tokens(output_bytes),
        )));
        chunks.push(ChatChunk::finish(if turn.calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        }));
        Ok(chunks)
    }
}

/// Tokens of `bytes` of English text, roughly (four bytes a token).
fn estimate_tokens(bytes: usize) -> u64 {
    u64::try_from(bytes.div_ceil(4)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripted::{ScriptedCall, When};
    use baton_core::llm::Message;
    use baton_core::llm::{ResponseAssembler, ToolCall};
    use serde_json::json;

    fn model(turns: Vec<Turn>) -> ScriptedModel {
        ScriptedModel {
            agent: "billing".into(),
            turns: turns.into(),
        }
    }

    fn answer(model: &ScriptedModel, messages: Vec<Message>) -> Message {
        let request = ChatRequest::new(messages.into_iter().map(Arc::new).collect());
        let mut assembler = ResponseAssembler::new(usize::MAX);
        for chunk in model.respond(&request).unwrap() {
            assembler.push(&chunk).unwrap();
        }
        assembler.finish().unwrap().message
    }

    fn text(text: &str, when: When) -> Turn {
        Turn {
            when,
            text: Some(text.into()),
            calls: Vec::new(),
        }
    }

    fn tool_message(id: &str, name: &str, content: &str) -> Message {
        Message::tool_result(&ToolCall::new(id, name, "{}"), content)
    }

    #[test]
    fn calls_are_counted_from_the_last_user_message_or_the_handoff_to_the_agent() {
        let turns = vec![
            text(
                "first",
                When {
                    call: Some(1),
                    ..When::default()
                },
            ),
            text(
                "second",
                When {
                    call: Some(2),
                    ..When::default()
                },
            ),
        ];
        let model = model(turns);
        let handoff = ToolCall::new("c1", "transfer_to_billing", r#"{"reason":"x"}"#);
        let lookup = ToolCall::new("c2", "lookup", "{}");
        let history = vec![
            Message::user("hi"),
            Message::assistant_calling("", vec![handoff.clone()]),
            Message::tool_result(&handoff, "transferred to billing"),
        ];
        assert_eq!(answer(&model, history.clone()).content(), "first");
        let mut later = history;
        later.push(Message::assistant_calling("", vec![lookup.clone()]));
        later.push(Message::tool_result(&lookup, "found"));
        assert_eq!(answer(&model, later.clone()).content(), "second");
        later.push(Message::assistant("second"));
        later.push(Message::user("again"));
        assert_eq!(answer(&model, later).content(), "first");
    }

    #[test]
    fn conditions_match_user_text_and_latest_tool_results() {
        let model = model(vec![
            text(
                "refund",
                When {
                    user_contains: vec!["twice".into(), "double".into()],
                    after_tool: Some("lookup".into()),
                    result_contains: vec!["duplicate".into()],
                    ..When::default()
                },
            ),
            text("fallback", When::default()),
        ]);
        let with = |user: &str, result: &str| {
            vec![
                Message::user(user),
                Message::assistant_calling("", vec![ToolCall::new("c", "lookup", "{}")]),
                tool_message("c", "lookup", result),
            ]
        };
        assert_eq!(
            answer(&model, with("Charged TWICE!", "DUPLICATE payment")).content(),
            "refund"
        );
        assert_eq!(
            answer(&model, with("charged once", "duplicate")).content(),
            "fallback"
        );
        assert_eq!(
            answer(&model, with("twice", "paid once")).content(),
            "fallback"
        );
        assert_eq!(
            answer(&model, vec![Message::user("twice")]).content(),
            "fallback"
        );
    }

    #[test]
    fn placeholders_quote_what_the_model_has_seen() {
        let order = r#"{"order":"A-1042","total":"49.90 EUR","payments":["p1","p2"],"n":2}"#;
        let model = model(vec![Turn {
            when: When::default(),
            text: Some(
                "You said {{user}}. Total {{result.total}}, second {{tool.lookup.payments.1}}, \
                 n={{result.n}}, {{tool.time}}, {{tool.missing}} {{result.nope}}"
                    .into(),
            ),
            calls: vec![ScriptedCall {
                tool: "refund".into(),
                arguments: json!({"order": "{{result.order}}", "amount": 1, "all": ["{{result.total}}"]}),
            }],
        }]);
        let message = answer(
            &model,
            vec![
                Message::user("help"),
                Message::assistant_calling(
                    "",
                    vec![
                        ToolCall::new("a", "lookup", "{}"),
                        ToolCall::new("b", "time", "{}"),
                    ],
                ),
                tool_message("a", "lookup", order),
                tool_message("b", "time", "2026-05-01T09:30:00Z"),
            ],
        );
        assert_eq!(
            message.content(),
            "You said help. Total 49.90 EUR, second p2, n=2, 2026-05-01T09:30:00Z, \
             {{tool.missing}} {{result.nope}}"
        );
        let call = &message.tool_calls()[0];
        assert_eq!(call.name, "refund");
        let arguments: serde_json::Value = serde_json::from_str(&call.arguments).unwrap();
        assert_eq!(
            arguments,
            json!({"order": "A-1042", "amount": 1, "all": ["49.90 EUR"]})
        );
    }

    #[test]
    fn no_applicable_turn_is_an_invalid_request() {
        let model = model(vec![text(
            "only first",
            When {
                call: Some(1),
                ..When::default()
            },
        )]);
        let messages = vec![
            Arc::new(Message::user("hi")),
            Arc::new(Message::assistant("only first")),
        ];
        let error = model.respond(&ChatRequest::new(messages)).unwrap_err();
        assert_eq!(
            error,
            LlmError::InvalidRequest(
                "no scripted turn of agent billing applies to its call 2 (last user message: \"hi\")"
                    .into()
            )
        );
    }
}
