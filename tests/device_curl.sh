#!/usr/bin/env bash
# Signing in from a terminal with curl alone (docs/how-to/sign-in-from-a-terminal.md, "With curl
# alone"), run for real against the built-in development provider: start a device grant, approve
# it (as the person in the browser would), poll until the token pair comes, use the token, refresh
# it, sign out, and check the token is refused afterwards.
#
# Usage: tests/device_curl.sh            (builds and starts doorman itself)
#        DOORMAN_BIN=target/release/doorman tests/device_curl.sh
#
# The commands a user types, as the how-to can show them (python3 reads the JSON: jq may not be
# installed; with jq, `jq -r .device_code` does the same):
#
#   base=http://127.0.0.1:8000
#   # 1. Ask for a code.
#   curl -s -X POST $base/auth/device >start.json
#   device_code=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["device_code"])' <start.json)
#   user_code=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["user_code"])' <start.json)
#   # 2. Open verification_uri_complete ($base/device?code=$user_code) in a browser, sign in,
#   #    check the details, Approve.
#   # 3. Poll every `interval` (5) seconds until the answer is a token pair.
#   curl -s -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d device_code=$device_code \
#     $base/auth/device/token
#   #   400 {"error":"authorization_pending",...}   ... then ...
#   #   200 {"access_token":"...","token_type":"Bearer","expires_in":3600,"refresh_token":"..."}
#   # 4. Use the token.
#   curl -s -H "Authorization: Bearer $access_token" $base/api/user
#   # 5. Later: a new pair, and signing out (both under /auth/, which every proxy setup sends to doorman).
#   curl -s -d grant_type=refresh_token -d refresh_token=$refresh_token $base/auth/device/token
#   curl -s -d token=$refresh_token $base/auth/revoke
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${DOORMAN_BIN:-target/debug/doorman}
if [ -z "${DOORMAN_BIN:-}" ]; then cargo build --quiet; fi
case $bin in /*) ;; *) bin="$PWD/$bin" ;; esac

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
work=$(mktemp -d)
log="$work/doorman.log"
passed=0
failed=0

cleanup() {
  if [ -n "${pid:-}" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ "$failed" -gt 0 ]; then echo "--- doorman log ---"; cat "$log"; echo "--- answers ---"; tail -n +1 "$work"/*.json 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

check() { # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
# field FILE NAME: a top-level field of a JSON answer ("" when absent or not JSON).
field() { python3 -c 'import json,sys
try: v = json.load(open(sys.argv[1])).get(sys.argv[2], "")
except Exception: v = ""
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"; }

# A clean environment: no provider configured means the development provider.
(cd "$work" && exec env -i PATH="$PATH" BIND_ADDR="127.0.0.1:$port" PUBLIC_URL="$base" RUST_LOG=info "$bin") >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fs "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

cd "$work"
# --- the terminal's side, as in the how-to ---
# 1. Ask for a code.
curl -s -X POST $base/auth/device >start.json
device_code=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["device_code"])' <start.json)
user_code=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["user_code"])' <start.json)
check "1. POST /auth/device gives a device code" test -n "$device_code"
check "1. ... and a user code XXXX-XXXX" grep -Eq '^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$' <<<"$user_code"
check "1. ... verification_uri is PUBLIC_URL/device" test "$(field start.json verification_uri)" = "$base/device"
check "1. ... verification_uri_complete carries the code" test "$(field start.json verification_uri_complete)" = "$base/device?code=$user_code"
check "1. ... expires_in 600, interval 5" test "$(field start.json expires_in) $(field start.json interval)" = "600 5"

# The first poll, before anyone approved.
pending=$(curl -s -o pending.json -w '%{http_code}' -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d device_code=$device_code \
  $base/auth/device/token)
check "3. the first poll is 400 authorization_pending" test "$pending $(field pending.json error)" = "400 authorization_pending"

# 2. What the person does in the browser, done here with curl and a cookie jar: open
#    verification_uri_complete, sign in at the development provider (as tests/curl_walkthrough.sh
#    does), then press Approve, which POSTs the form from the page (a browser sends Origin).
authorize=$(curl -s -c jar -b jar -o /dev/null -w '%{redirect_url}' "$base/auth/login?next=%2Fdevice%3Fcode%3D$user_code")
callback=$(curl -s -o /dev/null -w '%{redirect_url}' \
  --data-urlencode 'name=Ada Lovelace' --data-urlencode 'email=ada@example.com' \
  --data decision=allow "$authorize")
back=$(curl -s -c jar -b jar -o /dev/null -w '%{redirect_url}' "$callback")
check "2. (browser) sign-in comes back to the confirm page" test "$back" = "$base/device?code=$user_code"
curl -s -b jar -o confirm.html "$back"
check "2. (browser) the confirm page shows the code and the warning" \
  grep -q "id=\"device-code\">$user_code<" confirm.html
check "2. (browser) ... and says \"Only approve a code you started yourself.\"" grep -q 'Only approve a code you started yourself.' confirm.html
approved=$(curl -s -b jar -o approved.html -w '%{http_code}' -H "Origin: $base" \
  --data-urlencode "code=$user_code" --data action=approve "$base/device")
check "2. (browser) Approve: 200 \"Device signed in\"" test "$approved" = 200
check "2. (browser) ... the page is h1#device-approved" grep -q 'id="device-approved"' approved.html

# 3. Poll every `interval` seconds until the answer is a token pair.
interval=$(field start.json interval)
for _ in 1 2 3; do
  sleep "$interval"
  status=$(curl -s -o tokens.json -w '%{http_code}' -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d device_code=$device_code \
    $base/auth/device/token)
  [ "$(field tokens.json error)" = authorization_pending ] || break
done
access_token=$(field tokens.json access_token)
refresh_token=$(field tokens.json refresh_token)
check "3. the poll after approval is 200 with a Bearer token pair" \
  test "$status $(field tokens.json token_type)" = "200 Bearer"
check "3. ... an access token and a refresh token" test -n "$access_token" -a -n "$refresh_token"
again=$(curl -s -o again.json -w '%{http_code}' -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d device_code=$device_code \
  $base/auth/device/token)
check "3. a device code gives one pair: polling again is 400 invalid_grant" test "$again $(field again.json error)" = "400 invalid_grant"

# 4. Use the token.
curl -s -H "Authorization: Bearer $access_token" $base/api/user >user.json
check "4. /api/user with the token names the person who approved" test "$(field user.json email)" = ada@example.com

# 5. Later: a new pair, and signing out (both under /auth/, which every proxy setup sends to doorman).
curl -s -d grant_type=refresh_token -d refresh_token=$refresh_token $base/auth/device/token >refreshed.json
new_access=$(field refreshed.json access_token)
new_refresh=$(field refreshed.json refresh_token)
check "5. grant_type=refresh_token gives a new pair" test -n "$new_access" -a -n "$new_refresh" -a "$new_refresh" != "$refresh_token"
curl -s -H "Authorization: Bearer $new_access" $base/api/user >user2.json
check "5. ... the new access token names the same person" test "$(field user2.json email)" = ada@example.com
access_token=$new_access refresh_token=$new_refresh
out=$(curl -s -o revoke.json -w '%{http_code}' -d token=$refresh_token $base/auth/revoke)
check "5. /auth/revoke answers 200 {\"revoked\":true}" test "$out $(field revoke.json revoked)" = "200 true"
after=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $access_token" $base/api/user)
check "5. after /auth/revoke the session's access token is refused (401)" test "$after" = 401
reuse=$(curl -s -o reuse.json -w '%{http_code}' -d grant_type=refresh_token -d refresh_token=$refresh_token $base/auth/device/token)
check "5. ... and so is its refresh token (400 invalid_grant)" test "$reuse $(field reuse.json error)" = "400 invalid_grant"
# --- end of the how-to ---

echo "device-curl: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
