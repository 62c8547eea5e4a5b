#!/usr/bin/env bash
# The cookie-jar walkthrough with curl, against doorman and the oidc-provider of provider.mjs:
#   GET /auth/login -> the provider -> its login form -> its consent form -> /auth/callback,
#   then GET /api/user with the jar's cookie, and with "Authorization: Bearer <jwt from the jar>".
#
# Usage: curl.sh DOORMAN_URL ISSUER [RESULTS_FILE] [WORK_DIR]
# Prints "ok   NAME" or "FAIL NAME" plus the sub-step that broke; appends the same to RESULTS_FILE
# (PASS|FAIL<TAB>name<TAB>detail). Exit code 0 on success.
set -uo pipefail

base=${1:?usage: curl.sh DOORMAN_URL ISSUER [RESULTS_FILE] [WORK_DIR]}
issuer=${2:?usage: curl.sh DOORMAN_URL ISSUER [RESULTS_FILE] [WORK_DIR]}
results=${3:-/dev/null}
work=${4:-$(mktemp -d)}
mkdir -p "$work"
name=${E2E_CURL_NAME:-"curl: cookie-jar walkthrough (login, consent, callback; /api/user by cookie and by Bearer)"}
# Endpoint URLs start with the issuer's origin and path, without its trailing slash (if any).
endpoints=${issuer%/}
jar="$work/jar"
trace="$work/curl-trace.log"
rm -f "$jar" "$trace"
started=$(date +%s%N)

fail() {
  echo "FAIL $name"
  echo "     $*"
  echo "     (requests made: $trace; cookie jar: $jar)"
  printf 'FAIL\t%s\t%s\n' "$name" "$*" >>"$results"
  exit 1
}

# req OUTFILE CURL-ARGS...: one request with the jar; prints "STATUS REDIRECT_URL"; logs it to $trace.
# Callers: meta=$(req ...) || fail "..." (fail must not run inside the command substitution).
req() {
  local out=$1; shift
  local meta
  meta=$(curl -sS --max-time 15 -c "$jar" -b "$jar" -o "$out" -w '%{http_code} %{redirect_url}' "$@" 2>>"$trace") || {
    printf '%s\n  -> curl failed\n' "$*" >>"$trace"
    return 1
  }
  printf '%s %s\n  -> %s\n' "${*: -1}" "$(printf '%s ' "${@:1:$#-1}")" "$meta" >>"$trace"
  printf '%s' "$meta"
}

# form_action FILE: the action URL of the first <form> in an HTML page.
form_action() { grep -o '<form[^>]*action="[^"]*"' "$1" | head -n1 | sed 's/.*action="\([^"]*\)".*/\1/; s/&amp;/\&/g'; }

# 1. Start sign-in: doorman's flow cookie goes into the jar, the provider's URL into $authorize.
meta=$(req /dev/null "$base/auth/login") || fail "GET $base/auth/login: no answer"
status=${meta%% *}; authorize=${meta#* }
[ "$status" = 303 ] || fail "GET /auth/login: expected 303, got $status"
case $authorize in "$endpoints/auth?"*) ;; *) fail "GET /auth/login: expected a redirect to $endpoints/auth?..., got '$authorize'" ;; esac
for param in response_type=code code_challenge_method=S256 state= nonce= code_challenge= "scope=openid+email+profile"; do
  grep -q "[?&]$param" <<<"$authorize" || grep -q "[?&]${param//+/%20}" <<<"$authorize" ||
    fail "GET /auth/login: the authorization URL lacks $param: $authorize"
done
[ "$(awk 'NF >= 7 && ($1 !~ /^#/ || $1 ~ /^#HttpOnly_/)' "$jar" 2>/dev/null | wc -l)" -ge 1 ] || fail "GET /auth/login set no cookie (the flow cookie)"

# 2. The provider sends the browser to its login page.
meta=$(req /dev/null "$authorize") || fail "GET $authorize: no answer from the provider"
status=${meta%% *}; login_page=${meta#* }
case $login_page in "$endpoints/interaction/"*) ;; *) fail "provider /auth: expected a redirect to its login page, got $status '$login_page' (the client, secret or redirect URI may be wrong: see the provider's log)" ;; esac
meta=$(req "$work/login.html" "$login_page") || fail "GET $login_page: no answer"
grep -q 'name="prompt" value="login"' "$work/login.html" || fail "the provider's login page has no login form ($login_page)"
action=$(form_action "$work/login.html")

# 3. Post the login form; the provider resumes the authorization and asks for consent.
meta=$(req /dev/null --data-urlencode prompt=login --data-urlencode login=ada --data-urlencode 'password=any password' "$action") ||
  fail "POST $action (login form): no answer"
resume=${meta#* }
meta=$(req /dev/null "$resume") || fail "GET $resume: no answer"
consent_page=${meta#* }
case $consent_page in "$endpoints/interaction/"*) ;; *) fail "after login: expected the provider's consent page, got '$consent_page'" ;; esac
meta=$(req "$work/consent.html" "$consent_page") || fail "GET $consent_page: no answer"
grep -q 'name="prompt" value="consent"' "$work/consent.html" || fail "the provider's consent page has no consent form ($consent_page)"
action=$(form_action "$work/consent.html")

# 4. Post the consent form; the provider redirects back to doorman with a code.
meta=$(req /dev/null --data-urlencode prompt=consent "$action") || fail "POST $action (consent form): no answer"
resume=${meta#* }
meta=$(req /dev/null "$resume") || fail "GET $resume: no answer"
callback=${meta#* }
case $callback in "$base/auth/callback?"*code=*) ;; *) fail "after consent: expected a redirect to $base/auth/callback?code=..., got '$callback'" ;; esac

# 5. Finish sign-in: doorman exchanges the code and sets the session cookie.
meta=$(req "$work/callback.html" "$callback") || fail "GET $callback: no answer from doorman"
status=${meta%% *}; landing=${meta#* }
[ "$status" = 303 ] || fail "GET /auth/callback: expected 303, got $status ($(sed -n 's/.*<h1>\(.*\)<\/h1>.*/\1/p' "$work/callback.html" | head -n1))"
[ "$landing" = "$base/" ] || fail "GET /auth/callback: expected a redirect to $base/, got '$landing'"
token=$(awk '$6 == "access_token" || $6 == "__Host-access_token" { print $7 }' "$jar" | tail -n1)
[ -n "$token" ] || fail "GET /auth/callback: no access_token cookie in the jar"
[ "$(tr -cd '.' <<<"$token" | wc -c)" = 2 ] || fail "the access_token cookie is not a JWT: $token"
grep '_access_token\|access_token' "$jar" | grep -q '^#HttpOnly_' || fail "the access_token cookie is not HttpOnly"

# 6. Who am I? With the cookie jar (exactly as in the README: curl -b jar).
code=$(curl -sS --max-time 15 -b "$jar" -o "$work/by_cookie.json" -w '%{http_code}' "$base/api/user") || fail "curl -b jar $base/api/user failed"
[ "$code" = 200 ] || fail "curl -b jar $base/api/user: expected 200, got $code: $(head -c 300 "$work/by_cookie.json")"
grep -q '"email":"ada@example.com"' "$work/by_cookie.json" || fail "/api/user by cookie lacks the email: $(head -c 300 "$work/by_cookie.json")"
grep -q '"name":"Ada Lovelace"' "$work/by_cookie.json" || fail "/api/user by cookie lacks the name: $(head -c 300 "$work/by_cookie.json")"

# 7. The same with the JWT from the jar as a Bearer token, and no cookie.
code=$(curl -sS --max-time 15 -H "Authorization: Bearer $token" -o "$work/by_bearer.json" -w '%{http_code}' "$base/api/user") ||
  fail "curl -H 'Authorization: Bearer ...' $base/api/user failed"
[ "$code" = 200 ] || fail "/api/user with Authorization: Bearer: expected 200, got $code: $(head -c 300 "$work/by_bearer.json")"
grep -q '"email":"ada@example.com"' "$work/by_bearer.json" || fail "/api/user by Bearer lacks the email: $(head -c 300 "$work/by_bearer.json")"
cmp -s "$work/by_cookie.json" "$work/by_bearer.json" || fail "/api/user by Bearer differs from by cookie: $(cat "$work/by_bearer.json")"

# 8. And without credentials: 401.
code=$(curl -sS --max-time 15 -o "$work/anonymous.json" -w '%{http_code}' "$base/api/user") || fail "curl $base/api/user failed"
[ "$code" = 401 ] || fail "/api/user without credentials: expected 401, got $code"

ms=$(( ($(date +%s%N) - started) / 1000000 ))
echo "ok   $name ($(awk "BEGIN { printf \"%.1f\", $ms / 1000 }") s)"
printf 'PASS\t%s\t%s\n' "$name" "$ms" >>"$results"
