//! [`McpServer`]: how to reach one MCP server, and the defaults of its calls.

use crate::connection::Connection;
use crate::error::McpError;
use crate::tools::McpTools;
use std::sync::Arc;
use std::time::Duration;

/// The time a tool call may take by default before it becomes an error result.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// An MCP server to connect to: a command speaking MCP on its standard input and output, or a
/// streamable HTTP endpoint.
///
/// ```
/// use baton_mcp::McpServer;
/// use std::time::Duration;
///
/// let time = McpServer::stdio("time", "uvx", ["mcp-server-time"]).env("TZ", "UTC");
/// let search = McpServer::http("search", "http://127.0.0.1:8931/mcp")
///     .header_from_env("Authorization", "SEARCH_MCP_TOKEN")
///     .call_timeout(Duration::from_secs(20));
/// assert_eq!(time.name(), "time");
/// assert_eq!(search.name(), "search");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct McpServer {
    pub(crate) name: String,
    pub(crate) transport: Transport,
    pub(crate) call_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_backoff: Duration,
}

#[derive(Debug, Clone)]
pub(crate) enum Transport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
    },
    Http {
        url: String,
        /// `(header, environment variable)`: values are read when connecting, never stored here.
        headers: Vec<(String, String)>,
    },
}

impl McpServer {
    /// A server started as `command args…`, speaking MCP over its standard input and output.
    /// It inherits this process's environment (plus [`env`](Self::env)) and standard error.
    pub fn stdio(
        name: impl Into<String>,
        command: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self::new(
            name.into(),
            Transport::Stdio {
                command: command.into(),
                args: args.into_iter().map(Into::into).collect(),
                env: Vec::new(),
            },
        )
    }

    /// A server at a streamable HTTP endpoint (`http://…`).
    pub fn http(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self::new(
            name.into(),
            Transport::Http {
                url: url.into(),
                headers: Vec::new(),
            },
        )
    }

    fn new(name: String, transport: Transport) -> Self {
        Self {
            name,
            transport,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            connect_timeout: Duration::from_secs(30),
            max_backoff: Duration::from_secs(30),
        }
    }

    /// Sets an environment variable of a stdio server's process (ignored for HTTP servers).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        if let Transport::Stdio { env, .. } = &mut self.transport {
            env.push((key.into(), value.into()));
        }
        self
    }

    /// Sends `header` on every request to an HTTP server, with the value of the environment
    /// variable `variable` read when connecting (ignored for stdio servers). Secrets stay in
    /// the environment: there is no way to give a header's value inline.
    ///
    /// `Authorization` values are sent as they are, so the variable holds `Bearer …`.
    pub fn header_from_env(
        mut self,
        header: impl Into<String>,
        variable: impl Into<String>,
    ) -> Self {
        if let Transport::Http { headers, .. } = &mut self.transport {
            headers.push((header.into(), variable.into()));
        }
        self
    }

    /// How long one tool call may take ([`DEFAULT_CALL_TIMEOUT`] by default); past it the call
    /// is cancelled on the server and becomes an error result, and the next call first checks
    /// with a `ping` (at most 5 s, or the connect timeout if shorter) that the server still
    /// answers, restarting it if not. Starting a server that is not running is not counted
    /// here: it has the [`connect_timeout`](Self::connect_timeout).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// How long starting (or restarting) the server and its MCP handshake may take; 30 s by
    /// default.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest wait between two attempts to restart a server that keeps failing; 30 s by
    /// default. The wait starts at 100 ms and doubles with each failure in a row.
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// The server's name, as the naming rule of [`registry`](crate::registry) uses it.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts (or connects to) the server, performs the MCP handshake and lists its tools.
    ///
    /// # Errors
    ///
    /// [`McpError`] when the server cannot be started or reached, the handshake fails, or its
    /// tools cannot be listed.
    pub async fn connect(self) -> Result<McpTools, McpError> {
        let connection = Connection::open(self).await?;
        Ok(McpTools::new(Arc::new(connection)))
    }
}
