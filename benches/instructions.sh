#!/usr/bin/env bash
# Instructions per request, counted by callgrind: a figure that repeats for the same binary
# and inputs whatever else the machine is doing, so two builds can be compared where timings
# cannot (a benchmark, not a test; not run by CI).
#
#   benches/instructions.sh [BIN ...]          # default: target/release/doorman
#   REQUESTS=5000 PATHS="/api/user / /.doorman/auth-request/default /proxied/x" benches/instructions.sh old/doorman new/doorman
#   KEEP=/tmp/prof benches/instructions.sh     # also keeps each callgrind dump, for callgrind_annotate
#
# Each binary runs as the team bench runs it (../shared/bench/doorman-server.sh: the default
# log filter, the development provider, a throwaway database, the access log on stdout), under
# `valgrind --tool=callgrind` with one serving thread, started afresh for each path. For each:
# a warm-up, the counters zeroed (`callgrind_control -z`), REQUESTS requests with the bench's
# cookie over 8 kept-alive connections, the counters dumped; instructions / REQUESTS is
# printed, every thread included (the access-log writer too). A `/.doorman/` path is asked as
# nginx asks it (`X-Original-URL`, `X-Original-Method`, from a trusted proxy: doorman then runs
# with TRUSTED_PROXIES=127.0.0.1 and the deploy/policies.toml policies). A `/proxied/` path goes
# through the front door: a `[[gateway.route]]` to a small keep-alive upstream (Python, outside
# callgrind), so its figure is the proxy's: the decision, the identity headers, the forwarding.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
requests=${REQUESTS:-5000}
paths=${PATHS:-/api/user /}
command -v valgrind >/dev/null || { apt-get install -y -q valgrind >/dev/null 2>&1 || sudo -n apt-get install -y -q valgrind >/dev/null; }
bins=("$@")
if [ ${#bins[@]} -eq 0 ]; then
  (cd "$root" && cargo build --release -q)
  bins=("$root/target/release/doorman")
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/doorman-instructions.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
public="http://127.0.0.1:$port"
secret=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
token=$(python3 "$root/tests/gateway/mint_session.py" "$secret" "$public")

# N requests over C kept-alive connections, round robin; exits non-zero unless all were 200.
cat >"$work/client.py" <<'EOF'
import http.client, sys
port, path, n, token = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(8)]
headers = {"Cookie": f"access_token={token}", "Accept": "*/*"}
if path.startswith("/.doorman/"):
    headers.update({"X-Original-URL": f"http://app.localhost:{port}/x", "X-Original-Method": "GET",
                    "X-Forwarded-For": "127.0.0.1"})
bad = 0
for i in range(n):
    c = conns[i % len(conns)]
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    r.read()
    bad += r.status != 200
sys.exit(1 if bad else 0)
EOF

# The front door's upstream: HTTP/1.1 keep-alive, a small JSON answer, outside callgrind.
up_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/upstream.py" <<'UPSTREAM'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
UPSTREAM
python3 "$work/upstream.py" "$up_port" &
up_pid=$!
trap 'kill "$up_pid" 2>/dev/null; [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
# The route alone (its `default` policy), so that older builds read the file too.
printf '[[gateway.route]]\nname = "bench"\npath_prefix = "/proxied"\nupstream = "http://127.0.0.1:%s"\n' "$up_port" >"$work/front.toml"

printf '%-44s %-36s %14s\n' binary path instructions/request
for bin in "${bins[@]}"; do
  case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
  for path in $paths; do
    out="$work/callgrind.out"
    rm -f "$out"*
    gateway=()
    case "$path" in
      /.doorman/*) gateway=(TRUSTED_PROXIES=127.0.0.1 DOORMAN_CONFIG="$root/deploy/policies.toml") ;;
      /proxied/*) gateway=(DOORMAN_CONFIG="$work/front.toml") ;;
    esac
    (cd "$work" && exec env -i PATH="$PATH" HOME="$HOME" BIND_ADDR="127.0.0.1:$port" PUBLIC_URL="$public" \
      SESSION_SECRET="$secret" DATABASE_URL="$work/d-$RANDOM.db" TOKIO_WORKER_THREADS=1 "${gateway[@]}" \
      valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no --collect-atstart=yes \
      "$bin") >"$work/doorman.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do curl -fs "$public/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    python3 "$work/client.py" "$port" "$path" 500 "$token"
    callgrind_control -z "$pid" >/dev/null 2>&1
    python3 "$work/client.py" "$port" "$path" "$requests" "$token"
    before=$(ls "$out"* 2>/dev/null | wc -l)
    callgrind_control -d "$pid" >/dev/null 2>&1
    for _ in $(seq 1 100); do [ "$(ls "$out"* 2>/dev/null | wc -l)" -gt "$before" ] && break; sleep 0.1; done
    dump=$(ls -t "$out"* | head -1)
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
    # KEEP=DIR keeps each dump there, for callgrind_annotate --inclusive=yes.
    if [ -n "${KEEP:-}" ]; then
      mkdir -p "$KEEP" && cp "$dump" "$KEEP/$(basename "$bin")$(echo "$path" | tr / _).callgrind"
    fi
    printf '%-44s %-36s %14s\n' "${bin#"$root"/}" "$path" \
      "$(python3 -c "print(f'{$ir/$requests:,.0f}')")"
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    pid=
  done
done
