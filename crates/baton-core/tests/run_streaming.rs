//! Behaviour of the streaming agent loop, on the scripted provider.

mod common;

use baton_core::error::{FailureKind, GuardStage};
use baton_core::prelude::*;
use baton_core::run::STREAM_BUFFER;
use baton_testkit::{Script, ScriptedProvider};
use common::*;
use futures::StreamExt;
use serde_json::json;
use std::time::Duration;

fn user(text: &str) -> Vec<Message> {
    vec![Message::user(text)]
}

#[tokio::test(start_paused = true)]
async fn a_five_step_tool_loop_records_everything_in_order() {
    let mut provider = ScriptedProvider::new();
    for i in 0..5 {
        provider = provider.respond(
            Script::tool_call("lookup", json!({ "word": format!("w{i}") }))
                .with_usage(Usage::new(100 + i, 10)),
        );
    }
    let provider =
        provider.respond(Script::text("All five words defined.").with_usage(Usage::new(200, 7)));
    let f = fixture(provider);
    let stream = run_steps_streaming(
        &f.ctx,
        f.thread,
        user("define five words"),
        RunOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(stream.run_id(), f.ctx.run_id);
    let events = collect(stream).await;

    // The consumer saw the agent start, five tool steps, the answer, and the total usage.
    assert_eq!(
        events.first(),
        Some(&RunEvent::AgentStarted {
            agent: AgentName::new("helper").unwrap()
        })
    );
    let total = Usage::new(100 + 101 + 102 + 103 + 104 + 200, 57);
    assert_eq!(
        events.last(),
        Some(&RunEvent::Completed {
            output: "All five words defined.".into(),
            usage: total
        })
    );
    assert_eq!(text_of(&events), "All five words defined.");
    let finished: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::ToolCallFinished {
                output, is_error, ..
            } => Some((output.as_str(), *is_error)),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 5);
    assert_eq!(finished[4], ("definition of w4", false));

    // The log: started, then per tool step one tool call and the step, then the answer.
    let episodes = f.episodes().await;
    let mut expected = vec!["started"];
    for _ in 0..5 {
        expected.extend(["tool_called", "step_completed"]);
    }
    expected.extend(["step_completed", "completed"]);
    assert_eq!(kinds(&episodes), expected);
    let step_usages: Vec<_> = episodes
        .iter()
        .filter_map(|e| match e {
            Episode::StepCompleted { step, usage, .. } => Some((*step, *usage)),
            _ => None,
        })
        .collect();
    assert_eq!(step_usages[0], (1, Usage::new(100, 10)));
    assert_eq!(step_usages[5], (6, Usage::new(200, 7)));
    assert_eq!(
        episodes.last(),
        Some(&Episode::Completed {
            output: "All five words defined.".into(),
            usage: total
        })
    );
    let seqs: Vec<u64> = f.records().await.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());

    // The thread: the question, five call/result pairs, the answer.
    let thread = f.thread_messages().await;
    assert_eq!(thread.len(), 1 + 5 * 2 + 1);
    assert_eq!(thread[0], Message::user("define five words"));
    assert_eq!(thread[2].content(), "definition of w0");
    assert_eq!(thread[11], Message::assistant("All five words defined."));

    // Exactly what the model saw: the system message, then the growing thread.
    let requests = f.provider.requests();
    assert_eq!(requests.len(), 6);
    for (i, request) in requests.iter().enumerate() {
        assert_eq!(*request.messages[0], Message::system("Be helpful."));
        let seen: Vec<Message> = request.messages[1..]
            .iter()
            .map(|m| (**m).clone())
            .collect();
        assert_eq!(seen, thread[..1 + 2 * i], "request {i}");
        assert_eq!(request.tools.len(), 1);
        assert_eq!(request.tools[0].name, "lookup");
    }
    // The tool specs are built once and shared by every request.
    assert!(std::sync::Arc::ptr_eq(
        &requests[0].tools,
        &requests[5].tools
    ));
}

#[tokio::test(start_paused = true)]
async fn tool_calls_of_one_step_run_concurrently() {
    let provider = ScriptedProvider::new()
        .respond(Script::tool_calls([
            ("lookup", json!({"word": "a", "delay_ms": 1000})),
            ("lookup", json!({"word": "b", "delay_ms": 1000})),
        ]))
        .respond(Script::text("done"));
    let f = fixture(provider);
    let started = tokio::time::Instant::now();
    let output = run_steps_streaming(&f.ctx, f.thread, user("two"), RunOptions::default())
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert_eq!(output.0, "done");
    // Two one-second tools in one step take one second, not two.
    assert_eq!(started.elapsed(), Duration::from_millis(1000));
    let thread = f.thread_messages().await;
    assert_eq!(thread[2].content(), "definition of a");
    assert_eq!(thread[3].content(), "definition of b");
    let latencies: Vec<u32> = f
        .episodes()
        .await
        .iter()
        .filter_map(|e| match e {
            Episode::ToolCalled { latency_ms, .. } => Some(*latency_ms),
            _ => None,
        })
        .collect();
    assert_eq!(latencies, [1000, 1000]);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_tool_becomes_an_error_result_and_the_run_goes_on() {
    let provider = ScriptedProvider::new()
        .respond(Script::tool_call("lookup", json!({"word": "panic"})))
        .respond(Script::text("Sorry, the lookup failed."));
    let f = fixture(provider);
    let events = collect(
        run_steps_streaming(&f.ctx, f.thread, user("x"), RunOptions::default())
            .await
            .unwrap(),
    )
    .await;
    assert!(events.contains(&RunEvent::ToolCallFinished {
        id: "call_1".into(),
        name: "lookup".into(),
        output: "error: lookup panicked: lookup exploded".into(),
        is_error: true,
    }));
    assert!(matches!(events.last(), Some(RunEvent::Completed { .. })));
    let second = &f.provider.requests()[1];
    assert_eq!(
        second.messages.last().unwrap().content(),
        "error: lookup panicked: lookup exploded"
    );
    assert!(
        f.episodes()
            .await
            .iter()
            .any(|e| matches!(e, Episode::ToolCalled { ok: false, .. }))
    );
}

#[tokio::test(start_paused = true)]
async fn malformed_arguments_and_unknown_tools_are_told_to_the_model() {
    let provider = ScriptedProvider::new()
        .respond(Script::raw_tool_calls([
            ("c1", "lookup", r#"{"word": "unterminated"#),
            ("c2", "lookup", r#"{"wrd": "typo"}"#),
            ("c3", "translate", r#"{}"#),
        ]))
        .respond(Script::text("ok"));
    let f = fixture(provider);
    let output = run_steps_streaming(&f.ctx, f.thread, user("x"), RunOptions::default())
        .await
        .unwrap()
        .finish()
        .await;
    assert_eq!(output.unwrap().0, "ok");
    let thread = f.thread_messages().await;
    // The thread keeps the model's malformed arguments as it wrote them.
    assert_eq!(
        thread[1].tool_calls()[0].arguments,
        r#"{"word": "unterminated"#
    );
    let results: Vec<&str> = thread[2..5].iter().map(Message::content).collect();
    assert!(
        results[0].starts_with("error: invalid arguments for lookup: EOF while parsing"),
        "{}",
        results[0]
    );
    assert!(
        results[1].starts_with("error: invalid arguments for lookup: missing field `word`"),
        "{}",
        results[1]
    );
    assert_eq!(results[2], "error: unknown tool \"translate\"");
}

#[tokio::test(start_paused = true)]
async fn a_retryable_error_before_the_first_chunk_is_retried_after_the_hint() {
    let provider = ScriptedProvider::new()
        .respond(Script::error(LlmError::Status {
            status: 429,
            message: "rate limited".into(),
            retry_after: Some(Duration::from_secs(7)),
        }))
        .respond(Script::text("").fail_after(0, LlmError::Connection("reset".into())))
        .respond(Script::text("after retries"));
    let f = fixture(provider);
    let started = tokio::time::Instant::now();
    let options = RunOptions::default().with_retry(
        RetryPolicy::default()
            .with_backoff(Duration::from_millis(100), Duration::from_secs(1))
            .with_jitter(false),
    );
    let stream = run_steps_streaming(&f.ctx, f.thread, user("x"), options)
        .await
        .unwrap();
    assert_eq!(stream.finish().await.unwrap().0, "after retries");
    // 7 s for the hint, then 200 ms (the second backoff delay) for the reset; the paused clock
    // rounds each timer up to the next millisecond.
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(7200)..Duration::from_millis(7210)).contains(&waited),
        "{waited:?}"
    );
    assert_eq!(f.provider.call_count(), 3);
    // Each attempt sent the same request.
    let requests = f.provider.requests();
    assert_eq!(requests[0], requests[2]);
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_the_limit_and_non_retryable_errors_are_final() {
    let status = |status| {
        Script::error(LlmError::Status {
            status,
            message: "no".into(),
            retry_after: None,
        })
    };
    let provider = ScriptedProvider::new()
        .respond(status(503))
        .respond(status(503));
    let f = fixture(provider);
    let options = RunOptions::default().with_retry(RetryPolicy::default().with_max_retries(1));
    let err = failure_of(
        run_steps_streaming(&f.ctx, f.thread, user("x"), options)
            .await
            .unwrap(),
    )
    .await;
    assert!(matches!(
        err,
        RunError::Provider {
            error: LlmError::Status { status: 503, .. }
        }
    ));
    assert_eq!(f.provider.call_count(), 2);
    assert_eq!(
        f.episodes().await.last(),
        Some(&Episode::Failed {
            kind: FailureKind::Provider,
            message: "provider returned HTTP 503: no".into()
        })
    );

    let f = fixture(ScriptedProvider::new().respond(status(401)));
    let err = failure_of(
        run_steps_streaming(&f.ctx, f.thread, user("x"), RunOptions::default())
            .await
            .unwrap(),
    )
    .await;
    assert!(matches!(
        err,
        RunError::Provider {
            error: LlmError::Status { status: 401, .. }
        }
    ));
    assert_eq!(f.provider.call_count(), 1, "a 401 is not retried");
}

#[tokio::test(start_paused = true)]
async fn an_error_after_the_first_chunk_is_not_retried() {
    let error = LlmError::Status {
        status: 500,
        message: "boom".into(),
        retry_after: None,
    };
    let provider = ScriptedProvider::new()
        .respond(Script::text("partial answer here").fail_after(1, error.clone()))
        .respond(Script::text("never used"));
    let f = fixture(provider);
    let events = collect(
        run_steps_streaming(&f.ctx, f.thread, user("x"), RunOptions::default())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(text_of(&events), "partial ");
    assert_eq!(
        events.last(),
        Some(&RunEvent::Failed {
            error: RunError::Provider { error }
        })
    );
    assert_eq!(f.provider.call_count(), 1);
    assert_eq!(
        f.episodes().await.last(),
        Some(&Episode::Failed {
            kind: FailureKind::Provider,
            message: "provider returned HTTP 500: boom".into()
        })
    );
    // Nothing of the broken response reached the thread.
    assert_eq!(f.thread_messages().await, [Message::user("x")]);
}

#[tokio::test(start_paused = true)]
async fn cancelling_mid_stream_stops_polling_the_provider() {
    let provider =
        ScriptedProvider::new().respond(Script::text("one two three four five").stall_after(2));
    let f = fixture(provider);
    let mut stream = run_steps_streaming(&f.ctx, f.thread, user("x"), RunOptions::default())
        .await
        .unwrap();
    assert!(matches!(
        stream.next().await,
        Some(RunEvent::AgentStarted { .. })
    ));
    assert_eq!(
        stream.next().await,
        Some(RunEvent::TextDelta {
            delta: "one ".into()
        })
    );
    assert_eq!(
        stream.next().await,
        Some(RunEvent::TextDelta {
            delta: "two ".into()
        })
    );
    f.ctx.cancel.cancel();
    assert_eq!(
        stream.next().await,
        Some(RunEvent::Failed {
            error: RunError::Cancelled
        })
    );
    assert_eq!(stream.next().await, None);
    assert_eq!(
        f.terminal_episode().await,
        Episode::failed(&RunError::Cancelled)
    );
    assert_eq!(f.provider.chunks_yielded(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_consumer_ends_the_run() {
    let provider = ScriptedProvider::new()
        .respond(Script::repeated_text("x", 1000).with_chunk_delay(Duration::from_millis(10)));
    let f = fixture(provider);
    let mut stream = run_steps_streaming(&f.ctx, f.thread, user("x"), RunOptions::default())
        .await
        .unwrap();
    stream.next().await;
    stream.next().await;
    drop(stream);
    assert_eq!(
        f.terminal_episode().await,
        Episode::failed(&RunError::ConsumerGone)
    );
    assert!(
        f.provider.chunks_yielded() < 10,
        "the provider stopped: {}",
        f.provider.chunks_yielded()
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_consumer_slows_the_provider() {
    let provider = ScriptedProvider::new().respond(Script::repeated_text("x", 1000));
    let f = fixture(provider);
    let mut stream = run_steps_streaming(&f.ctx, f.thread, user("x"), RunOptions::default())
        .await
        .unwrap();
    for _ in 0..1000 {
        tokio::task::yield_now().await;
    }
    // The run is blocked on the full channel: the provider is at most one buffer ahead.
    let ahead = f.provider.chunks_yielded();
    assert!(
        ahead <= STREAM_BUFFER as u64 + 2,
        "provider ran ahead by {ahead}"
    );
    let events = collect_rest(&mut stream).await;
    assert_eq!(text_of(&events).len(), 1000);
}

/// The error a run's stream ended with.
async fn failure_of(stream: RunStream) -> RunError {
    stream.finish().await.unwrap_err()
}

async fn collect_rest(stream: &mut RunStream) -> Vec<RunEvent> {
    let mut events = Vec::new();
    while let Some(event) = stream.next_event().await {
        events.push(event);
    }
    events
}

#[tokio::test(start_paused = true)]
async fn an_oversized_response_is_stopped_while_streaming() {
    let provider = ScriptedProvider::new().respond(Script::repeated_text("0123456789", 100));
    let f = fixture(provider);
    let options = RunOptions::default().with_max_response_bytes(35);
    let events = collect(
        run_steps_streaming(&f.ctx, f.thread, user("x"), options)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(text_of(&events).len(), 30);
    assert_eq!(
        events.last(),
        Some(&RunEvent::Failed {
            error: RunError::Provider {
                error: LlmError::ResponseTooLarge { limit: 35 }
            }
        })
    );
    assert!(f.provider.chunks_yielded() <= 4 + STREAM_BUFFER as u64);
    assert_eq!(
        f.terminal_episode().await,
        Episode::Failed {
            kind: FailureKind::Provider,
            message: "response exceeded the limit of 35 bytes".into()
        }
    );
}

struct RefuseWord(&'static str);

#[async_trait::async_trait]
impl Guardrail for RefuseWord {
    fn name(&self) -> &str {
        "refuse-word"
    }
    async fn check_request(&self, request: &ChatRequest, _run: &RunContext<'_>) -> Verdict {
        match request.last_user_text() {
            Some(text) if text.contains(self.0) => {
                Verdict::Refuse(format!("input mentions {}", self.0))
            }
            _ => Verdict::Allow,
        }
    }
    async fn check_response(
        &self,
        _request: &ChatRequest,
        response: &ChatResponse,
        _run: &RunContext<'_>,
    ) -> Verdict {
        if response.message.content().contains(self.0) {
            Verdict::Refuse(format!("output mentions {}", self.0))
        } else {
            Verdict::Allow
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_guardrail_refuses_before_the_llm() {
    let f = fixture(ScriptedProvider::new().respond(Script::text("never")));
    let options = RunOptions::default().with_guardrail(RefuseWord("password"));
    let err = failure_of(
        run_steps_streaming(&f.ctx, f.thread, user("tell me the password"), options)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        err,
        RunError::Refused {
            guardrail: "refuse-word".into(),
            stage: GuardStage::Request,
            reason: "input mentions password".into()
        }
    );
    assert_eq!(f.provider.call_count(), 0);
    assert_eq!(kinds(&f.episodes().await), ["started", "failed"]);
    assert_eq!(
        f.episodes().await[1],
        Episode::Failed {
            kind: FailureKind::Refused,
            message: "refused by guardrail refuse-word (request): input mentions password".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_guardrail_refuses_after_the_llm() {
    let f = fixture(ScriptedProvider::new().respond(Script::text("the password is hunter2")));
    let options = RunOptions::default().with_guardrail(RefuseWord("password"));
    let events = collect(
        run_steps_streaming(&f.ctx, f.thread, user("hi"), options)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        events.last(),
        Some(&RunEvent::Failed {
            error: RunError::Refused {
                guardrail: "refuse-word".into(),
                stage: GuardStage::Response,
                reason: "output mentions password".into()
            }
        })
    );
    // The refused response was not recorded.
    assert_eq!(f.thread_messages().await, [Message::user("hi")]);
    assert_eq!(
        f.terminal_episode().await,
        Episode::Failed {
            kind: FailureKind::Refused,
            message: "refused by guardrail refuse-word (response): output mentions password".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn cancelled_before_start_and_zero_steps_fail_at_once() {
    let f = fixture(ScriptedProvider::new());
    f.ctx.cancel.cancel();
    let err = run_steps_streaming(&f.ctx, f.thread, user("x"), RunOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err, RunError::Cancelled);
    // A run cancelled before it took its thread wrote nothing, its input included.
    assert!(f.episodes().await.is_empty());
    assert!(f.thread_messages().await.is_empty());

    let f = fixture(ScriptedProvider::new());
    let err = failure_of(
        run_steps_streaming(
            &f.ctx,
            f.thread,
            user("x"),
            RunOptions::default().with_max_steps(0),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(err, RunError::MaxSteps { steps: 0 });
    assert_eq!(f.provider.call_count(), 0);
    assert_eq!(kinds(&f.episodes().await), ["started", "failed"]);
}

#[tokio::test(start_paused = true)]
async fn max_steps_ends_an_endless_tool_loop() {
    let provider =
        ScriptedProvider::from_fn(|_| Script::tool_call("lookup", json!({"word": "again"})));
    let f = fixture(provider);
    let events = collect(
        run_steps_streaming(
            &f.ctx,
            f.thread,
            user("x"),
            RunOptions::default().with_max_steps(3),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        events.last(),
        Some(&RunEvent::Failed {
            error: RunError::MaxSteps { steps: 3 }
        })
    );
    assert_eq!(f.provider.call_count(), 3);
    assert_eq!(
        f.terminal_episode().await,
        Episode::failed(&RunError::MaxSteps { steps: 3 })
    );
    // The three completed steps are in the thread.
    assert_eq!(f.thread_messages().await.len(), 1 + 3 * 2);
}

#[tokio::test(start_paused = true)]
async fn a_handoff_ends_the_bare_loop_with_a_routing_error() {
    let provider = ScriptedProvider::new().respond(Script::tool_calls([
        ("transfer_to_billing", json!({"reason": "refund request"})),
        ("transfer_to_sales", json!({"reason": "upsell"})),
        ("lookup", json!({"word": "refund"})),
    ]));
    let f = fixture_with(
        provider,
        Agent::builder("triage")
            .tool(Lookup)
            .handoff("billing")
            .handoff("sales"),
    );
    let events = collect(
        run_steps_streaming(
            &f.ctx,
            f.thread,
            user("refund please"),
            RunOptions::default(),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        events.last(),
        Some(&RunEvent::Failed {
            error: RunError::routing(
                "the model handed off to billing, and only a supervisor routes handoffs"
            )
        })
    );
    let thread = f.thread_messages().await;
    let results: Vec<&str> = thread[2..].iter().map(Message::content).collect();
    assert_eq!(
        results,
        [
            "transferred to billing",
            "ignored: only the first handoff of a response is followed, and the conversation goes to billing",
            "definition of refund",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_history_is_cut_to_the_token_budget() {
    let provider = ScriptedProvider::from_fn(|_| Script::text("short answer"));
    let f = fixture(provider);
    let long = "lorem ipsum dolor sit amet ".repeat(40);
    for _ in 0..3 {
        let ctx = f.ctx.clone().with_run_id(RunId::new());
        run_steps_streaming(&ctx, f.thread, user(&long), RunOptions::default())
            .await
            .unwrap()
            .finish()
            .await
            .unwrap();
    }
    let ctx = f.ctx.clone().with_run_id(RunId::new());
    let options = RunOptions::default().with_max_history_tokens(250);
    run_steps_streaming(&ctx, f.thread, user("and now?"), options)
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    let last = f.provider.requests().pop().unwrap();
    // The system message, then only the newest messages that fit.
    assert_eq!(*last.messages[0], Message::system("Be helpful."));
    assert!(last.messages.len() < 8, "cut: {}", last.messages.len());
    assert_eq!(last.messages.last().unwrap().content(), "and now?");
    let total: u32 = last
        .messages
        .iter()
        .map(|m| baton_core::llm::tokens::message_tokens(m))
        .sum();
    assert!(total <= 250, "{total} tokens");
}

#[test]
fn run_events_round_trip_through_json() {
    let events = [
        RunEvent::AgentStarted {
            agent: AgentName::new("a").unwrap(),
        },
        RunEvent::TextDelta {
            delta: "hé".into()
        },
        RunEvent::ToolCallStarted {
            id: "1".into(),
            name: "t".into(),
            arguments: "{}".into(),
        },
        RunEvent::ToolCallFinished {
            id: "1".into(),
            name: "t".into(),
            output: "o".into(),
            is_error: false,
        },
        RunEvent::HandedOff {
            from: AgentName::new("a").unwrap(),
            to: AgentName::new("b").unwrap(),
            reason: "r".into(),
        },
        RunEvent::StepFinished {
            step: 1,
            usage: Usage::new(1, 2),
            finish_reason: FinishReason::Stop,
        },
        RunEvent::Completed {
            output: "o".into(),
            usage: Usage::default(),
        },
        RunEvent::Failed {
            error: RunError::Cancelled,
        },
        RunEvent::Failed {
            error: RunError::Provider {
                error: LlmError::Timeout("idle".into()),
            },
        },
    ];
    for event in events {
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            serde_json::from_str::<RunEvent>(&json).unwrap(),
            event,
            "{json}"
        );
    }
}
