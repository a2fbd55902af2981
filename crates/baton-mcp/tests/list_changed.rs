//! `notifications/tools/list_changed`: a server whose list grows when a tool is called, on
//! rmcp's streamable HTTP server on 127.0.0.1.

use baton_core::context::ToolContext;
use baton_mcp::McpServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use rmcp::{RoleServer, ServerHandler};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Offers `grow`; once `grow` was called, also `late`, and says so.
#[derive(Clone, Default)]
struct Growing {
    grown: Arc<AtomicBool>,
}

fn tool(name: &'static str) -> Tool {
    let schema = serde_json::json!({ "type": "object", "properties": {} });
    let serde_json::Value::Object(schema) = schema else {
        unreachable!()
    };
    Tool::new(name, format!("The {name} tool."), Arc::new(schema))
}

impl ServerHandler for Growing {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut tools = vec![tool("grow")];
        if self.grown.load(Ordering::SeqCst) {
            tools.push(tool("late"));
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name == "grow" {
            self.grown.store(true, Ordering::SeqCst);
            let _ = context.peer.notify_tool_list_changed().await;
        }
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![
            ContentBlock::text(format!("{} ran", request.name)),
        ])))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_list_is_followed_and_new_calls_use_it() {
    let stop = CancellationToken::new();
    let grown = Arc::new(AtomicBool::new(false));
    let state = grown.clone();
    let service: StreamableHttpService<Growing, LocalSessionManager> = StreamableHttpService::new(
        move || {
            Ok(Growing {
                grown: state.clone(),
            })
        },
        Default::default(),
        StreamableHttpServerConfig::default().with_cancellation_token(stop.child_token()),
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let shutdown = stop.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    });

    let tools = McpServer::http("growing", &url).connect().await.unwrap();
    let names = |tools: &baton_mcp::McpTools| -> Vec<String> {
        tools
            .tools()
            .iter()
            .map(|t| t.spec().name.clone())
            .collect()
    };
    assert_eq!(names(&tools), ["grow"]);
    let grow = tools.tools().remove(0);
    let changed = tools.changed();
    let text = grow
        .call_json("{}", *ToolContext::standalone())
        .await
        .unwrap();
    assert_eq!(text, "grow ran");
    tokio::time::timeout(Duration::from_secs(10), changed)
        .await
        .expect("the list change reaches the client");
    assert_eq!(names(&tools), ["grow", "late"]);
    let late = tools.tools().remove(1);
    let text = late
        .call_json("", *ToolContext::standalone())
        .await
        .unwrap();
    assert_eq!(text, "late ran");
    stop.cancel();
    let _ = server.await;
}
