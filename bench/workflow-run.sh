#!/usr/bin/env bash
# bench/workflow-run.sh — what running a GitHub workflow through shipgate costs over running
# the same commands directly: a generated workflow (JOBS jobs in a chain of needs, STEPS `run`
# steps each, every step writing an output and an env variable through the file commands and
# reading the previous step's with an expression) against one bash script that runs the same
# commands in the same order. Median wall time of REPEAT, in one run; the ratio is the figure.
#
# usage: bench/workflow-run.sh     env: JOBS=10 STEPS=20 REPEAT=5 SHIPGATE=path (default .build/release/shipgate)
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
JOBS=${JOBS:-10} STEPS=${STEPS:-20} REPEAT=${REPEAT:-5}
SHIPGATE=${SHIPGATE:-$ROOT/.build/release/shipgate}
if [[ ! -x $SHIPGATE ]]; then
  echo "==> building shipgate (release)" >&2
  (cd "$ROOT" && swift build -c release --product shipgate >&2)
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/shipgate-bench-wfrun.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
mkdir -p .github/workflows
python3 - "$JOBS" "$STEPS" > .github/workflows/run.yml <<'PY'
import sys
jobs, steps = int(sys.argv[1]), int(sys.argv[2])
out = ["name: run", "on: push", "jobs:"]
for j in range(jobs):
    out += [f"  job{j}:", "    runs-on: ubuntu-latest"]
    if j:
        out += [f"    needs: job{j - 1}"]
    out += ["    steps:", "      - uses: actions/checkout@v4"]
    for s in range(steps):
        prev = f"${{{{ steps.s{s - 1}.outputs.v }}}}" if s else "start"
        out += [f"      - id: s{s}", f"        run: |", f"          echo \"v={j}-{s}-{prev}\" >> \"$GITHUB_OUTPUT\"", f"          echo \"E{s}=x\" >> \"$GITHUB_ENV\""]
print("\n".join(out))
PY
python3 - "$JOBS" "$STEPS" > direct.sh <<'PY'
import sys
jobs, steps = int(sys.argv[1]), int(sys.argv[2])
out = ["set -e", "tmp=$(mktemp -d)"]
for j in range(jobs):
    for s in range(steps):
        # The same commands, each in its own bash as the runner starts them, with its files.
        out += [f"bash -e -c 'echo \"v={j}-{s}-x\" >> \"$0/o\"; echo \"E{s}=x\" >> \"$0/e\"' \"$tmp\""]
out += ["rm -rf \"$tmp\""]
print("\n".join(out))
PY
git init -q -b main . && printf '.shipgate\n' > .gitignore && git add -A && git -c user.name=B -c user.email=b@example.com commit -qm bench
usec() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() {
  for _ in $(seq "$REPEAT"); do
    local t0; t0=$(usec); "$@" >/dev/null 2>&1 || { echo "error: $* failed" >&2; exit 1; }; echo $(( ($(usec) - t0) / 1000 ))
  done | median
}
"$SHIPGATE" run .github/workflows/run.yml --output plain >/dev/null 2>&1 || { "$SHIPGATE" run .github/workflows/run.yml --output plain | tail -20 >&2; exit 1; }
SG=$(time_runs "$SHIPGATE" run .github/workflows/run.yml --output plain)
DIRECT=$(time_runs bash direct.sh)
PLAN=$(time_runs "$SHIPGATE" plan .github/workflows/run.yml)
N=$((JOBS * STEPS))
echo
echo "running a workflow: $JOBS chained jobs × $STEPS run steps ($N steps; median wall of $REPEAT, ms)"
printf '  %-34s %6d ms  %.2f ms/step\n' "shipgate run" "$SG" "$(awk -v a="$SG" -v n="$N" 'BEGIN{print a/n}')"
printf '  %-34s %6d ms  %.2f ms/step\n' "the same commands in one script" "$DIRECT" "$(awk -v a="$DIRECT" -v n="$N" 'BEGIN{print a/n}')"
awk -v sg="$SG" -v d="$DIRECT" 'BEGIN { printf "  shipgate/direct %.2fx\n", sg / d }'
printf '  %-34s %6d ms\n' "shipgate plan" "$PLAN"
