#!/usr/bin/env bash
# Several instances, measured (a benchmark, not a test; not run by CI):
#  1. GET /api/user on an instance backed by PostgreSQL against one backed by SQLite, same
#     run, interleaved (the hot path reads memory only, so they should match);
#  2. how long a sign-out on instance A takes to be refused on instance B, over 100 sign-outs
#     (median and max).
#
#   tests/load/postgres_bench.sh [ROUNDS=2] [DURATION=8s]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=${1:-2}
duration=${2:-8s}
command -v wrk >/dev/null || { apt-get install -y -q wrk >/dev/null 2>&1 || sudo -n apt-get install -y -q wrk >/dev/null; }
(cd "$root" && cargo build --release -q)
# shellcheck source=../../.ci/stores.sh
source "$root/.ci/stores.sh"
pg_up >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/doorman-pg-bench.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT

db="doorman_bench_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
"$DOORMAN_TEST_PG_BIN/psql" "$DOORMAN_TEST_DATABASE_URL" -qc "CREATE DATABASE $db" >/dev/null
pg_url=${DOORMAN_TEST_DATABASE_URL/\/postgres\?/\/$db?}
read -r port_lite port_a port_b < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
secret=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
public="http://127.0.0.1:$port_a"   # A and B behind one "load balancer": one public URL

start() { # start NAME PORT DATABASE_URL
  mkdir -p "$work/$1"
  (cd "$work/$1" && exec env -i PATH="$PATH" BIND_ADDR="127.0.0.1:$2" PUBLIC_URL="$public" SESSION_SECRET="$secret" \
    DATABASE_URL="$3" ALLOW_REGISTRATION=true RATE_LIMIT_LOGIN_PER_MINUTE=10000 RATE_LIMIT_REGISTER_PER_HOUR=10000 \
    "$root/target/release/doorman") >"$work/$1.log" 2>&1 &
  pids+=($!)
  eval "pid_$1=$!"
}
start lite "$port_lite" "$work/lite/doorman.db"
start a "$port_a" "$pg_url"
start b "$port_b" "$pg_url"
for port in "$port_lite" "$port_a" "$port_b"; do
  for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
done

# One account, on each store.
user='{"username":"bench","email":"bench@example.com","password":"violet-Orbit-7-lantern","name":"Bench"}'
login='{"username":"bench","password":"violet-Orbit-7-lantern"}'
for port in "$port_lite" "$port_a"; do
  curl -fs -o /dev/null -H 'content-type: application/json' -d "$user" "http://127.0.0.1:$port/api/register"
done
token() { curl -fs -H 'content-type: application/json' -d "$login" "http://127.0.0.1:$1/api/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'; }
tok_lite=$(token "$port_lite")
tok_pg=$(token "$port_a")

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
printf '%-6s %-22s %12s %10s %12s\n' round store req/s p99 "us CPU/req"
for r in $(seq 1 "$rounds"); do
  for which in lite a; do
    port_var="port_$which" pid_var="pid_$which" tok_var="tok_lite"
    [ "$which" = a ] && tok_var=tok_pg
    url="http://127.0.0.1:${!port_var}/api/user"
    wrk -t2 -c64 -d2s -H "Authorization: Bearer ${!tok_var}" "$url" >/dev/null
    c0=$(cpu "${!pid_var}")
    out=$(wrk -t2 -c64 -d"$duration" --latency -H "Authorization: Bearer ${!tok_var}" "$url")
    c1=$(cpu "${!pid_var}")
    read -r rps p99 n < <(echo "$out" | awk '/Requests\/sec/ {rps=$2} /requests in/ {n=$1} /^ +99%/ {p99=$2} END {print rps, p99, n}')
    name="SQLite"
    [ "$which" = a ] && name="PostgreSQL (2 instances)"
    printf '%-6s %-22s %12s %10s %12s\n' "$r" "$name" "$rps" "$p99" "$(python3 -c "print(f'{($c1-$c0)/100*1e6/$n:.1f}')")"
  done
done

echo
python3 - "$port_a" "$port_b" "$login" <<'EOF'
import http.client, json, statistics, sys, time
port_a, port_b, login = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
a, b = http.client.HTTPConnection("127.0.0.1", port_a), http.client.HTTPConnection("127.0.0.1", port_b)
def call(conn, method, path, body=None, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, r.read()
delays = []
for _ in range(100):
    status, body = call(a, "POST", "/api/login", login)
    assert status == 200, body
    token = json.loads(body)["access_token"]
    assert call(b, "GET", "/api/user", token=token)[0] == 200
    assert call(a, "POST", "/api/logout", token=token)[0] == 204
    started = time.perf_counter()
    while call(b, "GET", "/api/user", token=token)[0] != 401:
        if time.perf_counter() - started > 5:
            sys.exit("a sign-out did not reach B within 5 s")
    delays.append(time.perf_counter() - started)
delays.sort()
print(f"sign-out on A refused on B, 100 sign-outs: median {statistics.median(delays)*1000:.2f} ms, "
      f"p95 {delays[94]*1000:.2f} ms, max {delays[-1]*1000:.2f} ms")
EOF
