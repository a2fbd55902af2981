//! Many concurrent threads across several agents.

mod support;

use baton::prelude::*;
use baton_testkit::{Script, ScriptedProvider};
use serde_json::json;
use std::sync::Arc;
use support::*;

/// Looks the order up once, then answers with the question it was asked.
fn scripted_agent_model() -> Arc<ScriptedProvider> {
    provider(
        ScriptedProvider::from_fn(|request| {
            let question = request.last_user_text().unwrap_or_default().to_owned();
            let looked_up = request
                .messages
                .iter()
                .any(|m| m.role() == baton::core::llm::Role::Tool);
            if looked_up {
                Script::text(&format!("answer to {question}"))
            } else {
                Script::tool_call("order_lookup", json!({ "order": question }))
            }
        })
        .without_recording(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_threads_across_three_agents_complete_unmixed() {
    let mut builder = Supervisor::builder().provider(scripted_agent_model());
    for name in ["alpha", "beta", "gamma"] {
        builder = builder.agent(Agent::builder(name).tool(OrderLookup).build().unwrap());
    }
    let supervisor = builder.spawn().await.unwrap();
    let mut runs = Vec::new();
    for i in 0..1000 {
        let agent = ["alpha", "beta", "gamma"][i % 3];
        let thread = ThreadId::new();
        let stream = supervisor
            .run(agent, thread, format!("q{i}"))
            .await
            .unwrap();
        runs.push((i, thread, stream));
    }
    let mut outcomes = Vec::new();
    for (i, thread, stream) in runs {
        outcomes.push((i, thread, tokio::spawn(stream.finish())));
    }
    for (i, thread, outcome) in outcomes {
        let (output, _) = outcome.await.unwrap().unwrap();
        assert_eq!(output, format!("answer to q{i}"));
        let messages = thread_messages(supervisor.store(), thread).await;
        assert_eq!(messages.len(), 4, "thread {i}");
        assert_eq!(messages[0], Message::user(format!("q{i}")));
        assert_eq!(
            messages[2].content(),
            format!("order q{i} was charged twice")
        );
        assert_eq!(messages[3], Message::assistant(format!("answer to q{i}")));
    }
    supervisor.idle().await;
    assert_eq!(supervisor.status().active_runs, 0);
    supervisor.shutdown(std::time::Duration::from_secs(1)).await;
}
