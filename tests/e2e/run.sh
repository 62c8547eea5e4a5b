#!/usr/bin/env bash
# doorman's end-to-end suite: real browser (Debian's headless Chromium driven by playwright-core),
# a real OpenID provider (oidc-provider 8.x, provider.mjs) and curl, against the doorman binary.
#
#   tests/e2e/run.sh                                   # builds target/release/doorman (cargo build --release)
#   DOORMAN_BIN=target/debug/doorman tests/e2e/run.sh  # any prebuilt binary, no build
#   E2E_ONLY=s1,s5 tests/e2e/run.sh                    # a subset: ids in browser.mjs, plus curl and mcheck (run.sh's own)
#
# Installs what it needs, idempotently: Debian's chromium (apt) and the npm packages of package-lock.json.
# Starts the providers (oidc-provider: claims in the ID token / only in userinfo / an issuer ending in a
# slash / corp's people; oauth2-mock-server: partner's people) and the doormen (one per provider, one with
# the built-in development provider, one with [[provider]] blocks for corp and partner, one with corp and a
# provider nobody listens at), runs the steps, and stops every server it started on exit.
# Screenshots, server logs and results are kept in tests/e2e/artifacts/. The last line printed is
# "N passed, M failed"; the exit code is non-zero when any step failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
artifacts=${E2E_ARTIFACTS:-$here/artifacts}
rm -rf "$artifacts"
mkdir -p "$artifacts"
results="$artifacts/results.tsv"
: >"$results"
work=$(mktemp -d "${TMPDIR:-/tmp}/doorman-e2e.XXXXXX")
started_at=$SECONDS
pids=()

# ---------- bookkeeping ----------

pass() { printf 'PASS\t%s\t%s\n' "$1" "${2:-}" >>"$results"; echo "ok   $1"; }
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
cleanup() {
  stop_servers
  rm -rf "$work"
}
trap cleanup EXIT
on_signal() {
  trap - INT TERM HUP
  echo
  echo "interrupted by SIG$1"
  stop_servers
  fail "run interrupted" "run.sh got SIG$1 before the suite finished"
  finish
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP

# Prints the summary and exits: the last line is "N passed, M failed".
finish() {
  stop_servers
  local passed failed
  passed=$(grep -c '^PASS' "$results")
  failed=$(grep -c '^FAIL' "$results")
  if [ "$failed" -gt 0 ]; then
    note "failed steps"
    awk -F '\t' '$1 == "FAIL" { printf "FAIL %s\n     %s\n", $2, $3 }' "$results"
    local log
    for log in "$artifacts"/doorman*.log "$artifacts"/provider*.log; do
      [ -f "$log" ] || continue
      echo "--- last lines of $log ---"
      tail -n 15 "$log"
    done
    echo
    echo "Artefacts kept in $artifacts:"
    (cd "$artifacts" && ls -1 | sed 's/^/  /')
  fi
  echo
  echo "e2e: finished in $((SECONDS - started_at)) s"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# apt_install PACKAGE...: apt-get install; apt-get update (once) only when that fails.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -q "$@" >>"$install_log" 2>&1 ||
    { as_root apt-get update -q >>"$install_log" 2>&1 && as_root apt-get install -y -q "$@" >>"$install_log" 2>&1; }
}

# ---------- setup: tools ----------

note "setup"
install_log="$artifacts/install.log"

step="setup: Debian's chromium at /usr/bin/chromium"
if [ -x /usr/bin/chromium ]; then
  pass "$step (already installed)"
else
  echo "installing chromium with apt-get (log: $install_log)"
  if apt_install chromium && [ -x /usr/bin/chromium ]; then
    pass "$step (installed)"
  else
    fail "$step" "apt-get install -y chromium failed (see $install_log)"
    finish
  fi
fi

step="setup: node packages (oidc-provider, oauth2-mock-server, playwright-core) from package-lock.json"
if ! command -v node >/dev/null 2>&1; then
  echo "installing nodejs with apt-get (log: $install_log)"
  apt_install nodejs
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "installing npm with apt-get (log: $install_log)"
  apt_install npm
fi
stamp="$here/node_modules/.e2e-package-lock.json"
if [ -f "$stamp" ] && cmp -s "$stamp" "$here/package-lock.json"; then
  pass "$step (up to date)"
elif (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >>"$install_log" 2>&1) &&
  cp "$here/package-lock.json" "$stamp"; then
  pass "$step (npm ci)"
else
  fail "$step" "npm ci failed in $here (see $install_log)"
  finish
fi

step="setup: doorman binary"
if [ -n "${DOORMAN_BIN:-}" ]; then
  case $DOORMAN_BIN in /*) bin=$DOORMAN_BIN ;; *) bin="$PWD/$DOORMAN_BIN" ;; esac
  [ -x "$bin" ] || [ ! -x "$root/$DOORMAN_BIN" ] || bin="$root/$DOORMAN_BIN"
  how="DOORMAN_BIN"
else
  echo "cargo build --release (log: $artifacts/build.log)"
  if ! (cd "$root" && cargo build --release) >"$artifacts/build.log" 2>&1; then
    fail "$step" "cargo build --release failed (see $artifacts/build.log)"
    finish
  fi
  bin="$root/target/release/doorman"
  how="cargo build --release"
fi
if [ -x "$bin" ]; then
  pass "$step ($bin, from $how)"
else
  fail "$step" "not an executable: $bin"
  finish
fi

# ---------- setup: servers ----------

note "servers"
# Free loopback ports for the doormen (the providers pick their own), and one nobody will listen at.
read -r port_main port_userinfo port_dev port_slash port_refresh port_multi port_half port_dead < <(node -e '
  const net = require("node:net");
  const servers = [0, 1, 2, 3, 4, 5, 6, 7].map(() => net.createServer());
  Promise.all(servers.map((s) => new Promise((r) => s.listen(0, "127.0.0.1", () => r(s.address().port)))))
    .then((ports) => { console.log(ports.join(" ")); servers.forEach((s) => s.close()); });')
doorman_main="http://127.0.0.1:$port_main"
doorman_userinfo="http://127.0.0.1:$port_userinfo"
doorman_dev="http://127.0.0.1:$port_dev"
doorman_slash="http://127.0.0.1:$port_slash"
doorman_refresh="http://127.0.0.1:$port_refresh"
doorman_multi="http://127.0.0.1:$port_multi"
doorman_half="http://127.0.0.1:$port_half"
issuer_dead="http://127.0.0.1:$port_dead"

client_id="doorman-e2e"
# ':' '+' '%' (and '/', '=', ' ') prove that doorman form-encodes client_secret_basic (RFC 6749 2.3.1):
# unencoded, oidc-provider reads '+' as a space and rejects the bare '%' ("not properly encoded").
client_secret='e2e:s3cret+plus%percent/slash=eq sp'
session_secret=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
# The two providers of doorman-multi: each its own client id and secret (both needing form-encoding).
corp_secret='corp:s3cret+plus%percent/slash=eq sp'
partner_client_id="doorman-partner"
partner_secret='partner:0ther+s3cret%25/=! sp'

# start_provider NAME CONFORM "REDIRECT_URI..." [ISSUER_SUFFIX]: an oidc-provider; its issuer lands
# in $work/NAME.ready.
start_provider() {
  local uris=() uri
  for uri in $3; do uris+=(--redirect-uri "$uri"); done
  node "$here/provider.mjs" --port 0 --client-id "$client_id" --client-secret "$client_secret" \
    "${uris[@]}" --conform-id-token-claims "$2" --ready-file "$work/$1.ready" \
    --issuer-suffix "${4:-}" >"$artifacts/$1.log" 2>&1 &
  pids+=($!)
}

# start_doorman NAME PORT [VAR=VALUE...]: doorman in a clean environment and an empty working directory
# (so no .env of the repository is read), logging to artifacts/NAME.log.
start_doorman() {
  local name=$1 port=$2
  shift 2
  mkdir -p "$work/$name"
  (cd "$work/$name" && exec env -i PATH="$PATH" HOME="$work/$name" NO_COLOR=1 RUST_LOG=info RUST_BACKTRACE=1 \
    BIND_ADDR="127.0.0.1:$port" PUBLIC_URL="http://127.0.0.1:$port" "$@" "$bin") >"$artifacts/$name.log" 2>&1 &
  pids+=($!)
}

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND every 0.1 s.
wait_for() {
  local what=$1 limit=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "gave up waiting for $what after $limit s"
      return 1
    fi
    sleep 0.1
  done
}

healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1/healthz")" = 200 ]; }
discovered() { curl -s --max-time 2 "$1/healthz" | grep -q '"provider":"ready"'; }

start_provider provider false "$doorman_main/auth/callback $doorman_refresh/auth/callback"
start_provider provider-userinfo true "$doorman_userinfo/auth/callback"
start_provider provider-slash false "$doorman_slash/auth/callback" /
# Several providers at once: corp (oidc-provider, its own people) and partner (oauth2-mock-server, other
# people), each registering doorman-multi's /auth/callback/<id>; corp also doorman-half's.
node "$here/provider.mjs" --port 0 --people corp --client-id "$client_id" --client-secret "$corp_secret" \
  --redirect-uri "$doorman_multi/auth/callback/corp" --redirect-uri "$doorman_half/auth/callback/corp" \
  --conform-id-token-claims false --ready-file "$work/corp.ready" >"$artifacts/provider-corp.log" 2>&1 &
pids+=($!)
node "$here/partner.mjs" --port 0 --client-id "$partner_client_id" --client-secret "$partner_secret" \
  --redirect-uri "$doorman_multi/auth/callback/partner" --ready-file "$work/partner.ready" >"$artifacts/provider-partner.log" 2>&1 &
partner_pid=$!
pids+=("$partner_pid")
step="setup: oidc-provider x3 (claims in the ID token; claims only in userinfo; an issuer ending in /) listening"
if wait_for "provider" 20 test -s "$work/provider.ready" && wait_for "provider-userinfo" 20 test -s "$work/provider-userinfo.ready" \
  && wait_for "provider-slash" 20 test -s "$work/provider-slash.ready"; then
  issuer_main=$(cat "$work/provider.ready")
  issuer_userinfo=$(cat "$work/provider-userinfo.ready")
  issuer_slash=$(cat "$work/provider-slash.ready")
  pass "$step ($issuer_main, $issuer_userinfo, $issuer_slash)"
else
  fail "$step" "a provider did not start (see $artifacts/provider*.log)"
  finish
fi
step="setup: two more providers for doorman-multi: oidc-provider (corp) and oauth2-mock-server (partner) listening"
if wait_for "provider-corp" 20 test -s "$work/corp.ready" && wait_for "provider-partner" 20 test -s "$work/partner.ready"; then
  issuer_corp=$(cat "$work/corp.ready")
  issuer_partner=$(cat "$work/partner.ready")
  pass "$step ($issuer_corp, $issuer_partner)"
else
  fail "$step" "corp or partner did not start (see $artifacts/provider-corp.log, $artifacts/provider-partner.log)"
  finish
fi

# write_providers FILE PARTNER_ISSUER: doorman-multi's (and doorman-half's) DOORMAN_CONFIG.
write_providers() {
  cat >"$1" <<EOF
[[provider]]
id = "corp"
name = "Corp SSO"
issuer = "$issuer_corp"
client_id = "$client_id"
client_secret_env = "CORP_SECRET"
scopes = ["openid", "email", "profile", "groups"]
required = true

[[provider]]
id = "partner"
name = "Partner Inc."
issuer = "$2"
client_id = "$partner_client_id"
client_secret_env = "PARTNER_SECRET"
required = false

[gateway.policy.corp-only]
providers = ["corp"]
EOF
}
write_providers "$work/multi.toml" "$issuer_partner"
write_providers "$work/half.toml" "$issuer_dead"
multi_env=(CORP_SECRET="$corp_secret" PARTNER_SECRET="$partner_secret" SESSION_SECRET="$session_secret")

common=(OIDC_CLIENT_ID="$client_id" OIDC_CLIENT_SECRET="$client_secret" SESSION_SECRET="$session_secret")
start_doorman doorman "$port_main" OIDC_ISSUER_URL="$issuer_main" OIDC_SCOPES="openid email profile groups" "${common[@]}"
start_doorman doorman-userinfo "$port_userinfo" OIDC_ISSUER_URL="$issuer_userinfo" "${common[@]}"
start_doorman doorman-dev "$port_dev" # no OIDC_* and no SESSION_SECRET: the built-in development provider
start_doorman doorman-slash "$port_slash" OIDC_ISSUER_URL="$issuer_slash" "${common[@]}"
# Rechecks at the provider, on a short clock: a renewal after 30 s, a recheck after 60 s.
start_doorman doorman-refresh "$port_refresh" OIDC_ISSUER_URL="$issuer_main" OIDC_REFRESH=true \
  SESSION_TTL_MINUTES=1 OIDC_RECHECK_MINUTES=1 "${common[@]}"

start_doorman doorman-multi "$port_multi" DOORMAN_CONFIG="$work/multi.toml" TRUSTED_PROXIES=127.0.0.1/32 "${multi_env[@]}"
start_doorman doorman-half "$port_half" DOORMAN_CONFIG="$work/half.toml" "${multi_env[@]}"

step="setup: doorman x5 answer GET /healthz with 200"
broken=()
for pair in "doorman $doorman_main" "doorman-userinfo $doorman_userinfo" "doorman-dev $doorman_dev" "doorman-slash $doorman_slash" "doorman-refresh $doorman_refresh"; do
  set -- $pair
  wait_for "$1 /healthz" 60 healthy "$2" || broken+=("$1 ($2/healthz; log $artifacts/$1.log)")
done
if [ "${#broken[@]}" -eq 0 ]; then
  pass "$step ($doorman_main, $doorman_userinfo, $doorman_dev, $doorman_slash, $doorman_refresh)"
else
  fail "$step" "no 200 from: ${broken[*]}"
  finish
fi
for pair in "doorman $doorman_main" "doorman-userinfo $doorman_userinfo" "doorman-slash $doorman_slash" "doorman-refresh $doorman_refresh"; do
  set -- $pair
  wait_for "$1 to discover its provider" 20 discovered "$2" || echo "warning: $1 still reports a provider not ready"
done
both_ready() { curl -s --max-time 2 "$doorman_multi/healthz" | grep -q '"providers":{"corp":"ready","partner":"ready"}'; }
corp_ready() { curl -s --max-time 2 "$doorman_half/healthz" | grep -q '"corp":"ready"'; }
step="setup: doorman-multi (corp + partner) and doorman-half (corp + nobody) answer GET /healthz with 200, corp and partner discovered"
if wait_for "doorman-multi /healthz" 60 healthy "$doorman_multi" && wait_for "doorman-half /healthz" 60 healthy "$doorman_half" \
  && wait_for "doorman-multi to discover corp and partner" 20 both_ready && wait_for "doorman-half to discover corp" 20 corp_ready; then
  pass "$step ($doorman_multi, $doorman_half)"
else
  fail "$step" "doorman-multi: $(curl -s --max-time 2 "$doorman_multi/healthz"); doorman-half: $(curl -s --max-time 2 "$doorman_half/healthz") (logs $artifacts/doorman-multi.log, $artifacts/doorman-half.log)"
  finish
fi

# ---------- the scenarios ----------

# doorman_check NAME CONFIG: `doorman check` as doorman-multi would run it (a clean environment, its own
# empty directory); its output lands in artifacts/NAME.txt, its exit code in $check_rc.
doorman_check() {
  mkdir -p "$work/$1"
  (cd "$work/$1" && exec env -i PATH="$PATH" HOME="$work/$1" NO_COLOR=1 BIND_ADDR="127.0.0.1:$port_multi" \
    PUBLIC_URL="$doorman_multi" DOORMAN_CONFIG="$2" "${multi_env[@]}" timeout 30 "$bin" check) >"$artifacts/$1.txt" 2>&1
  check_rc=$?
}
# (before the browser scenarios: mstop stops partner)
if [ -z "${E2E_ONLY:-}" ] || [[ ",$E2E_ONLY," == *",mcheck,"* ]]; then
  note "doorman check with several providers"
  step="doorman check: corp up, partner on a port nobody listens at -> exit 1, corp's lines ok, partner's discovery FAIL, each line prefixed with its id"
  doorman_check check-half "$work/half.toml"
  out="$artifacts/check-half.txt"
  why=()
  [ "$check_rc" = 1 ] || why+=("exit code $check_rc, expected 1")
  grep -Eq '^ok +corp discovery ' "$out" || why+=("no 'ok    corp discovery' line")
  grep -Eq '^ok +corp keys ' "$out" || why+=("no 'ok    corp keys' line")
  grep -Eq '^FAIL +partner discovery ' "$out" || why+=("no 'FAIL  partner discovery' line")
  grep -Eq '^FAIL +corp ' "$out" && why+=("a corp line FAILs")
  grep -Eq '^ok +partner (discovery|keys) ' "$out" && why+=("partner's discovery or keys is ok")
  # Every line about discovery, keys or the redirect URI names its provider.
  grep -Eq '^(ok|FAIL) +(discovery|keys|redirect URI) ' "$out" && why+=("a provider line without its id")
  if [ "${#why[@]}" -eq 0 ]; then pass "$step"; else fail "$step" "$(IFS=';'; echo "${why[*]}") (output: $out)"; fi

  step="doorman check: corp and partner both up -> exit 0, every line ok"
  doorman_check check-multi "$work/multi.toml"
  out="$artifacts/check-multi.txt"
  why=()
  [ "$check_rc" = 0 ] || why+=("exit code $check_rc, expected 0")
  for p in corp partner; do
    for c in discovery keys; do grep -Eq "^ok +$p $c " "$out" || why+=("no 'ok    $p $c' line"); done
  done
  grep -q '^FAIL' "$out" && why+=("a line FAILs")
  if [ "${#why[@]}" -eq 0 ]; then pass "$step"; else fail "$step" "$(IFS=';'; echo "${why[*]}") (output: $out)"; fi
fi

note "browser scenarios (playwright-core + $(/usr/bin/chromium --version 2>/dev/null | head -n1))"
before=$(grep -c '' "$results")
E2E_DOORMAN_URL="$doorman_main" E2E_ISSUER="$issuer_main" \
  E2E_DOORMAN_USERINFO_URL="$doorman_userinfo" E2E_USERINFO_ISSUER="$issuer_userinfo" \
  E2E_USERINFO_PROVIDER_LOG="$artifacts/provider-userinfo.log" \
  E2E_DOORMAN_DEV_URL="$doorman_dev" E2E_DOORMAN_REFRESH_URL="$doorman_refresh" E2E_ARTIFACTS="$artifacts" E2E_RESULTS="$results" \
  E2E_MULTI_URL="$doorman_multi" E2E_CORP_ISSUER="$issuer_corp" E2E_PARTNER_ISSUER="$issuer_partner" \
  E2E_CORP_LOG="$artifacts/provider-corp.log" E2E_PARTNER_LOG="$artifacts/provider-partner.log" E2E_PARTNER_PID="$partner_pid" \
  E2E_MULTI_LOG="$artifacts/doorman-multi.log" \
  E2E_HALF_URL="$doorman_half" E2E_DEAD_ISSUER="$issuer_dead" E2E_DOORMAN_BIN="$bin" \
  timeout -k 10 300 node "$here/browser.mjs" &
browser_pid=$!
pids+=("$browser_pid")
wait "$browser_pid"
browser_rc=$?
if [ "$browser_rc" -ne 0 ] && [ "$(grep -c '^FAIL' <(tail -n +"$((before + 1))" "$results"))" -eq 0 ]; then
  fail "browser scenarios" "browser.mjs exited with code $browser_rc before reporting a failure"
fi

if [ -z "${E2E_ONLY:-}" ] || [[ ",$E2E_ONLY," == *",curl,"* ]]; then
  note "curl scenario"
  bash "$here/curl.sh" "$doorman_main" "$issuer_main" "$results" "$artifacts/curl"
  E2E_CURL_NAME="curl: sign-in through a provider whose issuer ends in a slash (Auth0 style, OIDC Discovery 4.3)" \
    bash "$here/curl.sh" "$doorman_slash" "$issuer_slash" "$results" "$artifacts/curl-slash"
fi

finish
