//! The errors of connecting to an MCP server.

/// Why an MCP server could not be reached or listed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// The server's command could not be started (not found, not executable, …).
    #[error("MCP server {server}: cannot start `{command}`: {source}")]
    Spawn {
        /// The server's name.
        server: String,
        /// The command that was run.
        command: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A header was configured from an environment variable that is not set, or whose value
    /// is not a valid header; set the variable before connecting.
    #[error("MCP server {server}: header {header} needs environment variable {variable}: {reason}")]
    Header {
        /// The server's name.
        server: String,
        /// The header's name.
        header: String,
        /// The environment variable the value comes from.
        variable: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The MCP handshake (`initialize`) failed: the server exited, answered with something that
    /// is not MCP, or did not answer in time.
    #[error("MCP server {server}: initialization failed: {reason}")]
    Initialize {
        /// The server's name.
        server: String,
        /// What went wrong.
        reason: String,
    },
    /// `tools/list` failed.
    #[error("MCP server {server}: listing its tools failed: {reason}")]
    ListTools {
        /// The server's name.
        server: String,
        /// What went wrong.
        reason: String,
    },
    /// A tool's name could not be made a Baton tool name, or two tools ended with one name.
    #[error("MCP tools: {0}")]
    Naming(String),
}
