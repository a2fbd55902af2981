//! One server's connection: started on demand, restarted with backoff after it broke, and the
//! list of tools it offers now.

use crate::error::McpError;
use crate::result::call_result_text;
use crate::server::{McpServer, Transport};
use baton_core::error::ToolError;
use rmcp::model::{CallToolRequestParams, JsonObject, Tool};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::{ClientHandler, Peer, RoleClient, ServiceError, ServiceExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The first wait before restarting a server that failed; doubled for each failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait for the answer to the `ping` that checks a server after a call timed out.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The tools a server offers now, replaced whole when the server says its list changed.
pub(crate) type ToolList = Arc<Vec<Tool>>;

pub(crate) struct Connection {
    pub(crate) server: McpServer,
    tools: watch::Sender<ToolList>,
    state: Mutex<State>,
    /// The process id of a running stdio server, 0 when there is none.
    pid: AtomicU32,
}

struct State {
    live: Option<Live>,
    /// Counts the services started, so that a failed call ends only the service it used.
    generation: u64,
    failures: u32,
    next_attempt: Option<Instant>,
}

struct Live {
    /// A call on this service timed out: the next call first checks that it still answers.
    suspect: bool,
    service: RunningService<RoleClient, Handler>,
    generation: u64,
}

/// Follows `notifications/tools/list_changed` by listing the tools again.
struct Handler {
    server: String,
    tools: watch::Sender<ToolList>,
}

impl ClientHandler for Handler {
    async fn on_tool_list_changed(&self, context: NotificationContext<RoleClient>) {
        match context.peer.list_all_tools().await {
            Ok(tools) => {
                tracing::debug!(server = %self.server, tools = tools.len(), "MCP tool list changed");
                self.tools.send_replace(Arc::new(tools));
            }
            Err(error) => {
                tracing::warn!(server = %self.server, %error, "MCP tool list changed, but listing it failed");
            }
        }
    }
}

impl Connection {
    /// Starts the server and lists its tools; the errors of this first start are the caller's.
    pub(crate) async fn open(server: McpServer) -> Result<Self, McpError> {
        let (tools, _) = watch::channel(Arc::new(Vec::new()));
        let connection = Self {
            server,
            tools,
            state: Mutex::new(State {
                live: None,
                generation: 0,
                failures: 0,
                next_attempt: None,
            }),
            pid: AtomicU32::new(0),
        };
        {
            let mut state = connection.state.lock().await;
            connection.start(&mut state).await?;
        }
        Ok(connection)
    }

    pub(crate) fn tools(&self) -> ToolList {
        self.tools.borrow().clone()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<ToolList> {
        self.tools.subscribe()
    }

    pub(crate) fn process_id(&self) -> Option<u32> {
        match self.pid.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// Starts a service into `state` and lists its tools.
    async fn start(&self, state: &mut State) -> Result<(), McpError> {
        let name = &self.server.name;
        let started = tokio::time::timeout(self.server.connect_timeout, self.serve()).await;
        let service = match started {
            Ok(result) => result?,
            Err(_) => {
                return Err(McpError::Initialize {
                    server: name.clone(),
                    reason: format!(
                        "no answer within {:?} (connect_timeout)",
                        self.server.connect_timeout
                    ),
                });
            }
        };
        let listed =
            tokio::time::timeout(self.server.connect_timeout, service.peer().list_all_tools())
                .await;
        let tools = match listed {
            Ok(Ok(tools)) => tools,
            Ok(Err(error)) => {
                return Err(McpError::ListTools {
                    server: name.clone(),
                    reason: error.to_string(),
                });
            }
            Err(_) => {
                return Err(McpError::ListTools {
                    server: name.clone(),
                    reason: format!("no answer within {:?}", self.server.connect_timeout),
                });
            }
        };
        tracing::debug!(server = %name, tools = tools.len(), "MCP server connected");
        self.tools.send_replace(Arc::new(tools));
        state.generation += 1;
        state.live = Some(Live {
            suspect: false,
            service,
            generation: state.generation,
        });
        Ok(())
    }

    /// Starts the process or opens the HTTP session, and performs the MCP handshake.
    async fn serve(&self) -> Result<RunningService<RoleClient, Handler>, McpError> {
        let name = &self.server.name;
        let handler = Handler {
            server: name.clone(),
            tools: self.tools.clone(),
        };
        let initialize = |error: rmcp::service::ClientInitializeError| McpError::Initialize {
            server: name.clone(),
            reason: error.to_string(),
        };
        match &self.server.transport {
            Transport::Stdio { command, args, env } => {
                let mut process = tokio::process::Command::new(command);
                process.args(args).envs(env.iter().map(|(k, v)| (k, v)));
                let transport =
                    rmcp::transport::TokioChildProcess::new(process).map_err(|source| {
                        McpError::Spawn {
                            server: name.clone(),
                            command: command.clone(),
                            source,
                        }
                    })?;
                self.pid
                    .store(transport.id().unwrap_or_default(), Ordering::SeqCst);
                handler.serve(transport).await.map_err(initialize)
            }
            Transport::Http { url, headers } => {
                let config = crate::http::transport_config(name, url, headers)?;
                let transport = rmcp::transport::StreamableHttpClientTransport::from_config(config);
                handler.serve(transport).await.map_err(initialize)
            }
        }
    }

    /// A peer of a live service, starting one (after the backoff of earlier failures) if none
    /// runs or the last one's transport closed.
    async fn peer(&self) -> Result<(Peer<RoleClient>, u64), ToolError> {
        let mut state = self.state.lock().await;
        if let Some(live) = &mut state.live {
            let open = !live.service.is_closed() && !live.service.peer().is_transport_closed();
            if open
                && (!live.suspect || answers_ping(live.service.peer(), self.probe_timeout()).await)
            {
                live.suspect = false;
                return Ok((live.service.peer().clone(), live.generation));
            }
            tracing::warn!(server = %self.server.name, closed = !open, "MCP server closed or does not answer; restarting it");
            state.live = None;
            self.pid.store(0, Ordering::SeqCst);
        }
        if let Some(at) = state.next_attempt {
            tokio::time::sleep_until(at).await;
        }
        match self.start(&mut state).await {
            Ok(()) => {
                state.failures = 0;
                state.next_attempt = None;
                let live = state.live.as_ref().ok_or_else(|| {
                    ToolError::failed("MCP server started but left no connection")
                })?;
                Ok((live.service.peer().clone(), live.generation))
            }
            Err(error) => {
                state.failures = state.failures.saturating_add(1);
                let backoff = backoff(state.failures, self.server.max_backoff);
                state.next_attempt = Some(Instant::now() + backoff);
                self.pid.store(0, Ordering::SeqCst);
                tracing::warn!(server = %self.server.name, %error, ?backoff, "MCP server restart failed");
                Err(ToolError::failed(format!(
                    "{error}; it is started again on the next call, in {backoff:?} at the earliest"
                )))
            }
        }
    }

    /// Ends the service of `generation`, if it is still the current one, so that the next
    /// call starts a new one.
    async fn discard(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state
            .live
            .as_ref()
            .is_some_and(|live| live.generation == generation)
        {
            state.live = None;
            self.pid.store(0, Ordering::SeqCst);
        }
    }

    /// Marks the service of `generation`, if it is still the current one, as to be checked
    /// before its next call.
    async fn suspect(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if let Some(live) = state.live.as_mut().filter(|l| l.generation == generation) {
            live.suspect = true;
        }
    }

    fn probe_timeout(&self) -> Duration {
        PROBE_TIMEOUT.min(self.server.connect_timeout)
    }

    /// Calls the MCP tool `tool` with `arguments`, within the call timeout and until `cancel`.
    /// A server that is not running is started first (after the backoff of earlier failures,
    /// within the connect timeout); one whose last call timed out must first answer a `ping`.
    ///
    /// Dropping the returned future (a cancelled run, a timeout) drops rmcp's request future,
    /// which sends `notifications/cancelled` for the request to the server.
    pub(crate) async fn call(
        &self,
        exposed_name: &str,
        tool: &str,
        arguments: JsonObject,
        cancel: &CancellationToken,
    ) -> Result<String, ToolError> {
        let timeout = self.server.call_timeout;
        let work = async {
            // Starting or checking the server is bounded by its own timeouts, not the call's.
            let (peer, generation) = self.peer().await?;
            let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
            let result = match tokio::time::timeout(timeout, peer.call_tool(params)).await {
                Ok(result) => result,
                Err(_) => {
                    // A slow tool, or a server that hangs: the next call tells them apart.
                    self.suspect(generation).await;
                    return Err(ToolError::Timeout {
                        tool: exposed_name.to_owned(),
                        timeout,
                    });
                }
            };
            match result {
                Ok(result) => call_result_text(result),
                Err(ServiceError::McpError(error)) => Err(ToolError::failed(format!(
                    "MCP server {} refused the call: {} ({})",
                    self.server.name, error.message, error.code.0
                ))),
                Err(error @ (ServiceError::TransportClosed | ServiceError::TransportSend(_))) => {
                    self.discard(generation).await;
                    Err(ToolError::failed(format!(
                        "MCP server {} stopped during the call ({error}); it is restarted on the next call",
                        self.server.name
                    )))
                }
                Err(error) => Err(ToolError::failed(format!(
                    "MCP server {}: {error}",
                    self.server.name
                ))),
            }
        };
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(ToolError::failed("the run was cancelled")),
            result = work => result,
        }
    }
}

/// Whether the server answers a `ping` within `timeout`.
async fn answers_ping(peer: &Peer<RoleClient>, timeout: Duration) -> bool {
    let ping = rmcp::model::ClientRequest::PingRequest(rmcp::model::PingRequest::default());
    // An error answer is an answer too: the server is alive.
    matches!(
        tokio::time::timeout(timeout, peer.send_request(ping)).await,
        Ok(Ok(_) | Err(ServiceError::McpError(_)))
    )
}

/// The wait after `failures` failures in a row: 100 ms doubled each time, at most `max`.
fn backoff(failures: u32, max: Duration) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    FIRST_BACKOFF.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let max = Duration::from_secs(2);
        assert_eq!(backoff(1, max), Duration::from_millis(100));
        assert_eq!(backoff(2, max), Duration::from_millis(200));
        assert_eq!(backoff(4, max), Duration::from_millis(800));
        assert_eq!(backoff(6, max), max);
        assert_eq!(backoff(u32::MAX, max), max);
    }
}
