#!/usr/bin/env bash
# What the gateway costs, measured (a benchmark, not a test; not run by CI): nginx proxying a
# fast upstream (an nginx `return 200`) directly; the same behind nginx `auth_request` to a
# no-op auth endpoint (another nginx `return 200`: the pattern's own floor, what any auth
# server would cost at best); and the same through `auth_request` + doorman (deploy/nginx, the
# README's snippet) with a signed-in session cookie, interleaved in one run on this machine.
# Prints requests/s, p99, the ratios and doorman's CPU per auth decision (utime+stime over the
# requests it decided).
#
#   tests/gateway/bench.sh [ROUNDS=2] [DURATION=10s]
#   DOORMAN_BIN=old/doorman DOORMAN_BIN_B=new/doorman tests/gateway/bench.sh 3   # A/B in one run
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
# DOORMAN_BIN: another build to measure; by default, this tree's. DOORMAN_BIN_B: a second
# build measured in the same rounds (an A/B of two binaries), behind its own copy of the snippet.
# BENCH_GROUPS=N: the session carries N provider groups (a decision for a session with groups).
# BENCH_PROVIDERS_B=1: B runs with two [[provider]] blocks and a `default` policy that names
# both, and its session comes from the second (a decision for a session from another provider).
bin=${DOORMAN_BIN:-}
[ -n "$bin" ] || { (cd "$root" && cargo build --release -q); bin="$root/target/release/doorman"; }
bin_b=${DOORMAN_BIN_B:-}
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
case "$bin_b" in /* | "") ;; *) bin_b="$PWD/$bin_b" ;; esac
work=$(mktemp -d "${TMPDIR:-/tmp}/doorman-gw-bench.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT

read -r port_plain port_guarded port_up port_doorman port_noop port_floor port_guarded_b port_doorman_b < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(8)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
secret=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
public="http://app.localhost:$port_guarded"

cores=$(nproc)
workers=${DOORMAN_WORKERS:-$(( cores / 2 > 0 ? cores / 2 : 1 ))}
start_doorman() { # start_doorman NAME BIN PORT PUBLIC_URL CONFIG; sets doorman_pid
  mkdir -p "$work/$1"
  (cd "$work/$1" && exec env -i PATH="$PATH" BIND_ADDR="127.0.0.1:$3" PUBLIC_URL="$4" \
    SESSION_SECRET="$secret" TRUSTED_PROXIES=127.0.0.1 DATABASE_URL="$work/$1/d.db" \
    TOKIO_WORKER_THREADS="$workers" DOORMAN_CONFIG="$5" BENCH_SECRET=unused "$2") >"$work/$1.log" 2>&1 &
  doorman_pid=$!
  pids+=("$doorman_pid")
}
config_b="$root/deploy/policies.toml"
idp_b=()
if [ "${BENCH_PROVIDERS_B:-}" = 1 ]; then
  # Issuers nobody answers at: discovery retries in the background; decisions need none of it.
  config_b="$work/providers.toml"
  { cat "$root/deploy/policies.toml"
    printf '\n[gateway.policy.default]\nproviders = ["corp", "partner"]\n'
    for id in corp partner; do
      printf '\n[[provider]]\nid = "%s"\nissuer = "http://127.0.0.1:9/%s"\nclient_id = "bench"\nclient_secret_env = "BENCH_SECRET"\n' "$id" "$id"
    done; } >"$config_b"
  idp_b=(--idp "http://127.0.0.1:9/partner")
fi
start_doorman doorman "$bin" "$port_doorman" "$public" "$root/deploy/policies.toml"
pid_a=$doorman_pid
public_b="http://app.localhost:$port_guarded_b"
if [ -n "$bin_b" ]; then start_doorman doorman_b "$bin_b" "$port_doorman_b" "$public_b" "$config_b"; pid_b=$doorman_pid; fi

mkdir -p "$work/nginx/snippets" "$work/nginx/tmp"
chmod 777 "$work/nginx/tmp"
cp "$root"/deploy/nginx/doorman-*.conf "$work/nginx/snippets/"
sed -e "s|listen 443 ssl;|listen 127.0.0.1:$port_guarded;|" -e "s|server_name app.example.com;|server_name app.localhost;|" \
    -e "s|127.0.0.1:8000|127.0.0.1:$port_doorman|g" -e "s|127.0.0.1:3000|127.0.0.1:$port_up|g" \
    -e "s|/etc/nginx/snippets/|$work/nginx/snippets/|g" "$root/deploy/nginx/app.conf" >"$work/nginx/app.conf"
# B: the same snippet before the second doorman, its upstream blocks renamed.
include_b=
if [ -n "$bin_b" ]; then
  sed -e "s|listen 443 ssl;|listen 127.0.0.1:$port_guarded_b;|" -e "s|server_name app.example.com;|server_name app.localhost;|" \
      -e "s|127.0.0.1:8000|127.0.0.1:$port_doorman_b|g" -e "s|127.0.0.1:3000|127.0.0.1:$port_up|g" \
      -e "s|upstream doorman |upstream doorman_b |; s|http://doorman|http://doorman_b|g" \
      -e "s|upstream app |upstream app_b |; s|http://app;|http://app_b;|g" \
      -e "s|@doorman_unauthenticated|@doorman_unauthenticated|g" \
      -e "s|/etc/nginx/snippets/|$work/nginx/snippets/|g" "$root/deploy/nginx/app.conf" >"$work/nginx/app_b.conf"
  include_b="include $work/nginx/app_b.conf;"
fi
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
    # The floor of the pattern: auth_request to an auth endpoint that only says yes.
    upstream noop { server 127.0.0.1:$port_noop; keepalive 64; }
    server { listen 127.0.0.1:$port_noop; location / { return 200; } }
    server {
        listen 127.0.0.1:$port_floor;
        location = /_auth {
            internal;
            proxy_pass http://noop;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
        location / {
            auth_request /_auth;
            proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://plain;
        }
    }
    include $work/nginx/app.conf;
    $include_b
}
EOF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>"$work/nginx.err" &
pids+=($!)
for port in "$port_doorman" ${bin_b:+"$port_doorman_b"}; do
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
done

# A session cookie doorman accepts: HS256 with its secret and its claims.
token=$(python3 "$here/mint_session.py" "$secret" "$public")
token_b=$(python3 "$here/mint_session.py" "$secret" "$public_b" "${idp_b[@]}")
check() { # check PORT TOKEN
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: app.localhost:$1" -H "Cookie: access_token=$2" "http://127.0.0.1:$1/x")
  [ "$code" = 200 ] || { echo "bench: the guarded path on $1 answered $code, not 200"; tail -n 5 "$work"/doorman*.log "$work/nginx/error.log"; exit 1; }
}
check "$port_guarded" "$token"
check "$port_floor" "$token"
[ -z "$bin_b" ] || check "$port_guarded_b" "$token_b"

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # run PORT TOKEN -> "req/s p99 requests"
  local out
  out=$(wrk -t2 -c64 -d"$duration" --latency -H "Host: app.localhost:$1" -H "Cookie: access_token=$2" "http://127.0.0.1:$1/x")
  echo "$out" | awk '/Requests\/sec/ {rps=$2} /requests in/ {n=$1} /^ +99%/ {p99=$2} END {print rps, p99, n}'
}
guarded() { # guarded PORT TOKEN PID -> "req/s p99 us/decision"
  local c0 c1 rps p99 n
  c0=$(cpu "$3")
  read -r rps p99 n < <(run "$1" "$2")
  c1=$(cpu "$3")
  echo "$rps $p99 $(python3 -c "print(f'{($c1-$c0)/100*1e6/$n:.1f}')")"
}
echo "doorman serving threads: $workers of $cores cores (DOORMAN_WORKERS)${bin_b:+; A = $bin, B = $bin_b}"
printf '%-6s %-18s %12s %10s %12s\n' round path req/s p99 "doorman us/decision"
for r in $(seq 1 "$rounds"); do
  wrk -t2 -c64 -d2s -H "Host: app.localhost:$port_guarded" -H "Cookie: access_token=$token" "http://127.0.0.1:$port_guarded/x" >/dev/null
  read -r rps_plain p99_plain _ < <(run "$port_plain" "$token")
  read -r rps_floor p99_floor _ < <(run "$port_floor" "$token")
  read -r rps_a p99_a us_a < <(guarded "$port_guarded" "$token" "$pid_a")
  printf '%-6s %-18s %12s %10s %12s\n' "$r" unprotected "$rps_plain" "$p99_plain" -
  printf '%-6s %-18s %12s %10s %12s\n' "$r" "no-op auth_request" "$rps_floor" "$p99_floor" -
  printf '%-6s %-18s %12s %10s %12s\n' "$r" "doorman${bin_b:+ A}" "$rps_a" "$p99_a" "$us_a"
  python3 -c "print(f'       ratio protected/unprotected: {$rps_a/$rps_plain:.3f}   doorman/no-op floor: {$rps_a/$rps_floor:.3f}')"
  if [ -n "$bin_b" ]; then
    read -r rps_b p99_b us_b < <(guarded "$port_guarded_b" "$token_b" "$pid_b")
    printf '%-6s %-18s %12s %10s %12s\n' "$r" "doorman B" "$rps_b" "$p99_b" "$us_b"
    python3 -c "print(f'       B: protected/unprotected {$rps_b/$rps_plain:.3f}, doorman/no-op floor {$rps_b/$rps_floor:.3f}, B/A {$rps_b/$rps_a:.3f}')"
  fi
done
