//! Against real MCP servers written by others: `mcp-server-time` (PyPI) and
//! `@modelcontextprotocol/server-filesystem` (npm), installed by `ci/servers.sh`.

#[macro_use]
mod common;

use baton_core::context::ToolContext;
use baton_core::llm::{ChatRequest, Role};
use baton_core::memory::InMemoryStore;
use baton_core::prelude::*;
use baton_testkit::{Script, ScriptedProvider};
use common::{fs_server, time_server};
use serde_json::json;
use std::sync::Arc;

fn call(
    tool: &Arc<dyn baton_core::tool::DynTool>,
    arguments: serde_json::Value,
) -> impl Future<Output = Result<String, ToolError>> + '_ {
    let arguments = arguments.to_string();
    async move { tool.call_json(&arguments, *ToolContext::standalone()).await }
}

fn named(
    tools: &[Arc<dyn baton_core::tool::DynTool>],
    name: &str,
) -> Arc<dyn baton_core::tool::DynTool> {
    tools
        .iter()
        .find(|t| t.spec().name == name)
        .cloned()
        .unwrap_or_else(|| panic!("no tool {name}"))
}

needs_servers! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_servers_list_their_tools_with_their_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let time = time_server().connect().await.unwrap();
        let fs = fs_server(dir.path()).connect().await.unwrap();
        let time_tools = time.tools();
        let names: Vec<_> = time_tools.iter().map(|t| t.spec().name.clone()).collect();
        assert!(names.contains(&"get_current_time".to_owned()), "{names:?}");
        assert!(names.contains(&"convert_time".to_owned()), "{names:?}");
        let get = named(&time_tools, "get_current_time");
        assert_eq!(get.spec().parameters["required"], json!(["timezone"]));
        let fs_tools = fs.tools();
        for name in ["read_file", "list_directory", "write_file"] {
            named(&fs_tools, name);
        }
        assert!(named(&fs_tools, "list_directory").read_only());
        assert!(!named(&fs_tools, "write_file").read_only());
        // Distinct names across the two: all kept as they are.
        let registry = baton_mcp::registry(&[time, fs]).unwrap();
        assert_eq!(registry.len(), time_tools.len() + fs_tools.len());
        assert!(registry.contains("get_current_time") && registry.contains("read_file"));
    }
}

needs_servers! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_same_tool_on_two_servers_is_named_by_server() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let a = fs_server(one.path()).connect().await.unwrap();
        let b = baton_mcp::McpServer::stdio(
            "fs2",
            common::server_command("BATON_MCP_FS_CMD"),
            [two.path().to_string_lossy().into_owned()],
        )
        .connect()
        .await
        .unwrap();
        std::fs::write(two.path().join("b.txt"), "in two").unwrap();
        let registry = baton_mcp::registry(&[a, b]).unwrap();
        assert!(registry.contains("fs__read_file") && registry.contains("fs2__read_file"));
        assert!(!registry.contains("read_file"));
        let read = registry.get("fs2__read_file").unwrap().clone();
        let path = two.path().join("b.txt");
        let text = call(&read, json!({ "path": path })).await.unwrap();
        assert!(text.contains("in two"), "{text}");
    }
}

needs_servers! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_filesystem_server_reads_and_lists_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("notes.txt"), "hello from baton").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        let tools = fs_server(&root).connect().await.unwrap().tools();
        let text = call(&named(&tools, "read_file"), json!({ "path": root.join("notes.txt") }))
            .await
            .unwrap();
        assert!(text.contains("hello from baton"), "{text}");
        let listing = call(&named(&tools, "list_directory"), json!({ "path": root }))
            .await
            .unwrap();
        assert!(listing.contains("[FILE] notes.txt") && listing.contains("[DIR] sub"), "{listing}");
        // Outside the allowed directory: the server's error text, as an error result.
        let error = call(&named(&tools, "read_file"), json!({ "path": "/etc/passwd" }))
            .await
            .unwrap_err();
        assert!(matches!(error, ToolError::Failed(_)), "{error:?}");
        assert!(error.to_string().to_lowercase().contains("denied"), "{error}");
    }
}

needs_servers! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_killed_server_gives_an_error_or_is_restarted_and_the_next_call_works() {
        let tools = time_server().connect().await.unwrap();
        let get = named(&tools.tools(), "get_current_time");
        let first = tools.process_id().expect("a stdio server has a process id");
        let killed = std::process::Command::new("kill").args(["-9", &first.to_string()]).status().unwrap();
        assert!(killed.success());
        // The call right after the kill may find the connection closed (then it restarts the
        // server) or write into the dying pipe (then it is an error result): never a panic.
        let after_kill = call(&get, json!({ "timezone": "UTC" })).await;
        if let Err(error) = &after_kill {
            assert!(error.to_string().contains("time"), "{error}");
        }
        let again = call(&get, json!({ "timezone": "UTC" })).await.unwrap();
        assert!(again.contains("UTC"), "{again}");
        let second = tools.process_id().expect("restarted");
        assert_ne!(first, second, "the server was started again");
    }
}

/// Every tool result the model saw in a request.
fn tool_results(request: &ChatRequest) -> Vec<String> {
    request
        .messages
        .iter()
        .filter(|m| m.role() == Role::Tool)
        .map(|m| m.content().to_owned())
        .collect()
}

needs_servers! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_model_calls_the_time_server_and_sees_the_real_result() {
        let tools = time_server().connect().await.unwrap();
        let llm = Arc::new(ScriptedProvider::from_fn(|request| {
            match tool_results(request).last() {
                None => Script::tool_call("get_current_time", json!({ "timezone": "Europe/Paris" })),
                Some(result) => Script::text(&format!("it is {result}")),
            }
        }));
        let supervisor = Supervisor::builder()
            .provider(llm.clone())
            .store(InMemoryStore::shared())
            .agent(Agent::builder("clock").tools(tools.into_registry().unwrap()).build().unwrap())
            .spawn()
            .await
            .unwrap();
        let mut stream = supervisor.run("clock", ThreadId::new(), "what time is it in Paris?").await.unwrap();
        while stream.next_event().await.is_some() {}
        let requests = llm.requests();
        assert_eq!(requests.len(), 2, "one call, then the answer");
        let results = tool_results(&requests[1]);
        assert_eq!(results.len(), 1);
        let result: serde_json::Value = serde_json::from_str(&results[0]).unwrap_or_else(|e| panic!("{e}: {}", results[0]));
        assert_eq!(result["timezone"], "Europe/Paris");
        assert!(result["datetime"].as_str().is_some_and(|d| d.starts_with("20")), "{result}");
    }
}
