"""A stdio MCP server with one slow tool, on the MCP Python SDK, for baton-mcp's tests.

    python slow_server.py EVENTS_FILE

`sleep(seconds)` appends `started` to EVENTS_FILE, sleeps, and appends `cancelled` when the
client cancels the call (`notifications/cancelled`) before it ends. `hang(seconds)` blocks the
whole server (no answer to anything, not even `ping`) for that long.
"""

import sys
import time

import anyio
from mcp.server.mcpserver import MCPServer

EVENTS = sys.argv[1]
server = MCPServer("slow")


def record(event: str) -> None:
    with open(EVENTS, "a", encoding="utf-8") as events:
        events.write(event + "\n")


@server.tool()
async def sleep(seconds: float) -> str:
    """Sleeps for the given number of seconds."""
    record("started")
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        record("cancelled")
        raise
    return f"slept {seconds} s"



@server.tool()
async def hang(seconds: float) -> str:
    """Blocks the whole server for the given number of seconds."""
    record("hanging")
    time.sleep(seconds)
    return "woke up"


if __name__ == "__main__":
    server.run()
