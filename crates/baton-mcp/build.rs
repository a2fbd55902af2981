//! Sets `cfg(baton_mcp_servers)` when the tests have the real MCP servers to run against
//! (`BATON_MCP_TIME_CMD`, `BATON_MCP_FS_CMD` and `BATON_MCP_PYTHON`), or must have them (`CI=true`): without it,
//! the tests that need them are ignored, with the reason, instead of passing without running.

fn main() {
    println!("cargo::rerun-if-env-changed=BATON_MCP_TIME_CMD");
    println!("cargo::rerun-if-env-changed=BATON_MCP_FS_CMD");
    println!("cargo::rerun-if-env-changed=BATON_MCP_PYTHON");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rustc-check-cfg=cfg(baton_mcp_servers)");
    let set = |name| std::env::var(name).is_ok_and(|value| !value.is_empty());
    let ci = std::env::var("CI").is_ok_and(|ci| ci == "true");
    if (set("BATON_MCP_TIME_CMD") && set("BATON_MCP_FS_CMD") && set("BATON_MCP_PYTHON")) || ci {
        println!("cargo::rustc-cfg=baton_mcp_servers");
    }
}
