#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests, from Debian's package (installed with apt if missing),
# run as the `postgres` user (PostgreSQL refuses root) on a private Unix socket: no port to
# collide with, nothing left behind.
#
#   source .ci/stores.sh; pg_up; …tests…; pg_down
#
# pg_up exports DOORMAN_TEST_DATABASE_URL (a superuser URL; the tests make one database each)
# and DOORMAN_TEST_PG_BIN (the server's bin directory, for tests that start their own
# cluster to stop and restart it). Idempotent: pg_up reuses a running instance.
STORES_DIR=${STORES_DIR:-/tmp/doorman-stores}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
pg_as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_up() {
  local bin
  bin=$(pg_bin)
  if [ -z "$bin" ]; then
    local sudo=
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    bin=$(pg_bin)
  fi
  [ -n "$bin" ] || { echo "pg_up: no PostgreSQL server binaries found" >&2; return 1; }
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
  fi
  mkdir -p "$STORES_DIR"
  chmod 755 "$STORES_DIR"
  local d="$STORES_DIR/pg"
  if [ -f "$d/data/postmaster.pid" ] && pg_as "$bin/pg_ctl" -D "$d/data" status >/dev/null 2>&1; then
    echo "postgres already running in $d"
  else
    rm -rf "$d"
    mkdir -p "$d"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$d"
    chmod 700 "$d"
    pg_as "$bin/initdb" -D "$d/data" -U doorman --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$d/initdb.log" 2>&1 ||
      { cat "$d/initdb.log" >&2; return 1; }
    # fsync off is fine for data thrown away; synchronous_commit stays on, so a test that
    # kills the server keeps what was committed.
    pg_as "$bin/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 30 \
      -o "-c listen_addresses='' -k $d -c fsync=off -c full_page_writes=off -c max_connections=300" start >/dev/null ||
      { cat "$d/server.log" >&2; return 1; }
  fi
  chmod 755 "$d"
  export DOORMAN_TEST_DATABASE_URL="postgresql://doorman@/postgres?host=$d"
  export DOORMAN_TEST_PG_BIN="$bin"
  "$bin/psql" "host=$d user=doorman dbname=postgres" -Atqc "select 1" >/dev/null || return 1
  echo "postgres ready: $DOORMAN_TEST_DATABASE_URL"
}

pg_down() {
  local bin d="$STORES_DIR/pg"
  bin=$(pg_bin)
  if [ -n "$bin" ] && [ -d "$d/data" ]; then
    pg_as "$bin/pg_ctl" -D "$d/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$d"
}
