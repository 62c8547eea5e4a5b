#!/usr/bin/env bash
# Runs docs/doorman.postman_collection.json with newman against a live doorman, so the
# collection cannot go stale.
#
#   tests/postman/run.sh                                    # builds target/debug/doorman (cargo build)
#   DOORMAN_BIN=target/release/doorman tests/postman/run.sh  # any prebuilt binary, no build
#
# Installs newman from package-lock.json (npm ci), idempotently. Starts doorman on a free
# 127.0.0.1 port with a fresh SQLite file, creates the admin with `doorman create-user --role
# admin`, runs the collection, and stops doorman on exit. Prints doorman's log when anything
# fails; the last line is "postman: N passed, M failed"; exits non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
collection="$root/docs/doorman.postman_collection.json"
work=$(mktemp -d "${TMPDIR:-/tmp}/doorman-postman.XXXXXX")
log="$work/doorman.log"
doorman_pid=

cleanup() {
  if [ -n "$doorman_pid" ] && kill -0 "$doorman_pid" 2>/dev/null; then
    kill "$doorman_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$doorman_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$doorman_pid" 2>/dev/null || true
    wait "$doorman_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM HUP

show_log() {
  echo "--- doorman log ($log) ---"
  cat "$log" 2>/dev/null || echo "(no log)"
  echo "--- end of doorman log ---"
}

fail() {
  echo "postman: $*" >&2
  show_log
  echo "postman: 0 passed, 1 failed"
  exit 1
}

# ---------- newman ----------
command -v node >/dev/null || fail "node is not installed (Node.js 18 or later is needed for newman)"
command -v npm >/dev/null || fail "npm is not installed"
newman="$here/node_modules/.bin/newman"
stamp="$here/node_modules/.doorman-installed-lock"
if [ ! -x "$newman" ] || ! cmp -s "$here/package-lock.json" "$stamp"; then
  echo "postman: installing newman (npm ci)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed"
  cp "$here/package-lock.json" "$stamp"
fi

# ---------- doorman ----------
bin=${DOORMAN_BIN:-}
if [ -z "$bin" ]; then
  echo "postman: building doorman (cargo build)"
  (cd "$root" && cargo build --quiet --bin doorman) || fail "cargo build failed"
  bin="$root/target/debug/doorman"
fi
[ -x "$bin" ] || fail "DOORMAN_BIN $bin is not an executable"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null ||
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
base="http://127.0.0.1:$port"
admin_user="postman-admin"
admin_password="admin-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')-Pw"

# The server and the command share these; nothing comes from a .env file in the work dir.
export DATABASE_URL="$work/doorman.db"
export BIND_ADDR="127.0.0.1:$port"
export PUBLIC_URL="$base"
export SESSION_SECRET="postman-$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
export RUST_LOG="${RUST_LOG:-doorman=info,tower_http=info}"
export NO_COLOR=1
unset OIDC_CLIENT_ID OIDC_CLIENT_SECRET OIDC_ISSUER_URL GOOGLE_CLIENT_ID GOOGLE_CLIENT_SECRET \
  OIDC_HTTP_TIMEOUT_SECS SESSION_SECRET_PREVIOUS SESSION_TTL_MINUTES ADMIN_EMAILS
# The collection registers its API client itself; registration is off unless opened.
export ALLOW_REGISTRATION=true

echo "postman: creating the admin account"
(cd "$work" && DOORMAN_PASSWORD="$admin_password" "$bin" create-user \
  --username "$admin_user" --email postman-admin@example.com --name "Postman Admin" --role admin) \
  >>"$log" 2>&1 || fail "doorman create-user failed"

echo "postman: starting doorman on $base"
(cd "$work" && exec "$bin" serve) >>"$log" 2>&1 &
doorman_pid=$!
ready=
for _ in $(seq 1 100); do
  if ! kill -0 "$doorman_pid" 2>/dev/null; then
    fail "doorman exited during start-up"
  fi
  if curl -fsS -o /dev/null "$base/healthz" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
[ -n "$ready" ] || fail "doorman did not answer $base/healthz within 10 s"

# ---------- the collection ----------
summary="$work/newman.json"
set +e
"$newman" run "$collection" \
  --env-var "baseUrl=$base" \
  --env-var "adminUsername=$admin_user" \
  --env-var "adminPassword=$admin_password" \
  --reporters cli,json --reporter-json-export "$summary" \
  --color off --no-insecure-file-read
status=$?
set -e

counts=$(node -e '
  const run = require(process.argv[1]).run;
  const a = run.stats.assertions;
  console.log((a.total - a.failed) + " " + a.failed + " " + run.failures.length);
' "$summary" 2>/dev/null || echo "0 0 1")
read -r passed failed failures <<<"$counts"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$failures" -ne 0 ]; then
  show_log
  [ "$failed" -eq 0 ] && failed=$failures
  [ "$failed" -eq 0 ] && failed=1
  echo "postman: $passed passed, $failed failed"
  exit 1
fi
echo "postman: $passed passed, $failed failed"
