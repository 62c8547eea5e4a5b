#!/usr/bin/env bash
# The gateway for real: Debian's nginx-light and caddy, configured from the snippets in deploy/
# (the ones the README shows; only addresses and file paths are changed), in front of an echo
# upstream, with doorman deciding and a real OpenID provider (oidc-provider) for sign-in.
# The scenarios (tests/gateway/scenarios.mjs) drive headless Chromium and plain HTTP clients.
#
#   tests/gateway/run.sh                                   # builds target/release/doorman
#   DOORMAN_BIN=target/debug/doorman tests/gateway/run.sh  # any prebuilt binary
#
# Installs what it needs, idempotently (apt: nginx-light, caddy, chromium, nodejs, npm; npm ci in
# tests/e2e, whose packages it shares), starts every server on 127.0.0.1 and stops exactly
# those on exit. Logs and results stay in tests/gateway/artifacts/. Exit code 0 only when
# every step passed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
e2e="$root/tests/e2e"
artifacts=${GATEWAY_ARTIFACTS:-$here/artifacts}
rm -rf "$artifacts"
mkdir -p "$artifacts"
results="$artifacts/results.tsv"
: >"$results"
work=$(mktemp -d "${TMPDIR:-/tmp}/doorman-gateway.XXXXXX")
chmod 755 "$work"
pids=()

pass() { printf 'PASS\t%s\n' "$1" >>"$results"; echo "ok   $1"; }
fail() { printf 'FAIL\t%s\t%s\n' "$1" "$2" >>"$results"; echo "FAIL $1"; echo "     $2"; }
note() { printf '\n=== %s ===\n' "$*"; }

stop_servers() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for _ in $(seq 1 30); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  pids=()
}
finish() {
  stop_servers
  cp "$work"/nginx/*.log "$artifacts/" 2>/dev/null
  local passed failed
  passed=$(grep -c '^PASS' "$results")
  failed=$(grep -c '^FAIL' "$results")
  if [ "$failed" -gt 0 ]; then
    for log in "$artifacts"/*.log; do
      [ -f "$log" ] || continue
      echo "--- last lines of $log ---"
      tail -n 12 "$log"
    done
  fi
  rm -rf "$work"
  echo
  echo "gateway: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
  exit $?
}
trap 'stop_servers; rm -rf "$work"' EXIT
trap 'fail "run interrupted" "got a signal"; finish' INT TERM HUP

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
apt_install() {
  as_root apt-get install -y -q "$@" >>"$artifacts/install.log" 2>&1 ||
    { as_root apt-get update -q >>"$artifacts/install.log" 2>&1 && as_root apt-get install -y -q "$@" >>"$artifacts/install.log" 2>&1; }
}

# ---------- setup: tools ----------

note "tools"
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing with apt-get: ${missing[*]}"
  apt_install "${missing[@]}" || { fail "setup: apt-get install ${missing[*]}" "see $artifacts/install.log"; finish; }
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
pass "setup: $($nginx_bin -v 2>&1), $(caddy version 2>/dev/null | cut -d' ' -f1) caddy, $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
if [ ! -d "$e2e/node_modules/playwright-core" ] || [ ! -d "$e2e/node_modules/oidc-provider" ]; then
  (cd "$e2e" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >>"$artifacts/install.log" 2>&1) ||
    { fail "setup: npm ci in tests/e2e" "see $artifacts/install.log"; finish; }
fi
ln -sfn ../e2e/node_modules "$here/node_modules"

bin=${DOORMAN_BIN:-}
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --release -q) >"$artifacts/build.log" 2>&1 || { fail "setup: cargo build --release" "see $artifacts/build.log"; finish; }
  bin="$root/target/release/doorman"
fi
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac

# ---------- setup: servers ----------

note "servers"
read -r port_nginx port_caddy port_d1 port_d2 port_up < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
app_nginx="http://app.localhost:$port_nginx"
app_caddy="http://app.localhost:$port_caddy"

client_id=doorman-gateway
client_secret=$(head -c 24 /dev/urandom | base64 | tr -d '\n/+=')
secret_nginx=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
secret_caddy=$(head -c 48 /dev/urandom | base64 | tr -d '\n')

wait_for() { # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ "$SECONDS" -ge "$deadline" ] && return 1; sleep 0.1; done
}
answers() { curl -s -o /dev/null --max-time 2 "$@"; }

node "$e2e/provider.mjs" --port 0 --client-id "$client_id" --client-secret "$client_secret" \
  --redirect-uri "$app_nginx/auth/callback" --redirect-uri "$app_caddy/auth/callback" \
  --conform-id-token-claims false --ready-file "$work/provider.ready" >"$artifacts/provider.log" 2>&1 &
pids+=($!)
python3 "$here/upstream.py" "$port_up" >"$artifacts/upstream.log" 2>&1 &
pids+=($!)
wait_for 20 test -s "$work/provider.ready" || { fail "setup: oidc-provider" "see $artifacts/provider.log"; finish; }
issuer=$(cat "$work/provider.ready")

start_doorman() { # start_doorman NAME PORT PUBLIC_URL SECRET
  mkdir -p "$work/$1"
  (cd "$work/$1" && exec env -i PATH="$PATH" RUST_LOG=info BIND_ADDR="127.0.0.1:$2" PUBLIC_URL="$3" \
    SESSION_SECRET="$4" OIDC_ISSUER_URL="$issuer" OIDC_CLIENT_ID="$client_id" OIDC_CLIENT_SECRET="$client_secret" \
    TRUSTED_PROXIES=127.0.0.1 ADMIN_EMAILS=ada@example.com DOORMAN_CONFIG="$root/deploy/policies.toml" \
    OIDC_SCOPES="openid email profile groups" \
    DATABASE_URL="$work/$1/doorman.db" "$bin") >"$artifacts/$1.log" 2>&1 &
  pids+=($!)
}
start_doorman doorman-nginx "$port_d1" "$app_nginx" "$secret_nginx"
start_doorman doorman-caddy "$port_d2" "$app_caddy" "$secret_caddy"

# nginx: deploy/nginx/*.conf with this run's addresses, inside a minimal main configuration.
mkdir -p "$work/nginx/snippets" "$work/nginx/tmp"
chmod 777 "$work/nginx/tmp"
for f in doorman-auth-request.conf doorman-identity.conf; do cp "$root/deploy/nginx/$f" "$work/nginx/snippets/"; done
sed -e "s|listen 443 ssl;|listen 127.0.0.1:$port_nginx;|" \
    -e "s|server_name app.example.com;|server_name app.localhost;|" \
    -e "s|127.0.0.1:8000|127.0.0.1:$port_d1|g" \
    -e "s|127.0.0.1:3000|127.0.0.1:$port_up|g" \
    -e "s|/etc/nginx/snippets/|$work/nginx/snippets/|g" \
    "$root/deploy/nginx/app.conf" >"$work/nginx/app.conf"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/nginx-error.log info;
events { worker_connections 512; }
http {
    access_log $work/nginx/nginx-access.log;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
    include $work/nginx/app.conf;
}
EOF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' >"$artifacts/nginx.log" 2>&1 &
pids+=($!)

# Caddy: deploy/caddy/Caddyfile with this run's addresses, plain http on loopback.
mkdir -p "$work/caddy"
{
  printf '{\n\tadmin off\n\tauto_https off\n}\n'
  sed -e "s|^app.example.com {|http://app.localhost:$port_caddy {\n\tbind 127.0.0.1|" \
      -e "s|127.0.0.1:8000|127.0.0.1:$port_d2|g" \
      -e "s|127.0.0.1:3000|127.0.0.1:$port_up|g" \
      "$root/deploy/caddy/Caddyfile"
} >"$work/caddy/Caddyfile"
(cd "$work/caddy" && exec env -i PATH="$PATH" HOME="$work/caddy" XDG_DATA_HOME="$work/caddy/data" XDG_CONFIG_HOME="$work/caddy/config" \
  caddy run --config "$work/caddy/Caddyfile" --adapter caddyfile) >"$artifacts/caddy.log" 2>&1 &
pids+=($!)

step="setup: doorman x2, nginx, caddy and the upstream answer"
ok=1
for url in "http://127.0.0.1:$port_d1/healthz" "http://127.0.0.1:$port_d2/healthz" "http://127.0.0.1:$port_up/"; do
  wait_for 60 answers "$url" || { ok=0; echo "no answer from $url"; }
done
for port in "$port_nginx" "$port_caddy"; do
  wait_for 30 answers -H "Host: app.localhost:$port" "http://127.0.0.1:$port/auth/login" || { ok=0; echo "no answer on $port"; }
done
ready() { curl -s --max-time 2 "$1/readyz" | grep -q '"status":"ready"'; }
wait_for 30 ready "http://127.0.0.1:$port_d1" && wait_for 30 ready "http://127.0.0.1:$port_d2" || ok=0
if [ "$ok" = 1 ]; then pass "$step"; else fail "$step" "see the logs in $artifacts"; finish; fi

# ---------- the scenarios ----------

note "scenarios (nginx $app_nginx, caddy $app_caddy)"
GW_ISSUER="$issuer" GW_RESULTS="$results" GW_ARTIFACTS="$artifacts" \
  GW_NGINX="$app_nginx" GW_NGINX_DOORMAN="http://127.0.0.1:$port_d1" GW_NGINX_SECRET="$secret_nginx" \
  GW_CADDY="$app_caddy" GW_CADDY_DOORMAN="http://127.0.0.1:$port_d2" GW_CADDY_SECRET="$secret_caddy" \
  timeout -k 10 300 node "$here/scenarios.mjs" || true
finish
