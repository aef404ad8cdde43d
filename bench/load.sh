#!/usr/bin/env bash
# bench/load.sh — many pipelines at once against one state directory and one cache.
#
#   bench/load.sh                  # 20 pipelines of 200 jobs each, all started together
#   PIPELINES=10 JOBS=100 bench/load.sh
#
# A quarter of each pipeline's jobs declare inputs and outputs, so runs write the shared
# cache (and later ones restore from it) while they all record into one state database.
# Checks that every run succeeded, that every job of every run is recorded, that the state
# database passes `PRAGMA integrity_check`, that the audit chain and the cache verify, and that
# nothing hung (each run has TIMEOUT seconds). Prints the wall time and the throughput.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PIPELINES=${PIPELINES:-20}
JOBS=${JOBS:-200}
TIMEOUT=${TIMEOUT:-600}
SHIPGATE=${SHIPGATE:-$PWD/.build/release/shipgate}
if [ ! -x "$SHIPGATE" ]; then swift build -c release --product shipgate; fi
TMP=$(mktemp -d /tmp/shipgate-load.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
mkdir -p pipelines src
echo shared > src/common.txt
python3 - "$PIPELINES" "$JOBS" <<'PY'
import sys
n, jobs = int(sys.argv[1]), int(sys.argv[2])
for p in range(n):
    lines = ["name: load-%d" % p, "jobs:"]
    for j in range(jobs):
        lines.append("  j%d:" % j)
        if j >= 10:
            lines.append("    needs: [j%d]" % (j % 10))
        if j % 4 == 0:
            lines.append('    inputs: ["src/common.txt"]')
            lines.append('    outputs: ["out/p%d/j%d.txt"]' % (p, j))
            lines.append("    steps: [{ run: 'mkdir -p out/p%d && cat src/common.txt > out/p%d/j%d.txt' }]" % (p, p, j))
        else:
            lines.append("    steps: [{ run: 'true' }]")
    open("pipelines/p%d.yml" % p, "w").write("\n".join(lines) + "\n")
PY
git init -q -b main && git -c user.name=l -c user.email=l@example.com add -A && git -c user.name=l -c user.email=l@example.com commit -qm load
export NO_COLOR=1 SHIPGATE_ACTOR=load
"$SHIPGATE" run pipelines/p0.yml --job j1 --output plain > /dev/null  # creates the state database

start=$(date +%s%N)
pids=()
for p in $(seq 0 $((PIPELINES - 1))); do
  timeout "$TIMEOUT" "$SHIPGATE" run "pipelines/p$p.yml" --output plain --jobs 4 > "out-$p.log" 2>&1 & pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    failed=$((failed + 1))
    echo "run of pipelines/p$i.yml failed or timed out:" >&2
    tail -5 "out-$i.log" >&2
  fi
done
end=$(date +%s%N)
ms=$(( (end - start) / 1000000 ))

python3 - "$PIPELINES" "$JOBS" <<'PY'
import sqlite3, sys
n, jobs = int(sys.argv[1]), int(sys.argv[2])
db = sqlite3.connect(".shipgate/state.db")
assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "integrity_check failed"
runs = db.execute("SELECT id, status FROM runs WHERE pipeline LIKE 'load-%' ORDER BY startedAt").fetchall()[1:]  # the first is the setup run
bad = [r for r in runs if r[1] != "success"]
counts = [db.execute("SELECT COUNT(*) FROM jobs WHERE runID = ?", (r[0],)).fetchone()[0] for r in runs]
print("runs recorded: %d (not success: %d); jobs recorded per run: min %d, max %d (expected %d)" % (len(runs), len(bad), min(counts or [0]), max(counts or [0]), jobs))
assert len(runs) == n and not bad and all(c == jobs for c in counts), "runs or jobs lost"
PY
"$SHIPGATE" audit verify > /dev/null
"$SHIPGATE" cache verify | tail -1
total=$((PIPELINES * JOBS))
echo
echo "load: $PIPELINES pipelines x $JOBS jobs = $total jobs at once, one state directory and cache"
echo "  wall time $ms ms; throughput $(( total * 1000 / (ms > 0 ? ms : 1) )) jobs/s; failed or hung runs: $failed"
[ "$failed" = 0 ]
