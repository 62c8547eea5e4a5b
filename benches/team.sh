#!/usr/bin/env bash
# The team bench (../shared/bench/run.sh: doorman beside the no-auth axum floor, a naive axum
# JWT check and FastAPI, in one run), with what its table cannot show for doorman: each
# serving thread's share of the requests in each round (from the line doorman logs at stop),
# doorman's CPU per request against the floor's own in the same round, and the instructions
# per request (benches/instructions.sh: callgrind, repeatable whatever the machine does).
# A benchmark, not a test: CI does not run it.
#
#   benches/team.sh                                   # doorman, the floor, FastAPI; 3 rounds
#   benches/team.sh --only doorman,axum-floor --rounds 3
#   OLD=path/to/old/doorman benches/team.sh           # also an older build, in the same run
#
# Run from the project root. Arguments go to run.sh (and so to bench.py).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
shared=${SHARED_BENCH:-$root/../shared/bench}
work=${BENCH_WORK:-${TMPDIR:-/tmp}/doorman-bench}
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--only doorman,axum-floor,fastapi-uvicorn-2w --rounds 3)
if [ -n "${OLD:-}" ]; then
  # The older build as a second doorman: a checkout-shaped directory around its binary.
  old_checkout=$(mktemp -d "${TMPDIR:-/tmp}/doorman-old.XXXXXX")
  mkdir -p "$old_checkout/target/release"
  cp "$OLD" "$old_checkout/target/release/doorman"
  P=18100
  only=
  for ((i = 0; i < ${#args[@]}; i++)); do
    if [ "${args[$i]}" = --only ]; then only=${args[$((i + 1))]}; args[$((i + 1))]="$only,doorman-old"; fi
  done
  [ -n "$only" ] || args+=(--only doorman,doorman-old,axum-floor,fastapi-uvicorn-2w)
  args+=(--extra-claims-for doorman,doorman-old,axum-floor
    --server "name=doorman-old,cmd=$work/doorman-server.sh $old_checkout {port},port=$P,paths=/api/user+/,workers=tokio")
fi
(cd "$root" && "$shared/run.sh" "${args[@]}")
results=$(ls -td "$work"/results/*/ | head -1)
python3 - "$results" <<'PY'
import json, os, re, sys
d = sys.argv[1]
rows = json.load(open(os.path.join(d, "results.json")))["rows"]
floor = {r["round"]: r for r in rows if r["server"] == "axum-floor" and r["path"] == "/hello"}
print(f"\ndoorman per round ({d}):\n")
print("| server | path | round | req/s | vs floor | CPU µs/req | floor's CPU µs/req | CPU vs floor | peak RSS MiB | requests per serving thread |")
print("|---|---|---|---|---|---|---|---|---|---|")
for server in sorted({r["server"] for r in rows if r["server"].startswith("doorman")}):
    log = os.path.join(d, f"server-{server}.log")
    sections = open(log, errors="replace").read().split("\n=== ")[1:] if os.path.exists(log) else []
    shares = []
    for s in sections:
        m = re.search(r'requests per serving thread[^\n]*?shares[":= ]+"?([^"\n]+)', s)
        shares.append(m.group(1) if m else "?")
    used = 0
    for r in sorted((r for r in rows if r["server"] == server), key=lambda r: (r["round"], 0)):
        i = used + r.get("attempt", 1) - 1
        used += r.get("attempts", 1)
        f = floor.get(r["round"])
        fc = f["cpu_us_per_req"] if f else float("nan")
        print(f"| {server} | `{r['path']}` | {r['round']} | {r['rps']:,.0f} | {r.get('vs_floor') or float('nan'):.3f} "
              f"| {r['cpu_us_per_req']:.1f} | {fc:.1f} | {r['cpu_us_per_req'] / fc:.2f} | {r['peak_rss_kb'] / 1024:.1f} "
              f"| {shares[i] if i < len(shares) else '?'} |")
PY
echo
bins=("$root/target/release/doorman")
[ -z "${OLD:-}" ] || bins+=("$OLD")
"$here/instructions.sh" "${bins[@]}"
