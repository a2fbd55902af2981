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

needs_servers! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_killed_during_a_call_gives_an_error_and_the_next_call_restarts_it() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("events");
        let tools = slow_server(&events).connect().await.unwrap();
        let sleep = tools.tools().remove(0);
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
        let sleep = tools.tools().remove(0);
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
        let sleep = tools.tools().remove(0);
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
