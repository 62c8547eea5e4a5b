#!/usr/bin/env bash
# What the gateway costs, measured (a benchmark, not a test; not run by CI):
# nginx proxying a fast upstream (an nginx `return 200`) directly, and the same through
# `auth_request` + doorman (deploy/nginx, the README's snippet) with a signed-in session cookie,
# interleaved in one run on this machine. Prints requests/s, p99, the ratio protected/unprotected
# and doorman's CPU per auth decision (utime+stime over the requests it decided).
#
#   tests/gateway/bench.sh [ROUNDS=2] [DURATION=10s]
#
# Targets (issue: the gateway, part 1): protected >= 0.5x unprotected, <= 15 us doorman CPU per decision.
#
# doorman runs as the README recommends beside nginx on one host: TOKIO_WORKER_THREADS = half
# the cores (at least 1), since nginx's workers already take one per core. DOORMAN_WORKERS=N
# measures another count (DOORMAN_WORKERS=$(nproc) is doorman's own default).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=${1:-2}
duration=${2:-10s}
command -v wrk >/dev/null || { apt-get install -y -q wrk >/dev/null 2>&1 || sudo -n apt-get install -y -q wrk >/dev/null; }
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || { echo "bench: nginx is not installed (tests/gateway/run.sh installs it)" >&2; exit 2; }
# DOORMAN_BIN: another build to measure (an A/B of two binaries); by default, this tree's.
bin=${DOORMAN_BIN:-}
[ -n "$bin" ] || { (cd "$root" && cargo build --release -q); bin="$root/target/release/doorman"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/doorman-gw-bench.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT

read -r port_plain port_guarded port_up port_doorman < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
secret=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
public="http://app.localhost:$port_guarded"

mkdir -p "$work/doorman"
cores=$(nproc)
workers=${DOORMAN_WORKERS:-$(( cores / 2 > 0 ? cores / 2 : 1 ))}
(cd "$work/doorman" && exec env -i PATH="$PATH" BIND_ADDR="127.0.0.1:$port_doorman" PUBLIC_URL="$public" \
  SESSION_SECRET="$secret" TRUSTED_PROXIES=127.0.0.1 DATABASE_URL="$work/doorman/d.db" \
  TOKIO_WORKER_THREADS="$workers" DOORMAN_CONFIG="$root/deploy/policies.toml" "$bin") >"$work/doorman.log" 2>&1 &
doorman_pid=$!
pids+=("$doorman_pid")

mkdir -p "$work/nginx/snippets" "$work/nginx/tmp"
chmod 777 "$work/nginx/tmp"
cp "$root"/deploy/nginx/doorman-*.conf "$work/nginx/snippets/"
sed -e "s|listen 443 ssl;|listen 127.0.0.1:$port_guarded;|" -e "s|server_name app.example.com;|server_name app.localhost;|" \
    -e "s|127.0.0.1:8000|127.0.0.1:$port_doorman|g" -e "s|127.0.0.1:3000|127.0.0.1:$port_up|g" \
    -e "s|/etc/nginx/snippets/|$work/nginx/snippets/|g" "$root/deploy/nginx/app.conf" >"$work/nginx/app.conf"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
    upstream plain { server 127.0.0.1:$port_up; keepalive 32; }
    # The upstream: as fast as a service can be, so the proxies are what is measured.
    server { listen 127.0.0.1:$port_up; location / { default_type application/json; return 200 '{"ok":true}'; } }
    # Unprotected: nginx straight to the upstream.
    server {
        listen 127.0.0.1:$port_plain;
        location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://plain; }
    }
    include $work/nginx/app.conf;
}
EOF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>"$work/nginx.err" &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port_doorman/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

# A session cookie doorman accepts: HS256 with its secret and its claims.
token=$(python3 "$here/mint_session.py" "$secret" "$public")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: app.localhost:$port_guarded" -H "Cookie: access_token=$token" "http://127.0.0.1:$port_guarded/x")
[ "$code" = 200 ] || { echo "bench: the guarded path answered $code, not 200"; cat "$work/doorman.log" | tail -5; exit 1; }

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # run NAME PORT -> "req/s p99 requests"
  local out
  out=$(wrk -t2 -c64 -d"$duration" --latency -H "Host: app.localhost:$2" -H "Cookie: access_token=$token" "http://127.0.0.1:$2/x")
  echo "$out" | awk '/Requests\/sec/ {rps=$2} /requests in/ {n=$1} /^ +99%/ {p99=$2} END {print rps, p99, n}'
}
echo "doorman serving threads: $workers of $cores cores (DOORMAN_WORKERS)"
printf '%-6s %-12s %12s %10s %12s\n' round path req/s p99 "doorman us/decision"
for r in $(seq 1 "$rounds"); do
  wrk -t2 -c64 -d2s -H "Host: app.localhost:$port_guarded" -H "Cookie: access_token=$token" "http://127.0.0.1:$port_guarded/x" >/dev/null
  read -r rps_plain p99_plain _ < <(run plain "$port_plain")
  c0=$(cpu "$doorman_pid")
  read -r rps_guarded p99_guarded n_guarded < <(run guarded "$port_guarded")
  c1=$(cpu "$doorman_pid")
  us=$(python3 -c "print(f'{($c1-$c0)/100*1e6/$n_guarded:.1f}')")
  printf '%-6s %-12s %12s %10s %12s\n' "$r" unprotected "$rps_plain" "$p99_plain" -
  printf '%-6s %-12s %12s %10s %12s\n' "$r" doorman "$rps_guarded" "$p99_guarded" "$us"
  python3 -c "print(f'       ratio protected/unprotected: {$rps_guarded/$rps_plain:.3f}')"
done
