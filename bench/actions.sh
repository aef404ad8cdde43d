#!/usr/bin/env bash
# bench/actions.sh — what a JavaScript action of another repository costs in a workflow run:
#   1. a job of STEPS steps that each use a small node action (inputs with a default, an output,
#      a saved state), against the same job with `run: node main.js` steps (the same script, the
#      same inputs as environment variables): the ratio is the cost of the action machinery;
#   2. the cost of a fully cached action fetch: a one-step workflow with the action pinned to its
#      SHA (in the action cache: no network) against the same workflow with `run: true`.
# The action is served from a bare repository in a temporary directory (--actions-url file://…).
# Median wall time of REPEAT, all in one run.
#
# usage: bench/actions.sh     env: STEPS=20 REPEAT=7 SHIPGATE=path (default .build/release/shipgate)
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
STEPS=${STEPS:-20} REPEAT=${REPEAT:-7}
SHIPGATE=${SHIPGATE:-$ROOT/.build/release/shipgate}
if [[ ! -x $SHIPGATE ]]; then
  echo "==> building shipgate (release)" >&2
  (cd "$ROOT" && swift build -c release --product shipgate >&2)
fi
command -v node >/dev/null || { echo "error: node is not installed (apt install nodejs)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/shipgate-bench-actions.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export SHIPGATE_ACTIONS_URL="file://$TMP/served" SHIPGATE_ACTIONS_CACHE="$TMP/cache"

mkdir -p "$TMP/action" && cd "$TMP/action"
cat > action.yml <<'EOF'
name: bench
inputs: { n: { required: true }, greeting: { default: hello } }
outputs: { said: { description: what it said } }
runs: { using: node20, main: main.js }
EOF
cat > main.js <<'EOF'
const fs = require('fs');
const n = process.env.INPUT_N, g = process.env.INPUT_GREETING;
fs.appendFileSync(process.env.GITHUB_OUTPUT, `said=${g} ${n}\n`);
fs.appendFileSync(process.env.GITHUB_STATE, `n=${n}\n`);
EOF
git init -q -b main && git add -A && git -c user.name=B -c user.email=b@example.com commit -qm bench && git tag v1
mkdir -p "$TMP/served/bench" && git clone -q --bare . "$TMP/served/bench/action.git"
SHA=$(git rev-parse HEAD)

mkdir -p "$TMP/repo/.github/workflows" && cd "$TMP/repo"
cp "$TMP/action/main.js" main.js
python3 - "$STEPS" "$SHA" <<'PY'
import sys
steps, sha = int(sys.argv[1]), sys.argv[2]
def job(step):
    return ["name: w", "on: push", "jobs:", "  j:", "    runs-on: ubuntu-latest", "    steps:"] + [l for s in range(steps) for l in step(s)]
uses = job(lambda s: [f"      - id: s{s}", "        uses: bench/action@v1", f"        with: {{ n: '{s}' }}"])
run = job(lambda s: [f"      - id: s{s}", "        run: node main.js",
                     f"        env: {{ INPUT_N: '{s}', INPUT_GREETING: hello, GITHUB_STATE: /dev/null }}"])
open(".github/workflows/uses.yml", "w").write("\n".join(uses) + "\n")
open(".github/workflows/run.yml", "w").write("\n".join(run) + "\n")
one = ["name: one", "on: push", "jobs:", "  j:", "    runs-on: ubuntu-latest", "    steps:"]
open(".github/workflows/pinned.yml", "w").write("\n".join(one + [f"      - uses: bench/action@{sha}", "        with: { n: '1' }"]) + "\n")
open(".github/workflows/true.yml", "w").write("\n".join(one + ["      - run: 'true'"]) + "\n")
open(".github/workflows/node.yml", "w").write("\n".join(one + ["      - run: node main.js", "        env: { INPUT_N: '1', INPUT_GREETING: hello, GITHUB_STATE: /dev/null }"]) + "\n")
PY
git init -q -b main . && printf '.shipgate\n' > .gitignore && git add -A && git -c user.name=B -c user.email=b@example.com commit -qm bench

usec() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() {
  for _ in $(seq "$REPEAT"); do
    local t0; t0=$(usec); "$@" >/dev/null 2>&1 || { echo "error: $* failed" >&2; "$@" 2>&1 | tail -20 >&2; exit 1; }; echo $(( ($(usec) - t0) / 1000 ))
  done | median
}
for w in uses run pinned true node; do "$SHIPGATE" run .github/workflows/$w.yml --output plain >/dev/null 2>&1 || { "$SHIPGATE" run .github/workflows/$w.yml --output plain | tail -20 >&2; exit 1; }; done
USES=$(time_runs "$SHIPGATE" run .github/workflows/uses.yml --output plain)
RUN=$(time_runs "$SHIPGATE" run .github/workflows/run.yml --output plain)
PINNED=$(time_runs "$SHIPGATE" run .github/workflows/pinned.yml --output plain)
TRUE=$(time_runs "$SHIPGATE" run .github/workflows/true.yml --output plain)
NODE=$(time_runs "$SHIPGATE" run .github/workflows/node.yml --output plain)
printf '%-58s %8s\n' "workload (median of $REPEAT)" "ms"
printf '%-58s %8d\n' "$STEPS steps using a node action" "$USES"
printf '%-58s %8d\n' "$STEPS steps running the same script with run: node" "$RUN"
printf '%-58s %8s\n' "ratio" "$(awk -v a="$USES" -v b="$RUN" 'BEGIN { printf "%.2fx", a / b }')"
printf '%-58s %8d\n' "one step: a cached action pinned to its SHA" "$PINNED"
printf '%-58s %8d\n' "one step: run: true" "$TRUE"
printf '%-58s %8d\n' "one step: run: node main.js (the same script)" "$NODE"
printf '%-58s %8d\n' "cached fetch, extraction, cache service (pinned - node)" "$((PINNED - NODE))"
