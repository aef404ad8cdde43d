#!/usr/bin/env bash
# bench/workflow.sh — checking and planning a large GitHub Actions workflow: `shipgate validate`
# against actionlint (the usual workflow linter) on the same generated file, and `shipgate plan`
# of it (every variant's runner, name and steps decided), median wall time of REPEAT.
# Running workflows (overhead against the same commands in one shell script): bench/workflow-run.sh.
#
# usage: bench/workflow.sh        env: JOBS=300 STEPS=8 REPEAT=5 SHIPGATE=path (default .build/release/shipgate)
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
JOBS=${JOBS:-300} STEPS=${STEPS:-8} REPEAT=${REPEAT:-5}
SHIPGATE=${SHIPGATE:-$ROOT/.build/release/shipgate}
if [[ ! -x $SHIPGATE ]]; then
  echo "==> building shipgate (release)" >&2
  (cd "$ROOT" && swift build -c release --product shipgate >&2)
fi
ACTIONLINT=$(command -v actionlint || true)
[[ -z $ACTIONLINT && -x "$ROOT/.build/tools/bin/actionlint" ]] && ACTIONLINT="$ROOT/.build/tools/bin/actionlint"  # scripts/setup.sh installs it there

TMP=$(mktemp -d "${TMPDIR:-/tmp}/shipgate-bench-workflow.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/.github/workflows"
W="$TMP/.github/workflows/big.yml"
python3 - "$JOBS" "$STEPS" > "$W" <<'PY'
import sys
jobs, steps = int(sys.argv[1]), int(sys.argv[2])
out = ["name: big", "on:", "  push:", "    branches: [main]", "  pull_request:", "jobs:"]
for j in range(jobs):
    out += [f"  job{j}:"]
    if j:
        out += [f"    needs: [job{j - 1}]"]
    out += [
        "    runs-on: ${{ matrix.os }}",
        "    if: github.event_name == 'push' || contains(github.event.pull_request.labels.*.name, 'full')",
        "    strategy:",
        "      fail-fast: false",
        "      matrix:",
        "        os: [ubuntu-latest, ubuntu-22.04]",
        "        python: ['3.11', '3.12', '3.13']",
        "        include:",
        "          - os: ubuntu-latest",
        "            python: '3.13'",
        "            coverage: true",
        "    steps:",
        "      - uses: actions/checkout@v4",
    ]
    for s in range(steps):
        out += [
            f"      - id: s{s}",
            f"        if: ${{{{ success() && matrix.python != '3.10' }}}}",
            f"        run: echo \"v=${{{{ format('{{0}}-{{1}}', matrix.os, matrix.python) }}}}\" >> \"$GITHUB_OUTPUT\"",
        ]
print("\n".join(out))
PY
LINES=$(wc -l < "$W")
usec() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() {
  for _ in $(seq "$REPEAT"); do
    local t0; t0=$(usec); "$@" >/dev/null 2>&1 || true; echo $(( ($(usec) - t0) / 1000 ))
  done | median
}
cd "$TMP"
"$SHIPGATE" validate .github/workflows/big.yml >/dev/null || { echo "error: shipgate rejected the generated workflow" >&2; "$SHIPGATE" validate .github/workflows/big.yml | tail -5 >&2; exit 1; }
SG=$(time_runs "$SHIPGATE" validate .github/workflows/big.yml)
PLAN=$(time_runs "$SHIPGATE" plan .github/workflows/big.yml --ignore-triggers)
VARIANTS=$("$SHIPGATE" plan .github/workflows/big.yml --ignore-triggers --json | grep -c '"id":')
BASE=$(time_runs "$SHIPGATE" --version)
echo
echo "checking a generated workflow: $JOBS jobs, $STEPS steps each, $LINES lines (median wall of $REPEAT, ms)"
printf '  %-28s %6d ms  (process start-up alone: %d ms)\n' "shipgate validate" "$SG" "$BASE"
printf '  %-28s %6d ms  (%d job variants planned)\n' "shipgate plan" "$PLAN" "$VARIANTS"
if [[ -n $ACTIONLINT ]]; then
  AL=$(time_runs "$ACTIONLINT" .github/workflows/big.yml)
  awk -v sg="$SG" -v al="$AL" 'BEGIN { printf "  %-28s %6d ms  shipgate/actionlint %.2fx\n", "actionlint", al, sg / al }'
else
  echo "  actionlint not installed: no peer figure"
fi
