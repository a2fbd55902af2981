//! Against an rmcp streamable HTTP server on 127.0.0.1 with a tool that sleeps: the HTTP
//! transport, headers from the environment, a call that times out, and a cancelled call that
//! the server sees cancelled.

use baton_core::context::{RunContext, RunScope};
use baton_core::error::ToolError;
use baton_core::ids::{AgentName, RunId, ThreadId};
use baton_mcp::{McpError, McpServer};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use rmcp::{RoleServer, ServerHandler, tool, tool_handler, tool_router};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What the server saw: `"cancelled"` when a sleeping call was cancelled, `"header:…"` for
/// the header of each request.
#[derive(Clone)]
struct Sleeper {
    events: mpsc::UnboundedSender<String>,
    #[expect(dead_code, reason = "the tool_handler macro reads this router")]
    tool_router: ToolRouter<Self>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct SleepArgs {
    /// Milliseconds to sleep.
    ms: u64,
}

#[tool_router]
impl Sleeper {
    /// Sleeps, then says so.
    #[tool(
        description = "Sleeps for ms milliseconds.",
        annotations(read_only_hint = true)
    )]
    async fn sleep(
        &self,
        Parameters(SleepArgs { ms }): Parameters<SleepArgs>,
        context: RequestContext<RoleServer>,
    ) -> String {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(ms)) => format!("slept {ms} ms"),
            () = context.ct.cancelled() => {
                let _ = self.events.send("cancelled".to_owned());
                "cancelled".to_owned()
            }
        }
    }
}

#[tool_handler]
impl ServerHandler for Sleeper {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// Serves a `Sleeper` on 127.0.0.1; returns its URL and what it sees.
async fn serve() -> (String, mpsc::UnboundedReceiver<String>, CancellationToken) {
    let (events, seen) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let header_events = events.clone();
    let service: StreamableHttpService<Sleeper, LocalSessionManager> = StreamableHttpService::new(
        move || {
            Ok(Sleeper {
                events: events.clone(),
                tool_router: Sleeper::tool_router(),
            })
        },
        Default::default(),
        StreamableHttpServerConfig::default()
            .with_sse_keep_alive(None)
            .with_cancellation_token(stop.child_token()),
    );
    let router =
        axum::Router::new()
            .nest_service("/mcp", service)
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    if let Some(value) = request.headers().get("x-api-key") {
                        let _ =
                            header_events.send(format!("header:{}", value.to_str().unwrap_or("")));
                    }
                    next.run(request)
                },
            ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = stop.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    });
    (format!("http://{address}/mcp"), seen, stop)
}

fn scope(cancel: CancellationToken) -> RunScope {
    RunScope::new(
        RunId::new(),
        ThreadId::new(),
        AgentName::new("tester").unwrap(),
        Arc::default(),
        cancel,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_tools_are_listed_called_and_sent_the_header_from_the_environment() {
    let (url, mut seen, stop) = serve().await;
    // A variable every process has: setting one here would race the other tests' reads.
    let expected = std::env::var("PATH").unwrap();
    let tools = McpServer::http("sleeper", &url)
        .header_from_env("x-api-key", "PATH")
        .connect()
        .await
        .unwrap();
    let list = tools.tools();
    assert_eq!(list.len(), 1);
    let sleep = &list[0];
    assert_eq!(sleep.spec().name, "sleep");
    assert!(sleep.read_only(), "readOnlyHint maps to read_only");
    assert_eq!(
        sleep.spec().parameters["properties"]["ms"]["type"],
        "integer"
    );
    let scope = scope(CancellationToken::new());
    let ctx = RunContext::new(&scope, 1).for_call("c1");
    assert_eq!(
        sleep.call_json(r#"{"ms": 1}"#, ctx).await.unwrap(),
        "slept 1 ms"
    );
    assert_eq!(seen.recv().await, Some(format!("header:{expected}")));
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_from_a_missing_variable_is_a_typed_error() {
    let error = McpServer::http("sleeper", "http://127.0.0.1:9/mcp")
        .header_from_env("Authorization", "BATON_MCP_TEST_SURELY_UNSET")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, McpError::Header { .. }), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_call_times_out_and_the_server_sees_it_cancelled() {
    let (url, mut seen, stop) = serve().await;
    let tools = McpServer::http("sleeper", &url)
        .call_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    let sleep = tools.tools().remove(0);
    let scope = scope(CancellationToken::new());
    let ctx = RunContext::new(&scope, 1).for_call("c1");
    let error = sleep.call_json(r#"{"ms": 30000}"#, ctx).await.unwrap_err();
    assert!(matches!(error, ToolError::Timeout { .. }), "{error}");
    let event = tokio::time::timeout(Duration::from_secs(10), seen.recv()).await;
    assert_eq!(event.unwrap().as_deref(), Some("cancelled"));
    // The connection still serves calls.
    let ctx = RunContext::new(&scope, 2).for_call("c2");
    assert_eq!(
        sleep.call_json(r#"{"ms": 1}"#, ctx).await.unwrap(),
        "slept 1 ms"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_cancels_the_call_on_the_server() {
    let (url, mut seen, stop) = serve().await;
    let tools = McpServer::http("sleeper", &url).connect().await.unwrap();
    let sleep = tools.tools().remove(0);
    let cancel = CancellationToken::new();
    let scope = scope(cancel.clone());
    let canceller = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            cancel.cancel();
        })
    };
    let ctx = RunContext::new(&scope, 1).for_call("c1");
    let started = std::time::Instant::now();
    let error = sleep.call_json(r#"{"ms": 30000}"#, ctx).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "{error}");
    let event = tokio::time::timeout(Duration::from_secs(10), seen.recv()).await;
    assert_eq!(event.unwrap().as_deref(), Some("cancelled"));
    canceller.await.unwrap();
    stop.cancel();
}
