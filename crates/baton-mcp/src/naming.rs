//! The names MCP tools get in Baton, and one registry from several servers.
//!
//! The rule:
//! - A tool keeps its MCP name when no other server given to [`registry`] offers that name.
//! - When two or more servers offer the same name, each of those tools is named
//!   `{server}__{tool}` (two underscores), e.g. `fs__read_file` and `git__read_file`.
//! - A name that is not a valid Baton tool name ([`is_tool_name`]: 1–64 characters of
//!   `[a-zA-Z0-9_-]`) has every other character replaced by `_` and, when that changed it or it
//!   is too long, is cut to 55 characters and given `_` and 8 hex digits of a hash of the
//!   unchanged name, so that different names stay different: `weather.get` →
//!   `weather_get_1a2b3c4d`.

use crate::error::McpError;
use crate::tools::McpTools;
use baton_core::tool::{ToolRegistry, is_tool_name};
use std::collections::HashMap;

/// The longest Baton tool name.
const MAX_NAME: usize = 64;
/// What a too long or changed name keeps before its hash suffix (`_` and 8 hex digits).
const KEPT: usize = MAX_NAME - 9;

/// `name` made a valid Baton tool name by the rule of this module.
///
/// ```
/// use baton_mcp::tool_name;
///
/// assert_eq!(tool_name("get_current_time"), "get_current_time");
/// let fixed = tool_name("weather.get");
/// assert!(fixed.starts_with("weather_get_") && fixed.len() == 20);
/// assert_eq!(tool_name(&"x".repeat(100)).len(), 64);
/// ```
#[must_use]
pub fn tool_name(name: &str) -> String {
    if is_tool_name(name) {
        return name.to_owned();
    }
    let mut fixed: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(KEPT)
        .collect();
    if fixed.is_empty() {
        fixed.push_str("tool");
    }
    format!("{fixed}_{:08x}", fnv1a(name) as u32)
}

/// The name of `tool` of `server` when another server offers a tool of the same name.
#[must_use]
pub fn qualified_tool_name(server: &str, tool: &str) -> String {
    tool_name(&format!("{server}__{tool}"))
}

/// One registry of the tools of several servers, named by the rule of this module.
///
/// # Errors
///
/// [`McpError::Naming`] if two tools still end with one name (a server offering the same name
/// twice, or two servers of one name).
pub fn registry(servers: &[McpTools]) -> Result<ToolRegistry, McpError> {
    let listed: Vec<_> = servers.iter().map(|s| (s, s.mcp_tools())).collect();
    let mut offered: HashMap<String, usize> = HashMap::new();
    for (_, tools) in &listed {
        for tool in tools.iter() {
            *offered.entry(tool.name.to_string()).or_default() += 1;
        }
    }
    let mut registry = ToolRegistry::new();
    for (server, tools) in &listed {
        for tool in tools.iter() {
            let name = if offered.get(tool.name.as_ref()).copied().unwrap_or(0) > 1 {
                qualified_tool_name(server.server(), &tool.name)
            } else {
                tool_name(&tool.name)
            };
            registry
                .insert(server.tool_named(tool, name))
                .map_err(|e| McpError::Naming(e.to_string()))?;
        }
    }
    Ok(registry)
}

/// 64-bit FNV-1a: a small, stable hash (the same on every build), for name suffixes.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_stay_and_others_become_valid_and_distinct() {
        assert_eq!(tool_name("read_file"), "read_file");
        for name in ["a.b", "a b", "", "ü", &"y".repeat(65), "a/b/c"] {
            assert!(
                is_tool_name(&tool_name(name)),
                "{name:?} -> {}",
                tool_name(name)
            );
        }
        assert_ne!(tool_name("a.b"), tool_name("a b"));
        assert_ne!(tool_name(&"z".repeat(70)), tool_name(&"z".repeat(71)));
        assert_eq!(qualified_tool_name("fs", "read_file"), "fs__read_file");
        assert!(is_tool_name(&qualified_tool_name(
            &"s".repeat(60),
            "read_file"
        )));
    }
}
