#!/usr/bin/env bash
# doorman as the front door, measured (a benchmark, not a test; not run by CI): the same fast
# upstream (an nginx `return 200`, in its own processes) served directly, through nginx's proxy_pass, and through
# doorman's built-in proxy with a signed-in session (policy check, identity headers and the
# signed assertion on), interleaved in one run. Prints requests/s and p99 of each and the
# ratio doorman/nginx.
#
#   tests/gateway/proxy_bench.sh [ROUNDS=2] [DURATION=8s]
#
# Target (issue: the gateway, part 2): doorman's proxy >= 0.7x nginx proxying the same upstream.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=${1:-2}
duration=${2:-8s}
command -v wrk >/dev/null || { apt-get install -y -q wrk >/dev/null 2>&1 || sudo -n apt-get install -y -q wrk >/dev/null; }
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || { echo "proxy_bench: nginx is not installed (tests/gateway/run.sh installs it)" >&2; exit 2; }
# DOORMAN_BIN: another build to measure (an A/B of two binaries); by default, this tree's.
bin=${DOORMAN_BIN:-}
[ -n "$bin" ] || { (cd "$root" && cargo build --release -q); bin="$root/target/release/doorman"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/doorman-proxy-bench.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT

read -r port_up port_nginx port_doorman < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
secret=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
public="http://127.0.0.1:$port_doorman"

# Two nginx instances: the upstream in its own processes, as a service behind a proxy is (in
# the proxy's own workers it would be answered without waking another process, an edge no real
# deployment has), and nginx as the proxy to compare with.
nginx_conf() { # nginx_conf NAME HTTP-BLOCK-CONTENT
  local dir="$work/$1"
  mkdir -p "$dir/tmp"
  chmod 777 "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOF
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    $2
}
EOF
  "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' 2>"$dir/stderr.log" &
  pids+=($!)
}
nginx_conf upstream "server { listen 127.0.0.1:$port_up; location / { default_type application/json; return 200 '{\"ok\":true}'; } }"
nginx_conf nginx "upstream app { server 127.0.0.1:$port_up; keepalive 64; }
    server { listen 127.0.0.1:$port_nginx; location / { proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_pass http://app; } }"

cat >"$work/routes.toml" <<EOF
[[gateway.route]]
upstream = "http://127.0.0.1:$port_up"
EOF
mkdir -p "$work/doorman"
(cd "$work/doorman" && exec env -i PATH="$PATH" BIND_ADDR="127.0.0.1:$port_doorman" PUBLIC_URL="$public" \
  SESSION_SECRET="$secret" DATABASE_URL="$work/doorman/d.db" DOORMAN_CONFIG="$work/routes.toml" ${DOORMAN_WORKERS:+TOKIO_WORKER_THREADS=$DOORMAN_WORKERS} \
  "$bin") >"$work/doorman.log" 2>&1 &
doorman_pid=$!
pids+=("$doorman_pid")
for _ in $(seq 1 100); do curl -fs "$public/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

token=$(python3 "$here/mint_session.py" "$secret" "$public")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: access_token=$token" "$public/x")
[ "$code" = 200 ] || { echo "proxy_bench: doorman answered $code, not 200"; tail -5 "$work/doorman.log"; exit 1; }

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # run URL -> "req/s p99 requests"
  wrk -t2 -c64 -d"$duration" --latency -H "Cookie: access_token=$token" "$1" |
    awk '/Requests\/sec/ {rps=$2} /requests in/ {n=$1} /^ +99%/ {p99=$2} END {print rps, p99, n}'
}
printf '%-6s %-22s %12s %10s %12s\n' round path req/s p99 "doorman us/request"
for r in $(seq 1 "$rounds"); do
  wrk -t2 -c64 -d2s -H "Cookie: access_token=$token" "$public/x" >/dev/null
  read -r rps_direct p99_direct _ < <(run "http://127.0.0.1:$port_up/x")
  read -r rps_nginx p99_nginx _ < <(run "http://127.0.0.1:$port_nginx/x")
  c0=$(cpu "$doorman_pid")
  read -r rps_doorman p99_doorman n_doorman < <(run "$public/x")
  c1=$(cpu "$doorman_pid")
  us=$(python3 -c "print(f'{($c1-$c0)/100*1e6/$n_doorman:.1f}')")
  printf '%-6s %-22s %12s %10s\n' "$r" "upstream directly" "$rps_direct" "$p99_direct"
  printf '%-6s %-22s %12s %10s\n' "$r" "through nginx" "$rps_nginx" "$p99_nginx"
  printf '%-6s %-22s %12s %10s %12s\n' "$r" "through doorman" "$rps_doorman" "$p99_doorman" "$us"
  python3 -c "print(f'       doorman / nginx: {$rps_doorman/$rps_nginx:.3f}')"
done
