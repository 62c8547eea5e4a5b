#!/usr/bin/env bash
# The README's curl walkthrough, run for real against the built-in development provider:
# sign in with a cookie jar, call /api/user with the cookie and then with a Bearer token,
# sign out, and check the token is refused afterwards.
#
# Usage: tests/curl_walkthrough.sh            (builds and starts doorman itself)
#        DOORMAN_BIN=target/release/doorman tests/curl_walkthrough.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${DOORMAN_BIN:-target/debug/doorman}
if [ -z "${DOORMAN_BIN:-}" ]; then cargo build --quiet; fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
work=$(mktemp -d)
log="$work/doorman.log"
passed=0
failed=0

cleanup() {
  if [ -n "${pid:-}" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ "$failed" -gt 0 ]; then echo "--- doorman log ---"; cat "$log"; fi
  rm -rf "$work"
}
trap cleanup EXIT

check() { # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}

# A clean environment: no provider configured means the development provider.
env -i PATH="$PATH" BIND_ADDR="127.0.0.1:$port" PUBLIC_URL="$base" RUST_LOG=info "$bin" >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fs "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

cd "$work"
# --- the walkthrough, as in the README ---
# 1. Start sign-in; the flow cookie lands in the jar, the provider's URL in $authorize.
authorize=$(curl -s -c jar -b jar -o /dev/null -w '%{redirect_url}' "$base/auth/login")
# 2. Answer the development provider's form; it redirects back with a code.
callback=$(curl -s -o /dev/null -w '%{redirect_url}' \
  --data-urlencode 'name=Ada Lovelace' --data-urlencode 'email=ada@example.com' \
  --data decision=allow "$authorize")
# 3. Finish sign-in: doorman checks everything and sets the session cookie.
curl -s -c jar -b jar -o /dev/null "$callback"
# 4. Who am I?
curl -s -b jar "$base/api/user" >by_cookie.json
# 5. The same with a Bearer token taken from the jar.
token=$(awk '$6 == "access_token" { print $7 }' jar)
curl -s -H "Authorization: Bearer $token" "$base/api/user" >by_bearer.json
# 6. Sign out; the token is revoked.
curl -s -b jar -c jar -X POST -o /dev/null "$base/auth/logout"
after=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base/api/user")
# --- end of walkthrough ---

check "login redirects to the development provider" grep -q "/dev-oidc/authorize?" <<<"$authorize"
check "the provider redirects back with a code" grep -q "/auth/callback?code=" <<<"$callback"
check "the jar holds the session cookie" test -n "$token"
check "/api/user with the cookie names the user" grep -q '"email":"ada@example.com"' by_cookie.json
check "/api/user with Bearer gives the same identity" cmp -s by_cookie.json by_bearer.json
check "after sign-out the token is refused" test "$after" = 401

echo "curl-walkthrough: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
