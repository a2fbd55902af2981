//! The real MCP servers the tests run against, and the mark of the tests that need them.
#![allow(dead_code, unused_macros)]

/// Marks a test that needs the real servers: ignored unless the build saw
/// `BATON_MCP_TIME_CMD`, `BATON_MCP_FS_CMD` and `BATON_MCP_PYTHON` (or `CI=true`); see `build.rs`.
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

/// The tests' slow server (`tests/servers/slow_server.py`, on the MCP Python SDK), recording
/// its events in `events`.
pub fn slow_server(events: &std::path::Path) -> baton_mcp::McpServer {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/slow_server.py");
    baton_mcp::McpServer::stdio(
        "slow",
        server_command("BATON_MCP_PYTHON"),
        [script.to_owned(), events.to_string_lossy().into_owned()],
    )
}

/// Waits up to 10 s for `event` to be recorded in `events`.
pub async fn wait_for_event(events: &std::path::Path, event: &str) {
    for _ in 0..200 {
        let text = std::fs::read_to_string(events).unwrap_or_default();
        if text.lines().any(|line| line == event) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the server never recorded {event:?}");
}
