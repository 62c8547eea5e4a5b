#!/usr/bin/env bash
# doorman as the front door before a real nginx that normalises paths (dot segments, escapes,
# merged slashes) the way most upstream servers do: every path and host shape of the security
# audit (tests/gateway/front_door.py) must meet the route and policy of its normal form.
#
#   tests/gateway/front_door.sh                                   # builds target/release/doorman
#   DOORMAN_BIN=target/debug/doorman tests/gateway/front_door.sh  # any prebuilt binary
#
# Installs nginx-light with apt when missing, starts nginx and doorman on 127.0.0.1 (free
# ports) and stops exactly those on exit. Results in tests/gateway/artifacts/front-door/.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
artifacts=${GATEWAY_ARTIFACTS:-$here/artifacts}/front-door
rm -rf "$artifacts"
mkdir -p "$artifacts"
results="$artifacts/results.tsv"
: >"$results"
work=$(mktemp -d "${TMPDIR:-/tmp}/doorman-front-door.XXXXXX")
chmod 755 "$work"
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  cp "$work"/*.log "$artifacts/" 2>/dev/null
  rm -rf "$work"
}
trap stop EXIT

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  as_root apt-get install -y -q nginx-light >>"$artifacts/install.log" 2>&1 ||
    { as_root apt-get update -q >>"$artifacts/install.log" 2>&1 && as_root apt-get install -y -q nginx-light >>"$artifacts/install.log" 2>&1; } ||
    { echo "FAIL: apt-get install nginx-light (see $artifacts/install.log)"; exit 1; }
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

bin=${DOORMAN_BIN:-}
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --release -q) >"$artifacts/build.log" 2>&1 || { echo "FAIL: cargo build --release"; exit 1; }
  bin="$root/target/release/doorman"
fi
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac

read -r port_nginx port_doorman < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')

# nginx as the service: it says which location served the request, with nginx's own reading
# of the path ($uri: decoded, dots resolved, slashes merged) and what it received.
mkdir -p "$work/tmp"
chmod 777 "$work/tmp"
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log info;
events { worker_connections 256; }
http {
    access_log $work/nginx-access.log;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fastcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    server {
        listen 127.0.0.1:$port_nginx;
        default_type text/plain;
        location /admin/ { return 200 "ADMIN-AREA uri=\$uri request_uri=\$request_uri user=\$http_x_doorman_user auth=\$http_authorization\n"; }
        location / { return 200 "APP uri=\$uri request_uri=\$request_uri auth=\$http_authorization\n"; }
    }
}
EOF
"$nginx_bin" -p "$work" -c "$work/nginx.conf" -g 'daemon off;' >"$work/nginx.log" 2>&1 &
pids+=($!)

cat >"$work/doorman.toml" <<EOF
[gateway.policy.admins]
roles = ["admin"]
[gateway.policy.open]
public = true

[[gateway.route]]
name = "app"
upstream = "http://127.0.0.1:$port_nginx"
policy = "open"

[[gateway.route]]
name = "admin"
path_prefix = "/admin"
upstream = "http://127.0.0.1:$port_nginx"
policy = "admins"

[[gateway.route]]
name = "secret"
host = "secret.local"
upstream = "http://127.0.0.1:$port_nginx"
policy = "admins"
EOF
public="http://127.0.0.1:$port_doorman"
secret=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
doorman_env=(PATH="$PATH" RUST_LOG=info BIND_ADDR="127.0.0.1:$port_doorman" PUBLIC_URL="$public"
  SESSION_SECRET="$secret" DOORMAN_CONFIG="$work/doorman.toml" DATABASE_URL="$work/doorman.db")
# A local admin, who signs in at /auth/password and approves a device grant (front_door.py).
password=$(head -c 18 /dev/urandom | base64 | tr -d '\n/+=')
(cd "$work" && env -i "${doorman_env[@]}" DOORMAN_PASSWORD="$password" "$bin" create-user --username oncall \
  --email oncall@example.com --name "On Call" --role admin) >"$work/create-user.log" 2>&1 ||
  { echo "FAIL: doorman create-user (see $artifacts/create-user.log)"; exit 1; }
(cd "$work" && exec env -i "${doorman_env[@]}" "$bin") >"$work/doorman.log" 2>&1 &
pids+=($!)

deadline=$((SECONDS + 30))
until curl -s -o /dev/null --max-time 1 "$public/healthz" && curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port_nginx/"; do
  [ "$SECONDS" -ge "$deadline" ] && { echo "FAIL: doorman or nginx did not start (see $artifacts)"; exit 1; }
  sleep 0.1
done
echo "front door: $($nginx_bin -v 2>&1) behind doorman at $public"
python3 "$here/front_door.py" "127.0.0.1:$port_doorman" "$secret" "$public" "$results" oncall "$password"
status=$?
echo "front door: $(grep -c '^PASS' "$results") passed, $(grep -c '^FAIL' "$results") failed"
exit $status
