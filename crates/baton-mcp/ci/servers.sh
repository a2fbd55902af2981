#!/usr/bin/env bash
# Installs the MCP servers that baton-mcp's tests run against and prints how to start them.
#
#   eval "$(bash crates/baton-mcp/ci/servers.sh)"   # exports BATON_MCP_TIME_CMD, BATON_MCP_FS_CMD, BATON_MCP_PYTHON
#
# BATON_MCP_PYTHON is the virtual environment's Python, with the MCP Python SDK that
# mcp-server-time brings, for the tests' own slow server (tests/servers/slow_server.py).
#
# Idempotent: `mcp-server-time` (PyPI) goes into a Python virtual environment and
# `@modelcontextprotocol/server-filesystem` (npm) into an npm prefix, both under
# $BATON_MCP_DIR (default $HOME/.cache/baton-mcp); each is installed only when its command is
# missing, so a second run takes a moment. Needs python3 (with venv) and npm. Only the
# `export` lines go to stdout, so that the output can be evaluated; progress goes to stderr.
set -euo pipefail

DIR="$(realpath -m "${BATON_MCP_DIR:-$HOME/.cache/baton-mcp}")"
VENV="$DIR/venv"
NPM_PREFIX="$DIR/npm"
TIME_CMD="$VENV/bin/mcp-server-time"
FS_CMD="$NPM_PREFIX/node_modules/.bin/mcp-server-filesystem"

log() { echo "servers.sh: $*" >&2; }

mkdir -p "$DIR"

if [[ ! -x "$TIME_CMD" ]]; then
    command -v python3 >/dev/null || { log "python3 is needed to install mcp-server-time"; exit 1; }
    log "installing mcp-server-time into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check mcp-server-time >&2
fi

if [[ ! -x "$FS_CMD" ]]; then
    command -v npm >/dev/null || { log "npm is needed to install the filesystem server"; exit 1; }
    log "installing @modelcontextprotocol/server-filesystem into $NPM_PREFIX"
    npm install --silent --no-audit --no-fund --prefix "$NPM_PREFIX" \
        @modelcontextprotocol/server-filesystem >&2
fi

log "ready: $TIME_CMD, $FS_CMD"
echo "export BATON_MCP_TIME_CMD=$TIME_CMD"
echo "export BATON_MCP_FS_CMD=$FS_CMD"
echo "export BATON_MCP_PYTHON=$VENV/bin/python"
