//! The real MCP servers the tests run against, and the mark of the tests that need them.
#![allow(dead_code, unused_macros)]

/// Marks a test that needs the real servers: ignored when the build saw neither
/// `BATON_MCP_TIME_CMD` nor `BATON_MCP_FS_CMD` (and no `CI=true`); see `build.rs`.
macro_rules! needs_servers {
    ($(#[$attr:meta])* async fn $name:ident() $body:block) => {
        $(#[$attr])*
        #[cfg_attr(
            not(baton_mcp_servers),
            ignore = "needs the MCP servers: eval \"$(bash crates/baton-mcp/ci/servers.sh)\" first"
        )]
        async fn $name() $body
    };
}

/// The command in environment variable `variable`; fails the test, saying how to install the
/// servers, when it is missing.
pub fn server_command(variable: &str) -> String {
    match std::env::var(variable) {
        Ok(command) if !command.is_empty() => command,
        _ => panic!(
            "{variable} is not set, and this test needs it (under CI=true every MCP server test \
             must run): install the servers with `eval \"$(bash crates/baton-mcp/ci/servers.sh)\"`, \
             then build the tests again"
        ),
    }
}

/// The time server, `mcp-server-time`, reporting in UTC.
pub fn time_server() -> baton_mcp::McpServer {
    baton_mcp::McpServer::stdio(
        "time",
        server_command("BATON_MCP_TIME_CMD"),
        ["--local-timezone", "UTC"],
    )
}

/// The filesystem server, allowed into `dir`.
pub fn fs_server(dir: &std::path::Path) -> baton_mcp::McpServer {
    baton_mcp::McpServer::stdio(
        "fs",
        server_command("BATON_MCP_FS_CMD"),
        [dir.to_string_lossy().into_owned()],
    )
}
