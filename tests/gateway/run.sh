#!/usr/bin/env bash
# The gateway for real: Debian's nginx-light and caddy, configured from the snippets in deploy/
# (the ones the README shows; only addresses and file paths are changed), in front of an echo
# upstream, with doorman deciding and a real OpenID provider (oidc-provider) for sign-in.
# The scenarios (tests/gateway/scenarios.mjs) drive headless Chromium and plain HTTP clients.
# Then several providers at once (tests/gateway/providers.mjs, plain HTTP): a second nginx and
# Caddy from the same deploy/ files, and doorman as the front door, each with a doorman whose
# DOORMAN_CONFIG has [[provider]] blocks (corp, discovered from discovery.py; partner, whose
# issuer nobody answers) and policies that admit some providers only, at locations added in
# the deploy files' own words (copies of their /admin/ blocks, the path and policy changed).
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
  cp "$work"/nginx*/*.log "$artifacts/" 2>/dev/null
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
read -r port_nginx port_caddy port_d1 port_d2 port_up \
  port_nginx_p port_caddy_p port_d3 port_d4 port_front port_corp port_partner < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(12)]
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
# corp's issuer for the several-providers gateway (partner's, on $port_partner, stays silent).
python3 "$here/discovery.py" "$port_corp" >"$artifacts/discovery.log" 2>&1 &
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

# insert_before LINE FILE: stdin, with FILE's lines before its first line that is exactly LINE
# (no FILE: unchanged).
insert_before() {
  awk -v line="$1" -v extra="$2" 'extra != "" && !done && $0 == line { while ((getline l < extra) > 0) print l; done = 1 } { print }'
}
# block FILE FIRST LAST: FILE's lines from the first that is exactly FIRST to the next exactly LAST.
block() { awk -v first="$2" -v last="$3" 'on || $0 == first { print; on = 1 } on && $0 == last { exit }' "$1"; }

# nginx: deploy/nginx/*.conf with a run's addresses, inside a minimal main configuration.
# start_nginx NAME PORT DOORMAN_PORT [EXTRA]: EXTRA, a file of locations, goes before `location /`.
start_nginx() {
  local dir="$work/$1"
  mkdir -p "$dir/snippets" "$dir/tmp"
  chmod 777 "$dir/tmp"
  for f in doorman-auth-request.conf doorman-identity.conf; do cp "$root/deploy/nginx/$f" "$dir/snippets/"; done
  insert_before "    location / {" "${4:-}" <"$root/deploy/nginx/app.conf" |
    sed -e "s|listen 443 ssl;|listen 127.0.0.1:$2;|" \
      -e "s|server_name app.example.com;|server_name app.localhost;|" \
      -e "s|127.0.0.1:8000|127.0.0.1:$3|g" \
      -e "s|127.0.0.1:3000|127.0.0.1:$port_up|g" \
      -e "s|/etc/nginx/snippets/|$dir/snippets/|g" >"$dir/app.conf"
  cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/$1-error.log info;
events { worker_connections 512; }
http {
    access_log $dir/$1-access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include $dir/app.conf;
}
EOF
  "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >"$artifacts/$1.log" 2>&1 &
  pids+=($!)
}

# Caddy: deploy/caddy/Caddyfile with a run's addresses, plain http on loopback.
# start_caddy NAME PORT DOORMAN_PORT [EXTRA]: EXTRA, a file of handle blocks, goes before `handle {`.
start_caddy() {
  local dir="$work/$1"
  mkdir -p "$dir"
  {
    printf '{\n\tadmin off\n\tauto_https off\n}\n'
    insert_before $'\thandle {' "${4:-}" <"$root/deploy/caddy/Caddyfile" |
      sed -e "s|^app.example.com {|http://app.localhost:$2 {\n\tbind 127.0.0.1|" \
        -e "s|127.0.0.1:8000|127.0.0.1:$3|g" \
        -e "s|127.0.0.1:3000|127.0.0.1:$port_up|g"
  } >"$dir/Caddyfile"
  (cd "$dir" && exec env -i PATH="$PATH" HOME="$dir" XDG_DATA_HOME="$dir/data" XDG_CONFIG_HOME="$dir/config" \
    caddy run --config "$dir/Caddyfile" --adapter caddyfile) >"$artifacts/$1.log" 2>&1 &
  pids+=($!)
}

start_nginx nginx "$port_nginx" "$port_d1"
start_caddy caddy "$port_caddy" "$port_d2"

# ---------- setup: several providers at once (tests/gateway/providers.mjs) ----------

corp_issuer="http://127.0.0.1:$port_corp"
partner_issuer="http://127.0.0.1:$port_partner"
app_nginx_p="http://app.localhost:$port_nginx_p"
app_caddy_p="http://app.localhost:$port_caddy_p"
app_front="http://app.localhost:$port_front"
secret_nginx_p=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
secret_caddy_p=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
secret_front=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
# deploy/policies.toml (its `status` is public), two providers, and policies admitting some.
{
  cat "$root/deploy/policies.toml"
  cat <<EOF

[[provider]]
id = "corp"
name = "Corp SSO"
issuer = "$corp_issuer"
client_id = "doorman-gw"
client_secret_env = "CORP_SECRET"

[[provider]]
id = "partner"
issuer = "$partner_issuer"
client_id = "doorman-gw"
client_secret_env = "PARTNER_SECRET"

[gateway.policy.corp-only]
providers = ["corp"]

[gateway.policy.either]
providers = ["corp", "partner"]
EOF
} >"$work/providers.toml"
# The front door's: the same, and a route per policy (doorman's own paths are never proxied).
{
  cat "$work/providers.toml"
  for route in corp:corp-only either:either status:status; do
    printf '\n[[gateway.route]]\nname = "%s"\npath_prefix = "/%s"\nupstream = "http://127.0.0.1:%s"\npolicy = "%s"\n' \
      "${route%%:*}" "${route%%:*}" "$port_up" "${route#*:}"
  done
} >"$work/front-door.toml"
# nginx's and Caddy's locations for those policies: the deploy files' own /admin/ blocks, copied.
: >"$work/nginx-extra.conf"
: >"$work/caddy-extra"
for route in corp:corp-only either:either status:status; do
  path=${route%%:*} policy=${route#*:}
  {
    block "$root/deploy/nginx/app.conf" "    location = /_doorman/admins {" "    }" |
      sed -e "s|/_doorman/admins {|/_doorman/$policy {|" -e "s|/auth-request/admins;|/auth-request/$policy;|"
    block "$root/deploy/nginx/app.conf" "    location /admin/ {" "    }" |
      sed -e "s|location /admin/ {|location /$path/ {|" -e "s|auth_request /_doorman/admins;|auth_request /_doorman/$policy;|"
  } >>"$work/nginx-extra.conf"
  block "$root/deploy/caddy/Caddyfile" $'\thandle /admin/* {' $'\t}' |
    sed -e "s|handle /admin/\* {|handle /$path/* {|" -e "s|/forward-auth/admins\$|/forward-auth/$policy|" >>"$work/caddy-extra"
done
providers_ok=1
for want in "/auth-request/corp-only;" "/auth-request/status;" "auth_request /_doorman/either;" "location /corp/ {"; do
  grep -qF "$want" "$work/nginx-extra.conf" || { providers_ok=0; echo "deploy/nginx/app.conf: its /admin/ blocks did not copy ($want)"; }
done
for want in "/forward-auth/corp-only" "/forward-auth/status" "handle /either/* {"; do
  grep -qF "$want" "$work/caddy-extra" || { providers_ok=0; echo "deploy/caddy/Caddyfile: its /admin/* block did not copy ($want)"; }
done
start_providers_doorman() { # start_providers_doorman NAME PORT PUBLIC_URL SECRET CONFIG [VAR=VALUE...]
  mkdir -p "$work/$1"
  (cd "$work/$1" && exec env -i PATH="$PATH" RUST_LOG=info BIND_ADDR="127.0.0.1:$2" PUBLIC_URL="$3" \
    SESSION_SECRET="$4" DOORMAN_CONFIG="$5" CORP_SECRET=corp-client-secret PARTNER_SECRET=partner-client-secret \
    DATABASE_URL="$work/$1/doorman.db" "${@:6}" "$bin") >"$artifacts/$1.log" 2>&1 &
  pids+=($!)
}
start_providers_doorman doorman-providers-nginx "$port_d3" "$app_nginx_p" "$secret_nginx_p" "$work/providers.toml" TRUSTED_PROXIES=127.0.0.1
start_providers_doorman doorman-providers-caddy "$port_d4" "$app_caddy_p" "$secret_caddy_p" "$work/providers.toml" TRUSTED_PROXIES=127.0.0.1
start_providers_doorman doorman-front-door "$port_front" "$app_front" "$secret_front" "$work/front-door.toml"
start_nginx nginx-providers "$port_nginx_p" "$port_d3" "$work/nginx-extra.conf"
start_caddy caddy-providers "$port_caddy_p" "$port_d4" "$work/caddy-extra"

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

step="setup: several providers: doorman x3 (behind a second nginx and Caddy, and the front door), corp's issuer"
for url in "http://127.0.0.1:$port_d3" "http://127.0.0.1:$port_d4" "http://127.0.0.1:$port_front"; do
  wait_for 30 ready "$url" || { providers_ok=0; echo "$url is not ready: $(curl -s --max-time 2 "$url/readyz")"; }
done
for port in "$port_nginx_p" "$port_caddy_p"; do
  wait_for 30 answers -H "Host: app.localhost:$port" "http://127.0.0.1:$port/auth/login" || { providers_ok=0; echo "no answer on $port"; }
done
if [ "$providers_ok" = 1 ]; then pass "$step"; else fail "$step" "see the logs in $artifacts"; fi

# ---------- the scenarios ----------

note "scenarios (nginx $app_nginx, caddy $app_caddy)"
GW_ISSUER="$issuer" GW_RESULTS="$results" GW_ARTIFACTS="$artifacts" \
  GW_NGINX="$app_nginx" GW_NGINX_DOORMAN="http://127.0.0.1:$port_d1" GW_NGINX_SECRET="$secret_nginx" \
  GW_CADDY="$app_caddy" GW_CADDY_DOORMAN="http://127.0.0.1:$port_d2" GW_CADDY_SECRET="$secret_caddy" \
  timeout -k 10 300 node "$here/scenarios.mjs" || true

if [ "$providers_ok" = 1 ]; then
  note "several providers (nginx $app_nginx_p, caddy $app_caddy_p, front door $app_front)"
  failed_before=$(grep -c '^FAIL' "$results")
  gateway() { printf '{"name":"%s","base":"%s","doorman":"http://127.0.0.1:%s","secret":"%s"}' "$@"; }
  GW_PROVIDERS="[$(gateway nginx "$app_nginx_p" "$port_d3" "$secret_nginx_p"),$(gateway caddy "$app_caddy_p" "$port_d4" "$secret_caddy_p"),$(gateway 'front door' "$app_front" "$port_front" "$secret_front")]" \
    GW_CORP_ISSUER="$corp_issuer" GW_PARTNER_ISSUER="$partner_issuer" GW_UPSTREAM_LOG="$artifacts/upstream.log" \
    GW_RESULTS="$results" GW_ARTIFACTS="$artifacts" \
    timeout -k 10 120 node "$here/providers.mjs"
  status=$? failed=$(grep -c '^FAIL' "$results")
  # A crash, or the timeout, before a step could say so is a failure too.
  [ "$status" -ne 0 ] && [ "$failed" -eq "$failed_before" ] && fail "several providers: providers.mjs" "exited with status $status (see above)"
fi
finish
