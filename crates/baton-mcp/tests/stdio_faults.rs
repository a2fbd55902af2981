//! A stdio server that is killed during a call, is too slow, or whose run is cancelled: the
//! tests' own slow server on the MCP Python SDK (`tests/servers/slow_server.py`).

#[macro_use]
mod common;

use baton_core::context::{RunContext, RunScope, ToolContext};
use baton_core::error::ToolError;
use baton_core::ids::{AgentName, RunId, ThreadId};
use common::{slow_server, wait_for_event};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The slow server's `sleep` tool.
fn named_sleep(tools: &baton_mcp::McpTools) -> Arc<dyn baton_core::tool::DynTool> {
    tools
        .tools()
        .into_iter()
        .find(|t| t.spec().name == "sleep")
        .expect("the slow server offers sleep")
}

needs_servers! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_killed_during_a_call_gives_an_error_and_the_next_call_restarts_it() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("events");
        let tools = slow_server(&events).connect().await.unwrap();
        let sleep = named_sleep(&tools);
        let first = tools.process_id().expect("a stdio server has a process id");
        let kill = async {
            wait_for_event(&events, "started").await;
            let status = std::process::Command::new("kill")
                .args(["-9", &first.to_string()])
                .status()
                .unwrap();
            assert!(status.success());
        };
        let (result, ()) = tokio::join!(
            sleep.call_json(r#"{"seconds": 30}"#, *ToolContext::standalone()),
            kill
        );
        let error = result.unwrap_err();
        assert!(matches!(error, ToolError::Failed(_)), "{error:?}");
        assert!(error.to_string().contains("restarted on the next call"), "{error}");
        let text = sleep
            .call_json(r#"{"seconds": 0.01}"#, *ToolContext::standalone())
            .await
            .unwrap();
        assert_eq!(text, "slept 0.01 s");
        assert_ne!(tools.process_id(), Some(first), "a new process serves the tools");
    }
}

needs_servers! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_call_times_out_and_the_server_sees_the_cancellation() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("events");
        let tools = slow_server(&events)
            .call_timeout(Duration::from_millis(500))
            .connect()
            .await
            .unwrap();
        let sleep = named_sleep(&tools);
        let error = sleep
            .call_json(r#"{"seconds": 30}"#, *ToolContext::standalone())
            .await
            .unwrap_err();
        assert!(matches!(error, ToolError::Timeout { .. }), "{error:?}");
        wait_for_event(&events, "cancelled").await;
        let text = sleep
            .call_json(r#"{"seconds": 0.01}"#, *ToolContext::standalone())
            .await
            .unwrap();
        assert_eq!(text, "slept 0.01 s", "the same server goes on serving");
    }
}

needs_servers! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_run_cancels_the_call_on_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("events");
        let tools = slow_server(&events).connect().await.unwrap();
        let sleep = named_sleep(&tools);
        let cancel = CancellationToken::new();
        let scope = RunScope::new(
            RunId::new(),
            ThreadId::new(),
            AgentName::new("tester").unwrap(),
            Arc::default(),
            cancel.clone(),
        );
        let ctx = RunContext::new(&scope, 1).for_call("c1");
        let cancel_run = async {
            wait_for_event(&events, "started").await;
            cancel.cancel();
        };
        let (result, ()) = tokio::join!(sleep.call_json(r#"{"seconds": 30}"#, ctx), cancel_run);
        assert!(result.is_err(), "{result:?}");
        wait_for_event(&events, "cancelled").await;
    }
}

needs_servers! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hanging_server_times_out_and_is_restarted_on_the_next_call() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("events");
        let tools = slow_server(&events)
            .call_timeout(Duration::from_millis(500))
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
            .unwrap();
        let hang = tools.tools().into_iter().find(|t| t.spec().name == "hang").unwrap();
        let sleep = tools.tools().into_iter().find(|t| t.spec().name == "sleep").unwrap();
        let first = tools.process_id();
        let error = hang
            .call_json(r#"{"seconds": 60}"#, *ToolContext::standalone())
            .await
            .unwrap_err();
        assert!(matches!(error, ToolError::Timeout { .. }), "{error:?}");
        // The next call finds that the server does not answer a ping, and starts a new one.
        let text = sleep
            .call_json(r#"{"seconds": 0.01}"#, *ToolContext::standalone())
            .await
            .unwrap();
        assert!(text.starts_with("slept 0.01 s"), "{text}");
        assert_ne!(tools.process_id(), first, "a new process serves the tools");
    }
}
