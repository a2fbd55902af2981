use super::*;
use crate::context::{RunContext, ToolContext};
use crate::llm::{Message, ToolCall};
use serde::Deserialize;
use std::time::Duration;

struct Echo;

#[derive(Deserialize, JsonSchema)]
struct EchoArgs {
    /// Text to echo back.
    text: String,
    /// How many times.
    #[serde(default)]
    times: Option<u32>,
}

impl Tool for Echo {
    type Args = EchoArgs;
    fn name(&self) -> &str {
        "echo"
    }
    fn description(&self) -> &str {
        "Echoes text."
    }
    async fn call(&self, args: EchoArgs, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        match args.text.as_str() {
            "panic" => panic!("echo was asked to panic"),
            "fail" => Err(ToolError::failed("cannot echo that")),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok("late".into())
            }
            text => Ok(text.repeat(args.times.unwrap_or(1) as usize)),
        }
    }
}

fn registry() -> ToolRegistry {
    ToolRegistry::new().with(Echo).unwrap()
}

fn call(name: &str, arguments: &str) -> ToolCall {
    ToolCall::new("c1", name, arguments)
}

async fn run(name: &str, arguments: &str) -> ToolOutcome {
    execute_call(
        &registry(),
        &call(name, arguments),
        Duration::from_secs(5),
        RunContext::standalone(),
    )
    .await
}

#[test]
fn schema_is_derived_once_from_the_argument_type() {
    let registry = registry();
    let spec = &registry.specs()[0];
    assert_eq!(spec.name, "echo");
    assert_eq!(spec.description, "Echoes text.");
    let schema = &spec.parameters;
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["properties"]["text"]["type"], "string");
    assert_eq!(
        schema["properties"]["text"]["description"],
        "Text to echo back."
    );
    assert_eq!(schema["required"], serde_json::json!(["text"]));
    assert!(schema.get("$schema").is_none() && schema.get("title").is_none());
}

#[test]
fn duplicate_and_invalid_names_are_rejected() {
    assert!(
        matches!(registry().with(Echo), Err(crate::error::ConfigError(m)) if m.contains("twice"))
    );
    struct Bad;
    impl Tool for Bad {
        type Args = EchoArgs;
        fn name(&self) -> &str {
            "has space"
        }
        fn description(&self) -> &str {
            ""
        }
        async fn call(&self, _: EchoArgs, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
            Ok(String::new())
        }
    }
    assert!(ToolRegistry::new().with(Bad).is_err());
}

#[tokio::test]
async fn a_successful_call_becomes_a_tool_result() {
    let outcome = run("echo", r#"{"text":"ab","times":2}"#).await;
    assert!(outcome.ok);
    assert_eq!(
        outcome.message,
        Message::tool_result(&call("echo", ""), "abab")
    );
}

#[tokio::test]
async fn failures_become_error_results_the_model_sees() {
    let cases = [
        ("nope", "{}", "error: unknown tool \"nope\""),
        (
            "echo",
            "{\"text\": ",
            "error: invalid arguments for echo: EOF while parsing",
        ),
        (
            "echo",
            r#"{"text": 5}"#,
            "error: invalid arguments for echo: invalid type",
        ),
        ("echo", r#"{"text":"fail"}"#, "error: cannot echo that"),
        (
            "echo",
            r#"{"text":"panic"}"#,
            "error: echo panicked: echo was asked to panic",
        ),
    ];
    for (name, arguments, expected) in cases {
        let outcome = run(name, arguments).await;
        assert!(!outcome.ok, "{name} {arguments}");
        let Message::Tool {
            content,
            is_error,
            tool_call_id,
            ..
        } = &outcome.message
        else {
            panic!("not a tool message: {:?}", outcome.message);
        };
        assert!(
            content.starts_with(expected),
            "{content:?} should start with {expected:?}"
        );
        assert!(is_error);
        assert_eq!(tool_call_id, "c1");
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_tool_times_out() {
    let outcome = execute_call(
        &registry(),
        &call("echo", r#"{"text":"slow"}"#),
        Duration::from_secs(2),
        RunContext::standalone(),
    )
    .await;
    assert!(!outcome.ok);
    assert_eq!(outcome.message.content(), "error: echo timed out after 2s");
    assert_eq!(outcome.latency, Duration::from_secs(2));
}

#[tokio::test]
async fn empty_arguments_read_as_an_empty_object() {
    #[derive(Deserialize, JsonSchema)]
    struct NoArgs {}
    let parsed: Result<NoArgs, _> = parse_arguments("t", "  ");
    assert!(parsed.is_ok());
}
