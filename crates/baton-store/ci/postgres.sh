#!/usr/bin/env bash
# Starts a PostgreSQL server for baton-store's tests and prints how to reach it.
#
#   eval "$(bash crates/baton-store/ci/postgres.sh)"   # exports BATON_POSTGRES_URL
#
# Idempotent: installs PostgreSQL from Debian's packages if no server is installed, creates a
# cluster in $BATON_PG_DIR (default /tmp/baton-postgres) listening on 127.0.0.1:$BATON_PG_PORT
# (default 55432) unless one is already there, starts it unless it runs, and creates the role
# and database `baton` unless they exist. Installing needs root; the server runs as the
# `postgres` user when started by root. Only the `export` line goes to stdout, so that the
# output can be evaluated; progress goes to stderr.
set -euo pipefail

PORT="${BATON_PG_PORT:-55432}"
DIR="$(realpath -m "${BATON_PG_DIR:-/tmp/baton-postgres}")"
DATA="$DIR/data"
SOCKETS="$DIR/sockets"
ROLE=baton
PASSWORD=baton
DATABASE=baton

log() { echo "postgres.sh: $*" >&2; }

# The server's tools run as `postgres`, which may not be allowed into the caller's directory.
cd /

server_bin() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
        echo "$dir"
    fi
}

BIN="$(server_bin)"
if [[ -z "$BIN" ]]; then
    if [[ "$(id -u)" -ne 0 ]]; then
        log "no PostgreSQL server is installed and installing one needs root"
        exit 1
    fi
    log "installing PostgreSQL from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends postgresql >&2
    BIN="$(server_bin)"
    if [[ -z "$BIN" ]]; then
        log "the postgresql package installed no server under /usr/lib/postgresql"
        exit 1
    fi
fi

# initdb refuses to run as root, so root runs the server as `postgres`.
if [[ "$(id -u)" -eq 0 ]]; then
    OWNER=postgres
    if ! id "$OWNER" >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash "$OWNER"
    fi
    as_owner() { runuser -u "$OWNER" -- "$@"; }
else
    OWNER="$(id -un)"
    as_owner() { "$@"; }
fi

mkdir -p "$DATA" "$SOCKETS"
if [[ "$(id -u)" -eq 0 ]]; then
    chown "$OWNER" "$DIR" "$DATA" "$SOCKETS"
fi
chmod 700 "$DATA"

if [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "creating a cluster in $DATA"
    as_owner "$BIN/initdb" --pgdata="$DATA" --username=postgres --encoding=UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 >&2
fi

if as_owner "$BIN/pg_ctl" status --pgdata="$DATA" >/dev/null 2>&1; then
    log "server already running in $DATA"
else
    log "starting the server on 127.0.0.1:$PORT"
    as_owner "$BIN/pg_ctl" start --pgdata="$DATA" --wait --timeout=60 \
        --log="$DIR/server.log" \
        --options="-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$SOCKETS -c max_connections=200" >&2
fi

psql_admin() {
    as_owner psql --no-psqlrc --quiet --tuples-only --no-align --host="$SOCKETS" --port="$PORT" \
        --username=postgres --dbname=postgres --set=ON_ERROR_STOP=1 "$@"
}

if [[ "$(psql_admin --command="SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]]; then
    log "creating role $ROLE"
    psql_admin --command="CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'" >&2
fi
if [[ "$(psql_admin --command="SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]]; then
    log "creating database $DATABASE"
    psql_admin --command="CREATE DATABASE $DATABASE OWNER $ROLE" >&2
fi

URL="postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"
log "ready: $URL"
echo "export BATON_POSTGRES_URL=$URL"
