#!/usr/bin/env bash
# doorman as the front door, measured (a benchmark, not a test; not run by CI): the same fast
# upstream (an nginx `return 200`, in its own processes) served directly, through nginx's proxy_pass, and through
# doorman's built-in proxy with a signed-in session (policy check, identity headers and the
# signed assertion on), interleaved in one run. Prints requests/s and p99 of each and the
# ratio doorman/nginx.
#
#   tests/gateway/proxy_bench.sh [ROUNDS=2] [DURATION=8s]
#   DOORMAN_BIN=old/doorman DOORMAN_BIN_B=new/doorman tests/gateway/proxy_bench.sh 3   # A/B in one run
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
# DOORMAN_BIN: another build to measure; by default, this tree's. DOORMAN_BIN_B: a second
# build measured in the same rounds (an A/B of two binaries).
bin=${DOORMAN_BIN:-}
[ -n "$bin" ] || { (cd "$root" && cargo build --release -q); bin="$root/target/release/doorman"; }
bin_b=${DOORMAN_BIN_B:-}
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
case "$bin_b" in /* | "") ;; *) bin_b="$PWD/$bin_b" ;; esac
work=$(mktemp -d "${TMPDIR:-/tmp}/doorman-proxy-bench.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT

read -r port_up port_nginx port_doorman port_doorman_b < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
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
start_doorman() { # start_doorman NAME BIN PORT; sets doorman_pid
  mkdir -p "$work/$1"
  (cd "$work/$1" && exec env -i PATH="$PATH" BIND_ADDR="127.0.0.1:$3" PUBLIC_URL="http://127.0.0.1:$3" \
    SESSION_SECRET="$secret" DATABASE_URL="$work/$1/d.db" DOORMAN_CONFIG="$work/routes.toml" ${DOORMAN_WORKERS:+TOKIO_WORKER_THREADS=$DOORMAN_WORKERS} \
    "$2") >"$work/$1.log" 2>&1 &
  doorman_pid=$!
  pids+=("$doorman_pid")
}
start_doorman doorman "$bin" "$port_doorman"
pid_a=$doorman_pid
public_b="http://127.0.0.1:$port_doorman_b"
if [ -n "$bin_b" ]; then start_doorman doorman_b "$bin_b" "$port_doorman_b"; pid_b=$doorman_pid; fi
for url in "$public" ${bin_b:+"$public_b"}; do
  for _ in $(seq 1 100); do curl -fs "$url/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
done

token=$(python3 "$here/mint_session.py" "$secret" "$public")
token_b=$(python3 "$here/mint_session.py" "$secret" "$public_b")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: access_token=$token" "$public/x")
[ "$code" = 200 ] || { echo "proxy_bench: doorman answered $code, not 200"; tail -n 5 "$work/doorman.log"; exit 1; }
if [ -n "$bin_b" ]; then
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: access_token=$token_b" "$public_b/x")
  [ "$code" = 200 ] || { echo "proxy_bench: doorman B answered $code, not 200"; tail -n 5 "$work/doorman_b.log"; exit 1; }
fi

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # run URL [TOKEN] -> "req/s p99 requests"
  wrk -t2 -c64 -d"$duration" --latency -H "Cookie: access_token=${2:-$token}" "$1" |
    awk '/Requests\/sec/ {rps=$2} /requests in/ {n=$1} /^ +99%/ {p99=$2} END {print rps, p99, n}'
}
through() { # through URL TOKEN PID -> "req/s p99 us/request"
  local c0 c1 rps p99 n
  c0=$(cpu "$3")
  read -r rps p99 n < <(run "$1" "$2")
  c1=$(cpu "$3")
  echo "$rps $p99 $(python3 -c "print(f'{($c1-$c0)/100*1e6/$n:.1f}')")"
}
printf '%-6s %-22s %12s %10s %12s\n' round path req/s p99 "doorman us/request"
for r in $(seq 1 "$rounds"); do
  wrk -t2 -c64 -d2s -H "Cookie: access_token=$token" "$public/x" >/dev/null
  read -r rps_direct p99_direct _ < <(run "http://127.0.0.1:$port_up/x")
  read -r rps_nginx p99_nginx _ < <(run "http://127.0.0.1:$port_nginx/x")
  read -r rps_doorman p99_doorman us < <(through "$public/x" "$token" "$pid_a")
  printf '%-6s %-22s %12s %10s\n' "$r" "upstream directly" "$rps_direct" "$p99_direct"
  printf '%-6s %-22s %12s %10s\n' "$r" "through nginx" "$rps_nginx" "$p99_nginx"
  printf '%-6s %-22s %12s %10s %12s\n' "$r" "through doorman${bin_b:+ A}" "$rps_doorman" "$p99_doorman" "$us"
  python3 -c "print(f'       doorman / nginx: {$rps_doorman/$rps_nginx:.3f}')"
  if [ -n "$bin_b" ]; then
    read -r rps_b p99_b us_b < <(through "$public_b/x" "$token_b" "$pid_b")
    printf '%-6s %-22s %12s %10s %12s\n' "$r" "through doorman B" "$rps_b" "$p99_b" "$us_b"
    python3 -c "print(f'       B / nginx: {$rps_b/$rps_nginx:.3f}, B/A {$rps_b/$rps_doorman:.3f}')"
  fi
done
